# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_watch: a stop of the run (a signal, or the controller process gone) is an exception in the module's main thread,
so that its ``finally`` runs. Real processes and real signals; every wait polls a condition, with a deadline."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.mdl.herd.plugins.module_utils import _watch

# A module stand-in: loads _watch from its file (it imports nothing of the collection), says when it is guarded,
# then waits for a stop; its finally and its handler print what happened.
SCRIPT = textwrap.dedent("""
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("_watch", {path!r})
    watch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(watch)
    controller = int(sys.argv[1]) if len(sys.argv) > 1 else None
    try:
        with watch.guarded(controller=controller):
            try:
                print("guarded", flush=True)
                time.sleep(60)
                print("never stopped", flush=True)
            finally:
                print("finally ran", flush=True)
    except watch.Interrupted as e:
        print("interrupted: " + e.reason, flush=True)
        sys.exit(3)
""").format(path=_watch.__file__)


class Child(object):
    """The stand-in, running; ``lines`` are what it printed so far."""

    def __init__(self, *args):
        self.process = subprocess.Popen([sys.executable, "-c", SCRIPT] + [str(a) for a in args], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines = []

    def wait_for(self, text, timeout=20.0):
        """Read its lines until one is ``text``; fail after ``timeout`` s or when it ended first."""
        deadline = time.monotonic() + timeout
        while text not in self.lines:
            left = deadline - time.monotonic()
            assert left > 0, "no line {0!r} after {1} s: {2}".format(text, timeout, self.lines)
            ready, dummy, dummy = select.select([self.process.stdout], [], [], left)
            if ready:
                line = self.process.stdout.readline()
                assert line, "it ended without printing {0!r}: {1}".format(text, self.lines)
                self.lines.append(line.rstrip("\n"))

    def finish(self, timeout=20.0):
        code = self.process.wait(timeout=timeout)
        self.lines.extend(line.rstrip("\n") for line in self.process.stdout.read().splitlines())
        self.process.stdout.close()
        return code


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_raises_interrupted_and_the_finally_runs(name):
    child = Child()
    child.wait_for("guarded")
    child.process.send_signal(getattr(signal, name))
    assert child.finish() == 3
    assert child.lines == ["guarded", "finally ran", "interrupted: the run was stopped ({0})".format(name)]


def test_a_watched_controller_that_ends_interrupts_within_two_seconds():
    controller = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child = Child(controller.pid)
    try:
        child.wait_for("guarded")
        controller.kill()
        controller.wait()
        gone = time.monotonic()
        child.wait_for("interrupted: the run's controller process ({0}) is gone: the run was cancelled or killed".format(
            controller.pid), timeout=10)
        assert time.monotonic() - gone < 2.5
        assert child.finish() == 3
        assert "finally ran" in child.lines
    finally:
        controller.kill()
        if child.process.poll() is None:
            child.process.kill()
            child.finish()


def test_the_controller_is_the_one_named_in_the_environment_or_the_parent_of_the_session_leader():
    assert _watch.controller_pid({_watch.CONTROLLER_PID_VARIABLE: "4242"}) == 4242
    assert _watch.controller_pid({_watch.CONTROLLER_PID_VARIABLE: "x"}) is None
    leader = os.getsid(0)
    expected = None if leader == os.getpid() else _watch.parent_of(leader)
    assert _watch.controller_pid({}) == (expected if expected and expected > 1 else None)


def test_alive_tells_a_running_process_from_an_ended_one():
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    assert _watch.alive(process.pid) is True
    process.stdin.close()
    deadline = time.monotonic() + 10
    while _watch.alive(process.pid):  # a zombie, not reaped yet, counts as ended
        assert time.monotonic() < deadline, "still alive"
        time.sleep(0.01)
    process.wait()
    assert _watch.alive(process.pid) is False


def test_a_second_signal_does_not_interrupt_the_clean_up():
    with pytest.raises(_watch.Interrupted) as stopped:
        with _watch.guarded(controller=os.getpid()):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # interrupted at once
            finally:
                os.kill(os.getpid(), signal.SIGINT)  # ignored: the clean-up goes on
                cleaned = True
    assert cleaned and stopped.value.reason == "the run was stopped (SIGTERM)"


def test_the_handlers_are_put_back_after_the_block():
    before = {name: signal.getsignal(getattr(signal, name)) for name in _watch.SIGNALS}
    with _watch.guarded(controller=os.getpid()):
        assert signal.getsignal(signal.SIGTERM) not in (before["SIGTERM"], signal.SIG_DFL)
    assert {name: signal.getsignal(getattr(signal, name)) for name in _watch.SIGNALS} == before


def test_the_watch_never_signals_once_the_block_is_over():
    """The watch thread found the controller gone just as the block ended: no SIGTERM after stop() (whose default
    action would kill the module before it printed its result)."""
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        found, go = threading.Event(), threading.Event()
        watch = _watch.Watch(controller=None, interval=0.01)

        def gone():
            found.set()
            go.wait(10)
            return "the run's controller process is gone"

        watch.gone = gone
        watch.start()
        assert found.wait(10)
        watch.stop()
        go.set()
        watch._thread.join(10)
        assert not watch._thread.is_alive()
        assert received == []
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_nothing_is_watched():
    outcome = {}

    def run():
        with _watch.guarded(controller=os.getpid()) as watch:
            outcome["thread"] = watch._thread

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert outcome == {"thread": None}


def blocked_signals(thread=None):
    """The signals ``thread`` (else the calling one) blocks, from its /proc status (SigBlk, a hex mask: bit n-1 is signal
    n). The calling thread by threading.get_native_id(): a forked test worker's main_thread() may keep its parent's id."""
    native_id = thread.native_id if thread is not None else threading.get_native_id()
    with open("/proc/self/task/{0}/status".format(native_id)) as handle:
        mask = int([line for line in handle if line.startswith("SigBlk:")][0].split()[1], 16)
    return {signum for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) if mask & (1 << (signum - 1))}


def wait_until_blocked(thread):
    deadline = time.monotonic() + 10
    while blocked_signals(thread) != {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}:
        assert time.monotonic() < deadline, "thread {0} still takes {1}".format(thread.name, blocked_signals(thread))
        time.sleep(0.01)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads each thread's signal mask in /proc")
def test_the_watch_and_the_probe_threads_leave_the_stop_signals_to_the_main_thread():
    """A process-directed signal goes to a thread that does not block it: one taken by another thread would run the
    handler only once the main thread ran Python again, after its sleep (a CI run once saw SIGINT unheard for 20 s)."""
    from ansible_collections.mdl.herd.plugins.module_utils._probe import Probe

    with _watch.guarded(controller=os.getpid()) as watch:
        wait_until_blocked(watch._thread)
        probe = Probe("http://127.0.0.1:9/", interval=0.2, fetch=lambda: ("ok", "0.176.0"))
        probe.start()
        try:
            wait_until_blocked(probe)
        finally:
            probe.stop()
        assert blocked_signals() == set()  # this thread, the main one (a Watch is started only there)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads each thread's signal mask in /proc")
def test_a_thread_blocks_the_stop_signals_from_its_first_instruction_and_its_starter_takes_them_again():
    """Blocked only once the thread ran its first line, a signal in between could still go to it."""
    seen = []
    thread = threading.Thread(target=lambda: seen.append(blocked_signals()), name="first-instruction")
    before = blocked_signals()
    _watch.start_without_stop_signals(thread.start)
    assert blocked_signals() == before == set()  # the starting thread's mask is back as it was
    thread.join(10)
    assert seen == [{signal.SIGTERM, signal.SIGINT, signal.SIGHUP}]
