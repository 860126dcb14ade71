# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Following a CodeDeploy deployment: step derivation, failure messages, polling, retries, timeouts.

Every answer comes from a scripted CodeDeploy (codedeploy_story.py) behind a real botocore
client, checked against botocore's service model; time is a fake clock, so nothing sleeps.
"""

from __future__ import annotations

import datetime
import re
import types

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower as cd_follower
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_pace as cd_pace
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_reader as cd_reader
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_text as cd_text
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_view as cd_view
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import (
    EPOCH0,
    Event,
    FakeClock,
    FakeCodeDeploy,
    Instance,
    Story,
    blue_green_story,
    in_place_story,
    rollback_story,
    sandbox_like_story,
)

DEPLOYMENT = "d-ABCDE1234"
GREEN = "i-0bbbbbbbbbbbbbbb2"
BLUE = "i-0aaaaaaaaaaaaaaa1"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(autouse=True)
def retry_sleeps_on_the_fake_clock(monkeypatch, clock):
    """amazon.aws's backoff sleeps with time.sleep: move the fake clock instead."""
    monkeypatch.setattr(cloud, "time", types.SimpleNamespace(sleep=clock.sleep))


def reader_for(fake):
    return cd_reader.DeploymentReader(RetryingBotoClientWrapper(fake.client, cd_reader.poll_retry()))


def follower_for(fake, clock, deployment_id=DEPLOYMENT, **kwargs):
    kwargs.setdefault("wait_timeout", 3600)
    return cd_follower.Follower(reader_for(fake), deployment_id, wall=clock.time, clock=clock.monotonic, sleep=clock.sleep, **kwargs)


def view_at(story, t, clock=None):
    """What the module derives from CodeDeploy's answers at second t, reading everything."""
    clock = clock or FakeClock()
    fake = FakeCodeDeploy(clock, [story])
    reader = reader_for(fake)
    clock.now = EPOCH0 + t
    deployment = cd_view.deployment_view(reader.deployment(story.deployment_id))
    instances = []
    if deployment["status"] != "Created":
        ids = reader.target_ids(story.deployment_id)
        instances = [cd_view.instance_view(target) for target in reader.targets(story.deployment_id, ids)]
    steps = cd_view.derive_steps(deployment, instances, clock.now)
    return {"deployment": deployment, "instances": instances, "steps": steps,
            "activity": cd_text.describe_activity(deployment, steps, instances, clock.now), "now": clock.now}


def statuses(view):
    return [step["status"] for step in view["steps"]]


# --- the scripted CodeDeploy itself -------------------------------------------------------------
def test_the_scripted_answers_are_checked_against_the_service_model(clock):
    story = blue_green_story()
    story.status_messages = [42]  # a number where CodeDeploy sends strings
    with pytest.raises(AssertionError, match="does not fit the service model"):
        reader_for(FakeCodeDeploy(clock, [story])).deployment(DEPLOYMENT)


# --- the four steps, from recorded-shape answers ------------------------------------------------
@pytest.mark.parametrize("t, expected, activity", [
    (1, ["Pending"] * 4, "waiting for CodeDeploy to start it"),
    (10, ["InProgress", "Pending", "Pending", "Pending"], "provisioning replacement instances"),
    (35, ["InProgress", "Pending", "Pending", "Pending"], "replacement instance {0} starting, no lifecycle event yet".format(GREEN)),
    (200, ["InProgress", "Pending", "Pending", "Pending"], "ApplicationStart on {0}".format(GREEN)),
    (282, ["Succeeded", "InProgress", "Pending", "Pending"], "BeforeAllowTraffic on {0}".format(GREEN)),
    (315, ["Succeeded", "InProgress", "Pending", "Pending"], "BlockTraffic on {0}".format(BLUE)),
    (331, ["Succeeded", "Succeeded", "Succeeded", "InProgress"], "terminating {0}".format(BLUE)),
    (391, ["Succeeded"] * 4, ""),
])
def test_blue_green_steps_follow_the_lifecycle_events(t, expected, activity):
    view = view_at(blue_green_story(), t)
    assert statuses(view) == expected
    assert view["activity"] == activity
    assert [s["name"] for s in view["steps"]] == list(cd_view.STEP_NAMES)


def test_step_times_come_from_codedeploy_records():
    view = view_at(blue_green_story(), 400)
    times = [(s["start_time"] - EPOCH0, s["end_time"] - EPOCH0) for s in view["steps"]]
    # 1: from the deployment's start to the end of ValidateService; 2: BeforeAllowTraffic to AfterBlockTraffic;
    # 3: no termination wait configured; 4: to the deployment's completion.
    assert times == [(2, 280), (280, 330), (330, 330), (330, 390)]


def test_termination_wait_is_step_3_and_its_end_is_computed_from_the_configuration():
    story = blue_green_story(termination_wait_minutes=5)
    during = view_at(story, 400)
    assert statuses(during) == ["Succeeded", "Succeeded", "InProgress", "Pending"]
    assert during["activity"] == "original instances kept 5 min before termination (3m50s left)"
    after = view_at(story, 330 + 300 + 1)
    assert statuses(after) == ["Succeeded", "Succeeded", "Succeeded", "InProgress"]
    assert after["steps"][2]["end_time"] - EPOCH0 == 630
    done = view_at(story, story.end + 1)
    assert statuses(done) == ["Succeeded"] * 4
    assert done["steps"][3]["end_time"] - EPOCH0 == story.end


def test_keep_alive_skips_steps_3_and_4():
    story = blue_green_story(keep_alive=True)
    assert statuses(view_at(story, 200)) == ["InProgress", "Pending", "Skipped", "Skipped"]
    assert statuses(view_at(story, story.end)) == ["Succeeded", "Succeeded", "Skipped", "Skipped"]


def test_ready_waits_for_someone_to_continue_the_deployment():
    view = view_at(blue_green_story(ready_minutes=60), 300)
    assert view["deployment"]["status"] == "Ready"
    assert view["deployment"]["overview"]["ready"] == 1
    assert statuses(view) == ["Succeeded", "Pending", "Pending", "Pending"]
    assert "continue-deployment --deployment-wait-type READY_WAIT" in view["activity"]


def test_failed_deployment_fails_the_running_step_and_skips_the_rest():
    story = blue_green_story(fail_at="ValidateService")
    assert statuses(view_at(story, 270)) == ["InProgress", "Pending", "Pending", "Pending"]
    view = view_at(story, 290)
    assert view["deployment"]["status"] == "Failed"
    assert statuses(view) == ["Failed", "Skipped", "Skipped", "Skipped"]
    assert view["steps"][0]["end_time"] - EPOCH0 == 280
    assert view["activity"] == ""


