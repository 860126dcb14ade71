"""What the bundle's scripts do on the replacement instance, and holding a deployment at an event.

On a real stack, ApplicationStart (configureTomcat.sh) installs the war of SSM
HERD/RequestedVersion as it reads it at that moment, and ValidateService (smokeTestHerd.sh)
compares buildInfo's buildNumber with HERD/RequestedVersion, then writes FilledLater,
CurrentVersion and DeploymentInvoked. Holds let these tests act between the events without
depending on timing.
"""

import json

import pytest
import requests

from conftest import wait_for


def parameter(aws, entry, name):
    full = "/app/MDL/{0}/{1}/HERD/{2}".format(entry["mdl_instance_name"], entry["mdl_environment"], name)
    return aws("ssm", entry["aws_region"]).get_parameter(Name=full)["Parameter"]


def put_parameter(aws, entry, name, value):
    full = "/app/MDL/{0}/{1}/HERD/{2}".format(entry["mdl_instance_name"], entry["mdl_environment"], name)
    aws("ssm", entry["aws_region"]).put_parameter(Name=full, Value=value, Type="String", Overwrite=True)


def key(entry):
    return "{0}/{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])


def green_events(aws, entry, deployment_id):
    codedeploy = aws("codedeploy", entry["aws_region"])
    ids = [i for page in codedeploy.get_paginator("list_deployment_targets").paginate(deploymentId=deployment_id)
           for i in page["targetIds"]]
    targets = codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)["deploymentTargets"]
    green = [t["instanceTarget"] for t in targets if t["instanceTarget"]["instanceLabel"] == "Green"][0]
    return {e["lifecycleEventName"]: e for e in green["lifecycleEvents"]}


def start_upgrade(invoke, most_recent_id, entry, version):
    answer = invoke(entry, {"RequestedVersion": version})
    assert "FunctionError" not in answer, answer["Payload"].read()
    return most_recent_id(entry)


def test_successful_upgrade_resets_the_deployment_state(sandbox, make_stack, invoke, most_recent_id, wait_terminal,
                                                        aws, build_number):
    entry = make_stack(current_version="0.170.0")
    before = parameter(aws, entry, "CurrentVersion")["LastModifiedDate"]
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    assert parameter(aws, entry, "RequestedVersion")["Value"] == "0.176.0"
    assert parameter(aws, entry, "DeploymentInvoked")["Value"] == "true"
    assert wait_terminal(entry, deployment_id)["status"] == "Succeeded"
    assert parameter(aws, entry, "RequestedVersion")["Value"] == "FilledLater"
    current = parameter(aws, entry, "CurrentVersion")
    assert current["Value"] == "0.176.0" and current["LastModifiedDate"] > before
    assert parameter(aws, entry, "DeploymentInvoked")["Value"] == "false"
    assert build_number(entry) == "0.176.0"
    summary = sandbox.live_state(key(entry))["live"]["deployments"][0]
    assert summary["requested_version"] == summary["installed_version"] == "0.176.0"


def test_the_smoke_test_has_reset_requested_version_long_before_the_deployment_ends(
        sandbox, make_stack, invoke, most_recent_id, aws, deployment, build_number):
    entry = make_stack()
    sandbox.hold(key(entry), "BeforeBlockTraffic")  # after the reroute
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    assert sandbox.wait_held(key(entry), 30)["deployment_id"] == deployment_id
    info = deployment(entry, deployment_id)
    assert info["status"] == "InProgress"
    requested = parameter(aws, entry, "RequestedVersion")
    current = parameter(aws, entry, "CurrentVersion")
    assert requested["Value"] == "FilledLater" and current["Value"] == "0.176.0"
    assert current["LastModifiedDate"] > info["createTime"]
    assert build_number(entry) == "0.176.0"  # traffic already reaches the new version
    sandbox.release(key(entry))


def test_a_refused_second_invoke_changes_what_the_running_deployment_installs(
        sandbox, make_stack, invoke, most_recent_id, wait_terminal, aws, build_number):
    entry = make_stack(current_version="0.170.0")
    sandbox.hold(key(entry), "ApplicationStart")
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    sandbox.wait_held(key(entry), 30)
    second = invoke(entry, {"RequestedVersion": "0.177.0"})
    assert second.get("FunctionError") == "Unhandled"
    assert "DeploymentLimitExceededException" in json.loads(second["Payload"].read())["errorMessage"]
    assert most_recent_id(entry) == deployment_id  # no second deployment
    assert parameter(aws, entry, "RequestedVersion")["Value"] == "0.177.0"
    sandbox.release(key(entry))
    assert wait_terminal(entry, deployment_id)["status"] == "Succeeded"
    assert build_number(entry) == "0.177.0"
    assert parameter(aws, entry, "CurrentVersion")["Value"] == "0.177.0"
    summary = sandbox.live_state(key(entry))["live"]["deployments"][0]
    assert (summary["requested_version"], summary["installed_version"]) == ("0.176.0", "0.177.0")


