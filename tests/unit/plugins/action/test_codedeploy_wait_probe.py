# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe in the action plugin of codedeploy_wait: credentials stay here, and a hung HERD never delays the wait."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ansible_collections.mdl.herd.tests.unit.plugins.action import test_codedeploy_wait_progress as progress
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.herd_servers import AnsweringHerd, HangingHerd

PASSWORD = "pr0be-Passw0rd-7d1c"
FINAL = {"changed": False, "status": "Succeeded", "deployment_id": "d-ABCDE1234", "_slice": {"lines": []}}
# Generous: how much later than the module's end the task may return on a slow machine. Waiting for the hung
# request would add the probe's timeout (2 s).
DELAY_BOUND = 1.0


def plugin(args, async_val=0):
    run = progress.plugin(args, async_val=async_val)
    run._play_context.check_mode = False
    run._play_context.become = False
    return run


class Module(object):
    """_execute_module: records what the module got, returns FINAL (with the invocation the module would build)."""

    def __init__(self, before_return=None):
        self.calls = []
        self.before_return = before_return
        self.returned_at = None

    def __call__(self, module_name=None, module_args=None, task_vars=None, wrap_async=False, **kwargs):
        self.calls.append(dict(module_args))
        if self.before_return:
            self.before_return()
        self.returned_at = time.monotonic()
        # as AnsibleModule does: the no_log options it got are masked in its invocation
        shown_args = dict(module_args, **{k: "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" for k in ("probe_password",) if k in module_args})
        return dict(FINAL, invocation={"module_args": shown_args})


def probe_args(url, **more):
    return dict({"deployment_id": "d-ABCDE1234", "probe_url": url, "probe_interval": 0.2,
                 "probe_username": "admin", "probe_password": PASSWORD}, **more)


def test_the_password_goes_to_the_probe_not_to_the_module_and_is_masked(shown):
    with AnsweringHerd(username="admin", password=PASSWORD) as herd:
        module = Module(before_return=lambda: time.sleep(0.7))
        run = plugin(probe_args(herd.url))
        run._execute_module = module
        result = run.run(task_vars={})
    assert all("probe_password" not in call for call in module.calls)
    assert all(call["probe_username"] == "admin" for call in module.calls)
    assert result["invocation"]["module_args"]["probe_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert PASSWORD not in json.dumps(result)
    report = result["zero_downtime"]
    assert report["requests"] >= 2 and report["failures"] == 0, report
    assert herd.seen and all(auth and auth.startswith("Basic ") for dummy, auth, dummy2 in herd.seen)


def test_async_passes_no_password_either(shown):
    module = Module()
    run = plugin(probe_args("http://127.0.0.1:9/herd-app/rest/buildInfo"), async_val=60)
    run._execute_module = module
    result = run.run(task_vars={})
    assert "probe_password" not in module.calls[0]
    assert PASSWORD not in json.dumps(result)


@pytest.mark.parametrize("missing", ["probe_username", "probe_password"])
def test_username_and_password_go_together(shown, missing):
    args = probe_args("http://127.0.0.1:9/herd-app/rest/buildInfo")
    del args[missing]
    module = Module()
    run = plugin(args)
    run._execute_module = module
    result = run.run(task_vars={})
    assert result["failed"] and "go together" in result["msg"] and not module.calls
    assert PASSWORD not in json.dumps(result)


def test_a_hung_herd_never_delays_the_end_of_the_wait(shown):
    with HangingHerd() as herd:
        # the wait ends while the probe's request to HERD is under way and unanswered
        module = Module(before_return=lambda: herd.wait_for(1))
        run = plugin({"deployment_id": "d-ABCDE1234", "probe_url": herd.url, "probe_interval": 0.2})
        run._execute_module = module
        result = run.run(task_vars={})
        returned = time.monotonic()
        assert herd.count >= 1
        delay = returned - module.returned_at  # same clock
        assert delay < DELAY_BOUND, delay
        assert result["status"] == "Succeeded" and result["zero_downtime"]["requests"] == 0
        # and the probe stopped with the wait: nothing more reaches HERD
        count = herd.count
        time.sleep(3.0)
        assert herd.count == count
        assert not [t for t in threading.enumerate() if t.name == "mdl-herd-probe" and t.is_alive()]


# --- the version check at the end (expected_version) ---------------------------------------------
class EndingModule(Module):
    """A module whose wait ends with ``status``, HERD switching to ``version_at_end`` just before."""

    def __init__(self, herd, status="Succeeded", version_at_end=None):
        super(EndingModule, self).__init__(before_return=self._switch)
        self.herd, self.status, self.version_at_end = herd, status, version_at_end

    def _switch(self):
        if self.version_at_end:
            self.herd.version = self.version_at_end

    def __call__(self, **kwargs):
        return dict(super(EndingModule, self).__call__(**kwargs), status=self.status)


@pytest.mark.parametrize("status, version_at_end, expected, served", [
    # read after the deployment succeeded, compared Maven-style (0.176 is 0.176.0)
    ("Succeeded", "0.176.0", "0.176", {"served_version": "0.176.0", "served_matches": True}),
    ("Succeeded", None, "0.176.0", {"served_version": "0.170.0", "served_matches": False}),
    # nothing to check after a failed deployment: the role reads HERD its own way then
    ("Failed", "0.176.0", "0.176.0", {}),
])
def test_expected_version_is_checked_by_one_read_after_success(shown, status, version_at_end, expected, served):
    with AnsweringHerd(version="0.170.0") as herd:
        module = EndingModule(herd, status, version_at_end)
        run = plugin({"deployment_id": "d-ABCDE1234", "probe_url": herd.url, "probe_interval": 5, "expected_version": expected})
        run._execute_module = module
        result = run.run(task_vars={})
    # HERD switches as the module returns: 0.176.0 is served only to a read after the wait ended
    assert {k: result[k] for k in ("served_version", "served_matches") if k in result} == served


def test_without_an_answer_at_the_end_the_version_is_not_taken_as_served(shown):
    module = Module()
    run = plugin({"deployment_id": "d-ABCDE1234", "probe_url": "http://127.0.0.1:9/herd-app/rest/buildInfo",
                  "probe_interval": 5, "expected_version": "0.176.0"})
    run._execute_module = module
    result = run.run(task_vars={})
    assert (result["served_version"], result["served_matches"]) == (None, False)
