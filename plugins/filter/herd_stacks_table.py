# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_stacks_table
short_description: The table of the stacks a run of upgrade_herd.yml or rollback_herd.yml did, one line each
version_added: 1.1.0
description:
  - Returns the table the playbooks C(mdl.herd.upgrade_herd) and C(mdl.herd.rollback_herd) print at the end of each
    batch ("The stacks of this run"), from the C(herd_upgrade_result) of each stack done so far.
  - One line of headers, then one line a stack, its columns separated by C( | ) - stack, from (the version HERD served
    before), to (the version it serves after), deployment, duration (in seconds) and outcome. A C(-) stands for a
    value the run did not learn.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The C(herd_upgrade_result) of each stack, in the order of the table.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: The table of the stacks of a fleet, as the playbooks print it
  ansible.builtin.debug:
    msg: >-
      {{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('herd_upgrade_result', 'defined')
         | map(attribute='herd_upgrade_result') | mdl.herd.herd_stacks_table }}
"""

RETURN = r"""
_value:
  description: The lines of the table, the headers first.
  type: list
  elements: str
  sample:
    - stack | from | to | deployment | duration | outcome
    - mdl/DEV | 0.170.0 | 0.176.0 | d-ABCDEFGH1 | 612 s | upgraded
    - mdl/QA | 0.176.0 | 0.176.0 | - | - | already_served
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

HEADERS = "stack | from | to | deployment | duration | outcome"


def _cell(value):
    return "-" if value is None or value == "" else str(value)


def stack_results(results, filter_name):
    """The results of a list (an item that is not one reads as empty), or the filter's error naming what it got."""
    if isinstance(results, (str, bytes, Mapping)) or not hasattr(results, "__iter__"):
        raise AnsibleFilterError("{0} takes a list of herd_upgrade_result, not {1}".format(filter_name, type(results).__name__))
    return [result if isinstance(result, Mapping) else {} for result in results]


def herd_stacks_table(results):
    lines = [HEADERS]
    for result in stack_results(results, "herd_stacks_table"):
        duration = result.get("duration_seconds")
        lines.append(" | ".join([
            _cell(result.get("stack")), _cell(result.get("from_version")), _cell(result.get("to_version")),
            _cell(result.get("deployment_id")), "-" if duration is None else "{0} s".format(duration),
            _cell(result.get("outcome"))]))
    return lines


class FilterModule(object):
    def filters(self):
        return {"herd_stacks_table": herd_stacks_table}