def test_a_version_changed_after_application_start_fails_the_smoke_test(
        sandbox, make_stack, invoke, most_recent_id, wait_terminal, aws, build_number):
    entry = make_stack(current_version="0.170.0")
    sandbox.hold(key(entry), "ValidateService")
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    sandbox.wait_held(key(entry), 30)
    put_parameter(aws, entry, "RequestedVersion", "0.177.0")  # what a refused invoke would write
    sandbox.release(key(entry))
    failed = wait_terminal(entry, deployment_id)
    assert failed["status"] == "Failed"
    validate = green_events(aws, entry, deployment_id)["ValidateService"]
    assert validate["status"] == "Failed"
    assert validate["diagnostics"]["scriptName"] == "scripts/smokeTestHerd.sh"
    assert "Actual herd version: 0.176.0 doesn't match requested version: 0.177.0" in validate["diagnostics"]["logTail"]
    # the smoke test failed: it reset nothing
    assert parameter(aws, entry, "RequestedVersion")["Value"] == "0.177.0"
    assert parameter(aws, entry, "CurrentVersion")["Value"] == "0.170.0"
    rollback = failed["rollbackInfo"]["rollbackDeploymentId"]
    assert wait_terminal(entry, rollback)["status"] == "Succeeded"
    assert build_number(entry) == "0.170.0"


def test_an_unpublished_version_fails_application_start_with_the_download_error(
        make_stack, invoke, most_recent_id, wait_terminal, aws, build_number):
    entry = make_stack(current_version="0.170.0", faults={"unpublished_versions": ["9.9.9"]})
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "9.9.9")
    failed = wait_terminal(entry, deployment_id)
    assert failed["status"] == "Failed"
    events = green_events(aws, entry, deployment_id)
    start = events["ApplicationStart"]
    assert start["status"] == "Failed"
    assert start["diagnostics"]["scriptName"] == "scripts/configureAndStartHerd.sh"
    assert "org/finra/herd/herd-war/9.9.9/herd-war-9.9.9.war" in start["diagnostics"]["logTail"]
    assert "has failed with error 8" in start["diagnostics"]["logTail"]
    assert events["ValidateService"]["status"] == "Skipped"
    assert wait_terminal(entry, failed["rollbackInfo"]["rollbackDeploymentId"])["status"] == "Succeeded"
    assert build_number(entry) == "0.170.0"


def test_a_deployment_created_by_hand_after_an_upgrade_installs_the_current_version(
        sandbox, make_stack, invoke, most_recent_id, wait_terminal, aws):
    """configureTomcat.sh installs HERD/RequestedVersion only while HERD/DeploymentInvoked is true; after an
    upgrade passed its smoke test (FilledLater, false), a deployment created by hand installs HERD/CurrentVersion."""
    entry = make_stack()
    first = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    assert wait_terminal(entry, first)["status"] == "Succeeded"
    codedeploy = aws("codedeploy", entry["aws_region"])
    by_hand = codedeploy.create_deployment(
        applicationName=entry["codedeploy_application"], deploymentGroupName=entry["deployment_group"],
        revision={"revisionType": "S3", "s3Location": {"bucket": entry["staging_bucket"],
                                                        "key": "{0}/herd/herd.zip".format(entry["release_version"]),
                                                        "bundleType": "zip"}},
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})["deploymentId"]
    assert wait_terminal(entry, by_hand)["status"] == "Succeeded"
    assert sandbox.live_state(key(entry))["live"]["served_version"] == "0.176.0"


