"""A Blue/Green deployment as a client polling CodeDeploy and HERD sees it."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import DEPLOYMENT_SECONDS, wait_for, wait_until
from mdl_sandbox.timeline import BLUE_EVENTS, GREEN_EVENTS


def targets(aws, entry, deployment_id):
    """Every target of a deployment, following nextToken, fetched 25 at a time."""
    codedeploy = aws("codedeploy", entry["aws_region"])
    ids, token = [], None
    while True:
        page = codedeploy.list_deployment_targets(deploymentId=deployment_id, **({"nextToken": token} if token else {}))
        ids += page["targetIds"]
        token = page.get("nextToken")
        if not token:
            break
    found = codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids[:25])
    return {t["instanceTarget"]["instanceLabel"]: t["instanceTarget"] for t in found["deploymentTargets"]}


def started(entry, invoke, most_recent_id, version="0.176.0"):
    answer = invoke(entry, {"RequestedVersion": version})
    assert "FunctionError" not in answer
    return most_recent_id(entry)


def test_a_deployment_runs_blue_green_to_success(make_stack, invoke, most_recent_id, wait_terminal, aws, deployment):
    entry = make_stack()
    deployment_id = started(entry, invoke, most_recent_id)
    first = deployment(entry, deployment_id)
    assert first["status"] in ("Created", "InProgress")
    info = wait_terminal(entry, deployment_id)
    assert info["status"] == "Succeeded"
    assert info["deploymentOverview"] == {"Pending": 0, "InProgress": 0, "Succeeded": 2, "Failed": 0, "Skipped": 0,
                                          "Ready": 0}
    assert info["instanceTerminationWaitTimeStarted"] is True
    assert info["blueGreenDeploymentConfiguration"]["greenFleetProvisioningOption"]["action"] == \
        "COPY_AUTO_SCALING_GROUP"
    assert "errorInformation" not in info and "rollbackInfo" not in info
    assert info["createTime"] <= info["startTime"] < info["completeTime"]
    took = (info["completeTime"] - info["createTime"]).total_seconds()
    assert took == pytest.approx(DEPLOYMENT_SECONDS, abs=0.01)

    found = targets(aws, entry, deployment_id)
    green, blue = found["Green"], found["Blue"]
    assert [e["lifecycleEventName"] for e in green["lifecycleEvents"]] == list(GREEN_EVENTS)
    assert [e["lifecycleEventName"] for e in blue["lifecycleEvents"]] == list(BLUE_EVENTS)
    events = green["lifecycleEvents"] + blue["lifecycleEvents"]
    assert all(e["status"] == "Succeeded" for e in events)
    for before, after in zip(events, events[1:]):
        assert before["startTime"] < before["endTime"] <= after["startTime"]
    assert green["status"] == blue["status"] == "Succeeded"
    assert green["targetArn"].endswith(":instance/" + green["targetId"])
    assert green["targetId"] != blue["targetId"]
    # The group now points at the Auto Scaling group CodeDeploy copied.
    group = aws("codedeploy").get_deployment_group(applicationName=entry["codedeploy_application"],
                                                   deploymentGroupName=entry["deployment_group"])
    assert group["deploymentGroupInfo"]["autoScalingGroups"][0]["name"] == \
        "CodeDeploy_{0}_{1}".format(entry["deployment_group"], deployment_id)
    assert group["deploymentGroupInfo"]["lastSuccessfulDeployment"]["deploymentId"] == deployment_id


def test_the_states_a_poller_sees_are_consistent(make_stack, invoke, most_recent_id, deployment):
    entry = make_stack()
    deployment_id = started(entry, invoke, most_recent_id)
    seen = []
    while True:
        info = deployment(entry, deployment_id)
        seen.append(info["status"])
        overview = info["deploymentOverview"]
        if info["status"] == "Created":
            assert sum(overview.values()) == 0 and "startTime" not in info
        else:
            assert sum(overview.values()) == 2
        assert ("completeTime" in info) == (info["status"] == "Succeeded")
        if info["status"] == "Succeeded":
            break
    order = ["Created", "InProgress", "Succeeded"]
    assert [s for s in order if s in seen] == [s for s in dict.fromkeys(seen)]


def test_buildinfo_switches_when_traffic_is_rerouted_not_before(make_stack, invoke, most_recent_id, aws,
                                                                build_number):
    entry = make_stack()
    deployment_id = started(entry, invoke, most_recent_id)
    codedeploy = aws("codedeploy")

    def allow_traffic_status():
        if codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "Created":
            return "Pending"
        green = targets(aws, entry, deployment_id)["Green"]
        return {e["lifecycleEventName"]: e["status"] for e in green["lifecycleEvents"]}["AllowTraffic"]

    checked_before = 0
    while True:
        served = build_number(entry)  # read first: if AllowTraffic is not over after it, it was served before
        if allow_traffic_status() == "Succeeded":
            break
        assert served == "0.170.0"
        checked_before += 1
    assert checked_before > 0
    assert build_number(entry) == "0.176.0"  # read after AllowTraffic was seen over


def test_targets_are_paginated_and_batches_are_limited(make_stack, invoke, most_recent_id, aws):
    entry = make_stack(deployment_seconds=30)
    deployment_id = started(entry, invoke, most_recent_id)
    codedeploy = aws("codedeploy")
    with pytest.raises(ClientError) as error:  # 30 s deployment: it starts after 1.2 s
        codedeploy.list_deployment_targets(deploymentId=deployment_id)
    assert error.value.response["Error"]["Code"] == "DeploymentNotStartedException"
    wait_for(lambda: codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "InProgress",
             what="the deployment to start")
    page = codedeploy.list_deployment_targets(deploymentId=deployment_id)
    assert len(page["targetIds"]) == 1 and page["nextToken"]
    second = codedeploy.list_deployment_targets(deploymentId=deployment_id, nextToken=page["nextToken"])
    assert "nextToken" not in second
    paginator = codedeploy.get_paginator("list_deployment_targets")
    ids = [i for p in paginator.paginate(deploymentId=deployment_id) for i in p["targetIds"]]
    assert ids == page["targetIds"] + second["targetIds"]
    with pytest.raises(ClientError) as error:
        codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids * 13)
    assert error.value.response["Error"]["Code"] == "DeploymentTargetListSizeExceededException"
    with pytest.raises(ClientError) as error:
        codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["i-0000000000000000"])
    assert error.value.response["Error"]["Code"] == "DeploymentTargetDoesNotExistException"
    with pytest.raises(ClientError) as error:
        codedeploy.list_deployment_targets(deploymentId=deployment_id, nextToken="garbage")
    assert error.value.response["Error"]["Code"] == "InvalidNextTokenException"
    codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)


def test_one_active_deployment_per_group(make_stack, invoke, most_recent_id, aws):
    entry = make_stack(deployment_seconds=30)
    deployment_id = started(entry, invoke, most_recent_id)
    codedeploy = aws("codedeploy")
    with pytest.raises(ClientError) as error:
        codedeploy.create_deployment(
            applicationName=entry["codedeploy_application"], deploymentGroupName=entry["deployment_group"],
            revision={"revisionType": "S3", "s3Location": {"bucket": entry["staging_bucket"],
                                                           "key": entry["release_version"] + "/herd/herd.zip",
                                                           "bundleType": "zip"}})
    assert error.value.response["Error"]["Code"] == "DeploymentLimitExceededException"
    assert deployment_id in error.value.response["Error"]["Message"]
    active = codedeploy.list_deployments(applicationName=entry["codedeploy_application"],
                                         deploymentGroupName=entry["deployment_group"],
                                         includeOnlyStatuses=["Created", "Queued", "InProgress", "Ready", "Baking"])
    assert active["deployments"] == [deployment_id]
    codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)


def test_stop_with_rollback(make_stack, invoke, most_recent_id, aws, deployment, wait_terminal, build_number,
                            sandbox):
    entry = make_stack(deployment_seconds=3)
    deployment_id = started(entry, invoke, most_recent_id)
    codedeploy = aws("codedeploy")
    wait_for(lambda: sandbox.live_state(sandbox_key(entry))["live"]["served_version"] == "0.176.0",
             what="traffic to reach 0.176.0")
    answer = codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    assert answer["status"] == "Pending"
    stopped = deployment(entry, deployment_id)
    assert stopped["status"] == "Stopped"
    assert stopped["errorInformation"]["code"] == "MANUAL_STOP"
    rollback_id = stopped["rollbackInfo"]["rollbackDeploymentId"]
    rollback = wait_terminal(entry, rollback_id)
    assert rollback["status"] == "Succeeded"
    assert rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == deployment_id
    assert build_number(entry) == "0.170.0"
    with pytest.raises(ClientError) as error:
        codedeploy.stop_deployment(deploymentId=deployment_id)
    assert error.value.response["Error"]["Code"] == "DeploymentAlreadyCompletedException"


def test_stop_without_rollback_keeps_what_was_deployed(make_stack, invoke, most_recent_id, aws, deployment):
    entry = make_stack(deployment_seconds=30)
    deployment_id = started(entry, invoke, most_recent_id)
    aws("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)
    info = deployment(entry, deployment_id)
    assert info["status"] == "Stopped" and "rollbackInfo" not in info
    assert isinstance(info["completeTime"], datetime.datetime)


def test_continue_deployment_skips_the_termination_wait(make_stack, invoke, most_recent_id, aws, deployment):
    entry = make_stack(deployment_seconds=6)
    deployment_id = started(entry, invoke, most_recent_id)
    codedeploy = aws("codedeploy")
    with pytest.raises(ClientError) as error:
        codedeploy.continue_deployment(deploymentId=deployment_id, deploymentWaitType="TERMINATION_WAIT")
    assert error.value.response["Error"]["Code"] == "DeploymentIsNotInReadyStateException"
    wait_for(lambda: deployment(entry, deployment_id)["instanceTerminationWaitTimeStarted"], timeout=15,
             what="the termination wait")
    codedeploy.continue_deployment(deploymentId=deployment_id, deploymentWaitType="TERMINATION_WAIT")
    info = wait_until(lambda: deployment(entry, deployment_id), lambda i: i["status"] == "Succeeded", timeout=5,
                      what="success")
    assert (info["completeTime"] - info["createTime"]).total_seconds() < 5.9


def sandbox_key(entry):
    return "{0}/{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])


def test_a_deployment_on_a_group_still_in_place_runs_in_place(make_stack, aws, wait_terminal):
    entry = make_stack()
    codedeploy = aws("codedeploy")
    deployment_id = codedeploy.create_deployment(
        applicationName=entry["codedeploy_application"], deploymentGroupName=entry["deployment_group"],
        revision={"revisionType": "S3", "s3Location": {"bucket": entry["staging_bucket"],
                                                       "key": entry["release_version"] + "/herd/herd.zip",
                                                       "bundleType": "zip"}})["deploymentId"]
    info = wait_terminal(entry, deployment_id)
    assert info["status"] == "Succeeded"
    assert info["deploymentStyle"]["deploymentType"] == "IN_PLACE"
    assert "blueGreenDeploymentConfiguration" not in info
    assert info["deploymentOverview"]["Succeeded"] == 1
    target_ids = codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"]
    target = codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target_ids[0])
    names = [e["lifecycleEventName"] for e in target["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]]
    assert names == list(GREEN_EVENTS[:7])


def test_a_revision_that_is_not_in_s3_is_refused(make_stack, aws):
    entry = make_stack()
    with pytest.raises(ClientError) as error:
        aws("codedeploy").create_deployment(
            applicationName=entry["codedeploy_application"], deploymentGroupName=entry["deployment_group"],
            revision={"revisionType": "S3", "s3Location": {
                "bucket": entry["staging_bucket"], "key": "9.9/herd/herd.zip", "bundleType": "zip"}})
    assert error.value.response["Error"]["Code"] == "RevisionDoesNotExistException"
