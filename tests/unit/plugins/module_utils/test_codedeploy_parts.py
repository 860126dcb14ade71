# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of following a deployment, each alone: the pace (when to read what), the narrator (what to
print) and the result (what the deployment looks like in the module's return). test_codedeploy.py drives
them together through ``Follower``."""

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_pace as cd_pace
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_result as cd_result
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_narrator import Narrator
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import (
    EPOCH0,
    blue_green_story,
    in_place_story,
)
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.test_codedeploy import view_at

BASE = cd_pace.DEFAULT_POLL_INTERVAL


@pytest.mark.parametrize("t, phase", [(1, "starting"), (10, "provisioning"), (100, "running"), (340, "termination_wait"),
                                      (400, "near_end")])
def test_the_phase_follows_the_blue_green_steps(t, phase):
    story = blue_green_story(termination_wait_minutes=None)
    assert cd_pace.phase_of(view_at(story, t), "success") == phase


def test_traffic_rerouted_makes_step_2_the_end():
    story = blue_green_story()
    assert cd_pace.phase_of(view_at(story, 290), "success") == "running"
    assert cd_pace.phase_of(view_at(story, 290), "traffic_rerouted") == "near_end"


def test_an_in_place_deployment_is_near_its_end_in_its_last_event():
    assert cd_pace.phase_of(view_at(in_place_story(), 15), "success") == "running"
    assert cd_pace.phase_of(view_at(in_place_story(), 140), "success") == "near_end"


def test_what_each_phase_reads_and_how_often():
    story = blue_green_story(termination_wait_minutes=None)
    running = view_at(story, 100)
    assert cd_pace.read_every("running", running, running["now"], BASE, EPOCH0) == (BASE, cd_pace.DEPLOYMENT_REFRESH)
    assert cd_pace.read_every("starting", None, EPOCH0, BASE, EPOCH0) == (None, BASE)
    assert cd_pace.read_every("ready_wait", running, running["now"], BASE, EPOCH0) == (
        None, min(cd_pace.LONG_WAIT_MAX_INTERVAL, BASE * cd_pace.READY_WAIT_FACTOR))
    unknown_wait = view_at(story, 340)
    assert cd_pace.read_every("termination_wait", unknown_wait, unknown_wait["now"], BASE, EPOCH0) == (BASE, cd_pace.DEPLOYMENT_REFRESH)
    known_wait = view_at(blue_green_story(termination_wait_minutes=60), 340)
    assert cd_pace.read_every("termination_wait", known_wait, known_wait["now"], BASE, EPOCH0) == (None, cd_pace.LONG_WAIT_MAX_INTERVAL)


@pytest.mark.parametrize("ran, every", [(10, cd_pace.MIN_POLL_INTERVAL), (100, cd_pace.MIN_POLL_INTERVAL), (150, 0.75), (190, 0.95), (cd_pace.SHORT_RUN, BASE),
                                        (3000, BASE)])
def test_near_the_end_a_short_deployment_is_read_faster(ran, every):
    assert cd_pace.near_end_every(BASE, EPOCH0, EPOCH0 + ran) == pytest.approx(every)
    assert cd_pace.near_end_every(BASE, EPOCH0, EPOCH0 + ran, fast_reads=cd_pace.NEAR_END_FAST_READS) == BASE


@pytest.mark.parametrize("length", [60.0, 150.0])
def test_near_the_end_the_faster_reads_are_bounded(length):
    """In a step 4 that does not end (the same view at every poll), the deployment is read at 0.5 % of the time it
    has run NEAR_END_FAST_READS times, then at poll_interval: a lasting end costs at most that many extra reads."""
    story = blue_green_story(scale=length / 420.0, termination_wait_minutes=None)
    view = view_at(story, story.end - 1)
    assert cd_pace.phase_of(view, "success") == "near_end"
    now = [view["now"]]
    pace = cd_pace.Pace(BASE, "success", lambda: now[0])
    gaps = []
    for _poll in range(cd_pace.NEAR_END_FAST_READS + 5):
        pace.deployment_read_at = now[0]  # each poll reads the deployment (it is due)
        pace.schedule(view, now[0], EPOCH0, last_line_at=now[0])
        gaps.append(pace.interval())
        now[0] += gaps[-1]
    fast = gaps[:cd_pace.NEAR_END_FAST_READS]
    assert gaps[0] == pytest.approx(max(cd_pace.MIN_POLL_INTERVAL, cd_pace.RAN_SHARE * (story.end - 1)), abs=0.01)
    assert max(fast) < BASE and min(fast) >= cd_pace.MIN_POLL_INTERVAL, gaps
    assert gaps[cd_pace.NEAR_END_FAST_READS:] == [BASE] * 5, gaps


def test_near_the_end_of_a_long_deployment_the_pace_is_poll_interval():
    story = blue_green_story(scale=300 / 420.0, termination_wait_minutes=None)  # step 4 begins after 257 s
    view = view_at(story, story.end - 1)
    assert cd_pace.phase_of(view, "success") == "near_end"
    pace = cd_pace.Pace(BASE, "success", lambda: view["now"])
    pace.deployment_read_at = view["now"]
    pace.schedule(view, view["now"], EPOCH0, last_line_at=view["now"])
    assert pace.interval() == BASE and pace.fast_reads == 0


def test_the_next_poll_waits_for_the_first_read_due_and_the_heartbeat():
    now = [EPOCH0]
    pace = cd_pace.Pace(BASE, "success", lambda: now[0])
    pace.deployment_read_at = EPOCH0
    pace.schedule(None, EPOCH0, EPOCH0, last_line_at=None)
    assert pace.phase == "starting" and pace.interval() == pytest.approx(BASE * (1 - cd_pace.LOOK_ALLOWANCE_SHARE))
    pace.schedule(None, EPOCH0, EPOCH0, last_line_at=EPOCH0 - cd_pace.HEARTBEAT_DUE + 1)
    assert pace.interval() == pytest.approx(1)  # the heartbeat line is due first
    pace.throttled = 2
    pace.schedule(None, EPOCH0, EPOCH0, last_line_at=None)
    assert pace.interval() == pytest.approx(min(cd_pace.LONG_WAIT_MAX_INTERVAL, 4 * BASE))


def test_the_instances_are_read_when_the_deployment_says_they_moved():
    story = blue_green_story()
    pace = cd_pace.Pace(BASE, "success", lambda: EPOCH0)
    before, after = view_at(story, 100), view_at(story, 310)
    assert not pace.want_targets(view_at(story, 1)["deployment"], EPOCH0)  # not started: nothing to read
    assert pace.want_targets(before["deployment"], EPOCH0)  # never read
    pace.targets_read(before["deployment"], EPOCH0)
    assert not pace.want_targets(before["deployment"], EPOCH0)
    assert pace.want_targets(after["deployment"], EPOCH0)


def test_the_narrator_says_each_change_once_in_time_order():
    story = blue_green_story()
    said = []
    narrator = Narrator(story.deployment_id, EPOCH0, lambda: EPOCH0 + 130, on_line=said.append)
    narrator.announce(view_at(story, 1))
    narrator.announce(view_at(story, 130))
    narrator.announce(view_at(story, 130))
    assert said == narrator.said
    assert len(said) == len(set(said)) and len(said) >= 4, said
    assert "Created" in said[0] and any("step 1/4" in text for text in said), said
    assert [text for text in said if "Install" in text and "BeforeInstall" not in text], said


def test_the_narrator_says_where_it_is_when_nothing_changed_for_a_while():
    story = blue_green_story()
    now = [EPOCH0 + 100]
    narrator = Narrator(story.deployment_id, EPOCH0, lambda: now[0])
    narrator.announce(view_at(story, 100))
    count = len(narrator.said)
    now[0] += cd_pace.HEARTBEAT_DUE - 1
    narrator.announce(view_at(story, 100))
    assert len(narrator.said) == count
    now[0] += 1
    narrator.announce(view_at(story, 100))
    assert len(narrator.said) == count + 1 and "still" in narrator.said[-1], narrator.said


def test_the_result_timeline_is_in_time_order_from_the_steps():
    story = blue_green_story()
    view = view_at(story, 5000)
    result = cd_result.deployment_result(story.deployment_id, view, None, [])
    assert result["status"] == "Succeeded"
    times = [entry["time"] for entry in result["timeline"]]
    assert times == sorted(times)
    assert [e["message"] for e in result["timeline"] if "step" in e][:2] == [
        "step 1/4 Deploying replacement instances: InProgress", "step 1/4 Deploying replacement instances: Succeeded"]
    assert cd_result.deployment_result("d-X", None, None, [])["steps"] == []
