# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress for mdl.herd.codedeploy_wait.

A module cannot print while it runs. This action plugin prints its progress lines on the
controller with Display, so they show without -v, on the command line and in AWX job output:

* when the module runs on the controller (local connection, no become), it runs once for the
  whole wait and appends each line to a file in a private directory of the controller, which
  this plugin reads while the module runs, printing each new line; the module runs in a fork of
  the task's worker where ``plugin_utils/_module_fork`` allows it, else in a thread of this
  plugin that runs it as a module process;
* elsewhere, it runs in slices: each run waits until there is something new to say, returns
  the lines and the state of the wait, and the next run takes the wait up where the last one
  left it.

Every decision (timeout, check mode, the final result) is the module's own: this plugin only
relays lines and state. With async, the module runs once and prints nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.mdl.herd.plugins.module_utils._probe import Probe
from ansible_collections.mdl.herd.plugins.module_utils._version import satisfies
from ansible_collections.mdl.herd.plugins.plugin_utils import _module_fork

display = Display()

_module_fork.preload()  # in ansible-playbook's own process, where the strategy imports this plugin (see _module_fork)

SLICE = "_slice"
PROBE_PASSWORD = "probe_password"
STREAM_READ_INTERVAL = 0.25  # how often the progress file is read while the module runs
MODULE_FQN = "ansible_collections.mdl.herd.plugins.modules.codedeploy_wait"


class _Stream(object):
    """The progress file: created here, appended to by the module, read from here."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="mdl-herd-progress-")
        self.path = os.path.join(self.directory, "lines")
        with open(self.path, "w", encoding="utf-8"):
            pass
        self.offset = 0
        self.rest = ""

    def new_lines(self):
        with open(self.path, "r", encoding="utf-8") as handle:
            handle.seek(self.offset)
            data = handle.read()
            self.offset = handle.tell()
        text = self.rest + data
        lines = text.split("\n")
        self.rest = lines.pop()  # an unfinished line waits for its end
        return lines

    def close(self):
        shutil.rmtree(self.directory, ignore_errors=True)


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        args = dict(self._task.args)
        args.pop(SLICE, None)
        # The probe's password is for the probe, which runs here: the module never gets it (nor its
        # payload on disk, nor its invocation, shown at -vvv).
        probe_password = args.pop(PROBE_PASSWORD, None)
        if (args.get("probe_username") is None) != (probe_password is None):
            return merge_hash(result, {"failed": True, "msg": "probe_username and probe_password go together: give both or neither"})
        if self._task.async_val:
            wrap_async = not self._connection.has_native_async
            return merge_hash(result, self._execute_module(module_args=args, task_vars=task_vars, wrap_async=wrap_async))

        label = args.get("label")
        probe = None
        if args.get("probe_url") and not self._play_context.check_mode:
            # HERD as a client sees it, in a thread of this plugin (which lives for the whole wait): it
            # never delays the wait, and stops with it, also when the play is interrupted.
            probe = Probe(args["probe_url"], interval=args.get("probe_interval") or 1.0,
                          cafile=args.get("probe_ca_path") or None,
                          verify=args.get("probe_validate_certs", True) not in (False, "false", "no", "False"),
                          username=args.get("probe_username") or None, password=probe_password)
        try:
            if self._runs_here():
                # The probe's thread starts once the module runs: a fork of this worker copies no thread.
                output = self._run_streamed(args, task_vars, label, probe.start if probe is not None else None)
            else:
                if probe is not None:
                    probe.start()
                output = self._run_sliced(args, task_vars, label)
        finally:
            if probe is not None:
                probe.stop()
        if probe is not None:
            output["zero_downtime"] = probe.report()
            if args.get("expected_version") and output.get("status") == "Succeeded" and not output.get("failed"):
                output.update(self._served_at_end(probe, args["expected_version"]))
        # The internal argument is transport, not a task argument: keep it out of -v output.
        invocation = output.get("invocation")
        if isinstance(invocation, dict) and isinstance(invocation.get("module_args"), dict):
            invocation["module_args"].pop(SLICE, None)
            if probe_password is not None:  # shown as any no_log option of a module is
                invocation["module_args"][PROBE_PASSWORD] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        return merge_hash(result, output)

    @staticmethod
    def _served_at_end(probe, expected_version):
        """The version HERD serves once the deployment has succeeded: one more read by the probe, compared Maven-style."""
        kind, version = probe.read_once()
        if kind != "ok" or not version:
            return {"served_version": None, "served_matches": False}
        try:
            matches = satisfies(version, expected_version)
        except ValueError:  # a build number that is not a version: the role's own check then says so
            matches = False
        return {"served_version": version, "served_matches": matches}

    def _runs_here(self):
        """True when the module runs on this machine as this user: it can write a file this plugin reads."""
        return getattr(self._connection, "transport", None) == "local" and not self._play_context.become

    @staticmethod
    def _show(lines, label):
        for text in lines:
            if text:
                display.display("{0}: {1}".format(label, text) if label else text)

    def _run_streamed(self, args, task_vars, label, started=None):
        """The module run once for the whole wait, its lines printed as it writes them; ``started``
        is called once it runs."""
        stream = _Stream()
        module_args = dict(args, **{SLICE: {"stream": stream.path}})
        try:
            reason = _module_fork.why_not(self, task_vars)
            if reason is None:
                output = self._run_in_fork(module_args, task_vars, label, stream, started)
            else:
                _module_fork.say_module_process(self, reason)
                output = self._run_in_thread(module_args, task_vars, label, stream, started)
            self._show(stream.new_lines() + [stream.rest], label)
        finally:
            stream.close()
        return output

    def _run_in_fork(self, module_args, task_vars, label, stream, started):
        child = _module_fork.start(self, MODULE_FQN, module_args, task_vars)
        try:
            if started is not None:
                started()
            while not child.wait(STREAM_READ_INTERVAL):
                self._show(stream.new_lines(), label)
            return child.result()
        finally:
            child.stop()  # nothing left to do once it has exited; else the task was interrupted: it ends too

    def _run_in_thread(self, module_args, task_vars, label, stream, started):
        outcome = {}

        def run_module():
            try:
                outcome["output"] = self._execute_module(module_args=module_args, task_vars=task_vars)
            except BaseException as e:  # re-raised in the plugin's own thread
                outcome["error"] = e

        worker = threading.Thread(target=run_module, name="codedeploy_wait-module", daemon=True)
        worker.start()
        if started is not None:
            started()
        while worker.is_alive():
            worker.join(STREAM_READ_INTERVAL)
            self._show(stream.new_lines(), label)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["output"]

    def _run_sliced(self, args, task_vars, label):
        carry = None
        while True:
            args[SLICE] = {"carry": carry} if carry else {}
            output = self._execute_module(module_args=args, task_vars=task_vars)
            state = output.pop(SLICE, None) or {}
            self._show(state.get("lines") or [], label)
            carry = state.get("carry")
            if not carry or output.get("failed") or output.get("skipped"):
                return output
