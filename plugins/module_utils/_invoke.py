# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Invoke of the upgrade Lambda, exactly once, under the upgrade lock, and a run stopped during it.

For an ``_upgrade.UpgradeInvocation`` that ``start_or_join`` decided to invoke for:

1. ``previous_deployment_id``: read SSM ``HERD/MostRecentDeploymentId`` and the AWS time;
2. ``invoke``: invoke the function exactly once (a client that never retries), read the
   deployment id from the log tail, or from SSM when the tail lost it and SSM shows a
   deployment created by this invoke;
3. ``invoke_once``: both under the lock (``_lock``), joining the deployment of an earlier
   run's interrupted Invoke instead when the lock says there was one;
4. ``interruption``: what a run stopped on the way did, and what a re-run does.

Imported only by a run that gets that far: the idempotent no-op never does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re

from ansible_collections.mdl.herd.plugins.module_utils._aws import (
    ACCESS_DENIED_ERROR_CODES,
    BotoCoreError,
    ClientError,
    HTTPClientError,
    error_code,
    paginate,
)
from ansible_collections.mdl.herd.plugins.module_utils._stack import ACTIVE_STATUSES, FILLED_LATER, TERMINAL_STATUSES
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, iso, when
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import (
    CLOCK_SKEW,
    DEFAULT_FUNCTION_TIMEOUT,
    RESTORE_MARK,
    AwsFailure,
    LockError,
    UpgradeFailure,
    invoke_read_timeout,
    same_version,
)
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter


# --- the log -------------------------------------------------------------------------------

# The line of the upgrade Lambda's log that names the deployment it created.
DEPLOYMENT_ID_LINE_RE = re.compile(r"Deployment id is: '(d-[A-Z0-9]{9})'")
# Lines the upgrade Lambda (print: "ERROR: ...") or the Python runtime ("[ERROR] ...") log for errors.
ERROR_LINE_RE = re.compile(r"^\s*(?:ERROR:|\[ERROR\])")
WARNING_LINE_RE = re.compile(r"^\s*(?:WARN(?:ING)?:|\[WARN(?:ING)?\])")
# The lines Lambda frames an invocation with; their request id is the one of the CloudWatch log.
REQUEST_ID_LINE_RE = re.compile(r"^(?:START|END|REPORT) RequestId: ([A-Za-z0-9-]+)")


def build_payload(requested_version):
    """The upgrade Lambda's event, as JSON bytes (never built by string formatting)."""
    return json.dumps({"RequestedVersion": requested_version}).encode("utf-8")


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


# --- before the invoke ----------------------------------------------------------------------


def deployment_since(upgrade, since):
    """The newest deployment of the stack's group that the upgrade Lambda (or anyone, not CodeDeploy itself)
    created at ``since`` or later (less CLOCK_SKEW), in any status; its deploymentInfo, or None."""
    start = as_utc(since) - CLOCK_SKEW
    try:
        ids = paginate(upgrade.codedeploy, "list_deployments", applicationName=upgrade.stack.codedeploy_application,
                       deploymentGroupName=upgrade.stack.deployment_group,
                       createTimeRange={"start": start}).get("deployments") or []
    except (ClientError, BotoCoreError) as e:
        raise AwsFailure("Could not list the deployments of CodeDeploy group {0}{1}".format(upgrade._group, upgrade._where), e,
                         **upgrade._base_details())
    newest = None
    for deployment_id in ids:
        info = upgrade._get_deployment(deployment_id) or {}
        created = as_utc(info.get("createTime"))
        if (info.get("creator") or "user") != "user" or created is None or created < start:
            continue
        if newest is None or created > as_utc(newest.get("createTime")):
            newest = info
    return newest


