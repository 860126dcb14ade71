# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start the Blue/Green upgrade of HERD on an MDL stack once, and only once: the decision.

The stack's upgrade Lambda is not idempotent: each invoke creates a CodeDeploy deployment.
``UpgradeInvocation`` and ``start_or_join`` make starting an upgrade safe to repeat:

1. ``resolve_function``: find the function (and the stack's two words, when only the
   function was named) and its timeout;
2. ``active_deployment``: look for an active deployment in the stack's deployment group
   and, for it, the version SSM says was requested; ``attach`` to it or refuse;
3. ``refuse_downgrade``, the preflight, then ``_invoke.invoke_once``: under the upgrade lock,
   read SSM ``HERD/MostRecentDeploymentId`` and invoke the function exactly once.

The Invoke and a run stopped during it are ``_invoke``'s, imported only by a run that gets that
far: the idempotent no-op (HERD already serves the version) decides here and imports less.

Failures raise ``UpgradeFailure`` (a sentence for the person and details for the task
result) or ``AwsFailure`` (the same, with the AWS error, for ``fail_json_aws``).
"""

from __future__ import annotations

import dataclasses
import datetime

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import (
    ACCESS_DENIED_ERROR_CODES,
    BotoCoreError,
    ClientError,
    paginate,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import newest_active_deployment
from ansible_collections.mdl.herd.plugins.module_utils._stack import (
    FILLED_LATER,
    FUNCTION_NAME_RE,
    InputError,
    MdlStack,
)
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, aws_date, iso, utcnow
from ansible_collections.mdl.herd.plugins.module_utils._version import comparable, compare as compare_versions

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


# --- versions, function names, the read timeout ----------------------------------------------


def same_version(left, right):
    """True when two HERD versions are the same Maven version (0.176 and 0.176.0 are)."""
    if left is None or right is None:
        return False
    return compare_versions(left, right) == 0


def function_name_of(reference):
    """The function's name in a name, partial ARN or ARN (with or without a qualifier)."""
    match = FUNCTION_NAME_RE.fullmatch(reference or "")
    return match.group(7) if match else reference


def invoke_read_timeout(function_timeout):
    """Seconds to wait for the Invoke answer: the function's timeout and a margin."""
    try:
        seconds = int(function_timeout)
    except (TypeError, ValueError):
        seconds = DEFAULT_FUNCTION_TIMEOUT
    if seconds <= 0:
        seconds = DEFAULT_FUNCTION_TIMEOUT
    return seconds + READ_TIMEOUT_MARGIN


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
        # How far the run got, for the message of a run stopped half-way (see ``_invoke.interruption``)
        self.stage = None  # None, "lock_wait", "locked", "invoking", "invoked", "joining"
        self.lock = None  # the _lock.UpgradeLock of this run, once built
        self.lock_outcome = None  # what became of it: "released", "marked", "left", "not_held", or a failure's words
        self.interrupted_holder = None  # the lock of an interrupted Invoke this run found
        self.invoke_in_flight = False
        self.invoke_sent = False
        self.invoke_began = None
        self.started_deployment_id = None  # the deployment id the Invoke's log named
        self.active_looks = []  # what each active_deployment() answered (None: nothing under way), for the preflight

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
        """The active deployment of the stack's group (the newest, if CodeDeploy ever shows more), or None.

        Each answer is kept in ``active_looks``: the preflight's ``active_deployment`` check reports the last.
        """
        answer = self._find_active_deployment()
        self.active_looks.append(answer)
        return answer

    def _find_active_deployment(self):
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
    (``preflight()``, which returns their report, such as ``_preflight.Preflight(...).run``; None for
    none) after ``confirm_read()`` (when given: HERD read as the version check after the deployment
    reads it, with its credentials); take the lock (waiting up to ``lock_wait`` s for another run's
    invoke), look again for a deployment under way (the other run's), and invoke once. ``lock(stale_after)`` builds an ``_lock.UpgradeLock`` for the
    invoke's read timeout; None runs without one.

    The lock is released in every outcome, a stop of the run (a KeyboardInterrupt, such as
    ``_watch.Interrupted``) included, but one: stopped while its Invoke is under way (the function
    goes on in AWS), the run leaves the lock, marked ``interrupted`` with the version and the time.
    A later run for that version joins the deployment of that Invoke as soon as it appears (and
    removes the lock); a run for another version is refused, naming it, until that deployment has
    ended or the lock is stale. ``_invoke.interruption(upgrade, reason)`` words what a stopped run did.
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
    report = preflight() if preflight is not None else {}
    # imported here: the no-op, and a run that joins, never invoke
    from ansible_collections.mdl.herd.plugins.module_utils._invoke import invoke_once
    result = invoke_once(upgrade, check_mode, lock, lock_wait, warn, on_active_deployment)
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
