# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _aws
from ansible_collections.mdl.herd.plugins.module_utils._discovery import (
    DiscoveryError,
    active_deployment,
    describe_all_stacks,
    find_herd_stack,
    read_credentials,
    select_herd_stack,
    upgrade_request,
)
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack

REGION = "us-east-1"
MDL = MdlStack("mdl", "DEV")


def stack(name, instance="mdl", environment="DEV", url=None, parent=None, status="CREATE_COMPLETE", extra_parameters=()):
    entry = {
        "StackName": name,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/{0}/1".format(name),
        "StackStatus": status,
        "Parameters": [
            {"ParameterKey": "MDLInstanceName", "ParameterValue": instance},
            {"ParameterKey": "Environment", "ParameterValue": environment},
        ]
        + [{"ParameterKey": k, "ParameterValue": v} for k, v in extra_parameters],
        "Outputs": [{"OutputKey": "Other", "OutputValue": "x"}],
    }
    if url is not None:
        entry["Outputs"].append({"OutputKey": "HerdLoadBalancerURL", "OutputValue": url})
    if parent is not None:
        entry["ParentId"] = "arn:aws:cloudformation:us-east-1:123456789012:stack/{0}/1".format(parent)
        entry["RootId"] = entry["ParentId"]
    return entry


class PagedCloudFormation(object):
    """describe_stacks in pages, as CloudFormation answers accounts with many stacks."""

    def __init__(self, pages, throttle=()):
        self.pages = pages
        self.throttle = list(throttle)  # page numbers answered once with Throttling
        self.calls = []

    def describe_stacks(self, **kwargs):
        self.calls.append(kwargs)
        index = int(kwargs.get("NextToken", "0"))
        if index in self.throttle:
            self.throttle.remove(index)
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeStacks")
        page = {"Stacks": self.pages[index]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page


def test_every_page_is_read_with_retries():
    cloudformation = PagedCloudFormation([[stack("a")], [stack("b")], [stack("c", url="https://herd")]], throttle=[1])
    assert [s["StackName"] for s in describe_all_stacks(cloudformation)] == ["a", "b", "c"]
    # the throttled page is read again, and only it: the pages before it are kept
    assert cloudformation.calls == [{}, {"NextToken": "1"}, {"NextToken": "1"}, {"NextToken": "2"}]


def test_the_herd_stack_is_found_on_a_later_page():
    cloudformation = PagedCloudFormation([[stack("other", instance="x")], [stack("mdl-Herd", url=" https://herd.dev ", parent="mdl")]])
    found = find_herd_stack(cloudformation, MDL)
    assert (found.name, found.url) == ("mdl-Herd", "https://herd.dev")


def test_the_nested_stack_wins_over_a_parent_that_repeats_the_output():
    stacks = [
        stack("mdl", url="https://herd.dev"),
        stack("mdl-Metastor", parent="mdl"),
        stack("mdl-Herd", url="https://herd.dev/", parent="mdl"),
    ]
    assert select_herd_stack(stacks, MDL).name == "mdl-Herd"


def test_a_parent_alone_is_used():
    assert select_herd_stack([stack("mdl", url="https://herd.dev")], MDL).name == "mdl"


def test_other_stacks_and_deleted_ones_are_ignored():
    stacks = [
        stack("qa", environment="QA", url="https://herd.qa"),
        stack("other", instance="mdl2", url="https://herd.mdl2"),
        stack("gone", url="https://herd.old", status="DELETE_COMPLETE"),
        stack("mdl-Herd", url="https://herd.dev", parent="mdl"),
    ]
    assert select_herd_stack(stacks, MDL).url == "https://herd.dev"


def test_none_fails_naming_the_parameters_and_what_to_check():
    with pytest.raises(DiscoveryError) as caught:
        select_herd_stack([stack("qa", environment="QA", url="https://herd.qa")], MDL)
    assert str(caught.value) == (
        "No CloudFormation stack in this region has the parameters Environment=DEV, MDLInstanceName=mdl: "
        "check mdl_instance_name, mdl_environment and the region, or give url"
    )


def test_stacks_without_the_output_are_named():
    with pytest.raises(DiscoveryError, match=r"None of the CloudFormation stacks .* has the output HerdLoadBalancerURL \(found: mdl, mdl-Herd\)"):
        select_herd_stack([stack("mdl"), stack("mdl-Herd", parent="mdl")], MDL)


def test_several_fail_naming_the_candidates_and_their_urls():
    stacks = [stack("mdl-Herd-a", url="https://a", parent="mdl"), stack("mdl-Herd-b", url="https://b", parent="mdl")]
    with pytest.raises(DiscoveryError) as caught:
        select_herd_stack(stacks, MDL)
    assert str(caught.value) == (
        "Several CloudFormation stacks have the parameters Environment=DEV, MDLInstanceName=mdl and the output "
        "HerdLoadBalancerURL: mdl-Herd-a (https://a), mdl-Herd-b (https://b). Give url to say which HERD to read"
    )


TEMPLATE = json.dumps(
    {
        "Parameters": {"MDLInstanceName": {"Type": "String"}, "Environment": {"Type": "String"}},
        "Resources": {
            "Marker": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": {"Fn::Sub": "/test/${AWS::StackName}"}, "Type": "String", "Value": "herd"}}
        },
        "Outputs": {"HerdLoadBalancerURL": {"Value": {"Fn::Sub": "https://herd-${MDLInstanceName}-${Environment}.example.com"}}},
    }
)


def retrying(service):
    return RetryingBotoClientWrapper(boto3.client(service, region_name=REGION), _aws.read_retry())


@mock_aws
def test_discovery_through_cloudformation():
    cloudformation = retrying("cloudformation")
    for instance, environment in (("mdl", "DEV"), ("mdl", "QA")):
        cloudformation.create_stack(
            StackName="{0}-{1}-Herd".format(instance, environment),
            TemplateBody=TEMPLATE,
            Parameters=[
                {"ParameterKey": "MDLInstanceName", "ParameterValue": instance},
                {"ParameterKey": "Environment", "ParameterValue": environment},
            ],
        )
    found = find_herd_stack(cloudformation, MDL)
    assert (found.name, found.url) == ("mdl-DEV-Herd", "https://herd-mdl-DEV.example.com")


@mock_aws
def test_credentials_come_from_ssm_decrypted():
    ssm = retrying("ssm")
    ssm.put_parameter(Name=MDL.admin_username_parameter, Value="herd-admin", Type="String")
    ssm.put_parameter(Name=MDL.admin_password_parameter, Value="pa55-word", Type="SecureString")
    credentials = read_credentials(ssm, MDL)
    assert (credentials.username, credentials.password) == ("herd-admin", "pa55-word")
    assert "pa55-word" not in repr(credentials)


@mock_aws
def test_a_missing_credential_parameter_is_named():
    ssm = retrying("ssm")
    with pytest.raises(DiscoveryError, match="The SSM parameter /app/MDL/mdl/DEV/LDAP/User/HerdAdminUsername .* does not exist"):
        read_credentials(ssm, MDL)
    ssm.put_parameter(Name=MDL.admin_username_parameter, Value="herd-admin", Type="String")
    with pytest.raises(DiscoveryError, match="The SSM parameter /app/MDL/mdl/DEV/LDAP/Password/HerdAdminPassword .* does not exist"):
        read_credentials(ssm, MDL)


# --- what the next HERD instance installs -----------------------------------------------------------
@mock_aws
def test_the_upgrade_request_after_the_lambda_asked_for_a_version():
    ssm = retrying("ssm")
    for name, value in (("HERD/DeploymentInvoked", "true"), ("HERD/RequestedVersion", "0.176.0"), ("HERD/CurrentVersion", "0.170.0")):
        ssm.put_parameter(Name=MDL.parameter(name), Value=value, Type="String")
    assert upgrade_request(ssm, MDL) == {"deployment_invoked": True, "requested_version": "0.176.0", "current_version": "0.170.0"}


@mock_aws
def test_the_upgrade_request_once_the_smoke_test_reset_it():
    ssm = retrying("ssm")
    for name, value in (("HERD/DeploymentInvoked", "false"), ("HERD/RequestedVersion", "FilledLater"), ("HERD/CurrentVersion", "0.176.0")):
        ssm.put_parameter(Name=MDL.parameter(name), Value=value, Type="String")
    assert upgrade_request(ssm, MDL) == {"deployment_invoked": False, "requested_version": None, "current_version": "0.176.0"}


@mock_aws
def test_the_upgrade_request_of_a_stack_without_the_parameters():
    assert upgrade_request(retrying("ssm"), MDL) == {"deployment_invoked": None, "requested_version": None, "current_version": None}


# --- the deployment under way ---------------------------------------------------------------------
class FakeCodeDeploy(object):
    """ListDeployments in pages (the statuses asked for recorded), GetDeployment from a dict."""

    def __init__(self, pages, deployments=None, missing_group=False):
        self.pages = pages
        self.deployments = deployments or {}
        self.missing_group = missing_group
        self.calls = []

    def list_deployments(self, **kwargs):
        self.calls.append(("list_deployments", kwargs))
        if self.missing_group:
            raise ClientError({"Error": {"Code": "DeploymentGroupDoesNotExistException", "Message": "No group"}}, "ListDeployments")
        index = int(kwargs.get("nextToken", "0"))
        page = {"deployments": self.pages[index]}
        if index + 1 < len(self.pages):
            page["nextToken"] = str(index + 1)
        return page

    def get_deployment(self, deploymentId, aws_retry=False):
        self.calls.append(("get_deployment", deploymentId))
        return {"deploymentInfo": self.deployments[deploymentId]}


def created(minute):
    return datetime.datetime(2026, 12, 1, 14, minute, 7, tzinfo=datetime.timezone.utc)


def test_no_deployment_under_way_costs_one_list_call():
    codedeploy = FakeCodeDeploy([[]])
    assert active_deployment(codedeploy, MDL) is None
    assert codedeploy.calls == [("list_deployments", {
        "applicationName": MDL.codedeploy_application, "deploymentGroupName": MDL.deployment_group,
        "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"]})]


def test_the_newest_deployment_under_way_is_reported_across_pages():
    codedeploy = FakeCodeDeploy([["d-OLD000001"], ["d-NEW000002"]], {
        "d-OLD000001": {"deploymentId": "d-OLD000001", "status": "Ready", "createTime": created(1)},
        "d-NEW000002": {"deploymentId": "d-NEW000002", "status": "InProgress", "createTime": created(3)},
    })
    assert active_deployment(codedeploy, MDL) == {"deployment_id": "d-NEW000002", "status": "InProgress",
                                                  "create_time": "2026-12-01T14:03:07.000+00:00"}


def test_a_missing_deployment_group_says_what_to_check():
    with pytest.raises(DiscoveryError, match="The CodeDeploy deployment group .* of stack mdl/DEV does not exist: check mdl_instance_name"):
        active_deployment(FakeCodeDeploy([[]], missing_group=True), MDL)
