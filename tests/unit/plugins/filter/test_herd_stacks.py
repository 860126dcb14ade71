# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters mdl.herd.herd_stacks_table and mdl.herd.herd_stacks_artifacts: the end of upgrade_herd.yml and rollback_herd.yml."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mdl.herd.plugins.filter.herd_stacks_artifacts import FilterModule as Artifacts
from ansible_collections.mdl.herd.plugins.filter.herd_stacks_table import FilterModule as Table

table = Table().filters()["herd_stacks_table"]
artifacts = Artifacts().filters()["herd_stacks_artifacts"]

UPGRADED = {"stack": "mdl/DEV", "from_version": "0.170.0", "to_version": "0.176.0", "deployment_id": "d-ABCDEFGH1",
            "duration_seconds": 612, "outcome": "upgraded"}
SERVED = {"stack": "mdl/QA", "from_version": "0.176.0", "to_version": "0.176.0", "deployment_id": None,
          "duration_seconds": None, "outcome": "already_served"}
BAD_INPUT = {"stack": "mdl-2/PROD", "from_version": None, "to_version": None, "deployment_id": None, "duration_seconds": None,
             "outcome": "failed"}


def test_the_table_has_its_headers_then_one_line_a_stack_in_order_with_a_dash_for_what_the_run_did_not_learn():
    assert table([UPGRADED, SERVED, BAD_INPUT]) == [
        "stack | from | to | deployment | duration | outcome",
        "mdl/DEV | 0.170.0 | 0.176.0 | d-ABCDEFGH1 | 612 s | upgraded",
        "mdl/QA | 0.176.0 | 0.176.0 | - | - | already_served",
        "mdl-2/PROD | - | - | - | - | failed",
    ]


@pytest.mark.parametrize("duration, shown", [(0, "0 s"), (61.5, "61.5 s"), (None, "-")])
def test_a_duration_is_in_seconds_zero_included(duration, shown):
    assert table([dict(UPGRADED, duration_seconds=duration)])[1].split(" | ")[4] == shown


def test_no_stack_done_is_the_headers_alone_and_a_result_missing_keys_is_dashes():
    assert table([]) == ["stack | from | to | deployment | duration | outcome"]
    assert table([{"stack": "mdl/DEV"}])[1] == "mdl/DEV | - | - | - | - | -"


def test_the_artifacts_are_one_key_a_stack_each_holding_its_result():
    assert artifacts([UPGRADED, SERVED, BAD_INPUT]) == {
        "herd_upgrade_mdl_DEV": UPGRADED, "herd_upgrade_mdl_QA": SERVED, "herd_upgrade_mdl_2_PROD": BAD_INPUT}
    assert artifacts([]) == {}


@pytest.mark.parametrize("stack, key", [("my.mdl/DEV", "herd_upgrade_my_mdl_DEV"), ("mdl /Dév", "herd_upgrade_mdl__D_v"),
                                        ("mdl_1/QA", "herd_upgrade_mdl_1_QA")])
def test_a_key_writes_each_character_other_than_a_letter_a_digit_or_underscore_as_underscore(stack, key):
    assert list(artifacts([dict(UPGRADED, stack=stack)])) == [key]


@pytest.mark.parametrize("plugin", [table, artifacts])
@pytest.mark.parametrize("value", [{"stack": "mdl/DEV"}, "mdl/DEV", None, 3])
def test_what_is_not_a_list_of_results_is_refused_by_name(plugin, value):
    with pytest.raises(AnsibleFilterError, match=plugin.__name__ + " takes a list of herd_upgrade_result"):
        plugin(value)
