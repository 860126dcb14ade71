# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which version a rollback brings a stack back to, and the record that keeps a rollback from repeating.

MDL keeps the version each Blue/Green deployment validated in SSM ``HERD/CurrentVersion`` (the bundle's
smoke test writes it, at ValidateService); its history (oldest first) is the record of the versions
the stack was deployed to. Two things keep it from being read naively:

* a deployment that fails after its smoke test (at AllowTraffic, or stopped) leaves an entry naming a
  version HERD never served for long. An entry written while a deployment ran that then ended Failed
  or Stopped is such a failed upgrade: it is left out. The entries after the last one naming the
  version served now are not served either: failed upgrades too;
* a rollback is itself a deployment: it writes the version it went back to ([0.170, 0.176, 0.170]).

So, for a stack serving S (buildInfo), with the failed upgrades left out: the entry before the last
run of entries naming S (S written several times in a row counts once) is the version served before
S came. When it is older than S, it is the rollback's target. When it is newer, S came by a rollback
(or a downgrade) already: nothing to roll back, and a rollback run again after an interruption (its
record not written) changes nothing. When there is none, or it is not a HERD version, nothing tells
the target: the user gives it. A rollback never goes to S, to a version newer than S, nor to a
version whose upgrade failed.

A rollback run again while the deployment of an earlier, interrupted run goes on joins it (the
upgrade's path attaches to a deployment of the same version, and invokes nothing): the deployment
under way is a rollback when SSM says it installs a version older than the one served, or one that
is served now and came after a newer one.

Once done, a rollback writes ``HERD/RollbackRecord`` (JSON: from, to, the deployment, when): a later
rollback finds the stack serving ``to`` with no other version written since, and says which
deployment rolled it back.
"""

from __future__ import annotations

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import BotoCoreError, ClientError, paginate
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import newest_active_deployment
from ansible_collections.mdl.herd.plugins.module_utils._stack import ENDED_UNSUCCESSFULLY, FILLED_LATER
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, iso, utcnow
from ansible_collections.mdl.herd.plugins.module_utils._version import comparable, compare

RECORD_PARAMETER = "HERD/RollbackRecord"
BATCH_SIZE = 25  # BatchGetDeployments takes at most 25 ids

# Why a plan needs no rollback, or cannot find its target.
ALREADY_ROLLED_BACK = "already_rolled_back"  # the record names the served version, and nothing was written since
FOLLOWS_NEWER = "follows_newer"  # the served version came after a newer one: rolled back already, or its upgrade failed
NOT_RECORDED = "not_recorded"  # the history names no version before the served one
NOT_COMPARABLE = "not_comparable"  # the served version, or the one before it, is not a HERD version
PREVIOUS = "previous"
UNDER_WAY = "under_way"  # a rollback (to an older version) is under way: a run cut short, run again, joins it


class RollbackError(Exception):
    """No rollback can be planned; the message says why and what to do. ``exception`` is botocore's, if any."""

    def __init__(self, msg, exception=None, **details):
        super(RollbackError, self).__init__(msg)
        self.msg = msg
        self.exception = exception
        self.details = details


def _same(left, right):
    return left is not None and right is not None and compare(left, right) == 0


def written_during(time, windows):
    """True when ``time`` falls in one of ``windows`` ((start, end) of deployments that failed or were stopped)."""
    return time is not None and any(start is not None and start <= time and (end is None or time <= end)
                                    for start, end in windows)


def succeeded_entries(history, failed_windows=()):
    """The entries of ``history`` ((value, time), oldest first) not written during a deployment that then failed."""
    return [(value, time) for value, time in history if not written_during(time, failed_windows)]


def served_before(history, served_version):
    """The entry before the last run of entries naming ``served_version``, or None (none names it, or nothing before)."""
    positions = [i for i, (value, dummy) in enumerate(history) if _same(value, served_version)]
    if not positions:
        return None
    first = positions[-1]
    # the served version may have been written several times in a row (re-deployed): skip those
    while first > 0 and _same(history[first - 1][0], served_version):
        first -= 1
    return history[first - 1] if first > 0 else None


def rollback_target(history, served_version, record=None, failed_windows=()):
    """``(target version or None, why)`` from the history of CurrentVersion (oldest first: (value, time)).

    ``failed_windows`` are the (start, end) times of the stack's deployments that ended Failed or Stopped:
    the entries written during one name failed upgrades, and are left out. The target is the entry
    before the last run naming ``served_version``, when it is older (``previous``). None, with why:
    ``already_rolled_back`` (the record names what HERD serves, and nothing else was written since),
    ``follows_newer`` (that entry is newer: rolled back already, or its upgrade failed), ``not_recorded``,
    ``not_comparable`` (the served version or that entry is not a HERD version).
    """
    if record and _same(record.get("to_version"), served_version):
        recorded_at = as_utc(record.get("time"))
        later = [time for value, time in history if time is not None and recorded_at is not None and time > recorded_at
                 and not _same(value, served_version)]
        if not later:
            return None, ALREADY_ROLLED_BACK
    if not comparable(served_version):
        return None, NOT_COMPARABLE
    before = served_before(succeeded_entries(history, failed_windows), served_version)
    if before is None:
        return None, NOT_RECORDED
    if not comparable(before[0]):
        return None, NOT_COMPARABLE
    if compare(before[0], served_version) > 0:
        return None, FOLLOWS_NEWER
    return before[0], PREVIOUS


class RollbackPlan(object):
    """Reads what a rollback of ``stack`` needs: the CurrentVersion history, the record, the active deployments."""

    def __init__(self, stack, ssm, codedeploy):
        self.stack = stack
        self.ssm = ssm
        self.codedeploy = codedeploy
        self.record_name = stack.parameter(RECORD_PARAMETER)

    def history(self):
        name = self.stack.current_version_parameter
        try:
            entries = paginate(self.ssm, "get_parameter_history", Name=name).get("Parameters") or []
        except is_boto3_error_code("ParameterNotFound"):
            return []
        except (ClientError, BotoCoreError) as e:
            raise RollbackError("Could not read the history of SSM {0} of stack {1}".format(name, self.stack), e)
        entries.sort(key=lambda p: (p.get("Version") or 0))
        return [(p.get("Value"), as_utc(p.get("LastModifiedDate"))) for p in entries]

    def record(self):
        try:
            answer = self.ssm.get_parameter(Name=self.record_name, aws_retry=True)
        except is_boto3_error_code("ParameterNotFound"):
            return None
        except (ClientError, BotoCoreError) as e:
            raise RollbackError("Could not read SSM {0} of stack {1}".format(self.record_name, self.stack), e)
        try:
            value = json.loads(answer["Parameter"]["Value"])
        except (KeyError, TypeError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def active_deployment_id(self):
        """The deployment under way in the stack's CodeDeploy group, or None (the reader every module shares)."""
        def get_deployment(deployment_id):
            return self.codedeploy.get_deployment(deploymentId=deployment_id, aws_retry=True).get("deploymentInfo")

        try:
            found = newest_active_deployment(self.codedeploy, self.stack.codedeploy_application, self.stack.deployment_group,
                                             get_deployment)
        except is_boto3_error_code(("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException")) as e:
            raise RollbackError("The CodeDeploy group {0} (application {1}) of stack {2} does not exist in this region: check "
                                "mdl_instance_name, mdl_environment and the region".format(
                                    self.stack.deployment_group, self.stack.codedeploy_application, self.stack), e)
        except (ClientError, BotoCoreError) as e:  # pylint: disable=duplicate-except
            raise RollbackError("Could not list the deployments of stack {0}".format(self.stack), e)
        return (found or {}).get("deploymentId")

    def version_under_way(self, served_version, history):
        """``(version, from version)`` of the rollback under way, as SSM tells it, or ``(None, None)`` when it is not one.

        Before its smoke test, the upgrade Lambda's HERD/RequestedVersion (HERD/DeploymentInvoked true) names what
        the deployment installs; after it, HERD/CurrentVersion does (RequestedVersion FilledLater). It is a rollback
        when that version is older than the served one (traffic not switched yet), or is the served one and came
        after a newer one (switched: the original instances are being terminated).
        """
        names = [self.stack.requested_version_parameter, self.stack.deployment_invoked_parameter,
                 self.stack.current_version_parameter]
        try:
            answer = self.ssm.get_parameters(Names=names, aws_retry=True)
        except (ClientError, BotoCoreError) as e:
            raise RollbackError("Could not read the SSM parameters of stack {0} that tell what its deployment under way "
                                "installs; nothing was changed. Run this again".format(self.stack), e)
        values = dict((p.get("Name"), p.get("Value")) for p in answer.get("Parameters") or [])
        requested, invoked, current = (values.get(name) for name in names)
        if invoked == "true" and requested != FILLED_LATER:
            version = requested
        elif requested == FILLED_LATER:
            version = current
        else:
            return None, None
        if not comparable(version) or not comparable(served_version):
            return None, None
        if compare(version, served_version) < 0:
            return version, served_version
        before = served_before(history, served_version) if compare(version, served_version) == 0 else None
        if before is not None and comparable(before[0]) and compare(before[0], served_version) > 0:
            return version, before[0]
        return None, None

    def failed_windows(self):
        """(create time, complete time) of each deployment of the stack's group that ended Failed or Stopped."""
        why = ("Could not read the failed deployments of stack {0}, which tell the versions whose upgrade failed in SSM {1}; "
               "nothing was changed. Run this again, or give the version with -e herd_version=X").format(
                   self.stack, self.stack.current_version_parameter)
        try:
            ids = paginate(self.codedeploy, "list_deployments", applicationName=self.stack.codedeploy_application,
                           deploymentGroupName=self.stack.deployment_group,
                           includeOnlyStatuses=list(ENDED_UNSUCCESSFULLY)).get("deployments") or []
            infos = []
            for start in range(0, len(ids), BATCH_SIZE):
                answer = self.codedeploy.batch_get_deployments(deploymentIds=ids[start:start + BATCH_SIZE], aws_retry=True)
                infos.extend(answer.get("deploymentsInfo") or [])
        except (ClientError, BotoCoreError) as e:
            raise RollbackError(why, e)
        return [(as_utc(info.get("createTime")), as_utc(info.get("completeTime"))) for info in infos]

    def _described(self, history, failed_windows):
        return ", ".join("{0}{1}".format(value or "?", " (failed)" if written_during(time, failed_windows) else "")
                         for value, time in history) or "none"

    def plan(self, served_version, requested_version=None):
        """The result for a rollback of the stack now serving ``served_version`` (to ``requested_version`` if given)."""
        base = dict(mdl_instance_name=self.stack.instance_name, mdl_environment=self.stack.environment,
                    served_version=served_version)
        active = self.active_deployment_id()
        if active:
            history = self.history()
            joined, from_version = self.version_under_way(served_version, history)
            if joined is not None and (not requested_version or _same(requested_version, joined)):
                return dict(base, target_version=joined, from_version=from_version, reason=UNDER_WAY,
                            active_deployment_id=active, history=[value for value, dummy in history], record=self.record(),
                            rollback_needed=True, message=None)
            raise RollbackError(
                "Stack {0} has deployment {1} under way: a rollback now would be refused by CodeDeploy (one active "
                "deployment per group) and would not know what it rolls back. Wait for it to end (mdl.herd.codedeploy_wait "
                "with deployment_id {1}) or stop it, then run the rollback again.".format(self.stack, active),
                active_deployment_id=active, **base)
        history = self.history()
        record = self.record()
        recorded = [value for value, dummy in history]
        if requested_version:
            if comparable(served_version) and compare(requested_version, served_version) > 0:
                raise RollbackError(
                    "Stack {0} serves HERD {1}, and {2} is newer: a rollback never goes to a newer version. Nothing was "
                    "changed, and running this again refuses again; to upgrade, run mdl.herd.upgrade_herd with "
                    "-e herd_version={2}.".format(self.stack, served_version, requested_version),
                    requested_version=requested_version, history=recorded, **base)
            return dict(base, target_version=requested_version, from_version=served_version, reason="requested",
                        history=recorded, record=record, rollback_needed=not _same(requested_version, served_version),
                        message=None)
        # the failed deployments matter only when there is an entry other than the served version
        windows = self.failed_windows() if any(not _same(value, served_version) for value in recorded) else []
        target, reason = rollback_target(history, served_version, record, windows)
        described = self._described(history, windows)
        if reason == ALREADY_ROLLED_BACK:
            return dict(base, target_version=served_version, reason=reason, history=recorded, record=record,
                        rollback_needed=False, message=(
                            "Stack {0} serves HERD {1}, rolled back from {2} by deployment {3}: nothing to roll back, "
                            "and running this again changes nothing.".format(
                                self.stack, served_version, record.get("from_version"), record.get("deployment_id"))))
        if reason == FOLLOWS_NEWER:
            newer = served_before(succeeded_entries(history, windows), served_version)[0]
            return dict(base, target_version=served_version, reason=reason, history=recorded, record=record,
                        rollback_needed=False, previous_version=newer, message=(
                            "Stack {0} serves HERD {1}, which came after {2} in SSM {3} (history: {4}): the stack was "
                            "rolled back already, or its upgrade to {2} failed. A rollback never goes to a newer version: "
                            "nothing to roll back, and running this again changes nothing. To deploy another version, "
                            "run mdl.herd.upgrade_herd, or this with -e herd_version=X for an older X.".format(
                                self.stack, served_version, newer, self.stack.current_version_parameter, described)))
        if target is None:
            if reason == NOT_COMPARABLE and not comparable(served_version):
                why = "that build number is not a HERD version, so which version is older cannot be told"
            elif reason == NOT_COMPARABLE:
                why = ("SSM {0} names {1!r} before it, which is not a HERD version (history: {2})".format(
                    self.stack.current_version_parameter,
                    served_before(succeeded_entries(history, windows), served_version)[0], described))
            else:
                why = "SSM {0} does not record a version before it (history: {1})".format(
                    self.stack.current_version_parameter, described)
            raise RollbackError(
                "Stack {0} serves HERD {1}, and {2}: nothing tells which version to roll back to, and nothing was "
                "changed. Give it with -e herd_version=X (the rollback then brings the stack to X).".format(
                    self.stack, served_version, why),
                history=recorded, reason=reason, **base)
        return dict(base, target_version=target, from_version=served_version, reason=reason, history=recorded, record=record,
                    rollback_needed=True, message=None)

    def write_record(self, from_version, to_version, deployment_id):
        value = json.dumps({"from_version": from_version, "to_version": to_version, "deployment_id": deployment_id,
                            "time": iso(utcnow()), "by": "mdl.herd rollback_herd"}, sort_keys=True)
        try:
            self.ssm.put_parameter(Name=self.record_name, Value=value, Type="String", Overwrite=True,
                                   Description="mdl.herd: the last rollback of HERD on this stack", aws_retry=True)
        except (ClientError, BotoCoreError) as e:
            raise RollbackError("Could not write SSM {0} of stack {1}; the rollback itself succeeded".format(
                self.record_name, self.stack), e)
        return json.loads(value)
