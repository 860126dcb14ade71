# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Attributes every module of the collection shares.
    DOCUMENTATION = r"""
attributes:
  action_group:
    description:
      - Use C(group/mdl.herd.herd) (this collection's modules) or C(group/mdl.herd.aws) (these and every module of
        amazon.aws's C(aws) group) in C(module_defaults) to set the AWS options once.
      - C(group/amazon.aws.aws) does not reach these modules (a group can pull others in, not be joined from outside).
    support: full
    membership:
      - mdl.herd.herd
      - mdl.herd.aws
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The result says what was started, joined or found; there is no before/after text to compare.
"""
    CHECK_MODE_FULL = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
"""
    # diff_mode for the modules that do not take DOCUMENTATION above (those outside the AWS groups).
    NO_DIFF = r"""
attributes:
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""
