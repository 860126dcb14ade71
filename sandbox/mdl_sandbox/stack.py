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
import re
import secrets
import threading
import zipfile
from typing import Any, Callable, Dict, Optional

from moto.ssm.models import ssm_backends

from .herd_web import HerdWeb
from .names import UPGRADE_FUNCTION_HANDLER, UPGRADE_FUNCTION_MODULE, StackNames
from .spec import StackSpec

BUILD_INFO_PATH = "/herd-app/rest/buildInfo"
DISPLAY_BUILD_INFO_PATH = "/herd-app/displayBuildInfo"
LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT = 900
ADMIN_USERNAME = "herd_admin"

# HERD's deployment hooks, as the bundle's appspec.yml names them (herd-mdl mdl/src/main/herd/).
# Events without a script are run by CodeDeploy itself (downloading the bundle, installing files,
# the load balancer's traffic).
HOOK_SCRIPTS = {
    "ApplicationStop": "scripts/stopHerd.sh",
    "BeforeInstall": "scripts/installPackagesForHerd.sh",
    "AfterInstall": "scripts/installDBForHerd.sh",
    "ApplicationStart": "scripts/configureAndStartHerd.sh",
    "ValidateService": "scripts/smokeTestHerd.sh",
}
HOOK_PURPOSES = {
    "ApplicationStop": "stops Tomcat",
    "BeforeInstall": "installs the packages HERD needs",
    "AfterInstall": "applies HERD's database changes",
    "ApplicationStart": "configures Tomcat (configureTomcat.sh) and starts it with herd-war-{HERD/RequestedVersion}.war",
    "ValidateService": "smoke test: buildInfo's buildNumber must equal HERD/RequestedVersion; then resets the SSM state",
}
# The user each script runs as (appspec.yml ``runas``; none means root).
RUN_AS = {"BeforeInstall": "root"}
HOOK_TIMEOUTS = {"ValidateService": 600, "AfterInstall": 600}
# What HERD/RequestedVersion holds once the smoke test validated an upgrade.
FILLED_LATER = "FilledLater"
# The HERD war the ApplicationStart script downloads (Maven Central).
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
WAR_PATH = "org/finra/herd/herd-war/{0}/herd-war-{0}.war"
# Versions Maven Central can hold for HERD: numbers and an optional qualifier.
PUBLISHABLE_RE = re.compile(r"^[0-9]+(\.[0-9]+)*(-[A-Za-z0-9]+)*$")

TEMPLATE_PARAMETERS = {
    "MDLInstanceName": {"Type": "String", "Description": "MDL instance name"},
    "Environment": {"Type": "String", "Description": "SDLC environment (DEV, QA, PROD, ...)"},
}


class Failure:
    """How a deployment of a stack fails: the event, and the diagnostics CodeDeploy shows."""

    def __init__(self, event: str, diagnostics: Dict[str, str]):
        self.event = event
        self.diagnostics = diagnostics


def unpublished_war_lines(version: Optional[str]):
    """What configureTomcat.sh prints when the war of ``version`` cannot be downloaded."""
    url = "{0}/{1}".format(MAVEN_CENTRAL, WAR_PATH.format(version))
    command = "wget --quiet --random-wait {0} -O /usr/share/tomcat8/webapps/herd-app.war".format(url)
    return [command, "*** ERROR *** {0} has failed with error 8".format(command)]


def smoke_test_lines(actual: Optional[str], requested: Optional[str]):
    """What smokeTestHerd.sh prints when buildInfo reports another version than HERD/RequestedVersion."""
    return ["Running smoke tests...",
            "Verifying build number, requested version is: {0}".format(requested),
            "Actual build number: {0}".format(actual),
            "Actual herd version: {0} doesn't match requested version: {1}".format(actual, requested)]


def script_diagnostics(event: str, lines) -> Dict[str, str]:
    """A ScriptFailed diagnostics structure for ``event``'s script, with ``lines`` as its log tail."""
    script = HOOK_SCRIPTS[event]
    log_tail = "".join("[stdout]{0}\n".format(line) for line in lines[:-1]) + "[stderr]{0}\n".format(lines[-1])
    return {
        "errorCode": "ScriptFailed",
        "scriptName": script,
        "message": "Script at specified location: {0} run as user {1} failed with exit code 1".format(
            script, RUN_AS.get(event, "mdladmin")),
        "logTail": log_tail,
    }


def failure_diagnostics(event: str, version: Optional[str], previous: Optional[str],
                        target_group: str) -> Dict[str, str]:
    """Diagnostics of a failed lifecycle event, with a few lines of the script's log."""
    script = HOOK_SCRIPTS.get(event)
    tails = {
        "ApplicationStop": ["Stopping tomcat", "tomcat did not stop within 120 seconds"],
        "BeforeInstall": ["Installing packages: java-1.8.0-openjdk, tomcat8", "yum: No more mirrors to try."],
        "AfterInstall": ["Applying HERD database changes for {0}".format(version),
                         "liquibase: Migration failed for change set herd-{0}".format(version)],
        "ApplicationStart": unpublished_war_lines(version),
        "ValidateService": smoke_test_lines(previous, version),
    }
    if script is None:
        messages = {
            "DownloadBundle": "The CodeDeploy agent could not download the revision from Amazon S3.",
            "Install": "The CodeDeploy agent could not copy the revision's files to their destination.",
            "AllowTraffic": "The replacement instance failed the health checks of target group {0}.".format(
                target_group),
            "BeforeAllowTraffic": "The CodeDeploy agent could not prepare the instance for target group {0}.".format(
                target_group),
            "AfterAllowTraffic": "The instance did not stay healthy in target group {0}.".format(target_group),
        }
        return {"errorCode": "UnknownError", "scriptName": "", "message": messages.get(event, "Event failed."),
                "logTail": ""}
    return script_diagnostics(event, tails.get(event, ["{0} failed".format(script)]))


