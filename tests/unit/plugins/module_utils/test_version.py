# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import functools

import pytest

from ansible_collections.mdl.herd.plugins.module_utils._version import IncomparableVersion, comparable, compare, compare_strict, satisfies

# Each version ranks strictly below the next one.
ASCENDING = [
    "0.9.0",
    "0.10.0",
    "0.170.0",
    "0.176.0-alpha-1",
    "0.176.0-alpha-2",
    "0.176.0-beta",
    "0.176.0-m1",
    "0.176.0-rc1",
    "0.176.0-rc2",
    "0.176.0-SNAPSHOT",
    "0.176.0",
    "0.176.0-sp",
    "0.176.0-foo",
    "0.176.0-1",
    "0.176.0.1",
    "0.176.1",
    "0.177.0",
    "1.0.0",
    "2.0",
    "10.0",
]


@pytest.mark.parametrize("lower, higher", list(zip(ASCENDING, ASCENDING[1:])))
def test_versions_rank_the_maven_way(lower, higher):
    assert compare(lower, higher) == -1
    assert compare(higher, lower) == 1


def test_the_whole_list_sorts_into_order():
    shuffled = list(reversed(ASCENDING))
    assert sorted(shuffled, key=functools.cmp_to_key(compare)) == ASCENDING


@pytest.mark.parametrize(
    "left, right",
    [
        ("0.176", "0.176.0"),
        ("0.176.0", "0.176.0.0"),
        ("0.176.0-ga", "0.176.0"),
        ("0.176.0-final", "0.176.0"),
        ("0.176.0-release", "0.176.0"),
        ("0.176.0-SNAPSHOT", "0.176.0-snapshot"),
        ("1.0-cr1", "1.0-rc1"),
        ("1.0a1", "1.0-alpha-1"),
        ("1.0.0", " 1.0.0 "),
    ],
)
def test_spellings_of_the_same_version_are_equal(left, right):
    assert compare(left, right) == 0


def test_numbers_compare_as_numbers_not_text():
    assert compare("0.9.0", "0.10.0") == -1
    assert compare("0.100.0", "0.99.9") == 1


def test_a_snapshot_ranks_below_its_release_and_above_the_previous_release():
    assert compare("0.176.0-SNAPSHOT", "0.176.0") == -1
    assert compare("0.176.0-SNAPSHOT", "0.175.0") == 1


def test_a_letter_alone_is_only_a_short_qualifier_when_a_number_follows():
    # "a1" is alpha-1; "a" alone is an unknown word, ranked after the release.
    assert compare("1.0-a1", "1.0") == -1
    assert compare("1.0-a", "1.0") == 1


@pytest.mark.parametrize(
    "actual, expected, how, result",
    [
        ("0.176.0", "0.176.0", "equal", True),
        ("0.176", "0.176.0", "equal", True),
        ("0.177.0", "0.176.0", "equal", False),
        ("0.170.0", "0.176.0", "equal", False),
        ("0.177.0", "0.176.0", "at_least", True),
        ("0.176.0", "0.176.0", "at_least", True),
        ("0.10.0", "0.9.0", "at_least", True),
        ("0.176.0-SNAPSHOT", "0.176.0", "at_least", False),
        ("0.170.0", "0.176.0", "at_least", False),
    ],
)
def test_satisfies(actual, expected, how, result):
    assert satisfies(actual, expected, how) is result


def test_satisfies_refuses_an_unknown_comparison():
    with pytest.raises(ValueError, match="compare must be one of equal, at_least"):
        satisfies("1", "1", "greater")


# Build numbers HERD may report that are not versions: Maven would still rank them, by accident.
NOT_VERSIONS = ["garbage", "${buildNumber}", "0.176.0 (build 7)", "", " 0.176.0", "latest", "0.18 ", None, 0.18, 176]


@pytest.mark.parametrize("build_number", NOT_VERSIONS)
def test_a_build_number_that_is_not_a_version_cannot_be_compared(build_number):
    assert not comparable(build_number)
    for left, right in ((build_number, "0.176.0"), ("0.176.0", build_number)):
        with pytest.raises(IncomparableVersion, match="is not a HERD version") as refused:
            compare_strict(left, right)
        assert refused.value.version == build_number


@pytest.mark.parametrize("lower, higher", [("0.176.0-SNAPSHOT", "0.176.0"), ("0.170.0", "0.176.0"), ("0.9.0", "0.10.0")])
def test_versions_of_the_grammar_compare_strictly_as_maven_does(lower, higher):
    assert comparable(lower) and comparable(higher)
    assert compare_strict(lower, higher) == -1 and compare_strict(higher, lower) == 1
