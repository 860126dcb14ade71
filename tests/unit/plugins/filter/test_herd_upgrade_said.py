# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter mdl.herd.herd_upgrade_said: what the role says at its end, whether it writes its report, and whether it fails."""

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_said import FilterModule

said = FilterModule().filters()["herd_upgrade_said"]
UPGRADED = {"stack": "mdl/DEV", "requested_version": "0.176.0", "outcome": "upgraded", "stage": None,
            "deployment_id": "d-ABCDEFGH1", "status": "Succeeded", "to_version": "0.176.0",
            "message": "mdl/DEV: HERD upgraded from 0.170.0 to 0.176.0 by deployment d-ABCDEFGH1.",
            "zero_downtime": {"requests": 60, "failures": 3, "longest_outage_seconds": 12.5}}
TOO_LONG = ("mdl/DEV: HERD upgraded from 0.170.0 to 0.176.0 by deployment d-ABCDEFGH1. That is more than "
            "herd_upgrade_max_downtime_seconds (5 s): the upgrade itself is done (deployment d-ABCDEFGH1 succeeded), "
            "HERD serves 0.176.0; running this again changes nothing.")


def test_a_run_that_did_not_fail_says_its_message_and_does_not_fail():
    assert said(UPGRADED, "") == {"lines": UPGRADED["message"], "failed": False, "report": False, "failure": (
        "mdl/DEV: the upgrade of HERD to 0.176.0 failed (?): what happened is said just above, and kept in herd_upgrade_result.")}


def test_a_message_of_several_lines_is_said_one_item_a_line_without_the_blank_ones():
    result = dict(UPGRADED, message="mdl/DEV: failed.\nwhere: step 3\n\nnext: run again")
    assert said(result, None)["lines"] == ["mdl/DEV: failed.", "where: step 3", "next: run again"]


@pytest.mark.parametrize("requested, stage, words", [
    ("0.176.0", "deployment", "the upgrade of HERD to 0.176.0 failed (deployment)"),
    (None, "input", "the upgrade of HERD failed (input)"),
    (["0.176.0"], None, "the upgrade of HERD failed (?)"),
])
def test_a_failed_run_fails_with_a_short_line_naming_the_stack_version_and_stage(requested, stage, words):
    result = dict(UPGRADED, outcome="failed", requested_version=requested, stage=stage, message="mdl/DEV: it failed.")
    end = said(result, 5)  # a failed run is never also too long: its own failure is said
    assert end["failed"] is True and end["lines"] == "mdl/DEV: it failed."
    assert end["failure"] == "mdl/DEV: " + words + ": what happened is said just above, and kept in herd_upgrade_result."


@pytest.mark.parametrize("limit", [5, "5", 5.0, "12"])
def test_a_deployment_that_held_herd_down_longer_than_the_limit_fails_with_the_whole_message(limit):
    end = said(UPGRADED, limit)
    assert end["failed"] is True
    assert end["lines"] == end["failure"] == TOO_LONG.replace("(5 s)", "({0} s)".format(limit))


@pytest.mark.parametrize("limit, longest", [("", 12.5), (None, 12.5), (12.5, 12.5), (30, 12.5), (5, None), ("5", "none")])
def test_no_limit_an_outage_within_it_or_none_recorded_does_not_fail(limit, longest):
    result = dict(UPGRADED, zero_downtime={"longest_outage_seconds": longest})
    assert said(result, limit)["failed"] is False
    assert said(dict(UPGRADED, zero_downtime={}), 5)["failed"] is False


def test_a_deployment_without_a_status_is_said_ended():
    end = said(dict(UPGRADED, status=None), 5)
    assert "(deployment d-ABCDEFGH1 ended), HERD serves 0.176.0" in end["failure"]


# What the role's invoke registered: a deployment started (followed), HERD at the version already, a failed invoke, bad input
STARTED = {"changed": True, "already_served": False, "deployment_id": "d-ABCDEFGH1", "attached": False}
SERVED = {"changed": False, "already_served": True, "served": {"build_number": "0.176.0"}}
INVOKE_FAILED = {"failed": True, "msg": "Could not read the stack mdl-Herd-DEV"}
SKIPPED = {"skipped": True, "changed": False}


@pytest.mark.parametrize("result, invoke", [
    (UPGRADED, STARTED),  # a deployment followed to its end
    (dict(UPGRADED, outcome="failed", stage="deployment"), STARTED),
    (dict(UPGRADED, outcome="failed", stage="invoke", deployment_id=None), INVOKE_FAILED),  # failed before any deployment
    (dict(UPGRADED, outcome="failed", stage="task"), {}),  # the rescue, before the invoke ran
])
def test_a_run_that_followed_a_deployment_or_failed_writes_its_report(result, invoke):
    assert said(result, None, report_dir="/var/reports", invoke=invoke)["report"] is True


@pytest.mark.parametrize("result, invoke, report_dir, check_mode", [
    (UPGRADED, STARTED, "", False),  # no herd_upgrade_report_dir
    (UPGRADED, STARTED, None, False),
    (UPGRADED, STARTED, [], False),  # as the role's default('', true) reads it: empty is none
    (UPGRADED, STARTED, False, False),
    (UPGRADED, STARTED, "/var/reports", True),  # check mode writes nothing
    (dict(UPGRADED, outcome="already_served"), SERVED, "/var/reports", False),  # nothing was followed: nothing to record
    (dict(UPGRADED, outcome="failed", stage="input"), SKIPPED, "/var/reports", False),  # bad input: no stack to report on
    (dict(UPGRADED, outcome="failed", stage="deployment"), STARTED, "", False),
])
def test_no_report_without_a_directory_in_check_mode_for_nothing_to_record_or_for_bad_input(result, invoke, report_dir, check_mode):
    end = said(result, None, report_dir=report_dir, check_mode=check_mode, invoke=invoke)
    assert end["report"] is False
    assert end["failed"] is (result["outcome"] == "failed")  # the failure is said all the same


def test_an_invoke_that_is_not_a_dict_followed_nothing():
    assert said(UPGRADED, None, report_dir="/var/reports", invoke="not a result")["report"] is False
