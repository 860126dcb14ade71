# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""herd_rollback_plan's main: what a rollback is told, from the history of HERD/CurrentVersion and the failed deployments."""

from __future__ import annotations

import pytest

pytest.importorskip("botocore")

from ansible_collections.mdl.herd.plugins.modules import herd_rollback_plan  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.modules.module_runner import run_module  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.test_rollback import (  # noqa: E402
    FailedDeployments,
    HistorySsm,
    during,
)

STACK = dict(mdl_instance_name="mdl", mdl_environment="DEV", region="us-east-1")


def plan(monkeypatch, ssm, codedeploy, **params):
    clients = {"ssm": ssm, "codedeploy": codedeploy}
    monkeypatch.setattr(herd_rollback_plan._aws, "client", lambda module, service: clients[service])
    return run_module(monkeypatch, herd_rollback_plan.main, dict(STACK, **params))


def test_rolled_back_then_a_failed_upgrade_plans_nothing(monkeypatch):
    ssm = HistorySsm(["0.170.0", "0.176.0", "0.170.0", "0.177.0"])
    failed = dict(during(ssm.times[3]), deploymentId="d-FAILED0001", status="Failed")
    is_failed, result = plan(monkeypatch, ssm, FailedDeployments([failed]), served_version="0.170.0")
    assert not is_failed, result
    assert result["changed"] is False and result["rollback_needed"] is False
    assert (result["reason"], result["target_version"], result["previous_version"]) == ("follows_newer", "0.170.0", "0.176.0")
    assert "mdl/DEV" in result["message"] and "running this again changes nothing" in result["message"]


def test_the_target_skips_a_failed_upgrade(monkeypatch):
    ssm = HistorySsm(["0.170.0", "0.176.0", "0.177.0"])
    failed = dict(during(ssm.times[1]), deploymentId="d-FAILED0001", status="Failed")
    is_failed, result = plan(monkeypatch, ssm, FailedDeployments([failed]), served_version="0.177.0")
    assert not is_failed, result
    assert (result["target_version"], result["reason"], result["rollback_needed"]) == ("0.170.0", "previous", True)
    assert result["history"] == ["0.170.0", "0.176.0", "0.177.0"]


@pytest.mark.parametrize("params, words", [
    (dict(served_version="0.170.0", requested_version="0.176.0"), "a rollback never goes to a newer version"),
    (dict(served_version="0.176.0"), "does not record a version before it"),
])
def test_refusals_name_the_stack_and_change_nothing(monkeypatch, params, words):
    is_failed, result = plan(monkeypatch, HistorySsm(["0.176.0"]), FailedDeployments(), **params)
    assert is_failed and words in result["msg"] and "Stack mdl/DEV" in result["msg"]
