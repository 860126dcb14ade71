"""Invoking the upgrade Lambda: what the caller gets back and what it changes, per DOMAIN.md."""

import base64
import json
import re

import pytest

ID_LINE = re.compile(r"^INFO: Deployment id is: '(d-[A-Z0-9]{9})'\.$", re.M)


def tail(answer) -> bytes:
    return base64.b64decode(answer["LogResult"])


def parameter(aws, entry, name):
    return aws("ssm").get_parameter(Name="/app/MDL/{0}/{1}/HERD/{2}".format(
        entry["mdl_instance_name"], entry["mdl_environment"], name))["Parameter"]["Value"]


def test_invoke_returns_null_and_the_id_in_the_log_tail(make_stack, invoke, aws):
    entry = make_stack()
    answer = invoke(entry, {"RequestedVersion": "0.176.0"})
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["Payload"].read() == b"null"
    assert answer["ExecutedVersion"] == "$LATEST"
    log = tail(answer).decode("utf-8")
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith(" Version: $LATEST")
    request_id = lines[0].split()[2]
    assert lines[-2] == "END RequestId: {0}".format(request_id)
    assert lines[-1].startswith("REPORT RequestId: {0}\tDuration: ".format(request_id))
    assert "INFO: Current deployment-type: 'IN_PLACE'" in lines
    assert "INFO: Deployment updated to BLUE_GREEN." in lines
    deployment_id = ID_LINE.search(log).group(1)
    assert parameter(aws, entry, "MostRecentDeploymentId") == deployment_id
    assert parameter(aws, entry, "RequestedVersion") == "0.176.0"
    assert parameter(aws, entry, "DeploymentInvoked") == "true"


def test_the_group_is_switched_to_blue_green(make_stack, invoke, aws):
    entry = make_stack()
    invoke(entry, {"RequestedVersion": "0.176.0"})
    info = aws("codedeploy").get_deployment_group(applicationName=entry["codedeploy_application"],
                                                  deploymentGroupName=entry["deployment_group"])["deploymentGroupInfo"]
    assert info["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert info["blueGreenDeploymentConfiguration"] == {
        "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE"},
        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"}}
    assert info["loadBalancerInfo"] == {"targetGroupInfoList": [
        {"name": entry["mdl_instance_name"] + "-HerdTargetGroup"}]}


