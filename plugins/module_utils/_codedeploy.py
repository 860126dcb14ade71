# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Following one CodeDeploy deployment to its end.

Three layers, each usable without the ones above it:

* plain functions that turn what CodeDeploy answers (``get_deployment``,
  ``batch_get_deployment_targets``) into a *view*: the deployment, its instances, the four
  Blue/Green steps the console shows, what is happening now, and the sentences a person
  reads when it fails;
* :class:`DeploymentReader`, the only code that calls CodeDeploy here; it counts the
  requests it sends;
* :class:`Follower`, which polls through ``_waiter.Waiter``, decides when the instances
  are worth reading again, keeps the timeline and the progress lines, and can hand its
  state over to a later run of the module (the action plugin runs the module in slices so
  that the progress lines appear while the deployment runs).

Times are kept as POSIX seconds (floats) and shown as ISO 8601 strings in results.
"""

from __future__ import annotations

import time

from ansible_collections.mdl.herd.plugins.module_utils._aws import TRANSIENT_ERROR_CODES, error_code, read_retry
from ansible_collections.mdl.herd.plugins.module_utils._stack import ACTIVE_STATUSES, TERMINAL_STATUSES
from ansible_collections.mdl.herd.plugins.module_utils._time import iso, to_epoch
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter

STEP_NAMES = (
    "Deploying replacement instances",
    "Rerouting traffic to replacement instances",
    "Waiting original instances termination",
    "Terminating original instances",
)

# Lifecycle events, by the step of a Blue/Green deployment they belong to.
INSTALL_EVENTS = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService")
ALLOW_EVENTS = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
BLOCK_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
# Events whose failure does not stop a deployment created with ignoreApplicationStopFailures.
IGNORABLE_EVENTS = ("ApplicationStop", "BeforeBlockTraffic", "AfterBlockTraffic")

DONE = ("Succeeded", "Skipped")
WAIT_FOR_CHOICES = ("success", "traffic_rerouted")
ON_TIMEOUT_CHOICES = ("fail", "stop", "rollback")

# Codes of errors that only mean "not now": the wait goes on.
RETRYABLE_ERROR_CODES = frozenset(
    list(TRANSIENT_ERROR_CODES)
    + ["RequestLimitExceeded", "Unavailable", "ServiceUnavailable", "InternalFailure", "InternalError", "TooManyRequestsException", "Throttling"]
)
THROTTLING_ERROR_CODES = frozenset(
    ["Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
     "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"]
)
NOT_STARTED = "DeploymentNotStartedException"
TARGET_GONE = ("DeploymentTargetDoesNotExistException", "InvalidDeploymentTargetIdException", "InstanceDoesNotExistException")
BATCH_SIZE = 25  # batch_get_deployment_targets takes at most 25 ids

# Polling. The interval adapts to what the deployment is doing (see Follower._schedule).
DEFAULT_POLL_INTERVAL = 5.0
NEAR_END_FACTOR = 0.5          # near the end, half of poll_interval (2.5 s by default)
LONG_WAIT_MAX_INTERVAL = 30.0  # during a known wait (termination wait, Ready), and under throttling
READY_WAIT_FACTOR = 4.0
TARGETS_REFRESH = 60.0        # read the instances at least this often while the deployment runs
TARGETS_MIN_SPACING = 15.0    # and at most this often, except at the end
STOP_GRACE = 120.0            # after stop_deployment: how long to wait for CodeDeploy to say Stopped
STOP_POLL = 1.0
LOG_TAIL_LINES = 10
MIN_POLL_INTERVAL = 0.5
# Retries inside one poll stay short: the next poll comes anyway, and a long backoff would
# overrun wait_timeout.
POLL_RETRIES = 4
POLL_RETRY_MAX_DELAY = 5


def poll_retry():
    """The retry decorator for the client that polls: a few quick jittered retries."""
    return read_retry(retries=POLL_RETRIES, delay=1, max_delay=POLL_RETRY_MAX_DELAY)


def check_wait_options(wait_timeout, poll_interval):
    """Raise ValueError naming the option when wait_timeout or poll_interval cannot work."""
    if wait_timeout is None or wait_timeout < 0:
        raise ValueError("wait_timeout must be a number of seconds, 0 or more (for example 3600); got {0!r}".format(wait_timeout))
    if poll_interval is None or poll_interval < MIN_POLL_INTERVAL:
        raise ValueError("poll_interval must be at least {0} seconds (for example {1}); got {2!r}".format(
            MIN_POLL_INTERVAL, DEFAULT_POLL_INTERVAL, poll_interval))


# --- time ------------------------------------------------------------------------------------
def human_duration(seconds):
    """45s, 2m10s, 1h02m."""
    seconds = int(max(0, round(seconds or 0)))
    if seconds < 60:
        return "{0}s".format(seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return "{0}m{1:02d}s".format(minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    return "{0}h{1:02d}m".format(hours, minutes)


# --- views of what CodeDeploy answers -------------------------------------------------------
def deployment_view(info):
    """The parts of a ``deploymentInfo`` the wait needs, with times as POSIX seconds."""
    style = info.get("deploymentStyle") or {}
    blue_green = info.get("blueGreenDeploymentConfiguration") or {}
    termination = blue_green.get("terminateBlueInstancesOnDeploymentSuccess") or {}
    ready = blue_green.get("deploymentReadyOption") or {}
    overview = info.get("deploymentOverview") or {}
    rollback = info.get("rollbackInfo") or {}
    error = info.get("errorInformation") or {}
    return {
        "deployment_id": info.get("deploymentId"),
        "status": info.get("status"),
        "application_name": info.get("applicationName"),
        "deployment_group_name": info.get("deploymentGroupName"),
        "deployment_config_name": info.get("deploymentConfigName"),
        "creator": info.get("creator"),
        "compute_platform": info.get("computePlatform") or "Server",
        "deployment_type": style.get("deploymentType") or "IN_PLACE",
        "deployment_option": style.get("deploymentOption"),
        "create_time": to_epoch(info.get("createTime")),
        "start_time": to_epoch(info.get("startTime")),
        "complete_time": to_epoch(info.get("completeTime")),
        "overview": {
            "pending": overview.get("Pending", 0),
            "in_progress": overview.get("InProgress", 0),
            "succeeded": overview.get("Succeeded", 0),
            "failed": overview.get("Failed", 0),
            "skipped": overview.get("Skipped", 0),
            "ready": overview.get("Ready", 0),
        },
        "error_information": {"code": error["code"], "message": error.get("message")} if error.get("code") else {},
        "rollback_info": {
            "rollback_deployment_id": rollback.get("rollbackDeploymentId"),
            "rollback_triggering_deployment_id": rollback.get("rollbackTriggeringDeploymentId"),
            "rollback_message": rollback.get("rollbackMessage"),
        } if rollback else {},
        "status_messages": list(info.get("deploymentStatusMessages") or []),
        "termination_wait_started": bool(info.get("instanceTerminationWaitTimeStarted")),
        "blue_instances_action": termination.get("action") or ("TERMINATE" if style.get("deploymentType") == "BLUE_GREEN" else None),
        "termination_wait_minutes": termination.get("terminationWaitTimeInMinutes") or 0,
        "ready_action": ready.get("actionOnTimeout"),
        "ready_wait_minutes": ready.get("waitTimeInMinutes") or 0,
        "ignore_application_stop_failures": bool(info.get("ignoreApplicationStopFailures")),
    }


def instance_view(target):
    """An instance target of ``batch_get_deployment_targets`` (None for Lambda/ECS targets)."""
    instance = target.get("instanceTarget")
    if not instance:
        return None
    label = instance.get("instanceLabel")
    events = []
    for event in instance.get("lifecycleEvents") or []:
        item = {
            "name": event.get("lifecycleEventName"),
            "status": event.get("status") or "Unknown",
            "start_time": to_epoch(event.get("startTime")),
            "end_time": to_epoch(event.get("endTime")),
        }
        diagnostics = event.get("diagnostics") or {}
        if diagnostics:
            item["diagnostics"] = {
                "error_code": diagnostics.get("errorCode"),
                "script_name": diagnostics.get("scriptName"),
                "message": diagnostics.get("message"),
                "log_tail": diagnostics.get("logTail"),
            }
        events.append(item)
    return {
        "instance_id": instance.get("targetId"),
        "label": label.capitalize() if label else None,
        "status": instance.get("status"),
        "last_updated_at": to_epoch(instance.get("lastUpdatedAt")),
        "lifecycle_events": events,
    }


def _effective(event, ignore_stop_failures):
    if event["status"] == "Failed" and ignore_stop_failures and event["name"] in IGNORABLE_EVENTS:
        return "Succeeded"
    return event["status"]


def _event_statuses(deployment, instances):
    """The status each lifecycle event counts as, for the steps: {id(event): status}.

    A failure CodeDeploy ignores (ignoreApplicationStopFailures) counts as done. In a deployment
    that failed or was stopped, the Skipped events after the last event that ran never ran:
    they count as Pending, not as done.
    """
    ignore = deployment["ignore_application_stop_failures"]
    ended = deployment["status"] in ("Failed", "Stopped")
    statuses = {}
    for instance in instances:
        events = instance["lifecycle_events"]
        ran = [n for n, e in enumerate(events) if e["status"] in ("InProgress", "Succeeded", "Failed")]
        last_ran = ran[-1] if ran else -1
        for n, event in enumerate(events):
            status = _effective(event, ignore)
            if ended and status == "Skipped" and n > last_ran:
                status = "Pending"
            statuses[id(event)] = status
    return statuses


def _events(instances, label, names):
    return [(i, e) for i in instances if i["label"] == label for e in i["lifecycle_events"] if e["name"] in names]


def _aggregate(statuses):
    """One status for a set of lifecycle events: None when there are none."""
    if not statuses:
        return None
    if "Failed" in statuses:
        return "Failed"
    if all(s == "Skipped" for s in statuses):
        return "Skipped"
    if all(s in DONE for s in statuses):
        return "Succeeded"
    if any(s == "InProgress" or s in DONE for s in statuses):
        return "InProgress"
    return "Pending"


def _times(pairs):
    starts = [e["start_time"] for _i, e in pairs if e["start_time"] is not None]
    ends = [e["end_time"] for _i, e in pairs if e["end_time"] is not None]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def is_blue_green(deployment):
    return deployment["deployment_type"] == "BLUE_GREEN" and deployment["compute_platform"] == "Server"


def derive_steps(deployment, instances, now, observed=None):
    """The four Blue/Green steps, as the CodeDeploy console shows them; [] for other deployments.

    ``observed`` may hold ``termination_wait_seen_at``: when the termination wait was first
    seen started, used for its start when the events do not tell.
    Each step: number, name, status (Pending, InProgress, Succeeded, Failed, Skipped),
    start_time, end_time.
    """
    if not is_blue_green(deployment):
        return []
    observed = observed or {}
    status = deployment["status"]
    install = _events(instances, "Green", INSTALL_EVENTS)
    reroute = _events(instances, "Green", ALLOW_EVENTS) + _events(instances, "Blue", BLOCK_EVENTS)
    counted = _event_statuses(deployment, instances)
    install_status = _aggregate([counted[id(e)] for _i, e in install])
    reroute_status = _aggregate([counted[id(e)] for _i, e in reroute])
    keep_alive = deployment["blue_instances_action"] == "KEEP_ALIVE"
    later_evidence = (
        status in ("Ready", "Succeeded")
        or deployment["termination_wait_started"]
        or reroute_status not in (None, "Pending")
    )

    # 1 Deploying replacement instances: provisioning, then ApplicationStop..ValidateService on green.
    if status in ("Created", "Queued"):
        step1 = "Pending"
    elif install_status == "Failed":
        step1 = "Failed"
    elif install_status in DONE or later_evidence:
        step1 = "Succeeded"
    else:
        step1 = "InProgress"

    # 2 Rerouting traffic: Before/Allow/AfterAllowTraffic on green, Before/Block/AfterBlockTraffic on blue.
    if step1 != "Succeeded":
        step2 = "Pending"
    elif reroute_status == "Failed":
        step2 = "Failed"
    elif status == "Succeeded" or deployment["termination_wait_started"] or reroute_status in DONE:
        step2 = "Succeeded"
    elif status == "Ready":
        step2 = "Pending"
    else:
        step2 = "InProgress"

    step1_start = deployment["start_time"] if deployment["start_time"] is not None else _times(install)[0]
    step1_end = _times(install)[1] if step1 in ("Succeeded", "Failed") else None
    step2_start, step2_end = _times(reroute)
    if step2 == "Pending":
        step2_start = None
    elif step2_start is None:
        step2_start = step1_end
    if step2 not in ("Succeeded", "Failed"):
        step2_end = None

    # 3 Waiting original instances termination: terminationWaitTimeInMinutes after the reroute.
    wait_seconds = 60.0 * (deployment["termination_wait_minutes"] or 0)
    step3_start = step3_end = None
    if keep_alive:
        step3 = "Skipped"
    elif step2 != "Succeeded":
        step3 = "Pending"
    elif status == "Succeeded" or deployment["termination_wait_started"]:
        step3_start = step2_end if step2_end is not None else observed.get("termination_wait_seen_at")
        if step3_start is None:
            step3_start = now
        step3_end = step3_start + wait_seconds
        if status == "Succeeded" or now >= step3_end:
            step3 = "Succeeded"
            if deployment["complete_time"] is not None:
                step3_end = min(step3_end, deployment["complete_time"])
        else:
            step3 = "InProgress"
            step3_end = None
    else:
        step3 = "Pending"

    # 4 Terminating original instances: from the end of the wait to the end of the deployment.
    step4_start = step4_end = None
    if keep_alive:
        step4 = "Skipped"
    elif step3 != "Succeeded":
        step4 = "Pending"
    else:
        step4_start = step3_end
        if status == "Succeeded":
            step4 = "Succeeded"
            step4_end = deployment["complete_time"]
        else:
            step4 = "InProgress"

    steps = [
        [step1, step1_start, step1_end],
        [step2, step2_start, step2_end],
        [step3, step3_start, step3_end],
        [step4, step4_start, step4_end],
    ]
    if status in ("Failed", "Stopped"):
        # The step that was running when the deployment ended failed; the ones after it never ran.
        ended = False
        for step in steps:
            if step[0] in DONE:
                continue
            if ended:
                step[0], step[1], step[2] = "Skipped", None, None
            else:
                step[0] = "Failed"
                if step[1] is None:
                    step[1] = deployment["start_time"] or deployment["create_time"]
                if step[2] is None:
                    step[2] = deployment["complete_time"]
                ended = True
    return [
        {"number": n + 1, "name": STEP_NAMES[n], "status": s, "start_time": start, "end_time": end}
        for n, (s, start, end) in enumerate(steps)
    ]


def current_step(steps):
    """The step that runs now (or the first one not done), or None when all are done."""
    for step in steps:
        if step["status"] in ("InProgress", "Failed"):
            return step
    for step in steps:
        if step["status"] == "Pending":
            return step
    return None


def running_events(instances, label=None):
    return [(i, e) for i in instances if label in (None, i["label"]) for e in i["lifecycle_events"] if e["status"] == "InProgress"]


def _on(pairs):
    """"ApplicationStart on i-0123", "AllowTraffic on i-1, i-2"."""
    by_event = []
    for instance, event in pairs:
        for name, ids in by_event:
            if name == event["name"]:
                ids.append(instance["instance_id"])
                break
        else:
            by_event.append((event["name"], [instance["instance_id"]]))
    return "; ".join("{0} on {1}".format(name, ", ".join(ids)) for name, ids in by_event)


def describe_activity(deployment, steps, instances, now):
    """What is happening now, in a few words, for the progress line."""
    status = deployment["status"]
    if status in ("Created", "Queued"):
        return "waiting for CodeDeploy to start it"
    if status == "Ready":
        return ("replacement instances are ready; traffic moves to them once the deployment is continued "
                "(aws deploy continue-deployment --deployment-wait-type READY_WAIT)")
    if status in TERMINAL_STATUSES:
        return ""
    failed = failed_events(instances, deployment)
    if failed:
        return "{0} failed on {1}; the deployment is ending".format(failed[0][1]["name"], failed[0][0]["instance_id"])
    step = current_step(steps)
    if step is None:  # in-place, or not EC2
        return _on(running_events(instances)) or "between lifecycle events"
    number = step["number"]
    if number == 1:
        running = running_events(instances, "Green")
        if running:
            return _on(running)
        green = [i for i in instances if i["label"] == "Green"]
        if not green:
            return "provisioning replacement instances"
        started = any(e["status"] != "Pending" for i in green for e in i["lifecycle_events"])
        return "replacement instance{0} {1} {2}".format(
            "s" if len(green) > 1 else "", ", ".join(i["instance_id"] for i in green),
            "between lifecycle events" if started else "starting, no lifecycle event yet")
    if number == 2:
        return _on(running_events(instances)) or "waiting for traffic to move"
    if number == 3:
        wait = deployment["termination_wait_minutes"]
        if step["start_time"] is not None:
            left = step["start_time"] + 60.0 * wait - now
            return "original instances kept {0} min before termination ({1} left)".format(wait, human_duration(left))
        return "original instances kept {0} min before termination".format(wait)
    blue = [i["instance_id"] for i in instances if i["label"] == "Blue"]
    return "terminating {0}".format(", ".join(blue) if blue else "the original instances")


def failed_events(instances, deployment):
    """(instance, event) of every lifecycle event that failed the deployment, in time order."""
    ignore = deployment["ignore_application_stop_failures"]
    found = [(i, e) for i in instances for e in i["lifecycle_events"] if _effective(e, ignore) == "Failed"]
    return sorted(found, key=lambda pair: pair[1]["end_time"] or pair[1]["start_time"] or 0)


def log_tail_lines(log_tail, count=LOG_TAIL_LINES):
    lines = [line for line in (log_tail or "").splitlines() if line.strip()]
    return lines[-count:]


def step_label(step):
    return "step {0}/4 {1}".format(step["number"], step["name"])


def failure_message(view, rollback_status=None):
    """Why a Failed or Stopped deployment ended, for a person: event, instance, script, log, code, rollback."""
    deployment = view["deployment"]
    parts = []
    step = None
    for candidate in view["steps"]:
        if candidate["status"] == "Failed":
            step = candidate
            break
    verb = "was stopped" if deployment["status"] == "Stopped" else "failed"
    head = "Deployment {0} {1}".format(deployment["deployment_id"], verb)
    if step:
        head += " at {0}".format(step_label(step))
    elif not is_blue_green(deployment):
        head += " (in-place deployment)"
    parts.append(head + ".")
    failed = failed_events(view["instances"], deployment)
    log_lines = []
    if failed:
        instance, event = failed[0]
        diagnostics = event.get("diagnostics") or {}
        sentence = "Lifecycle event {0} failed on {1}".format(event["name"], instance["instance_id"])
        if instance["label"]:
            sentence += " ({0})".format("replacement, Green" if instance["label"] == "Green" else "original, Blue")
        if diagnostics.get("script_name"):
            sentence += " running {0}".format(diagnostics["script_name"])
        if diagnostics.get("error_code") and diagnostics["error_code"] != "Success":
            sentence += " ({0})".format(diagnostics["error_code"])
        if diagnostics.get("message"):
            sentence += ": {0}".format(diagnostics["message"].strip().rstrip("."))
        parts.append(sentence + ".")
        if len(failed) > 1:
            others = ["{0} on {1}".format(e["name"], i["instance_id"]) for i, e in failed[1:]]
            parts.append("Also failed: {0}.".format(", ".join(others)))
        log_lines = log_tail_lines(diagnostics.get("log_tail"))
    error = deployment["error_information"]
    if error:
        parts.append("Error code {0}: {1}".format(error["code"], (error.get("message") or "").strip().rstrip(".")) + ".")
    rollback = deployment["rollback_info"]
    if rollback.get("rollback_deployment_id"):
        sentence = "Rollback deployment {0}".format(rollback["rollback_deployment_id"])
        if rollback_status:
            sentence += " is {0}".format(rollback_status)
        if rollback_status in ACTIVE_STATUSES:
            sentence += " (follow it with mdl.herd.codedeploy_wait)"
        parts.append(sentence + ".")
    elif rollback.get("rollback_message"):
        parts.append("Rollback: {0}.".format(rollback["rollback_message"].strip().rstrip(".")))
    elif deployment["status"] == "Failed":
        parts.append("No rollback deployment was started.")
    if log_lines:
        parts.append("Last lines of its log:\n" + "\n".join(log_lines))
    return " ".join(parts)


# --- reading CodeDeploy ----------------------------------------------------------------------
class DeploymentMissing(Exception):
    """The deployment id does not name a deployment in this account and region."""


class DeploymentReader(object):
    """The calls to CodeDeploy, and a count of the requests they send (retries included).

    ``client`` comes from ``_aws.client()``; every call passes ``aws_retry=True``. Requests
    are counted on botocore's ``after-call`` event: one per call the retry decorator makes,
    plus the retries botocore made inside it (``ResponseMetadata.RetryAttempts``).
    """

    def __init__(self, client, calls=None):
        self.client = client
        self.calls = dict(calls or {})
        meta = getattr(client, "meta", None)
        events = getattr(meta, "events", None)
        if events is not None:
            events.register("after-call.codedeploy", self._count)

    def _count(self, model=None, parsed=None, **kwargs):
        name = getattr(model, "name", None) or "Unknown"
        retries = ((parsed or {}).get("ResponseMetadata") or {}).get("RetryAttempts") or 0
        self.calls[name] = self.calls.get(name, 0) + 1 + int(retries)

    @property
    def total_calls(self):
        return sum(self.calls.values())

    def deployment(self, deployment_id):
        try:
            return self.client.get_deployment(deploymentId=deployment_id, aws_retry=True)["deploymentInfo"]
        except Exception as e:
            if error_code(e) == "DeploymentDoesNotExistException":
                raise DeploymentMissing(
                    "Deployment {0} does not exist in this account and region: check deployment_id, region "
                    "and the AWS credentials".format(deployment_id)
                )
            raise

    def target_ids(self, deployment_id):
        """Every target id of the deployment; [] while it has not started."""
        ids = []
        kwargs = {"deploymentId": deployment_id}
        try:
            while True:
                page = self.client.list_deployment_targets(aws_retry=True, **kwargs)
                ids.extend(page.get("targetIds") or [])
                if not page.get("nextToken"):
                    return ids
                kwargs["nextToken"] = page["nextToken"]
        except Exception as e:
            if error_code(e) == NOT_STARTED:
                return []
            raise

    def targets(self, deployment_id, ids):
        """The deployment's targets, read 25 at a time; [] while it has not started."""
        found = []
        try:
            for start in range(0, len(ids), BATCH_SIZE):
                page = self.client.batch_get_deployment_targets(
                    deploymentId=deployment_id, targetIds=list(ids[start:start + BATCH_SIZE]), aws_retry=True
                )
                found.extend(page.get("deploymentTargets") or [])
        except Exception as e:
            if error_code(e) == NOT_STARTED:
                return []
            raise
        return found

    def stop(self, deployment_id, rollback):
        response = self.client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=bool(rollback), aws_retry=True)
        return {"status": response.get("status"), "status_message": response.get("statusMessage")}


