"""The control API over plain HTTP, as integration tests and benchmarks use it."""

import json
import time

import pytest
import requests

from conftest import wait_for, wait_until


@pytest.fixture
def control(endpoints):
    return endpoints["control_url"]


def test_health(control):
    answer = requests.get(control + "/health", timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"ok": True})


def test_create_a_stack_and_read_it_back(control, aws):
    spec = {"mdl_instance_name": "ctl", "mdl_environment": "QA", "current_version": "0.165.0",
            "deployment_seconds": 3, "ssl": False, "faults": {"herd_stale_version": True}}
    answer = requests.post(control + "/stacks", json=spec, timeout=30)
    assert answer.status_code == 201, answer.text
    entry = answer.json()
    for key in ("mdl_instance_name", "mdl_environment", "current_version", "herd_base_url", "herd_buildinfo_url",
                "herd_display_url", "herd_https_base_url", "herd_https_buildinfo_url", "herd_https_display_url",
                "herd_username", "herd_password", "upgrade_function_name", "codedeploy_application",
                "deployment_group", "cloudformation_stack_name", "deployment_seconds", "faults"):
        assert key in entry, key
    assert entry["deployment_seconds"] == 3
    assert entry["faults"] == {"herd_stale_version": True}
    assert aws("lambda").get_function(FunctionName=entry["upgrade_function_name"])
    listed = requests.get(control + "/stacks", timeout=5).json()
    assert "ctl" in [s["mdl_instance_name"] for s in listed]
    live = requests.get(control + "/stacks/ctl/QA", timeout=5).json()
    assert live["live"]["served_version"] == "0.165.0"
    assert live["live"]["deployments"] == []

    again = requests.post(control + "/stacks", json=spec, timeout=30)
    assert again.status_code == 409 and "exists already" in again.json()["error"]


@pytest.mark.parametrize("body,message", [
    ({"mdl_instance_name": "bad", "mdl_environment": "DEV", "faults": {"explode": True}}, "unknown fault"),
    ({"mdl_instance_name": "bad", "mdl_environment": "DEV", "ssl": "yes"}, "ssl must be true or false"),
    ({"mdl_environment": "DEV"}, "mdl_instance_name is required"),
])
def test_bad_specs_get_400(control, body, message):
    answer = requests.post(control + "/stacks", json=body, timeout=10)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_not_json_gets_400_and_unknown_routes_404(control):
    answer = requests.post(control + "/stacks", data=b"{nope", timeout=5)
    assert answer.status_code == 400
    assert requests.get(control + "/stacks/none/DEV", timeout=5).status_code == 404
    assert requests.get(control + "/nothing", timeout=5).status_code == 404


def test_live_state_follows_a_deployment(control, make_stack, invoke, most_recent_id):
    entry = make_stack()
    invoke(entry, {"RequestedVersion": "0.176.0"})
    deployment_id = most_recent_id(entry)
    url = "{0}/stacks/{1}/DEV".format(control, entry["mdl_instance_name"])
    live = wait_until(lambda: requests.get(url, timeout=5).json()["live"],
                      lambda state: state["deployments"][0]["status"] == "Succeeded", what="success")
    assert live["deployments"][0]["deployment_id"] == deployment_id
    assert live["deployments"][0]["requested_version"] == "0.176.0"
    assert live["deployments"][0]["complete_time"].endswith("Z")
    assert live["served_version"] == "0.176.0"
    assert live["deployment_style"]["deploymentType"] == "BLUE_GREEN"


