# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""herd_upgrade_invoke stopped by a real signal (sent to this process while the module runs, against moto), at each
moment of its work: what becomes of the upgrade lock, and what the module says; and herd_buildinfo_check and
herd_rollback_plan stopped the same way."""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from moto.codedeploy.responses import CodeDeployResponse  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

from ansible_collections.mdl.herd.plugins.modules import herd_buildinfo_check, herd_rollback_plan  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.modules.module_runner import run_module  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.herd_servers import LocalServer  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.modules import test_herd_upgrade_invoke  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.modules.test_herd_upgrade_invoke import (  # noqa: E402
    PREFIX,
    deployments,
    get,
    lock_exists,
    run,
    stack_args,
)

stack = test_herd_upgrade_invoke.stack  # the fixture: an MDL stack in moto, with its upgrade Lambda

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


# --- the two other modules that call AWS or HERD: stopped, they say so and name the stack ------------------------


class StoppingHerd(LocalServer):
    """A HERD whose buildInfo answer never comes: the run is stopped while the module waits for it."""

    def __init__(self, signum):
        self.answer = threading.Event()
        herd = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    stop(signum)
                except AssertionError as e:
                    herd.error = e
                herd.answer.wait(30)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.error = None
        self.serve(Handler, "/herd-app/rest/buildInfo")

    def __exit__(self, *exc_info):
        self.answer.set()
        super(StoppingHerd, self).__exit__(*exc_info)


def test_herd_buildinfo_check_stopped_while_reading_says_nothing_was_changed(monkeypatch):
    with StoppingHerd(signal.SIGTERM) as herd:
        failed, result = run_module(monkeypatch, herd_buildinfo_check.main, {"url": herd.url, "timeout": 20})
    assert herd.error is None, herd.error
    assert failed and result["interrupted"] is True
    assert result["msg"] == ("HERD at {0}: reading the HERD version served was stopped (the run was stopped (SIGTERM)); "
                             "nothing was changed (this task only reads). Running this task again reads it "
                             "again.".format(herd.url))


def test_herd_rollback_plan_stopped_says_what_a_rerun_does(stack, monkeypatch):
    original = SimpleSystemManagerResponse.get_parameter_history

    def get_parameter_history(self):
        stop(signal.SIGINT)
        return original(self)

    monkeypatch.setattr(SimpleSystemManagerResponse, "get_parameter_history", get_parameter_history)
    failed, result = run_module(monkeypatch, herd_rollback_plan.main, dict(
        mdl_instance_name="mdl", mdl_environment="DEV", served_version="0.176.0", region="us-east-1",
        access_key="testing", secret_key="testing"))
    assert failed and result["interrupted"] is True
    assert result["msg"] == ("Stack mdl/DEV: the rollback plan was stopped (the run was stopped (SIGINT)); nothing was "
                             "changed (the plan only reads). Running this task again plans again.")
