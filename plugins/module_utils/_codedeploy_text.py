# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sentences a person reads about a CodeDeploy deployment: progress lines and failures.

Pure functions of the views of ``_codedeploy_view``. A progress line starts with the deployment
id and ends with the time since the deployment started, in brackets, at the moment the line is
about, as CodeDeploy recorded it: a step's start, a lifecycle event's start (``InProgress``) or its
end (``Succeeded``, ``Failed``); for a ``still in`` line, the moment it is said. So the lines, the
``steps`` and the ``timeline`` of the result tell the same times.
"""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_view import (
    ENDED_UNSUCCESSFULLY,
    NOT_STARTED,
    TERMINAL,
    current_step,
    failed_events,
    is_blue_green,
    running_events,
)
from ansible_collections.mdl.herd.plugins.module_utils._stack import ACTIVE_STATUSES

LOG_TAIL_LINES = 10
# Deployment error codes whose message only restates that an instance failed: said by code alone when the
# failed lifecycle event is named.
GENERIC_ERROR_CODES = ("HEALTH_CONSTRAINTS", "HEALTH_CONSTRAINTS_INVALID")


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


def step_label(step):
    return "step {0}/4 {1}".format(step["number"], step["name"])


def on_instances(pairs):
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


def _ids(instances, label):
    ids = [i["instance_id"] for i in instances if i["label"] == label]
    return ", ".join(ids) if ids else "the original instances"


def termination_wait_text(deployment, step, instances, now):
    minutes = deployment["termination_wait_minutes"]
    if minutes is None:
        return "CodeDeploy waits before terminating {0}".format(_ids(instances, "Blue"))
    if step["start_time"] is not None and step["status"] == "InProgress":
        left = step["start_time"] + 60.0 * minutes - now
        return "original instances kept {0} min before termination ({1} left)".format(minutes, human_duration(left))
    return "original instances kept {0} min before termination".format(minutes)


def describe_activity(deployment, steps, instances, now):
    """What is happening now, in a few words."""
    status = deployment["status"]
    if status in NOT_STARTED:
        return "waiting for CodeDeploy to start it"
    if status == "Ready":
        return ("replacement instances are ready; traffic moves to them once the deployment is continued "
                "(aws deploy continue-deployment --deployment-wait-type READY_WAIT)")
    if status in TERMINAL:
        return ""
    failed = failed_events(instances, deployment)
    if failed:
        return "{0} failed on {1}; the deployment is ending".format(failed[0][1]["name"], failed[0][0]["instance_id"])
    step = current_step(steps)
    if step is None:  # in-place, or not EC2
        return on_instances(running_events(instances)) or "between lifecycle events"
    return step_activity(deployment, step, instances, now)


def step_activity(deployment, step, instances, now):
    """What a step is doing: its running events, or what it waits for."""
    number = step["number"]
    if number == 1:
        running = running_events(instances, "Green")
        if running:
            return on_instances(running)
        green = [i for i in instances if i["label"] == "Green"]
        if not green:
            return "provisioning replacement instances"
        started = any(e["status"] != "Pending" for i in green for e in i["lifecycle_events"])
        return "replacement instance{0} {1} {2}".format(
            "s" if len(green) > 1 else "", ", ".join(i["instance_id"] for i in green),
            "between lifecycle events" if started else "starting, no lifecycle event yet")
    if number == 2:
        return on_instances(running_events(instances)) or "waiting for traffic to move"
    if number == 3:
        return termination_wait_text(deployment, step, instances, now)
    return "terminating {0}".format(_ids(instances, "Blue"))


def event_state(event, counted):
    """The status a lifecycle event's line says: InProgress, Succeeded, Failed, ... (``counted``: the
    status it counts as, see ``_codedeploy_view.effective_status``)."""
    if counted != event["status"]:
        return "{0} (ignored: ignoreApplicationStopFailures)".format(event["status"])
    return event["status"]


def still_text(deployment, steps, instances, now, since=None):
    """Where the deployment is and for how long, said while nothing changes:
    ``step 1/4 Deploying replacement instances: still in ApplicationStart on i-0123, 2m10s``.

    ``since``: when the deployment reached its status (Created, Ready, ...), if known.
    """
    status = deployment["status"]
    activity = describe_activity(deployment, steps, instances, now)
    if status in NOT_STARTED or status == "Ready":
        head = "still {0}".format(status)
        if since is not None:
            head += ", " + human_duration(now - since)
        return head + (": " + activity if activity else "")
    step = current_step(steps)
    running = running_events(instances, "Green" if step is not None and step["number"] == 1 else None)
    prefix = step_label(step) + ": " if step is not None else "InProgress (in-place deployment): "
    if running:
        started = min(e["start_time"] for _i, e in running if e["start_time"] is not None)
        return "{0}still in {1}, {2}".format(prefix, on_instances(running), human_duration(now - started))
    if step is not None:
        began = step["start_time"] if step["start_time"] is not None else now
        return "still in {0}, {1}: {2}".format(step_label(step), human_duration(now - began), activity)
    return "still InProgress (in-place deployment): {0}".format(activity)


def line(deployment_id, text, elapsed_seconds):
    return "{0} {1} ({2})".format(deployment_id, text, human_duration(elapsed_seconds))


def ending_text(view):
    """The words of the last line: Succeeded, or where and why it failed or was stopped."""
    deployment = view["deployment"]
    status = deployment["status"]
    if status not in ENDED_UNSUCCESSFULLY:
        return status
    text = status
    failed = next((s for s in view["steps"] if s["status"] == "Failed"), None)
    if failed:
        text += " at {0}".format(step_label(failed))
    events = failed_events(view["instances"], deployment)
    if events:
        text += ": {0} failed on {1}".format(events[0][1]["name"], events[0][0]["instance_id"])
    elif deployment["error_information"]:
        text += ": {0}".format(deployment["error_information"]["code"])
    return text


def log_tail_lines(log_tail, count=LOG_TAIL_LINES):
    lines = [text for text in (log_tail or "").splitlines() if text.strip()]
    return lines[-count:]


def deployment_failure_message(view, rollback_status=None):
    """Why a Failed or Stopped deployment ended, for a person: one sentence a line (the headline, the failed event,
    instance and script, the error code, the rollback), then the last lines of the event's log."""
    deployment = view["deployment"]
    parts = []
    step = next((s for s in view["steps"] if s["status"] == "Failed"), None)
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
    if error and failed and error["code"] in GENERIC_ERROR_CODES:
        # CodeDeploy's generic paragraph ("too many individual instances failed ...") says less than the event above
        parts.append("Error code {0}.".format(error["code"]))
    elif error:
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
    return "\n".join(parts)
