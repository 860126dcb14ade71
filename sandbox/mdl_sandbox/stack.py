"""One simulated MDL stack: its AWS resources, its HERD web tier and its faults.

:meth:`Stack.seed` creates, through plain AWS calls against the sandbox, what a real stack
has: the SSM parameters, the staging bucket with the deployment bundle, the IAM roles, the
CodeDeploy application and IN_PLACE group, the upgrade Lambda and the CloudFormation stacks
(the root MDL stack and its nested Herd stack, whose output ``HerdLoadBalancerURL`` is the
REST buildInfo URL). The stack then answers the deployment driver's hooks: which version a
deployment brings, whether it fails and how, and what HERD serves when traffic is rerouted.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import zipfile
from typing import Any, Callable, Dict, Optional

from moto.ssm.models import ssm_backends

from .herd_web import HerdWeb
from .names import UPGRADE_FUNCTION_HANDLER, UPGRADE_FUNCTION_MODULE, StackNames
from .spec import StackSpec
from .timeline import GREEN_EVENTS

BUILD_INFO_PATH = "/herd-app/rest/buildInfo"
DISPLAY_BUILD_INFO_PATH = "/herd-app/displayBuildInfo"
LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT = 900
ADMIN_USERNAME = "herd_admin"

# HERD's deployment hooks (appspec.yml of the bundle). Events without a script are run by
# CodeDeploy itself (downloading the bundle, installing files, the load balancer's traffic).
HOOK_SCRIPTS = {
    "ApplicationStop": "scripts/application_stop.sh",
    "BeforeInstall": "scripts/before_install.sh",
    "AfterInstall": "scripts/after_install.sh",
    "ApplicationStart": "scripts/application_start.sh",
    "ValidateService": "scripts/validate_service.sh",
    "BeforeAllowTraffic": "scripts/before_allow_traffic.sh",
    "AfterAllowTraffic": "scripts/after_allow_traffic.sh",
}
HOOK_PURPOSES = {
    "ApplicationStop": "stops Tomcat",
    "BeforeInstall": "installs the packages HERD needs",
    "AfterInstall": "applies HERD's database changes",
    "ApplicationStart": "configures Tomcat and starts it with the requested HERD war",
    "ValidateService": "smoke test: fails unless buildInfo reports the requested version",
    "BeforeAllowTraffic": "checks the instance before it joins the target group",
    "AfterAllowTraffic": "checks HERD behind the load balancer",
}

TEMPLATE_PARAMETERS = {
    "MDLInstanceName": {"Type": "String", "Description": "MDL instance name"},
    "Environment": {"Type": "String", "Description": "SDLC environment (DEV, QA, PROD, ...)"},
}


class Failure:
    """How a deployment of a stack fails: the event, and the diagnostics CodeDeploy shows."""

    def __init__(self, event: str, diagnostics: Dict[str, str]):
        self.event = event
        self.diagnostics = diagnostics


def failure_diagnostics(event: str, version: Optional[str], previous: Optional[str],
                        target_group: str) -> Dict[str, str]:
    """Diagnostics of a failed lifecycle event, with a few lines of the script's log."""
    script = HOOK_SCRIPTS.get(event)
    tails = {
        "ApplicationStop": ["Stopping tomcat", "tomcat did not stop within 120 seconds"],
        "BeforeInstall": ["Installing packages: java-1.8.0-openjdk, tomcat8", "yum: No more mirrors to try."],
        "AfterInstall": ["Applying HERD database changes for {0}".format(version),
                         "liquibase: Migration failed for change set herd-{0}".format(version)],
        "ApplicationStart": [
            "Downloading org/finra/herd/herd-war/{0}/herd-war-{0}.war from Maven Central".format(version),
            "curl: (22) The requested URL returned error: 404",
            "HERD war {0} is not published on Maven Central".format(version)],
        "ValidateService": [
            "Smoke test: GET https://localhost:8443{0}".format(BUILD_INFO_PATH),
            "buildNumber reported: {0}".format(previous),
            "Smoke test failed: expected buildNumber {0}".format(version)],
        "BeforeAllowTraffic": ["Checking instance health before registration", "health check failed"],
        "AfterAllowTraffic": ["Checking HERD behind the load balancer",
                              "GET {0} answered 502 Bad Gateway".format(BUILD_INFO_PATH)],
    }
    if script is None:
        messages = {
            "DownloadBundle": "The CodeDeploy agent could not download the revision from Amazon S3.",
            "Install": "The CodeDeploy agent could not copy the revision's files to their destination.",
            "AllowTraffic": "The replacement instance failed the health checks of target group {0}.".format(
                target_group),
        }
        return {"errorCode": "UnknownError", "scriptName": "", "message": messages.get(event, "Event failed."),
                "logTail": ""}
    lines = tails.get(event, ["{0} failed".format(script)])
    log_tail = "".join("[stdout]{0}\n".format(line) for line in lines[:-1]) + "[stderr]{0}\n".format(lines[-1])
    return {
        "errorCode": "ScriptFailed",
        "scriptName": script,
        "message": "Script at specified location: {0} run as user root failed with exit code 1".format(script),
        "logTail": log_tail,
    }


