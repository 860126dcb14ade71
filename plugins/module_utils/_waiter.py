# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that waits.

A ``Waiter`` asks a question (a ``check`` callable returning ``(done, state)``) until the
answer is yes or the time is up, on a monotonic clock. Clock and sleep are injectable so
unit tests run instantly and deterministically.
"""

from __future__ import annotations

import collections
import time

WaitResult = collections.namedtuple("WaitResult", ["ok", "state", "elapsed"])
WaitResult.__doc__ = "What a wait ended with: ``ok`` (the check said done), the last ``state``, ``elapsed`` seconds."


class Waiter(object):
    """Polls ``check`` every ``interval`` seconds for at most ``timeout`` seconds.

    ``interval`` is a number, or a callable ``interval(attempts, state)`` returning one, for
    polling that adapts to what it sees. The last sleep is cut so the wait never overruns
    ``timeout`` by more than one check.
    """

    def __init__(self, timeout, interval, clock=None, sleep=None):
        if timeout is None or timeout < 0:
            raise ValueError("timeout must be zero or more seconds, got {0!r}".format(timeout))
        self.timeout = float(timeout)
        self.interval = interval
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.started = None

    @property
    def elapsed(self):
        return 0.0 if self.started is None else self.clock() - self.started

    @property
    def remaining(self):
        return max(0.0, self.timeout - self.elapsed)

    def _interval(self, attempts, state):
        value = self.interval(attempts, state) if callable(self.interval) else self.interval
        return max(0.0, float(value))

    def wait(self, check):
        self.started = self.clock()
        attempts = 0
        while True:
            attempts += 1
            done, state = check()
            if done:
                return WaitResult(True, state, self.elapsed)
            remaining = self.remaining
            if remaining <= 0:
                return WaitResult(False, state, self.elapsed)
            self.sleep(min(self._interval(attempts, state), remaining))
