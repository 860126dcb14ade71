# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""On the controller, codedeploy_wait runs in a fork of the worker and its lines are printed while it runs."""

from __future__ import annotations

import os
import threading

from ansible_collections.mdl.herd.plugins.action import codedeploy_wait as action
from ansible_collections.mdl.herd.plugins.plugin_utils import _module_fork
from ansible_collections.mdl.herd.tests.unit.plugins.plugin_utils.test_module_fork import make_action, task_vars

STREAM_MODULE = "ansible_collections.mdl.herd.tests.unit.plugins.action.stream_module"


class FakeProbe(object):
    """A probe whose thread only records when it ran: started before the module, it would keep the worker from forking."""

    instances = []

    def __init__(self, url, **kwargs):
        self.url = url
        self.events = []
        self.thread = None
        self.stopping = threading.Event()
        FakeProbe.instances.append(self)

    def start(self):
        self.events.append("start")
        self.thread = threading.Thread(target=self.stopping.wait)  # runs until stop(), as a probe does
        self.thread.start()

    def stop(self):
        self.events.append("stop")
        self.stopping.set()
        self.thread.join()

    def report(self):
        return {"requests": 0}


def no_module_process(**kwargs):
    raise AssertionError("a module process ran")


def plugin(monkeypatch, args):
    run = make_action(cls=action.ActionModule)
    run._task.args = dict(args)
    run._task.action = "mdl.herd.codedeploy_wait"
    run._play_context.check_mode = False
    monkeypatch.setattr(action, "MODULE_FQN", STREAM_MODULE)
    return run


def test_on_the_controller_the_module_runs_in_a_fork_and_each_line_shows_while_it_runs(monkeypatch, shown, tmp_path):
    go = tmp_path / "go"
    seen = []

    def display(text):
        seen.append(text)
        if text.endswith("step 1/4 started"):
            go.write_text("")  # the module goes on only once its first line was printed

    shown.display.side_effect = display
    run = plugin(monkeypatch, {"deployment_id": "d-ABCDE1234", "label": "stack1/DEV", "hold_until": str(go),
                               "lines": ["d-ABCDE1234 step 1/4 started", "d-ABCDE1234 Succeeded (1s)"]})
    monkeypatch.setattr(run, "_execute_module", no_module_process)
    result = run.run(task_vars=task_vars())
    assert result["status"] == "Succeeded"
    assert result["pid"] != os.getpid()
    assert seen == ["stack1/DEV: d-ABCDE1234 step 1/4 started", "stack1/DEV: d-ABCDE1234 Succeeded (1s)"]
    assert "_slice" not in result.get("invocation", {}).get("module_args", {})


def test_the_probe_starts_once_the_module_runs_so_that_the_worker_can_fork(monkeypatch, shown):
    FakeProbe.instances[:] = []
    started = []
    real_start = _module_fork.start
    monkeypatch.setattr(action, "Probe", FakeProbe)
    monkeypatch.setattr(_module_fork, "start", lambda *a: started.append(threading.active_count()) or real_start(*a))
    run = plugin(monkeypatch, {"deployment_id": "d-ABCDE1234", "probe_url": "https://herd.example/buildInfo", "lines": ["a"]})
    monkeypatch.setattr(run, "_execute_module", no_module_process)
    result = run.run(task_vars=task_vars())
    assert started == [1]  # no thread in the worker when it forked
    assert FakeProbe.instances[0].events == ["start", "stop"]
    assert result["zero_downtime"] == {"requests": 0}
    assert result["threads"] == 1


def test_where_the_worker_cannot_fork_the_module_runs_as_a_process_in_a_thread_and_its_lines_show(monkeypatch, shown):
    run = plugin(monkeypatch, {"deployment_id": "d-ABCDE1234", "lines": []})
    calls = []

    def module_process(module_args=None, task_vars=None, **kwargs):
        calls.append(dict(module_args))
        with open(module_args["_slice"]["stream"], "a", encoding="utf-8") as handle:
            handle.write("d-ABCDE1234 Succeeded (1s)\n")
        return {"changed": False, "status": "Succeeded"}

    monkeypatch.setattr(run, "_execute_module", module_process)
    result = run.run(task_vars=task_vars(mdl_herd_module_process=True))
    assert result["status"] == "Succeeded"
    assert len(calls) == 1 and "stream" in calls[0]["_slice"]
    assert [c.args[0] for c in shown.display.call_args_list] == ["d-ABCDE1234 Succeeded (1s)"]
