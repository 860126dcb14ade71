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
* its value is JSON: a random owner token, the controller's host name, the version and the time;
* its age is measured on AWS's clock (the parameter's ``LastModifiedDate`` against the ``Date``
  of the answer that read it), never the local one;
* it is held only around the invoke and released in every outcome, by deleting it after reading
  back that the token is ours;
* a lock older than ``stale_after`` (the Invoke's read timeout: no invoke can still be running)
  is taken over: deleted, then created again (the create still arbitrates between two runs
  taking over at once).
"""

from __future__ import annotations

import json
import secrets
import socket

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import BotoCoreError, ClientError
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, aws_date, iso, utcnow
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter

LOCK_PARAMETER = "HERD/UpgradeLock"
# Seconds between two looks at a lock held by another run.
POLL_SECONDS = 2.0


class LockError(Exception):
    """The lock could not be read, taken or released (an AWS error); ``exception`` is botocore's."""

    def __init__(self, msg, exception):
        super(LockError, self).__init__(msg)
        self.msg = msg
        self.exception = exception


class Holder(object):
    """Who holds the lock, as its value says, and how long it has (seconds on AWS's clock)."""

    __slots__ = ("owner", "host", "version", "since", "age")

    def __init__(self, owner=None, host=None, version=None, since=None, age=None):
        self.owner = owner
        self.host = host
        self.version = version
        self.since = since
        self.age = age

    def describe(self):
        return "held by {0} for HERD {1} since {2} ({3})".format(
            self.host or "an unknown controller", self.version or "an unknown version", self.since or "an unknown time",
            "{0:.0f} s ago".format(self.age) if self.age is not None else "age unknown")

    def as_dict(self):
        return dict(host=self.host, version=self.version, since=self.since,
                    age_seconds=round(self.age, 1) if self.age is not None else None)


class UpgradeLock(object):
    """The invoke lock of one stack; ``ssm`` is a client from ``_aws.client``."""

    def __init__(self, ssm, stack, requested_version, stale_after, host=None, token=None, clock=None, sleep=None,
                 poll=POLL_SECONDS):
        self.ssm = ssm
        self.name = stack.parameter(LOCK_PARAMETER)
        self.requested_version = requested_version
        self.stale_after = float(stale_after)
        self.host = host or socket.gethostname()
        self.token = token or secrets.token_hex(16)
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.held = False
        self.taken_over = None  # the Holder of a stale lock this run took over
        self.waited = 0.0

    def _value(self):
        return json.dumps({"owner": self.token, "host": self.host, "version": self.requested_version,
                           "time": iso(utcnow()), "by": "mdl.herd"}, sort_keys=True)

    def _ssm(self, action, call, expected, **kwargs):
        """``(answer, None)``, or ``(None, code)`` for the ``expected`` error code; any other error is a LockError."""
        try:
            return call(Name=self.name, aws_retry=True, **kwargs), None
        except is_boto3_error_code(expected):
            return None, expected
        except (ClientError, BotoCoreError) as e:
            raise LockError("Could not {0} the SSM parameter {1} (the upgrade lock)".format(action, self.name), e)

    def _create(self):
        """True when this run created the lock (SSM refuses with ParameterAlreadyExists when it exists)."""
        dummy, refused = self._ssm("create", self.ssm.put_parameter, "ParameterAlreadyExists", Value=self._value(),
                                   Type="String", Overwrite=False,
                                   Description="mdl.herd: one upgrade invoke at a time on this stack")
        return refused is None

    def read(self):
        """The Holder of the lock now, or None when there is no lock."""
        response, missing = self._ssm("read", self.ssm.get_parameter, "ParameterNotFound")
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
        return Holder(value.get("owner"), value.get("host"), value.get("version"), value.get("time") or iso(changed), age)

    def _delete(self):
        self._ssm("delete", self.ssm.delete_parameter, "ParameterNotFound")

    def _try(self):
        """One attempt: ``(True, None)`` when the lock is ours now, else ``(False, its Holder)``."""
        if self._create():
            return True, None
        holder = self.read()
        if holder is None:  # released between the create and the read: try again at once
            return (True, None) if self._create() else (False, self.read())
        if holder.owner == self.token:  # a retried create that had succeeded
            return True, None
        if holder.age is not None and holder.age > self.stale_after:
            self._delete()
            if self._create():
                self.taken_over = holder
                return True, None
            return False, self.read()
        return False, holder

    def acquire(self, wait_seconds):
        """Take the lock, waiting up to ``wait_seconds`` for another run to release it.

        Returns ``(True, None)`` once held, or ``(False, Holder)`` when it was still held at the end.
        """
        waiter = Waiter(timeout=wait_seconds, interval=self.poll, clock=self.clock, sleep=self.sleep)
        result = waiter.wait(self._try)
        self.waited = result.elapsed
        self.held = result.ok
        return result.ok, result.state

    def release(self):
        """Delete the lock if it is still ours; True when it was. Never raises for a lock of someone else."""
        if not self.held:
            return False
        self.held = False
        holder = self.read()
        if holder is None or holder.owner != self.token:
            return False
        self._delete()
        return True
