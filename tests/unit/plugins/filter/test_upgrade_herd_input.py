# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter mdl.herd.upgrade_herd_input: the playbook's batches, and every problem of its variables in their names."""

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.filter.upgrade_herd_input import FilterModule

checked = FilterModule().filters()["upgrade_herd_input"]
GOOD = {"herd_version": "0.176.0", "mdl_instance_name": "mdl", "mdl_environment": "DEV", "herd_upgrade_serial": 0}


def with_(**changes):
    return dict(GOOD, **changes)


def test_a_stack_and_a_version_have_no_problem_and_one_batch():
    assert checked(GOOD) == {"batches": ["0"], "problems": [], "missing": []}
    assert checked({k: v for k, v in GOOD.items() if k != "herd_upgrade_serial"}) == {"batches": ["0"], "problems": [], "missing": []}


@pytest.mark.parametrize("serial, batches", [
    (1, ["1"]), ("2", ["2"]), ("50%", ["50%"]), ("1,50%,100%", ["1", "50%", "100%"]), (" 1 , 50% ", ["1", "50%"]),
    ('[1, "50%", "100%"]', ["1", "50%", "100%"]), ("['1', '50%']", ["1", "50%"]), ([1, "50%", "100%"], ["1", "50%", "100%"]),
])
def test_serial_as_numbers_percentages_lists_and_the_text_of_e_and_surveys(serial, batches):
    assert checked(with_(herd_upgrade_serial=serial)) == {"batches": batches, "problems": [], "missing": []}


@pytest.mark.parametrize("serial, shown", [
    ("abc", '"abc"'), ("", '""'), ("[]", '"[]"'), (1.5, "1.5"), (True, "true"), ([1, "half"], '[1, "half"]'), ("-1", '"-1"'),
])
def test_a_serial_that_is_none_of_them_is_one_batch_and_a_problem_that_shows_it(serial, shown):
    result = checked(with_(herd_upgrade_serial=serial))
    assert result["batches"] == 0
    assert result["problems"] == [
        "herd_upgrade_serial must be a number of stacks, a percentage or a list of them, for example"
        ' -e herd_upgrade_serial=1,50%,100% (or the list [1, "50%", "100%"]); got ' + shown]


@pytest.mark.parametrize("absent", [None, ""])
def test_missing_variables_are_named_together_in_the_playbooks_words(absent):
    result = checked(with_(herd_version=absent, mdl_environment=absent))
    assert result["problems"] == ["missing herd_version, mdl_environment (set with -e)"]
    nothing = {"herd_version": None, "mdl_instance_name": None, "mdl_environment": None}
    assert checked(nothing)["problems"] == ["missing herd_version, mdl_instance_name, mdl_environment (set with -e)"]


def test_variables_not_given_are_not_checked_as_rollback_herd_checks_its_batches_only():
    assert checked({"herd_upgrade_serial": "1,50%"}) == {"batches": ["1", "50%"], "problems": [], "missing": []}
    assert checked({})["batches"] == ["0"]


@pytest.mark.parametrize("version, kind, shown", [(0.18, "float", "0.18"), (1, "int", "1")])
def test_a_version_that_is_not_text_says_its_type_and_how_to_quote_it(version, kind, shown):
    [problem] = checked(with_(herd_version=version))["problems"]
    assert problem.startswith("herd_version must be text, but it is the {0} {1} (YAML and JSON read an unquoted 0.180".format(kind, shown))
    assert 'herd_version: "0.180" in a vars file, or -e herd_version=0.180' in problem


def test_a_version_outside_the_grammar_says_the_grammar_and_what_it_got():
    [problem] = checked(with_(herd_version="latest"))["problems"]
    assert problem == ('herd_version must be a HERD version: dot-separated numbers, optionally followed by a Maven qualifier after "-"'
                       ' (for example 0.176.0 or 1.0.0-RC1), at most 64 characters; got "latest"')
    assert checked(with_(herd_version="1.0.0-RC1"))["problems"] == []


def test_every_problem_at_once_in_order():
    problems = checked({"herd_version": "x y", "mdl_instance_name": "", "herd_upgrade_serial": "all"})["problems"]
    assert [p.split(" ")[0] for p in problems] == ["missing", "herd_version", "herd_upgrade_serial"]


def test_anything_but_a_dict_is_refused_by_type():
    with pytest.raises(TypeError, match="expects a dict of the playbook's variables, got list"):
        checked(["herd_version"])


@pytest.mark.parametrize("version, kind", [(True, "bool"), ([0, 176], "list"), ({"v": 1}, "dict"), (1, "int")])
def test_the_type_of_a_version_that_is_not_text_is_named_as_yaml_and_json_made_it(version, kind):
    [problem] = checked(with_(herd_version=version))["problems"]
    assert problem.startswith("herd_version must be text, but it is the {0} ".format(kind)), problem


def test_a_date_read_by_ansible_cores_yaml_is_named_a_date_and_shown_as_to_json_shows_it():
    from ansible.parsing.dataloader import DataLoader
    loaded = DataLoader().load("version: 2024-01-01\nserial: 2024-01-01 10:00:00\n")
    problems = checked(with_(herd_version=loaded["version"], herd_upgrade_serial=loaded["serial"]))["problems"]
    assert problems[0].startswith("herd_version must be text, but it is the date 2024-01-01 "), problems
    assert problems[1].endswith('; got "2024-01-01T10:00:00"'), problems


@pytest.mark.parametrize("absent", [None, ""])
def test_the_names_missing_are_returned_for_the_stacks_label(absent):
    assert checked(with_(mdl_instance_name=absent))["missing"] == ["mdl_instance_name"]
    assert checked(with_(mdl_instance_name=" "))["missing"] == []  # set: the role then says what is wrong with it
    assert checked(GOOD)["missing"] == []


@pytest.mark.parametrize("serial, shown", [(None, "null"), ({"x": 1}, '{"x": 1}'), ("  ", '"  "')])
def test_a_serial_of_null_a_dict_or_blanks_is_a_problem(serial, shown):
    result = checked(with_(herd_upgrade_serial=serial))
    assert result["batches"] == 0 and result["problems"][0].endswith("got " + shown), result