def is_retryable(exception, read_before):
    """Does this error only mean "ask again later"?

    Throttling and server-side errors always do. Connection errors do once the deployment
    has been read successfully: before that they more likely mean a wrong endpoint or region.
    """
    code = error_code(exception)
    if code is not None:
        return code in RETRYABLE_ERROR_CODES
    name = type(exception).__name__
    if not read_before:
        return False
    return name in (
        "EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError",
        "ConnectionError", "HTTPClientError", "ProxyConnectionError",
    )


def is_throttling(exception):
    return error_code(exception) in THROTTLING_ERROR_CODES


# --- following a deployment ------------------------------------------------------------------
class Outcome(object):
    """How a run of the module ends.

    ``kind``: ``done`` (the awaited state was reached), ``ended`` (Failed or Stopped),
    ``timeout``, ``slice`` (sliced run: progress to show, state to carry to the next run),
    ``checked`` (check mode: one look).
    """

    def __init__(self, kind, result, message=None, carry=None, lines=None):
        self.kind = kind
        self.result = result
        self.message = message
        self.carry = carry
        self.lines = lines or []

    @property
    def failed(self):
        return self.kind in ("ended", "timeout")


class Follower(object):
    """Follows one deployment: polls, derives the steps, keeps a timeline and the progress lines.

    ``carry`` is the state a previous slice handed over (None for a fresh wait); ``sliced``
    makes :meth:`follow` return as soon as there is a new progress line, with the state to
    carry. ``wall`` is the wall clock (POSIX seconds), shared by every slice; ``clock`` and
    ``sleep`` go to the Waiter. Tests inject all three.
    """

    CARRY_VERSION = 1

    def __init__(self, reader, deployment_id, wait_timeout, poll_interval=DEFAULT_POLL_INTERVAL, wait_for="success",
                 on_timeout="fail", carry=None, sliced=False, wall=None, clock=None, sleep=None):
        self.reader = reader
        self.deployment_id = deployment_id
        self.wait_timeout = float(wait_timeout)
        self.poll_interval = float(poll_interval)
        self.wait_for = wait_for
        self.on_timeout = on_timeout
        self.sliced = sliced
        self.wall = wall or time.time
        self.clock = clock
        self.sleep = sleep
        carry = carry if carry and carry.get("version") == self.CARRY_VERSION else {}
        self.started_at = carry.get("started_at", self.wall())
        self.next_poll_at = carry.get("next_poll_at", 0.0)
        self.target_ids = list(carry.get("target_ids", []))
        self.targets_read_at = carry.get("targets_read_at")
        self.targets_signature = carry.get("targets_signature")
        self.instances = list(carry.get("instances", []))
        self.observed = dict(carry.get("observed", {}))
        self.timeline = list(carry.get("timeline", []))
        self.last = carry.get("last")  # {"status", "steps", "activity"} of the last poll
        self.warnings = list(carry.get("warnings", []))
        self.errors_seen = dict(carry.get("errors_seen", {}))
        self.throttled = carry.get("throttled", 0)
        self.phase = carry.get("phase")
        self.read_once = bool(carry.get("read_once"))
        if carry.get("calls"):
            for name, count in carry["calls"].items():
                self.reader.calls[name] = self.reader.calls.get(name, 0) + count
        self.view = None
        self.pending_lines = []
        self.last_error = None

    # -- state handed between slices --
    def carry(self):
        return {
            "version": self.CARRY_VERSION,
            "started_at": self.started_at,
            "next_poll_at": self.next_poll_at,
            "target_ids": self.target_ids,
            "targets_read_at": self.targets_read_at,
            "targets_signature": self.targets_signature,
            "instances": self.instances,
            "observed": self.observed,
            "timeline": self.timeline,
            "last": self.last,
            "warnings": self.warnings,
            "errors_seen": self.errors_seen,
            "throttled": self.throttled,
            "phase": self.phase,
            "read_once": self.read_once,
            "calls": self.reader.calls,
        }

    @property
    def deadline(self):
        return self.started_at + self.wait_timeout

    # -- one look at the deployment --
    def _signature(self, deployment):
        """What, in GetDeployment's answer, says that the instances have moved on."""
        overview = deployment["overview"]
        return [deployment["status"], [[k, v] for k, v in sorted(overview.items())]]

    def _want_targets(self, deployment, now):
        status = deployment["status"]
        if status in ("Created", "Queued") or deployment["compute_platform"] != "Server":
            return False
        if status in TERMINAL_STATUSES:
            return True
        if self.targets_read_at is None:
            return True
        since = now - self.targets_read_at
        if since < TARGETS_MIN_SPACING:
            return False
        if self._signature(deployment) != self.targets_signature:
            return True
        # Refresh now and then for the progress lines, except during waits where nothing runs.
        return since >= TARGETS_REFRESH and self.phase not in ("termination_wait", "ready_wait")

    def _read_targets(self, deployment):
        total = sum(deployment["overview"].values())
        if not self.target_ids or total > len(self.target_ids):
            self.target_ids = self.reader.target_ids(self.deployment_id)
        try:
            targets = self.reader.targets(self.deployment_id, self.target_ids)
        except Exception as e:
            if error_code(e) not in TARGET_GONE:
                raise
            self.target_ids = self.reader.target_ids(self.deployment_id)
            targets = self.reader.targets(self.deployment_id, self.target_ids)
        instances = [view for view in (instance_view(t) for t in targets) if view is not None]
        order = {"Blue": 0, "Green": 1}
        instances.sort(key=lambda i: (order.get(i["label"], 2), i["instance_id"] or ""))
        return instances

    def look(self, fresh=False):
        """Read the deployment (and its instances when worth it, or ``fresh``); returns the view."""
        now = self.wall()
        deployment = deployment_view(self.reader.deployment(self.deployment_id))
        self.read_once = True
        if self._want_targets(deployment, now) or (fresh and deployment["status"] not in ("Created", "Queued")):
            self.instances = self._read_targets(deployment)
            self.targets_read_at = now
            self.targets_signature = self._signature(deployment)
        if deployment["termination_wait_started"] and "termination_wait_seen_at" not in self.observed:
            self.observed["termination_wait_seen_at"] = now
        steps = derive_steps(deployment, self.instances, now, self.observed)
        view = {
            "deployment": deployment,
            "instances": self.instances,
            "steps": steps,
            "activity": describe_activity(deployment, steps, self.instances, now),
            "now": now,
        }
        self._record(view)
        if self.wait_for == "traffic_rerouted" and not is_blue_green(deployment):
            note = ("wait_for=traffic_rerouted applies to Blue/Green deployments; {0} is {1}, "
                    "so the wait goes on until it succeeds").format(self.deployment_id, deployment["deployment_type"])
            if note not in self.warnings:
                self.warnings.append(note)
        self.view = view
        return view

    # -- timeline and progress lines --
    def _record(self, view):
        deployment = view["deployment"]
        now = view["now"]
        status = deployment["status"]
        steps = view["steps"]
        last = self.last or {"status": None, "steps": [], "activity": None}
        entries = []
        if self.last is None and status != "Created" and deployment["create_time"] is not None:
            entries.append({"time": deployment["create_time"], "status": "Created"})
        ending = None
        if status != last["status"]:
            when = {"Created": deployment["create_time"], "InProgress": deployment["start_time"]}.get(status)
            if status in TERMINAL_STATUSES:
                when = deployment["complete_time"]
            entry = {"time": when if when is not None else now, "status": status}
            if status in TERMINAL_STATUSES:
                ending = entry  # after the steps it ends
            else:
                entries.append(entry)
        previous = dict((s["number"], s["status"]) for s in last["steps"])
        for step in steps:
            before = previous.get(step["number"], "Pending")
            after = step["status"]
            if after == before or after == "Skipped":
                continue
            if before == "Pending" and after in ("Succeeded", "Failed"):
                entries.append(self._step_entry(step, "InProgress", step["start_time"], now))
            entries.append(self._step_entry(step, after, step["end_time"] if after in ("Succeeded", "Failed") else step["start_time"], now))
        if ending is not None:
            entries.append(ending)
        for entry in entries:
            self.timeline.append(entry)
        activity_key = [[i["instance_id"], e["name"]] for i, e in running_events(view["instances"])]
        current = {"status": status, "steps": [{"number": s["number"], "status": s["status"]} for s in steps],
                   "activity": activity_key}
        if entries or activity_key != last.get("activity"):
            self.pending_lines.append(self.progress_line(view))
        self.last = current

    @staticmethod
    def _step_entry(step, status, when, now):
        return {"time": when if when is not None else now, "step": step["number"], "name": step["name"], "status": status}

    def progress_line(self, view):
        deployment = view["deployment"]
        origin = deployment["start_time"] or deployment["create_time"] or self.started_at
        end = deployment["complete_time"] if deployment["complete_time"] is not None else view["now"]
        elapsed = human_duration(end - origin)
        status = deployment["status"]
        head = self.deployment_id
        if status in ("Failed", "Stopped"):
            failed = next((s for s in view["steps"] if s["status"] == "Failed"), None)
            text = "{0} {1}".format(head, status)
            if failed:
                text += " at {0}".format(step_label(failed))
            events = failed_events(view["instances"], deployment)
            if events:
                text += ": {0} failed on {1}".format(events[0][1]["name"], events[0][0]["instance_id"])
            elif deployment["error_information"]:
                text += ": {0}".format(deployment["error_information"]["code"])
            return "{0} ({1})".format(text, elapsed)
        if status == "Succeeded":
            return "{0} Succeeded ({1})".format(head, elapsed)
        step = current_step(view["steps"])
        activity = view["activity"]
        if step is not None and status not in ("Created", "Queued"):
            text = "{0} {1}".format(head, step_label(step))
        elif status == "InProgress" and not is_blue_green(deployment):
            text = "{0} InProgress (in-place deployment: no Blue/Green steps)".format(head)
        else:
            text = "{0} {1}".format(head, status)
        if activity:
            text += ": {0}".format(activity)
        return "{0} ({1})".format(text, elapsed)

    # -- the goal --
    def reached(self, view):
        deployment = view["deployment"]
        if deployment["status"] == "Succeeded":
            return True
        if self.wait_for == "traffic_rerouted" and is_blue_green(deployment):
            return len(view["steps"]) > 1 and view["steps"][1]["status"] == "Succeeded"
        return False

    def ended(self, view):
        return view["deployment"]["status"] in ("Failed", "Stopped")

    # -- polling --
    def _phase(self, view):
        """What the deployment is doing, as far as the pace of polling is concerned.

        ``near_end``: the next change may well be the end (the last step that can end the wait
        runs, a lifecycle event failed, or the last event of an in-place deployment runs);
        ``termination_wait`` / ``ready_wait``: a wait whose length CodeDeploy's configuration
        tells; ``running`` otherwise.
        """
        deployment = view["deployment"]
        if deployment["status"] == "Ready":
            return "ready_wait"
        if failed_events(view["instances"], deployment):
            return "near_end"
        step = current_step(view["steps"])
        if step is not None and step["status"] == "InProgress":
            if step["number"] == 4:
                return "near_end"
            if step["number"] == 3:
                return "termination_wait"
            if step["number"] == 2 and self.wait_for == "traffic_rerouted":
                return "near_end"
        if not is_blue_green(deployment) and deployment["status"] == "InProgress":
            for instance in view["instances"]:
                events = instance["lifecycle_events"]
                if events and events[-1]["status"] == "InProgress":
                    return "near_end"
        return "running"

    def interval(self, attempts=None, state=None):
        """Seconds until the next poll is due: the Waiter asks this after each check."""
        return max(0.0, self.next_poll_at - self.wall())

    def _schedule(self, view, now):
        """When to poll next: ``poll_interval`` while a step runs, faster near the end, slower in long waits."""
        base = self.poll_interval
        phase = "running" if view is None else self._phase(view)
        if self.throttled:
            delay = min(LONG_WAIT_MAX_INTERVAL, max(base, base * (2 ** min(self.throttled, 5))))
        elif phase == "near_end":
            delay = max(MIN_POLL_INTERVAL, base * NEAR_END_FACTOR)
        elif phase == "termination_wait":
            step = view["steps"][2]
            ends = (step["start_time"] or now) + 60.0 * view["deployment"]["termination_wait_minutes"]
            delay = min(LONG_WAIT_MAX_INTERVAL, max(base, (ends - now) / 4.0))
        elif phase == "ready_wait":
            delay = min(LONG_WAIT_MAX_INTERVAL, max(base, base * READY_WAIT_FACTOR))
        else:
            delay = base
        self.phase = phase
        self.next_poll_at = now + delay

    def check(self):
        """One poll, for the Waiter: (stop waiting?, view)."""
        now = self.wall()
        if now < min(self.next_poll_at, self.deadline) - 0.05:
            return False, self.view  # a slice that starts before the next poll is due
        try:
            view = self.look()
            self.throttled = 0
            self.last_error = None
        except DeploymentMissing:
            raise
        except Exception as e:  # botocore's errors; re-raised unless they only mean "later"
            if not is_retryable(e, self.read_once):
                raise
            self.last_error = e
            self.throttled = self.throttled + 1 if is_throttling(e) else 0
            self.errors_seen["count"] = self.errors_seen.get("count", 0) + 1
            self.errors_seen["last"] = "{0} at {1}".format(error_code(e) or type(e).__name__, iso(now))
            self._schedule(self.view, now)
            return False, self.view
        self._schedule(view, now)
        if self.reached(view) or self.ended(view):
            return True, view
        if self.sliced and self.pending_lines:
            return True, view
        return False, view

    def _wait(self, timeout):
        waiter = Waiter(timeout=max(0.0, timeout), interval=self.interval, clock=self.clock, sleep=self.sleep)
        return waiter.wait(self.check)

    def follow(self):
        """Wait for the goal, the end, the timeout, or (sliced) the next progress line."""
        self._wait(self.deadline - self.wall())
        view = self.view
        if view is not None and (self.reached(view) or self.ended(view)):
            return self.finish()
        if self.sliced and self.pending_lines and self.wall() < self.deadline:
            return Outcome("slice", None, carry=self.carry(), lines=self._take_lines())
        return self.time_out()

    def look_once(self):
        """Check mode: one look, no waiting, nothing stopped."""
        self.look()
        return self.finish(checked=True)

    def _take_lines(self):
        lines, self.pending_lines = self.pending_lines, []
        return lines

    # -- the end --
    def _rollback_status(self, view):
        rollback_id = view["deployment"]["rollback_info"].get("rollback_deployment_id")
        if not rollback_id:
            return None
        try:
            return self.reader.deployment(rollback_id).get("status")
        except DeploymentMissing:
            return None

    def result(self, view, rollback_status=None, timed_out=False, stop=None):
        deployment = view["deployment"] if view else {}
        if not view:
            return {"deployment_id": self.deployment_id, "status": None, "timed_out": timed_out, "steps": [], "instances": [],
                    "timeline": self._timeline(), "api_calls": self.api_calls(), "waited_seconds": self.waited()}
        start = deployment["start_time"] or deployment["create_time"]
        end = deployment["complete_time"] if deployment["complete_time"] is not None else view["now"]
        rollback_info = dict(deployment["rollback_info"])
        if rollback_info:
            rollback_info["rollback_deployment_status"] = rollback_status
        result = {
            "deployment_id": deployment["deployment_id"] or self.deployment_id,
            "status": deployment["status"],
            "application_name": deployment["application_name"],
            "deployment_group_name": deployment["deployment_group_name"],
            "deployment_config_name": deployment["deployment_config_name"],
            "deployment_type": deployment["deployment_type"],
            "creator": deployment["creator"],
            "create_time": iso(deployment["create_time"]),
            "start_time": iso(deployment["start_time"]),
            "complete_time": iso(deployment["complete_time"]),
            "duration_seconds": round(end - start, 3) if start is not None else None,
            "steps": [dict(step, start_time=iso(step["start_time"]), end_time=iso(step["end_time"])) for step in view["steps"]],
            "current_activity": view["activity"],
            "overview": deployment["overview"],
            "instances": [self._instance_result(i) for i in view["instances"]],
            "error_information": deployment["error_information"],
            "rollback_info": rollback_info,
            "status_messages": deployment["status_messages"],
            "timeline": self._timeline(),
            "api_calls": self.api_calls(),
            "waited_seconds": self.waited(),
            "timed_out": timed_out,
        }
        if stop is not None:
            result["stop"] = stop
        return result

    @staticmethod
    def _instance_result(instance):
        events = []
        for event in instance["lifecycle_events"]:
            item = dict(event, start_time=iso(event["start_time"]), end_time=iso(event["end_time"]))
            events.append(item)
        return dict(instance, last_updated_at=iso(instance["last_updated_at"]), lifecycle_events=events)

    def _timeline(self):
        ordered = sorted(enumerate(self.timeline), key=lambda pair: (pair[1]["time"], pair[0]))
        out = []
        for _n, entry in ordered:
            item = dict(entry, time=iso(entry["time"]))
            if "step" in entry:
                item["message"] = "step {0}/4 {1}: {2}".format(entry["step"], entry["name"], entry["status"])
            else:
                item["message"] = "deployment {0}".format(entry["status"])
            out.append(item)
        return out

    def api_calls(self):
        calls = dict(("".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_"), count)
                     for name, count in self.reader.calls.items() if name)
        calls["total"] = self.reader.total_calls
        return calls

    def all_warnings(self):
        """Notes for the person: what the wait survived or could not honour."""
        notes = list(self.warnings)
        if self.errors_seen.get("count"):
            notes.append("{0} poll(s) of deployment {1} failed with a throttling or transient error even after retries "
                         "(last: {2}); the wait went on".format(self.errors_seen["count"], self.deployment_id, self.errors_seen["last"]))
        return notes

    def waited(self):
        return round(self.wall() - self.started_at, 3)

    def finish(self, checked=False):
        """The awaited state, or the end of the deployment: the final result."""
        view = self.view
        rollback_status = self._rollback_status(view)
        result = self.result(view, rollback_status)
        lines = self._take_lines()
        if self.reached(view):
            return Outcome("checked" if checked else "done", result, lines=lines)
        if self.ended(view):
            return Outcome("ended", result, message=failure_message(view, rollback_status), lines=lines)
        return Outcome("checked", result, lines=lines)

    def time_out(self):
        """wait_timeout is over: stop or roll back if asked, then report the last known state."""
        view = self.view
        if view is None:
            reason = " (last error: {0})".format(self.last_error) if self.last_error else ""
            message = "Could not read deployment {0} within {1:g} s (wait_timeout){2}.".format(
                self.deployment_id, self.wait_timeout, reason)
            return Outcome("timeout", self.result(None, timed_out=True), message=message, lines=self._take_lines())
        stale = self.targets_read_at is None or self.targets_read_at < view["now"]
        if stale and view["deployment"]["status"] not in ("Created", "Queued"):
            try:  # report the instances as they are now, not as the last read saw them
                view = self.look(fresh=True)
            except Exception as e:
                if not is_retryable(e, True):
                    raise
        if self.reached(view) or self.ended(view):
            return self.finish()
        where = self._where(view)
        message = "Deployment {0} did not {1} within {2:g} s (wait_timeout): it is {3}.".format(
            self.deployment_id, "reroute traffic" if self.wait_for == "traffic_rerouted" else "succeed",
            self.wait_timeout, where)
        stop = None
        if self.on_timeout in ("stop", "rollback"):
            stop = self._stop(self.on_timeout == "rollback")
            view = self.view
            if stop.get("already_completed"):
                return self.finish()
            message += " " + self._stop_sentence(stop, view)
        else:
            message += (" It goes on without this task: wait again with the same deployment_id and a longer "
                        "wait_timeout, or set on_timeout to stop or rollback.")
        rollback_status = self._rollback_status(view)
        if rollback_status and self.on_timeout == "rollback":
            message += " Rollback deployment {0} is {1}.".format(view["deployment"]["rollback_info"]["rollback_deployment_id"], rollback_status)
        result = self.result(view, rollback_status, timed_out=True, stop=stop)
        return Outcome("timeout", result, message=message, lines=self._take_lines())

    def _where(self, view):
        deployment = view["deployment"]
        text = deployment["status"]
        step = current_step(view["steps"])
        if step is not None and deployment["status"] not in ("Created", "Queued"):
            text += " at {0}".format(step_label(step))
        if view["activity"]:
            text += " ({0})".format(view["activity"])
        return text

    def _stop(self, rollback):
        """stop_deployment, then read until CodeDeploy reports it Stopped (and the rollback id)."""
        try:
            stop = self.reader.stop(self.deployment_id, rollback)
        except Exception as e:
            if error_code(e) == "DeploymentAlreadyCompletedException":
                self.next_poll_at = 0.0
                self.check()
                return {"action": "rollback" if rollback else "stop", "already_completed": True}
            raise
        stop["action"] = "rollback" if rollback else "stop"

        def stopped():
            self.next_poll_at = 0.0
            try:
                view = self.look()
            except Exception as e:
                if not is_retryable(e, True):
                    raise
                return False, self.view
            deployment = view["deployment"]
            settled = deployment["status"] in TERMINAL_STATUSES
            if rollback and deployment["status"] != "Succeeded":
                settled = settled and bool(deployment["rollback_info"].get("rollback_deployment_id"))
            return settled, view

        waiter = Waiter(timeout=STOP_GRACE, interval=STOP_POLL, clock=self.clock, sleep=self.sleep)
        waiter.wait(stopped)
        return stop

    def _stop_sentence(self, stop, view):
        status = view["deployment"]["status"]
        asked = "Stopped it with rollback, as on_timeout=rollback asks" if stop["action"] == "rollback" else \
            "Stopped it, as on_timeout=stop asks"
        text = "{0} (CodeDeploy: {1}{2}); it is now {3}.".format(
            asked, stop.get("status"), ", " + stop["status_message"] if stop.get("status_message") else "", status)
        if stop["action"] == "rollback" and not view["deployment"]["rollback_info"].get("rollback_deployment_id"):
            if status == "Succeeded":
                text += " It succeeded before the stop took effect: nothing was rolled back."
            else:
                text += " CodeDeploy has not named a rollback deployment yet."
        return text
