# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which version a rollback brings a stack back to, and the record that keeps a rollback from repeating.

MDL keeps the version each successful Blue/Green deployment validated in SSM
``HERD/CurrentVersion`` (the bundle's smoke test writes it); its history is the record of the
versions the stack served. The version before the last upgrade is the latest value before the
last entry naming the version HERD serves now: cross-checked with buildInfo, because a
deployment that failed after its smoke test leaves ``CurrentVersion`` naming the failed version.

A rollback is not an upgrade: once done, it writes ``HERD/RollbackRecord`` (JSON: from, to, the
deployment, when), and a later rollback finds the stack serving ``to`` with no upgrade since the
record, and changes nothing.
"""

from __future__ import annotations

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import BotoCoreError, ClientError, paginate
from ansible_collections.mdl.herd.plugins.module_utils._stack import ACTIVE_STATUSES
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, iso, utcnow
from ansible_collections.mdl.herd.plugins.module_utils._version import compare

RECORD_PARAMETER = "HERD/RollbackRecord"


class RollbackError(Exception):
    """No rollback can be planned; the message says why and what to do. ``exception`` is botocore's, if any."""

    def __init__(self, msg, exception=None, **details):
        super(RollbackError, self).__init__(msg)
        self.msg = msg
        self.exception = exception
        self.details = details


def _same(left, right):
    return left is not None and right is not None and compare(left, right) == 0


def rollback_target(history, served_version, record=None):
    """``(target version or None, why)`` from the history of CurrentVersion (oldest first: (value, time)).

    None with a reason when the stack is already rolled back (the record names what it serves, and no
    CurrentVersion was written after the record) or when nothing tells which version came before.
    """
    if record and _same(record.get("to_version"), served_version):
        recorded_at = as_utc(record.get("time"))
        later = [time for value, time in history if time is not None and recorded_at is not None and time > recorded_at
                 and not _same(value, served_version)]
        if not later:
            return None, "already_rolled_back"
    positions = [i for i, (value, dummy) in enumerate(history) if _same(value, served_version)]
    if not positions:
        return None, "not_recorded"
    last = positions[-1]
    # the served version may have been written several times in a row (re-deployed): skip those
    first = last
    while first > 0 and _same(history[first - 1][0], served_version):
        first -= 1
    if first == 0:
        return None, "not_recorded"
    return history[first - 1][0], "previous"


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
        try:
            page = self.codedeploy.list_deployments(
                applicationName=self.stack.codedeploy_application, deploymentGroupName=self.stack.deployment_group,
                includeOnlyStatuses=list(ACTIVE_STATUSES), aws_retry=True)
        except (ClientError, BotoCoreError) as e:
            raise RollbackError("Could not list the deployments of stack {0}".format(self.stack), e)
        found = page.get("deployments") or []
        return found[0] if found else None

    def plan(self, served_version, requested_version=None):
        """The result for a rollback of the stack now serving ``served_version`` (to ``requested_version`` if given)."""
        base = dict(mdl_instance_name=self.stack.instance_name, mdl_environment=self.stack.environment,
                    served_version=served_version)
        active = self.active_deployment_id()
        if active:
            raise RollbackError(
                "Stack {0} has deployment {1} under way: a rollback now would be refused by CodeDeploy (one active "
                "deployment per group) and would not know what it rolls back. Wait for it to end (mdl.herd.codedeploy_wait "
                "with deployment_id {1}) or stop it, then run the rollback again.".format(self.stack, active),
                active_deployment_id=active, **base)
        history = self.history()
        record = self.record()
        recorded = [value for value, dummy in history]
        if requested_version:
            return dict(base, target_version=requested_version, reason="requested", history=recorded, record=record,
                        rollback_needed=not _same(requested_version, served_version))
        target, reason = rollback_target(history, served_version, record)
        if reason == "already_rolled_back":
            return dict(base, target_version=served_version, reason=reason, history=recorded, record=record,
                        rollback_needed=False)
        if target is None:
            raise RollbackError(
                "Stack {0} serves HERD {1}, and SSM {2} does not record a version before it (history: {3}): nothing "
                "tells which version to roll back to. Give it with -e herd_version=X (the rollback then brings the "
                "stack to X).".format(self.stack, served_version, self.stack.current_version_parameter,
                                      ", ".join(v or "?" for v in recorded) or "none"),
                history=recorded, **base)
        return dict(base, target_version=target, reason=reason, history=recorded, record=record, rollback_needed=True)

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