# -- the hold API ----------------------------------------------------------------------------------
def test_a_hold_stands_at_the_event_start_until_released(sandbox, make_stack, invoke, most_recent_id, aws,
                                                          deployment, wait_terminal):
    entry = make_stack()
    assert sandbox.hold(key(entry), "ValidateService") == {
        "event": "ValidateService", "deployment_id": None, "holding": False, "since": None}
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    held = sandbox.wait_held(key(entry), 30)
    assert held["deployment_id"] == deployment_id and held["holding"] and held["since"]
    events = green_events(aws, entry, deployment_id)
    assert events["ApplicationStart"]["status"] == "Succeeded"
    assert events["ValidateService"]["status"] == "InProgress"
    assert events["BeforeAllowTraffic"]["status"] == "Pending"
    assert parameter(aws, entry, "RequestedVersion")["Value"] == "0.176.0"  # the smoke test has not run
    assert sandbox.live_state(key(entry))["live"]["hold"]["holding"] is True
    released = sandbox.release(key(entry))
    assert released["deployment_id"] == deployment_id
    done = wait_terminal(entry, deployment_id)
    assert done["status"] == "Succeeded"
    # the deployment took its planned duration plus the time it was held, with consistent event times
    validate = green_events(aws, entry, deployment_id)["ValidateService"]
    assert validate["startTime"] < validate["endTime"] <= done["completeTime"]
    assert sandbox.live_state(key(entry))["live"]["hold"] is None


def test_a_termination_wait_hold_stands_in_step_3_in_progress_until_released(sandbox, make_stack, invoke, most_recent_id, aws,
                                                                              wait_terminal):
    entry = make_stack()
    sandbox.hold(key(entry), "TerminationWait")
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    held = sandbox.wait_held(key(entry), 60)
    assert held["deployment_id"] == deployment_id and held["event"] == "TerminationWait"
    info = aws("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "InProgress" and info["instanceTerminationWaitTimeStarted"] is True
    assert all(e["status"] == "Succeeded" for e in green_events(aws, entry, deployment_id).values())
    assert sandbox.live_state(key(entry))["live"]["served_version"] == "0.176.0"  # traffic moved
    sandbox.release(key(entry))
    assert wait_terminal(entry, deployment_id)["status"] == "Succeeded"


def test_hold_requests_that_cannot_be_honoured(sandbox, make_stack, invoke, most_recent_id, endpoints,
                                               wait_terminal):
    from mdl_sandbox.codedeploy import HoldError

    entry = make_stack()
    with pytest.raises(HoldError, match="lifecycle event"):
        sandbox.hold(key(entry), "Deploying")
    sandbox.hold(key(entry), "AllowTraffic")
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    sandbox.wait_held(key(entry), 30)
    with pytest.raises(HoldError, match="already held"):
        sandbox.hold(key(entry), "BlockTraffic")
    sandbox.release(key(entry))
    with pytest.raises(HoldError, match="already past the start of ApplicationStart"):
        sandbox.hold(key(entry), "ApplicationStart")
    wait_terminal(entry, deployment_id)
    assert sandbox.release(key(entry)) is None


def test_the_control_api_holds_waits_and_releases(make_stack, invoke, most_recent_id, endpoints, wait_terminal):
    entry = make_stack()
    url = "{0}/stacks/{1}/hold".format(endpoints["control_url"], key(entry))
    assert requests.post(url, json={"event": "Nope"}, timeout=5).status_code == 409
    assert requests.post(url, json={"stage": "ValidateService"}, timeout=5).status_code == 400
    assert requests.delete(url, timeout=5).status_code == 404
    assert requests.get(url + "?wait=0", timeout=5).status_code == 409  # no hold set
    assert requests.post(url, json={"event": "ValidateService"}, timeout=5).json()["holding"] is False
    assert requests.get(url + "?wait=0", timeout=5).status_code == 408  # not reached: no deployment yet
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    held = requests.get(url + "?wait=30", timeout=40)
    assert held.status_code == 200 and held.json()["deployment_id"] == deployment_id
    assert requests.delete(url, timeout=5).json()["deployment_id"] == deployment_id
    assert wait_terminal(entry, deployment_id)["status"] == "Succeeded"


def test_stopping_a_held_deployment_stops_it_where_it_stands(sandbox, make_stack, invoke, most_recent_id, aws,
                                                             wait_terminal, build_number):
    entry = make_stack(current_version="0.170.0")
    sandbox.hold(key(entry), "ValidateService")
    deployment_id = start_upgrade(invoke, most_recent_id, entry, "0.176.0")
    sandbox.wait_held(key(entry), 30)
    aws("codedeploy", entry["aws_region"]).stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    stopped = wait_terminal(entry, deployment_id)
    assert stopped["status"] == "Stopped"
    rollback = stopped["rollbackInfo"]["rollbackDeploymentId"]
    assert wait_terminal(entry, rollback)["status"] == "Succeeded"
    wait_for(lambda: build_number(entry) == "0.170.0", what="HERD to serve 0.170.0")
    assert sandbox.live_state(key(entry))["live"]["hold"] is None
