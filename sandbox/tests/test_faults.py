"""Each fault a stack can carry, seen through plain boto3 and HTTP calls."""

import json

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from conftest import wait_for


def green_target(aws, deployment_id):
    codedeploy = aws("codedeploy")
    ids = [i for page in codedeploy.get_paginator("list_deployment_targets").paginate(deploymentId=deployment_id)
           for i in page["targetIds"]]
    found = codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)["deploymentTargets"]
    return [t["instanceTarget"] for t in found if t["instanceTarget"]["instanceLabel"] == "Green"][0]


def upgrade(entry, invoke, most_recent_id, version="0.176.0"):
    answer = invoke(entry, {"RequestedVersion": version})
    assert "FunctionError" not in answer, answer["Payload"].read()
    return most_recent_id(entry)


def test_fail_at_validate_service_rolls_back(make_stack, invoke, most_recent_id, wait_terminal, aws, build_number):
    entry = make_stack(faults={"fail_at_event": "ValidateService"})
    deployment_id = upgrade(entry, invoke, most_recent_id)
    failed = wait_terminal(entry, deployment_id)
    assert failed["status"] == "Failed"
    assert failed["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    assert failed["errorInformation"]["message"]
    assert failed["deploymentOverview"]["Failed"] == 1
    green = green_target(aws, deployment_id)
    events = {e["lifecycleEventName"]: e for e in green["lifecycleEvents"]}
    assert green["status"] == "Failed"
    assert events["ApplicationStart"]["status"] == "Succeeded"
    assert events["ValidateService"]["status"] == "Failed"
    diagnostics = events["ValidateService"]["diagnostics"]
    assert diagnostics["errorCode"] == "ScriptFailed"
    assert diagnostics["scriptName"] == "scripts/smokeTestHerd.sh"
    assert "failed with exit code 1" in diagnostics["message"]
    assert len(diagnostics["logTail"].splitlines()) >= 3
    assert events["AllowTraffic"]["status"] == "Skipped"

    rollback_id = failed["rollbackInfo"]["rollbackDeploymentId"]
    assert failed["rollbackInfo"]["rollbackMessage"]
    rollback = wait_terminal(entry, rollback_id)
    assert rollback["status"] == "Succeeded"
    assert rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == deployment_id
    assert rollback["createTime"] == failed["completeTime"]
    assert build_number(entry) == "0.170.0"


def test_failure_after_the_switch_reverts_herd(make_stack, invoke, most_recent_id, wait_terminal, build_number):
    entry = make_stack(faults={"fail_at_event": "AfterAllowTraffic"})
    deployment_id = upgrade(entry, invoke, most_recent_id)
    wait_for(lambda: build_number(entry) == "0.176.0", what="traffic on 0.176.0")
    failed = wait_terminal(entry, deployment_id)
    assert failed["status"] == "Failed"
    rollback = wait_terminal(entry, failed["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    assert build_number(entry) == "0.170.0"


def test_unpublished_version_fails_at_application_start(make_stack, invoke, most_recent_id, wait_terminal, aws):
    entry = make_stack(faults={"unpublished_versions": ["9.9.9"]})
    deployment_id = upgrade(entry, invoke, most_recent_id, version="9.9.9")
    failed = wait_terminal(entry, deployment_id)
    events = {e["lifecycleEventName"]: e for e in green_target(aws, deployment_id)["lifecycleEvents"]}
    assert events["ApplicationStart"]["status"] == "Failed"
    assert "herd-war-9.9.9.war" in events["ApplicationStart"]["diagnostics"]["logTail"]
    wait_terminal(entry, failed["rollbackInfo"]["rollbackDeploymentId"])
    good = wait_terminal(entry, upgrade(entry, invoke, most_recent_id, version="0.176.0"))
    assert good["status"] == "Succeeded"


def test_throttle_answers_throttling_errors_then_passes(make_stack, invoke, most_recent_id, aws):
    entry = make_stack(deployment_seconds=30, faults={"throttle": {
        "codedeploy:GetDeployment": 2, "cloudformation:DescribeStacks": 1, "lambda:Invoke": 1}})
    other = make_stack()
    # lambda:Invoke is refused once, the way Lambda refuses: TooManyRequestsException (429).
    with pytest.raises(ClientError) as error:
        invoke(entry, {"RequestedVersion": "0.176.0"})
    assert error.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    deployment_id = upgrade(entry, invoke, most_recent_id)  # the second invoke passes
    codedeploy = aws("codedeploy")
    for _ in range(2):
        with pytest.raises(ClientError) as error:
            codedeploy.get_deployment(deploymentId=deployment_id)
        assert error.value.response["Error"]["Code"] == "ThrottlingException"
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["deploymentId"] == deployment_id
    with pytest.raises(ClientError) as error:
        aws("cloudformation").describe_stacks(StackName=entry["cloudformation_stack_name"])
    assert error.value.response["Error"]["Code"] == "Throttling"
    assert aws("cloudformation").describe_stacks(StackName=entry["cloudformation_stack_name"])["Stacks"]
    # Calls about another stack are not throttled.
    aws("cloudformation").describe_stacks(StackName=other["cloudformation_stack_name"])
    codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)


def test_throttled_ssm_read_raises_then_passes(make_stack, aws):
    entry = make_stack(faults={"throttle": {"ssm:GetParameter": 1}})
    name = "/app/MDL/{0}/DEV/HERD/CurrentVersion".format(entry["mdl_instance_name"])
    with pytest.raises(ClientError) as error:
        aws("ssm").get_parameter(Name=name)
    assert error.value.response["Error"]["Code"] == "ThrottlingException"
    assert aws("ssm").get_parameter(Name=name)["Parameter"]["Value"] == "0.170.0"


def test_botocore_retries_a_throttled_call(make_stack, aws):
    entry = make_stack(faults={"throttle": {"codedeploy:GetDeploymentGroup": 1}})
    answer = aws("codedeploy", retries=True).get_deployment_group(applicationName=entry["codedeploy_application"],
                                                                  deploymentGroupName=entry["deployment_group"])
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1


def test_herd_unavailable_around_the_switch(make_stack, invoke, most_recent_id, build_number, wait_terminal):
    entry = make_stack(faults={"herd_unavailable_seconds": 1.0})
    deployment_id = upgrade(entry, invoke, most_recent_id)
    seen = [wait_for(lambda: build_number(entry) == 503 and 503, what="HERD to answer 503")]
    seen.append(wait_for(lambda: build_number(entry) != 503 and build_number(entry), what="HERD to come back"))
    assert seen == [503, "0.176.0"]
    assert wait_terminal(entry, deployment_id)["status"] == "Succeeded"


def test_herd_refuses_connections_from_the_switch(make_stack, invoke, most_recent_id, build_number, wait_terminal,
                                                  sandbox):
    entry = make_stack(faults={"herd_refused_seconds": 1.0})
    key = "{0}/DEV".format(entry["mdl_instance_name"])
    assert build_number(entry) == "0.170.0"
    deployment_id = upgrade(entry, invoke, most_recent_id)

    def answer():
        try:
            return build_number(entry)
        except requests.exceptions.ConnectionError as error:
            return "refused" if "Connection refused" in str(error) else str(error)

    seen = [wait_for(lambda: answer() == "refused" and "refused", what="HERD to refuse connections")]
    assert sandbox.live_state(key)["live"]["herd_refusing_connections"] is True
    seen.append(wait_for(lambda: answer() != "refused" and answer(), what="HERD to come back"))
    assert seen == ["refused", "0.176.0"]
    assert wait_terminal(entry, deployment_id)["status"] == "Succeeded"
    assert sandbox.live_state(key)["live"]["herd_refusing_connections"] is False


def test_herd_throttles_its_first_requests(make_stack, build_number, sandbox):
    entry = make_stack(faults={"herd_throttle": {"requests": 3, "status": [429, 503], "retry_after": 2}})
    assert [build_number(entry) for _ in range(4)] == [429, 503, 429, "0.170.0"]
    live = sandbox.live_state("{0}/DEV".format(entry["mdl_instance_name"]))["live"]
    assert live["herd_throttled_answers"] == 3


def test_herd_throttles_the_first_requests_after_the_switch(make_stack, invoke, most_recent_id, build_number,
                                                            wait_terminal):
    entry = make_stack(faults={"herd_throttle": {"requests": 2, "from": "switch"}})
    assert [build_number(entry) for _ in range(3)] == ["0.170.0"] * 3
    assert wait_terminal(entry, upgrade(entry, invoke, most_recent_id))["status"] == "Succeeded"
    assert [build_number(entry) for _ in range(3)] == [429, 429, "0.176.0"]


def test_herd_stale_version_after_success(make_stack, invoke, most_recent_id, build_number, wait_terminal, sandbox):
    entry = make_stack(faults={"herd_stale_version": True})
    assert wait_terminal(entry, upgrade(entry, invoke, most_recent_id))["status"] == "Succeeded"
    assert build_number(entry) == "0.170.0"
    live = sandbox.live_state("{0}/DEV".format(entry["mdl_instance_name"]))["live"]
    assert live["deployed_version"] == "0.176.0" and live["served_version"] == "0.170.0"


def test_active_deployment_at_creation(make_stack, invoke, aws, most_recent_id, deployment, sandbox):
    entry = make_stack(deployment_seconds=30, faults={"active_deployment_version": "0.171.0"})
    deployment_id = most_recent_id(entry)
    assert deployment(entry, deployment_id)["status"] in ("Created", "InProgress")
    name = "/app/MDL/{0}/DEV/HERD/".format(entry["mdl_instance_name"])
    assert aws("ssm").get_parameter(Name=name + "RequestedVersion")["Parameter"]["Value"] == "0.171.0"
    assert aws("ssm").get_parameter(Name=name + "DeploymentInvoked")["Parameter"]["Value"] == "true"
    group = aws("codedeploy").get_deployment_group(applicationName=entry["codedeploy_application"],
                                                   deploymentGroupName=entry["deployment_group"])
    assert group["deploymentGroupInfo"]["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"
    answer = invoke(entry, {"RequestedVersion": "0.176.0"})
    assert "DeploymentLimitExceededException" in json.loads(answer["Payload"].read())["errorMessage"]
    live = sandbox.live_state("{0}/DEV".format(entry["mdl_instance_name"]))["live"]
    assert live["deployments"][0]["requested_version"] == "0.171.0"
    aws("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)


def test_deny_refuses_that_action_as_iam_does(make_stack, invoke, aws):
    entry = make_stack(faults={"deny": ["lambda:Invoke", "ssm:GetParameter"]})
    with pytest.raises(ClientError) as denied:
        invoke(entry, {"RequestedVersion": "0.176.0"})
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: lambda:Invoke" in str(denied.value)
    name = "/app/MDL/{0}/DEV/HERD/CurrentVersion".format(entry["mdl_instance_name"])
    with pytest.raises(ClientError) as denied:
        aws("ssm").get_parameter(Name=name)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    # other actions still work
    aws("lambda").get_function_configuration(FunctionName=entry["upgrade_function_name"])


def test_expired_credentials_refuse_every_call_of_the_stack(make_stack, aws):
    entry = make_stack(faults={"expired_credentials": True})
    with pytest.raises(ClientError) as expired:
        aws("lambda").get_function_configuration(FunctionName=entry["upgrade_function_name"])
    assert expired.value.response["Error"]["Code"] == "ExpiredTokenException"
    with pytest.raises(ClientError) as expired:
        aws("cloudformation").describe_stacks(StackName=entry["cloudformation_root_stack_name"])
    assert expired.value.response["Error"]["Code"] == "ExpiredToken"


def test_a_late_answer_still_started_the_deployment(make_stack, aws, most_recent_id):
    entry = make_stack(function_timeout=5, faults={"lambda_response_delay_seconds": 1})
    assert aws("lambda").get_function_configuration(FunctionName=entry["upgrade_function_name"])["Timeout"] == 5
    client = boto3.client("lambda", region_name=entry["aws_region"], endpoint_url=aws("lambda").meta.endpoint_url,
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(read_timeout=0.3, retries={"total_max_attempts": 1}))
    with pytest.raises(ReadTimeoutError):
        client.invoke(FunctionName=entry["upgrade_function_name"], Payload=json.dumps({"RequestedVersion": "0.176.0"}))
    wait_for(lambda: most_recent_id_or_none(aws, entry), what="the deployment the unanswered invoke started")


def most_recent_id_or_none(aws, entry):
    try:
        return aws("ssm").get_parameter(Name="/app/MDL/{0}/DEV/HERD/MostRecentDeploymentId".format(
            entry["mdl_instance_name"]))["Parameter"]["Value"]
    except ClientError:
        return None


def test_an_account_wide_read_is_throttled_by_a_stack_of_its_region_that_throttles_it(make_stack, aws):
    """AWS throttles per account and region: DescribeStacks without StackName (discovery's) names no stack."""
    entry = make_stack(faults={"throttle": {"cloudformation:DescribeStacks": 1, "codedeploy:GetDeployment": 1}})
    # a call naming a resource of no stack (a deployment that does not exist) is not the stack's to refuse
    with pytest.raises(ClientError) as error:
        aws("codedeploy").get_deployment(deploymentId="d-NOPE12345")
    assert error.value.response["Error"]["Code"] == "DeploymentDoesNotExistException"
    assert entry  # its GetDeployment throttle is still there for its own deployments
    cloudformation = aws("cloudformation")
    with pytest.raises(ClientError) as error:
        cloudformation.describe_stacks()
    assert error.value.response["Error"]["Code"] == "Throttling"
    assert cloudformation.describe_stacks()["Stacks"]  # once only
