# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When to read a CodeDeploy deployment, and what: the pace of following it.

:class:`Pace` decides, from the last view of the deployment, when the next poll is due and what it
reads then. What changes is read at each ``poll_interval``, what rarely changes seldom. While
lifecycle events run, the instances (``BatchGetDeploymentTargets``, one request for up to 25) are
read every ``poll_interval``, a little early by the time a poll takes, so that each event's start
and end is said within one ``poll_interval`` of the time CodeDeploy records; the deployment itself
(``GetDeployment``) every ``DEPLOYMENT_REFRESH`` seconds, and at once when the instances show a
change of their own status (a failure, Ready, done). Before the deployment starts and while the
replacement instance is provisioned, the deployment is read every ``poll_interval``; in a
termination wait of unknown length, the original instances every ``poll_interval`` (step 4 shows
in them first) and the deployment every ``DEPLOYMENT_REFRESH``; during a known wait (termination
wait of configured length, Ready) slowly. Near the end (step 4, a failed event, step 2 with
``wait_for=traffic_rerouted``) the deployment is read every ``poll_interval``, or faster on a
deployment that got there within ``SHORT_RUN`` seconds (``RAN_SHARE`` of the time it has run, at least
``MIN_POLL_INTERVAL``): a small application's deployment ends in seconds. Those faster reads are bounded:
after ``NEAR_END_FAST_READS`` of them, the deployment is read every ``poll_interval`` again (a step 4 or a
failure that lasts does not cost a read a second).

When no line was said for ``HEARTBEAT_DUE`` seconds, the next poll is due, so that a line comes at
least every ``HEARTBEAT`` seconds. Times are POSIX seconds (floats).
"""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_view import NOT_STARTED, TERMINAL, current_step, failed_events, is_blue_green, running_events

DEFAULT_POLL_INTERVAL = 5.0
MIN_POLL_INTERVAL = 0.5
LONG_WAIT_MAX_INTERVAL = 30.0  # during a known wait (termination wait, Ready), and under throttling
READY_WAIT_FACTOR = 4.0
# Near the end of a short deployment (one that got there within SHORT_RUN seconds: a small application, a
# compressed clock), poll at this share of the time it has run (at least MIN_POLL_INTERVAL): it ends in seconds.
# A HERD deployment gets there after about 10 minutes, a 300 s one after about 4: poll_interval is the pace.
RAN_SHARE = 0.005
SHORT_RUN = 200.0
# At most this many reads of the deployment at that faster pace, then poll_interval: a step 4 as long as 14 %
# of the deployment is covered (about 29 reads at 0.5 % of the time run), and no deployment pays more than this
# many extra reads.
NEAR_END_FAST_READS = 30
DEPLOYMENT_REFRESH = 60.0      # while the instances are read at each poll, read the deployment at least this often
HEARTBEAT = 60.0               # a line at least this often, also while nothing changes
HEARTBEAT_DUE = 55.0           # ... said at the first poll this long after the last line (the reads of that poll fit in the rest)
LOOK_ALLOWANCE_SHARE = 0.1     # the instances are read early by the time a poll takes, at most this share of poll_interval
DUE_SLACK = 0.001              # a read due within this is due now (float sums)


def due(at, now):
    """True when a read due at ``at`` (None: never read) is due at ``now``."""
    return at is None or now >= at - DUE_SLACK


def deployment_signature(deployment):
    """What, in GetDeployment's answer, says that the instances have moved on."""
    overview = deployment["overview"]
    return [deployment["status"], deployment["termination_wait_started"], [[k, v] for k, v in sorted(overview.items())]]


def instances_signature(instances):
    """What, in the instances, the deployment's own status may follow: their statuses and failed events."""
    return [[i["instance_id"], i["status"], [e["name"] for e in i["lifecycle_events"] if e["status"] == "Failed"]]
            for i in instances]


def _blue_green_phase(view, wait_for):
    step = current_step(view["steps"])
    if step is not None and step["status"] == "InProgress":
        if step["number"] == 4:
            return "near_end"
        if step["number"] == 3:
            return "termination_wait"
        if step["number"] == 2 and wait_for == "traffic_rerouted":
            return "near_end"
        if step["number"] == 1 and not any(i["label"] == "Green" for i in view["instances"]):
            return "provisioning"
    return "running"


def phase_of(view, wait_for):
    """What the deployment is doing, as far as the pace of polling is concerned: ``starting``, ``ready_wait``,
    ``near_end``, ``termination_wait``, ``provisioning`` or ``running``."""
    if view is None:
        return "starting"
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
    return _blue_green_phase(view, wait_for)


def near_end_every(poll_interval, origin, now, fast_reads=0):
    """poll_interval, or less on a deployment that got near its end within SHORT_RUN seconds of ``origin``:
    RAN_SHARE of the time it has run, at least MIN_POLL_INTERVAL; poll_interval again once ``fast_reads``
    (the reads made at that faster pace) reached NEAR_END_FAST_READS."""
    ran = max(0.0, now - origin)
    if ran >= SHORT_RUN or fast_reads >= NEAR_END_FAST_READS:
        return poll_interval
    return max(MIN_POLL_INTERVAL, min(poll_interval, ran * RAN_SHARE))


