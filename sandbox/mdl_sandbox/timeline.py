"""A CodeDeploy deployment on a compressed clock, as a pure function of time.

A :class:`Plan` is fixed when the deployment is created: when it starts, when each lifecycle
event of each instance target runs, when traffic reaches the new version, when the wait
before terminating the original instance begins and when everything ends. Whatever a client
asks (status, targets, overview counts), the answer is computed from the plan and the time of
the question, so a client polling at any moment sees a consistent state and the completion
time is exact. A failure is part of the plan from the start (the event that will fail is
known); a stop or a skipped termination wait changes the plan at the moment it is asked for.

Nothing here talks to AWS or to a clock: tests drive it with plain numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

# Lifecycle events of a replacement (Green) instance and of an original (Blue) one.
GREEN_EVENTS = (
    "ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
    "ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic",
)
BLUE_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
IN_PLACE_EVENTS = GREEN_EVENTS[:7]
ALLOW_TRAFFIC = "AllowTraffic"

TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
# Not a lifecycle event: the name a hold gives the start of step 3 (traffic rerouted, original instance kept).
TERMINATION_WAIT = "TerminationWait"
OVERVIEW_KEYS = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")

# When each part of a Blue/Green deployment happens, as fractions of its whole duration.
# Step 1 (deploying replacement instances) runs the Green install events; step 2 (rerouting
# traffic) the traffic events of both fleets; step 3 waits before terminating the original
# instance; step 4 terminates it.
BLUE_GREEN_SHAPE = {
    "started": 0.04,
    "green": (("ApplicationStop", 0.10, 0.14), ("DownloadBundle", 0.14, 0.19), ("BeforeInstall", 0.19, 0.26),
              ("Install", 0.26, 0.31), ("AfterInstall", 0.31, 0.38), ("ApplicationStart", 0.38, 0.46),
              ("ValidateService", 0.46, 0.54), ("BeforeAllowTraffic", 0.54, 0.57), ("AllowTraffic", 0.57, 0.64),
              ("AfterAllowTraffic", 0.64, 0.67)),
    "blue": (("BeforeBlockTraffic", 0.67, 0.70), ("BlockTraffic", 0.70, 0.76), ("AfterBlockTraffic", 0.76, 0.79)),
    "wait_started": 0.79,
    "terminate": 0.88,
}
# A rollback of a Blue/Green deployment: traffic goes back to the original instance (labelled
# Green here: it is the one receiving traffic) and the failed replacement is blocked and ended.
ROLLBACK_SHAPE = {
    "started": 0.05,
    "green": (("BeforeAllowTraffic", 0.10, 0.20), ("AllowTraffic", 0.20, 0.35), ("AfterAllowTraffic", 0.35, 0.45)),
    "blue": (("BeforeBlockTraffic", 0.45, 0.55), ("BlockTraffic", 0.55, 0.65), ("AfterBlockTraffic", 0.65, 0.72)),
    "wait_started": 0.72,
    "terminate": 0.80,
}
IN_PLACE_STARTED = 0.04
IN_PLACE_FIRST_EVENT = 0.08


@dataclasses.dataclass
class EventSlot:
    """One lifecycle event of one target: when it starts and ends if nothing interrupts it."""

    name: str
    start: float
    end: float


@dataclasses.dataclass
class TargetPlan:
    """An instance target: its id, its label (Blue / Green) and its events in order."""

    target_id: str
    label: str
    events: List[EventSlot]
    done_at: float  # when the target reaches Succeeded

    def event(self, name: str) -> Optional[EventSlot]:
        for slot in self.events:
            if slot.name == name:
                return slot
        return None


@dataclasses.dataclass
class Cut:
    """The end of a deployment that does not succeed: failed at an event, or stopped."""

    at: float
    status: str  # Failed or Stopped
    error_code: str
    error_message: str
    failed_target: Optional[str] = None
    failed_event: Optional[str] = None
    diagnostics: Optional[dict] = None


@dataclasses.dataclass
class EventState:
    name: str
    status: str
    start: Optional[float]
    end: Optional[float]
    diagnostics: Optional[dict]


@dataclasses.dataclass
class Plan:
    """The schedule of one deployment; every ``*_at`` is an absolute time in seconds."""

    created_at: float
    started_at: float
    end_at: float
    targets: List[TargetPlan]
    switch_at: Optional[float] = None  # end of AllowTraffic (or ApplicationStart in place)
    wait_started_at: Optional[float] = None  # Blue/Green only
    terminate_at: Optional[float] = None  # Blue/Green only
    blue_green: bool = True  # False: an in-place deployment
    cut: Optional[Cut] = None
    # Events that fail without failing the deployment (ApplicationStop with ignoreApplicationStopFailures):
    # (target id, event name) -> diagnostics.
    forgiven: Dict[Tuple[str, str], dict] = dataclasses.field(default_factory=dict)

    # -- building -----------------------------------------------------------------------
    @classmethod
    def blue_green_deployment(cls, created_at: float, duration: float, green_id: str, blue_id: str,
                              shape: Optional[dict] = None) -> "Plan":
        shape = shape or BLUE_GREEN_SHAPE

        def at(fraction: float) -> float:
            return created_at + duration * fraction

        green = TargetPlan(green_id, "Green", [EventSlot(n, at(s), at(e)) for n, s, e in shape["green"]], 0.0)
        green.done_at = green.events[-1].end
        blue = TargetPlan(blue_id, "Blue", [EventSlot(n, at(s), at(e)) for n, s, e in shape["blue"]],
                          created_at + duration)
        return cls(created_at=created_at, started_at=at(shape["started"]), end_at=created_at + duration,
                   targets=[blue, green], switch_at=green.event(ALLOW_TRAFFIC).end,
                   wait_started_at=at(shape["wait_started"]), terminate_at=at(shape["terminate"]))

    @classmethod
    def rollback_deployment(cls, created_at: float, duration: float, restored_id: str, replaced_id: str) -> "Plan":
        """Traffic back to ``restored_id`` (the original instance), ``replaced_id`` terminated."""
        return cls.blue_green_deployment(created_at, duration, restored_id, replaced_id, shape=ROLLBACK_SHAPE)

    @classmethod
    def in_place_deployment(cls, created_at: float, duration: float, instance_id: str) -> "Plan":
        first = created_at + duration * IN_PLACE_FIRST_EVENT
        step = (created_at + duration - first) / len(IN_PLACE_EVENTS)
        events = [EventSlot(name, first + i * step, first + (i + 1) * step) for i, name in enumerate(IN_PLACE_EVENTS)]
        events[-1].end = created_at + duration
        target = TargetPlan(instance_id, "Blue", events, created_at + duration)
        return cls(created_at=created_at, started_at=created_at + duration * IN_PLACE_STARTED,
                   end_at=created_at + duration, targets=[target],
                   switch_at=target.event("ApplicationStart").end, blue_green=False)

    # -- changing -----------------------------------------------------------------------
    def fail_at(self, target_id: str, event_name: str, error_code: str, error_message: str,
                diagnostics: dict) -> None:
        """Make ``event_name`` of ``target_id`` fail when it would have ended."""
        slot = self.target(target_id).event(event_name)
        if slot is None:
            raise ValueError("target {0} has no event {1}".format(target_id, event_name))
        self.cut = Cut(at=slot.end, status="Failed", error_code=error_code, error_message=error_message,
                       failed_target=target_id, failed_event=event_name, diagnostics=diagnostics)

    def forgive_failure(self, target_id: str, event_name: str, diagnostics: dict) -> None:
        """Make ``event_name`` of ``target_id`` end Failed while the deployment goes on (an ignored failure)."""
        if self.target(target_id).event(event_name) is None:
            raise ValueError("target {0} has no event {1}".format(target_id, event_name))
        self.forgiven[(target_id, event_name)] = diagnostics

    def stop(self, now: float, error_code: str, error_message: str) -> None:
        """Stop at ``now`` (a deployment that is not over yet)."""
        self.cut = Cut(at=now, status="Stopped", error_code=error_code, error_message=error_message)

    def skip_termination_wait(self, now: float) -> bool:
        """Start terminating the original instance now; False when not waiting for it."""
        if not self.in_termination_wait(now):
            return False
        shift = self.terminate_at - now
        self.terminate_at = now
        self.end_at -= shift
        for target in self.targets:
            if target.label == "Blue":
                target.done_at -= shift
        return True

    def shift_after(self, moment: float, delta: float) -> None:
        """Move every moment of the plan later than ``moment`` by ``delta`` seconds.

        Holding a deployment at an event is a shift of everything after the event's start by a
        long time; releasing it shifts those moments back to "now plus what was left".
        """

        def moved(value: Optional[float]) -> Optional[float]:
            return value + delta if value is not None and value > moment else value

        self.started_at = moved(self.started_at)
        self.end_at = moved(self.end_at)
        self.switch_at = moved(self.switch_at)
        self.wait_started_at = moved(self.wait_started_at)
        self.terminate_at = moved(self.terminate_at)
        for target in self.targets:
            target.done_at = moved(target.done_at)
            for slot in target.events:
                slot.start = moved(slot.start)
                slot.end = moved(slot.end)
        if self.cut is not None:
            self.cut.at = moved(self.cut.at)

    def hold_moment(self, name: str) -> Optional[float]:
        """When a hold named ``name`` takes effect: the start of that lifecycle event, or, for
        ``TERMINATION_WAIT``, the start of the wait before the original instance is terminated (step 3)."""
        if name == TERMINATION_WAIT:
            return self.wait_started_at if self.blue_green else None
        found = self.event_slot(name)
        return found[1].start if found is not None else None

    def event_slot(self, name: str) -> Optional[Tuple[TargetPlan, EventSlot]]:
        """The target and slot of the lifecycle event ``name`` (event names are unique in a plan)."""
        for target in self.targets:
            slot = target.event(name)
            if slot is not None:
                return target, slot
        return None

    # -- reading ------------------------------------------------------------------------
    def target(self, target_id: str) -> TargetPlan:
        for target in self.targets:
            if target.target_id == target_id:
                return target
        raise KeyError(target_id)

    def is_cut(self, now: float) -> bool:
        return self.cut is not None and now >= self.cut.at

    def status(self, now: float) -> str:
        if self.is_cut(now):
            return self.cut.status
        if now < self.started_at:
            return "Created"
        if now >= self.end_at:
            return "Succeeded"
        return "InProgress"

    def is_active(self, now: float) -> bool:
        return self.status(now) not in TERMINAL_STATUSES

    def start_time(self, now: float) -> Optional[float]:
        if now >= self.started_at and not (self.cut is not None and self.cut.at < self.started_at):
            return self.started_at
        return None

    def complete_time(self, now: float) -> Optional[float]:
        if self.is_cut(now):
            return self.cut.at
        if now >= self.end_at:
            return self.end_at
        return None

    def in_termination_wait(self, now: float) -> bool:
        return (self.blue_green and self.cut is None and self.wait_started_at is not None
                and self.wait_started_at <= now < self.terminate_at)

    def terminating(self, target: TargetPlan, now: float) -> bool:
        """True once the original (Blue) instance ``target`` is being terminated (or was)."""
        return (self.blue_green and target.label == "Blue" and self.terminate_at is not None and now >= self.terminate_at
                and (self.cut is None or self.cut.at > self.terminate_at))

    def termination_wait_started(self, now: float) -> bool:
        if not self.blue_green or self.wait_started_at is None or now < self.wait_started_at:
            return False
        return self.cut is None or self.cut.at > self.wait_started_at

    def will_switch(self) -> bool:
        """True when the plan, as it stands, reroutes traffic to the new version at ``switch_at``."""
        return self.switch_at is not None and (self.cut is None or self.cut.at > self.switch_at)

    def traffic_switched(self, now: float) -> bool:
        """True once the new version receives traffic (AllowTraffic succeeded)."""
        if self.switch_at is None or now < self.switch_at:
            return False
        return self.cut is None or self.cut.at > self.switch_at

    def event_state(self, target: TargetPlan, slot: EventSlot, now: float) -> EventState:
        cut = self.cut if self.is_cut(now) else None
        if cut is not None:
            if cut.failed_target == target.target_id and cut.failed_event == slot.name:
                return EventState(slot.name, "Failed", slot.start, cut.at, cut.diagnostics)
            if slot.end <= cut.at:
                return EventState(slot.name, "Succeeded", slot.start, slot.end, _success_diagnostics())
            if slot.start < cut.at:
                return EventState(slot.name, "Failed", slot.start, cut.at, None)
            return EventState(slot.name, "Skipped", None, None, None)
        if now < slot.start:
            return EventState(slot.name, "Pending", None, None, None)
        if now < slot.end:
            return EventState(slot.name, "InProgress", slot.start, None, None)
        forgiven = self.forgiven.get((target.target_id, slot.name))
        if forgiven is not None:
            return EventState(slot.name, "Failed", slot.start, slot.end, forgiven)
        return EventState(slot.name, "Succeeded", slot.start, slot.end, _success_diagnostics())

    def events(self, target: TargetPlan, now: float) -> List[EventState]:
        return [self.event_state(target, slot, now) for slot in target.events]

    def target_status(self, target: TargetPlan, now: float) -> str:
        if self.is_cut(now):
            statuses = [state.status for state in self.events(target, now)]
            if "Failed" in statuses:
                return "Failed"
            if all(s == "Skipped" for s in statuses):
                return "Skipped"
            if all(s == "Succeeded" for s in statuses):
                return "Succeeded"
            return "Failed"
        if now < target.events[0].start:
            return "Pending"
        if now >= target.done_at:
            return "Succeeded"
        return "InProgress"

    def target_updated_at(self, target: TargetPlan, now: float) -> float:
        moments = [self.created_at]
        for slot in target.events:
            moments.extend(t for t in (slot.start, slot.end) if t <= now)
        if target.done_at <= now:
            moments.append(target.done_at)
        if self.terminating(target, now):
            # CodeDeploy updates the original instance when it starts terminating it: the only sign,
            # in GetDeployment and the targets, that the wait before termination is over.
            moments.append(self.terminate_at)
        if self.is_cut(now):
            moments = [t for t in moments if t <= self.cut.at] + [self.cut.at]
        return max(moments)

    def overview(self, now: float) -> Dict[str, int]:
        counts = dict.fromkeys(OVERVIEW_KEYS, 0)
        if now < self.started_at and not self.is_cut(now):
            return counts
        for target in self.targets:
            counts[self.target_status(target, now)] += 1
        return counts

    def upcoming(self, now: float) -> List[Tuple[float, str]]:
        """The moments after ``now`` at which something changes (for schedulers and tests)."""
        moments = {self.started_at, self.end_at}
        for target in self.targets:
            moments.add(target.done_at)
            for slot in target.events:
                moments.update((slot.start, slot.end))
        if self.wait_started_at is not None:
            moments.update((self.wait_started_at, self.terminate_at))
        if self.cut is not None:
            moments = {t for t in moments if t < self.cut.at} | {self.cut.at}
        return sorted((t, "") for t in moments if t > now)


def _success_diagnostics() -> dict:
    return {"errorCode": "Success", "scriptName": "", "message": "Succeeded", "logTail": ""}
