# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RollbackPlan's reads against moto's SSM and CodeDeploy: the CurrentVersion history (every page) and the record."""

from __future__ import annotations

import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _aws
from ansible_collections.mdl.herd.plugins.module_utils._rollback import RollbackError, RollbackPlan, rollback_target
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack

REGION = "us-east-1"
STACK = MdlStack("mdl", "DEV")


def client(service):
    return RetryingBotoClientWrapper(boto3.client(service, region_name=REGION), _aws.read_retry())


@mock_aws
def test_the_history_is_read_over_every_page_oldest_first():
    ssm = client("ssm")
    versions = ["0.{0}.0".format(170 + i) for i in range(60)]  # GetParameterHistory answers 50 at most per page
    for version in versions:
        ssm.put_parameter(Name=STACK.current_version_parameter, Value=version, Type="String", Overwrite=True)
    plan = RollbackPlan(STACK, ssm, client("codedeploy"))
    history = plan.history()
    assert [value for value, dummy in history] == versions
    assert rollback_target(history, versions[-1]) == (versions[-2], "previous")


@mock_aws
def test_no_history_and_no_record_when_the_parameters_do_not_exist():
    plan = RollbackPlan(STACK, client("ssm"), client("codedeploy"))
    assert plan.history() == []
    assert plan.record() is None


# --- plan(): the failed deployments of the group, the rules, the messages ----------------------------------


class FailedDeployments(object):
    """A CodeDeploy client that lists the group's Failed and Stopped deployments, with their times."""

    def __init__(self, deployments=(), active=None):
        self.deployments = list(deployments)  # deploymentInfo dicts
        self.active = active
        self.batches = []
        self.listed = []

    def get_deployment(self, deploymentId, aws_retry=False):  # pylint: disable=invalid-name
        assert aws_retry and deploymentId == self.active
        return {"deploymentInfo": {"deploymentId": deploymentId, "status": "InProgress"}}

    def list_deployments(self, **kwargs):
        # every listing reads its pages through _aws.paginate, the check for an active deployment included
        if kwargs["includeOnlyStatuses"] == ["Created", "Queued", "InProgress", "Baking", "Ready"]:
            return {"deployments": [self.active] if self.active else []}
        self.listed.append(kwargs)
        assert sorted(kwargs["includeOnlyStatuses"]) == ["Failed", "Stopped"]
        return {"deployments": [d["deploymentId"] for d in self.deployments]}

    def batch_get_deployments(self, deploymentIds, aws_retry=False):
        assert aws_retry and len(deploymentIds) <= 25
        self.batches.append(list(deploymentIds))
        return {"deploymentsInfo": [d for d in self.deployments if d["deploymentId"] in deploymentIds]}


T0 = datetime.datetime(2026, 12, 1, 9, 0, 0, tzinfo=datetime.timezone.utc)


class HistorySsm(object):
    """An SSM client whose HERD/CurrentVersion history holds ``values``, written a minute apart; no record."""

    def __init__(self, values, herd=None):
        self.herd = herd or {}  # HERD/RequestedVersion, HERD/DeploymentInvoked (and CurrentVersion: the last value)
        self.times = [T0 + datetime.timedelta(minutes=i) for i in range(len(values))]
        self.parameters = [{"Name": STACK.current_version_parameter, "Value": value, "Version": i + 1, "LastModifiedDate": time}
                           for i, (value, time) in enumerate(zip(values, self.times))]

    def get_parameter_history(self, **kwargs):
        return {"Parameters": list(self.parameters)}

    def get_parameter(self, Name, aws_retry=False):
        raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": "no " + Name}}, "GetParameter")

    def get_parameters(self, Names, aws_retry=False):
        assert aws_retry
        values = dict(("{0}/{1}".format("/app/MDL/mdl/DEV", name), value) for name, value in self.herd.items())
        if self.parameters:
            values[STACK.current_version_parameter] = self.parameters[-1]["Value"]
        return {"Parameters": [{"Name": name, "Value": values[name]} for name in Names if name in values]}


