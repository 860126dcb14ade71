# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress for mdl.herd.codedeploy_wait.

A module cannot print while it runs. This action plugin runs the module in slices: each
run waits until there is something new to say (a status, step or lifecycle event change),
returns the progress lines and the state of the wait, and the next run takes the wait up
where the last one left it. The lines are printed on the controller with Display, so they
show without -v, on the command line and in AWX job output.

Every decision (timeout, check mode, the final result) is the module's own: this plugin
only relays the state between runs and prints the lines. With async, the module runs once
and prints nothing.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.mdl.herd.plugins.module_utils._probe import Probe

display = Display()

SLICE = "_slice"


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        args = dict(self._task.args)
        args.pop(SLICE, None)
        if self._task.async_val:
            wrap_async = not self._connection.has_native_async
            return merge_hash(result, self._execute_module(module_args=args, task_vars=task_vars, wrap_async=wrap_async))

        probe = None
        if args.get("probe_url") and not self._play_context.check_mode:
            # HERD as a client sees it, in a thread of this plugin (which lives for the whole wait): it
            # never delays the slices, and stops with them, also when the play is interrupted.
            probe = Probe(args["probe_url"], interval=args.get("probe_interval") or 1.0,
                          cafile=args.get("probe_ca_path") or None,
                          verify=args.get("probe_validate_certs", True) not in (False, "false", "no", "False"))
            probe.start()
        carry = None
        try:
            while True:
                args[SLICE] = {"carry": carry} if carry else {}
                output = self._execute_module(module_args=args, task_vars=task_vars)
                state = output.pop(SLICE, None) or {}
                label = args.get("label")
                for line in state.get("lines") or []:
                    display.display("{0}: {1}".format(label, line) if label else line)
                carry = state.get("carry")
                if not carry or output.get("failed") or output.get("skipped"):
                    break
        finally:
            if probe is not None:
                probe.stop()
        if probe is not None:
            output["zero_downtime"] = probe.report()
        # The state carried between runs is transport, not a task argument: keep it out of -v output.
        invocation = output.get("invocation")
        if isinstance(invocation, dict) and isinstance(invocation.get("module_args"), dict):
            invocation["module_args"].pop(SLICE, None)
        return merge_hash(result, output)
