# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test mdl.herd.herd_deployment_to_follow: did the invoke start or join a deployment this run follows.

The role follows the deployment on it, and the filter herd_upgrade_result reads what that follow registered on it: one
decision."""

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.test import herd_deployment_to_follow as plugin
from ansible_collections.mdl.herd.plugins.test.herd_deployment_to_follow import herd_deployment_to_follow

STARTED = {"changed": True, "already_served": False, "deployment_id": "d-ABCDEFGH1", "attached": False}


@pytest.mark.parametrize("result, expected", [
    (STARTED, True),
    (dict(STARTED, changed=False, attached=True), True),  # joined
    (dict(STARTED, already_served=True), True),  # joined late: HERD already serves it, the originals still go
    ({"changed": False, "already_served": True, "served": {"build_number": "0.176.0"}}, False),  # nothing to do
    ({"changed": False, "already_served": False, "deployment_id": None}, False),  # check mode, nothing joined
    ({"changed": False, "already_served": False, "deployment_id": ""}, False),
    ({"failed": True, "msg": "The Lambda failed", "deployment_id": "d-ABCDEFGH1"}, False),  # a failed invoke
    ({"skipped": True, "changed": False}, False),  # bad input
    (dict(STARTED, skipped=True), False),
    ({}, False),
    (None, False),
    ("d-ABCDEFGH1", False),
])
def test_only_an_invoke_that_started_or_joined_a_deployment_has_one_to_follow(result, expected):
    assert herd_deployment_to_follow(result) is expected


def test_the_test_is_published_under_its_name():
    assert plugin.TestModule().tests() == {"herd_deployment_to_follow": herd_deployment_to_follow}


def test_the_result_filter_reads_the_follow_on_the_same_test(monkeypatch):
    from ansible_collections.mdl.herd.plugins.filter import herd_upgrade_result as module

    followed = {"status": "Succeeded", "duration_seconds": 60, "zero_downtime": {"requests": 3}}
    run = {"stack": "mdl/DEV", "version": "0.176.0", "invoke": STARTED, "deployment": followed,
           "after": {"build_number": "0.176.0", "matches": True}, "role_words": []}
    assert module.herd_upgrade_result(run)["outcome"] == "upgraded"
    monkeypatch.setattr(module, "herd_deployment_to_follow", lambda result: False)
    assert module.herd_upgrade_result(run)["outcome"] == "would_upgrade"
