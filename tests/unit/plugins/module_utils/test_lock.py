# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SSM upgrade lock, on a fake SSM that behaves as SSM does (create-if-absent, AWS's clock)."""

from __future__ import annotations

import datetime
import email.utils
import json
import os
import subprocess
import sys

import pytest

botocore = pytest.importorskip("botocore")

from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.mdl.herd.plugins.module_utils._lock import UpgradeLock, process_space, process_start  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack  # noqa: E402

UTC = datetime.timezone.utc
T0 = datetime.datetime(2024, 5, 2, 14, 0, 0, tzinfo=UTC)
STACK = MdlStack("mdl", "DEV")
NAME = "/app/MDL/mdl/DEV/HERD/UpgradeLock"


def error(code):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPHeaders": {}}}, "Op")


class FakeSsm(object):
    """SSM's parameter store for one name, on a clock the test moves (``now``)."""

    def __init__(self):
        self.now = T0
        self.parameters = {}  # name -> (value, last modified)
        self.calls = []

    def _date(self):
        return {"ResponseMetadata": {"HTTPHeaders": {"date": email.utils.format_datetime(self.now, usegmt=True)}}}

    def put_parameter(self, Name, Value, Type, Overwrite, Description=None, aws_retry=False):
        assert aws_retry and Type == "String"
        self.calls.append(("put", Overwrite))
        if not Overwrite and Name in self.parameters:
            raise error("ParameterAlreadyExists")
        self.parameters[Name] = (Value, self.now)
        return self._date()

    def get_parameter(self, Name, aws_retry=False):
        self.calls.append(("get",))
        if Name not in self.parameters:
            raise error("ParameterNotFound")
        value, modified = self.parameters[Name]
        answer = self._date()
        answer["Parameter"] = {"Name": Name, "Value": value, "LastModifiedDate": modified}
        return answer

    def delete_parameter(self, Name, aws_retry=False):
        self.calls.append(("delete",))
        if Name not in self.parameters:
            raise error("ParameterNotFound")
        del self.parameters[Name]


class Clock(object):
    """A monotonic clock and a sleep that moves it, and SSM's clock with it."""

    def __init__(self, ssm, on_sleep=None):
        self.t = 0.0
        self.ssm = ssm
        self.on_sleep = on_sleep
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds
        self.ssm.now += datetime.timedelta(seconds=seconds)
        if self.on_sleep:
            self.on_sleep(self)


def lock(ssm, version="0.176.0", token=None, clock=None, stale_after=960, pid=None, space=None):
    clock = clock or Clock(ssm)
    return UpgradeLock(ssm, STACK, version, stale_after, host="ctl-1", token=token, clock=clock, sleep=clock.sleep, poll=2.0,
                       pid=pid, space=space)


def test_the_lock_is_created_once_with_who_holds_it_and_released():
    ssm = FakeSsm()
    mine = lock(ssm, token="t-mine")
    assert mine.acquire(120) == (True, None)
    value = json.loads(ssm.parameters[NAME][0])
    assert value["owner"] == "t-mine" and value["host"] == "ctl-1" and value["version"] == "0.176.0" and value["time"]
    assert ssm.calls[0] == ("put", False)  # create-if-absent, never overwrite
    assert mine.release() is True
    assert NAME not in ssm.parameters


def test_a_held_lock_is_waited_for_and_taken_once_released():
    ssm = FakeSsm()
    other = lock(ssm, token="t-other")
    other.acquire(0)
    clock = Clock(ssm, on_sleep=lambda c: other.release() if c.t >= 6 else None)
    mine = lock(ssm, token="t-mine", clock=clock)
    assert mine.acquire(120) == (True, None)
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-mine"
    assert 6 <= mine.waited <= 8


def test_a_lock_held_past_lock_wait_is_not_taken_and_names_its_holder():
    ssm = FakeSsm()
    lock(ssm, version="0.177.0", token="t-other").acquire(0)
    mine = lock(ssm, token="t-mine")
    acquired, holder = mine.acquire(10)
    assert not acquired
    assert (holder.owner, holder.version, holder.host) == ("t-other", "0.177.0", "ctl-1")
    assert holder.age == pytest.approx(10)  # AWS's clock: LastModifiedDate against the answer's Date
    assert "held by ctl-1 (process {0}) for HERD 0.177.0, written at 2024-05-02 14:00:00 UTC (10 s ago)".format(
        holder.pid) in holder.describe()
    assert mine.release() is False
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-other"


def test_a_stale_lock_is_taken_over_only_once_older_than_the_invoke_read_timeout():
    ssm = FakeSsm()
    lock(ssm, token="t-dead").acquire(0)
    ssm.now += datetime.timedelta(seconds=959)
    assert lock(ssm, token="t-young").acquire(0)[0] is False  # 959 s: an invoke may still run
    ssm.now += datetime.timedelta(seconds=2)
    mine = lock(ssm, token="t-mine")
    assert mine.acquire(0) == (True, None)
    assert mine.taken_over.owner == "t-dead"
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-mine"


