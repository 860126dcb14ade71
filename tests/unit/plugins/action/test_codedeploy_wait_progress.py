# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of codedeploy_wait: runs the module in slices and prints the progress lines."""

from __future__ import annotations

from unittest.mock import MagicMock

from ansible.playbook.task import Task

from ansible_collections.mdl.herd.plugins.action import codedeploy_wait as action

ARGS = {"deployment_id": "d-ABCDE1234", "wait_timeout": 600}


def plugin(args=None, async_val=0, check_mode=False):
    task = MagicMock(Task)
    task.args = dict(args or ARGS)
    task.async_val = async_val
    task.check_mode = check_mode
    task.action = "mdl.herd.codedeploy_wait"
    connection = MagicMock()
    connection._shell.tmpdir = None
    connection.has_native_async = False
    return action.ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)


class ScriptedModule(object):
    """Answers _execute_module with scripted module outputs and records the arguments of each run."""

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.calls = []

    def __call__(self, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kwargs):
        self.calls.append({"module_args": dict(module_args), "wrap_async": wrap_async})
        output = self.outputs.pop(0)
        if isinstance(output, dict) and "invocation" not in output:
            output = dict(output, invocation={"module_args": dict(module_args)})
        return output


def test_runs_the_module_until_it_is_done_and_prints_every_line(shown):
    final = {"changed": False, "status": "Succeeded", "deployment_id": "d-ABCDE1234",
             "_slice": {"lines": ["d-ABCDE1234 Succeeded (6m28s)"]}}
    module = ScriptedModule([
        {"changed": False, "_slice": {"carry": {"version": 1, "n": 1}, "lines": ["d-ABCDE1234 Created: waiting (0s)"]}},
        {"changed": False, "_slice": {"carry": {"version": 1, "n": 2}, "lines": ["d-ABCDE1234 step 1/4 a (3s)", "d-ABCDE1234 step 1/4 b (9s)"]}},
        final,
    ])
    run = plugin()
    run._execute_module = module
    result = run.run(task_vars={})
    assert [c.args[0] for c in shown.display.call_args_list] == [
        "d-ABCDE1234 Created: waiting (0s)", "d-ABCDE1234 step 1/4 a (3s)", "d-ABCDE1234 step 1/4 b (9s)",
        "d-ABCDE1234 Succeeded (6m28s)"]
    # The first run starts a sliced wait; each next one carries the state the last one returned.
    assert [c["module_args"]["_slice"] for c in module.calls] == [{}, {"carry": {"version": 1, "n": 1}}, {"carry": {"version": 1, "n": 2}}]
    assert all(c["module_args"]["deployment_id"] == "d-ABCDE1234" for c in module.calls)
    # The result is the module's last output, without the internal state.
    assert result["status"] == "Succeeded"
    assert "_slice" not in result
    assert result["invocation"]["module_args"] == ARGS


def test_a_failed_slice_ends_the_task_with_the_module_s_failure(shown):
    module = ScriptedModule([
        {"changed": False, "_slice": {"carry": {"version": 1}, "lines": ["one"]}},
        {"failed": True, "msg": "Deployment d-ABCDE1234 failed at step 1/4 ...", "_slice": {"lines": ["d-ABCDE1234 Failed (4m39s)"]}},
        {"never": "reached"},
    ])
    run = plugin()
    run._execute_module = module
    result = run.run(task_vars={})
    assert result["failed"] is True and result["msg"].startswith("Deployment d-ABCDE1234 failed")
    assert len(module.calls) == 2
    assert [c.args[0] for c in shown.display.call_args_list] == ["one", "d-ABCDE1234 Failed (4m39s)"]


def test_a_module_failure_before_any_slice_is_returned_as_is(shown):
    module = ScriptedModule([{"failed": True, "msg": "deployment_id must be a CodeDeploy deployment id"}])
    run = plugin({"deployment_id": "bad"})
    run._execute_module = module
    result = run.run(task_vars={})
    assert result["failed"] and result["msg"].startswith("deployment_id must be")
    assert shown.display.call_count == 0


def test_a_user_cannot_smuggle_a_carried_state_in(shown):
    module = ScriptedModule([{"changed": False, "status": "Succeeded", "_slice": {"lines": []}}])
    run = plugin(dict(ARGS, _slice={"carry": {"version": 1, "started_at": 0}}))
    run._execute_module = module
    run.run(task_vars={})
    assert module.calls[0]["module_args"]["_slice"] == {}


def test_async_runs_the_module_once_without_slices(shown):
    module = ScriptedModule([{"ansible_job_id": "j1", "started": 1, "finished": 0}])
    run = plugin(async_val=3600)
    run._execute_module = module
    result = run.run(task_vars={})
    assert result["ansible_job_id"] == "j1"
    assert module.calls == [{"module_args": ARGS, "wrap_async": True}]
    assert shown.display.call_count == 0


def test_check_mode_is_supported(shown):
    module = ScriptedModule([{"changed": False, "status": "InProgress", "_slice": {"lines": ["d-ABCDE1234 step 1/4 x (1m)"]}}])
    run = plugin(check_mode=True)
    run._execute_module = module
    result = run.run(task_vars={})
    assert result["status"] == "InProgress"
    assert len(module.calls) == 1
