# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Following one CodeDeploy deployment to its end.

:class:`Follower` polls through ``_waiter.Waiter`` (the only place that sleeps), decides what is
worth reading at each poll, says one progress line per status change, step start, lifecycle
event start and lifecycle event end (with its status), and a line saying where the deployment is
when nothing was said for a while, and shapes the result. Its lines go to ``on_line`` as they are
said (the module appends them to the progress file the action plugin relays while the module runs).

What is read, and when (see ``_phase`` and ``_schedule``): what changes is read at each
``poll_interval``, what rarely changes seldom. While lifecycle events run, the instances
(``BatchGetDeploymentTargets``, one request for up to 25) are read every ``poll_interval``, a
little early by the time a poll takes, so that each event's start and end is said within one
``poll_interval`` of the time CodeDeploy records; the deployment itself (``GetDeployment``) every
``DEPLOYMENT_REFRESH`` seconds, and at once when the instances show a change of their own status
(a failure, Ready, done). The target list (``ListDeploymentTargets``) is read when the deployment
counts more instances than are known. Before the deployment starts and while the replacement
instance is provisioned, the deployment is read every ``poll_interval``; in a termination wait of
unknown length, the original instances every ``poll_interval`` (step 4 shows in them first) and
the deployment every ``DEPLOYMENT_REFRESH``; during a known wait (termination wait of configured
length, Ready) slowly. Near the end (step 4, a failed event, step 2 with
``wait_for=traffic_rerouted``) the deployment is read every ``poll_interval``, or faster on a
deployment that got there fast (``RAN_SHARE`` of the time it has run, at least
``MIN_POLL_INTERVAL``): a small application's deployment ends in seconds.

When no line was said for ``HEARTBEAT_DUE`` seconds, the next poll says where the deployment is
and for how long (``still in ApplicationStart on i-..., 2m10s``), so a line comes at least every
``HEARTBEAT`` seconds.