def test_the_deployment_created_is_the_bundle_with_auto_rollback(make_stack, invoke, most_recent_id, deployment):
    entry = make_stack()
    invoke(entry, {"RequestedVersion": "0.176.0"})
    info = deployment(entry, most_recent_id(entry))
    assert re.match(r"^d-[A-Z0-9]{9}$", info["deploymentId"])
    assert info["revision"] == {"revisionType": "S3", "s3Location": {
        "bucket": entry["staging_bucket"], "key": entry["release_version"] + "/herd/herd.zip", "bundleType": "zip"}}
    assert info["autoRollbackConfiguration"] == {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    assert info["ignoreApplicationStopFailures"] is True
    assert info["creator"] == "user"
    assert info["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"


def test_a_second_invoke_while_active_fails_with_deployment_limit_exceeded(make_stack, invoke, most_recent_id):
    entry = make_stack(deployment_seconds=30)
    invoke(entry, {"RequestedVersion": "0.176.0"})
    first = most_recent_id(entry)
    answer = invoke(entry, {"RequestedVersion": "0.177.0"})
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Exception"
    assert "DeploymentLimitExceededException" in error["errorMessage"]
    assert error["errorMessage"].startswith("CodeDeploy 'create-deployment' failure. Exception: ")
    assert error["stackTrace"]
    log = tail(answer).decode("utf-8")
    assert "ERROR: CodeDeploy caused an exception, " in log
    assert "Traceback (most recent call last):" in log
    assert most_recent_id(entry) == first  # not overwritten
    # ... but the invoke re-ran the first steps: it is not idempotent.
    assert "INFO: Updating requested version parameter: 'RequestedVersion'" in log


def test_a_missing_requested_version_raises_key_error(make_stack, invoke, aws):
    entry = make_stack()
    answer = invoke(entry, {})
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("KeyError", "'RequestedVersion'")
    assert "[ERROR] KeyError: 'RequestedVersion'" in tail(answer).decode("utf-8")
    assert aws("codedeploy").list_deployments(applicationName=entry["codedeploy_application"],
                                              deploymentGroupName=entry["deployment_group"])["deployments"] == []


def test_a_null_requested_version_logs_an_error_and_deploys_nothing(make_stack, invoke, aws):
    entry = make_stack()
    answer = invoke(entry, {"RequestedVersion": None})
    assert "FunctionError" not in answer
    assert answer["Payload"].read() == b"null"
    assert "ERROR: FATAL: Required parameter: 'RequestedVersion' not found" in tail(answer).decode("utf-8")
    assert aws("codedeploy").list_deployments(applicationName=entry["codedeploy_application"],
                                              deploymentGroupName=entry["deployment_group"])["deployments"] == []


def test_invoking_again_after_the_end_starts_another_deployment(make_stack, invoke, most_recent_id, wait_terminal):
    entry = make_stack()
    invoke(entry, {"RequestedVersion": "0.176.0"})
    first = most_recent_id(entry)
    wait_terminal(entry, first)
    answer = invoke(entry, {"RequestedVersion": "0.176.0"})
    assert "FunctionError" not in answer
    assert "INFO: Current deployment-type: 'BLUE_GREEN'" in tail(answer).decode("utf-8")
    assert most_recent_id(entry) != first


def test_lambda_error_fault(make_stack, invoke, aws):
    entry = make_stack(faults={"lambda_error": "Task timed out reading the deployment group"})
    answer = invoke(entry, {"RequestedVersion": "0.176.0"})
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorMessage"] == "Task timed out reading the deployment group"
    assert aws("codedeploy").list_deployments(applicationName=entry["codedeploy_application"],
                                              deploymentGroupName=entry["deployment_group"])["deployments"] == []


def test_padding_fault_pushes_the_id_out_of_the_tail_and_cuts_a_character(make_stack, invoke, most_recent_id):
    entry = make_stack(faults={"lambda_log_padding_bytes": 6000})
    answer = invoke(entry, {"RequestedVersion": "0.176.0"})
    data = tail(answer)
    assert len(data) == 4096
    assert b"Deployment id is" not in data
    assert data[0] & 0xC0 == 0x80, "the tail starts inside a multi-byte character"
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("utf-8", errors="replace")
    assert "INFO: SSM parameter updated." in text
    assert re.match(r"^d-[A-Z0-9]{9}$", most_recent_id(entry))  # the fallback still works


def test_without_log_type_there_is_no_log_result(make_stack, aws):
    entry = make_stack()
    answer = aws("lambda").invoke(FunctionName=entry["upgrade_function_name"],
                                  Payload=json.dumps({"RequestedVersion": None}))
    assert "LogResult" not in answer
    assert answer["Payload"].read() == b"null"


def test_an_unknown_function_is_not_found(aws):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as error:
        aws("lambda").invoke(FunctionName="nope-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION", Payload=b"{}")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_event_invocation_runs_in_the_background_and_dry_run_runs_nothing(make_stack, aws, most_recent_id):
    from conftest import wait_for
    entry = make_stack()
    client = aws("lambda")
    dry = client.invoke(FunctionName=entry["upgrade_function_name"], InvocationType="DryRun",
                        Payload=json.dumps({"RequestedVersion": "0.176.0"}))
    assert dry["StatusCode"] == 204
    answer = client.invoke(FunctionName=entry["upgrade_function_name"], InvocationType="Event",
                           Payload=json.dumps({"RequestedVersion": "0.176.0"}))
    assert answer["StatusCode"] == 202
    from botocore.exceptions import ClientError

    def deployed():
        try:
            value = most_recent_id(entry)
        except ClientError:
            return None
        return None if value == "FilledLater" else value  # the stack's value before any upgrade

    assert re.match(r"^d-[A-Z0-9]{9}$", wait_for(deployed, what="the background invoke"))
