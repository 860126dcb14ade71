# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start the Blue/Green upgrade of HERD on an MDL stack once, and only once.

The stack's upgrade Lambda is not idempotent: each invoke creates a CodeDeploy deployment.
``UpgradeInvocation`` makes starting an upgrade safe to repeat:

1. ``resolve_function``: find the function (and the stack's two words, when only the
   function was named) and its timeout;
2. ``active_deployment``: look for an active deployment in the stack's deployment group
   and, for it, the version SSM says was requested; ``attach`` to it or refuse;
3. ``previous_deployment_id``: read SSM ``HERD/MostRecentDeploymentId`` and the AWS time;
4. ``invoke``: invoke the function exactly once (a client that never retries), read the
   deployment id from the log tail, or from SSM when the tail lost it and SSM shows a
   deployment created by this invoke.

Failures raise ``UpgradeFailure`` (a sentence for the person and details for the task
result) or ``AwsFailure`` (the same, with the AWS error, for ``fail_json_aws``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import json
import re

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import (
    ACCESS_DENIED_ERROR_CODES,
    BotoCoreError,
    ClientError,
    HTTPClientError,
    error_code,
    paginate,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import newest_active_deployment
from ansible_collections.mdl.herd.plugins.module_utils._stack import (
    ACTIVE_STATUSES,
    FILLED_LATER,
    FUNCTION_NAME_RE,
    TERMINAL_STATUSES,
    InputError,
    MdlStack,
)
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, aws_date, iso, utcnow, when
from ansible_collections.mdl.herd.plugins.module_utils._version import comparable, compare as compare_versions
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter

# The line of the upgrade Lambda's log that names the deployment it created.
DEPLOYMENT_ID_LINE_RE = re.compile(r"Deployment id is: '(d-[A-Z0-9]{9})'")
# Lines the upgrade Lambda (print: "ERROR: ...") or the Python runtime ("[ERROR] ...") log for errors.
ERROR_LINE_RE = re.compile(r"^\s*(?:ERROR:|\[ERROR\])")
WARNING_LINE_RE = re.compile(r"^\s*(?:WARN(?:ING)?:|\[WARN(?:ING)?\])")
# The lines Lambda frames an invocation with; their request id is the one of the CloudWatch log.
REQUEST_ID_LINE_RE = re.compile(r"^(?:START|END|REPORT) RequestId: ([A-Za-z0-9-]+)")

# The upgrade Lambda's timeout in MDL, used when the function's configuration cannot be read.
DEFAULT_FUNCTION_TIMEOUT = 900
# Added to the function's timeout to get the Invoke read timeout: the answer arrives after the function ends.
READ_TIMEOUT_MARGIN = 60

# How much earlier than the start of the invoke a deployment found through SSM may have been
# created and still count as the deployment of this invoke. The start of the invoke is taken
# from AWS's clock (the Date of the SSM answer read just before the invoke, to the second), so
# this only absorbs that rounding and small differences between AWS services' clocks.
CLOCK_SKEW = datetime.timedelta(seconds=30)

# The Description this collection gives the SSM values it puts back after a refused invoke: the
# join logic trusts a HERD/RequestedVersion changed after the deployment was created when it is one.
RESTORE_MARK = "mdl.herd restored this value after an invoke that CodeDeploy refused"


class UpgradeFailure(Exception):
    """The upgrade cannot go on. ``msg`` says why and what to do; ``details`` go into the task result."""

    def __init__(self, msg, **details):
        super(UpgradeFailure, self).__init__(msg)
        self.msg = msg
        self.details = details


class LockError(Exception):
    """The upgrade lock (``_lock``) could not be read, taken or released (an AWS error); ``exception`` is botocore's."""

    def __init__(self, msg, exception):
        super(LockError, self).__init__(msg)
        self.msg = msg
        self.exception = exception


class AwsFailure(UpgradeFailure):
    """An AWS call failed; ``exception`` is the botocore error, for ``fail_json_aws``."""

    def __init__(self, msg, exception, **details):
        super(AwsFailure, self).__init__(msg, **details)
        self.exception = exception


# --- versions, function names, the payload -------------------------------------------------


def same_version(left, right):
    """True when two HERD versions are the same Maven version (0.176 and 0.176.0 are)."""
    if left is None or right is None:
        return False
    return compare_versions(left, right) == 0


def function_name_of(reference):
    """The function's name in a name, partial ARN or ARN (with or without a qualifier)."""
    match = FUNCTION_NAME_RE.fullmatch(reference or "")
    return match.group(7) if match else reference


def build_payload(requested_version):
    """The upgrade Lambda's event, as JSON bytes (never built by string formatting)."""
    return json.dumps({"RequestedVersion": requested_version}).encode("utf-8")


def invoke_read_timeout(function_timeout):
    """Seconds to wait for the Invoke answer: the function's timeout and a margin."""
    try:
        seconds = int(function_timeout)
    except (TypeError, ValueError):
        seconds = DEFAULT_FUNCTION_TIMEOUT
    if seconds <= 0:
        seconds = DEFAULT_FUNCTION_TIMEOUT
    return seconds + READ_TIMEOUT_MARGIN


# --- the log -------------------------------------------------------------------------------


def decode_log(log_result):
    """The lines of an Invoke ``LogResult`` (base64 of the last 4 KB of the log).

    The 4 KB cut can fall inside a multi-byte character: broken characters are replaced, not fatal.
    """
    if not log_result:
        return []
    try:
        raw = base64.b64decode(log_result)
    except (binascii.Error, TypeError, ValueError):
        return ["(the log tail returned by Lambda is not valid base64 and could not be read)"]
    text = raw.decode("utf-8", errors="replace")
    return [line.rstrip() for line in text.splitlines() if line.strip()]


@dataclasses.dataclass(frozen=True)
class LogSummary:
    """What the upgrade Lambda's log tail says: the deployment id, error and warning lines, the request id."""

    deployment_id: str | None
    errors: list
    warnings: list
    request_id: str | None = None


def parse_log(lines):
    deployment_id = None
    request_id = None
    errors = []
    warnings = []
    for line in lines:
        match = DEPLOYMENT_ID_LINE_RE.search(line)
        if match:
            deployment_id = match.group(1)
        match = REQUEST_ID_LINE_RE.match(line)
        if match:
            request_id = match.group(1)
        if ERROR_LINE_RE.match(line):
            errors.append(line.strip())
        elif WARNING_LINE_RE.match(line):
            warnings.append(line.strip())
    return LogSummary(deployment_id, errors, warnings, request_id)


def read_payload(response):
    """The function's answer: parsed JSON, the text when it is not JSON, or None."""
    body = response.get("Payload")
    if body is None:
        return None
    raw = body.read() if hasattr(body, "read") else body
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# --- the procedure -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ActiveDeployment:
    """A deployment found active in the stack's group, and what SSM says about its version.

    ``current_version`` and ``current_version_changed_at`` (SSM HERD/CurrentVersion) are read
    only when HERD/RequestedVersion holds ``FilledLater``.
    """

    deployment_id: str
    status: str
    create_time: datetime.datetime | None
    requested_version: str | None
    version_changed_at: datetime.datetime | None
    # Who started it: "user" for the upgrade Lambda (and anyone calling CreateDeployment), else
    # CodeDeploy itself ("codeDeployRollback", "autoscaling", ...).
    creator: str = "user"
    # The deployment this one rolls back, for an automatic rollback.
    rollback_of: str | None = None
    current_version: str | None = None
    current_version_changed_at: datetime.datetime | None = None
    # HERD/RequestedVersion was put back by this collection after a refused invoke (RESTORE_MARK)
    restored: bool = False

    @property
    def past_smoke_test(self):
        """True when the bundle's smoke test validated this deployment (RequestedVersion reset to FilledLater).

        smokeTestHerd.sh writes FilledLater to HERD/RequestedVersion and the version it validated to
        HERD/CurrentVersion; that CurrentVersion was written after the deployment was created tells
        that it names this deployment's version (and not the one installed with the stack).
        """
        return (self.requested_version == FILLED_LATER and self.current_version is not None
                and self.current_version_changed_at is not None and self.create_time is not None
                and self.current_version_changed_at > self.create_time)

    @property
    def version(self):
        """The HERD version this deployment installs, when SSM tells it for certain; else None."""
        if self.past_smoke_test:
            return self.current_version
        if self.requested_version is None or self.requested_version == FILLED_LATER or not self.version_is_certain:
            return None
        return self.requested_version

    @property
    def version_is_certain(self):
        """False when HERD/RequestedVersion changed after the deployment was created (FilledLater aside).

        The upgrade Lambda writes the version just before it creates the deployment. A later
        change comes from another invoke, which CodeDeploy refused while this deployment was
        active: the parameter then names the refused version, not this deployment's; or from the
        bundle's smoke test, which writes FilledLater (see ``past_smoke_test``).
        """
        if self.past_smoke_test or self.restored:
            return True
        if self.version_changed_at is None or self.create_time is None:
            return True
        return self.version_changed_at <= self.create_time + CLOCK_SKEW


class UpgradeInvocation(object):
    """Starts the upgrade of one stack to one version, or finds the one already under way.

    ``lambda_client``, ``codedeploy`` and ``ssm`` are clients from ``_aws.client`` (their
    reads pass ``aws_retry=True``); ``invoke_client(read_timeout)`` returns the client from
    ``_aws.no_retry_client`` used for the one Invoke. ``now`` is the local clock (UTC), used
    only when an AWS answer carries no Date; ``warn`` reports warnings.
    """

    def __init__(self, requested_version, stack=None, function_name=None, lambda_client=None, codedeploy=None, ssm=None,
                 invoke_client=None, now=None, warn=None):
        self.requested_version = requested_version
        self.stack = stack
        self.requested_function_name = function_name
        # What the calls name (the option as given: a name, or an ARN perhaps with a qualifier) ...
        self.function_ref = function_name or (stack.upgrade_function_name if stack else None)
        # ... and what the results and messages show: the function's name.
        self.function_name = function_name_of(self.function_ref)
        self.function_timeout = None
        self.function_environment = None  # the function's environment variables, once resolve_function read them
        self.lambda_client = lambda_client
        self.codedeploy = codedeploy
        self.ssm = ssm
        self.invoke_client = invoke_client
        self.now = now or utcnow
        self.warn = warn or (lambda message: None)
        self.downgrade = False  # set by refuse_downgrade
        # How far the run got, for the message of a run stopped half-way (see ``interruption``)
        self.stage = None  # None, "lock_wait", "locked", "invoking", "invoked", "joining"
        self.lock = None  # the _lock.UpgradeLock of this run, once built
        self.lock_outcome = None  # what became of it: "released", "marked", "left", "not_held", or a failure's words
        self.interrupted_holder = None  # the lock of an interrupted Invoke this run found
        self.invoke_in_flight = False
        self.invoke_sent = False
        self.invoke_began = None
        self.started_deployment_id = None  # the deployment id the Invoke's log named

    @property
    def region(self):
        """The region the Lambda client calls (read when a message names it: a lazy client is built then)."""
        return getattr(getattr(self.lambda_client, "meta", None), "region_name", None)

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _where(self):
        return " in region {0}".format(self.region) if self.region else ""

    @property
    def _group(self):
        return "{0} (application {1})".format(self.stack.deployment_group, self.stack.codedeploy_application)

    @property
    def _log_group(self):
        return "/aws/lambda/{0}".format(self.function_name)

    def _base_details(self):
        return dict(
            function_name=self.function_name,
            requested_version=self.requested_version,
            mdl_instance_name=self.stack.instance_name if self.stack else None,
            mdl_environment=self.stack.environment if self.stack else None,
        )

    def _read_parameter(self, name):
        """``(parameter dict or None, Date of the answer or None)``; throttling is retried."""
        try:
            response = self.ssm.get_parameter(Name=name, aws_retry=True)
        except is_boto3_error_code("ParameterNotFound") as e:
            return None, aws_date(e.response)
        except (ClientError, BotoCoreError) as e:
            raise AwsFailure("Could not read the SSM parameter {0}{1}".format(name, self._where), e, **self._base_details())
        return response.get("Parameter"), aws_date(response)

    def _get_deployment(self, deployment_id):
        try:
            return self.codedeploy.get_deployment(deploymentId=deployment_id, aws_retry=True)["deploymentInfo"]
        except (ClientError, BotoCoreError) as e:
            raise AwsFailure("Could not read CodeDeploy deployment {0}{1}".format(deployment_id, self._where), e, **self._base_details())

    # -- 1. the function --------------------------------------------------------------------

    def resolve_function(self):
        """Check that the function exists; learn its timeout and, if needed, the stack's words from it."""
        try:
            configuration = self.lambda_client.get_function_configuration(FunctionName=self.function_ref, aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            hint = ("check function_name and region" if self.requested_function_name
                    else "check mdl_instance_name, mdl_environment and region, or name the function with function_name")
            raise UpgradeFailure(
                "The upgrade Lambda {0} does not exist{1}: {2}.".format(self.function_ref, self._where, hint), **self._base_details()
            )
        except is_boto3_error_code(ACCESS_DENIED_ERROR_CODES) as e:
            if self.stack is None:
                raise AwsFailure(
                    "Not allowed to read the configuration of {0} (lambda:GetFunctionConfiguration), where the module "
                    "learns which stack it upgrades: give mdl_instance_name and mdl_environment as well, or allow that "
                    "action".format(self.function_name), e, **self._base_details())
            self.warn(
                "Could not read the configuration of {0} (access denied): its timeout is taken to be {1} s and "
                "its existence is not checked before the invoke.".format(self.function_name, DEFAULT_FUNCTION_TIMEOUT)
            )
            self.function_timeout = DEFAULT_FUNCTION_TIMEOUT
            return
        except (ClientError, BotoCoreError) as e:
            raise AwsFailure("Could not read the configuration of the upgrade Lambda {0}{1}".format(self.function_name, self._where), e,
                             **self._base_details())

        self.function_timeout = configuration.get("Timeout") or DEFAULT_FUNCTION_TIMEOUT
        variables = (configuration.get("Environment") or {}).get("Variables") or {}
        self.function_environment = variables
        if not self.requested_function_name:
            return
        self.function_name = configuration.get("FunctionName") or self.function_name
        instance, environment = variables.get("INSTANCE_NAME"), variables.get("ENVIRONMENT")
        if self.stack is None:
            if not instance or not environment:
                raise UpgradeFailure(
                    "The function {0} does not say which MDL stack it upgrades (it has no INSTANCE_NAME and ENVIRONMENT "
                    "environment variables): give mdl_instance_name and mdl_environment as well.".format(self.function_name),
                    **self._base_details()
                )
            try:
                self.stack = MdlStack(instance, environment)
            except InputError as e:
                raise UpgradeFailure(
                    "The function {0} names a stack that cannot be an MDL stack ({1}): give mdl_instance_name and "
                    "mdl_environment as well.".format(self.function_name, e), **self._base_details()
                )
        elif instance and environment and (instance, environment) != (self.stack.instance_name, self.stack.environment):
            raise UpgradeFailure(
                "The function {0} upgrades the stack {1}/{2}, not {3}: check function_name, mdl_instance_name and "
                "mdl_environment.".format(self.function_name, instance, environment, self.stack), **self._base_details()
            )

    # -- 2. an active deployment ------------------------------------------------------------

    def active_deployment(self):
        """The active deployment of the stack's group (the newest, if CodeDeploy ever shows more), or None."""
        try:
            info = newest_active_deployment(self.codedeploy, self.stack.codedeploy_application, self.stack.deployment_group,
                                            self._get_deployment)
        except is_boto3_error_code(["ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException"]):
            raise UpgradeFailure(
                "The CodeDeploy deployment group {0} of stack {1} does not exist{2}: check mdl_instance_name, "
                "mdl_environment and region.".format(self._group, self.stack, self._where), **self._base_details()
            )
        except (ClientError, BotoCoreError) as e:
            raise AwsFailure("Could not list the active deployments of CodeDeploy group {0}{1}".format(self._group, self._where), e,
                             **self._base_details())
        if info is None:
            return None
        created = as_utc(info.get("createTime"))
        parameter, dummy = self._read_parameter(self.stack.requested_version_parameter)
        requested = parameter.get("Value") if parameter else None
        current = None
        if requested == FILLED_LATER:
            current, dummy = self._read_parameter(self.stack.current_version_parameter)
        changed_at = as_utc(parameter.get("LastModifiedDate")) if parameter else None
        restored = False
        if requested not in (None, FILLED_LATER) and changed_at and created and changed_at > created + CLOCK_SKEW:
            restored = self._was_restored(self.stack.requested_version_parameter)
        return ActiveDeployment(
            deployment_id=info.get("deploymentId"),
            status=info.get("status"),
            create_time=created,
            requested_version=requested,
            version_changed_at=changed_at,
            creator=info.get("creator") or "user",
            rollback_of=(info.get("rollbackInfo") or {}).get("rollbackTriggeringDeploymentId"),
            current_version=current.get("Value") if current else None,
            current_version_changed_at=as_utc(current.get("LastModifiedDate")) if current else None,
            restored=restored,
        )

    def _was_restored(self, name):
        """True when the parameter's current value is one this collection put back (its Description says so)."""
        try:
            # A filtered DescribeParameters may answer an empty page and a NextToken: read every page.
            found = paginate(self.ssm, "describe_parameters", ParameterFilters=[{"Key": "Name", "Values": [name]}]).get("Parameters") or []
        except (ClientError, BotoCoreError):  # cannot tell: the version stays uncertain
            return False
        return bool(found) and RESTORE_MARK in (found[0].get("Description") or "")

    def deployment_since(self, since):
        """The newest deployment of the stack's group that the upgrade Lambda (or anyone, not CodeDeploy itself)
        created at ``since`` or later (less CLOCK_SKEW), in any status; its deploymentInfo, or None."""
        start = as_utc(since) - CLOCK_SKEW
        try:
            ids = paginate(self.codedeploy, "list_deployments", applicationName=self.stack.codedeploy_application,
                           deploymentGroupName=self.stack.deployment_group,
                           createTimeRange={"start": start}).get("deployments") or []
        except (ClientError, BotoCoreError) as e:
            raise AwsFailure("Could not list the deployments of CodeDeploy group {0}{1}".format(self._group, self._where), e,
                             **self._base_details())
        newest = None
        for deployment_id in ids:
            info = self._get_deployment(deployment_id) or {}
            created = as_utc(info.get("createTime"))
            if (info.get("creator") or "user") != "user" or created is None or created < start:
                continue
            if newest is None or created > as_utc(newest.get("createTime")):
                newest = info
        return newest

    def attach(self, active, on_active_deployment="attach"):
        """The result for an active deployment of the requested version; raises when it is for another or unknown version."""
        details = self._base_details()
        details.update(deployment_id=active.deployment_id, deployment_status=active.status,
                       deployment_create_time=iso(active.create_time), active_requested_version=active.requested_version)
        described = "CodeDeploy deployment {0} ({1}, created {2}) in group {3}".format(
            active.deployment_id, active.status, iso(active.create_time) or "at an unknown time", self._group)
        wait_hint = ("Wait for it to end (mdl.herd.codedeploy_wait with deployment_id {0}) or stop it, then run this task "
                     "again.".format(active.deployment_id))
        if active.rollback_of or active.creator == "codeDeployRollback":
            raise UpgradeFailure(
                "{0} is under way: it is CodeDeploy's automatic rollback of deployment {1}, which failed, and it "
                "restores the version served before. Wait for it to end (mdl.herd.codedeploy_wait with deployment_id "
                "{2}), find out why {1} failed, then run this task again.".format(
                    described, active.rollback_of or "(unknown)", active.deployment_id), **details
            )
        if active.creator != "user":
            raise UpgradeFailure(
                "{0} is under way, started by CodeDeploy (creator {1!r}), not by the upgrade Lambda, so it is not the "
                "upgrade to {2}. {3}".format(described, active.creator, self.requested_version, wait_hint), **details
            )
        if active.requested_version is None:
            raise UpgradeFailure(
                "{0} is under way, and SSM {1} does not exist, so its HERD version is unknown. CodeDeploy allows one "
                "active deployment per group. {2}".format(described, self.stack.requested_version_parameter, wait_hint), **details
            )
        if active.requested_version == FILLED_LATER and not active.past_smoke_test:
            raise UpgradeFailure(
                "{0} is under way, and its HERD version is uncertain: SSM {1} is {2!r} (the smoke test's reset) and SSM "
                "{3} was {4}, not after the deployment was created, so it does not name this deployment's version. "
                "{5}".format(described, self.stack.requested_version_parameter, FILLED_LATER,
                             self.stack.current_version_parameter,
                             "written at {0}".format(iso(active.current_version_changed_at))
                             if active.current_version_changed_at else "not found", wait_hint), **details
            )
        if not active.version_is_certain:
            raise UpgradeFailure(
                "{0} is under way, and its HERD version is uncertain: SSM {1} was changed to {2!r} at {3}, after the "
                "deployment was created (probably by an invoke that CodeDeploy refused while this deployment was "
                "active). {4}".format(described, self.stack.requested_version_parameter, active.requested_version,
                                      iso(active.version_changed_at), wait_hint), **details
            )
        version = active.version
        details["active_requested_version"] = version
        smoke = (" (past its smoke test: SSM {0} = {1})".format(self.stack.current_version_parameter, version)
                 if active.past_smoke_test else "")
        if not same_version(version, self.requested_version):
            raise UpgradeFailure(
                "{0} is already deploying HERD {1}{2}, not the requested {3}. CodeDeploy allows one active deployment "
                "per group, so nothing was invoked. {4}".format(described, version, smoke, self.requested_version, wait_hint),
                **details
            )
        if on_active_deployment == "fail":
            raise UpgradeFailure(
                "{0} is already deploying HERD {1}{2}, and on_active_deployment is 'fail'. Set on_active_deployment to "
                "'attach' to follow it instead.".format(described, version, smoke), **details
            )
        result = self._result(
            changed=False, attached=True, deployment_id=active.deployment_id, deployment_id_source="active_deployment",
            deployment_status=active.status, deployment_create_time=iso(active.create_time),
        )
        result["active_requested_version"] = version
        return result

    def already_served(self, served_version, active, on_active_deployment="attach"):
        """HERD serves the requested version: join a deployment of it still under way, else nothing to do.

        After traffic is rerouted, buildInfo reports the new version for minutes while the original
        instances are terminated: a run then must follow that deployment to its end, not stop. An
        active deployment of another version is refused, as ``attach`` refuses it.
        """
        if active is not None:
            return self.attach(active, on_active_deployment)
        result = self._result(changed=False, attached=False)
        result["served_version"] = served_version
        result["already_served"] = True
        return result

    def refuse_downgrade(self, served_version, allow_downgrade=False):
        """Raise when ``requested_version`` is older than the version HERD serves, or cannot be compared with it, unless allowed."""
        if served_version is not None and not comparable(served_version):
            self.downgrade = False
            if allow_downgrade:
                return
            raise UpgradeFailure(
                "Stack {0}: HERD's buildInfo reports build number {1!r}, which is not a HERD version, so whether {2} is "
                "an upgrade or a downgrade cannot be told; nothing was invoked, and running this again refuses again. "
                "Check which HERD the stack serves; to deploy {2} in any case, set allow_downgrade to true (in the role "
                "and the playbook: herd_upgrade_allow_downgrade=true) and run again.".format(
                    self.stack, served_version, self.requested_version),
                served_version=served_version, **self._base_details()
            )
        self.downgrade = served_version is not None and compare_versions(self.requested_version, served_version) < 0
        if allow_downgrade or not self.downgrade:
            return
        raise UpgradeFailure(
            "Stack {0} serves HERD {1}, and the requested {2} is older: that is a downgrade, refused by default. "
            "Nothing was invoked. To downgrade on purpose, set allow_downgrade to true (in the role and the "
            "playbook: herd_upgrade_allow_downgrade=true) and run again.".format(
                self.stack, served_version, self.requested_version),
            served_version=served_version, **self._base_details()
        )

    # -- 3. before the invoke ---------------------------------------------------------------

    def previous_deployment_id(self):
        """``(the value of SSM HERD/MostRecentDeploymentId or None, the AWS time of that read)``.

        Also keeps HERD/RequestedVersion and HERD/DeploymentInvoked as they are, to put them back
        if the invoke is refused (the function writes them before CodeDeploy refuses).
        """
        self._before_invoke = {}
        for name in (self.stack.requested_version_parameter, self.stack.deployment_invoked_parameter):
            value, dummy = self._read_parameter(name)
            self._before_invoke[name] = value.get("Value") if value else None
        parameter, date = self._read_parameter(self.stack.most_recent_deployment_id_parameter)
        value = parameter.get("Value") if parameter else None
        # a stack never upgraded: the stack's template creates the parameter with FilledLater
        return (None if value == FILLED_LATER else value), (date or self.now())

    def _restore_before_invoke(self, details):
        """Put back what a refused invoke overwrote; a sentence saying what was done."""
        restored, failed = [], []
        for name, value in sorted((getattr(self, "_before_invoke", None) or {}).items()):
            try:
                if value is None:
                    self.ssm.delete_parameter(Name=name, aws_retry=True)
                else:
                    self.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True,
                                           Description=RESTORE_MARK, aws_retry=True)
                restored.append("{0} to {1}".format(name, repr(value) if value is not None else "absent"))
            except (ClientError, BotoCoreError) as e:
                failed.append("{0} ({1})".format(name, error_code(e) or type(e).__name__))
        details["restored_parameters"] = restored
        sentence = ""
        if restored:
            sentence = (" The function had overwritten SSM before CodeDeploy refused; this task put back {0}, the values "
                        "before this invoke, so the deployment under way keeps its version.".format(", ".join(restored)))
        if failed:
            sentence += (" It could not put back {0}: the deployment under way may install the version of this invoke; "
                         "check HERD/RequestedVersion.".format(", ".join(failed)))
        return sentence

    def would_invoke(self, previous):
        """Check mode: what ``invoke`` would do, without invoking."""
        return self._result(changed=True, attached=False, previous_deployment_id=previous)

    # -- 4. the invoke ----------------------------------------------------------------------

    def invoke(self, previous, invoke_began, before_send=None):
        """Invoke the function once and return the result with the new deployment's id.

        ``previous`` is the value of HERD/MostRecentDeploymentId read just before, ``invoke_began``
        the AWS time of that read. ``before_send()`` is called just before the Invoke is sent (the
        lock says then that an Invoke is under way). ``invoke_in_flight`` is True from the moment
        the Invoke may have been sent until its answer (or error) came back: a run interrupted
        meanwhile (a KeyboardInterrupt, such as ``_watch.Interrupted``) leaves it True.
        """
        details = self._base_details()
        details["previous_deployment_id"] = previous
        read_timeout = invoke_read_timeout(self.function_timeout)
        client = self.invoke_client(read_timeout)
        if before_send is not None:
            before_send()
        self.invoke_began = invoke_began
        self.invoke_sent = self.invoke_in_flight = True
        try:
            try:
                response = client.invoke(
                    FunctionName=self.function_ref,
                    InvocationType="RequestResponse",
                    LogType="Tail",
                    Payload=build_payload(self.requested_version),
                )
            except Exception:  # an answer, an error or a timeout: the Invoke is over (an interruption is not an Exception)
                self.invoke_in_flight = False
                raise
            self.invoke_in_flight = False
        except HTTPClientError as e:
            details.update(changed=True, deployment_id=None)
            raise AwsFailure(
                "The invoke of {0} got no complete answer within {1} s, so whether it started a deployment is unknown; "
                "it was not retried, to avoid a second deployment. Do not invoke the function by hand: wait {2} s (its "
                "timeout), then run this task again, which attaches to the deployment if the function started one. "
                "Its log group is {3}".format(self.function_name, read_timeout, self.function_timeout, self._log_group), e, **details
            )
        except BotoCoreError as e:
            raise AwsFailure(
                "Could not send the invoke to {0}{1}; nothing was started. Check the endpoint, network and credentials, "
                "then run this task again".format(self.function_name, self._where), e, **details
            )
        except ClientError as e:
            raise AwsFailure(self._invoke_error_message(e), e, **details)

        try:
            return self._after_invoke(response, previous, invoke_began, details)
        except UpgradeFailure as failure:
            # The Invoke returned: the function ran, so something may have started. Never report
            # "nothing changed", and say what a re-run does.
            failure.details["changed"] = True
            failure.details.setdefault("deployment_id", None)
            failure.details.setdefault("request_id", details.get("request_id"))
            failure.msg = "{0} {1}".format(failure.msg.rstrip(), self._rerun_sentence(failure.details.get("deployment_id")))
            raise

    def _rerun_sentence(self, deployment_id):
        if deployment_id:
            return ("Running this task again joins deployment {0} while it is under way (it does not invoke again).".format(
                deployment_id))
        return ("Running this task again joins the deployment of {0} under way in group {1} if there is one, and "
                "invokes the function only if there is none.".format(self.requested_version, self._group))

    def _after_invoke(self, response, previous, invoke_began, details):
        """The result of an Invoke that returned: the deployment it started, or the failure, as far as known."""
        lines = decode_log(response.get("LogResult"))
        log = parse_log(lines)
        # Lambda answers with the request id of the invocation; the log's lines name it too.
        request_id = log.request_id or (response.get("ResponseMetadata") or {}).get("RequestId")
        details.update(log_lines=lines, request_id=request_id, deployment_id=log.deployment_id)
        self.started_deployment_id = log.deployment_id
        see_log = "See log_lines, or the log group {0} (request id {1}).".format(self._log_group, request_id)

        payload = read_payload(response) if response.get("FunctionError") else None
        error = payload if isinstance(payload, dict) else {"errorMessage": payload}
        if response.get("FunctionError") or log.errors:
            refused = "DeploymentLimitExceeded" in "{0} {1}".format(error.get("errorType"), error.get("errorMessage"))
            details["deployment_id"], started = self._started_before_failing(log, previous, invoke_began, refused, details)
            if refused and not log.deployment_id:
                started += self._restore_before_invoke(details)
        if response.get("FunctionError"):
            error_type = error.get("errorType") or response["FunctionError"]
            error_message = error.get("errorMessage") or "(no message)"
            details.update(function_error=response["FunctionError"], error_type=error_type, error_message=error_message)
            raise UpgradeFailure(
                "The upgrade Lambda {0} failed with {1}: {2}.{3} {4}".format(
                    self.function_name, error_type, error_message.rstrip("."), started, see_log), **details
            )
        if log.errors:
            raise UpgradeFailure(
                "The upgrade Lambda {0} logged an error for version {1}: {2}.{3} {4}".format(
                    self.function_name, self.requested_version, " | ".join(log.errors), started, see_log), **details
            )
        for line in log.warnings:
            self.warn("The upgrade Lambda {0} logged: {1}".format(self.function_name, line))

        if log.deployment_id:
            return self._result(changed=True, attached=False, deployment_id=log.deployment_id, deployment_id_source="log",
                                previous_deployment_id=previous, log_lines=lines, request_id=request_id)

        deployment = self._deployment_from_ssm(previous, invoke_began, details, see_log)
        return self._result(changed=True, attached=False, deployment_id=deployment["deploymentId"], deployment_id_source="ssm",
                            deployment_status=deployment.get("status"), deployment_create_time=iso(deployment.get("createTime")),
                            previous_deployment_id=previous, log_lines=lines, request_id=request_id)

    def _invoke_error_message(self, e):
        code = error_code(e)
        name = self.function_name
        if code == "ResourceNotFoundException":
            return "The upgrade Lambda {0} does not exist{1}; nothing was started".format(name, self._where)
        if code in ("TooManyRequestsException", "EC2ThrottledException", "ResourceConflictException", "ResourceNotReadyException"):
            return ("Lambda refused to run {0} now ({1}); nothing was started and the invoke is never retried automatically. "
                    "Run this task again in a minute".format(name, code))
        if code in ACCESS_DENIED_ERROR_CODES:
            return "Not allowed to invoke {0} (lambda:InvokeFunction); nothing was started".format(name)
        return ("Lambda answered the invoke of {0} with an error; it was not retried. If the function may have run, run this "
                "task again: it attaches to a deployment the function started. Its log group is {1}".format(name, self._log_group))

    def _ssm_deployment(self, previous, invoke_began):
        """``(deployment, None)`` when SSM names a deployment of this invoke, else ``(None, why not)``.

        A deployment of this invoke: the value of HERD/MostRecentDeploymentId differs from the one
        read before the invoke, and names a deployment of the stack's group created after the invoke
        began (less CLOCK_SKEW).
        """
        name = self.stack.most_recent_deployment_id_parameter
        parameter, dummy = self._read_parameter(name)
        current = parameter.get("Value") if parameter else None
        if current is None:
            return None, "SSM {0} does not exist".format(name)
        if current == FILLED_LATER:
            return None, "SSM {0} still holds {1}: the function wrote no deployment id".format(name, current)
        if current == previous:
            return None, "SSM {0} still holds {1}, its value before the invoke".format(name, current)
        deployment = self._get_deployment(current)
        application, group = deployment.get("applicationName"), deployment.get("deploymentGroupName")
        if (application, group) != (self.stack.codedeploy_application, self.stack.deployment_group):
            return None, "SSM {0} holds {1}, a deployment of {2}/{3}, not of group {4}".format(name, current, application, group, self._group)
        created = as_utc(deployment.get("createTime"))
        if created is None or created < invoke_began - CLOCK_SKEW:
            return None, "SSM {0} holds {1}, created at {2}, before this invoke began ({3}), so an older deployment".format(
                name, current, iso(created) or "an unknown time", iso(invoke_began))
        return deployment, None

    def _deployment_from_ssm(self, previous, invoke_began, details, see_log):
        """The deployment of this invoke according to SSM, when the log tail lost the id line; else raise."""
        deployment, why_not = self._ssm_deployment(previous, invoke_began)
        if deployment is None:
            raise UpgradeFailure(
                "The log tail of {0} holds no deployment id (Lambda returns only the last 4 KB of the log), and {1}: no "
                "deployment of this invoke can be found. Check the function's log and the deployments of CodeDeploy group "
                "{2} before running this task again. {3}".format(self.function_name, why_not, self._group, see_log), **details
            )
        return deployment

    def _started_before_failing(self, log, previous, invoke_began, refused, details):
        """``(deployment id or None, a sentence)``: what a failed invoke is known to have started.

        Only the function's own log line proves that this invoke created a deployment. A
        DeploymentLimitExceededException proves that it did not. A new id in SSM proves neither:
        another run may have written it.
        """
        if log.deployment_id:
            return log.deployment_id, " It started deployment {0} before failing.".format(log.deployment_id)
        if refused:
            return None, (" CodeDeploy refused its deployment: another deployment is active in group {0}, so this invoke "
                          "started none.".format(self._group))
        try:
            deployment, dummy = self._ssm_deployment(previous, invoke_began)
        except UpgradeFailure:  # the task fails anyway: say what is known
            deployment = None
        if deployment is None:
            return None, " It started no deployment that can be seen (none in its log, none new in SSM)."
        details["ssm_deployment_id"] = deployment["deploymentId"]
        return None, (" SSM {0} names deployment {1}, created after this invoke began; whether this invoke or another run "
                      "started it cannot be told.".format(self.stack.most_recent_deployment_id_parameter,
                                                          deployment["deploymentId"]))

    # -- results ----------------------------------------------------------------------------

    def _result(self, changed, attached, deployment_id=None, deployment_id_source=None, deployment_status=None,
                deployment_create_time=None, previous_deployment_id=None, log_lines=None, request_id=None):
        result = self._base_details()
        result.update(
            changed=changed,
            attached=attached,
            already_served=False,
            downgrade=self.downgrade,
            preflight={},
            deployment_id=deployment_id,
            deployment_id_source=deployment_id_source,
            deployment_status=deployment_status,
            deployment_create_time=deployment_create_time,
            previous_deployment_id=previous_deployment_id,
            log_lines=log_lines or [],
            request_id=request_id,
        )
        return result


# --- the whole decision, for the module -------------------------------------------------------


def start_or_join(upgrade, served_version=None, allow_downgrade=False, on_active_deployment="attach", check_mode=False,
                  lock=None, lock_wait=0, warn=None, preflight=None, confirm_read=None):
    """Do what one run of the module does, in order; return its result or raise UpgradeFailure.

    At the served version already: join a deployment of it still under way, else nothing to do.
    Otherwise: join (or refuse) an active deployment; refuse a downgrade; run the preflight checks
    (an ``_preflight.Preflight``, or None for none) after ``confirm_read()`` (when given: HERD read as the
    version check after the deployment reads it, with its credentials); take the lock (waiting
    up to ``lock_wait`` s for another run's invoke), look again for a deployment under way (the
    other run's), and invoke once. ``lock(stale_after)`` builds an ``_lock.UpgradeLock`` for the
    invoke's read timeout; None runs without one.

    The lock is released in every outcome, a stop of the run (a KeyboardInterrupt, such as
    ``_watch.Interrupted``) included, but one: stopped while its Invoke is under way (the function
    goes on in AWS), the run leaves the lock, marked ``interrupted`` with the version and the time.
    A later run for that version joins the deployment of that Invoke as soon as it appears (and
    removes the lock); a run for another version is refused, naming it, until that deployment has
    ended or the lock is stale. ``interruption(upgrade, reason)`` words what a stopped run did.
    """
    warn = warn or (lambda message: None)
    if same_version(served_version, upgrade.requested_version) and upgrade.stack is not None:
        # Nothing to invoke: only a deployment of that version still under way is worth following.
        active = upgrade.active_deployment()
        return _joined(upgrade, upgrade.already_served(served_version, active, on_active_deployment), active, lock,
                       check_mode, warn)
    upgrade.resolve_function()
    active = upgrade.active_deployment()
    if same_version(served_version, upgrade.requested_version):
        return _joined(upgrade, upgrade.already_served(served_version, active, on_active_deployment), active, lock,
                       check_mode, warn)
    if active is not None:
        return _joined(upgrade, upgrade.attach(active, on_active_deployment), active, lock, check_mode, warn)
    upgrade.refuse_downgrade(served_version, allow_downgrade)
    if confirm_read is not None:
        confirm_read()
    report = preflight.run() if preflight is not None else {}
    result = _invoke_once(upgrade, check_mode, lock, lock_wait, warn, on_active_deployment)
    result["preflight"] = report
    return result


def _joined(upgrade, result, active, lock, check_mode, warn):
    """``result`` of a run that joined ``active``; the lock left by an interrupted Invoke of that deployment goes."""
    if active is None or lock is None or check_mode:
        return result
    held = lock(invoke_read_timeout(upgrade.function_timeout))
    try:
        holder = held.read()
        if (holder is None or not holder.interrupted_invoke or not same_version(holder.version, upgrade.requested_version)
                or active.create_time is None or active.create_time < holder.invoke_time - CLOCK_SKEW):
            return result
        removed = held.remove(holder)
    except LockError as e:  # joined all the same; the lock goes stale
        warn("Could not remove the upgrade lock SSM {0} of stack {1} left by the interrupted Invoke of HERD {2} ({3}); "
             "it is taken over once stale.".format(held.name, upgrade.stack, upgrade.requested_version, e))
        return result
    result["interrupted_invoke"] = dict(holder.as_dict(), deployment_id=active.deployment_id, lock_removed=removed)
    return result


def _invoke_once(upgrade, check_mode, lock, lock_wait, warn, on_active_deployment):
    """Invoke under the lock (or without one); in check mode, say what would be invoked."""
    if check_mode:
        previous, dummy = upgrade.previous_deployment_id()
        return upgrade.would_invoke(previous)
    if lock is None:
        previous, invoke_began = upgrade.previous_deployment_id()
        upgrade.stage = "invoking"
        result = upgrade.invoke(previous, invoke_began)
        upgrade.stage = "invoked"
        return result

    held = upgrade.lock = lock(invoke_read_timeout(upgrade.function_timeout))
    upgrade.stage = "lock_wait"
    stopped = None
    try:
        acquired, holder = held.acquire(lock_wait)
        if not acquired and holder is not None and holder.interrupted_invoke:
            upgrade.interrupted_holder = holder
            result = _after_interrupted_invoke(upgrade, held, holder, warn, on_active_deployment)
            if result is not None:
                result["lock_waited_seconds"] = round(held.waited, 1)
                return result
            # taken over (its deployment ended, or it went stale), or removed meanwhile: take it as usual
            upgrade.stage = "lock_wait"
            acquired, holder = (True, None) if held.held else held.acquire(lock_wait)
        upgrade.stage = "locked" if acquired else "lock_wait"
        active = upgrade.active_deployment()  # the other run's deployment, once it invoked
        if active is not None:
            result = upgrade.attach(active, on_active_deployment)
        elif not acquired:
            if holder is not None and holder.interrupted_invoke:
                raise _refused_for_interrupted(upgrade, held, holder, None)
            raise UpgradeFailure(
                "The upgrade lock SSM {0} of stack {1} is {2}, and it was not released within lock_wait ({3} s; "
                "herd_upgrade_lock_wait in the role); no deployment is under way, so nothing was invoked. Running this "
                "task again waits for it again; {4}, and a run then goes ahead. If you know that run is gone, remove the "
                "lock by hand: {5}".format(held.name, upgrade.stack, holder.describe() if holder else "held", lock_wait,
                                           held.stale_sentence(holder), held.removal_command()),
                lock=holder.as_dict() if holder else None, **upgrade._base_details()
            )
        else:
            if held.taken_over is not None:
                warn(_taken_over_sentence(upgrade, held))
            previous, invoke_began = upgrade.previous_deployment_id()
            upgrade.stage = "invoking"
            result = upgrade.invoke(previous, invoke_began, before_send=lambda: held.mark_invoking(invoke_began, previous))
            upgrade.stage = "invoked"
        result["lock_waited_seconds"] = round(held.waited, 1)
        return result
    except KeyboardInterrupt as e:  # _watch.Interrupted: the run was stopped (not an Exception: nothing above caught it)
        stopped = getattr(e, "reason", None) or "interrupted"
        raise
    finally:
        _leave_lock(upgrade, held, stopped, warn)


def _leave_lock(upgrade, held, stopped, warn):
    """Release the lock, or, stopped while the Invoke was under way, leave it marked ``interrupted``."""
    if stopped is not None and upgrade.invoke_in_flight:
        try:
            held.mark_interrupted(stopped)
            upgrade.lock_outcome = "marked"
        except Exception as e:  # it stays in phase "invoking": a re-run on this host treats it the same way
            upgrade.lock_outcome = "could not be marked ({0}); it still says that an Invoke is under way".format(e)
        return
    try:
        upgrade.lock_outcome = "released" if held.release(force=stopped is not None) else "not_held"
    except Exception as e:  # the task's outcome matters more; a lock left behind goes stale
        upgrade.lock_outcome = "could not be released ({0})".format(e)
        warn("Could not release the upgrade lock SSM {0} of stack {1} ({2}); {3}. If no run of this stack is under way, "
             "remove it by hand: {4}".format(
                 held.name, upgrade.stack, e, held.stale_sentence(held.read_quietly()), held.removal_command()))


def _taken_over_sentence(upgrade, held):
    holder = held.taken_over
    if holder.dead and (holder.age is None or holder.age <= held.stale_after):
        return ("Took over the upgrade lock SSM {0} of stack {1} at once, {2}: that process ran on this host and no longer "
                "exists (killed before it invoked, so it could not release the lock), and nothing of it can still be "
                "running.".format(held.name, upgrade.stack, holder.describe()))
    return ("Took over the upgrade lock SSM {0} of stack {1}, {2}: older than the invoke's read timeout ({3:.0f} s), so no "
            "invoke of it can still be running.".format(held.name, upgrade.stack, holder.describe(), held.stale_after))


def _after_interrupted_invoke(upgrade, held, holder, warn, on_active_deployment):
    """The lock says the Invoke of ``holder.version`` was interrupted: join its deployment, or refuse another version.

    Returns the result, or None once this run holds the lock (the deployment of that Invoke ended, for another
    version; the lock went stale) or the lock is gone: then the caller goes on as usual.
    """
    since = holder.invoke_time
    if not same_version(holder.version, upgrade.requested_version):
        deployment = upgrade.deployment_since(since)
        if deployment is not None and deployment.get("status") in TERMINAL_STATUSES:
            if held.take_over(holder):
                warn("Took over the upgrade lock SSM {0} of stack {1}, left by a run stopped during its Invoke of HERD {2} "
                     "(sent at {3}): the deployment of that Invoke, {4}, has ended ({5}).".format(
                         held.name, upgrade.stack, holder.version, when(since), deployment.get("deploymentId"),
                         deployment.get("status")))
                held.taken_over = None  # said: not stale, whatever _taken_over_sentence would say
            return None
        raise _refused_for_interrupted(upgrade, held, holder, deployment)

    # The same version: join the deployment of that Invoke as soon as it appears, for as long as the Invoke can run.
    upgrade.stage = "joining"
    remaining = max(0.0, held.stale_after - (holder.age or 0.0)) + held.poll  # then it is stale, and taken over

    def look():
        deployment = upgrade.deployment_since(since)
        if deployment is not None:
            return True, deployment
        current = held.read()
        if current is None or current.owner != holder.owner:  # removed, or taken over, meanwhile
            return True, None
        return False, None

    outcome = Waiter(timeout=remaining, interval=held.poll, clock=held.clock, sleep=held.sleep).wait(look)
    held.waited += outcome.elapsed
    deployment = outcome.state
    if deployment is None:
        return None
    result = _join_deployment_of_interrupted(upgrade, deployment, on_active_deployment)
    try:
        removed = held.remove(holder)
    except LockError as e:
        removed = False
        warn("Could not remove the upgrade lock SSM {0} of stack {1} left by the interrupted Invoke ({2}); it is taken "
             "over once stale.".format(held.name, upgrade.stack, e))
    result["interrupted_invoke"] = dict(holder.as_dict(), deployment_id=deployment.get("deploymentId"),
                                        waited_seconds=round(outcome.elapsed, 1), lock_removed=removed)
    return result


def _join_deployment_of_interrupted(upgrade, info, on_active_deployment):
    """The result for the deployment an interrupted Invoke started: attached while it runs, reported once it ended."""
    if info.get("status") in ACTIVE_STATUSES:
        active = upgrade.active_deployment()
        if active is not None and active.deployment_id == info.get("deploymentId"):
            return upgrade.attach(active, on_active_deployment)
        info = upgrade._get_deployment(info.get("deploymentId"))  # it ended in between
    result = upgrade._result(changed=False, attached=True, deployment_id=info.get("deploymentId"),
                             deployment_id_source="interrupted_invoke", deployment_status=info.get("status"),
                             deployment_create_time=iso(info.get("createTime")))
    return result


def _refused_for_interrupted(upgrade, held, holder, deployment):
    if deployment is not None:
        state = "deployment {0} of it is {1} (created {2})".format(
            deployment.get("deploymentId"), deployment.get("status"), when(deployment.get("createTime")))
    else:
        state = "no deployment of it has appeared yet in group {0}".format(upgrade._group)
    return UpgradeFailure(
        "Stack {0}: the upgrade lock SSM {1} says that a run was stopped during its Invoke of {2} for HERD {3}, sent at "
        "{4} ({5}): the function goes on in AWS, and {6}. Nothing was invoked for HERD {7}. Running this task "
        "again for {7} is refused the same way until that deployment has ended, or until the lock is taken over at {8} "
        "(once older than the invoke's read timeout, {9:.0f} s); a run for {3} joins that deployment. If you know that "
        "Invoke started nothing, remove the lock by hand: {10}".format(
            upgrade.stack, held.name, upgrade.function_name, holder.version, when(holder.invoke_time),
            "stopped at {0}".format(when(holder.written)) if holder.marked_interrupted
            else "its process on {0} no longer exists".format(holder.host), state, upgrade.requested_version,
            when(holder.stale_at(held.stale_after)), held.stale_after, held.removal_command()),
        lock=holder.as_dict(), interrupted_version=holder.version,
        deployment_id=deployment.get("deploymentId") if deployment else None, **upgrade._base_details()
    )


def interruption(upgrade, reason):
    """The UpgradeFailure for a run stopped (``reason``: why, in words) at the point ``upgrade`` had reached."""
    held = upgrade.lock
    stack = upgrade.stack or upgrade.function_name
    version = upgrade.requested_version
    details = upgrade._base_details()
    details.update(interrupted=True, interrupted_reason=reason, changed=False, deployment_id=None,
                   lock_outcome=upgrade.lock_outcome)
    stopped = "Stack {0}: {1}".format(stack, reason)  # "the run was stopped (SIGTERM)", or why it is over
    lock_failed = held is not None and upgrade.lock_outcome not in (None, "released", "marked", "not_held")
    lock_words = ""
    if held is not None:
        if lock_failed:
            lock_words = " The upgrade lock SSM {0} {1}: {2}; or remove it by hand: {3}.".format(
                held.name, upgrade.lock_outcome, held.stale_sentence(held.read_quietly()), held.removal_command())
        elif upgrade.lock_outcome == "released":
            lock_words = " The upgrade lock SSM {0} was released.".format(held.name)
    if upgrade.invoke_in_flight:
        details.update(changed=True)
        sent = when(upgrade.invoke_began) or "an unknown time"
        msg = ("{0} during the invoke of {1} for HERD {2}, sent at {3}: the function goes on running in AWS and probably "
               "starts a deployment of {2}. Do not invoke the function by hand.".format(
                   stopped, upgrade.function_name, version, sent))
        if held is None:
            msg += (" Run this task again after {0} s (the function's timeout): it joins that deployment if the function "
                    "started one.".format(upgrade.function_timeout or DEFAULT_FUNCTION_TIMEOUT))
        elif upgrade.lock_outcome == "marked":
            msg += (" The upgrade lock SSM {0} stays, saying so. Running this task again for HERD {1} joins that deployment "
                    "as soon as it appears, without waiting out lock_wait (herd_upgrade_lock_wait in the role); a run for "
                    "another version is refused, naming {1}, until that deployment has ended, or until the lock is taken "
                    "over, {2:.0f} s after now (the invoke's read timeout).".format(held.name, version, held.stale_after))
        else:
            msg += (" The upgrade lock SSM {0} {1}. Running this task again on this host joins that deployment as soon as "
                    "it appears; elsewhere, once the lock is taken over ({2:.0f} s after it was written).".format(
                        held.name, upgrade.lock_outcome, held.stale_after))
        return UpgradeFailure(msg, **details)
    if upgrade.invoke_sent:
        details.update(changed=True, deployment_id=upgrade.started_deployment_id)
        started = " (it started deployment {0})".format(upgrade.started_deployment_id) if upgrade.started_deployment_id else ""
        return UpgradeFailure("{0} after the invoke of {1} for HERD {2} returned{3}.{4} {5}".format(
            stopped, upgrade.function_name, version, started, lock_words,
            upgrade._rerun_sentence(upgrade.started_deployment_id)), **details)
    if held is not None and upgrade.stage in ("locked", "invoking"):
        return UpgradeFailure("{0} while it held the upgrade lock SSM {1}, before the invoke: nothing was invoked.{2} Running "
                              "this task again starts the upgrade to HERD {3} (or joins a deployment of it under way)."
                              "".format(stopped, held.name, lock_words, version), **details)
    if upgrade.stage == "joining":
        holder = upgrade.interrupted_holder
        return UpgradeFailure(
            "{0} while waiting for the deployment of an earlier run's interrupted Invoke of HERD {1} (sent at {2}) to "
            "appear: nothing was invoked, and the upgrade lock SSM {3} was left as it was. Running this task again joins "
            "that deployment as soon as it appears.".format(
                stopped, version, when(holder.invoke_time) if holder else "?", held.name), **details)
    if upgrade.stage == "lock_wait":
        holder = held.last_holder
        return UpgradeFailure(
            "{0} while waiting for the upgrade lock SSM {1}{2}: nothing was invoked, and that lock was left as it was.{3} "
            "Running this task again waits for it again (up to lock_wait, herd_upgrade_lock_wait in the role), then "
            "joins the deployment of HERD {4} that run started, or starts the upgrade.".format(
                stopped, held.name, ", " + holder.describe() if holder else "", lock_words if lock_failed else "", version),
            **details)
    return UpgradeFailure("{0} before anything was invoked for HERD {1}. Running this task again starts over: it joins a "
                          "deployment of {1} under way, or starts the upgrade.".format(stopped, version), **details)
