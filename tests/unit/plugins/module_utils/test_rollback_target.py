# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rollback_target: which version a rollback goes to, from the history of HERD/CurrentVersion and what HERD serves.

The histories here do not rise strictly: a history that only ever rises cannot tell "the entry before the
served one" from "the newest entry other than the served one" or "the highest other version".
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.mdl.herd.plugins.module_utils._rollback import rollback_target

T0 = datetime.datetime(2026, 12, 1, 9, 0, 0, tzinfo=datetime.timezone.utc)


def at(minute):
    return T0 + datetime.timedelta(minutes=minute)


def history(*values):
    """(value, time) entries, one minute apart, oldest first."""
    return [(value, at(i)) for i, value in enumerate(values)]


def failed(*minutes):
    """Windows of deployments that failed, each around the entry written at that minute."""
    return [(at(m) - datetime.timedelta(seconds=30), at(m) + datetime.timedelta(seconds=30)) for m in minutes]


# item 10, pin 2: red when the target is the newest entry other than the served one (or the highest other version)
@pytest.mark.parametrize("values, served, expected", [
    # upgraded 0.160 -> 0.170, then an upgrade to 0.175 failed after its smoke test: 0.175 is newest, and newer
    (["0.160.0", "0.170.0", "0.175.0"], "0.170.0", "0.160.0"),
    # an older stack upgraded in steps that went down and up: 0.176 is the highest other version
    (["0.150.0", "0.176.0", "0.160.0", "0.170.0"], "0.170.0", "0.160.0"),
    # rolled back 0.176 -> 0.170, then upgraded to 0.180: back to 0.170, not 0.176
    (["0.170.0", "0.176.0", "0.170.0", "0.180.0"], "0.180.0", "0.170.0"),
    # the served version written twice in a row (re-deployed) counts once
    (["0.160.0", "0.170.0", "0.170.0", "0.165.0"], "0.170", "0.160.0"),
])
def test_the_target_is_the_entry_before_the_served_one_not_the_newest_other(values, served, expected):
    assert rollback_target(history(*values), served) == (expected, "previous")


def test_the_issue_scenario_rolled_back_then_a_failed_upgrade_goes_nowhere():
    # 0.170 -> 0.176, rolled back to 0.170, then an upgrade to 0.177 failed at AllowTraffic after the smoke test
    # had written CurrentVersion=0.177.0; HERD serves 0.170: neither 0.176 (newer) nor 0.177 (failed, newer)
    assert rollback_target(history("0.170.0", "0.176.0", "0.170.0", "0.177.0"), "0.170.0") == (None, "follows_newer")
    assert rollback_target(history("0.170.0", "0.176.0", "0.170.0", "0.177.0"), "0.170.0",
                           failed_windows=failed(3)) == (None, "follows_newer")


def test_a_rollback_whose_record_was_never_written_changes_nothing_when_run_again():
    # the rollback 0.176 -> 0.170 deployed (its smoke test wrote 0.170), then the run was interrupted
    assert rollback_target(history("0.170.0", "0.176.0", "0.170.0"), "0.170.0") == (None, "follows_newer")
    assert rollback_target(history("0.170.0", "0.176.0", "0.170.0"), "0.170.0", record=None) == (None, "follows_newer")


def test_a_version_whose_upgrade_failed_is_never_the_target():
    # 0.170 -> 0.176 failed after its smoke test (HERD kept 0.170), then 0.170 -> 0.177 succeeded
    values = history("0.170.0", "0.176.0", "0.177.0")
    assert rollback_target(values, "0.177.0", failed_windows=failed(1)) == ("0.170.0", "previous")
    # a failed upgrade of the served version itself is left out too (the run before it is what counts)
    values = history("0.160.0", "0.170.0", "0.165.0", "0.170.0")
    assert rollback_target(values, "0.170.0", failed_windows=failed(2, 3)) == ("0.160.0", "previous")


def test_only_entries_written_inside_a_failed_window_are_left_out():
    values = history("0.170.0", "0.176.0", "0.177.0")
    # a failed deployment that ended before 0.176.0 was written does not make it a failed upgrade
    window = [(at(1) - datetime.timedelta(seconds=50), at(1) - datetime.timedelta(seconds=10))]
    assert rollback_target(values, "0.177.0", failed_windows=window) == ("0.176.0", "previous")


def test_never_the_served_version_nor_a_newer_one():
    for values, served in ((["0.170.0", "0.176.0"], "0.170.0"), (["0.180.0", "0.176.0"], "0.176.0"),
                           (["0.176", "0.176.0"], "0.176.0")):
        target, reason = rollback_target(history(*values), served)
        assert target is None and reason in ("follows_newer", "not_recorded"), (values, served, target)


def test_nothing_before_the_served_version():
    assert rollback_target(history("0.170.0"), "0.170.0") == (None, "not_recorded")
    assert rollback_target(history("0.160.0"), "0.170.0") == (None, "not_recorded")
    assert rollback_target([], "0.170.0") == (None, "not_recorded")


@pytest.mark.parametrize("values, served", [
    (["0.160.0", "garbage"], "garbage"),
    (["0.160.0", "${buildNumber}"], "${buildNumber}"),
    (["FilledLater", "0.170.0"], "0.170.0"),
])
def test_what_is_not_a_version_cannot_be_ordered(values, served):
    assert rollback_target(history(*values), served) == (None, "not_comparable")


def test_the_record_of_a_rollback_done_still_answers_first():
    record = {"from_version": "0.176.0", "to_version": "0.170.0", "deployment_id": "d-ABCDE1234", "time": at(2).isoformat()}
    values = history("0.160.0", "0.176.0", "0.170.0")
    assert rollback_target(values, "0.170.0", record=record) == (None, "already_rolled_back")
    # another version written after the record: it is history again
    values = history("0.160.0", "0.176.0", "0.170.0", "0.180.0", "0.170.0")
    assert rollback_target(values, "0.170.0", record=record) == (None, "follows_newer")
