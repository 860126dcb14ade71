"""The sandbox: a simulated fleet of MDL stacks on 127.0.0.1.

    from mdl_sandbox import Sandbox, StackSpec

    with Sandbox(workdir=".sandbox", deployment_seconds=20) as sandbox:
        entry = sandbox.add_stack(StackSpec("mdl", "DEV"))
        sandbox.write_endpoints(".sandbox/endpoints.json")

One AWS endpoint (moto, extended) serves every stack; each stack has its own HERD web tier
(HTTP, and HTTPS signed by the sandbox's CA); the control API creates stacks and reports
what happened. See sandbox/README.md.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Optional, Union

import boto3
from botocore.config import Config
from moto.codedeploy.models import codedeploy_backends

from . import aws, codedeploy, iam, upgrade_lambda
from .codedeploy import CodeDeployEmulator, HoldError
from .control import ControlServer
from .maven import USERNAME as MAVEN_USERNAME, MavenRepository
from .scheduler import Scheduler
from .spec import SpecError, StackSpec
from .stack import Stack
from .timeline import BLUE_EVENTS, GREEN_EVENTS, TERMINATION_WAIT
from .tls import CertificateAuthority
from .upgrade_lambda import LambdaRuntime, UpgradeHerdFunction
from .wire import INTERNAL_HEADER, AwsCall, AwsMiddleware, CallLog

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
# The role the sandbox assumes to seed a stack of another account (StackSpec.account_id)
SANDBOX_ROLE = "mdl-sandbox"
_SSM_STACK_RE = re.compile(r"^/app/MDL/([^/]+)/([^/]+)(/|$)")


class StackExists(Exception):
    """A stack of that name exists already, or its CodeDeploy names are taken in its region."""


class Sandbox:
    """A simulated MDL fleet. ``start()`` / ``stop()``, or use it as a context manager."""

    def __init__(self, workdir: Union[str, os.PathLike] = ".sandbox", region: str = "us-east-1",
                 deployment_seconds: float = 20.0, host: str = "127.0.0.1"):
        if deployment_seconds is None or deployment_seconds <= 0:
            raise ValueError("deployment_seconds must be greater than 0; got {0!r}".format(deployment_seconds))
        self.workdir = Path(workdir).resolve()
        self.region = region
        self.deployment_seconds = float(deployment_seconds)
        self.host = host
        self.account_id = aws.account_id()
        self.stacks: Dict[str, Stack] = {}
        self.calls = CallLog()
        # restricted principals (policies by access key id), and what each key used
        self.iam = iam.Authorizer.from_environment(self.account_id, account_of=aws.account_of)
        self.scheduler: Optional[Scheduler] = None
        self.codedeploy: Optional[CodeDeployEmulator] = None
        self.runtime: Optional[LambdaRuntime] = None
        self.aws: Optional[aws.AwsServer] = None
        self.control: Optional[ControlServer] = None
        self.maven: Optional[MavenRepository] = None
        self.ca: Optional[CertificateAuthority] = None
        self._session = None
        self._clients: Dict[tuple, Any] = {}
        self._clients_lock = threading.Lock()
        self._add_lock = threading.Lock()
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        if self._started:
            raise RuntimeError("this Sandbox is already started")
        aws.claim()
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.ca = CertificateAuthority.create(self.workdir)
            self.scheduler = Scheduler()
            self.scheduler.start()
            self.runtime = LambdaRuntime()
            upgrade_lambda.install(self.runtime)
            self.codedeploy = CodeDeployEmulator(self.scheduler, self._stack_for_group, self.deployment_seconds,
                                                 aws.revision_exists)
            codedeploy.install(self.codedeploy)
            self.aws = aws.AwsServer(self._middleware, host=self.host)
            self.aws.start()
            self._session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                                  region_name=self.region)
            self.control = ControlServer(self, host=self.host)
            self.control.start()
            self.maven = MavenRepository(self._unpublished, host=self.host)
            self.maven.start()
            self._started = True
        except BaseException:
            self._teardown()
            raise
        return self

    def stop(self) -> None:
        if self._started:
            self._teardown()

    def _teardown(self) -> None:
        for part in (self.control, self.aws, self.maven):
            if part is not None:
                part.stop()
        stoppers = [threading.Thread(target=stack.stop) for stack in self.stacks.values()]
        for stopper in stoppers:  # each HERD web tier takes a moment to close: all at once
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        if self.scheduler is not None:
            self.scheduler.stop()
        codedeploy.install(None)
        upgrade_lambda.install(None)
        self._started = False
        self.control = self.aws = self.maven = None
        aws.release()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- AWS plumbing ----------------------------------------------------------------------------
    def _middleware(self, app):
        return AwsMiddleware(app, self.calls, self.stack_for_call, lambda: self.scheduler.run_due(),
                             account_throttle=self.account_throttle,
                             authorize=lambda call: self.iam.judge(call, self._deployment_group_of))

    def _deployment_group_of(self, deployment_id: str):
        found = self.codedeploy.deployments.get(deployment_id) if self.codedeploy is not None else None
        stack = found.stack if found is not None else None
        return (stack.names.codedeploy_application, stack.names.deployment_group) if stack is not None else None

    @property
    def aws_endpoint_url(self) -> str:
        return self.aws.url

    def client(self, service: str, region: Optional[str] = None, account: Optional[str] = None):
        """A boto3 client of the sandbox itself: its calls are counted apart and never throttled.

        ``account``: another account than the sandbox's, with the credentials of its role SANDBOX_ROLE (STS).
        """
        account = account or self.account_id
        key = (service, region or self.region, account)
        with self._clients_lock:
            if key not in self._clients:
                session = self._session if account == self.account_id else self._account_session(account)
                client = session.client(service, region_name=key[1], endpoint_url=self.aws.url,
                                        config=Config(retries={"max_attempts": 3, "mode": "standard"}))
                client.meta.events.register("before-send", _mark_internal)
                self._clients[key] = client
            return self._clients[key]

    def _account_session(self, account: str):
        """A session in ``account``: moto answers for a role's account with the credentials that assumed it."""
        sts = self._session.client("sts", endpoint_url=self.aws.url)
        sts.meta.events.register("before-send", _mark_internal)
        credentials = sts.assume_role(RoleArn="arn:aws:iam::{0}:role/{1}".format(account, SANDBOX_ROLE),
                                      RoleSessionName="mdl-sandbox")["Credentials"]
        return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"],
                                     aws_secret_access_key=credentials["SecretAccessKey"],
                                     aws_session_token=credentials["SessionToken"], region_name=self.region)

    def _stack_for_group(self, group) -> Optional[Stack]:
        for stack in list(self.stacks.values()):
            if stack.deployment_group_id == group.deployment_group_id:
                return stack
        return None

    # What names a resource in a call's parameters; a call with none of these is account-wide.
    RESOURCE_PARAMETERS = ("StackName", "deploymentId", "deploymentIds", "applicationName", "Name", "Names", "Path",
                           "FunctionName", "Bucket", "ParameterFilters", "Filters")

    def account_throttle(self, call: AwsCall) -> bool:
        """An account-wide call (one that names no resource, such as DescribeStacks without StackName) is
        throttled when a stack of its region throttles that operation; a call naming a resource that
        belongs to no stack (a missing deployment) is not."""
        if any(call.params.get(name) for name in self.RESOURCE_PARAMETERS):
            return False
        return any(s.take_throttle(call.key) for s in list(self.stacks.values()) if s.region == call.region)

    def stack_for_call(self, call: AwsCall) -> Optional[Stack]:
        """The stack an AWS call names a resource of (None when it names none)."""
        params = call.params
        stacks = list(self.stacks.values())
        candidates = [s for s in stacks if s.region == call.region]
        if call.service == "codedeploy":
            deployment_id = params.get("deploymentId") or next(iter(params.get("deploymentIds") or []), None)
            if deployment_id and self.codedeploy is not None:
                found = self.codedeploy.deployments.get(deployment_id)
                return found.stack if found is not None else None
            application = params.get("applicationName")
            return next((s for s in candidates if s.names.codedeploy_application == application), None)
        if call.service == "ssm":
            names = [params.get("Name"), params.get("Path")] + list(params.get("Names") or [])
            for name in filter(None, names):
                match = _SSM_STACK_RE.match(str(name))
                if match:
                    key = "{0}/{1}".format(match.group(1), match.group(2))
                    stack = self.stacks.get(key)
                    return stack if stack is not None and stack.region == call.region else None
            return None
        if call.service == "lambda":
            name = str(params.get("FunctionName") or "")
            name = name.split(":function:")[-1].split(":")[0]
            return next((s for s in candidates if s.names.upgrade_function_name == name), None)
        if call.service == "cloudformation":
            name = str(params.get("StackName") or "")
            name = name.split(":stack/")[-1].split("/")[0]
            return next((s for s in candidates if name in (s.names.herd_stack_name, s.names.root_stack_name)), None)
        if call.service == "s3":
            bucket = params.get("Bucket")
            return next((s for s in stacks if s.names.staging_bucket == bucket), None)
        return None

    # -- stacks ------------------------------------------------------------------------------------
    def add_stack(self, spec: Union[StackSpec, Dict[str, Any]]) -> Dict[str, Any]:
        """Create a stack (seeded, HERD serving) and return its endpoints entry.

        Raises :class:`SpecError` for a bad spec and :class:`StackExists` when the stack, or its
        CodeDeploy application in that region, exists already.
        """
        if not self._started:
            raise RuntimeError("start the Sandbox before adding stacks")
        if not isinstance(spec, StackSpec):
            spec = StackSpec.from_dict(spec)
        region = spec.region or self.region
        seconds = spec.deployment_seconds or self.deployment_seconds
        with self._add_lock:
            stack = Stack(spec, spec.account_id or self.account_id, region, seconds)
            self._check_free(stack)
            cert = None
            if spec.ssl:
                cert = self.ca.issue_server_cert(self.workdir / "certs", name=stack.key.replace("/", "-"))
            stack.start_web(cert)
            try:
                stack.seed(lambda service: self.client(service, region, stack.account_id))
                group = codedeploy_backends[stack.account_id][region].get_deployment_group(
                    stack.names.codedeploy_application, stack.names.deployment_group)
                stack.deployment_group_id = group.deployment_group_id
                self.runtime.register(stack.account_id, region, stack.names.upgrade_function_name,
                                      self._upgrade_function(stack))
                self.stacks[stack.key] = stack
            except BaseException:
                stack.stop()
                raise
        if spec.faults.active_deployment_version:
            self._invoke_upgrade(stack, spec.faults.active_deployment_version)
        return self.entry(stack.key)

    def _unpublished(self, version: str) -> bool:
        """Whether the Maven stand-in lacks ``version``: a stack's ``unpublished_versions`` fault lists it."""
        return any(version in stack.faults.unpublished_versions for stack in list(self.stacks.values()))

    def _check_free(self, stack: Stack) -> None:
        if stack.key in self.stacks:
            raise StackExists("stack {0} exists already".format(stack.key))
        for other in self.stacks.values():
            same_application = other.names.codedeploy_application == stack.names.codedeploy_application
            if other.region == stack.region and other.account_id == stack.account_id and same_application:
                raise StackExists(
                    "stack {0} cannot live in {1}: stack {2} is there and MDL names the CodeDeploy application "
                    "after the instance only ({3}), so two environments of one instance need different regions "
                    "(or accounts). Give this stack another \"region\" (e.g. us-west-2).".format(
                        stack.key, stack.region, other.key, stack.names.codedeploy_application))

    def _upgrade_function(self, stack: Stack) -> UpgradeHerdFunction:
        region = stack.region
        name = stack.names.upgrade_function_name

        def environment() -> Dict[str, str]:
            from moto.awslambda_simple.models import lambda_simple_backends
            function = lambda_simple_backends[stack.account_id][region].get_function(name, None)
            return dict(function.environment_vars)

        return UpgradeHerdFunction(lambda service: self.client(service, region, stack.account_id), environment,
                                   stack.faults)

    def _invoke_upgrade(self, stack: Stack, version: str) -> None:
        """Run the stack's upgrade function as if invoked (the ``active_deployment_version`` fault)."""
        handler = self.runtime.handler_for(stack.account_id, stack.region, stack.names.upgrade_function_name)
        result = self.runtime.invoke(handler, stack.names.upgrade_function_name, 128, {"RequestedVersion": version})
        if result.function_error:
            raise SpecError("faults.active_deployment_version: the upgrade function failed: {0}".format(
                result.payload.decode("utf-8")))

    def stack(self, instance_name: str, environment: str) -> Stack:
        return self.stacks["{0}/{1}".format(instance_name, environment)]

    def entry(self, key: str) -> Dict[str, Any]:
        return self.stacks[key].entry()

    # -- holds: stop a deployment at a lifecycle event until the test releases it ---------------------
    def _group(self, key: str):
        stack = self.stacks[key]
        return codedeploy_backends[stack.account_id][stack.region].get_deployment_group(
            stack.names.codedeploy_application, stack.names.deployment_group)

    def hold(self, key: str, event: str) -> Dict[str, Any]:
        """Hold the stack's active deployment (else its next one) at the start of ``event``.

        The deployment runs until ``event`` starts, then stands there (the event InProgress, its
        script not run yet) until :meth:`release`. ``TerminationWait`` holds it at the start of
        step 3: traffic rerouted, the original instance kept, the deployment InProgress. Raises
        :class:`HoldError` when that cannot be.
        """
        if event not in GREEN_EVENTS + BLUE_EVENTS + (TERMINATION_WAIT,):
            raise HoldError("event must be a lifecycle event or {0}: {1}; got {2!r}".format(
                TERMINATION_WAIT, ", ".join(GREEN_EVENTS + BLUE_EVENTS), event))
        return self.codedeploy.hold(self._group(key), event)

    def wait_held(self, key: str, timeout: float = 60.0) -> Optional[Dict[str, Any]]:
        """Block until the stack's hold took effect; the hold, or None after ``timeout`` seconds."""
        return self.codedeploy.wait_held(self._group(key), timeout)

    def release(self, key: str) -> Optional[Dict[str, Any]]:
        """Let the held deployment go on from where it stands (or drop a hold not reached yet)."""
        return self.codedeploy.release(self._group(key))

    def live_state(self, key: str) -> Dict[str, Any]:
        """The stack's entry with what is happening now: HERD's version, the group's deployments."""
        stack = self.stacks[key]
        with self.scheduler.lock:
            now = self.codedeploy.now()
            group = codedeploy_backends[stack.account_id][stack.region].get_deployment_group(
                stack.names.codedeploy_application, stack.names.deployment_group)
            deployments = sorted(self.codedeploy.group_deployments(group), key=lambda d: d.plan.created_at,
                                 reverse=True)
            live = {
                "served_version": stack.web.version,
                "deployed_version": stack.deployed_version,
                "herd_unavailable": stack.web.unavailable,
                "herd_refusing_connections": stack.web.refusing,
                "herd_throttled_answers": stack.web.throttled,
                # what HERD was asked, by path, and how many of those carried the admin credentials
                "herd_requests": dict(stack.web.requests),
                "herd_authenticated_requests": dict(stack.web.authenticated_requests),
                "live_instance_id": stack.live_instance_id,
                "deployment_style": dict(group.deployment_style or codedeploy.DEFAULT_STYLE),
                "auto_scaling_groups": list(group.auto_scaling_groups),
                "deployments": [d.summary(now) for d in deployments],
                "hold": self.codedeploy.hold_state(group),
                "ssm": {name: stack.ssm_value(name) for name in (
                    "HERD/RequestedVersion", "HERD/CurrentVersion", "HERD/DeploymentInvoked",
                    "HERD/MostRecentDeploymentId")},
            }
        entry = stack.entry()
        entry["live"] = live
        return entry

    # -- endpoints ---------------------------------------------------------------------------------
    def endpoints(self) -> Dict[str, Any]:
        return {
            "aws_endpoint_url": self.aws.url,
            "aws_region": self.region,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_account_id": self.account_id,
            "control_url": self.control.url,
            "herd_ca_path": str(self.ca.ca_path),
            "maven_repository_url": self.maven.url,
            "maven_private_repository_url": self.maven.private_url,
            "maven_username": MAVEN_USERNAME,
            "maven_password": self.maven.password,
            "deployment_seconds": _number(self.deployment_seconds),
            "stacks": [stack.entry() for stack in list(self.stacks.values())],
        }

    def write_endpoints(self, path: Union[str, os.PathLike]) -> Path:
        """Write :meth:`endpoints` to ``path`` atomically (a reader never sees half a file)."""
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".endpoints-", suffix=".tmp", dir=str(path.parent))
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.endpoints(), handle, indent=2)
                handle.write("\n")
            os.chmod(temporary, 0o600)  # it holds the HERD admin passwords
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return path


def _mark_internal(request, **_):
    request.headers[INTERNAL_HEADER] = "1"


def _number(value: float):
    return int(value) if float(value).is_integer() else value
