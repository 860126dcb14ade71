# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One invoke at a time per stack: a lock every controller sees, in SSM.

The upgrade Lambda writes ``HERD/RequestedVersion`` before CodeDeploy refuses a second
deployment, so two invokes at once for different versions change what the running deployment
installs. ``UpgradeLock`` serialises the invokes of every run of this collection, wherever it
runs (a laptop, AWX, a CI runner):

* the lock is the SSM parameter ``/app/MDL/{instance}/{environment}/HERD/UpgradeLock``, created
  with ``Overwrite=false``, SSM's atomic create-if-absent: of two runs, exactly one creates it;
* its value is JSON: a random owner token, the controller's host name, the process id of the
  module holding it (with what tells that process apart on that host: the boot, the pid
  namespace and the process's start time), the version, the time and the ``phase``: ``held``
  (taken, nothing invoked yet), ``invoking`` (written just before the Invoke is sent) or
  ``interrupted`` (the run was stopped while its Invoke was under way: the function goes on in
  AWS, so the lock stays, saying which version and when, and from which ``invoked_at``);
* its age is measured on AWS's clock (the parameter's ``LastModifiedDate`` against the ``Date``
  of the answer that read it), never the local one;
* it is held only around the invoke and released in every outcome but one, by deleting it after
  reading back that the token is ours; the exception is a run stopped during its Invoke
  (``mark_interrupted``);