def test_stopped_during_reroute_fails_step_2():
    story = blue_green_story()
    story.stop(300, rollback=False)
    view = view_at(story, 310)
    assert view["deployment"]["status"] == "Stopped"
    assert statuses(view) == ["Succeeded", "Failed", "Skipped", "Skipped"]
    message = cd_text.deployment_failure_message(view)
    assert message.startswith("Deployment d-ABCDE1234 was stopped at step 2/4 Rerouting traffic to replacement instances.")
    assert "Error code MANUAL_STOP: The deployment was stopped by a user." in message


def test_in_place_deployments_have_no_blue_green_steps():
    view = view_at(in_place_story(), 75)
    assert view["steps"] == []
    assert view["activity"] == "Install on i-0ccccccccccccccc3"
    assert view["instances"][0]["label"] is None


def test_an_ignored_application_stop_failure_does_not_fail_the_step():
    story = blue_green_story()
    blue = story.instances[0]
    diagnostics = {"errorCode": "ScriptFailed", "scriptName": "stop.sh", "message": "exit 1", "logTail": ""}
    blue.events[0] = Event("BeforeBlockTraffic", 305, 310, "Failed", diagnostics)
    view = view_at(story, 320)
    assert statuses(view) == ["Succeeded", "InProgress", "Pending", "Pending"]
    story.ignore_application_stop_failures = False
    assert statuses(view_at(story, 320)) == ["Succeeded", "Failed", "Pending", "Pending"]


# --- failure messages ---------------------------------------------------------------------------
def test_failure_message_names_event_instance_script_log_code_and_rollback():
    view = view_at(blue_green_story(fail_at="ValidateService"), 290)
    message = cd_text.deployment_failure_message(view, rollback_status="InProgress")
    first, _sep, log = message.partition("\nLast")
    # one sentence a line, then the log's last lines
    assert first.split("\n") == [
        "Deployment d-ABCDE1234 failed at step 1/4 Deploying replacement instances.",
        "Lifecycle event ValidateService failed on {0} (replacement, Green) running scripts/smokeTestHerd.sh "
        "(ScriptFailed): Script at specified location: scripts/smokeTestHerd.sh run as user mdladmin failed with "
        "exit code 1.".format(GREEN),
        # the code alone: CodeDeploy's paragraph about "too many individual instances" says less than the event
        "Error code HEALTH_CONSTRAINTS.",
        "Rollback deployment d-RBCKE5678 is InProgress (follow it with mdl.herd.codedeploy_wait)."]
    assert "too many individual instances" not in message
    assert message.endswith("[stderr]smoke test failed: expected buildNumber 0.176.0, got 0.170.0")
    assert " lines of its log:\n[stdout]Checking" in message


def test_failure_message_keeps_the_last_ten_lines_of_a_long_log():
    story = blue_green_story(fail_at="ValidateService")
    story.instances[1].events[6].diagnostics["logTail"] = "\n".join("line {0}".format(n) for n in range(40))
    message = cd_text.deployment_failure_message(view_at(story, 290))
    assert message.endswith("\n".join("line {0}".format(n) for n in range(30, 40)))
    assert "line 29" not in message


def test_failure_without_a_failed_event_or_rollback_says_so():
    story = Story(DEPLOYMENT, [Instance(GREEN, "Green", 5, [Event("ApplicationStop", None, None)])], end=20, final="Failed",
                  error={"code": "AUTO_SCALING_CONFIGURATION", "message": "The Auto Scaling group could not be copied."})
    message = cd_text.deployment_failure_message(view_at(story, 30))
    assert message == ("Deployment d-ABCDE1234 failed at step 1/4 Deploying replacement instances.\nError code "
                       "AUTO_SCALING_CONFIGURATION: The Auto Scaling group could not be copied.\n"
                       "No rollback deployment was started.")


# --- reading ------------------------------------------------------------------------------------
def test_targets_are_listed_page_by_page_and_read_25_at_a_time(clock):
    events = [Event("ApplicationStop", 10, 20)]
    instances = [Instance("i-{0:017d}".format(n), "Green", 0, events) for n in range(30)]
    fake = FakeCodeDeploy(clock, [Story(DEPLOYMENT, instances, end=100)], page_size=7)
    reader = reader_for(fake)
    clock.now = EPOCH0 + 15
    ids = reader.target_ids(DEPLOYMENT)
    assert ids == [i.instance_id for i in instances]
    targets = reader.targets(DEPLOYMENT, ids)
    assert len(targets) == 30
    assert [len(p["targetIds"]) for _t, op, p in fake.requests if op == "BatchGetDeploymentTargets"] == [25, 5]
    assert reader.calls == {"ListDeploymentTargets": 5, "BatchGetDeploymentTargets": 2}