def test_a_retried_create_that_had_succeeded_is_ours():
    ssm = FakeSsm()
    mine = lock(ssm, token="t-mine")
    original = ssm.put_parameter

    def lost_answer(**kwargs):  # the first create succeeded, its answer was lost, the retry finds it
        original(**kwargs)
        raise error("ParameterAlreadyExists")

    ssm.put_parameter = lost_answer
    assert mine.acquire(0) == (True, None)


def test_release_never_deletes_a_lock_taken_over_by_another_run():
    ssm = FakeSsm()
    mine = lock(ssm, token="t-mine")
    mine.acquire(0)
    ssm.parameters[NAME] = (json.dumps({"owner": "t-other"}), ssm.now)  # taken over meanwhile
    assert mine.release() is False
    assert NAME in ssm.parameters


# --- take-overs: exactly one run replaces a lock, arbitrated by a create-only marker ------------------------


def markers(ssm):
    return sorted(name for name in ssm.parameters if ".takeover-" in name)


class SteppedSsm(FakeSsm):
    """Runs ``between(name)`` once, right after the first read of ``name`` (another run's steps go in there)."""

    def __init__(self):
        super(SteppedSsm, self).__init__()
        self.between = {}

    def get_parameter(self, Name, aws_retry=False):
        answer = super(SteppedSsm, self).get_parameter(Name, aws_retry=aws_retry)
        step = self.between.pop(Name, None)
        if step:
            step()
        return answer


def stale_lock(ssm, token="t-dead"):
    lock(ssm, token=token).acquire(0)
    ssm.now += datetime.timedelta(seconds=961)


def test_two_runs_that_both_read_a_stale_lock_take_it_over_once():
    """Issue 27 item 7: both read the stale lock; the first then replaces it; the second must not replace it again."""
    ssm = SteppedSsm()
    stale_lock(ssm)
    first, second = lock(ssm, token="t-first"), lock(ssm, token="t-second")
    outcome = {}
    ssm.between[NAME] = lambda: outcome.setdefault("first", first.acquire(0))  # after the second's read of the stale lock
    assert second.acquire(0)[0] is False
    assert outcome["first"] == (True, None)
    assert first.taken_over.owner == "t-dead" and second.taken_over is None
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-first"
    assert markers(ssm) == []


def test_a_run_that_finds_another_taking_over_does_not():
    ssm = SteppedSsm()
    stale_lock(ssm)
    first, second = lock(ssm, token="t-first"), lock(ssm, token="t-second")
    outcome = {}
    marker = NAME + ".takeover-t-dead"
    # the first created the marker and reads the lock again: the second comes now
    ssm.between[NAME] = lambda: ssm.between.setdefault(NAME, lambda: outcome.setdefault("second", second.acquire(0)))
    assert first.acquire(0) == (True, None)
    assert outcome["second"][0] is False
    assert ("put", False) in ssm.calls and marker not in ssm.parameters
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-first"


def test_a_marker_left_by_a_run_that_died_half_way_is_waited_for_then_replaced():
    ssm = FakeSsm()
    stale_lock(ssm)
    marker = NAME + ".takeover-t-dead"
    ssm.parameters[marker] = (json.dumps({"owner": "t-died", "phase": "takeover"}), ssm.now)
    ssm.now += datetime.timedelta(seconds=30)
    assert lock(ssm, token="t-mine").acquire(0)[0] is False  # 30 s: its run may still be taking over
    ssm.now += datetime.timedelta(seconds=31)
    mine = lock(ssm, token="t-mine")
    assert mine.acquire(0) == (True, None)
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-mine"
    assert markers(ssm) == []


# --- who holds it: the process, and whether it still exists ----------------------------------------------------


def gone_pid():
    """The id of a process that has ended (and been reaped)."""
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True).stdout)


def test_the_value_names_the_process_and_what_tells_it_apart():
    ssm = FakeSsm()
    mine = lock(ssm, token="t-mine")
    mine.acquire(0)
    value = json.loads(ssm.parameters[NAME][0])
    assert value["pid"] == os.getpid() and value["phase"] == "held"
    assert value["space"] == process_space() and value["started"] == process_start(os.getpid())
    mine.mark_invoking(T0, "d-OLD000001")
    value = json.loads(ssm.parameters[NAME][0])
    assert (value["phase"], value["previous_deployment_id"]) == ("invoking", "d-OLD000001")
    assert value["invoked_at"] == "2024-05-02T14:00:00.000+00:00"
    mine.mark_interrupted("the run was stopped (SIGINT)")
    value = json.loads(ssm.parameters[NAME][0])
    assert (value["phase"], value["reason"], value["invoked_at"]) == (
        "interrupted", "the run was stopped (SIGINT)", "2024-05-02T14:00:00.000+00:00")
    assert mine.release() is False and NAME in ssm.parameters  # no longer this run's to release


