# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mdl.herd.herd_stacks_report: the table of the stacks a run did, printed line by line, and their AWX artifacts.

One task where the playbooks had two (a debug of the table, then set_stats): each task costs a run, and each stack of a
fleet, its time. The lines are printed with Display, as codedeploy_wait's progress lines are, so that they read as a
table without -v; the result keeps them (``table``) for callbacks and registers, and carries the artifacts in
``ansible_stats``, which ansible-playbook publishes as it does set_stats's.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mdl.herd.plugins.plugin_utils._stacks import artifacts, stack_results, table

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False  # it reads and prints on the controller, as debug and set_stats do
    _VALID_ARGS = frozenset(("stacks",))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        try:
            results = stack_results(self._task.args.get("stacks"), "stacks")
        except ValueError as e:
            return dict(result, failed=True, changed=False, msg="herd_stacks_report: {0}. Nothing was printed nor published;"
                        " running the task again with a list prints the table.".format(e))
        lines = table(results)
        for line in lines:
            display.display(line)
        return dict(result, changed=False, table=lines,
                    ansible_stats={"data": artifacts(results), "per_host": False, "aggregate": True})