def test_a_deployment_not_started_has_no_targets_yet(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    reader = reader_for(fake)
    assert reader.target_ids(DEPLOYMENT) == []
    assert reader.targets(DEPLOYMENT, [GREEN]) == []
    assert fake.count("ListDeploymentTargets") == 1  # not retried: it is an answer, not an error


def test_an_unknown_deployment_is_a_sentence(clock):
    with pytest.raises(cd_reader.DeploymentMissing, match="Deployment d-NOPE12345 does not exist in this account and region"):
        reader_for(FakeCodeDeploy(clock)).deployment("d-NOPE12345")


# --- following a deployment ---------------------------------------------------------------------
def test_follows_a_blue_green_deployment_to_success(clock):
    story = blue_green_story()
    fake = FakeCodeDeploy(clock, [story])
    follower = follower_for(fake, clock)
    outcome = follower.follow()
    result = outcome.result
    assert outcome.kind == "done"
    assert result["status"] == "Succeeded"
    assert [(s["number"], s["status"]) for s in result["steps"]] == [(1, "Succeeded"), (2, "Succeeded"), (3, "Succeeded"), (4, "Succeeded")]
    assert result["create_time"] == "2026-11-26T13:00:00.000+00:00"
    assert result["complete_time"] == "2026-11-26T13:06:30.000+00:00"
    assert result["duration_seconds"] == 388.0
    assert result["overview"]["succeeded"] == 2
    assert [i["label"] for i in result["instances"]] == ["Blue", "Green"]
    assert result["instances"][1]["lifecycle_events"][6]["name"] == "ValidateService"
    assert result["instances"][1]["lifecycle_events"][6]["end_time"] == "2026-11-26T13:04:40.000+00:00"
    # The timeline: every status and step change, in order, at the times CodeDeploy recorded.
    assert [e["message"] for e in result["timeline"]] == [
        "deployment Created", "deployment InProgress",
        "step 1/4 Deploying replacement instances: InProgress", "step 1/4 Deploying replacement instances: Succeeded",
        "step 2/4 Rerouting traffic to replacement instances: InProgress",
        "step 2/4 Rerouting traffic to replacement instances: Succeeded",
        "step 3/4 Waiting original instances termination: InProgress", "step 3/4 Waiting original instances termination: Succeeded",
        "step 4/4 Terminating original instances: InProgress",
        "step 4/4 Terminating original instances: Succeeded", "deployment Succeeded",
    ]
    times = [e["time"] for e in result["timeline"]]
    assert times == sorted(times)
    assert result["timeline"][3]["time"] == "2026-11-26T13:04:40.000+00:00"  # ValidateService ended
    # It noticed the end within a poll interval of it (a deployment this long is polled at poll_interval
    # near its end too), without hammering CodeDeploy.
    assert clock.seconds - story.end <= cd_pace.DEFAULT_POLL_INTERVAL
    minutes = (clock.seconds - 0) / 60.0
    assert result["api_calls"]["total"] / minutes <= 20
    assert result["api_calls"]["total"] == len(fake.requests)
    assert result["api_calls"]["get_deployment"] == fake.count("GetDeployment")
    assert result["timed_out"] is False


def _lines(story_lines):
    return ["d-ABCDE1234 " + text for text in story_lines]


STEP1 = "step 1/4 Deploying replacement instances: "
STEP2 = "step 2/4 Rerouting traffic to replacement instances: "
STEP3 = "step 3/4 Waiting original instances termination: "
STEP4 = "step 4/4 Terminating original instances: "


def test_progress_says_each_status_step_and_each_event_s_start_and_end_once_in_order(clock):
    """One line per status change, step start, lifecycle event start and end (each with its status), and one saying
    where the deployment is when nothing was said for a while: not one per poll."""
    outcome = follower_for(FakeCodeDeploy(clock, [blue_green_story()]), clock).follow()
    assert [text for text in outcome.lines if " still " not in text] == _lines([
        "Created: waiting for CodeDeploy to start it (0s)",
        STEP1 + "provisioning replacement instances (0s)",
        STEP1 + "ApplicationStop on {0}, InProgress (38s)".format(GREEN),
        STEP1 + "ApplicationStop on {0}, Succeeded (43s)".format(GREEN),
        STEP1 + "DownloadBundle on {0}, InProgress (43s)".format(GREEN),
        STEP1 + "DownloadBundle on {0}, Succeeded (58s)".format(GREEN),
        STEP1 + "BeforeInstall on {0}, InProgress (58s)".format(GREEN),
        STEP1 + "BeforeInstall on {0}, Succeeded (1m58s)".format(GREEN),
        STEP1 + "Install on {0}, InProgress (1m58s)".format(GREEN),
        STEP1 + "Install on {0}, Succeeded (2m08s)".format(GREEN),
        STEP1 + "AfterInstall on {0}, InProgress (2m08s)".format(GREEN),
        STEP1 + "AfterInstall on {0}, Succeeded (3m08s)".format(GREEN),
        STEP1 + "ApplicationStart on {0}, InProgress (3m08s)".format(GREEN),
        STEP1 + "ApplicationStart on {0}, Succeeded (4m08s)".format(GREEN),
        STEP1 + "ValidateService on {0}, InProgress (4m08s)".format(GREEN),
        STEP1 + "ValidateService on {0}, Succeeded (4m38s)".format(GREEN),
        STEP2 + "BeforeAllowTraffic on {0}, InProgress (4m38s)".format(GREEN),
        STEP2 + "BeforeAllowTraffic on {0}, Succeeded (4m43s)".format(GREEN),
        STEP2 + "AllowTraffic on {0}, InProgress (4m43s)".format(GREEN),
        STEP2 + "AllowTraffic on {0}, Succeeded (4m58s)".format(GREEN),
        STEP2 + "AfterAllowTraffic on {0}, InProgress (4m58s)".format(GREEN),
        STEP2 + "AfterAllowTraffic on {0}, Succeeded (5m03s)".format(GREEN),
        STEP2 + "BeforeBlockTraffic on {0}, InProgress (5m03s)".format(BLUE),
        STEP2 + "BeforeBlockTraffic on {0}, Succeeded (5m08s)".format(BLUE),
        STEP2 + "BlockTraffic on {0}, InProgress (5m08s)".format(BLUE),
        STEP2 + "BlockTraffic on {0}, Succeeded (5m23s)".format(BLUE),
        STEP2 + "AfterBlockTraffic on {0}, InProgress (5m23s)".format(BLUE),
        STEP2 + "AfterBlockTraffic on {0}, Succeeded (5m28s)".format(BLUE),
        STEP3 + "original instances kept 0 min before termination (5m28s)",
        STEP4 + "terminating {0} (5m28s)".format(BLUE),
        "Succeeded (6m28s)",
    ])
    # and, where nothing was said for 55 s, where the deployment is and for how long, at its place in the order
    still = [(n, text) for n, text in enumerate(outcome.lines) if " still " in text]
    assert [re.sub(r", (\d+m)?\d+s", "", re.sub(r" \(\S+\)$", "", text)) for _n, text in still] == _lines([
        STEP1 + "still in BeforeInstall on {0}".format(GREEN),
        STEP1 + "still in AfterInstall on {0}".format(GREEN),
        STEP1 + "still in ApplicationStart on {0}".format(GREEN),
        "still in step 4/4 Terminating original instances: terminating {0}".format(BLUE),
    ])
    assert [n for n, _text in still] == [7, 12, 15, 33]


def test_lines_steps_and_timeline_tell_the_same_times(clock):
    story = blue_green_story(termination_wait_minutes=None)
    outcome = follower_for(FakeCodeDeploy(clock, [story]), clock).follow()
    steps = outcome.result["steps"]
    timeline = outcome.result["timeline"]
    started = dict((e["step"], e["time"]) for e in timeline if e.get("step") and e["status"] == "InProgress")
    ended = dict((e["step"], e["time"]) for e in timeline if e.get("step") and e["status"] == "Succeeded")
    assert started == dict((s["number"], s["start_time"]) for s in steps)
    assert ended == dict((s["number"], s["end_time"]) for s in steps)
    for step in steps:  # the line that says a step started tells the step's own start time
        said = next(text for text in outcome.lines if text.startswith("d-ABCDE1234 step {0}/4 ".format(step["number"])))
        since = datetime.datetime.fromisoformat(step["start_time"]).timestamp() - (EPOCH0 + story.start)
        assert said.endswith("({0})".format(cd_text.human_duration(since))), said


def test_step_3_runs_until_the_original_instances_show_their_termination(clock):
    """The upgrade Lambda's groups set no wait length: step 3 ends when CodeDeploy updates the original instance."""
    story = blue_green_story(termination_wait_minutes=None, unannounced_wait=30)
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock).follow()
    assert [text for text in outcome.lines if " still " not in text][-4:] == _lines([
        STEP2 + "AfterBlockTraffic on {0}, Succeeded (5m28s)".format(BLUE),
        STEP3 + "CodeDeploy waits before terminating {0} (5m28s)".format(BLUE),
        STEP4 + "terminating {0} (5m58s)".format(BLUE),
        "Succeeded (6m58s)",
    ])
    step3, step4 = outcome.result["steps"][2:]
    assert (step3["start_time"], step3["end_time"]) == ("2026-11-26T13:05:30.000+00:00", "2026-11-26T13:06:00.000+00:00")
    assert (step4["start_time"], step4["end_time"]) == ("2026-11-26T13:06:00.000+00:00", "2026-11-26T13:07:00.000+00:00")
    # Within one poll: the original instance is read at each poll of step 3.
    reads = [t for t, op, _p in fake.requests if op == "BatchGetDeploymentTargets" and 330 <= t <= 360]
    assert max(b - a for a, b in zip(reads, reads[1:])) <= cd_pace.DEFAULT_POLL_INTERVAL + 0.5


