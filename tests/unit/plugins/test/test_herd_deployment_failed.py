# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test mdl.herd.herd_deployment_failed: whether the deployment a codedeploy_wait result followed did not succeed.
The role includes failed.yml on it, and the filter herd_upgrade_result keeps the run failed on it: one decision."""

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.test.herd_deployment_failed import TestModule as DeploymentTests

failed = DeploymentTests().tests()["herd_deployment_failed"]


@pytest.mark.parametrize("result", [
    {"status": "Failed", "timed_out": False},
    {"status": "Stopped", "timed_out": False},
    {"status": "InProgress", "timed_out": True},
    {"status": "", "timed_out": False},
    {"timed_out": False},  # the status could not be read
    {"failed": True, "msg": "AccessDenied"},  # the wait failed before it read the deployment
])
def test_a_deployment_that_failed_stopped_or_was_not_seen_to_end_did_not_succeed(result):
    assert failed(result) is True


@pytest.mark.parametrize("result", [
    {"status": "Succeeded", "timed_out": False},
    {"status": "Succeeded", "timed_out": True},
    {"status": "InProgress", "timed_out": False},  # check mode's one look at a deployment under way
    {"status": "Ready", "timed_out": False},
    {"skipped": True, "changed": False},
    None,
])
def test_a_deployment_that_succeeded_goes_on_or_was_not_followed_did_not_fail(result):
    assert failed(result) is False


def test_the_filter_keeps_the_run_failed_on_the_same_test():
    from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_result import ending

    invoke = {"already_served": False, "deployment_id": "d-ABCDEFGH1"}
    assert ending(invoke, {"status": "InProgress", "timed_out": True}) == "deployment_failed"
    assert ending(invoke, {"status": "InProgress", "timed_out": False}) == "followed"