def previous_deployment_id(upgrade):
    """``(the value of SSM HERD/MostRecentDeploymentId or None, the AWS time of that read)``.

    Also keeps HERD/RequestedVersion and HERD/DeploymentInvoked as they are, to put them back
    if the invoke is refused (the function writes them before CodeDeploy refuses).
    """
    upgrade._before_invoke = {}
    for name in (upgrade.stack.requested_version_parameter, upgrade.stack.deployment_invoked_parameter):
        value, dummy = upgrade._read_parameter(name)
        upgrade._before_invoke[name] = value.get("Value") if value else None
    parameter, date = upgrade._read_parameter(upgrade.stack.most_recent_deployment_id_parameter)
    value = parameter.get("Value") if parameter else None
    # a stack never upgraded: the stack's template creates the parameter with FilledLater
    return (None if value == FILLED_LATER else value), (date or upgrade.now())


def _restore_before_invoke(upgrade, details):
    """Put back what a refused invoke overwrote; a sentence saying what was done."""
    restored, failed = [], []
    for name, value in sorted((getattr(upgrade, "_before_invoke", None) or {}).items()):
        try:
            if value is None:
                upgrade.ssm.delete_parameter(Name=name, aws_retry=True)
            else:
                upgrade.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True,
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


def would_invoke(upgrade, previous):
    """Check mode: what ``invoke`` would do, without invoking."""
    return upgrade._result(changed=True, attached=False, previous_deployment_id=previous)


# --- the invoke ----------------------------------------------------------------------------


def invoke(upgrade, previous, invoke_began, before_send=None):
    """Invoke the function once and return the result with the new deployment's id.

    ``previous`` is the value of HERD/MostRecentDeploymentId read just before, ``invoke_began``
    the AWS time of that read. ``before_send()`` is called just before the Invoke is sent (the
    lock says then that an Invoke is under way). ``invoke_in_flight`` is True from the moment
    the Invoke may have been sent until its answer (or error) came back: a run interrupted
    meanwhile (a KeyboardInterrupt, such as ``_watch.Interrupted``) leaves it True.
    """
    details = upgrade._base_details()
    details["previous_deployment_id"] = previous
    read_timeout = invoke_read_timeout(upgrade.function_timeout)
    client = upgrade.invoke_client(read_timeout)
    if before_send is not None:
        before_send()
    upgrade.invoke_began = invoke_began
    upgrade.invoke_sent = upgrade.invoke_in_flight = True
    try:
        try:
            response = client.invoke(
                FunctionName=upgrade.function_ref,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=build_payload(upgrade.requested_version),
            )
        except Exception:  # an answer, an error or a timeout: the Invoke is over (an interruption is not an Exception)
            upgrade.invoke_in_flight = False
            raise
        upgrade.invoke_in_flight = False
    except HTTPClientError as e:
        details.update(changed=True, deployment_id=None)
        raise AwsFailure(
            "The invoke of {0} got no complete answer within {1} s, so whether it started a deployment is unknown; "
            "it was not retried, to avoid a second deployment. Do not invoke the function by hand: wait {2} s (its "
            "timeout), then run this task again, which attaches to the deployment if the function started one. "
            "Its log group is {3}".format(upgrade.function_name, read_timeout, upgrade.function_timeout, upgrade._log_group), e, **details
        )
    except BotoCoreError as e:
        raise AwsFailure(
            "Could not send the invoke to {0}{1}; nothing was started. Check the endpoint, network and credentials, "
            "then run this task again".format(upgrade.function_name, upgrade._where), e, **details
        )
    except ClientError as e:
        raise AwsFailure(_invoke_error_message(upgrade, e), e, **details)

    try:
        return _after_invoke(upgrade, response, previous, invoke_began, details)
    except UpgradeFailure as failure:
        # The Invoke returned: the function ran, so something may have started. Never report
        # "nothing changed", and say what a re-run does.
        failure.details["changed"] = True
        failure.details.setdefault("deployment_id", None)
        failure.details.setdefault("request_id", details.get("request_id"))
        failure.msg = "{0} {1}".format(failure.msg.rstrip(), _rerun_sentence(upgrade, failure.details.get("deployment_id")))
        raise


