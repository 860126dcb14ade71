# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_stacks_artifacts
short_description: The AWX artifacts of the stacks a run of upgrade_herd.yml or rollback_herd.yml did, one key each
version_added: 1.1.0
description:
  - Returns what the playbooks C(mdl.herd.upgrade_herd) and C(mdl.herd.rollback_herd) publish with
    M(ansible.builtin.set_stats) ("Publish the results for AWX"), from the C(herd_upgrade_result) of each stack done so
    far.
  - One key a stack, C(herd_upgrade_<instance>_<environment>) (its stack's name, each character other than a letter, a
    digit or C(_) written C(_)), whose value is that stack's C(herd_upgrade_result).
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The C(herd_upgrade_result) of each stack.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Publish the results of a fleet for AWX, as the playbooks do
  ansible.builtin.set_stats:
    data: >-
      {{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('herd_upgrade_result', 'defined')
         | map(attribute='herd_upgrade_result') | mdl.herd.herd_stacks_artifacts }}
    per_host: false
    aggregate: true
  run_once: true
"""

RETURN = r"""
_value:
  description: The results by key, for example C(herd_upgrade_mdl_DEV) for the stack C(mdl/DEV).
  type: dict
"""

import re

from ansible_collections.mdl.herd.plugins.filter.herd_stacks_table import stack_results

NOT_IN_A_KEY = re.compile(r"[^A-Za-z0-9_]")


def herd_stacks_artifacts(results):
    return {"herd_upgrade_" + NOT_IN_A_KEY.sub("_", str(result.get("stack"))): result
            for result in stack_results(results, "herd_stacks_artifacts") if result}


class FilterModule(object):
    def filters(self):
        return {"herd_stacks_artifacts": herd_stacks_artifacts}
