"""What a new stack holds, read back through plain boto3 calls, as DOMAIN.md describes it."""

import io
import zipfile

import pytest
import requests

from mdl_sandbox import StackExists

PARAMETERS = ("HERD/CurrentVersion", "HERD/AutoScalingGroup", "LDAP/User/HerdAdminUsername",
              "LDAP/Password/HerdAdminPassword", "Resources/Lambda/UpgradeHerdArn")
# created with the stack by herd-mdl's mdlHerd.yml, before any upgrade
BEFORE_ANY_UPGRADE = {"HERD/MostRecentDeploymentId": "FilledLater", "HERD/RequestedVersion": "FilledLater",
                      "HERD/DeploymentInvoked": "false"}


def name(entry, parameter):
    return "/app/MDL/{0}/{1}/{2}".format(entry["mdl_instance_name"], entry["mdl_environment"], parameter)


def test_ssm_parameters(make_stack, aws):
    entry = make_stack(current_version="0.171.0")
    ssm = aws("ssm")
    values = {p: ssm.get_parameter(Name=name(entry, p), WithDecryption=True)["Parameter"] for p in PARAMETERS}
    assert values["HERD/CurrentVersion"]["Value"] == "0.171.0"
    assert values["LDAP/User/HerdAdminUsername"]["Value"] == entry["herd_username"]
    assert values["LDAP/Password/HerdAdminPassword"]["Type"] == "SecureString"
    assert values["LDAP/Password/HerdAdminPassword"]["Value"] == entry["herd_password"]
    assert values["Resources/Lambda/UpgradeHerdArn"]["Value"] == entry["upgrade_function_arn"]
    assert values["Resources/Lambda/UpgradeHerdArn"]["Value"].endswith(
        ":function:{0}-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION".format(entry["mdl_instance_name"]))
    for parameter, value in BEFORE_ANY_UPGRADE.items():
        assert ssm.get_parameter(Name=name(entry, parameter))["Parameter"]["Value"] == value


def test_codedeploy_group_is_in_place_with_the_asg(make_stack, aws):
    entry = make_stack()
    info = aws("codedeploy").get_deployment_group(applicationName=entry["codedeploy_application"],
                                                  deploymentGroupName=entry["deployment_group"])["deploymentGroupInfo"]
    assert entry["codedeploy_application"] == entry["mdl_instance_name"] + "-Herd"
    assert entry["deployment_group"] == entry["mdl_instance_name"] + "-HerdDeployGroup"
    assert info["deploymentStyle"] == {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}
    assert info["deploymentConfigName"] == "CodeDeployDefault.AllAtOnce"
    asg = aws("ssm").get_parameter(Name=name(entry, "HERD/AutoScalingGroup"))["Parameter"]["Value"]
    assert [g["name"] for g in info["autoScalingGroups"]] == [asg]
    assert info["autoScalingGroups"][0]["hook"].startswith("CodeDeploy-managed-automatic-launch-deployment-hook-")
    assert "blueGreenDeploymentConfiguration" not in info
    assert aws("codedeploy").list_deployments(applicationName=entry["codedeploy_application"],
                                              deploymentGroupName=entry["deployment_group"])["deployments"] == []


def test_upgrade_lambda_configuration(make_stack, aws, endpoints):
    entry = make_stack()
    config = aws("lambda").get_function(FunctionName=entry["upgrade_function_name"])["Configuration"]
    assert config["Runtime"].startswith("python")
    assert config["Timeout"] == 900
    assert config["Environment"]["Variables"] == {
        "INSTANCE_NAME": entry["mdl_instance_name"], "ENVIRONMENT": "DEV",
        "STAGING_BUCKET": "{0}-{1}-staging-dev".format(endpoints["aws_account_id"], entry["mdl_instance_name"]),
        "RELEASE_VERSION": entry["release_version"]}


def test_staging_bucket_holds_the_bundle(make_stack, aws):
    entry = make_stack()
    body = aws("s3").get_object(Bucket=entry["staging_bucket"],
                                Key="{0}/herd/herd.zip".format(entry["release_version"]))["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        appspec = archive.read("appspec.yml").decode()
    assert "ValidateService:" in appspec


def test_nested_herd_stack_outputs_the_buildinfo_url(make_stack, aws):
    entry = make_stack()
    stack = aws("cloudformation").describe_stacks(StackName=entry["cloudformation_stack_name"])["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "MDLInstanceName": entry["mdl_instance_name"], "Environment": "DEV"}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["HerdLoadBalancerURL"] == entry["herd_https_buildinfo_url"]
    # The root stack carries the same parameters but not the output: find the Herd stack by its output.
    root = aws("cloudformation").describe_stacks(StackName=entry["cloudformation_root_stack_name"])["Stacks"][0]
    assert "HerdLoadBalancerURL" not in {o["OutputKey"] for o in root.get("Outputs", [])}


def test_stack_without_ssl_publishes_plain_http_without_auth(make_stack, aws):
    entry = make_stack(ssl=False)
    assert entry["herd_https_base_url"] is None
    assert entry["herd_load_balancer_url"] == entry["herd_buildinfo_url"]
    answer = requests.get(entry["herd_buildinfo_url"], headers={"Accept": "application/json"}, timeout=5)
    assert answer.json()["buildNumber"] == entry["current_version"]


def test_https_buildinfo_needs_auth_and_the_ca(make_stack, endpoints):
    entry = make_stack()
    url = entry["herd_https_buildinfo_url"]
    assert requests.get(url, verify=endpoints["herd_ca_path"], timeout=5).status_code == 401
    answer = requests.get(url, verify=endpoints["herd_ca_path"], auth=(entry["herd_username"], entry["herd_password"]),
                          timeout=5)
    assert "<buildNumber>0.170.0</buildNumber>" in answer.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=5)


def test_a_fleet_of_stacks_in_two_regions(make_stack, aws, sandbox):
    dev = make_stack(mdl_instance_name="fleet", mdl_environment="DEV")
    qa = make_stack(mdl_instance_name="fleet", mdl_environment="QA", region="us-west-2", current_version="0.169.0")
    assert (dev["aws_region"], qa["aws_region"]) == ("us-east-1", "us-west-2")
    for entry in (dev, qa):
        config = aws("lambda", entry["aws_region"]).get_function(FunctionName=entry["upgrade_function_name"])
        assert config["Configuration"]["FunctionArn"].split(":")[3] == entry["aws_region"]
    keys = {(s["mdl_instance_name"], s["mdl_environment"]) for s in sandbox.endpoints()["stacks"]}
    assert {("fleet", "DEV"), ("fleet", "QA")} <= keys


def test_conflicts_are_refused(make_stack):
    make_stack(mdl_instance_name="twice", mdl_environment="DEV")
    with pytest.raises(StackExists, match="exists already"):
        make_stack(mdl_instance_name="twice", mdl_environment="DEV")
    with pytest.raises(StackExists, match="CodeDeploy application"):
        make_stack(mdl_instance_name="twice", mdl_environment="QA")
