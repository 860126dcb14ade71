# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module of this collection stops cleanly, and soon, when its run is stopped.

* SIGTERM, SIGINT and SIGHUP raise ``Interrupted`` in the module's main thread, so that its
  ``finally`` blocks run (the upgrade lock is released, or marked when an Invoke was under way).
  Ctrl-C or SIGTERM to ``ansible-playbook`` reaches a module that way: the worker running the
  task passes the signal on to its process group.
* A thread watches the run's controller process (``ansible-playbook``). When it is gone (for
  example AWX or ansible-runner cancelling a job: SIGKILL to ``ansible-playbook``'s process group,
  while its workers, in sessions of their own, live on), the module interrupts itself the same
  way, within ``WATCH_INTERVAL`` seconds.
* That thread, as every thread a module of the collection starts, blocks those signals from its
  first instruction (``start_without_stop_signals``), so that they reach the main thread at once.
  (Never a thread that starts processes: they would inherit the mask, and not hear a stop.)

The controller is the process named by ``MDL_HERD_CONTROLLER_PID`` in the module's environment
(the codedeploy_wait action plugin sets it), or else the parent of the module's session leader:
the task's worker, which runs in a session of its own (ansible-core 2.19 and later), is a child of
``ansible-playbook``. Without /proc (macOS) only the variable names it; a module without it then
stops on signals and on the end of the process that started it, not on the controller's end alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

CONTROLLER_PID_VARIABLE = "MDL_HERD_CONTROLLER_PID"
# The other variable codedeploy_wait's action plugin puts in its module's environment: the progress file it relays.
PROGRESS_FILE_VARIABLE = "MDL_HERD_PROGRESS_FILE"
SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")
WATCH_INTERVAL = 1.0


class Interrupted(KeyboardInterrupt):
    """The run was stopped: a signal, or its controller is gone. ``reason`` says which, in words."""

    def __init__(self, reason):
        super(Interrupted, self).__init__(reason)
        self.reason = reason

    def __str__(self):
        return self.reason


def parent_of(pid):
    """The parent process id of ``pid``, or None when it cannot be told: the process is gone, or the system has no
    /proc (macOS; a module does not start processes of its own to ask ``ps``)."""
    try:
        with open("/proc/{0}/stat".format(pid), "r") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[1])  # state, ppid, ...
    except (OSError, IndexError, ValueError):
        return None


def alive(pid):
    """True while process ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/{0}/stat".format(pid), "r") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def controller_pid(environ=None):
    """The process whose end means the run was stopped, or None when there is none to watch."""
    environ = os.environ if environ is None else environ
    value = environ.get(CONTROLLER_PID_VARIABLE)
    if value:
        try:
            return int(value)
        except ValueError:
            return None
    try:
        leader = os.getsid(0)
    except OSError:
        return None
    if leader == os.getpid():
        return None
    parent = parent_of(leader)
    return parent if parent and parent > 1 else None


def start_without_stop_signals(start):
    """Calls ``start`` (a thread's ``start``) with the stop signals blocked in the calling thread, then unblocks them
    there: the new thread inherits the mask and blocks them from its first instruction, so that the system delivers
    them to the main thread. Delivered to another thread, a signal runs its Python handler only once the main thread
    runs Python code again: asleep (a poll interval, a read), it would stop only when that ends. A signal that comes
    while they are blocked here is delivered when they are unblocked."""
    mask = getattr(signal, "pthread_sigmask", None)  # not on Windows, where modules do not run
    if mask is None:
        return start()
    previous = mask(signal.SIG_BLOCK, {getattr(signal, name) for name in SIGNALS if hasattr(signal, name)})
    try:
        return start()
    finally:
        mask(signal.SIG_SETMASK, previous)


class Watch(object):
    """Turns the stop of the run into ``Interrupted`` in the main thread (see the module's docstring).

    Only the main thread can take signals: started from another thread, a Watch does nothing.
    """

    def __init__(self, controller=None, interval=WATCH_INTERVAL):
        self.controller = controller
        self.interval = interval
        self.parent = os.getppid()
        self.reason = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._closing = False
        self._previous = {}
        self._thread = None
        self._why = None

    def gone(self):
        """Why the run is over, in words, or None while it goes on."""
        if os.getppid() != self.parent:
            return "the process that started this module ({0}) is gone".format(self.parent)
        if self.controller is not None and not alive(self.controller):
            return "the run's controller process ({0}) is gone: the run was cancelled or killed".format(self.controller)
        return None

    def _watch(self):
        while not self._stop.wait(self.interval):
            why = self.gone()
            if why is not None:
                with self._lock:  # never after stop(): the default action of SIGTERM would kill the module
                    if self._stop.is_set():
                        return
                    self._why = why
                    os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread, as a signal is
                return

    def start(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None:
                self._previous[signum] = signal.signal(signum, self._handler)
        self._thread = threading.Thread(target=self._watch, name="mdl-herd-watch", daemon=True)
        start_without_stop_signals(self._thread.start)
        return self

    def _handler(self, signum, frame):
        if self.reason is not None or self._closing:  # already stopping, or the block is over: let it finish
            return
        self.reason = self._why or "the run was stopped ({0})".format(signal.Signals(signum).name)
        raise Interrupted(self.reason)

    def stop(self):
        self._closing = True  # a signal from here on is not raised inside the clean-up of the block
        with self._lock:
            self._stop.set()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}


@contextlib.contextmanager
def guarded(controller=None, interval=WATCH_INTERVAL):
    """Within the block, a stop of the run raises ``Interrupted`` in this (the main) thread."""
    watch = Watch(controller if controller is not None else controller_pid(), interval).start()
    try:
        yield watch
    finally:
        watch.stop()
