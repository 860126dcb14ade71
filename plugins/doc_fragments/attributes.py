# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Attributes every module of the collection shares.
    DOCUMENTATION = r"""
attributes:
  action_group:
    description: Use C(group/mdl.herd.herd) or C(group/amazon.aws.aws) in C(module_defaults) to set the AWS options once.
    support: full
    membership:
      - mdl.herd.herd
      - amazon.aws.aws
"""
    CHECK_MODE_FULL = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
"""