def bundle_zip(release_version: str) -> bytes:
    """The CodeDeploy revision HERD is deployed from: an appspec.yml and its hook scripts."""
    hooks = "".join(
        "  {0}:\n    - location: {1}\n      timeout: {2}\n{3}".format(
            event, script, HOOK_TIMEOUTS.get(event, 300),
            "" if RUN_AS.get(event) == "root" else "      runas: mdladmin\n")
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
        if self.faults.herd_throttle.get("from") == "start":
            self.herd_throttle()

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
            Timeout=self.spec.function_timeout,
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
                # created with the stack by herd-mdl's mdlHerd.yml, as here
                ("HERD/RequestedVersion", FILLED_LATER, "String"),
                ("HERD/DeploymentInvoked", "false", "String"),
                ("HERD/MostRecentDeploymentId", FILLED_LATER, "String"),
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
        """How a deployment fails on this stack whatever it installs (the ``fail_at_event`` fault), if it does.

        Failures that depend on the version (not published, smoke test) are decided when the
        bundle's scripts run: see :meth:`application_start` and :meth:`validate_service`.
        """
        event = self.faults.fail_at_event
        if not event:
            return None
        return Failure(event, failure_diagnostics(event, version, self.deployed_version, self.names.target_group))

    # -- what the bundle's scripts do on the replacement instance --------------------------------
    # They read and write SSM directly (not through the sandbox's AWS endpoint): they run inside
    # the deployment driver, which holds the scheduler's lock that every AWS answer takes first.
    def ssm_value(self, name: str) -> Optional[str]:
        parameter = ssm_backends[self.account_id][self.region].get_parameter(self.names.parameter(name))
        return parameter.value if parameter is not None else None

    def put_ssm(self, name: str, value: str) -> None:
        ssm_backends[self.account_id][self.region].put_parameter(
            self.names.parameter(name), None, value, "String", None, None, True, [], "text", None, None)

    def is_published(self, version: Optional[str]) -> bool:
        """Whether Maven Central has the HERD war of ``version`` (``FilledLater`` and words never)."""
        return (isinstance(version, str) and bool(PUBLISHABLE_RE.match(version))
                and version not in self.faults.unpublished_versions)

    def application_start(self, deployment) -> Optional[Failure]:
        """configureTomcat.sh: install the war of HERD/RequestedVersion as it reads now when HERD/DeploymentInvoked
        is true (an upgrade), else of HERD/CurrentVersion; a failure if unpublished."""
        if self.ssm_value("HERD/DeploymentInvoked") == "true":
            version = self.ssm_value("HERD/RequestedVersion") or self.deployed_version
        else:
            version = self.ssm_value("HERD/CurrentVersion") or self.deployed_version
        deployment.installed_version = version
        deployment.target_version = version
        if self.is_published(version):
            return None
        return Failure("ApplicationStart", script_diagnostics("ApplicationStart", unpublished_war_lines(version)))

    def validate_service(self, deployment) -> Optional[Failure]:
        """smokeTestHerd.sh: on an upgrade, buildNumber must equal HERD/RequestedVersion; then reset the state."""
        requested = self.ssm_value("HERD/RequestedVersion")
        if self.ssm_value("HERD/DeploymentInvoked") != "true":
            return None
        installed = deployment.installed_version
        if installed != requested:
            return Failure("ValidateService", script_diagnostics(
                "ValidateService", smoke_test_lines(installed, requested)))
        self.put_ssm("HERD/RequestedVersion", FILLED_LATER)
        self.put_ssm("HERD/CurrentVersion", requested)
        self.put_ssm("HERD/DeploymentInvoked", "false")
        return None

    def traffic_switched(self, deployment) -> None:
        """Traffic now reaches the deployment's instance: HERD serves its version."""
        if deployment.target_version is None:
            return
        previous = self.web.version
        self.deployed_version = deployment.target_version
        if self.faults.herd_refused_seconds:
            self.web.refuse_connections_for(self.faults.herd_refused_seconds)
        if not self.faults.herd_stale_version:
            self.web.set_version(deployment.target_version)
            if self.faults.herd_alternate_seconds and previous != deployment.target_version:
                self.web.alternate_for(previous, self.faults.herd_alternate_seconds)
        if self.faults.herd_throttle.get("from") == "switch":
            self.herd_throttle()

    def herd_throttle(self) -> None:
        """The ``herd_throttle`` fault: the next N requests to buildInfo are throttled."""
        throttle = self.faults.herd_throttle
        self.web.throttle_next(throttle["requests"], throttle["status"], throttle["retry_after"])

    def herd_unavailable(self, seconds: float) -> None:
        self.web.unavailable_for(seconds)

    def deployment_succeeded(self, deployment, live_instance_id: str) -> None:
        self.live_instance_id = live_instance_id

    def refusal(self, key: str) -> Optional[str]:
        """The error code this stack's faults refuse a call ``key`` with (not throttling), or None."""
        if self.faults.expired_credentials:
            return "ExpiredToken"
        if key in self.faults.deny:
            return "AccessDenied"
        return None

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
            "aws_account_id": self.account_id,
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