def test_step_3_without_a_sign_of_termination_lasts_to_the_end(clock):
    """No wait length, and targets that never show the termination: step 3 is shown until the deployment ends."""
    story = blue_green_story(termination_wait_minutes=None)
    story.terminating_at = float("inf")  # the original instance stays InProgress, never updated, until the end
    outcome = follower_for(FakeCodeDeploy(clock, [story]), clock).follow()
    assert [text for text in outcome.lines if " still " not in text][-3:] == _lines([
        STEP3 + "CodeDeploy waits before terminating {0} (5m28s)".format(BLUE),
        STEP4 + "terminating {0} (6m58s)".format(BLUE), "Succeeded (6m58s)"])
    assert re.match(r"d-ABCDE1234 still in step 3/4 Waiting original instances termination, \d+s: CodeDeploy waits before terminating "
                    + BLUE, outcome.lines[-3])
    step3, step4 = outcome.result["steps"][2:]
    assert step3["end_time"] == step4["start_time"] == step4["end_time"] == outcome.result["complete_time"]


def test_a_15_minute_deployment_costs_at_most_15_requests_per_minute(clock):
    """The budget of make bench's figure 5, on recorded-shape answers and a virtual clock."""
    story = blue_green_story(scale=900 / 420.0, termination_wait_minutes=None)
    assert story.end == pytest.approx(900.0)
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock).follow()
    assert outcome.kind == "done"
    # every status, step, event start and event end (13 events: 26 lines, one of them the start of step 2), and the
    # lines said while nothing changed
    said = [text for text in outcome.lines if " still " not in text]
    assert len(said) == 1 + 1 + 26 + 1 + 1 + 1, said
    per_minute = len(fake.requests) / (outcome.result["waited_seconds"] / 60.0)
    assert per_minute <= 15, per_minute


def test_a_failed_deployment_says_each_event_then_where_it_failed(clock):
    story = blue_green_story(fail_at="ValidateService")
    outcome = follower_for(FakeCodeDeploy(clock, [story, rollback_story("d-RBCKE5678", DEPLOYMENT, 282)]), clock).follow()
    assert outcome.lines[-4:] == _lines([
        STEP1 + "ApplicationStart on {0}, Succeeded (4m08s)".format(GREEN),
        STEP1 + "ValidateService on {0}, InProgress (4m08s)".format(GREEN),
        STEP1 + "ValidateService on {0}, Failed (4m38s)".format(GREEN),
        "Failed at step 1/4 Deploying replacement instances: ValidateService failed on {0} (4m39s)".format(GREEN),
    ])
    assert len(outcome.lines) == 20


def test_follows_a_failed_deployment_to_its_rollback(clock):
    story = blue_green_story(fail_at="ValidateService")
    rollback = rollback_story("d-RBCKE5678", DEPLOYMENT, 282)
    fake = FakeCodeDeploy(clock, [story, rollback])
    outcome = follower_for(fake, clock).follow()
    assert outcome.kind == "ended" and outcome.failed
    assert outcome.result["status"] == "Failed"
    # the rollback's status as CodeDeploy answered when it was read (it starts 1 s after the failure)
    read_at = [t for t, op, p in fake.requests if op == "GetDeployment" and p["deploymentId"] == "d-RBCKE5678"][-1]
    assert rollback.status(read_at) in ("Created", "InProgress")
    assert outcome.result["rollback_info"] == {
        "rollback_deployment_id": "d-RBCKE5678", "rollback_triggering_deployment_id": None,
        "rollback_message": "Automatic rollback to the last successful revision: d-RBCKE5678",
        "rollback_deployment_status": rollback.status(read_at)}
    assert outcome.result["error_information"]["code"] == "HEALTH_CONSTRAINTS"
    assert "Rollback deployment d-RBCKE5678 is {0} (follow it with mdl.herd.codedeploy_wait)".format(rollback.status(read_at)) \
        in outcome.message
    assert outcome.lines[-1] == "d-ABCDE1234 Failed at step 1/4 Deploying replacement instances: ValidateService failed on {0} (4m39s)".format(GREEN)
    failed = outcome.result["instances"][1]["lifecycle_events"][6]
    assert failed["status"] == "Failed" and failed["diagnostics"]["error_code"] == "ScriptFailed"
    assert clock.seconds - story.end <= cd_pace.DEFAULT_POLL_INTERVAL + 0.5


def test_a_rollback_deployment_names_the_one_it_rolls_back(clock):
    fake = FakeCodeDeploy(clock, [rollback_story("d-RBCKE5678", DEPLOYMENT, 0)])
    outcome = follower_for(fake, clock, deployment_id="d-RBCKE5678").follow()
    assert outcome.kind == "done"
    assert outcome.result["creator"] == "codeDeployRollback"
    assert outcome.result["rollback_info"]["rollback_triggering_deployment_id"] == DEPLOYMENT


def test_traffic_rerouted_returns_before_the_original_instances_are_terminated(clock):
    story = blue_green_story()
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock, wait_for="traffic_rerouted").follow()
    assert outcome.kind == "done"
    assert outcome.result["status"] == "InProgress"
    assert [s["status"] for s in outcome.result["steps"][:2]] == ["Succeeded", "Succeeded"]
    assert 330 <= clock.seconds < story.end


