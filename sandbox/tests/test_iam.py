"""The sandbox's IAM: action names as IAM spells them, the resource each call touches, Allow and Deny with
wildcards, an AccessDenied shaped like each service's, and the record of what every key used."""

import json
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mdl_sandbox.iam import Authorizer, Policy, PolicyError, action_of, fill, resources_of, stack_values
from mdl_sandbox.wire import AwsCall

ACCOUNT = "123456789012"
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def call(service, operation, **params):
    return AwsCall(service, operation, "us-east-1", params, False, "AKIATEST")


def no_deployment(deployment_id):
    return ("app-Herd", "app-HerdDeployGroup") if deployment_id == "d-KNOWN0000" else None


@pytest.mark.parametrize("service, operation, action", [
    ("lambda", "Invoke", "lambda:InvokeFunction"),
    ("lambda", "GetFunctionConfiguration", "lambda:GetFunctionConfiguration"),
    ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "ListObjectsV2", "s3:ListBucket"),
    ("ssm", "GetParametersByPath", "ssm:GetParametersByPath"),
    ("codedeploy", "GetDeployment", "codedeploy:GetDeployment"),
])
def test_actions_are_named_as_iam_names_them(service, operation, action):
    assert action_of(call(service, operation)) == action


@pytest.mark.parametrize("made, resources", [
    (call("ssm", "GetParameter", Name="/app/MDL/a/DEV/HERD/UpgradeLock"),
     ["arn:aws:ssm:us-east-1:123456789012:parameter/app/MDL/a/DEV/HERD/UpgradeLock"]),
    (call("ssm", "GetParametersByPath", Path="/app/MDL/a/DEV/"), ["arn:aws:ssm:us-east-1:123456789012:parameter/app/MDL/a/DEV"]),
    (call("ssm", "GetParameters", Names=["/x", "/y"]),
     ["arn:aws:ssm:us-east-1:123456789012:parameter/x", "arn:aws:ssm:us-east-1:123456789012:parameter/y"]),
    (call("ssm", "DescribeParameters"), ["*"]),
    (call("codedeploy", "GetDeployment", deploymentId="d-KNOWN0000"),
     ["arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:app-Herd/app-HerdDeployGroup"]),
    (call("codedeploy", "GetDeployment", deploymentId="d-UNKNOWN00"),
     ["arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*/*"]),
    (call("codedeploy", "ListDeployments", applicationName="app-Herd", deploymentGroupName="app-HerdDeployGroup"),
     ["arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:app-Herd/app-HerdDeployGroup"]),
    (call("codedeploy", "GetApplication", applicationName="app-Herd"),
     ["arn:aws:codedeploy:us-east-1:123456789012:application:app-Herd"]),
    (call("lambda", "Invoke", FunctionName="arn:aws:lambda:us-east-1:123456789012:function:f:live"),
     ["arn:aws:lambda:us-east-1:123456789012:function:f"]),
    (call("cloudformation", "DescribeStacks"), ["*"]),
    (call("cloudformation", "DescribeStacks", StackName="MDL-a-DEV"),
     ["arn:aws:cloudformation:us-east-1:123456789012:stack/MDL-a-DEV/*"]),
    (call("s3", "HeadObject", Bucket="b", Key="1.5.0/herd/herd.zip"), ["arn:aws:s3:::b/1.5.0/herd/herd.zip"]),
    (call("s3", "ListObjectsV2", Bucket="b"), ["arn:aws:s3:::b"]),
    (call("sts", "AssumeRole", RoleArn="arn:aws:iam::210987654321:role/herd-upgrader"),
     ["arn:aws:iam::210987654321:role/herd-upgrader"]),
])
def test_each_call_names_the_resources_it_touches(made, resources):
    assert resources_of(made, ACCOUNT, no_deployment) == resources


