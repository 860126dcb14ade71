# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live progress for mdl.herd.codedeploy_wait.

A module cannot print while it runs. This action plugin runs the module as Ansible runs any
module (``_execute_module``), in a thread, and meanwhile prints with Display each line the module
appends to a progress file, so that the lines show without -v, on the command line and in
AWX job output. The file's path, and the controller process whose end means the run was stopped,
reach the module in its environment, beside the task's own. Everything else (the wait, the probe,
check mode, the result) is the module's.

The module appends to a file on the controller: the lines are relayed when it runs there as the
user running ansible-playbook (a local connection without become). Elsewhere, or with async, the
plugin only runs the module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

from ansible.module_utils.common.validation import check_type_str
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.mdl.herd.plugins.module_utils._watch import CONTROLLER_PID_VARIABLE, PROGRESS_FILE_VARIABLE

display = Display()

# How often the progress file is read while the module runs: a line waits at most this long to be printed. The
# module reads CodeDeploy early by the time its polls take, not by this, so that a line comes within a poll interval
# of CodeDeploy's time with this much to spare; a read is one small file's new bytes.
READ_INTERVAL = 0.1


class _Progress(object):
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
        lines = (self.rest + data).split("\n")
        self.rest = lines.pop()  # an unfinished line waits for its end
        return lines

    def close(self):
        shutil.rmtree(self.directory, ignore_errors=True)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        label, problem = self._label()
        if problem:  # before the module runs: nothing was waited for
            return merge_hash(result, {"failed": True, "changed": False, "msg": problem})
        wrap_async = self._task.async_val and not self._connection.has_native_async
        if self._task.async_val or not self._runs_here():
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        else:
            progress = _Progress()
            try:
                self._add_environment({PROGRESS_FILE_VARIABLE: progress.path,
                                       CONTROLLER_PID_VARIABLE: str(os.getppid())})  # this worker's parent: ansible-playbook
                result = merge_hash(result, self._run_relaying(task_vars, progress, label))
                self._show(progress.new_lines() + [progress.rest], label)
            finally:
                progress.close()
        if not wrap_async:  # as Ansible's own action for modules: remove the temporary path it made
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _label(self):
        """The task's ``label`` (the one option this plugin reads), validated as the module's ``type: str`` does:
        ``(label, None)``, or ``(None, what is wrong)``."""
        label = self._task.args.get("label")
        if label is None:
            return None, None
        if isinstance(label, (dict, list, tuple, set)):
            return None, ("codedeploy_wait: label must be a string that starts each progress line, for example "
                          "label: \"{{{{ mdl_instance_name }}}}/{{{{ mdl_environment }}}}\"; got a {0}. Nothing was "
                          "waited for; running the task again with a string label waits.".format(type(label).__name__))
        return check_type_str(label, allow_conversion=True), None

    def _runs_here(self):
        """True when the module runs on this machine as this user: it can append to a file this plugin reads."""
        return getattr(self._connection, "transport", None) == "local" and not self._play_context.become

    def _add_environment(self, variables):
        """``variables`` in the module's environment, after (so over) the task's own ``environment``."""
        environment = self._task.environment
        if environment is None:
            environment = []
        elif not isinstance(environment, list):
            environment = [environment]
        self._task.environment = list(environment) + [variables]

    @staticmethod
    def _show(lines, label):
        for text in lines:
            if text:
                display.display("{0}: {1}".format(label, text) if label else text)

    def _run_relaying(self, task_vars, progress, label):
        """The module's result; its lines printed as it writes them."""
        outcome = {}

        def run_module():
            try:
                outcome["output"] = self._execute_module(task_vars=task_vars)
            except BaseException as e:  # re-raised in this plugin's own thread
                outcome["error"] = e

        worker = threading.Thread(target=run_module, name="codedeploy_wait-module", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(READ_INTERVAL)
            self._show(progress.new_lines(), label)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["output"]
