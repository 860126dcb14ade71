# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What to print while a CodeDeploy deployment is followed.

:class:`Narrator` says one progress line per status change, step start, lifecycle event start and
lifecycle event end (with its status), and, when nothing was said for ``HEARTBEAT_DUE`` seconds, a
line saying where the deployment is and for how long (``still in ApplicationStart on i-..., 2m10s``).
Each line goes to ``on_line`` as it is said (the module appends them to the progress file the action
plugin relays while the module runs). The steps of the view are the one source of the lines' times.
"""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_pace import DUE_SLACK, HEARTBEAT_DUE
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_text import (
    describe_activity,
    ending_text,
    event_state,
    line,
    on_instances,
    step_activity,
    step_label,
    still_text,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_view import (
    TERMINAL,
    effective_status,
    is_blue_green,
    step_of_event,
)

EVENT_STARTED = ("InProgress", "Succeeded", "Failed")


def origin_of(deployment, started_at):
    """When the deployment began, for the elapsed times of its lines: its start, its creation, or ``started_at``."""
    return deployment["start_time"] or deployment["create_time"] or started_at


def _event_group(groups, instance, event, keys, when, state, number, ended):
    """Add one event start or end to ``groups``: joined to the group of the same name, state and step."""
    for group in groups:
        if group["name"] == event["name"] and group["state"] == state and group["number"] == number:
            group["pairs"].append((instance, event))
            group["keys"].extend(keys)
            group["time"] = max(group["time"], when) if ended else min(group["time"], when)
            group["start"] = min(group["start"], event["start_time"])
            return
    groups.append({"name": event["name"], "state": state, "number": number, "time": when, "ended": ended,
                   "start": event["start_time"], "pairs": [(instance, event)], "keys": keys})


def new_events(view, announced):
    """Lifecycle event starts and ends not said yet (``announced``: [instance id, event name, start|end]), grouped by
    name and status: [{"name", "state", "number", "time", "start", "pairs", "keys"}]. An event first seen ended gets
    one line, at its end: it says its status."""
    deployment = view["deployment"]
    ignore = deployment["ignore_application_stop_failures"]
    blue_green = is_blue_green(deployment)
    groups = []
    said = set(tuple(k) for k in announced)
    for instance in view["instances"]:
        for event in instance["lifecycle_events"]:
            if event["status"] not in EVENT_STARTED or event["start_time"] is None:
                continue
            iid = instance["instance_id"]
            ended = event["status"] != "InProgress"
            if (iid, event["name"], "end" if ended else "start") in said:
                continue
            keys = [(iid, event["name"], "start")] + ([(iid, event["name"], "end")] if ended else [])
            when = event["end_time"] if ended and event["end_time"] is not None else event["start_time"]
            state = ", " + event_state(event, effective_status(event, ignore))
            number = step_of_event(instance["label"], event["name"]) if blue_green else None
            _event_group(groups, instance, event, keys, when, state, number, ended)
    return groups


def step_words(deployment, step, instances, start):
    """What a step that starts without an event of its own says."""
    if step["number"] == 1:
        return "provisioning replacement instances"
    if step["number"] == 2:
        return "rerouting traffic"
    return step_activity(deployment, step, instances, start)


class Narrator(object):
    """Says the progress lines of one deployment, each once, and remembers what it said.

    ``started_at``: when the wait began (the origin of the lines' times until the deployment has one);
    ``wall``: the wall clock (POSIX seconds)."""

    def __init__(self, deployment_id, started_at, wall, on_line=None):
        self.deployment_id = deployment_id
        self.started_at = started_at
        self.wall = wall
        self.on_line = on_line
        self.last = None  # {"status", "steps": {number: status}} of the last view
        self.announced = []  # [instance id, event name, start|end] already said
        self.statuses_seen = []  # statuses no step tells: Queued, Ready, Baking
        self.said = []  # every line said, in order
        self.last_line_at = None

    def _status_items(self, view, last):
        """The line of a new status (not a terminal one), as (time, order, text) items."""
        deployment = view["deployment"]
        status = deployment["status"]
        steps = view["steps"]
        now = view["now"]
        if status == last["status"] or status in TERMINAL:
            return []
        when = deployment["create_time"] if status == "Created" else None
        if status not in ("Created", "InProgress"):
            self.statuses_seen.append({"time": now, "status": status})
        if status == "InProgress" and steps:
            return []
        text = status if status != "InProgress" else "InProgress (in-place deployment: no Blue/Green steps)"
        activity = describe_activity(deployment, steps, view["instances"], now)
        return [(when if when is not None else (deployment["start_time"] or now), 0,
                 text + (": " + activity if activity and status != "InProgress" else ""))]

    @staticmethod
    def _step_items(view, last, groups):
        """The lines of the steps that started (each with the first event that opens it, taken from ``groups``)."""
        items = []
        for step in view["steps"]:
            before = last["steps"].get(str(step["number"]), "Pending")
            if before != "Pending" or step["status"] not in ("InProgress", "Succeeded"):
                continue
            start = step["start_time"] if step["start_time"] is not None else view["now"]
            first = next((g for g in groups if g["number"] == step["number"] and not g["ended"] and g["start"] == start), None)
            if first is not None:
                groups.remove(first)
                words = on_instances(first["pairs"]) + first["state"]
            else:
                words = step_words(view["deployment"], step, view["instances"], start)
            items.append((start, 2, "{0}: {1}".format(step_label(step), words)))
        return items

    @staticmethod
    def _event_items(view, groups):
        items = []
        status = view["deployment"]["status"]
        for group in groups:
            words = on_instances(group["pairs"]) + group["state"]
            if group["number"] is not None:
                words = "{0}: {1}".format(step_label(view["steps"][group["number"] - 1]), words)
            elif status == "InProgress" or status in TERMINAL:
                words = "InProgress (in-place deployment): {0}".format(words)
            items.append((group["time"], 1 if group["ended"] else 3, words))
        return items

    def announce(self, view):
        """Say what changed since the last view, in time order; or, when nothing did for a while, where it is."""
        deployment = view["deployment"]
        status = deployment["status"]
        now = view["now"]
        last = self.last or {"status": None, "steps": {}}
        items = self._status_items(view, last)  # (time, order, text)
        groups = new_events(view, self.announced)
        for group in groups:
            self.announced.extend(list(key) for key in group["keys"])
        items.extend(self._step_items(view, last, groups))
        items.extend(self._event_items(view, groups))
        if status in TERMINAL and status != last["status"]:
            items.append((deployment["complete_time"] if deployment["complete_time"] is not None else now, 9, ending_text(view)))
        origin = origin_of(deployment, self.started_at)
        for when, _order, text in sorted(items, key=lambda item: (item[0], item[1])):
            self.say(line(self.deployment_id, text, max(0.0, when - origin)))
        if not items and status not in TERMINAL and self.last_line_at is not None \
                and self.wall() >= self.last_line_at + HEARTBEAT_DUE - DUE_SLACK:
            self.say(line(self.deployment_id, self.still(view), max(0.0, now - origin)))
        self.last = {"status": status, "steps": dict((str(s["number"]), s["status"]) for s in view["steps"])}

    def still(self, view):
        """Where the deployment is and for how long, for the line said while nothing changes."""
        deployment = view["deployment"]
        since = next((entry["time"] for entry in reversed(self.statuses_seen) if entry["status"] == deployment["status"]), None)
        if deployment["status"] == "Created":
            since = deployment["create_time"]
        return still_text(deployment, view["steps"], view["instances"], view["now"], since)

    def say(self, text):
        self.said.append(text)
        self.last_line_at = self.wall()
        if self.on_line is not None:
            self.on_line(text)
