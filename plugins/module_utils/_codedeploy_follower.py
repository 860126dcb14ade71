# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Following one CodeDeploy deployment to its end.

:class:`Follower` polls through ``_waiter.Waiter`` (the only place that sleeps) and decides when the
wait is over; three parts, each read and tested alone, do the rest:

* when to read, and what: ``_codedeploy_pace.Pace`` (the pace of the polls);
* what the deployment looks like: ``_codedeploy_view`` (the answers as plain data, the 4 Blue/Green
  steps) and ``_codedeploy_result`` (the result, its ``steps`` and ``timeline``);
* what to print: ``_codedeploy_narrator.Narrator`` (one progress line per change, to ``on_line``).

Times are POSIX seconds (floats) inside, ISO 8601 strings in results.
"""

from __future__ import annotations

import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import error_code
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_narrator import Narrator, origin_of
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_pace import (
    DEFAULT_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    Pace,
    instances_signature,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import (
    TARGET_GONE,
    DeploymentMissing,
    is_retryable,
    is_throttling,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_result import api_calls, deployment_result
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_text import (
    deployment_failure_message,
    describe_activity,
    step_label,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_view import (
    ENDED_UNSUCCESSFULLY,
    NOT_STARTED,
    TERMINAL,
    current_step,
    derive_steps,
    deployment_view,
    instance_view,
    is_blue_green,
    termination_started_at,
)
from ansible_collections.mdl.herd.plugins.module_utils._time import iso
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter

WAIT_FOR_CHOICES = ("success", "traffic_rerouted")
ON_TIMEOUT_CHOICES = ("fail", "stop", "rollback")
STOP_GRACE = 120.0             # after stop_deployment: how long to wait for CodeDeploy to say Stopped
STOP_POLL = 1.0


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
    """Follows one deployment: polls, looks at it, has the narrator say what changed, ends with the result.

    ``on_line`` receives each line as it is said. ``wall`` is the wall clock (POSIX seconds);
    ``clock`` and ``sleep`` go to the Waiter. Tests inject all three.
    """

    def __init__(self, reader, deployment_id, wait_timeout, poll_interval=DEFAULT_POLL_INTERVAL, wait_for="success",
                 on_timeout="fail", on_line=None, wall=None, clock=None, sleep=None):
        self.reader = reader
        self.deployment_id = deployment_id
        self.wait_timeout = float(wait_timeout)
        self.wait_for = wait_for
        self.on_timeout = on_timeout
        self.wall = wall or time.time
        self.clock = clock
        self.sleep = sleep or time.sleep
        self.started_at = self.wall()
        self.pace = Pace(poll_interval, wait_for, self.wall)
        self.narrator = Narrator(deployment_id, self.started_at, self.wall, on_line)
        self.target_ids = []
        self.instances = []
        self.observed = {}
        self.warnings = []
        self.errors_seen = {}
        self.read_once = False
        self.view = None
        self.last_error = None

    @property
    def deadline(self):
        return self.started_at + self.wait_timeout

    @property
    def said(self):
        """Every line said, in order."""
        return self.narrator.said

    # -- one look at the deployment --
    def _read_deployment(self, now):
        deployment = deployment_view(self.reader.deployment(self.deployment_id))
        self.pace.deployment_read_at = now
        return deployment

    def _read_targets(self, deployment):
        total = sum(deployment["overview"].values())
        self.pace.targets_asked_at = self.wall()
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

    def _read(self, now, fresh, deployment_now):
        """The deployment and its instances, each read when due: see ``look``."""
        read_deployment = fresh or deployment_now or self.pace.want_deployment(self.view, now)
        if read_deployment:
            deployment = self._read_deployment(now)
        else:
            deployment = self.view["deployment"]
        self.read_once = True
        if self.pace.want_targets(deployment, now) or (fresh and deployment["status"] not in NOT_STARTED):
            before = instances_signature(self.instances) if self.pace.targets_read_at is not None else None
            self.instances = self._read_targets(deployment)
            if not read_deployment and before is not None and instances_signature(self.instances) != before:
                deployment = self._read_deployment(now)
            self.pace.targets_read(deployment, now)
        return deployment

    def _observe(self, deployment, now):
        """Note the times only a poll can tell: when the termination wait and the termination were first seen."""
        if deployment["termination_wait_started"] and "termination_wait_seen_at" not in self.observed:
            self.observed["termination_wait_seen_at"] = now
        if "termination_started_at" not in self.observed and is_blue_green(deployment):
            seen = termination_started_at(deployment, self.instances)
            if seen is not None:
                self.observed["termination_started_at"] = seen

    def look(self, fresh=False, deployment_now=False):
        """Read what is due (everything when ``fresh``, the deployment when ``deployment_now``), say what
        changed; returns the view.

        The deployment is read first when due; the instances when due or when the deployment says
        they moved; and the deployment again when the instances show a change of their own status
        that the deployment's may follow (a failure, Ready, an instance done)."""
        now = self.wall()
        deployment = self._read(now, fresh, deployment_now)
        self._observe(deployment, now)
        steps = derive_steps(deployment, self.instances, now, self.observed)
        view = {
            "deployment": deployment,
            "instances": self.instances,
            "steps": steps,
            "activity": describe_activity(deployment, steps, self.instances, now),
            "now": now,
        }
        self.narrator.announce(view)
        self.pace.poll_took(self.wall() - now)
        if self.wait_for == "traffic_rerouted" and not is_blue_green(deployment):
            note = ("wait_for=traffic_rerouted applies to Blue/Green deployments; {0} is {1}, "
                    "so the wait goes on until it succeeds").format(self.deployment_id, deployment["deployment_type"])
            if note not in self.warnings:
                self.warnings.append(note)
        self.view = view
        return view

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
    def interval(self, attempts=None, state=None):
        """Seconds until the next poll is due: the Waiter asks this after each check."""
        return self.pace.interval(attempts, state)

    def _schedule(self, view, now):
        origin = origin_of(view["deployment"], self.started_at) if view is not None else self.started_at
        self.pace.schedule(view, now, origin, self.narrator.last_line_at)

    def check(self):
        """One poll, for the Waiter: (stop waiting?, view)."""
        now = self.wall()
        try:
            view = self.look()
            self.pace.throttled = 0
            self.last_error = None
        except DeploymentMissing:
            raise
        except Exception as e:  # botocore's errors; re-raised unless they only mean "later"
            if not is_retryable(e, self.read_once):
                raise
            self.last_error = e
            self.pace.throttled = self.pace.throttled + 1 if is_throttling(e) else 0
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
        result = deployment_result(self.deployment_id, view, rollback_status, self.narrator.statuses_seen)
        result.update(api_calls=self.api_calls(), waited_seconds=self.waited(), timed_out=timed_out)
        if stop is not None:
            result["stop"] = stop
        return result

    def api_calls(self):
        return api_calls(self.reader)

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
        stale = self.pace.targets_read_at is None or self.pace.targets_read_at < view["now"]
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
