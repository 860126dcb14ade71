# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SSM upgrade lock, on a fake SSM that behaves as SSM does (create-if-absent, AWS's clock)."""

from __future__ import annotations

import datetime
import email.utils
import json

import pytest

botocore = pytest.importorskip("botocore")

from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.mdl.herd.plugins.module_utils._lock import UpgradeLock  # noqa: E402
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


def lock(ssm, version="0.176.0", token=None, clock=None, stale_after=960):
    clock = clock or Clock(ssm)
    return UpgradeLock(ssm, STACK, version, stale_after, host="ctl-1", token=token, clock=clock, sleep=clock.sleep, poll=2.0)


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