def _rerun_sentence(upgrade, deployment_id):
    if deployment_id:
        return ("Running this task again joins deployment {0} while it is under way (it does not invoke again).".format(
            deployment_id))
    return ("Running this task again joins the deployment of {0} under way in group {1} if there is one, and "
            "invokes the function only if there is none.".format(upgrade.requested_version, upgrade._group))


def _after_invoke(upgrade, response, previous, invoke_began, details):
    """The result of an Invoke that returned: the deployment it started, or the failure, as far as known."""
    lines = decode_log(response.get("LogResult"))
    log = parse_log(lines)
    # Lambda answers with the request id of the invocation; the log's lines name it too.
    request_id = log.request_id or (response.get("ResponseMetadata") or {}).get("RequestId")
    details.update(log_lines=lines, request_id=request_id, deployment_id=log.deployment_id)
    upgrade.started_deployment_id = log.deployment_id
    see_log = "See log_lines, or the log group {0} (request id {1}).".format(upgrade._log_group, request_id)

    payload = read_payload(response) if response.get("FunctionError") else None
    error = payload if isinstance(payload, dict) else {"errorMessage": payload}
    if response.get("FunctionError") or log.errors:
        refused = "DeploymentLimitExceeded" in "{0} {1}".format(error.get("errorType"), error.get("errorMessage"))
        details["deployment_id"], started = _started_before_failing(upgrade, log, previous, invoke_began, refused, details)
        if refused and not log.deployment_id:
            started += _restore_before_invoke(upgrade, details)
    if response.get("FunctionError"):
        error_type = error.get("errorType") or response["FunctionError"]
        error_message = error.get("errorMessage") or "(no message)"
        details.update(function_error=response["FunctionError"], error_type=error_type, error_message=error_message)
        raise UpgradeFailure(
            "The upgrade Lambda {0} failed with {1}: {2}.{3} {4}".format(
                upgrade.function_name, error_type, error_message.rstrip("."), started, see_log), **details
        )
    if log.errors:
        raise UpgradeFailure(
            "The upgrade Lambda {0} logged an error for version {1}: {2}.{3} {4}".format(
                upgrade.function_name, upgrade.requested_version, " | ".join(log.errors), started, see_log), **details
        )
    for line in log.warnings:
        upgrade.warn("The upgrade Lambda {0} logged: {1}".format(upgrade.function_name, line))

    if log.deployment_id:
        return upgrade._result(changed=True, attached=False, deployment_id=log.deployment_id, deployment_id_source="log",
                               previous_deployment_id=previous, log_lines=lines, request_id=request_id)

    deployment = _deployment_from_ssm(upgrade, previous, invoke_began, details, see_log)
    return upgrade._result(changed=True, attached=False, deployment_id=deployment["deploymentId"], deployment_id_source="ssm",
                           deployment_status=deployment.get("status"), deployment_create_time=iso(deployment.get("createTime")),
                           previous_deployment_id=previous, log_lines=lines, request_id=request_id)


def _invoke_error_message(upgrade, e):
    code = error_code(e)
    name = upgrade.function_name
    if code == "ResourceNotFoundException":
        return "The upgrade Lambda {0} does not exist{1}; nothing was started".format(name, upgrade._where)
    if code in ("TooManyRequestsException", "EC2ThrottledException", "ResourceConflictException", "ResourceNotReadyException"):
        return ("Lambda refused to run {0} now ({1}); nothing was started and the invoke is never retried automatically. "
                "Run this task again in a minute".format(name, code))
    if code in ACCESS_DENIED_ERROR_CODES:
        return "Not allowed to invoke {0} (lambda:InvokeFunction); nothing was started".format(name)
    return ("Lambda answered the invoke of {0} with an error; it was not retried. If the function may have run, run this "
            "task again: it attaches to a deployment the function started. Its log group is {1}".format(name, upgrade._log_group))