Times are POSIX seconds (floats) inside, ISO 8601 strings in results. The steps of the last
view are the one source of the times of the result's ``steps``, its ``timeline`` and the lines.
"""

from __future__ import annotations

import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import error_code
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import (
    TARGET_GONE,
    DeploymentMissing,
    is_retryable,
    is_throttling,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_text import (
    deployment_failure_message,
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
    ENDED_UNSUCCESSFULLY,
    NOT_STARTED,
    STEP_NAMES,
    TERMINAL,
    current_step,
    deployment_view,
    derive_steps,
    effective_status,
    failed_events,
    instance_view,
    is_blue_green,
    running_events,
    step_of_event,
    termination_started_at,
)
from ansible_collections.mdl.herd.plugins.module_utils._time import iso
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter

WAIT_FOR_CHOICES = ("success", "traffic_rerouted")
ON_TIMEOUT_CHOICES = ("fail", "stop", "rollback")

DEFAULT_POLL_INTERVAL = 5.0
MIN_POLL_INTERVAL = 0.5
LONG_WAIT_MAX_INTERVAL = 30.0  # during a known wait (termination wait, Ready), and under throttling
READY_WAIT_FACTOR = 4.0
# Near the end of a short deployment (one that got there within SHORT_RUN seconds: a small application, a
# compressed clock), poll at this share of the time it has run (at least MIN_POLL_INTERVAL): it ends in seconds.
# A HERD deployment gets there after about 10 minutes: poll_interval is the pace.
RAN_SHARE = 0.01
SHORT_RUN = 120.0
DEPLOYMENT_REFRESH = 60.0      # while the instances are read at each poll, read the deployment at least this often
HEARTBEAT = 60.0               # a line at least this often, also while nothing changes
HEARTBEAT_DUE = 55.0           # ... said at the first poll this long after the last line (the reads of that poll fit in the rest)
LOOK_ALLOWANCE_SHARE = 0.1     # the instances are read early by the time a poll takes, at most this share of poll_interval
STOP_GRACE = 120.0             # after stop_deployment: how long to wait for CodeDeploy to say Stopped
STOP_POLL = 1.0
DUE_SLACK = 0.001              # a read due within this is due now (float sums)
EVENT_STARTED = ("InProgress", "Succeeded", "Failed")


def check_wait_options(wait_timeout, poll_interval):
    """Raise ValueError naming the option when wait_timeout or poll_interval cannot work."""
    if wait_timeout is None or wait_timeout < 0:
        raise ValueError("wait_timeout must be a number of seconds, 0 or more (for example 3600); got {0!r}".format(wait_timeout))
    if poll_interval is None or poll_interval < MIN_POLL_INTERVAL:
        raise ValueError("poll_interval must be at least {0} seconds (for example {1}); got {2!r}".format(
            MIN_POLL_INTERVAL, DEFAULT_POLL_INTERVAL, poll_interval))


class Outcome(object):
    """How a run of the module ends.

    ``kind``: ``done`` (the awaited state was reached), ``ended`` (Failed or Stopped),
    ``timeout``, ``checked`` (check mode: one look).
    """

    def __init__(self, kind, result, message=None, lines=None):
        self.kind = kind
        self.result = result
        self.message = message
        self.lines = lines or []  # every progress line said, in order

    @property
    def failed(self):
        return self.kind in ("ended", "timeout")


class Follower(object):
    """Follows one deployment: polls, derives the steps, says the progress lines, shapes the result.

    ``on_line`` receives each line as it is said. ``wall`` is the wall clock (POSIX seconds);
    ``clock`` and ``sleep`` go to the Waiter. Tests inject all three.
    """

    def __init__(self, reader, deployment_id, wait_timeout, poll_interval=DEFAULT_POLL_INTERVAL, wait_for="success",
                 on_timeout="fail", on_line=None, wall=None, clock=None, sleep=None):
        self.reader = reader
        self.deployment_id = deployment_id
        self.wait_timeout = float(wait_timeout)
        self.poll_interval = float(poll_interval)
        self.wait_for = wait_for
        self.on_line = on_line
        self.on_timeout = on_timeout
        self.wall = wall or time.time
        self.clock = clock
        self.sleep = sleep or time.sleep
        self.started_at = self.wall()
        self.next_poll_at = 0.0
        self.target_ids = []
        self.targets_read_at = None
        self.targets_signature = None
        self.instances = []
        self.observed = {}
        self.last = None  # {"status", "steps": {number: status}} of the last look
        self.announced = []  # [instance id, event name] already said
        self.statuses_seen = []  # statuses no step tells: Queued, Ready, Baking
        self.warnings = []
        self.errors_seen = {}
        self.throttled = 0
        self.phase = None
        self.read_once = False
        self.deployment_read_at = None
        self.view = None
        self.said = []  # every line said, in order
        self.last_error = None
        # the pace: what is read at each poll (see _schedule)
        self.targets_every = None  # seconds between two reads of the instances; None: when the deployment says they moved
        self.deployment_every = self.poll_interval
        self.targets_asked_at = None  # when the last read of the instances was sent
        self.look_allowance = 0.0  # the longest poll seen (capped): the instances are read that much early
        self.last_line_at = None

    @property
    def deadline(self):
        return self.started_at + self.wait_timeout

    # -- one look at the deployment --
    @staticmethod
    def _signature(deployment):
        """What, in GetDeployment's answer, says that the instances have moved on."""
        overview = deployment["overview"]
        return [deployment["status"], deployment["termination_wait_started"], [[k, v] for k, v in sorted(overview.items())]]

    @staticmethod
    def _instances_signature(instances):
        """What, in the instances, the deployment's own status may follow: their statuses and failed events."""
        return [[i["instance_id"], i["status"], [e["name"] for e in i["lifecycle_events"] if e["status"] == "Failed"]]
                for i in instances]

    @staticmethod
    def _due(at, now):
        return at is None or now >= at - DUE_SLACK

    def _want_targets(self, deployment, now):
        status = deployment["status"]
        if status in NOT_STARTED or deployment["compute_platform"] != "Server":
            return False
        if status in TERMINAL or self.targets_read_at is None:
            return True
        if self._signature(deployment) != self.targets_signature:
            return True
        return self.targets_every is not None and self._due(self._targets_due_at(), now)

    def _want_deployment(self, now):
        if self.view is None or self.deployment_read_at is None:
            return True
        return self._due(self._deployment_due_at(), now)

    def _early(self, every):
        """How much earlier than ``every`` after the last read the next one starts: the time a poll takes."""
        return min(self.look_allowance, LOOK_ALLOWANCE_SHARE * every)

    def _deployment_due_at(self):
        """Early too where the deployment carries the next line (its start, the replacement instance's arrival): by
        the most a poll may take, as the polls that follow read more than the first ones did."""
        early = LOOK_ALLOWANCE_SHARE * self.deployment_every if self.phase in ("starting", "provisioning") else 0.0
        return self.deployment_read_at + self.deployment_every - early

    def _targets_due_at(self):
        if self.targets_every is None:
            return None
        if self.targets_asked_at is None:
            return self.wall()
        return self.targets_asked_at + self.targets_every - self._early(self.targets_every)

    def _read_deployment(self, now):
        deployment = deployment_view(self.reader.deployment(self.deployment_id))
        self.deployment_read_at = now
        return deployment

    def _read_targets(self, deployment):
        total = sum(deployment["overview"].values())
        self.targets_asked_at = self.wall()
        if not self.target_ids or total > len(self.target_ids):
            self.target_ids = self.reader.target_ids(self.deployment_id)
        try:
            targets = self.reader.targets(self.deployment_id, self.target_ids)
        except is_boto3_error_code(list(TARGET_GONE)):  # an instance left the deployment: list them again
            self.target_ids = self.reader.target_ids(self.deployment_id)
            targets = self.reader.targets(self.deployment_id, self.target_ids)
        instances = [view for view in (instance_view(t) for t in targets) if view is not None]
        order = {"Blue": 0, "Green": 1}
        instances.sort(key=lambda i: (order.get(i["label"], 2), i["instance_id"] or ""))
        return instances

    def look(self, fresh=False, deployment_now=False):
        """Read what is due (everything when ``fresh``, the deployment when ``deployment_now``), say what
        changed; returns the view.

        The deployment is read first when due; the instances when due or when the deployment says
        they moved; and the deployment again when the instances show a change of their own status
        that the deployment's may follow (a failure, Ready, an instance done)."""
        now = self.wall()
        read_deployment = fresh or deployment_now or self._want_deployment(now)
        if read_deployment:
            deployment = self._read_deployment(now)
        else:
            deployment = self.view["deployment"]
        self.read_once = True
        if self._want_targets(deployment, now) or (fresh and deployment["status"] not in NOT_STARTED):
            before = self._instances_signature(self.instances) if self.targets_read_at is not None else None
            self.instances = self._read_targets(deployment)
            self.targets_read_at = now
            if not read_deployment and before is not None and self._instances_signature(self.instances) != before:
                deployment = self._read_deployment(now)
            self.targets_signature = self._signature(deployment)
        if deployment["termination_wait_started"] and "termination_wait_seen_at" not in self.observed:
            self.observed["termination_wait_seen_at"] = now
        if "termination_started_at" not in self.observed and is_blue_green(deployment):
            seen = termination_started_at(deployment, self.instances)
            if seen is not None:
                self.observed["termination_started_at"] = seen
        steps = derive_steps(deployment, self.instances, now, self.observed)
        view = {
            "deployment": deployment,
            "instances": self.instances,
            "steps": steps,
            "activity": describe_activity(deployment, steps, self.instances, now),
            "now": now,
        }
        self._announce(view)
        self.look_allowance = max(self.look_allowance, self.wall() - now)
        if self.wait_for == "traffic_rerouted" and not is_blue_green(deployment):
            note = ("wait_for=traffic_rerouted applies to Blue/Green deployments; {0} is {1}, "
                    "so the wait goes on until it succeeds").format(self.deployment_id, deployment["deployment_type"])
            if note not in self.warnings:
                self.warnings.append(note)
        self.view = view
        return view

    # -- progress lines --
    def _origin(self, deployment):
        return deployment["start_time"] or deployment["create_time"] or self.started_at

    def _new_events(self, view):
        """Lifecycle event starts and ends not said yet, grouped by name and status:
        [{"name", "state", "number", "time", "start", "pairs", "keys"}]. An event first seen ended gets
        one line, at its end: it says its status."""
        deployment = view["deployment"]
        ignore = deployment["ignore_application_stop_failures"]
        blue_green = is_blue_green(deployment)
        groups = []
        said = set(tuple(k) for k in self.announced)
        for instance in view["instances"]:
            for event in instance["lifecycle_events"]:
                if event["status"] not in EVENT_STARTED or event["start_time"] is None:
                    continue
                iid = instance["instance_id"]
                ended = event["status"] != "InProgress"
                if (iid, event["name"], "end" if ended else "start") in said:
                    continue
                keys = [(iid, event["name"], "start")] + ([(iid, event["name"], "end")] if ended else [])
                when = event["start_time"]
                if ended and event["end_time"] is not None:
                    when = event["end_time"]
                state = ", " + event_state(event, effective_status(event, ignore))
                number = step_of_event(instance["label"], event["name"]) if blue_green else None
                for group in groups:
                    if group["name"] == event["name"] and group["state"] == state and group["number"] == number:
                        group["pairs"].append((instance, event))
                        group["keys"].extend(keys)
                        group["time"] = max(group["time"], when) if ended else min(group["time"], when)
                        group["start"] = min(group["start"], event["start_time"])
                        break
                else:
                    groups.append({"name": event["name"], "state": state, "number": number, "time": when, "ended": ended,
                                   "start": event["start_time"], "pairs": [(instance, event)], "keys": keys})
        return groups

    def _announce(self, view):
        deployment = view["deployment"]
        status = deployment["status"]
        steps = view["steps"]
        now = view["now"]
        last = self.last or {"status": None, "steps": {}}
        items = []  # (time, order, text)
        if status != last["status"] and status not in TERMINAL:
            when = deployment["create_time"] if status == "Created" else None
            if status not in ("Created", "InProgress"):
                self.statuses_seen.append({"time": now, "status": status})
            if status != "InProgress" or not steps:
                text = status if status != "InProgress" else "InProgress (in-place deployment: no Blue/Green steps)"
                activity = describe_activity(deployment, steps, view["instances"], now)
                items.append((when if when is not None else (deployment["start_time"] or now), 0,
                              text + (": " + activity if activity and status != "InProgress" else "")))
        groups = self._new_events(view)
        for group in groups:
            self.announced.extend(list(key) for key in group["keys"])
        for step in steps:
            before = last["steps"].get(str(step["number"]), "Pending")
            if before != "Pending" or step["status"] not in ("InProgress", "Succeeded"):
                continue
            start = step["start_time"] if step["start_time"] is not None else now
            first = next((g for g in groups if g["number"] == step["number"] and not g["ended"] and g["start"] == start), None)
            if first is not None:
                groups.remove(first)
                words = on_instances(first["pairs"]) + first["state"]
            else:
                words = self._step_words(deployment, step, view["instances"], start)
            items.append((start, 2, "{0}: {1}".format(step_label(step), words)))
        for group in groups:
            words = on_instances(group["pairs"]) + group["state"]
            if group["number"] is not None:
                step = steps[group["number"] - 1]
                words = "{0}: {1}".format(step_label(step), words)
            elif status == "InProgress" or status in TERMINAL:
                words = "InProgress (in-place deployment): {0}".format(words)
            items.append((group["time"], 1 if group["ended"] else 3, words))
        if status in TERMINAL and status != last["status"]:
            items.append((deployment["complete_time"] if deployment["complete_time"] is not None else now, 9, ending_text(view)))
        origin = self._origin(deployment)
        for when, _order, text in sorted(items, key=lambda item: (item[0], item[1])):
            self._say(line(self.deployment_id, text, max(0.0, when - origin)))
        if not items and status not in TERMINAL and self.last_line_at is not None \
                and self.wall() >= self.last_line_at + HEARTBEAT_DUE - DUE_SLACK:
            self._say(line(self.deployment_id, self._still(view), max(0.0, now - origin)))
        self.last = {"status": status, "steps": dict((str(s["number"]), s["status"]) for s in steps)}

    def _still(self, view):
        """Where the deployment is and for how long, for the line said while nothing changes."""
        deployment = view["deployment"]
        now = view["now"]
        since = next((entry["time"] for entry in reversed(self.statuses_seen) if entry["status"] == deployment["status"]), None)
        if deployment["status"] == "Created":
            since = deployment["create_time"]
        return still_text(deployment, view["steps"], view["instances"], now, since)

    @staticmethod
    def _step_words(deployment, step, instances, start):
        if step["number"] == 1:
            return "provisioning replacement instances"
        if step["number"] == 2:
            return "rerouting traffic"
        return step_activity(deployment, step, instances, start)

    def _say(self, text):
        self.said.append(text)
        self.last_line_at = self.wall()
        if self.on_line is not None:
            self.on_line(text)

    # -- the goal --
    def reached(self, view):
        deployment = view["deployment"]
        if deployment["status"] == "Succeeded":
            return True
        if self.wait_for == "traffic_rerouted" and is_blue_green(deployment):
            return len(view["steps"]) > 1 and view["steps"][1]["status"] == "Succeeded"
        return False

    def ended(self, view):
        return view["deployment"]["status"] in ENDED_UNSUCCESSFULLY

    # -- polling --
    def _phase(self, view):
        """What the deployment is doing, as far as the pace of polling is concerned."""
        deployment = view["deployment"]
        status = deployment["status"]
        if status in NOT_STARTED:
            return "starting"
        if status == "Ready":
            return "ready_wait"
        if failed_events(view["instances"], deployment):
            return "near_end"
        if not is_blue_green(deployment):
            for instance in view["instances"]:
                events = instance["lifecycle_events"]
                if events and events[-1]["status"] == "InProgress":
                    return "near_end"
            return "running"
        step = current_step(view["steps"])
        if step is not None and step["status"] == "InProgress":
            if step["number"] == 4:
                return "near_end"
            if step["number"] == 3:
                return "termination_wait"
            if step["number"] == 2 and self.wait_for == "traffic_rerouted":
                return "near_end"
            if step["number"] == 1 and not any(i["label"] == "Green" for i in view["instances"]):
                return "provisioning"
        return "running"

    def interval(self, attempts=None, state=None):
        """Seconds until the next poll is due: the Waiter asks this after each check."""
        return max(0.0, self.next_poll_at - self.wall())

    def _near_end(self, view, now):
        """poll_interval, or less on a deployment that got here within SHORT_RUN seconds: RAN_SHARE of the
        time it has run, at least MIN_POLL_INTERVAL."""
        ran = max(0.0, now - self._origin(view["deployment"]))
        if ran >= SHORT_RUN:
            return self.poll_interval
        return max(MIN_POLL_INTERVAL, min(self.poll_interval, ran * RAN_SHARE))

    def _schedule(self, view, now):
        """When to poll next, and what to read then (the only place that decides it)."""
        base = self.poll_interval
        phase = "starting" if view is None else self._phase(view)
        targets_every = None  # None: the instances are read when the deployment says they moved
        deployment_every = base
        if phase == "near_end":
            deployment_every = self._near_end(view, now)
            if running_events(view["instances"]):  # the events that still run: their ends
                targets_every = base
        elif phase == "termination_wait" and not view["deployment"]["termination_wait_minutes"]:
            targets_every, deployment_every = base, DEPLOYMENT_REFRESH  # its end shows in the original instances first
        elif phase == "termination_wait":
            step = view["steps"][2]
            ends = (step["start_time"] or now) + 60.0 * view["deployment"]["termination_wait_minutes"]
            deployment_every = min(LONG_WAIT_MAX_INTERVAL, max(base, (ends - now) / 4.0))
        elif phase == "ready_wait":
            deployment_every = min(LONG_WAIT_MAX_INTERVAL, max(base, base * READY_WAIT_FACTOR))
        elif phase == "running":
            targets_every, deployment_every = base, DEPLOYMENT_REFRESH
        # starting, provisioning: the deployment every poll_interval (its start, then the replacement instance)
        self.phase = phase
        self.targets_every = targets_every
        self.deployment_every = deployment_every
        dues = [self._deployment_due_at() if self.deployment_read_at is not None else now + deployment_every]
        targets_due = self._targets_due_at()
        if targets_due is not None:
            dues.append(targets_due)
        if self.last_line_at is not None and (view is None or view["deployment"]["status"] not in TERMINAL):
            dues.append(self.last_line_at + HEARTBEAT_DUE)
        self.next_poll_at = max(now, min(dues))
        if self.throttled:
            self.next_poll_at = now + min(LONG_WAIT_MAX_INTERVAL, max(base, base * (2 ** min(self.throttled, 5))))

    def check(self):
        """One poll, for the Waiter: (stop waiting?, view)."""
        now = self.wall()
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
        return False, view

    def follow(self):
        """Wait for the goal, the end or the timeout."""
        Waiter(timeout=max(0.0, self.deadline - self.wall()), interval=self.interval, clock=self.clock,
               sleep=self.sleep).wait(self.check)
        view = self.view
        if view is not None and (self.reached(view) or self.ended(view)):
            return self.finish()
        return self.time_out()

    def look_once(self):
        """Check mode: one look, no waiting, nothing stopped."""
        self.look()
        return self.finish(checked=True)

    # -- the result --
    def _rollback_status(self, view):
        rollback_id = view["deployment"]["rollback_info"].get("rollback_deployment_id")
        if not rollback_id:
            return None
        try:
            return self.reader.deployment(rollback_id).get("status")
        except DeploymentMissing:
            return None

    def result(self, view, rollback_status=None, timed_out=False, stop=None):
        if not view:
            return {"deployment_id": self.deployment_id, "status": None, "timed_out": timed_out, "steps": [], "instances": [],
                    "timeline": [], "api_calls": self.api_calls(), "waited_seconds": self.waited()}
        deployment = view["deployment"]
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
            "timeline": self.timeline(view),
            "api_calls": self.api_calls(),
            "waited_seconds": self.waited(),
            "timed_out": timed_out,
        }
        if stop is not None:
            result["stop"] = stop
        return result

    @staticmethod
    def _instance_result(instance):
        events = [dict(event, start_time=iso(event["start_time"]), end_time=iso(event["end_time"])) for event in instance["lifecycle_events"]]
        return dict(instance, last_updated_at=iso(instance["last_updated_at"]), lifecycle_events=events)

    def timeline(self, view):
        """Status and step changes in time order, from the view's own times (those of ``steps``)."""
        deployment = view["deployment"]
        entries = []
        if deployment["create_time"] is not None:
            entries.append({"time": deployment["create_time"], "status": "Created"})
        entries.extend(dict(entry) for entry in self.statuses_seen)
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
        ordered = sorted(enumerate(entries), key=lambda pair: (pair[1]["time"], pair[0]))
        out = []
        for _n, entry in ordered:
            item = dict(entry, time=iso(entry["time"]))
            if "step" in entry:
                item["message"] = "step {0}/4 {1}: {2}".format(entry["step"], STEP_NAMES[entry["step"] - 1], entry["status"])
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
        if self.reached(view):
            return Outcome("checked" if checked else "done", result, lines=self.said)
        if self.ended(view):
            return Outcome("ended", result, message=deployment_failure_message(view, rollback_status), lines=self.said)
        return Outcome("checked", result, lines=self.said)

    def time_out(self):
        """wait_timeout is over: stop or roll back if asked, then report the last known state."""
        view = self.view
        if view is None:
            reason = " (last error: {0})".format(self.last_error) if self.last_error else ""
            message = "Could not read deployment {0} within {1:g} s (wait_timeout){2}.".format(
                self.deployment_id, self.wait_timeout, reason)
            return Outcome("timeout", self.result(None, timed_out=True), message=message, lines=self.said)
        stale = self.targets_read_at is None or self.targets_read_at < view["now"]
        if stale and view["deployment"]["status"] not in NOT_STARTED:
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
        return Outcome("timeout", result, message=message, lines=self.said)

    def _where(self, view):
        deployment = view["deployment"]
        text = deployment["status"]
        step = current_step(view["steps"])
        if step is not None and deployment["status"] not in NOT_STARTED:
            text += " at {0}".format(step_label(step))
        if view["activity"]:
            text += " ({0})".format(view["activity"])
        return text

    def _stop(self, rollback):
        """stop_deployment, then read until CodeDeploy reports it Stopped (and the rollback id)."""
        try:
            stop = self.reader.stop(self.deployment_id, rollback)
        except is_boto3_error_code("DeploymentAlreadyCompletedException"):
            self.look(deployment_now=True)
            return {"action": "rollback" if rollback else "stop", "already_completed": True}
        stop["action"] = "rollback" if rollback else "stop"

        def stopped():
            try:
                view = self.look(deployment_now=True)
            except Exception as e:
                if not is_retryable(e, True):
                    raise
                return False, self.view
            deployment = view["deployment"]
            settled = deployment["status"] in TERMINAL
            if rollback and deployment["status"] != "Succeeded":
                settled = settled and bool(deployment["rollback_info"].get("rollback_deployment_id"))
            return settled, view

        Waiter(timeout=STOP_GRACE, interval=STOP_POLL, clock=self.clock, sleep=self.sleep).wait(stopped)
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