def test_traffic_rerouted_on_an_in_place_deployment_waits_for_success_and_says_so(clock):
    follower = follower_for(FakeCodeDeploy(clock, [in_place_story(DEPLOYMENT)]), clock, wait_for="traffic_rerouted")
    outcome = follower.follow()
    assert outcome.result["status"] == "Succeeded"
    assert outcome.result["steps"] == []
    assert follower.all_warnings() == ["wait_for=traffic_rerouted applies to Blue/Green deployments; d-ABCDE1234 is "
                                       "IN_PLACE, so the wait goes on until it succeeds"]


def test_check_mode_looks_once_and_neither_waits_nor_stops(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    clock.now = EPOCH0 + 200
    outcome = follower_for(fake, clock, on_timeout="rollback", wait_timeout=0).look_once()
    assert outcome.kind == "checked" and not outcome.failed
    assert outcome.result["status"] == "InProgress"
    assert outcome.result["current_activity"] == "ApplicationStart on {0}".format(GREEN)
    assert clock.slept == []
    assert [op for _t, op, _p in fake.requests] == ["GetDeployment", "ListDeploymentTargets", "BatchGetDeploymentTargets"]


def test_check_mode_on_a_failed_deployment_reports_the_failure(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story(fail_at="ValidateService"), rollback_story("d-RBCKE5678", DEPLOYMENT, 282)])
    clock.now = EPOCH0 + 400
    outcome = follower_for(fake, clock).look_once()
    assert outcome.kind == "ended"
    assert "ValidateService failed on" in outcome.message
    assert outcome.result["rollback_info"]["rollback_deployment_status"] == "Succeeded"


# --- throttling and errors ----------------------------------------------------------------------
def test_throttling_is_retried_and_never_ends_the_wait(clock):
    story = blue_green_story(scale=0.1)
    fake = FakeCodeDeploy(clock, [story])
    # More throttles in a row than one poll retries (4 tries): the wait goes on anyway.
    fake.errors = [("GetDeployment", "ThrottlingException")] * 7 + [("BatchGetDeploymentTargets", "ThrottlingException")] * 2
    follower = follower_for(fake, clock)
    outcome = follower.follow()
    assert outcome.kind == "done"
    assert outcome.result["api_calls"]["get_deployment"] == fake.count("GetDeployment")
    assert fake.errors == []
    warning = follower.all_warnings()[0]
    assert warning.startswith("1 poll(s) of deployment d-ABCDE1234 failed with a throttling or transient error even after retries "
                              "(last: ThrottlingException at ")


