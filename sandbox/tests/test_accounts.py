"""A stack in another AWS account (StackSpec.account_id): seeded there, reached with a role of that account."""

import boto3
import pytest

from mdl_sandbox import SpecError, StackSpec

OTHER = "210987654321"


def assumed_client(endpoints, service, region, account):
    sts = boto3.client("sts", endpoint_url=endpoints["aws_endpoint_url"], region_name=region,
                       aws_access_key_id=endpoints["aws_access_key_id"],
                       aws_secret_access_key=endpoints["aws_secret_access_key"])
    credentials = sts.assume_role(RoleArn="arn:aws:iam::{0}:role/operator".format(account),
                                  RoleSessionName="tests")["Credentials"]
    return boto3.client(service, endpoint_url=endpoints["aws_endpoint_url"], region_name=region,
                        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def test_a_stack_of_another_account_lives_there_only(make_stack, endpoints, aws, invoke, wait_terminal):
    entry = make_stack(account_id=OTHER)
    assert entry["aws_account_id"] == OTHER and entry["upgrade_function_arn"].split(":")[4] == OTHER
    name = "/app/MDL/{0}/{1}/HERD/CurrentVersion".format(entry["mdl_instance_name"], entry["mdl_environment"])
    there = assumed_client(endpoints, "ssm", entry["aws_region"], OTHER)
    assert there.get_parameter(Name=name)["Parameter"]["Value"] == entry["current_version"]
    with pytest.raises(aws("ssm").exceptions.ParameterNotFound):
        aws("ssm").get_parameter(Name=name)
    # its upgrade runs in its account: the Lambda, CodeDeploy and the bundle's SSM writes
    answer = assumed_client(endpoints, "lambda", entry["aws_region"], OTHER).invoke(
        FunctionName=entry["upgrade_function_name"], Payload=b'{"RequestedVersion": "0.176.0"}')
    assert "FunctionError" not in answer, answer["Payload"].read()
    deployment_id = there.get_parameter(Name=name.replace("CurrentVersion", "MostRecentDeploymentId"))["Parameter"]["Value"]
    codedeploy = assumed_client(endpoints, "codedeploy", entry["aws_region"], OTHER)
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["applicationName"] == entry["codedeploy_application"]


def test_account_id_must_be_twelve_digits():
    with pytest.raises(SpecError, match="account_id must be 12 digits"):
        StackSpec.from_dict({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "account_id": 210987654321})
