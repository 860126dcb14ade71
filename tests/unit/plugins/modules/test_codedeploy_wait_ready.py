# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deployment that stays in Ready is never a success (issue 27 item 10, third pin).

Blue/Green with a "deployment ready" wait: the replacement instances passed their hooks, and
CodeDeploy waits for someone to continue the deployment before any traffic moves to them. Until
then HERD still serves the old version from the original instances: reporting success there is
what the role would then verify in vain, or, with the probe's read, take for the old version.
These tests look at the outcome itself (kind, failed, status, timed_out), not at how often the
wait polls: a pacing change cannot make them pass or fail by accident.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower as cd_follower
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_reader as cd_reader
from ansible_collections.mdl.herd.plugins.modules import codedeploy_wait
from ansible_collections.mdl.herd.tests.unit.plugins.modules.module_runner import run_module
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import (
    EPOCH0,
    FakeCodeDeploy,
    blue_green_story,
)

DEPLOYMENT = "d-ABCDE1234"
READY_FROM = 281  # blue_green_story(ready_minutes=...): Ready from this second on, for good
NOT_DONE = re.compile(r"^Deployment d-ABCDE1234 did not (succeed|reroute traffic) within 900 s \(wait_timeout\): it is Ready ")


@pytest.fixture
def aws(monkeypatch, clock):
    fake = FakeCodeDeploy(clock, [blue_green_story(ready_minutes=60)])

    def client(module, service, retry_decorator=None):
        return RetryingBotoClientWrapper(fake.client, retry_decorator)

    monkeypatch.setattr(codedeploy_wait._aws, "client", client)
    return fake


def follower(fake, clock, **kwargs):
    reader = cd_reader.DeploymentReader(RetryingBotoClientWrapper(fake.client, cd_reader.poll_retry()))
    return cd_follower.Follower(reader, DEPLOYMENT, wall=clock.time, clock=clock.monotonic, sleep=clock.sleep, **kwargs)


def run(monkeypatch, check_mode=False, **args):
    params = dict(region="us-east-1", access_key="testing", secret_key="testing", deployment_id=DEPLOYMENT)
    params.update(args)
    return run_module(monkeypatch, codedeploy_wait.main, params, check_mode=check_mode)


def test_the_story_stays_ready():
    story = blue_green_story(ready_minutes=60)
    assert [story.status(t) for t in (READY_FROM - 1, READY_FROM, 3600, 86400)] == ["InProgress", "Ready", "Ready", "Ready"]


@pytest.mark.parametrize("wait_for", ["success", "traffic_rerouted"])
def test_the_follower_never_reports_ready_as_done(aws, clock, wait_for):
    outcome = follower(aws, clock, wait_timeout=900, wait_for=wait_for).follow()
    assert outcome.kind == "timeout", (outcome.kind, outcome.result["status"])
    assert outcome.failed
    assert outcome.result["status"] == "Ready" and outcome.result["timed_out"] is True
    # step 2 (rerouting) is not done: no traffic reached the replacement instance
    assert [s["status"] for s in outcome.result["steps"][:2]] == ["Succeeded", "Pending"]
    assert clock.seconds >= 900  # it waited its whole timeout: Ready is not an end
    assert NOT_DONE.match(outcome.message), outcome.message
    assert "continue-deployment" in outcome.message


def test_the_follower_s_one_look_at_a_ready_deployment_is_no_success(aws, clock):
    clock.now = EPOCH0 + READY_FROM + 100
    outcome = follower(aws, clock, wait_timeout=0).look_once()
    assert outcome.kind == "checked" and not outcome.failed
    assert outcome.result["status"] == "Ready"


@pytest.mark.parametrize("wait_for", ["success", "traffic_rerouted"])
def test_codedeploy_wait_fails_on_a_deployment_that_stays_ready(monkeypatch, aws, clock, wait_for):
    failed, result = run(monkeypatch, wait_timeout=900, wait_for=wait_for)
    assert failed, result
    assert result["status"] == "Ready" and result["timed_out"] is True
    assert result["status"] != "Succeeded" and not result.get("served_matches")
    assert NOT_DONE.match(result["msg"]), result["msg"]
    assert result["changed"] is False and aws.count("StopDeployment") == 0  # on_timeout=fail: left as it is


def test_codedeploy_wait_in_check_mode_reports_ready_not_succeeded(monkeypatch, aws, clock):
    clock.now = EPOCH0 + READY_FROM + 100
    failed, result = run(monkeypatch, check_mode=True, wait_timeout=0)
    assert not failed and result["status"] == "Ready" and result["changed"] is False


def test_a_ready_deployment_that_is_continued_then_succeeds_is_a_success(monkeypatch, aws, clock):
    """The other side: once someone continues it and it succeeds, the same wait reports the success."""
    story = aws.stories[DEPLOYMENT]
    story.end, story.final = READY_FROM + 400.0, "Succeeded"
    failed, result = run(monkeypatch, wait_timeout=900)
    assert not failed and result["status"] == "Succeeded" and result["timed_out"] is False
    assert clock.seconds >= READY_FROM + 400
