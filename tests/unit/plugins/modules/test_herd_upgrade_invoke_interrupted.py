# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""herd_upgrade_invoke stopped by a real signal (sent to this process while the module runs, against moto), at each
moment of its work: what becomes of the upgrade lock, and what the module says."""

from __future__ import annotations

import json
import os
import signal

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from moto.codedeploy.responses import CodeDeployResponse  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

from ansible_collections.mdl.herd.tests.unit.plugins.modules.test_herd_upgrade_invoke import (  # noqa: E402,F401
    PREFIX,
    deployments,
    get,
    lock_exists,
    run,
    stack,
    stack_args,
)

LOCK = PREFIX + "HERD/UpgradeLock"


def stop(signum):
    """Send ``signum`` to this process, as a stop of the run sends it to the module's; refuse when nothing handles it
    (its default action would end the test run instead of failing this test)."""
    if signal.getsignal(signum) in (signal.SIG_DFL, signal.SIG_IGN, None, signal.default_int_handler):
        raise AssertionError("the module does not handle {0}: it does not run in _watch.guarded()".format(
            signal.Signals(signum).name))
    os.kill(os.getpid(), signum)


def test_stopped_during_the_invoke_leaves_the_lock_marked_and_says_what_a_rerun_does(stack, monkeypatch):
    original = stack.handler

    def handler(event, log):  # the function is running in AWS when the run is stopped
        stop(signal.SIGTERM)
        original(event, log)

    stack.handler = handler
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    value = json.loads(get("HERD/UpgradeLock"))
    assert (value["phase"], value["version"], value["reason"]) == ("interrupted", "0.176.0", "the run was stopped (SIGTERM)")
    assert value["invoked_at"] and value["interrupted_at"]
    assert result["msg"].startswith("Stack mdl/DEV: the run was stopped (SIGTERM) during the invoke of "
                                    "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION for HERD 0.176.0, sent at "), result["msg"]
    assert "Running this task again for HERD 0.176.0 joins that deployment as soon as it appears" in result["msg"]
    assert (result["changed"], result["interrupted"], result["lock_outcome"]) == (True, True, "marked")


def test_stopped_while_holding_the_lock_before_the_invoke_releases_it(stack, monkeypatch):
    original = SimpleSystemManagerResponse.get_parameter

    def get_parameter(self):
        name = json.loads(self.body)["Name"]
        if name.endswith("HERD/MostRecentDeploymentId") and lock_exists():  # the last read before the invoke
            stop(signal.SIGINT)
        return original(self)

    monkeypatch.setattr(SimpleSystemManagerResponse, "get_parameter", get_parameter)
    failed, result = run(monkeypatch, **stack_args())
    assert failed and stack.events == []
    assert not lock_exists()
    assert "while it held the upgrade lock SSM {0}, before the invoke: nothing was invoked. The upgrade lock SSM {0} was " \
           "released.".format(LOCK) in result["msg"]
    assert (result["changed"], result["lock_outcome"]) == (False, "released")


def test_stopped_before_the_lock_says_nothing_was_invoked(stack, monkeypatch):
    original = CodeDeployResponse.list_deployments

    def list_deployments(self):  # the look for a deployment under way, before the lock
        stop(signal.SIGHUP)
        return original(self)

    monkeypatch.setattr(CodeDeployResponse, "list_deployments", list_deployments)
    failed, result = run(monkeypatch, **stack_args())
    assert failed and stack.events == [] and not lock_exists()
    assert result["msg"].startswith("Stack mdl/DEV: the run was stopped (SIGHUP) before anything was "
                                    "invoked for HERD 0.176.0. Running this task again starts over")
    assert deployments() == {stack.previous: "Succeeded"}
