# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What CodeDeploy answers, as plain data: the deployment, its instances and the 4 Blue/Green steps.

Pure functions, no API calls: ``deployment_view`` and ``instance_view`` turn ``get_deployment``
and ``batch_get_deployment_targets`` answers into dicts with times as POSIX seconds, and
``derive_steps`` tells the four steps the CodeDeploy console shows, each from what the
deployment and its instances report:

1. Deploying replacement instances: provisioning, then ApplicationStop .. ValidateService on
   the replacement (Green) instances;
2. Rerouting traffic to replacement instances: the traffic events of both fleets;
3. Waiting original instances termination: from the end of the reroute until CodeDeploy
   starts terminating the original (Blue) instances;
4. Terminating original instances: from then until the deployment ends.

CodeDeploy reports no event for the start of the termination. It is known from the wait's
configured length (``terminationWaitTimeInMinutes``) when the deployment group sets one, or
else from the original instances' targets: CodeDeploy updates them (``lastUpdatedAt`` later
than their last lifecycle event, or a status other than InProgress) when it starts terminating
them. The upgrade Lambda of MDL sets no wait length, so the second way is the usual one.
"""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._stack import ENDED_UNSUCCESSFULLY, TERMINAL_STATUSES
from ansible_collections.mdl.herd.plugins.module_utils._stack import NOT_STARTED_STATUSES as NOT_STARTED
from ansible_collections.mdl.herd.plugins.module_utils._time import to_epoch

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
TERMINAL = TERMINAL_STATUSES
# A target updated this long after its last lifecycle event ended has moved on (termination).
TARGET_UPDATE_SLACK = 1.0


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
        # None: the deployment group sets no length (the upgrade Lambda's groups do not).
        "termination_wait_minutes": termination.get("terminationWaitTimeInMinutes"),
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


def is_blue_green(deployment):
    return deployment["deployment_type"] == "BLUE_GREEN" and deployment["compute_platform"] == "Server"


def effective_status(event, ignore_stop_failures):
    """The status an event counts as: a failure CodeDeploy ignores counts as success."""
    if event["status"] == "Failed" and ignore_stop_failures and event["name"] in IGNORABLE_EVENTS:
        return "Succeeded"
    return event["status"]


def _event_statuses(deployment, instances):
    """The status each lifecycle event counts as, for the steps: {id(event): status}.

    In a deployment that failed or was stopped, the Skipped events after the last event that
    ran never ran: they count as Pending, not as done.
    """
    ignore = deployment["ignore_application_stop_failures"]
    ended = deployment["status"] in ENDED_UNSUCCESSFULLY
    statuses = {}
    for instance in instances:
        events = instance["lifecycle_events"]
        ran = [n for n, e in enumerate(events) if e["status"] in ("InProgress", "Succeeded", "Failed")]
        last_ran = ran[-1] if ran else -1
        for n, event in enumerate(events):
            status = effective_status(event, ignore)
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


def termination_started_at(deployment, instances):
    """When CodeDeploy started terminating the original instances, from their targets; None if not seen.

    A Blue target updated after its last lifecycle event ended, or no longer InProgress, while its
    traffic events are done, is being terminated (or was).
    """
    if deployment["status"] not in ("InProgress",) + TERMINAL:
        return None
    seen = []
    for instance in instances:
        if instance["label"] != "Blue":
            continue
        events = instance["lifecycle_events"]
        if not events or any(e["status"] not in DONE + ("Failed",) for e in events):
            continue
        ends = [e["end_time"] for e in events if e["end_time"] is not None]
        updated = instance["last_updated_at"]
        if updated is None or not ends:
            continue
        last_end = max(ends)
        if updated > last_end + TARGET_UPDATE_SLACK or instance["status"] not in ("InProgress", "Pending"):
            if deployment["status"] == "Succeeded" and deployment["complete_time"] is not None and updated >= deployment["complete_time"]:
                continue  # updated by the end of the deployment itself: it tells nothing about the start
            seen.append(updated)
    return min(seen) if seen else None


class _Context(object):
    """What every step needs to know, computed once."""

    def __init__(self, deployment, instances, now, observed):
        self.deployment = deployment
        self.status = deployment["status"]
        self.now = now
        self.observed = observed or {}
        counted = _event_statuses(deployment, instances)
        self.install = _events(instances, "Green", INSTALL_EVENTS)
        self.reroute = _events(instances, "Green", ALLOW_EVENTS) + _events(instances, "Blue", BLOCK_EVENTS)
        self.install_status = _aggregate([counted[id(e)] for _i, e in self.install])
        self.reroute_status = _aggregate([counted[id(e)] for _i, e in self.reroute])
        self.keep_alive = deployment["blue_instances_action"] == "KEEP_ALIVE"
        self.instances = instances


def _step1(c):
    """Deploying replacement instances: [status, start, end]."""
    later_evidence = (c.status in ("Ready", "Succeeded") or c.deployment["termination_wait_started"]
                      or c.reroute_status not in (None, "Pending"))
    if c.status in NOT_STARTED:
        status = "Pending"
    elif c.install_status == "Failed":
        status = "Failed"
    elif c.install_status in DONE or later_evidence:
        status = "Succeeded"
    else:
        status = "InProgress"
    start = c.deployment["start_time"] if c.deployment["start_time"] is not None else _times(c.install)[0]
    end = _times(c.install)[1] if status in ("Succeeded", "Failed") else None
    return [status, start, end]


def _step2(c, step1):
    """Rerouting traffic to replacement instances."""
    if step1[0] != "Succeeded":
        status = "Pending"
    elif c.reroute_status == "Failed":
        status = "Failed"
    elif c.status == "Succeeded" or c.deployment["termination_wait_started"] or c.reroute_status in DONE:
        status = "Succeeded"
    elif c.status == "Ready":
        status = "Pending"
    else:
        status = "InProgress"
    start, end = _times(c.reroute)
    if status == "Pending":
        start = None
    elif start is None:
        start = step1[2]
    if status not in ("Succeeded", "Failed"):
        end = None
    return [status, start, end]


def _step3(c, step2):
    """Waiting original instances termination: from the reroute's end to the termination's start."""
    if c.keep_alive:
        return ["Skipped", None, None]
    if step2[0] != "Succeeded":
        return ["Pending", None, None]
    start = step2[2] if step2[2] is not None else c.observed.get("termination_wait_seen_at")
    if start is None:
        start = c.now
    minutes = c.deployment["termination_wait_minutes"]
    if minutes is not None:
        end = start + 60.0 * minutes
        if c.status != "Succeeded" and c.now < end:
            return ["InProgress", start, None]
    else:
        end = c.observed.get("termination_started_at") or termination_started_at(c.deployment, c.instances)
        if end is None:
            if c.status != "Succeeded":
                return ["InProgress", start, None]
            end = c.deployment["complete_time"]  # the termination was never seen to start
    if c.deployment["complete_time"] is not None and end is not None:
        end = min(end, c.deployment["complete_time"])
    return ["Succeeded", start, max(start, end) if end is not None else start]


def _step4(c, step3):
    """Terminating original instances: from the end of the wait to the end of the deployment."""
    if c.keep_alive:
        return ["Skipped", None, None]
    if step3[0] != "Succeeded":
        return ["Pending", None, None]
    if c.status == "Succeeded":
        return ["Succeeded", step3[2], c.deployment["complete_time"]]
    return ["InProgress", step3[2], None]


def _end_at_failure(deployment, steps):
    """In a Failed or Stopped deployment, the step that ran fails and the ones after it never ran."""
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


def derive_steps(deployment, instances, now, observed=None):
    """The four Blue/Green steps, as the CodeDeploy console shows them; [] for other deployments.

    ``observed`` may hold ``termination_wait_seen_at`` (when the termination wait was first seen
    started, for its start when the events do not tell) and ``termination_started_at`` (when
    the termination of the original instances was first seen, see ``termination_started_at``).
    Each step: number, name, status (Pending, InProgress, Succeeded, Failed, Skipped),
    start_time, end_time.
    """
    if not is_blue_green(deployment):
        return []
    c = _Context(deployment, instances, now, observed)
    step1 = _step1(c)
    step2 = _step2(c, step1)
    step3 = _step3(c, step2)
    step4 = _step4(c, step3)
    steps = [step1, step2, step3, step4]
    if deployment["status"] in ENDED_UNSUCCESSFULLY:
        _end_at_failure(deployment, steps)
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


def step_of_event(label, name):
    """The Blue/Green step (1 or 2) a lifecycle event belongs to."""
    return 1 if label == "Green" and name in INSTALL_EVENTS else 2


def running_events(instances, label=None):
    return [(i, e) for i in instances if label in (None, i["label"]) for e in i["lifecycle_events"] if e["status"] == "InProgress"]


def failed_events(instances, deployment):
    """(instance, event) of every lifecycle event that failed the deployment, in time order."""
    ignore = deployment["ignore_application_stop_failures"]
    found = [(i, e) for i in instances for e in i["lifecycle_events"] if effective_status(e, ignore) == "Failed"]
    return sorted(found, key=lambda pair: pair[1]["end_time"] or pair[1]["start_time"] or 0)