def test_after_throttling_the_pace_slows_down(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    fake.errors = [("GetDeployment", "ThrottlingException")] * 4
    follower = follower_for(fake, clock)
    follower.check()
    assert follower.pace.throttled == 1
    assert follower.pace.next_poll_at - EPOCH0 == pytest.approx(2 * cd_pace.DEFAULT_POLL_INTERVAL)  # from the start of that poll


@pytest.mark.parametrize("code", ["InternalFailure", "ServiceUnavailable", "RequestLimitExceeded"])
def test_server_side_errors_are_transient(clock, code):
    fake = FakeCodeDeploy(clock, [blue_green_story(scale=0.1)])
    fake.errors = [("GetDeployment", code)] * 5
    assert follower_for(fake, clock).follow().kind == "done"


def test_other_errors_end_the_wait_at_once(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    fake.errors = [("GetDeployment", "AccessDeniedException")]
    with pytest.raises(ClientError, match="AccessDeniedException"):
        follower_for(fake, clock).follow()
    assert fake.count("GetDeployment") == 1


def test_an_unreachable_endpoint_fails_at_once_but_is_survived_once_read(clock, monkeypatch):
    fake = FakeCodeDeploy(clock, [blue_green_story(scale=0.1)])
    follower = follower_for(fake, clock)
    real = follower.reader.deployment
    failures = {"left": 1}

    def flaky(deployment_id):
        if failures["left"]:
            failures["left"] -= 1
            raise EndpointConnectionError(endpoint_url="https://codedeploy.invalid")
        return real(deployment_id)

    monkeypatch.setattr(follower.reader, "deployment", flaky)
    with pytest.raises(EndpointConnectionError):
        follower.follow()
    failures["left"] = 1
    follower.read_once = True
    assert follower.follow().kind == "done"
    assert follower.errors_seen["count"] == 1


def test_a_deployment_that_does_not_exist_fails_at_once(clock):
    with pytest.raises(cd_reader.DeploymentMissing):
        follower_for(FakeCodeDeploy(clock), clock).follow()


# --- timeouts -----------------------------------------------------------------------------------
def test_timeout_fails_with_the_last_known_state_and_leaves_it_running(clock):
    story = blue_green_story()
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock, wait_timeout=100).follow()
    assert outcome.kind == "timeout" and outcome.failed
    assert outcome.result["timed_out"] is True
    assert outcome.result["status"] == "InProgress"
    assert 100 <= clock.seconds <= 100.5
    assert outcome.message == (
        "Deployment d-ABCDE1234 did not succeed within 100 s (wait_timeout): it is InProgress at step 1/4 Deploying "
        "replacement instances (BeforeInstall on {0}). It goes on without this task: wait again with the same "
        "deployment_id and a longer wait_timeout, or set on_timeout to stop or rollback.".format(GREEN))
    assert fake.count("StopDeployment") == 0
    assert "stop" not in outcome.result


def test_timeout_with_stop_stops_it(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    outcome = follower_for(fake, clock, wait_timeout=100, on_timeout="stop").follow()
    assert outcome.kind == "timeout"
    assert [p for _t, op, p in fake.requests if op == "StopDeployment"] == [{"deploymentId": DEPLOYMENT, "autoRollbackEnabled": False}]
    assert outcome.result["status"] == "Stopped"
    assert outcome.result["stop"] == {"action": "stop", "status": "Pending",
                                      "status_message": "Stop request for the deployment is being processed"}
    assert "Stopped it, as on_timeout=stop asks (CodeDeploy: Pending, Stop request for the deployment is being processed); " \
           "it is now Stopped." in outcome.message


def test_timeout_with_rollback_reports_the_rollback_deployment(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    outcome = follower_for(fake, clock, wait_timeout=100, on_timeout="rollback").follow()
    assert outcome.kind == "timeout"
    assert [p["autoRollbackEnabled"] for _t, op, p in fake.requests if op == "StopDeployment"] == [True]
    assert outcome.result["status"] == "Stopped"
    assert outcome.result["rollback_info"]["rollback_deployment_id"] == "d-STOPR1234"
    assert outcome.result["rollback_info"]["rollback_deployment_status"] == "InProgress"
    assert "Rollback deployment d-STOPR1234 is InProgress." in outcome.message
    assert outcome.result["stop"]["action"] == "rollback"


def test_a_deployment_that_ends_as_it_is_stopped_is_reported_as_it_ended(clock):
    story = blue_green_story()

    class EndsFirst(FakeCodeDeploy):
        def _StopDeployment(self, story, t, params):
            story.end = t  # it succeeded just before the stop arrived
            return super(EndsFirst, self)._StopDeployment(story, t, params)

    fake = EndsFirst(clock, [story])
    outcome = follower_for(fake, clock, wait_timeout=100, on_timeout="rollback").follow()
    assert outcome.kind == "done"
    assert outcome.result["status"] == "Succeeded"
    assert "stop" not in outcome.result


def test_zero_timeout_looks_once(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    outcome = follower_for(fake, clock, wait_timeout=0).follow()
    assert outcome.kind == "timeout"
    assert fake.count("GetDeployment") == 1


# --- polling pace -------------------------------------------------------------------------------
def intervals(fake, operation="GetDeployment"):
    times = [t for t, op, _p in fake.requests if op == operation]
    return [round(b - a, 2) for a, b in zip(times, times[1:])]


def test_what_changes_is_read_at_poll_interval_and_what_rarely_changes_seldom(clock):
    """The instances' lifecycle events at each poll_interval (a little early, by the time a poll takes), the deployment
    itself every DEPLOYMENT_REFRESH seconds and when the instances' own statuses change; near the end of a deployment
    this long, the deployment at poll_interval."""
    story = blue_green_story()
    fake = FakeCodeDeploy(clock, [story])
    follower_for(fake, clock).follow()
    interval = cd_pace.DEFAULT_POLL_INTERVAL
    targets = [t for t, op, _p in fake.requests if op == "BatchGetDeploymentTargets" and 40 <= t < 330]
    gaps = [round(b - a, 2) for a, b in zip(targets, targets[1:])]
    assert len(gaps) > 50 and all(interval * (1 - cd_pace.LOOK_ALLOWANCE_SHARE) <= g <= interval for g in gaps), gaps
    # GetDeployment while the events run: every minute, and when an instance's status changed (the replacement
    # started, the replacement done, the original started): 3 here
    reads = [t for t, op, _p in fake.requests if op == "GetDeployment" and 45 <= t < 330]
    assert len(reads) <= (330 - 45) / cd_pace.DEPLOYMENT_REFRESH + 1 + 3, reads
    step4 = [t for t, op, _p in fake.requests if op == "GetDeployment" and 335 <= t <= story.end + interval]
    assert {round(b - a, 2) for a, b in zip(step4, step4[1:])} == {interval}, step4


@pytest.mark.parametrize("length", [60.0, 61.0, 62.0, 63.0, 64.0])
def test_a_deployment_that_runs_in_a_minute_is_polled_in_proportion_near_its_end(length):
    """A small application's deployment, the sandbox's: near the end, a read every 0.5 % of the time it has run (at
    least every 0.5 s), not every poll_interval as on a deployment of 15 minutes."""
    clock = FakeClock()
    story = blue_green_story(scale=length / 420.0, termination_wait_minutes=None)
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock).follow()
    assert outcome.kind == "done"
    assert clock.seconds - story.end <= cd_pace.MIN_POLL_INTERVAL + 0.1  # the floor of the documented 0.5 %
    assert any("step 4/4" in line for line in outcome.lines)
    step4 = [t for t, op, _p in fake.requests if op == "GetDeployment" and story.end - 8 <= t < story.end]
    assert min(b - a for a, b in zip(step4, step4[1:])) >= cd_pace.MIN_POLL_INTERVAL


@pytest.mark.parametrize("length", [150.0, 151.25, 152.5, 153.75, 155.0])
def test_a_deployment_at_step_4_within_short_run_is_polled_in_proportion_a_bounded_number_of_times(length):
    """The benchmark's long sandbox deployments (step 4 after 132 s of 150, for 18 s): near the end, a read every 0.5 %
    of the time run (about 0.7 s), at most NEAR_END_FAST_READS of them; a 300 s one keeps poll_interval there
    (test_what_changes_is_read_at_poll_interval_and_what_rarely_changes_seldom, figure 5')."""
    clock = FakeClock()
    story = sandbox_like_story(length)
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock).follow()
    assert outcome.kind == "done"
    assert clock.seconds - story.end <= cd_pace.RAN_SHARE * story.end + 0.1
    step4 = [t for t, op, _p in fake.requests if op == "GetDeployment" and story.terminating_at < t <= clock.seconds]
    gaps = [b - a for a, b in zip(step4, step4[1:])]
    assert len(step4) <= cd_pace.NEAR_END_FAST_READS + 1 and gaps, step4
    assert all(cd_pace.MIN_POLL_INTERVAL <= g <= cd_pace.RAN_SHARE * story.end + 0.1 for g in gaps), gaps


@pytest.mark.parametrize("shift", range(6))
def test_a_failed_smoke_test_and_the_end_it_brings_are_seen_within_a_poll_interval(shift):
    clock = FakeClock()
    scale = 1 + shift * 0.0036  # the failure ends the deployment about 1 s later each time: every phase of a 5 s cycle
    story = blue_green_story(fail_at="ValidateService", scale=scale)
    fake = FakeCodeDeploy(clock, [story, rollback_story("d-RBCKE5678", DEPLOYMENT, 282 * scale)])
    said = {}
    outcome = follower_for(fake, clock, on_line=lambda text: said.setdefault(text, clock.seconds)).follow()
    assert outcome.result["status"] == "Failed"
    failed = next(when for text, when in said.items() if "ValidateService on {0}, Failed".format(GREEN) in text)
    assert failed - 280 * scale <= cd_pace.DEFAULT_POLL_INTERVAL
    # the instance failed: the deployment is read at once, then near-end
    assert clock.seconds - story.end <= cd_pace.DEFAULT_POLL_INTERVAL


def test_in_a_termination_wait_of_unknown_length_the_instances_are_read_each_poll_the_deployment_every_minute(clock):
    story = blue_green_story(termination_wait_minutes=None, unannounced_wait=60)
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock).follow()
    assert outcome.kind == "done"
    wait = (330 + 5, 330 + 60)  # the wait, once seen (at most one poll after it began)
    reads = [t for t, op, _p in fake.requests if op == "GetDeployment" and wait[0] <= t < wait[1]]
    targets = [t for t, op, _p in fake.requests if op == "BatchGetDeploymentTargets" and wait[0] <= t < wait[1]]
    gaps = [b - a for a, b in zip(targets, targets[1:])]
    # every poll_interval, or 1 % of the time the deployment has run where that is shorter (3.4 s here, 7 minutes in)
    assert len(gaps) >= 9 and all(cd_pace.MIN_POLL_INTERVAL <= g <= cd_pace.DEFAULT_POLL_INTERVAL + 0.1 for g in gaps), gaps
    assert len(reads) <= 1 + (wait[1] - wait[0]) / cd_pace.DEPLOYMENT_REFRESH, reads
    # and step 4 shows within one poll of when the original instance's termination began
    step4 = outcome.result["steps"][3]
    assert datetime.datetime.fromisoformat(step4["start_time"]).timestamp() - EPOCH0 == story.terminating_at
    said = [t for t, op, _p in fake.requests if op == "BatchGetDeploymentTargets" and t >= story.terminating_at][0]
    assert said - story.terminating_at <= cd_pace.DEFAULT_POLL_INTERVAL
    assert any(STEP4 in line for line in outcome.lines)


def test_a_long_termination_wait_is_polled_slowly(clock):
    story = blue_green_story(termination_wait_minutes=60)
    fake = FakeCodeDeploy(clock, [story])
    outcome = follower_for(fake, clock, wait_timeout=5 * 3600).follow()
    assert outcome.kind == "done"
    times = [t for t, op, _p in fake.requests if op == "GetDeployment"]
    in_wait = [b - a for a, b in zip(times, times[1:]) if 400 <= a < 330 + 3000]
    assert min(in_wait) >= cd_pace.LONG_WAIT_MAX_INTERVAL - 0.1
    # Nothing runs during the wait: the instances are not read again until it ends.
    assert not [t for t, op, _p in fake.requests if op == "BatchGetDeploymentTargets" and 400 <= t < 330 + 3600]
    assert outcome.result["api_calls"]["total"] / (clock.seconds / 60.0) < 4


def test_ready_is_polled_slowly(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story(ready_minutes=60)])
    follower_for(fake, clock, wait_timeout=600).follow()
    times = [t for t, op, _p in fake.requests if op == "GetDeployment"]
    in_ready = [round(b - a, 2) for a, b in zip(times, times[1:]) if 300 <= a and b < 580]
    assert len(in_ready) > 5
    assert set(in_ready) == {cd_pace.DEFAULT_POLL_INTERVAL * cd_pace.READY_WAIT_FACTOR}