def test_herd_unavailable_window_and_delayed_version(control, make_stack, build_number):
    entry = make_stack()
    url = "{0}/stacks/{1}/DEV/herd".format(control, entry["mdl_instance_name"])
    answer = requests.post(url, json={"unavailable_seconds": 30}, timeout=5)
    assert answer.status_code == 200 and answer.json()["live"]["herd_unavailable"] is True
    assert build_number(entry) == 503
    requests.post(url, json={"unavailable_seconds": 0}, timeout=5)
    assert build_number(entry) == "0.170.0"
    switch_at = time.monotonic() + 0.5
    requests.post(url, json={"version": "0.180.0", "after_seconds": 0.5}, timeout=5)
    while time.monotonic() < switch_at - 0.1:
        assert build_number(entry) == "0.170.0"
    wait_for(lambda: build_number(entry) == "0.180.0", timeout=5, what="the delayed switch")
    bad = requests.post(url, json={"after_seconds": 3}, timeout=5)
    assert bad.status_code == 400 and "needs a version" in bad.json()["error"]


def test_herd_refused_connections_and_throttling(control, make_stack, build_number):
    entry = make_stack()
    url = "{0}/stacks/{1}/DEV/herd".format(control, entry["mdl_instance_name"])
    answer = requests.post(url, json={"refused_seconds": 30}, timeout=5)
    assert answer.status_code == 200 and answer.json()["live"]["herd_refusing_connections"] is True
    with pytest.raises(requests.exceptions.ConnectionError):
        build_number(entry)
    requests.post(url, json={"refused_seconds": 0}, timeout=5)
    assert build_number(entry) == "0.170.0"
    answer = requests.post(url, json={"throttle": {"requests": 2, "status": [503, 429]}}, timeout=5)
    assert answer.status_code == 200
    assert [build_number(entry) for _ in range(3)] == [503, 429, "0.170.0"]
    assert requests.get(url.rsplit("/", 1)[0], timeout=5).json()["live"]["herd_throttled_answers"] == 2
    for body, message in (({"throttle": {"requests": 2, "from": "switch"}}, "counts from now"),
                          ({"throttle": {"requests": 0}}, "throttle.requests must be a positive integer"),
                          ({"refused_seconds": -1}, "refused_seconds must be a number of seconds >= 0")):
        bad = requests.post(url, json=body, timeout=5)
        assert bad.status_code == 400 and message in bad.json()["error"], bad.json()


def test_calls_are_counted_per_operation_and_stack(control, make_stack, aws):
    entry = make_stack()
    other = make_stack()
    assert requests.delete(control + "/calls", timeout=5).json()["total"] == 0
    for _ in range(3):
        aws("codedeploy").get_deployment_group(applicationName=entry["codedeploy_application"],
                                               deploymentGroupName=entry["deployment_group"])
    aws("ssm").get_parameter(Name="/app/MDL/{0}/DEV/HERD/CurrentVersion".format(other["mdl_instance_name"]))
    aws("cloudformation").describe_stacks()
    calls = requests.get(control + "/calls", timeout=5).json()
    assert calls["overall"]["codedeploy:GetDeploymentGroup"] == 3
    assert calls["overall"]["cloudformation:DescribeStacks"] == 1
    assert calls["total"] == 5
    key = "{0}/DEV".format(entry["mdl_instance_name"])
    assert calls["stacks"][key] == {"codedeploy:GetDeploymentGroup": 3}
    assert calls["stacks"]["{0}/DEV".format(other["mdl_instance_name"])] == {"ssm:GetParameter": 1}
    json.dumps(calls)


def test_the_ssm_parameters_read_are_counted_by_name(control, make_stack, aws):
    entry = make_stack()
    prefix = "/app/MDL/{0}/DEV/".format(entry["mdl_instance_name"])
    requests.delete(control + "/calls", timeout=5)
    aws("ssm").get_parameter(Name=prefix + "HERD/CurrentVersion")
    aws("ssm").get_parameters(Names=[prefix + "HERD/CurrentVersion", prefix + "LDAP/User/HerdAdminUsername"])
    read = requests.get(control + "/calls", timeout=5).json()["parameters_read"]
    assert read == {"{0}/DEV".format(entry["mdl_instance_name"]): {
        prefix + "HERD/CurrentVersion": 2, prefix + "LDAP/User/HerdAdminUsername": 1}}
