# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action mdl.herd.herd_stacks_report: the end of upgrade_herd.yml and rollback_herd.yml (the table, printed, and the
AWX artifacts)."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from ansible.playbook.task import Task

from ansible_collections.mdl.herd.plugins.action import herd_stacks_report as action

UPGRADED = {"stack": "mdl/DEV", "from_version": "0.170.0", "to_version": "0.176.0", "deployment_id": "d-ABCDEFGH1",
            "duration_seconds": 612, "outcome": "upgraded"}
SERVED = {"stack": "mdl/QA", "from_version": "0.176.0", "to_version": "0.176.0", "deployment_id": None,
          "duration_seconds": None, "outcome": "already_served"}
BAD_INPUT = {"stack": "mdl-2/PROD", "from_version": None, "to_version": None, "deployment_id": None, "duration_seconds": None,
             "outcome": "failed"}


@pytest.fixture
def shown(monkeypatch):
    """The plugin's Display, replaced: what it printed."""
    display = MagicMock()
    monkeypatch.setattr(action, "display", display)
    return display


def report(shown, stacks, check_mode=False):
    """(the result, the lines printed) of the task with ``stacks`` as its argument."""
    task = MagicMock(Task)
    task.args = {"stacks": stacks}
    task.async_val = 0
    task.action = "mdl.herd.herd_stacks_report"
    task.check_mode = check_mode  # what ActionBase reads
    play_context = MagicMock()
    play_context.check_mode = check_mode
    result = action.ActionModule(task, MagicMock(), play_context, loader=None, templar=None, shared_loader_obj=None).run(task_vars={})
    return result, [c.args[0] for c in shown.display.call_args_list]


def test_the_table_is_printed_line_by_line_headers_first_in_order_with_a_dash_for_what_the_run_did_not_learn(shown):
    result, printed = report(shown, [UPGRADED, SERVED, BAD_INPUT])
    assert printed == [
        "stack | from | to | deployment | duration | outcome",
        "mdl/DEV | 0.170.0 | 0.176.0 | d-ABCDEFGH1 | 612 s | upgraded",
        "mdl/QA | 0.176.0 | 0.176.0 | - | - | already_served",
        "mdl-2/PROD | - | - | - | - | failed",
    ]
    assert result["table"] == printed
    assert not result.get("failed") and result["changed"] is False


@pytest.mark.parametrize("duration, shown_as", [(0, "0 s"), (61.5, "61.5 s"), (None, "-")])
def test_a_duration_is_in_seconds_zero_included(shown, duration, shown_as):
    assert report(shown, [dict(UPGRADED, duration_seconds=duration)])[1][1].split(" | ")[4] == shown_as


def test_no_stack_done_is_the_headers_alone_and_a_result_missing_keys_or_not_a_dict_is_dashes(shown):
    assert report(shown, [])[1] == ["stack | from | to | deployment | duration | outcome"]
    shown.reset_mock()
    result, printed = report(shown, [{"stack": "mdl/DEV"}, "mdl/QA"])
    assert printed[1:] == ["mdl/DEV | - | - | - | - | -", "- | - | - | - | - | -"]
    assert list(result["ansible_stats"]["data"]) == ["herd_upgrade_mdl_DEV"]


def test_the_artifacts_are_published_as_set_stats_does_one_key_a_stack_each_holding_its_result(shown):
    stats = report(shown, [UPGRADED, SERVED, BAD_INPUT])[0]["ansible_stats"]
    assert stats == {"data": {"herd_upgrade_mdl_DEV": UPGRADED, "herd_upgrade_mdl_QA": SERVED, "herd_upgrade_mdl_2_PROD": BAD_INPUT},
                     "per_host": False, "aggregate": True}


def test_check_mode_prints_and_publishes_the_same(shown):
    result, printed = report(shown, [SERVED], check_mode=True)
    assert printed[1] == "mdl/QA | 0.176.0 | 0.176.0 | - | - | already_served"
    assert list(result["ansible_stats"]["data"]) == ["herd_upgrade_mdl_QA"]


@pytest.mark.parametrize("stack, key", [("my.mdl/DEV", "herd_upgrade_my_mdl_DEV"), ("mdl /Dév", "herd_upgrade_mdl__D_v"),
                                        ("mdl_1/QA", "herd_upgrade_mdl_1_QA")])
def test_a_key_writes_each_character_other_than_a_letter_a_digit_or_underscore_as_underscore(shown, stack, key):
    assert list(report(shown, [dict(UPGRADED, stack=stack)])[0]["ansible_stats"]["data"]) == [key]


@pytest.mark.parametrize("value", [{"stack": "mdl/DEV"}, "mdl/DEV", None, 3])
def test_what_is_not_a_list_of_results_fails_by_the_option_name_before_anything_is_printed_or_published(shown, value):
    result, printed = report(shown, value)
    assert result["failed"] is True and "ansible_stats" not in result and printed == []
    assert result["msg"].startswith("herd_stacks_report: stacks must be a list of herd_upgrade_result"), result["msg"]
    assert "running the task again with a list" in result["msg"]