def bundle_zip(release_version: str) -> bytes:
    """The CodeDeploy revision HERD is deployed from: an appspec.yml and its hook scripts."""
    hooks = "".join(
        "  {0}:\n    - location: {1}\n      timeout: 1800\n      runas: root\n".format(event, script)
        for event, script in HOOK_SCRIPTS.items())
    appspec = ("version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /home/mdladmin/deploy/herd\n"
               "hooks:\n" + hooks)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("appspec.yml", appspec)
        for event, script in HOOK_SCRIPTS.items():
            archive.writestr(script, "#!/bin/bash\n# {0}: {1} (MDL {2})\nexit 0\n".format(
                event, HOOK_PURPOSES[event], release_version))
    return buffer.getvalue()


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(UPGRADE_FUNCTION_MODULE + ".py",
                         "# The MDL sandbox runs this function in-process (mdl_sandbox.upgrade_lambda).\n"
                         "def handler(event, context):\n    raise NotImplementedError\n")
    return buffer.getvalue()


def _template(outputs: Dict[str, Any], description: str, log_group: str) -> str:
    """A template with the MDL parameters, one log group (a resource moto models) and outputs."""
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
        "Parameters": TEMPLATE_PARAMETERS,
        "Resources": {"LogGroup": {"Type": "AWS::Logs::LogGroup",
                                   "Properties": {"LogGroupName": log_group, "RetentionInDays": 30}}},
        "Outputs": outputs,
    })


