# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""codedeploy_wait as Ansible runs it: arguments, results, failures, check mode, progress lines.

CodeDeploy is the scripted one of codedeploy_story.py behind a real botocore client; the
clocks of the module (wall, monotonic, sleep) are a fake clock, so nothing sleeps.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower
from ansible_collections.mdl.herd.plugins.modules import codedeploy_wait
from ansible_collections.mdl.herd.tests.unit.plugins.modules.module_runner import run_module
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import (
    EPOCH0,
    FakeCodeDeploy,
    blue_green_story,
    in_place_story,
    rollback_story,
)

DEPLOYMENT = "d-ABCDE1234"
GREEN = "i-0bbbbbbbbbbbbbbb2"


@pytest.fixture
def aws(monkeypatch, clock):
    """The scripted CodeDeploy, and the clients the module asked for."""
    fake = FakeCodeDeploy(clock)
    fake.clients = []

    def client(module, service, retry_decorator=None):
        fake.clients.append(service)
        return RetryingBotoClientWrapper(fake.client, retry_decorator)

    monkeypatch.setattr(codedeploy_wait._aws, "client", client)
    return fake


def run(monkeypatch, check_mode=False, **args):
    """Run the module; return (failed, result)."""
    params = dict(region="us-east-1", access_key="testing", secret_key="testing")
    params.update(args)
    return run_module(monkeypatch, codedeploy_wait.main, params, check_mode=check_mode)


# --- input is checked before any AWS call --------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    ({"deployment_id": "d-abc"}, "deployment_id must be a CodeDeploy deployment id: 'd-' followed by 9 upper-case letters or digits"),
    ({"deployment_id": DEPLOYMENT, "poll_interval": 0.1}, "poll_interval must be at least 0.5 seconds"),
    ({"deployment_id": DEPLOYMENT, "wait_timeout": -5}, "wait_timeout must be a number of seconds, 0 or more"),
])
def test_bad_input_fails_before_any_aws_call(monkeypatch, aws, args, message):
    failed, result = run(monkeypatch, **args)
    assert failed
    assert result["msg"].startswith(message)
    assert aws.clients == [] and aws.requests == []


def test_bad_choice_is_refused_by_the_argument_spec(monkeypatch, aws):
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, on_timeout="explode")
    assert failed and "on_timeout" in result["msg"]
    assert aws.requests == []


# --- results -------------------------------------------------------------------------------------
def test_success_returns_the_deployment_its_steps_and_timeline(monkeypatch, aws, clock):
    aws.add(blue_green_story())
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT)
    assert not failed
    assert result["changed"] is False
    assert result["status"] == "Succeeded"
    assert result["application_name"] == "mdl-Herd"
    assert result["deployment_group_name"] == "mdl-HerdDeployGroup"
    assert result["deployment_type"] == "BLUE_GREEN"
    assert [s["status"] for s in result["steps"]] == ["Succeeded"] * 4
    assert result["start_time"] == "2026-11-26T13:00:02.000+00:00"
    assert result["timeline"][-1] == {"time": "2026-11-26T13:06:30.000+00:00", "status": "Succeeded", "message": "deployment Succeeded"}
    assert result["api_calls"]["total"] == len(aws.requests)
    assert aws.clients == ["codedeploy"]
    json.dumps(result)  # everything is plain data


def test_failure_fails_the_task_with_what_to_act_on(monkeypatch, aws, clock):
    aws.add(blue_green_story(fail_at="ValidateService"))
    aws.add(rollback_story("d-RBCKE5678", DEPLOYMENT, 282))
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT)
    assert failed
    assert result["msg"].startswith("Deployment d-ABCDE1234 failed at step 1/4 Deploying replacement instances.\n"
                                    "Lifecycle event ValidateService failed on {0}".format(GREEN))
    # the rollback as CodeDeploy answered when the failure was read (within a poll of it: the rollback has just begun)
    rollback_status = result["rollback_info"]["rollback_deployment_status"]
    assert rollback_status in ("Created", "InProgress")
    assert "Rollback deployment d-RBCKE5678 is {0} (follow it".format(rollback_status) in result["msg"], result["msg"]
    assert result["msg"].endswith("[stderr]smoke test failed: expected buildNumber 0.176.0, got 0.170.0")
    assert result["status"] == "Failed"
    assert result["changed"] is False