def test_allow_with_wildcards_explicit_deny_wins_and_the_rest_is_denied():
    authorizer = Authorizer(ACCOUNT)
    authorizer.restrict("AKIATEST", [{"Statement": [
        {"Effect": "Allow", "Action": "SSM:Get*", "Resource": "arn:aws:ssm:*:*:parameter/app/MDL/a/DEV/*"},
        {"Effect": "Deny", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:*:*:parameter/app/MDL/a/DEV/LDAP/*"},
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": "arn:aws:lambda:us-east-1:????????????:function:f"},
    ]}])
    ssm = "arn:aws:ssm:us-east-1:123456789012:parameter/app/MDL/a/DEV/"
    assert authorizer.decide("AKIATEST", "ssm:GetParameter", [ssm + "HERD/x"]).allowed
    assert authorizer.decide("AKIATEST", "ssm:GetParameters", [ssm + "HERD/x", ssm + "HERD/y"]).allowed
    denied = authorizer.decide("AKIATEST", "ssm:GetParameter", [ssm + "LDAP/User/u"])
    assert not denied.allowed and denied.explicit
    assert "explicit deny" in denied.message(ACCOUNT)
    other = "arn:aws:ssm:us-east-1:123456789012:parameter/app/MDL/b/DEV/HERD/x"
    refused = authorizer.decide("AKIATEST", "ssm:GetParameters", [ssm + "HERD/x", other])
    assert (refused.allowed, refused.resource, refused.explicit) == (False, other, False)
    assert refused.message(ACCOUNT).endswith("is not authorized to perform: ssm:GetParameters on resource: {0} "
                                             "because no identity-based policy allows the ssm:GetParameters action".format(other))
    assert authorizer.decide("AKIATEST", "lambda:InvokeFunction", ["arn:aws:lambda:us-east-1:123456789012:function:f"]).allowed
    assert not authorizer.decide("AKIATEST", "lambda:InvokeFunction", ["arn:aws:lambda:us-east-1:123456789012:function:g"]).allowed
    assert authorizer.decide("AKIATEST", "sts:GetCallerIdentity", ["*"]).allowed
    # another key is unrestricted; every key's calls are recorded
    assert authorizer.decide("AKIAOTHER", "lambda:DeleteFunction", ["*"]).allowed
    assert ("lambda:DeleteFunction", "*") in authorizer.used("AKIAOTHER")
    assert authorizer.denied("AKIATEST") == {("ssm:GetParameter", ssm + "LDAP/User/u"): 1, ("ssm:GetParameters", other): 1,
                                             ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:g"): 1}


@pytest.mark.parametrize("statement, says", [
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {}}, "Condition"),
    ({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}, "NotAction"),
    ({"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}, "Effect"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{staging_bucket}/*"}, "fill the placeholders"),
])
def test_a_policy_the_sandbox_cannot_judge_is_refused_when_loaded(statement, says):
    with pytest.raises(PolicyError, match=says):
        Policy({"Statement": [statement]})


def test_principals_come_from_the_environment(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}))
    authorizer = Authorizer.from_environment(ACCOUNT, {"MDL_SANDBOX_POLICIES": "AKIAONE={0}; AKIATWO={0},{0}".format(path)})
    assert authorizer.restricted("AKIAONE") and authorizer.restricted("AKIATWO") and not authorizer.restricted("testing")
    with pytest.raises(PolicyError, match="MDL_SANDBOX_POLICIES: expected KEYID=policy.json"):
        Authorizer.from_environment(ACCOUNT, {"MDL_SANDBOX_POLICIES": str(path)})


def test_the_shipped_policies_fill_in_for_a_fleet():
    document = json.loads((POLICIES / "upgrade.json").read_text())
    stacks = [{"region": "us-east-1", "account": ACCOUNT, "instance": name, "environment": "PROD",
               "staging_bucket": "{0}-{1}-staging-prod".format(ACCOUNT, name)} for name in ("a", "b")]
    filled = fill(document, stacks)
    invoke = next(s for s in filled["Statement"] if s["Sid"] == "InvokeTheUpgradeLambda")
    assert invoke["Resource"] == ["arn:aws:lambda:us-east-1:{0}:function:{1}-Herd-PROD-UPGRADE-HERD-LAMBDA-FUNCTION".format(
        ACCOUNT, name) for name in ("a", "b")]
    assert next(s for s in filled["Statement"] if "OnlyResourceStar" in s["Sid"])["Resource"] == ["*"]
    Policy(filled)  # every placeholder filled
    assert "{instance}" in json.dumps(document)  # the shipped document is left as it was


def test_a_restricted_key_is_refused_as_each_service_refuses_and_the_default_key_is_not(sandbox, endpoints, aws, make_stack):
    entry = make_stack()
    key = "AKIASANDBOXIAMTEST"
    document = json.loads((POLICIES / "plan.json").read_text())
    sandbox.iam.restrict(key, [fill(document, [stack_values(entry, sandbox.account_id)])])
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key="x", region_name=entry["aws_region"])

    def client(service):
        return session.client(service, endpoint_url=endpoints["aws_endpoint_url"],
                              config=Config(retries={"total_max_attempts": 1}))

    prefix = "/app/MDL/{0}/{1}/".format(entry["mdl_instance_name"], entry["mdl_environment"])
    client("ssm").get_parameter(Name=prefix + "HERD/RequestedVersion")  # granted
    refusals = {
        "ssm": lambda: client("ssm").put_parameter(Name=prefix + "HERD/RequestedVersion", Value="x", Overwrite=True),
        "lambda": lambda: client("lambda").invoke(FunctionName=entry["upgrade_function_name"], Payload=b"{}"),
        "codedeploy": lambda: client("codedeploy").stop_deployment(deploymentId="d-AAAAAAAAA"),
        "cloudformation": lambda: client("cloudformation").delete_stack(StackName="x"),
        "s3": lambda: client("s3").get_object(Bucket=entry["staging_bucket"], Key="other"),
    }
    codes = {}
    for service, refused in refusals.items():
        with pytest.raises(ClientError) as raised:
            refused()
        codes[service] = raised.value.response["Error"]["Code"]
        assert "is not authorized to perform: " in raised.value.response["Error"]["Message"]
    assert codes == {"ssm": "AccessDeniedException", "lambda": "AccessDeniedException",
                     "codedeploy": "AccessDeniedException", "cloudformation": "AccessDenied", "s3": "AccessDenied"}
    with pytest.raises(ClientError) as raised:  # HEAD: the status alone
        client("s3").head_object(Bucket=entry["staging_bucket"], Key="other")
    assert raised.value.response["Error"]["Code"] == "403"
    invoke_arn = "arn:aws:lambda:{0}:{1}:function:{2}".format(entry["aws_region"], sandbox.account_id,
                                                              entry["upgrade_function_name"])
    assert ("lambda:InvokeFunction", invoke_arn) in sandbox.iam.denied(key)
    assert ("ssm:GetParameter", "arn:aws:ssm:{0}:{1}:parameter{2}HERD/RequestedVersion".format(
        entry["aws_region"], sandbox.account_id, prefix)) in sandbox.iam.used(key)
    # nothing changed: the put was refused before moto saw it
    assert aws("ssm", entry["aws_region"]).get_parameter(Name=prefix + "HERD/RequestedVersion")["Parameter"]["Value"] != "x"
    # the default key is unrestricted
    aws("ssm", entry["aws_region"]).put_parameter(Name=prefix + "HERD/Unrelated", Value="x", Type="String", Overwrite=True)
