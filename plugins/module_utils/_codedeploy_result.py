# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``codedeploy_wait`` returns about a deployment, shaped from the last view of it.

Times are POSIX seconds (floats) in the view, ISO 8601 strings in the result. The steps of the view
are the one source of the times of the result's ``steps`` and its ``timeline``.
"""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_view import STEP_NAMES, TERMINAL
from ansible_collections.mdl.herd.plugins.module_utils._time import iso


def api_calls(reader):
    """The CodeDeploy requests the reader sent, by operation in snake_case, and their total."""
    calls = dict(("".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_"), count)
                 for name, count in reader.calls.items() if name)
    calls["total"] = reader.total_calls
    return calls


def instance_result(instance):
    events = [dict(event, start_time=iso(event["start_time"]), end_time=iso(event["end_time"])) for event in instance["lifecycle_events"]]
    return dict(instance, last_updated_at=iso(instance["last_updated_at"]), lifecycle_events=events)


def _timeline_entries(view, statuses_seen):
    deployment = view["deployment"]
    entries = []
    if deployment["create_time"] is not None:
        entries.append({"time": deployment["create_time"], "status": "Created"})
    entries.extend(dict(entry) for entry in statuses_seen)
    if deployment["start_time"] is not None:
        entries.append({"time": deployment["start_time"], "status": "InProgress"})
    for step in view["steps"]:
        if step["status"] in ("Pending", "Skipped") or step["start_time"] is None:
            continue
        entries.append({"time": step["start_time"], "step": step["number"], "name": step["name"], "status": "InProgress"})
        if step["status"] in ("Succeeded", "Failed") and step["end_time"] is not None:
            entries.append({"time": step["end_time"], "step": step["number"], "name": step["name"], "status": step["status"]})
    if deployment["status"] in TERMINAL:
        entries.append({"time": deployment["complete_time"] if deployment["complete_time"] is not None else view["now"],
                        "status": deployment["status"]})
    return entries


def timeline(view, statuses_seen):
    """Status and step changes in time order, from the view's own times (those of ``steps``); ``statuses_seen``:
    the statuses no step tells (Queued, Ready, Baking) with the time they were seen."""
    ordered = sorted(enumerate(_timeline_entries(view, statuses_seen)), key=lambda pair: (pair[1]["time"], pair[0]))
    out = []
    for _n, entry in ordered:
        item = dict(entry, time=iso(entry["time"]))
        if "step" in entry:
            item["message"] = "step {0}/4 {1}: {2}".format(entry["step"], STEP_NAMES[entry["step"] - 1], entry["status"])
        else:
            item["message"] = "deployment {0}".format(entry["status"])
        out.append(item)
    return out


def deployment_result(deployment_id, view, rollback_status, statuses_seen):
    """The result's keys about the deployment itself (without ``api_calls``, ``waited_seconds``, ``timed_out``)."""
    if not view:
        return {"deployment_id": deployment_id, "status": None, "steps": [], "instances": [], "timeline": []}
    deployment = view["deployment"]
    start = deployment["start_time"] or deployment["create_time"]
    end = deployment["complete_time"] if deployment["complete_time"] is not None else view["now"]
    rollback_info = dict(deployment["rollback_info"])
    if rollback_info:
        rollback_info["rollback_deployment_status"] = rollback_status
    return {
        "deployment_id": deployment["deployment_id"] or deployment_id,
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
        "instances": [instance_result(i) for i in view["instances"]],
        "error_information": deployment["error_information"],
        "rollback_info": rollback_info,
        "status_messages": deployment["status_messages"],
        "timeline": timeline(view, statuses_seen),
    }