def test_the_lock_of_a_gone_process_on_this_host_is_taken_over_at_once_before_its_invoke():
    ssm = FakeSsm()
    lock(ssm, token="t-killed", pid=gone_pid()).acquire(0)
    mine = lock(ssm, token="t-mine")
    assert mine.acquire(120) == (True, None)
    assert mine.waited == 0 and mine.taken_over.dead is True and mine.taken_over.owner == "t-killed"
    assert markers(ssm) == []


@pytest.mark.parametrize("how", ["alive", "other host", "other pid space"])
def test_a_lock_whose_process_may_run_is_waited_for(how):
    ssm = FakeSsm()
    if how == "alive":
        lock(ssm, token="t-other", pid=os.getppid()).acquire(0)
    elif how == "other host":
        UpgradeLock(ssm, STACK, "0.176.0", 960, host="ctl-2", token="t-other", pid=gone_pid()).acquire(0)
    else:
        lock(ssm, token="t-other", pid=gone_pid(), space="another-boot:pid:[1]").acquire(0)
    mine = lock(ssm, token="t-mine")
    acquired, holder = mine.acquire(10)
    assert acquired is False and mine.waited == 10
    assert holder.dead is (False if how == "alive" else None)


def test_a_process_id_given_to_another_process_since_is_a_gone_holder():
    ssm = FakeSsm()
    lock(ssm, token="t-killed", pid=os.getppid()).acquire(0)
    value = json.loads(ssm.parameters[NAME][0])
    value["started"] = value["started"] - 1 if value["started"] else 1  # the holder had started at another time
    ssm.parameters[NAME] = (json.dumps(value), ssm.now)
    holder = lock(ssm, token="t-mine").read()
    assert holder.dead is (True if process_start(os.getppid()) is not None else False)


@pytest.mark.parametrize("phase", ["interrupted", "invoking"])
def test_the_lock_of_an_interrupted_invoke_ends_the_wait_at_once(phase):
    ssm = FakeSsm()
    other = lock(ssm, token="t-stopped", pid=gone_pid())
    other.acquire(0)
    other.mark_invoking(T0, None)
    if phase == "interrupted":
        other.mark_interrupted("the run was stopped (SIGTERM)")
    mine = lock(ssm, token="t-mine", version="0.177.0")
    acquired, holder = mine.acquire(120)
    assert acquired is False and mine.waited == 0
    assert holder.interrupted_invoke and holder.version == "0.176.0"
    assert json.loads(ssm.parameters[NAME][0])["owner"] == "t-stopped"


def test_an_invoking_lock_of_a_live_process_is_waited_for():
    ssm = FakeSsm()
    other = lock(ssm, token="t-other", pid=os.getppid())
    other.acquire(0)
    other.mark_invoking(T0, None)
    acquired, holder = lock(ssm, token="t-mine").acquire(6)
    assert acquired is False and not holder.interrupted_invoke


def test_an_interrupted_lock_older_than_the_read_timeout_is_taken_over():
    ssm = FakeSsm()
    other = lock(ssm, token="t-stopped")
    other.acquire(0)
    other.mark_invoking(T0, None)
    other.mark_interrupted("stopped")
    ssm.now += datetime.timedelta(seconds=961)
    mine = lock(ssm, token="t-mine")
    assert mine.acquire(0) == (True, None) and mine.taken_over.phase == "interrupted"


def test_release_reads_back_a_lock_this_run_may_have_created():
    ssm = FakeSsm()
    mine = lock(ssm, token="t-mine")
    ssm.parameters[NAME] = (json.dumps({"owner": "t-mine"}), ssm.now)  # created, but the answer never came
    assert mine.release() is False and NAME in ssm.parameters
    assert mine.release(force=True) is True and NAME not in ssm.parameters


def test_times_are_utc_the_age_is_never_negative_and_the_removal_command_names_the_region():
    ssm = FakeSsm()
    ssm.meta = type("Meta", (), {"region_name": "eu-west-1"})()
    lock(ssm, token="t-other").acquire(0)
    ssm.parameters[NAME] = (ssm.parameters[NAME][0], ssm.now + datetime.timedelta(milliseconds=400))  # Date: whole seconds
    mine = lock(ssm, token="t-mine")
    holder = mine.read()
    assert holder.age == 0.0 and "written at 2024-05-02 14:00:00 UTC (0 s ago)" in holder.describe()
    ssm.now += datetime.timedelta(seconds=75)
    holder = mine.read()
    assert "written at 2024-05-02 14:00:00 UTC (75 s ago)" in holder.describe()
    assert mine.stale_sentence(holder).startswith("it is taken over at 2024-05-02 14:16:00 UTC, once older than 960 s")
    assert mine.removal_command() == "aws ssm delete-parameter --name {0} --region eu-west-1".format(NAME)