def _ssm_deployment(upgrade, previous, invoke_began):
    """``(deployment, None)`` when SSM names a deployment of this invoke, else ``(None, why not)``.

    A deployment of this invoke: the value of HERD/MostRecentDeploymentId differs from the one
    read before the invoke, and names a deployment of the stack's group created after the invoke
    began (less CLOCK_SKEW).
    """
    name = upgrade.stack.most_recent_deployment_id_parameter
    parameter, dummy = upgrade._read_parameter(name)
    current = parameter.get("Value") if parameter else None
    if current is None:
        return None, "SSM {0} does not exist".format(name)
    if current == FILLED_LATER:
        return None, "SSM {0} still holds {1}: the function wrote no deployment id".format(name, current)
    if current == previous:
        return None, "SSM {0} still holds {1}, its value before the invoke".format(name, current)
    deployment = upgrade._get_deployment(current)
    application, group = deployment.get("applicationName"), deployment.get("deploymentGroupName")
    if (application, group) != (upgrade.stack.codedeploy_application, upgrade.stack.deployment_group):
        return None, "SSM {0} holds {1}, a deployment of {2}/{3}, not of group {4}".format(name, current, application, group, upgrade._group)
    created = as_utc(deployment.get("createTime"))
    if created is None or created < invoke_began - CLOCK_SKEW:
        return None, "SSM {0} holds {1}, created at {2}, before this invoke began ({3}), so an older deployment".format(
            name, current, iso(created) or "an unknown time", iso(invoke_began))
    return deployment, None


def _deployment_from_ssm(upgrade, previous, invoke_began, details, see_log):
    """The deployment of this invoke according to SSM, when the log tail lost the id line; else raise."""
    deployment, why_not = _ssm_deployment(upgrade, previous, invoke_began)
    if deployment is None:
        raise UpgradeFailure(
            "The log tail of {0} holds no deployment id (Lambda returns only the last 4 KB of the log), and {1}: no "
            "deployment of this invoke can be found. Check the function's log and the deployments of CodeDeploy group "
            "{2} before running this task again. {3}".format(upgrade.function_name, why_not, upgrade._group, see_log), **details
        )
    return deployment


def _started_before_failing(upgrade, log, previous, invoke_began, refused, details):
    """``(deployment id or None, a sentence)``: what a failed invoke is known to have started.

    Only the function's own log line proves that this invoke created a deployment. A
    DeploymentLimitExceededException proves that it did not. A new id in SSM proves neither:
    another run may have written it.
    """
    if log.deployment_id:
        return log.deployment_id, " It started deployment {0} before failing.".format(log.deployment_id)
    if refused:
        return None, (" CodeDeploy refused its deployment: another deployment is active in group {0}, so this invoke "
                      "started none.".format(upgrade._group))
    try:
        deployment, dummy = _ssm_deployment(upgrade, previous, invoke_began)
    except UpgradeFailure:  # the task fails anyway: say what is known
        deployment = None
    if deployment is None:
        return None, " It started no deployment that can be seen (none in its log, none new in SSM)."
    details["ssm_deployment_id"] = deployment["deploymentId"]
    return None, (" SSM {0} names deployment {1}, created after this invoke began; whether this invoke or another run "
                  "started it cannot be told.".format(upgrade.stack.most_recent_deployment_id_parameter,
                                                      deployment["deploymentId"]))


# --- under the lock, for start_or_join -------------------------------------------------------


def invoke_once(upgrade, check_mode, lock, lock_wait, warn, on_active_deployment):
    """Invoke under the lock (or without one); in check mode, say what would be invoked."""
    if check_mode:
        previous, dummy = previous_deployment_id(upgrade)
        return would_invoke(upgrade, previous)
    if lock is None:
        previous, invoke_began = previous_deployment_id(upgrade)
        upgrade.stage = "invoking"
        result = invoke(upgrade, previous, invoke_began)
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
            previous, invoke_began = previous_deployment_id(upgrade)
            upgrade.stage = "invoking"
            result = invoke(upgrade, previous, invoke_began, before_send=lambda: held.mark_invoking(invoke_began, previous))
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
        deployment = deployment_since(upgrade, since)
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
        deployment = deployment_since(upgrade, since)
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


# --- a run stopped ---------------------------------------------------------------------------


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
            _rerun_sentence(upgrade, upgrade.started_deployment_id)), **details)
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