def during(time):
    """A deployment that failed around ``time`` (its smoke test wrote the entry of that time)."""
    return {"createTime": time - datetime.timedelta(seconds=20), "completeTime": time + datetime.timedelta(seconds=20)}


def test_the_issue_scenario_plans_nothing_and_says_so():
    ssm = HistorySsm(["0.170.0", "0.176.0", "0.170.0", "0.177.0"])
    failed = dict(during(ssm.times[3]), deploymentId="d-FAILED0001", status="Failed")
    codedeploy = FailedDeployments([failed])
    result = RollbackPlan(STACK, ssm, codedeploy).plan("0.170.0")
    assert result["rollback_needed"] is False and result["target_version"] == "0.170.0"
    assert result["reason"] == "follows_newer" and result["previous_version"] == "0.176.0"
    message = result["message"]
    assert message.startswith("Stack mdl/DEV serves HERD 0.170.0, which came after 0.176.0")
    assert "0.170.0, 0.176.0, 0.170.0, 0.177.0 (failed)" in message
    assert "running this again changes nothing" in message and "-e herd_version=X" in message
    assert codedeploy.batches == [["d-FAILED0001"]]


def test_a_failed_upgrade_between_two_good_ones_is_skipped():
    ssm = HistorySsm(["0.170.0", "0.176.0", "0.177.0"])
    failed = dict(during(ssm.times[1]), deploymentId="d-FAILED0001", status="Failed")
    result = RollbackPlan(STACK, ssm, FailedDeployments([failed])).plan("0.177.0")
    assert (result["target_version"], result["reason"], result["rollback_needed"]) == ("0.170.0", "previous", True)


def test_the_failed_deployments_are_read_in_batches_of_25():
    ssm = HistorySsm(["0.170.0", "0.176.0"])
    failed = [dict(during(ssm.times[0]), deploymentId="d-FAILED{0:04d}".format(i), status="Stopped") for i in range(60)]
    codedeploy = FailedDeployments(failed)
    with pytest.raises(RollbackError, match="does not record a version before it"):
        RollbackPlan(STACK, ssm, codedeploy).plan("0.176.0")  # 0.170.0 was written during a failed deployment
    assert [len(batch) for batch in codedeploy.batches] == [25, 25, 10]


def test_only_the_served_version_in_the_history_reads_no_deployments():
    ssm = HistorySsm(["0.170.0"])
    codedeploy = FailedDeployments()
    with pytest.raises(RollbackError) as refused:
        RollbackPlan(STACK, ssm, codedeploy).plan("0.170.0")
    assert "Stack mdl/DEV serves HERD 0.170.0" in refused.value.msg and "nothing was changed" in refused.value.msg
    assert codedeploy.listed == [] and codedeploy.batches == []


def test_a_requested_version_newer_than_the_served_one_is_refused():
    ssm = HistorySsm(["0.170.0", "0.176.0"])
    with pytest.raises(RollbackError) as refused:
        RollbackPlan(STACK, ssm, FailedDeployments()).plan("0.170.0", requested_version="0.176.0")
    assert "Stack mdl/DEV serves HERD 0.170.0, and 0.176.0 is newer: a rollback never goes to a newer version" in refused.value.msg
    assert "running this again refuses again" in refused.value.msg
    # older, or a served build number that is not a version (the rollback's confirmation allows any direction): planned
    assert RollbackPlan(STACK, ssm, FailedDeployments()).plan("0.176.0", requested_version="0.170.0")["rollback_needed"]
    assert RollbackPlan(STACK, ssm, FailedDeployments()).plan("garbage", requested_version="0.176.0")["rollback_needed"]


