# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # Attributes every module of the collection shares.
    DOCUMENTATION = r"""
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - On the controller (local connection, no become, not async, C(ansible_python_interpreter) the Python that runs
        ansible-playbook) the module runs in a fork of the task's worker, without an AnsiballZ payload or a new
        interpreter; C(mdl_herd_module_process=true) gives it a module process of its own, as anywhere else.
      - M(mdl.herd.codedeploy_wait) prints its progress lines from its action plugin while its module runs, in the
        same fork there (its probe of HERD, a thread of the plugin, starts once the module runs), else in a process.
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
