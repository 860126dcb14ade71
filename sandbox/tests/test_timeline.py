"""The deployment plan as a pure function of time (no AWS, no clock)."""

import pytest

from mdl_sandbox.timeline import BLUE_EVENTS, GREEN_EVENTS, IN_PLACE_EVENTS, Plan

D = 100.0  # a deployment of 100 s created at t=1000: fractions read as seconds


def bg():
    return Plan.blue_green_deployment(1000.0, D, green_id="i-green", blue_id="i-blue")


def states(plan, target_id, now):
    return [(s.name, s.status) for s in plan.events(plan.target(target_id), now)]


def test_blue_green_statuses_follow_the_clock():
    plan = bg()
    assert plan.status(1000.0) == "Created"
    assert plan.start_time(1000.0) is None
    assert plan.status(1004.0) == "InProgress"
    assert plan.start_time(1050.0) == 1004.0
    assert plan.status(1099.99) == "InProgress"
    assert plan.status(1100.0) == "Succeeded"
    assert plan.complete_time(1099.0) is None
    assert plan.complete_time(1200.0) == 1100.0


def test_events_run_in_order_without_overlap():
    plan = bg()
    green, blue = plan.target("i-green"), plan.target("i-blue")
    assert [s.name for s in green.events] == list(GREEN_EVENTS)
    assert [s.name for s in blue.events] == list(BLUE_EVENTS)
    slots = green.events + blue.events
    for before, after in zip(slots, slots[1:]):
        assert before.start < before.end <= after.start
    assert green.event("AllowTraffic").end == plan.switch_at
    assert plan.switch_at < plan.wait_started_at < plan.terminate_at < plan.end_at


def test_each_event_moves_pending_inprogress_succeeded():
    plan = bg()
    slot = plan.target("i-green").event("Install")
    target = plan.target("i-green")
    assert plan.event_state(target, slot, slot.start - 0.01).status == "Pending"
    assert plan.event_state(target, slot, slot.start).status == "InProgress"
    done = plan.event_state(target, slot, slot.end)
    assert (done.status, done.start, done.end) == ("Succeeded", slot.start, slot.end)
    assert done.diagnostics["errorCode"] == "Success"


def test_overview_counts_both_fleets():
    plan = bg()
    assert plan.overview(1001.0) == dict(Pending=0, InProgress=0, Succeeded=0, Failed=0, Skipped=0, Ready=0)
    assert plan.overview(1020.0)["Pending"] == 1 and plan.overview(1020.0)["InProgress"] == 1
    after_green = plan.target("i-green").done_at + 0.01
    assert plan.overview(after_green)["Succeeded"] == 1
    assert plan.overview(1100.0)["Succeeded"] == 2


def test_termination_wait_and_switch():
    plan = bg()
    assert not plan.termination_wait_started(plan.wait_started_at - 0.01)
    assert plan.termination_wait_started(plan.wait_started_at)
    assert not plan.traffic_switched(plan.switch_at - 0.01)
    assert plan.traffic_switched(plan.switch_at)


def test_the_original_instance_is_updated_when_its_termination_starts():
    """The one sign of the end of the wait before termination (step 3 -> 4) that a client can read."""
    plan = bg()
    blue, green = plan.target("i-blue"), plan.target("i-green")
    last_event_end = blue.events[-1].end
    assert plan.target_updated_at(blue, plan.terminate_at - 0.01) == last_event_end
    assert plan.target_status(blue, plan.terminate_at - 0.01) == "InProgress"
    assert plan.target_updated_at(blue, plan.terminate_at) == plan.terminate_at
    assert plan.target_updated_at(green, plan.terminate_at) == green.done_at
    assert plan.skip_termination_wait(plan.wait_started_at + 1.0)
    assert plan.target_updated_at(blue, plan.wait_started_at + 1.0) == plan.wait_started_at + 1.0


def test_failure_cuts_at_the_end_of_the_failing_event():
    plan = bg()
    plan.fail_at("i-green", "ValidateService", "HEALTH_CONSTRAINTS", "failed", {"errorCode": "ScriptFailed"})
    slot = plan.target("i-green").event("ValidateService")
    assert plan.status(slot.end - 0.01) == "InProgress"
    assert plan.status(slot.end) == "Failed"
    assert plan.complete_time(slot.end + 5) == slot.end
    after = dict(states(plan, "i-green", slot.end))
    assert after["AfterInstall"] == "Succeeded"
    assert after["ValidateService"] == "Failed"
    assert after["AllowTraffic"] == "Skipped"
    assert set(dict(states(plan, "i-blue", slot.end)).values()) == {"Skipped"}
    assert plan.target_status(plan.target("i-green"), slot.end) == "Failed"
    assert plan.target_status(plan.target("i-blue"), slot.end) == "Skipped"
    assert not plan.will_switch()
    assert plan.overview(slot.end)["Failed"] == 1


def test_failure_after_the_switch_keeps_the_switch():
    plan = bg()
    plan.fail_at("i-green", "AfterAllowTraffic", "HEALTH_CONSTRAINTS", "failed", {})
    assert plan.will_switch()


def test_stop_cuts_now_and_marks_the_running_event_failed():
    plan = bg()
    plan.stop(1020.0, "MANUAL_STOP", "stopped")
    assert plan.status(1019.0) == "InProgress"
    assert plan.status(1020.0) == "Stopped"
    running = [s for s in plan.events(plan.target("i-green"), 1030.0) if s.status == "Failed"]
    assert len(running) == 1 and running[0].end == 1020.0


def test_skipping_the_termination_wait_ends_earlier():
    plan = bg()
    assert not plan.skip_termination_wait(1050.0)
    now = plan.wait_started_at + 1.0
    old_end = plan.end_at
    assert plan.skip_termination_wait(now)
    assert plan.terminate_at == now
    assert plan.end_at == pytest.approx(old_end - (0.88 * D + 1000.0 - now))
    assert plan.status(plan.end_at) == "Succeeded"


def test_in_place_plan_switches_at_application_start():
    plan = Plan.in_place_deployment(0.0, 10.0, "i-1")
    target = plan.targets[0]
    assert [s.name for s in target.events] == list(IN_PLACE_EVENTS)
    assert plan.switch_at == target.event("ApplicationStart").end
    assert plan.status(10.0) == "Succeeded"
    assert not plan.termination_wait_started(10.0)


def test_a_rollback_reroutes_back_to_the_original_instance():
    plan = Plan.rollback_deployment(0.0, 10.0, restored_id="i-blue", replaced_id="i-green")
    assert plan.target("i-blue").label == "Green"
    assert plan.target("i-green").label == "Blue"
    assert plan.status(10.0) == "Succeeded"