def test_a_served_build_number_that_is_not_a_version_asks_for_the_version():
    ssm = HistorySsm(["0.170.0", "0.176.0"])
    with pytest.raises(RollbackError) as refused:
        RollbackPlan(STACK, ssm, FailedDeployments()).plan("${buildNumber}")
    assert "serves HERD ${buildNumber}, and that build number is not a HERD version" in refused.value.msg
    assert "-e herd_version=X" in refused.value.msg


# --- a rollback under way (a run cut short, run again) is joined; any other deployment under way is refused -------

BEFORE_SMOKE_TEST = {"HERD/RequestedVersion": "0.170.0", "HERD/DeploymentInvoked": "true"}
AFTER_SMOKE_TEST = {"HERD/RequestedVersion": "FilledLater", "HERD/DeploymentInvoked": "false"}


def test_a_rollback_under_way_before_its_smoke_test_is_joined():
    ssm = HistorySsm(["0.170.0", "0.176.0"], herd=BEFORE_SMOKE_TEST)
    result = RollbackPlan(STACK, ssm, FailedDeployments(active="d-ROLLBACK1")).plan("0.176.0")
    assert (result["reason"], result["target_version"], result["from_version"], result["active_deployment_id"]) == (
        "under_way", "0.170.0", "0.176.0", "d-ROLLBACK1")
    assert result["rollback_needed"] is True


def test_a_rollback_under_way_after_its_traffic_switch_is_joined_from_the_newer_version():
    ssm = HistorySsm(["0.170.0", "0.176.0", "0.170.0"], herd=AFTER_SMOKE_TEST)
    result = RollbackPlan(STACK, ssm, FailedDeployments(active="d-ROLLBACK1")).plan("0.170.0")
    assert (result["reason"], result["target_version"], result["from_version"]) == ("under_way", "0.170.0", "0.176.0")


@pytest.mark.parametrize("values, herd, served, requested", [
    (["0.170.0"], {"HERD/RequestedVersion": "0.176.0", "HERD/DeploymentInvoked": "true"}, "0.170.0", None),  # an upgrade
    (["0.170.0", "0.176.0"], AFTER_SMOKE_TEST, "0.170.0", None),  # an upgrade past its smoke test, not switched yet
    (["0.160.0", "0.170.0"], AFTER_SMOKE_TEST, "0.170.0", None),  # an upgrade switched to what it serves now
    (["0.170.0", "0.176.0"], BEFORE_SMOKE_TEST, "0.176.0", "0.160.0"),  # a rollback to another version than asked
    (["0.170.0", "0.176.0"], {"HERD/RequestedVersion": "garbage", "HERD/DeploymentInvoked": "true"}, "0.176.0", None),
])
def test_any_other_deployment_under_way_is_refused_naming_it(values, herd, served, requested):
    ssm = HistorySsm(values, herd=herd)
    with pytest.raises(RollbackError) as refused:
        RollbackPlan(STACK, ssm, FailedDeployments(active="d-UPGRADE01")).plan(served, requested_version=requested)
    assert "Stack mdl/DEV has deployment d-UPGRADE01 under way" in refused.value.msg


class NoGroup(FailedDeployments):
    """CodeDeploy without the stack's deployment group (another region, a typo)."""

    def list_deployments(self, **kwargs):
        raise ClientError({"Error": {"Code": "DeploymentGroupDoesNotExistException", "Message": "No group found"}},
                          "ListDeployments")


def test_a_missing_deployment_group_is_named_with_what_to_check():
    plan = RollbackPlan(STACK, None, RetryingBotoClientWrapper(NoGroup(), _aws.read_retry()))
    with pytest.raises(RollbackError) as refused:
        plan.plan("0.176.0")
    assert "The CodeDeploy group {0} (application {1}) of stack {2} does not exist".format(
        STACK.deployment_group, STACK.codedeploy_application, STACK) in str(refused.value)
    assert "mdl_instance_name, mdl_environment and the region" in str(refused.value)