def test_timeout_with_rollback_changes_something_and_fails(monkeypatch, aws, clock):
    aws.add(blue_green_story())
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, wait_timeout=60, on_timeout="rollback")
    assert failed and result["changed"] is True
    assert result["timed_out"] is True
    assert result["stop"]["action"] == "rollback"
    assert result["rollback_info"]["rollback_deployment_id"] == "d-STOPR1234"
    assert result["msg"].startswith("Deployment d-ABCDE1234 did not succeed within 60 s (wait_timeout)")


def test_check_mode_reads_once(monkeypatch, aws, clock):
    aws.add(blue_green_story())
    clock.now = EPOCH0 + 200
    failed, result = run(monkeypatch, check_mode=True, deployment_id=DEPLOYMENT, on_timeout="stop", wait_timeout=0)
    assert not failed and result["changed"] is False
    assert result["status"] == "InProgress"
    assert result["current_activity"] == "ApplicationStart on {0}".format(GREEN)
    assert aws.count("GetDeployment") == 1 and aws.count("StopDeployment") == 0
    assert clock.slept == []


def test_in_place_deployment_is_followed_without_steps_and_traffic_rerouted_warns(monkeypatch, aws, clock):
    aws.add(in_place_story(DEPLOYMENT))
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, wait_for="traffic_rerouted")
    assert not failed
    assert result["status"] == "Succeeded" and result["steps"] == []
    assert any("traffic_rerouted applies to Blue/Green deployments" in w for w in result["warnings"])


def test_an_aws_error_is_reported_the_amazon_aws_way(monkeypatch, aws, clock):
    aws.add(blue_green_story())
    aws.errors = [("GetDeployment", "AccessDeniedException")]
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT)
    assert failed
    assert result["msg"].startswith("Could not follow CodeDeploy deployment d-ABCDE1234: An error occurred (AccessDeniedException)")
    assert result["error"]["code"] == "AccessDeniedException"
    assert result["api_calls"]["get_deployment"] == 1


def test_an_unknown_deployment_is_named(monkeypatch, aws, clock):
    failed, result = run(monkeypatch, deployment_id="d-NOPE12345")
    assert failed
    assert result["msg"] == ("Deployment d-NOPE12345 does not exist in this account and region: check deployment_id, region "
                             "and the AWS credentials")


# --- slices (the action plugin's way) give the same task -----------------------------------------
def test_check_mode_reads_once_and_says_what_already_happened(monkeypatch, aws, clock, tmp_path):
    progress = tmp_path / "lines"
    progress.write_text("")
    monkeypatch.setenv(codedeploy_wait.PROGRESS_FILE_VARIABLE, str(progress))
    aws.add(blue_green_story())
    clock.now = EPOCH0 + 100
    failed, result = run(monkeypatch, check_mode=True, deployment_id=DEPLOYMENT)
    assert not failed
    # A first look in the middle of a deployment tells what already happened, each event once.
    assert progress.read_text().splitlines() == ["d-ABCDE1234 step 1/4 Deploying replacement instances: " + text for text in (
        "provisioning replacement instances (0s)", "ApplicationStop on {0}, Succeeded (43s)".format(GREEN),
        "DownloadBundle on {0}, Succeeded (58s)".format(GREEN), "BeforeInstall on {0}, InProgress (58s)".format(GREEN))]
    assert result["status"] == "InProgress"


def test_streamed_lines_are_written_as_they_are_said_and_not_returned(monkeypatch, aws, clock, tmp_path):
    """The module appends each line to the file its action plugin reads (named in its environment)."""
    stream = tmp_path / "lines"
    stream.write_text("")
    aws.add(blue_green_story())
    seen = []
    real_sleep = clock.sleep

    def sleep(seconds):  # what the plugin would read at each pause of the wait
        seen.append(len(stream.read_text().splitlines()))
        real_sleep(seconds)

    monkeypatch.setattr(_codedeploy_follower.time, "sleep", sleep)
    monkeypatch.setenv(codedeploy_wait.PROGRESS_FILE_VARIABLE, str(stream))
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT)
    lines = stream.read_text().splitlines()
    assert not failed and result["status"] == "Succeeded"
    assert len(lines) == 35 and lines[-1] == "d-ABCDE1234 Succeeded (6m28s)"
    # Written while the wait went on, not at its end.
    assert seen[0] == 1 and 1 < seen[len(seen) // 2] < 35
