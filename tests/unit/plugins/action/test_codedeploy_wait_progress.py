# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of codedeploy_wait: runs the module once, as any module runs, and prints its lines as it writes them."""

from __future__ import annotations

import os
import threading
from unittest.mock import MagicMock

from ansible.playbook.task import Task

from ansible_collections.mdl.herd.plugins.action import codedeploy_wait as action

ARGS = {"deployment_id": "d-ABCDE1234", "wait_timeout": 600, "label": "mdl/DEV"}


def plugin(args=None, async_val=0, transport="local", become=False, environment=None):
    task = MagicMock(Task)
    task.args = dict(args or ARGS)
    task.async_val = async_val
    task.action = "mdl.herd.codedeploy_wait"
    task.environment = environment
    connection = MagicMock()
    connection.transport = transport
    connection._shell.tmpdir = None
    connection.has_native_async = False
    play_context = MagicMock()
    play_context.become = become
    play_context.check_mode = False
    run = action.ActionModule(task, connection, play_context, loader=None, templar=None, shared_loader_obj=None)
    run._remove_tmp_path = MagicMock()
    return run


class Module(object):
    """_execute_module: appends ``lines`` to the progress file its environment names, as the module does, and
    holds the first until the plugin has printed it (so the test fails if lines are printed only at the end)."""

    def __init__(self, run, shown, lines=(), output=None):
        self.run, self.shown, self.lines = run, shown, list(lines)
        self.output = output or {"changed": False, "status": "Succeeded", "deployment_id": "d-ABCDE1234"}
        self.calls = []

    def environment(self):
        merged = {}
        environment = self.run._task.environment or []
        for entry in environment if isinstance(environment, list) else [environment]:
            merged.update(entry or {})
        return merged

    def __call__(self, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kwargs):
        environment = self.environment()
        self.calls.append({"module_args": module_args, "wrap_async": wrap_async, "environment": environment,
                           "thread": threading.current_thread().name})
        path = environment.get(action.PROGRESS_FILE_VARIABLE)
        for n, text in enumerate(self.lines):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
            if n == 0:
                printed = threading.Event()
                self.shown.display.side_effect = lambda *a, **k: printed.set()
                assert printed.wait(10), "the first line was not printed while the module ran"
                self.shown.display.side_effect = None
        return dict(self.output)


def printed(shown):
    return [c.args[0] for c in shown.display.call_args_list]


def test_on_the_controller_the_lines_are_printed_while_the_module_runs(shown):
    run = plugin()
    module = run._execute_module = Module(run, shown, ["d-ABCDE1234 Created (0s)", "d-ABCDE1234 step 1/4 x (3s)"])
    result = run.run(task_vars={})
    assert printed(shown) == ["mdl/DEV: d-ABCDE1234 Created (0s)", "mdl/DEV: d-ABCDE1234 step 1/4 x (3s)"]
    assert result["status"] == "Succeeded"
    # one module run, with the task's own arguments (nothing internal among them)
    assert len(module.calls) == 1 and module.calls[0]["module_args"] is None
    # the progress file and the controller process in the module's environment; the file is gone afterwards
    environment = module.calls[0]["environment"]
    assert environment[action.CONTROLLER_PID_VARIABLE] == str(os.getppid())
    assert not os.path.exists(environment[action.PROGRESS_FILE_VARIABLE])
    run._remove_tmp_path.assert_called_once()


def test_the_tasks_own_environment_is_kept_and_ours_added_after_it(shown):
    for environment in ({"AWS_REGION": "eu-west-1"}, [{"AWS_REGION": "eu-west-1"}, {"HTTPS_PROXY": "http://p:3128"}]):
        run = plugin(environment=environment)
        module = run._execute_module = Module(run, shown)
        run.run(task_vars={})
        seen = module.calls[0]["environment"]
        assert seen["AWS_REGION"] == "eu-west-1" and action.PROGRESS_FILE_VARIABLE in seen
        assert list(run._task.environment[-1]) == [action.PROGRESS_FILE_VARIABLE, action.CONTROLLER_PID_VARIABLE]


def test_a_line_without_its_end_is_printed_once_the_module_has_ended(shown):
    run = plugin({"deployment_id": "d-ABCDE1234"})

    def module(**kwargs):
        path = Module(run, shown).environment()[action.PROGRESS_FILE_VARIABLE]
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("one\ntwo")
        return {"changed": False}

    run._execute_module = module
    run.run(task_vars={})
    assert printed(shown) == ["one", "two"]


def test_a_module_failure_is_returned_as_is(shown):
    run = plugin({"deployment_id": "bad"})
    run._execute_module = Module(run, shown, output={"failed": True, "msg": "deployment_id must be a CodeDeploy deployment id"})
    result = run.run(task_vars={})
    assert result["failed"] and result["msg"].startswith("deployment_id must be")
    assert printed(shown) == []


def test_elsewhere_or_with_become_the_module_runs_without_a_progress_file(shown):
    for run in (plugin(transport="ssh"), plugin(become=True)):
        module = run._execute_module = Module(run, shown)
        result = run.run(task_vars={})
        assert result["status"] == "Succeeded"
        assert module.calls[0]["environment"] == {} and not module.calls[0]["wrap_async"]
    assert printed(shown) == []


def test_async_runs_the_module_once_wrapped(shown):
    run = plugin(async_val=3600)
    module = run._execute_module = Module(run, shown, output={"ansible_job_id": "j1", "started": 1, "finished": 0})
    result = run.run(task_vars={})
    assert result["ansible_job_id"] == "j1"
    assert module.calls[0]["wrap_async"] is True and module.calls[0]["environment"] == {}
    run._remove_tmp_path.assert_not_called()


def test_a_label_that_is_not_a_string_fails_naming_it_before_the_module_runs(shown):
    for label in ({"name": "mdl"}, ["mdl", "DEV"]):
        run = plugin(dict(ARGS, label=label))
        module = run._execute_module = Module(run, shown)
        result = run.run(task_vars={})
        assert result["failed"] and "label must be a string" in result["msg"], result
        assert 'label: "{{ mdl_instance_name }}/{{ mdl_environment }}"' in result["msg"], result["msg"]
        assert module.calls == []


def test_a_number_as_label_is_converted_as_the_modules_str_option_does(shown):
    run = plugin(dict(ARGS, label=42))
    run._execute_module = Module(run, shown, ["d-ABCDE1234 Created (0s)"])
    run.run(task_vars={})
    assert printed(shown) == ["42: d-ABCDE1234 Created (0s)"]