* a lock older than ``stale_after`` (the Invoke's read timeout: no invoke can still be running)
  is taken over. So is, at once, a lock in phase ``held`` whose process was on this host and no
  longer exists (a module killed with SIGKILL runs no clean-up; nothing was invoked). Killed
  during its Invoke (phase ``invoking``), that process's lock is treated as ``interrupted``.
  A lock of a process on another host (another container, another controller) cannot be
  checked: it waits to go stale;
* SSM has no conditional delete: a take-over (or the removal of an ``interrupted`` lock) is
  arbitrated by a second create-only parameter, ``HERD/UpgradeLock.takeover-{owner token of the
  lock replaced}``; only the run that created it replaces the lock (after reading it again), then
  deletes it. A marker older than ``MARKER_STALE`` (its run died half-way) is itself replaced the
  same way, arbitrated by the marker named after its own token.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import socket

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import BotoCoreError, ClientError
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, aws_date, iso, utcnow, when
# (LockError is _upgrade's, which catches it: a run that neither invokes nor joins never imports this module.)
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import LockError
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter
from ansible_collections.mdl.herd.plugins.module_utils._watch import alive

LOCK_PARAMETER = "HERD/UpgradeLock"
# The create-only parameter that arbitrates the replacement of a lock held by OWNER: LOCK_PARAMETER + this + OWNER.
TAKEOVER_INFIX = ".takeover-"
# Seconds between two looks at a lock held by another run.
POLL_SECONDS = 2.0
# A take-over marker older than this (AWS's clock) belongs to a run that died between creating it and deleting
# it: a take-over is three SSM calls.
MARKER_STALE = 60.0

HELD = "held"
INVOKING = "invoking"
INTERRUPTED = "interrupted"


def _read_text(path):
    try:
        with open(path, "r") as handle:
            return handle.read().strip()
    except (OSError, ValueError):
        return None


def process_space():
    """What tells this host's process ids apart from another's of the same name: the boot and the pid namespace.

    None where it cannot be read (no /proc, as on macOS): then only the host name is compared.
    """
    boot = _read_text("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except (OSError, AttributeError):
        namespace = None
    if not boot or not namespace:
        return None
    return "{0}:{1}".format(boot, namespace)


def process_start(pid):
    """The start of process ``pid`` (clock ticks since boot, /proc/PID/stat field 22), or None."""
    stat = _read_text("/proc/{0}/stat".format(pid))
    if not stat:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


class Holder(object):
    """Who holds the lock, as its value says; ``written`` and ``age`` (seconds) are on AWS's clock.

    ``dead`` is True when the holding process was on this host and no longer exists, False when it
    runs, None when that cannot be told (another host, or a value without a process id).
    """

    __slots__ = ("owner", "host", "pid", "version", "phase", "written", "age", "time", "invoked_at", "interrupted_at",
                 "previous_deployment_id", "reason", "dead")

    def __init__(self, owner=None, host=None, version=None, written=None, age=None, pid=None, phase=None, time=None,
                 invoked_at=None, interrupted_at=None, previous_deployment_id=None, reason=None, dead=None):
        self.owner = owner
        self.host = host
        self.pid = pid
        self.version = version
        self.phase = phase
        self.written = as_utc(written)
        self.age = age
        self.time = time
        self.invoked_at = as_utc(invoked_at)
        self.interrupted_at = as_utc(interrupted_at)
        self.previous_deployment_id = previous_deployment_id
        self.reason = reason
        self.dead = dead

    @property
    def interrupted_invoke(self):
        """True when the Invoke of this holder was cut short (the function may go on in AWS): marked so, or its
        process died during it."""
        return self.phase == INTERRUPTED or (self.phase == INVOKING and self.dead is True)

    @property
    def marked_interrupted(self):
        """True when the run that held the lock marked it, stopped during its Invoke."""
        return self.phase == INTERRUPTED

    @property
    def invoke_time(self):
        """When the Invoke began (AWS's clock), as well as known: ``invoked_at``, else when the lock was written."""
        return self.invoked_at or self.written

    def stale_at(self, stale_after):
        """When this lock will be taken over (AWS's clock), or None when its time is unknown."""
        return self.written + datetime.timedelta(seconds=stale_after) if self.written else None

    def who(self):
        process = " (process {0})".format(self.pid) if self.pid else ""
        return "{0}{1}".format(self.host or "an unknown controller", process)

    def describe(self):
        """``held by HOST (process PID) for HERD V, written at T UTC (N s ago)``, and what its phase says."""
        age = "{0:.0f} s ago".format(max(0.0, self.age)) if self.age is not None else "age unknown"
        text = "held by {0} for HERD {1}, written at {2} ({3})".format(
            self.who(), self.version or "an unknown version", when(self.written) or "an unknown time", age)
        if self.phase == INTERRUPTED:
            text += "; it says that run was stopped at {0}, during its Invoke for HERD {1}, sent at {2}".format(
                when(self.written) or "an unknown time", self.version or "an unknown version",
                when(self.invoke_time) or "an unknown time")
        elif self.phase == INVOKING:
            text += "; its Invoke was sent at {0}".format(when(self.invoke_time) or "an unknown time")
            if self.dead:
                text += ", and that process no longer exists"
        return text

    def as_dict(self):
        return dict(host=self.host, pid=self.pid, version=self.version, phase=self.phase, written=iso(self.written),
                    age_seconds=round(max(0.0, self.age), 1) if self.age is not None else None,
                    invoked_at=iso(self.invoked_at), interrupted_at=iso(self.interrupted_at),
                    process_gone=self.dead)


class UpgradeLock(object):
    """The invoke lock of one stack; ``ssm`` is a client from ``_aws.client``."""

    def __init__(self, ssm, stack, requested_version, stale_after, host=None, token=None, clock=None, sleep=None,
                 poll=POLL_SECONDS, pid=None, space=None):
        self.ssm = ssm
        self.stack = stack
        self.name = stack.parameter(LOCK_PARAMETER)
        self.requested_version = requested_version
        self.stale_after = float(stale_after)
        self.host = host or socket.gethostname()
        self.token = token or secrets.token_hex(16)
        self.pid = pid or os.getpid()
        self.space = space if space is not None else process_space()
        self.started = process_start(self.pid)
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.held = False
        self.taken_over = None  # the Holder of a lock this run took over (stale, or of a process that is gone)
        self.waited = 0.0
        self.invoke = {}  # invoked_at and previous_deployment_id, once mark_invoking wrote them
        self.last_holder = None  # the other run's Holder, as last seen while waiting

    # -- words -------------------------------------------------------------------------------

    @property
    def region(self):
        return getattr(getattr(self.ssm, "meta", None), "region_name", None)

    def removal_command(self):
        """The command that removes the lock by hand."""
        return "aws ssm delete-parameter --name {0}{1}".format(
            self.name, " --region {0}".format(self.region) if self.region else "")

    def stale_sentence(self, holder):
        """When ``holder``'s lock is taken over, in words."""
        at = holder.stale_at(self.stale_after) if holder else None
        return "it is taken over at {0}, once older than {1:.0f} s (the invoke's read timeout), when no invoke of it " \
               "can still be running".format(when(at) or "a time that cannot be told", self.stale_after)

    # -- SSM ---------------------------------------------------------------------------------

    def _value(self, phase, **extra):
        value = {"owner": self.token, "host": self.host, "pid": self.pid, "space": self.space, "started": self.started,
                 "version": self.requested_version, "time": iso(utcnow()), "by": "mdl.herd", "phase": phase}
        value.update(extra)
        return json.dumps(value, sort_keys=True)

    def _ssm(self, action, call, expected, name=None, **kwargs):
        """``(answer, None)``, or ``(None, code)`` for the ``expected`` error code; any other error is a LockError."""
        name = name or self.name
        try:
            return call(Name=name, aws_retry=True, **kwargs), None
        except is_boto3_error_code(expected):
            return None, expected
        except (ClientError, BotoCoreError) as e:
            raise LockError("Could not {0} the SSM parameter {1} (the upgrade lock)".format(action, name), e)

    def _put(self, name, value, overwrite):
        """True when written; with ``overwrite`` false, False when the parameter exists (SSM's atomic create-if-absent)."""
        dummy, refused = self._ssm("create" if not overwrite else "write", self.ssm.put_parameter, "ParameterAlreadyExists",
                                   name=name, Value=value, Type="String", Overwrite=overwrite,
                                   Description="mdl.herd: one upgrade invoke at a time on this stack")
        return refused is None

    def _create(self):
        """True when this run created the lock."""
        if self._put(self.name, self._value(HELD), overwrite=False):
            self.held = True  # at once: a run stopped from here on releases it
            return True
        return False

    def _delete(self, name=None):
        self._ssm("delete", self.ssm.delete_parameter, "ParameterNotFound", name=name)

    def read(self, name=None):
        """The Holder of the lock (or of the parameter ``name``) now, or None when there is none."""
        response, missing = self._ssm("read", self.ssm.get_parameter, "ParameterNotFound", name=name)
        if missing:
            return None
        parameter = response.get("Parameter") or {}
        try:
            value = json.loads(parameter.get("Value") or "")
        except ValueError:
            value = {}
        if not isinstance(value, dict):
            value = {}
        changed, now = as_utc(parameter.get("LastModifiedDate")), aws_date(response)
        age = (now - changed).total_seconds() if changed and now else None
        if age is not None:
            age = max(0.0, age)  # the Date header has whole seconds; LastModifiedDate has more
        pid = value.get("pid")
        holder = Holder(value.get("owner"), value.get("host"), value.get("version"), changed, age,
                        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                        phase=value.get("phase"), time=value.get("time"), invoked_at=_time(value.get("invoked_at")),
                        interrupted_at=_time(value.get("interrupted_at")),
                        previous_deployment_id=value.get("previous_deployment_id"), reason=value.get("reason"))
        holder.dead = self._dead(holder, value)
        return holder

    def read_quietly(self):
        """``read()``, or None when the lock cannot be read (for the words of a message)."""
        try:
            return self.read()
        except LockError:
            return None

    def _dead(self, holder, value):
        """True when the holder's process was on this host and is gone; False when it runs; None when unknown."""
        if holder.pid is None or holder.host != self.host or holder.owner == self.token:
            return None
        space = value.get("space")
        if (space or self.space) and space != self.space:  # another container or boot with the same host name
            return None
        if not alive(holder.pid):
            return True
        started = value.get("started")
        now_started = process_start(holder.pid)
        if isinstance(started, int) and now_started is not None and now_started != started:
            return True  # the id was given to another process since
        return False

    # -- taking it ---------------------------------------------------------------------------

    def _marker(self, owner):
        return "{0}{1}{2}".format(self.name, TAKEOVER_INFIX, owner)

    def _claim(self, name, holder, then, depth=0):
        """Replace the parameter ``name``, now ``holder``'s, with ``then`` (``"take"``: ours; ``"remove"``: none).

        True when this run did it. Arbitrated by the create-only marker named after ``holder.owner``: of the runs
        doing this at once, only the marker's creator goes on, and only while ``name`` is still ``holder``'s.
        """
        marker = self._marker(holder.owner)
        if not self._put(marker, self._value("takeover", replaces=holder.owner), overwrite=False):
            other = self.read(marker)
            if other is None or other.age is None or other.age <= MARKER_STALE or depth >= 3:
                return False  # another run is replacing it now: look again later
            # a run that died between creating the marker and deleting it: replace its marker the same way
            if not self._claim(marker, other, "take", depth + 1):
                return False
        try:
            current = self.read(name)
            if current is None or current.owner != holder.owner:
                return False  # released, or replaced by another run meanwhile
            if then == "remove":
                self._delete(name)
            else:
                self._put(name, self._value(HELD) if name == self.name else self._value("takeover", replaces=holder.owner),
                          overwrite=True)
                if name == self.name:
                    self.held = True
            return True
        finally:
            self._delete(marker)

    def _try(self):
        """One attempt: ``(done, Holder)``; done when the lock is ours or its holder's Invoke was interrupted."""
        if self._create():
            return True, None
        holder = self.last_holder = self.read()
        if holder is None:  # released between the create and the read: try again at once
            if self._create():
                return True, None
            holder = self.read()
            if holder is None:
                return False, None
        if holder.owner == self.token:  # a retried create that had succeeded
            self.held = True
            return True, None
        if holder.age is not None and holder.age > self.stale_after:
            if self._claim(self.name, holder, "take"):
                self.taken_over = holder
                return True, None
            return False, self.read()
        if holder.interrupted_invoke:
            return True, holder
        if holder.phase in (None, HELD) and holder.dead:  # killed before it invoked: nothing of it runs
            if self._claim(self.name, holder, "take"):
                self.taken_over = holder
                return True, None
            return False, self.read()
        return False, holder

    def acquire(self, wait_seconds):
        """Take the lock, waiting up to ``wait_seconds`` for another run to release it.

        Returns ``(True, None)`` once held, ``(False, Holder)`` when it was still held at the end, and at once
        ``(False, Holder)`` with ``Holder.interrupted_invoke`` when the Invoke of its holder was interrupted.
        """
        waiter = Waiter(timeout=wait_seconds, interval=self.poll, clock=self.clock, sleep=self.sleep)
        result = waiter.wait(self._try)
        self.waited = result.elapsed
        return self.held, result.state

    def take_over(self, holder):
        """Take the lock from ``holder`` (whose Invoke was interrupted and whose deployment ended); True when ours."""
        if self._claim(self.name, holder, "take"):
            self.taken_over = holder
            return True
        return False

    def remove(self, holder):
        """Delete ``holder``'s lock, if it is still its; True when this run deleted it."""
        return self._claim(self.name, holder, "remove")

    # -- while it is ours --------------------------------------------------------------------

    def mark_invoking(self, invoked_at, previous_deployment_id):
        """Say, just before the Invoke is sent, that it is (a process killed from here on left an Invoke running)."""
        self.invoke = {"invoked_at": iso(invoked_at), "previous_deployment_id": previous_deployment_id}
        self._put(self.name, self._value(INVOKING, **self.invoke), overwrite=True)

    def mark_interrupted(self, reason):
        """Leave the lock, saying that the Invoke of this version was interrupted, when and why (the run was stopped
        during it, and the function goes on in AWS). It is then no longer this run's to release."""
        self._put(self.name, self._value(INTERRUPTED, interrupted_at=iso(utcnow()), reason=reason, **self.invoke),
                  overwrite=True)
        self.held = False

    def release(self, force=False):
        """Delete the lock if it is still ours; True when it was. Never raises for a lock of someone else.

        ``force`` reads it back even when this run does not know it holds it (stopped while creating it).
        """
        if not self.held and not force:
            return False
        self.held = False
        holder = self.read()
        if holder is None or holder.owner != self.token:
            return False
        self._delete()
        return True


def _time(value):
    try:
        return as_utc(value)
    except (TypeError, ValueError):
        return None