def test_poll_interval_sets_the_pace(clock):
    fake = FakeCodeDeploy(clock, [blue_green_story()])
    follower_for(fake, clock, poll_interval=10, wait_timeout=200).follow()
    gaps = intervals(fake, "BatchGetDeploymentTargets")[2:10]
    assert gaps and all(10 * (1 - cd_pace.LOOK_ALLOWANCE_SHARE) <= g <= 10 for g in gaps), gaps


# --- progress that keeps up: freshness, a line at least every minute, the budget ----------------------------------
def started_just_after_the_first_read(story):
    story.start = 0.01  # the first read (at 0) saw it Created: the next one tells its start, and step 1's
    return story


def follow_and_time_lines(story, **kwargs):
    """Follow ``story`` on a fake clock; returns the outcome, [(second said, line)] and the fake CodeDeploy."""
    clock = FakeClock()
    fake = FakeCodeDeploy(clock, [story])
    said = []
    outcome = follower_for(fake, clock, on_line=lambda text: said.append((clock.seconds, text)), **kwargs).follow()
    return outcome, said, fake


def seconds_of(iso_time):
    return datetime.datetime.fromisoformat(iso_time).timestamp() - EPOCH0


@pytest.mark.parametrize("story, interval", [
    (blue_green_story(scale=1.2, termination_wait_minutes=None), 5.0),
    (blue_green_story(scale=900 / 420.0, termination_wait_minutes=None), 5.0),
    (blue_green_story(scale=1.2, termination_wait_minutes=None), 2.0),
    (blue_green_story(scale=1000 / 420.0), 10.0),
    (sandbox_like_story(300), 5.0),
] + [(blue_green_story(scale=1.2 + shift * 0.00037, termination_wait_minutes=None), 5.0) for shift in (29, 36, 39)] + [
    (started_just_after_the_first_read(blue_green_story(scale=1.2, termination_wait_minutes=None)), 5.0)],
    ids=["504s", "900s", "504s-every-2s", "1000s-every-10s", "sandbox-300s"] + ["504s-shifted-{0}".format(n) for n in (29, 36, 39)]
    + ["started-just-after-a-read"])
def test_every_event_start_and_end_and_every_step_is_said_within_one_poll_interval(story, interval):
    """Issue 28: each lifecycle event's start and its end (with its status) within one poll_interval of the times
    CodeDeploy records, on deployments whose events last longer than that; each step's start likewise. The shifted
    stories put an event's start just after a read: the line is said within poll_interval because the next read
    comes early by the time a poll takes."""
    assert min(e.end - e.start for i in story.instances for e in i.events) > interval
    outcome, said, _fake = follow_and_time_lines(story, poll_interval=interval)
    assert outcome.kind == "done"
    checked = 0
    for instance in outcome.result["instances"]:
        for event in instance["lifecycle_events"]:
            for status, recorded in (("InProgress", seconds_of(event["start_time"])), (event["status"], seconds_of(event["end_time"]))):
                text = "{0} on {1}, {2} ({3})".format(event["name"], instance["instance_id"], status,
                                                      cd_text.human_duration(recorded - story.start))
                when = [t for t, line in said if line.endswith(text)]
                assert len(when) == 1, (text, said)
                assert 0 <= when[0] - recorded <= interval, (text, when[0] - recorded)
                checked += 1
    assert checked == 2 * 13
    for step in outcome.result["steps"]:
        recorded = seconds_of(step["start_time"])
        when = next(t for t, line in said if line.startswith("{0} step {1}/4 ".format(DEPLOYMENT, step["number"])))
        assert 0 <= when - recorded <= interval, (step, when - recorded)
    assert said[-1][0] - story.end <= interval  # and the end


