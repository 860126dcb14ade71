#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_stacks_report
short_description: Print the table of the stacks a run upgraded or rolled back, and publish their results for AWX
version_added: 1.1.0
description:
  - Prints one line of headers, then one line a stack, its columns separated by C( | ) - stack, from (the version HERD
    served before), to (the version it serves after), deployment, duration (in seconds) and outcome. A C(-) stands for
    a value the run did not learn. The lines print as they are, without -v, as the progress lines of
    M(mdl.herd.codedeploy_wait) do.
  - Publishes, as M(ansible.builtin.set_stats) does (C(per_host=false), C(aggregate=true)), one key a stack,
    C(herd_upgrade_<instance>_<environment>) (its stack's name, each character other than a letter, a digit or C(_)
    written C(_)), holding that stack's C(herd_upgrade_result), which an AWX (Automation Controller) job keeps as its artifacts.
  - The last task of the playbooks C(mdl.herd.upgrade_herd) and C(mdl.herd.rollback_herd) but one, once a batch, for
    every stack done so far (the keys of earlier batches are published again with the same values).
  - It changes nothing and reads nothing from AWS; it runs on the controller.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  stacks:
    description:
      - The C(herd_upgrade_result) of each stack, in the order of the table. An item that is not a dict is a line of
        C(-) and no key.
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - mdl.herd.attributes.check_mode_full
  - mdl.herd.attributes.no_diff
notes:
  - Run it once (C(run_once=true)), as the playbooks do; each run prints the table again.
seealso:
  - module: ansible.builtin.set_stats
    description: What publishes the artifacts of a job in other playbooks.
"""

EXAMPLES = r"""
- name: The stacks of this run (the table, and the AWX artifacts)
  mdl.herd.herd_stacks_report:
    stacks: >-
      {{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('herd_upgrade_result', 'defined')
         | map(attribute='herd_upgrade_result') | list }}
  run_once: true
"""

RETURN = r"""
table:
  description: The lines printed, the headers first.
  returned: success
  type: list
  elements: str
  sample:
    - stack | from | to | deployment | duration | outcome
    - mdl/DEV | 0.170.0 | 0.176.0 | d-ABCDEFGH1 | 612 s | upgraded
    - mdl/QA | 0.176.0 | 0.176.0 | - | - | already_served
ansible_stats:
  description: What the run publishes, as M(ansible.builtin.set_stats) returns it; C(data) holds one key a stack.
  returned: success
  type: dict
  sample:
    data:
      herd_upgrade_mdl_QA:
        stack: mdl/QA
        outcome: already_served
    per_host: false
    aggregate: true
"""