class Stack:
    """A seeded MDL stack and its live state."""

    def __init__(self, spec: StackSpec, account_id: str, region: str, deployment_seconds: float):
        self.spec = spec
        self.faults = spec.faults
        self.account_id = account_id
        self.region = region
        self.deployment_seconds = float(deployment_seconds)
        self.names = StackNames(spec.mdl_instance_name, spec.mdl_environment, account_id)
        self.key = self.names.key
        self.username = ADMIN_USERNAME
        self.password = secrets.token_urlsafe(18)
        self.deployed_version = spec.current_version
        self.live_instance_id = "i-" + secrets.token_hex(9)[:17]
        self.web: Optional[HerdWeb] = None
        self.function_arn: Optional[str] = None
        self.deployment_group_id: Optional[str] = None
        self._throttle_left = dict(spec.faults.throttle)
        self._throttle_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start_web(self, tls_cert=None) -> None:
        self.web = HerdWeb(version=self.spec.current_version,
                           username=self.username if self.spec.ssl else None,
                           password=self.password if self.spec.ssl else None,
                           tls_cert=tls_cert if self.spec.ssl else None)
        self.web.start()

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()

    @property
    def load_balancer_url(self) -> str:
        base = self.web.https_base_url if self.spec.ssl else self.web.http_base_url
        return base + BUILD_INFO_PATH

    def seed(self, client: Callable[[str], Any]) -> None:
        """Create the stack's AWS resources; ``client(service)`` gives a client in its region."""
        names = self.names
        iam = client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "codedeploy.amazonaws.com"]},
             "Action": "sts:AssumeRole"}]})
        for role in (names.lambda_role, names.codedeploy_role):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)

        s3 = client("s3")
        bucket = {"Bucket": names.staging_bucket}
        if self.region != "us-east-1":
            bucket["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(**bucket)
        s3.put_object(Bucket=names.staging_bucket, Key=names.bundle_key(self.spec.release_version),
                      Body=bundle_zip(self.spec.release_version))

        codedeploy = client("codedeploy")
        codedeploy.create_application(applicationName=names.codedeploy_application, computePlatform="Server")
        codedeploy.create_deployment_group(
            applicationName=names.codedeploy_application,
            deploymentGroupName=names.deployment_group,
            deploymentConfigName="CodeDeployDefault.AllAtOnce",
            autoScalingGroups=[names.auto_scaling_group],
            serviceRoleArn=names.role_arn(names.codedeploy_role),
            deploymentStyle={"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
        )

        function = client("lambda").create_function(
            FunctionName=names.upgrade_function_name,
            Runtime=LAMBDA_RUNTIME,
            Role=names.role_arn(names.lambda_role),
            Handler=UPGRADE_FUNCTION_HANDLER,
            Code={"ZipFile": function_zip()},
            Description="Blue/Green upgrade of HERD on MDL stack {0}".format(self.key),
            Timeout=LAMBDA_TIMEOUT,
            Environment={"Variables": {
                "INSTANCE_NAME": names.instance_name,
                "ENVIRONMENT": names.environment,
                "STAGING_BUCKET": names.staging_bucket,
                "RELEASE_VERSION": self.spec.release_version,
            }},
        )
        self.function_arn = function["FunctionArn"]

        ssm = client("ssm")
        for name, value, kind in (
                ("HERD/CurrentVersion", self.spec.current_version, "String"),
                ("HERD/AutoScalingGroup", names.auto_scaling_group, "String"),
                ("LDAP/User/HerdAdminUsername", self.username, "String"),
                ("LDAP/Password/HerdAdminPassword", self.password, "SecureString"),
                ("Resources/Lambda/UpgradeHerdArn", self.function_arn, "String")):
            ssm.put_parameter(Name=names.parameter(name), Value=value, Type=kind)

        parameters = [{"ParameterKey": "MDLInstanceName", "ParameterValue": names.instance_name},
                      {"ParameterKey": "Environment", "ParameterValue": names.environment}]
        cloudformation = client("cloudformation")
        cloudformation.create_stack(
            StackName=names.root_stack_name, Parameters=parameters,
            TemplateBody=_template({"MDLInstanceName": {"Value": names.instance_name}},
                                   "MDL {0}: root stack".format(self.key),
                                   "/mdl/{0}/{1}/deploy".format(names.instance_name, names.environment)))
        cloudformation.create_stack(
            StackName=names.herd_stack_name, Parameters=parameters,
            TemplateBody=_template({"HerdLoadBalancerURL": {
                "Value": self.load_balancer_url,
                "Description": "HERD buildInfo URL behind the load balancer"}},
                "MDL {0}: nested Herd stack".format(self.key),
                "/aws/lambda/{0}".format(names.upgrade_function_name)))

    # -- hooks of the deployment driver ---------------------------------------------------------
    def requested_version(self) -> str:
        """The version a new deployment brings: what the upgrade Lambda wrote to SSM."""
        parameter = ssm_backends[self.account_id][self.region].get_parameter(
            self.names.parameter("HERD/RequestedVersion"))
        return parameter.value if parameter is not None else self.deployed_version

    def failure_for(self, version: Optional[str]) -> Optional[Failure]:
        """How a deployment of ``version`` fails on this stack, if it does."""
        candidates = []
        if self.faults.fail_at_event:
            candidates.append(self.faults.fail_at_event)
        if version in self.faults.unpublished_versions:
            candidates.append("ApplicationStart")
        if not candidates:
            return None
        event = min(candidates, key=GREEN_EVENTS.index)
        return Failure(event, failure_diagnostics(event, version, self.deployed_version, self.names.target_group))

    def traffic_switched(self, deployment) -> None:
        """Traffic now reaches the deployment's instance: HERD serves its version."""
        if deployment.target_version is None:
            return
        self.deployed_version = deployment.target_version
        if not self.faults.herd_stale_version:
            self.web.set_version(deployment.target_version)

    def herd_unavailable(self, seconds: float) -> None:
        self.web.unavailable_for(seconds)

    def deployment_succeeded(self, deployment, live_instance_id: str) -> None:
        self.live_instance_id = live_instance_id

    def take_throttle(self, key: str) -> bool:
        """True when this call is one of the first N of ``key`` the throttle fault refuses."""
        with self._throttle_lock:
            left = self._throttle_left.get(key, 0)
            if left <= 0:
                return False
            self._throttle_left[key] = left - 1
            return True

    # -- what the stack tells the outside ---------------------------------------------------------
    def entry(self) -> Dict[str, Any]:
        names, web = self.names, self.web
        https = web.https_base_url
        return {
            "mdl_instance_name": names.instance_name,
            "mdl_environment": names.environment,
            "aws_region": self.region,
            "current_version": self.spec.current_version,
            "ssl": self.spec.ssl,
            "herd_base_url": web.http_base_url,
            "herd_buildinfo_url": web.http_base_url + BUILD_INFO_PATH,
            "herd_display_url": web.http_base_url + DISPLAY_BUILD_INFO_PATH,
            "herd_https_base_url": https,
            "herd_https_buildinfo_url": https + BUILD_INFO_PATH if https else None,
            "herd_https_display_url": https + DISPLAY_BUILD_INFO_PATH if https else None,
            "herd_load_balancer_url": self.load_balancer_url,
            "herd_username": self.username,
            "herd_password": self.password,
            "upgrade_function_name": names.upgrade_function_name,
            "upgrade_function_arn": self.function_arn,
            "codedeploy_application": names.codedeploy_application,
            "deployment_group": names.deployment_group,
            "cloudformation_stack_name": names.herd_stack_name,
            "cloudformation_root_stack_name": names.root_stack_name,
            "staging_bucket": names.staging_bucket,
            "release_version": self.spec.release_version,
            "deployment_seconds": _number(self.deployment_seconds),
            "faults": self.faults.to_dict(),
        }


def _number(value: float):
    """20.0 as 20, 2.5 as 2.5: the way a person wrote it."""
    return int(value) if float(value).is_integer() else value
