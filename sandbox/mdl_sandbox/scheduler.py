"""Run actions at given moments, from a background thread and on demand.

The deployment driver schedules the side effects of a deployment (HERD switching to the new
version, a rollback starting, the replaced instance being terminated) at exact times. A
thread runs each one when its time comes; every request the sandbox answers first calls
:meth:`Scheduler.run_due`, so an answer never shows a state whose side effects have not
happened yet, however late the thread is.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, List, Optional, Tuple


class Handle:
    """A scheduled action; :meth:`cancel` keeps it from running."""

    __slots__ = ("due", "action", "cancelled")

    def __init__(self, due: float, action: Callable[[float], None]):
        self.due = due
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Runs ``action(due)`` for each scheduled action once ``clock() >= due``, in time order.

    :attr:`lock` is re-entrant and held while actions run; the CodeDeploy emulation holds
    it too while it reads or changes deployments, so the two never see each other half-done.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._queue: List[Tuple[float, int, Handle]] = []
        self._counter = itertools.count()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self.errors: List[BaseException] = []

    def at(self, due: float, action: Callable[[float], None]) -> Handle:
        handle = Handle(due, action)
        with self._changed:
            heapq.heappush(self._queue, (due, next(self._counter), handle))
            self._changed.notify()
        return handle

    def run_due(self, now: Optional[float] = None) -> None:
        """Run every action due at ``now`` (default: the clock) that has not run yet."""
        with self.lock:
            now = self.clock() if now is None else now
            while self._queue and self._queue[0][0] <= now:
                _, _, handle = heapq.heappop(self._queue)
                if handle.cancelled:
                    continue
                try:
                    handle.action(handle.due)
                except Exception as error:  # keep the driver alive; keep the error for tests
                    self.errors.append(error)

    def _loop(self) -> None:
        with self._changed:
            while not self._stopping:
                while self._queue and self._queue[0][2].cancelled:
                    heapq.heappop(self._queue)
                delay = self._queue[0][0] - self.clock() if self._queue else None
                if delay is not None and delay <= 0:
                    self.run_due()
                else:
                    self._changed.wait(timeout=delay)

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="mdl-sandbox-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