def read_every(phase, view, now, base, origin, fast_reads=0):
    """(seconds between two reads of the instances or None, seconds between two reads of the deployment) in ``phase``.

    None for the instances: they are read when the deployment says they moved. ``fast_reads``: see near_end_every."""
    if phase == "near_end":
        # the events that still run: their ends
        return (base if running_events(view["instances"]) else None), near_end_every(base, origin, now, fast_reads)
    if phase == "termination_wait" and not view["deployment"]["termination_wait_minutes"]:
        return base, DEPLOYMENT_REFRESH  # its end shows in the original instances first
    if phase == "termination_wait":
        step = view["steps"][2]
        ends = (step["start_time"] or now) + 60.0 * view["deployment"]["termination_wait_minutes"]
        return None, min(LONG_WAIT_MAX_INTERVAL, max(base, (ends - now) / 4.0))
    if phase == "ready_wait":
        return None, min(LONG_WAIT_MAX_INTERVAL, max(base, base * READY_WAIT_FACTOR))
    if phase == "running":
        return base, DEPLOYMENT_REFRESH
    return None, base  # starting, provisioning: the deployment every poll_interval (its start, then the replacement instance)


class Pace(object):
    """When the next poll is due and what it reads: the deployment, the instances, or both.

    ``wall`` is the wall clock (POSIX seconds). The follower tells it what it read (``deployment_read``,
    ``targets_asked``, ``targets_read``, ``poll_took``) and asks ``schedule`` after each poll."""

    def __init__(self, poll_interval, wait_for, wall):
        self.poll_interval = float(poll_interval)
        self.wait_for = wait_for
        self.wall = wall
        self.phase = None
        self.next_poll_at = 0.0
        self.throttled = 0  # polls in a row that were throttled
        self.deployment_read_at = None
        self.targets_read_at = None
        self.targets_signature = None  # the deployment's signature when the instances were last read
        self.targets_every = None  # seconds between two reads of the instances; None: when the deployment says they moved
        self.deployment_every = self.poll_interval
        self.targets_asked_at = None  # when the last read of the instances was sent
        self.look_allowance = 0.0  # the longest poll seen (capped): the instances are read that much early
        self.fast_reads = 0  # reads of the deployment near the end at a pace faster than poll_interval

    def want_deployment(self, view, now):
        if view is None or self.deployment_read_at is None:
            return True
        return due(self.deployment_due_at(), now)

    def want_targets(self, deployment, now):
        status = deployment["status"]
        if status in NOT_STARTED or deployment["compute_platform"] != "Server":
            return False
        if status in TERMINAL or self.targets_read_at is None:
            return True
        if deployment_signature(deployment) != self.targets_signature:
            return True
        return self.targets_every is not None and due(self.targets_due_at(), now)

    def _early(self, every):
        """How much earlier than ``every`` after the last read the next one starts: the time a poll takes."""
        return min(self.look_allowance, LOOK_ALLOWANCE_SHARE * every)

    def deployment_due_at(self):
        """Early too where the deployment carries the next line (its start, the replacement instance's arrival): by
        the most a poll may take, as the polls that follow read more than the first ones did."""
        early = LOOK_ALLOWANCE_SHARE * self.deployment_every if self.phase in ("starting", "provisioning") else 0.0
        return self.deployment_read_at + self.deployment_every - early

    def targets_due_at(self):
        if self.targets_every is None:
            return None
        if self.targets_asked_at is None:
            return self.wall()
        return self.targets_asked_at + self.targets_every - self._early(self.targets_every)

    def targets_read(self, deployment, now):
        self.targets_read_at = now
        self.targets_signature = deployment_signature(deployment)

    def poll_took(self, seconds):
        self.look_allowance = max(self.look_allowance, seconds)

    def schedule(self, view, now, origin, last_line_at):
        """When to poll next, and what to read then (the only place that decides it). ``origin``: when the
        deployment started; ``last_line_at``: when the last progress line was said (None: none yet)."""
        base = self.poll_interval
        if self.phase == "near_end" and self.deployment_every < base and self.deployment_read_at is not None \
                and self.deployment_read_at >= now - DUE_SLACK:
            self.fast_reads += 1  # the poll that just ended read the deployment at the faster pace
        self.phase = phase_of(view, self.wait_for)
        self.targets_every, self.deployment_every = read_every(self.phase, view, now, base, origin, self.fast_reads)
        dues = [self.deployment_due_at() if self.deployment_read_at is not None else now + self.deployment_every]
        targets_due = self.targets_due_at()
        if targets_due is not None:
            dues.append(targets_due)
        if last_line_at is not None and (view is None or view["deployment"]["status"] not in TERMINAL):
            dues.append(last_line_at + HEARTBEAT_DUE)
        self.next_poll_at = max(now, min(dues))
        if self.throttled:
            self.next_poll_at = now + min(LONG_WAIT_MAX_INTERVAL, max(base, base * (2 ** min(self.throttled, 5))))

    def interval(self, attempts=None, state=None):
        """Seconds until the next poll is due: the Waiter asks this after each check."""
        return max(0.0, self.next_poll_at - self.wall())