@pytest.mark.parametrize("story, timeout", [
    (blue_green_story(), 3600),
    (blue_green_story(termination_wait_minutes=60), 5 * 3600),  # polled every 30 s
    (blue_green_story(ready_minutes=60), 900),  # waits in Ready until the timeout
    (blue_green_story(scale=900 / 420.0, termination_wait_minutes=None), 3600),
], ids=["7min", "60min-termination-wait", "ready", "15min"])
def test_a_line_comes_at_least_every_minute_and_says_where_the_deployment_is(story, timeout):
    outcome, said, fake = follow_and_time_lines(story, wait_timeout=timeout)
    times = [0.0] + [t for t, _line in said]
    assert max(b - a for a, b in zip(times, times[1:])) <= cd_pace.HEARTBEAT, said
    still = [line for _t, line in said if " still " in line]
    assert still and all(re.search(r" still (in .*|Ready|Created), (\d+s|\d+m\d\ds|\d+h\d\dm)(: .*)? \(\S+\)$", line)
                         for line in still), still


def test_the_line_said_in_a_long_wait_says_the_step_how_long_and_what_is_left():
    outcome, said, fake = follow_and_time_lines(blue_green_story(termination_wait_minutes=60), wait_timeout=5 * 3600)
    still = [line for _t, line in said if " still in step 3/4 " in line]
    assert re.match(r"d-ABCDE1234 still in step 3/4 Waiting original instances termination, 5\ds: original instances kept "
                    r"60 min before termination \(59m0\ds left\) \(6m2\ds\)$", still[0]), still[0]
    assert len(still) >= 60
    # the lines cost no request: the wait is read as slowly as before
    assert outcome.result["api_calls"]["total"] / (outcome.result["waited_seconds"] / 60.0) < 4


@pytest.mark.parametrize("story", [blue_green_story(scale=300 / 420.0, termination_wait_minutes=None), sandbox_like_story(300),
                                   blue_green_story(scale=300 / 420.0)], ids=["story", "sandbox-shaped", "wait-length-set"])
def test_a_300_second_deployment_costs_at_most_15_requests_per_minute(story):
    """Figure 5 of issue 28: at most 15 CodeDeploy requests per minute over a 300 s deployment (long enough that the
    pace is poll_interval, as on a real 15-minute one)."""
    outcome, said, fake = follow_and_time_lines(story)
    assert outcome.kind == "done"
    per_minute = len(fake.requests) / (outcome.result["waited_seconds"] / 60.0)
    assert per_minute <= 15, (per_minute, outcome.result["api_calls"])


@pytest.mark.parametrize("story", [blue_green_story(), blue_green_story(fail_at="ValidateService"), in_place_story(DEPLOYMENT),
                                   sandbox_like_story(40)], ids=["blue-green", "failed", "in-place", "short"])
def test_every_event_line_says_its_status(story):
    clock = FakeClock()
    fake = FakeCodeDeploy(clock, [story, rollback_story("d-RBCKE5678", DEPLOYMENT, 282)])
    outcome = follower_for(fake, clock).follow()
    events = [line for line in outcome.lines if " on i-" in line and " still " not in line and " failed on " not in line
              and "terminating " not in line and "waits before" not in line]
    assert len(events) >= 13
    for text in events:
        assert re.search(r" on i-[0-9a-f]+, (InProgress|Succeeded|Failed|Failed \(ignored: ignoreApplicationStopFailures\)) \(\S+\)$",
                         text), text


def test_ready_is_said_within_a_poll_interval_though_the_deployment_is_read_once_a_minute():
    """The deployment itself is read seldom while events run, and at once when an instance's own status changes: the
    replacement instance turns Ready with the deployment."""
    story = blue_green_story(ready_minutes=60)
    outcome, said, fake = follow_and_time_lines(story, wait_timeout=600)
    when = next(t for t, text in said if text.startswith("d-ABCDE1234 Ready: "))
    assert 0 <= when - story.ready_option["from"] <= cd_pace.DEFAULT_POLL_INTERVAL


def test_an_ignored_failure_says_so():
    story = blue_green_story()
    story.instances[0].events[0] = Event("BeforeBlockTraffic", 305, 310, "Failed",
                                         {"errorCode": "ScriptFailed", "scriptName": "stop.sh", "message": "exit 1", "logTail": ""})
    outcome, said, fake = follow_and_time_lines(story)
    assert "d-ABCDE1234 " + STEP2 + "BeforeBlockTraffic on {0}, Failed (ignored: ignoreApplicationStopFailures) (5m08s)".format(BLUE) \
        in outcome.lines


# --- small helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45.4, "45s"), (130, "2m10s"), (3720, "1h02m"), (-3, "0s")])
def test_human_duration(seconds, text):
    assert cd_text.human_duration(seconds) == text


@pytest.mark.parametrize("timeout, interval, option", [(-1, 5, "wait_timeout"), (None, 5, "wait_timeout"), (60, 0.1, "poll_interval")])
def test_wait_options_are_checked_with_the_option_named(timeout, interval, option):
    with pytest.raises(ValueError, match="^{0} must be".format(option)):
        cd_follower.check_wait_options(timeout, interval)


# --- stops and failures in the middle of a step -------------------------------------------------
def test_stopped_during_an_ignorable_event_fails_the_step_it_was_in():
    # ApplicationStop is interrupted (Failed, which ignoreApplicationStopFailures forgives) and
    # every later event is Skipped: they never ran, so step 1 did not succeed.
    story = blue_green_story()
    story.stop(42, rollback=False)
    view = view_at(story, 50)
    events = view["instances"][1]["lifecycle_events"]
    assert [e["status"] for e in events[:3]] == ["Failed", "Skipped", "Skipped"]
    assert statuses(view) == ["Failed", "Skipped", "Skipped", "Skipped"]


def test_a_skipped_event_before_a_failure_later_on_still_counts_as_done():
    # ApplicationStop skipped (nothing to stop on a new instance), AllowTraffic fails: step 1
    # succeeded, step 2 failed.
    story = blue_green_story()
    green = story.instances[1]
    green.events[0] = Event("ApplicationStop", None, None, "Skipped")
    green.events[8] = Event("AllowTraffic", 285, 300, "Failed", {"errorCode": "UnknownError", "scriptName": "",
                                                                 "message": "Target group health checks failed", "logTail": ""})
    story.end, story.final, story.error = 301, "Failed", {"code": "HEALTH_CONSTRAINTS", "message": "Too few healthy instances."}
    view = view_at(story, 310)
    assert statuses(view) == ["Succeeded", "Failed", "Skipped", "Skipped"]
    assert "failed at step 2/4 Rerouting traffic to replacement instances" in cd_text.deployment_failure_message(view)
    assert "Lifecycle event AllowTraffic failed on {0} (replacement, Green) (UnknownError): Target group health checks " \
           "failed.".format(GREEN) in cd_text.deployment_failure_message(view)
