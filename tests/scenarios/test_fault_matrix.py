"""The fault matrix (tests/scenarios/matrix.py), row by row, against the sandbox, at -vvv.

Each runner provokes its row's fault, runs ``ansible-playbook mdl.herd.upgrade_herd`` as an
operator would and checks the outcome; ``test_fault`` then checks the row's counts (Invoke
calls, deployments) and that no secret shows up in any output or file of the row's runs.
"""

import contextlib
import json
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from moto.ssm.models import ssm_backends

import conftest
from conftest import invocations, kill_tree, served_version, stack_key, user_deployments
from matrix import GREEN_EVENTS, ROWS, markdown
from mdl_sandbox import upgrade_lambda

ROOT = Path(__file__).resolve().parents[2]
D = 5.0  # seconds a deployment of the matrix's stacks takes (rollbacks: half)
VERSION = "0.176.0"
FOLLOWING = r"TASK \[mdl\.herd\.herd_upgrade : Follow the Blue/Green deployment to the end\]"
RUNNERS = {}


def runs(*row_ids):
    def register(function):
        for row_id in row_ids:
            RUNNERS[row_id] = function
        return function

    return register


class Context:
    def __init__(self, sandbox, make_stack, playbook, row):
        self.sandbox, self._make_stack, self._playbook, self.row = sandbox, make_stack, playbook, row
        self.runs = []
        self.entry = None

    def stack(self, **spec):
        spec.setdefault("deployment_seconds", D)
        self.entry = self._make_stack(**spec)
        return self.entry

    def start(self, *args, **variables):
        variables.setdefault("herd_version", VERSION)
        run = self._playbook(self.entry, "-vvv", *args, **variables)
        self.runs.append(run)
        return run

    def run(self, *args, **variables):
        run = self.start(*args, **variables)
        run.code = run.finish()
        return run

    def fatal(self, run):
        """The failure the operator reads: the role's report ("Say what happened", where a failure is said in full,
        once), then the last ``fatal:`` result (one line, or at -vvv a JSON block)."""
        report = run.output.split("TASK [mdl.herd.herd_upgrade : Say what happened]", 1)[1:]
        report = report[0].split("\nTASK [", 1)[0] + " " if report else ""
        return report + self._last_fatal(run)

    def _last_fatal(self, run):
        lines = run.output.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("fatal:")]
        assert starts, run.output[-5000:]
        first = lines[starts[-1]]
        if not first.rstrip().endswith("{"):
            return first
        block = ["{"]
        for line in lines[starts[-1] + 1:]:
            block.append(line)
            if line == "}":
                break
        text = "\n".join(block)
        try:
            return "{0} {1}".format(json.loads(text).get("msg", ""), text)
        except ValueError:
            return text


def failed(ctx, run, *words):
    assert run.code != 0, run.output[-5000:]
    message = ctx.fatal(run)
    for word in words:
        assert word in message, message
    return message


def succeeded(ctx, run, version=VERSION):
    assert run.code == 0, run.output[-5000:]
    assert served_version(ctx.sandbox, ctx.entry) == version


# -- input and safety -----------------------------------------------------------------------------------
@runs("version-latest", "version-dots", "negative-timeout")
def bad_input(ctx):
    ctx.stack()
    variables = {"version-latest": {"herd_version": "latest"}, "version-dots": {"herd_version": ".."},
                 "negative-timeout": {"herd_upgrade_wait_timeout": "-5"}}[ctx.row.id]
    run = ctx.run(**variables)
    assert "nothing was read or changed in aws" in failed(ctx, run).lower()
    assert ctx.sandbox.calls.snapshot()["stacks"].get(stack_key(ctx.entry), {}) == {}


@runs("same-version-other-spelling")
def same_version(ctx):
    ctx.stack(current_version="0.176.0")
    run = ctx.run(herd_version="0.176")
    assert run.code == 0 and "HERD already serves 0.176.0; nothing to do." in run.output


@runs("downgrade")
def downgrade(ctx):
    ctx.stack(current_version="0.170.0")
    failed(ctx, ctx.run(herd_version="0.160.0"), "serves HERD 0.170.0, and the requested 0.160.0 is older",
           "herd_upgrade_allow_downgrade")


@runs("unpublished")
def unpublished(ctx):
    ctx.stack(faults={"unpublished_versions": ["0.199.0"]})
    failed(ctx, ctx.run(herd_version="0.199.0"), "HERD 0.199.0 is not published",
           "/org/finra/herd/herd-war/0.199.0/herd-war-0.199.0.war answered 404")


# -- reaching AWS -------------------------------------------------------------------------------------------
@runs("missing-function")
def missing_function(ctx):
    entry = ctx.stack()
    ctx.sandbox.client("lambda", entry["aws_region"]).delete_function(FunctionName=entry["upgrade_function_name"])
    failed(ctx, ctx.run(), "The upgrade Lambda {0} does not exist".format(entry["upgrade_function_name"]),
           "check mdl_instance_name, mdl_environment and region")


@runs("wrong-region")
def wrong_region(ctx):
    ctx.stack()
    failed(ctx, ctx.run(herd_upgrade_aws_region="us-west-2"), "us-west-2")


@runs("no-credentials")
def no_credentials(ctx):
    ctx.stack()
    run = ctx.run(env_overrides={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None})
    message = failed(ctx, run)
    assert "credentials" in message.lower(), message


@runs("expired-credentials")
def expired_credentials(ctx):
    ctx.stack(faults={"expired_credentials": True})
    failed(ctx, ctx.run(), "ExpiredToken")


@runs("access-denied-invoke")
def access_denied(ctx):
    ctx.stack(faults={"deny": ["lambda:Invoke"]})
    failed(ctx, ctx.run(), "Not allowed to invoke", "nothing was started")


# -- the Lambda ---------------------------------------------------------------------------------------------
@runs("lambda-raises")
def lambda_raises(ctx):
    ctx.stack(faults={"lambda_error": "Unknown error: the staging bucket does not exist"})
    message = failed(ctx, ctx.run(), "failed with Exception: Unknown error: the staging bucket does not exist",
                     "Running this again")
    assert '"changed": true' in message


@runs("log-over-4kb")
def log_over_4kb(ctx):
    ctx.stack(faults={"lambda_log_padding_bytes": 6000})
    run = ctx.run()
    succeeded(ctx, run)
    assert '"deployment_id_source": "ssm"' in run.output


@runs("invoke-throttled")
def invoke_throttled(ctx):
    ctx.stack(faults={"throttle": {"lambda:Invoke": 1}})
    failed(ctx, ctx.run(), "TooManyRequestsException", "never retried automatically")
    succeeded(ctx, ctx.run())


@runs("invoke-answer-lost")
def invoke_answer_lost(ctx):
    # the function's timeout is 5 s, so the read timeout is 65 s; the answer comes after 70 s
    entry = ctx.stack(function_timeout=5, faults={"lambda_response_delay_seconds": 70})
    ctx.sandbox.hold(stack_key(entry), "BeforeAllowTraffic")  # still under way when the re-run comes
    message = failed(ctx, ctx.run(), "got no complete answer within 65 s", "it was not retried")
    assert '"changed": true' in message
    second = ctx.start()
    second.wait_for_line(FOLLOWING)
    ctx.sandbox.release(stack_key(entry))
    second.code = second.finish()
    succeeded(ctx, second)
    assert "(joined)" in second.output


# -- throttling and HERD ------------------------------------------------------------------------------------
@runs("reads-throttled")
def reads_throttled(ctx):
    ctx.stack(faults={"throttle": {"ssm:GetParameter": 3, "codedeploy:GetDeployment": 3,
                                   "codedeploy:ListDeployments": 2, "cloudformation:DescribeStacks": 2}})
    succeeded(ctx, ctx.run())


@runs("herd-503-at-switch")
def herd_503(ctx):
    ctx.stack(faults={"herd_unavailable_seconds": 2})
    succeeded(ctx, ctx.run())


THROTTLE = {"requests": 3, "status": [429, 503], "retry_after": 1}


def task_result(run, task):
    """The result of the first run of ``task`` (its name's start), as -vvv prints it: a dict."""
    lines = run.output.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("TASK [mdl.herd.herd_upgrade : " + task)]
    assert header, "no task {0!r} in:\n{1}".format(task, run.output[-5000:])
    for i in range(header[0] + 1, len(lines)):
        if lines[i].startswith(("ok: [", "changed: [", "fatal: [")) and lines[i].rstrip().endswith("{"):
            block = ["{"]
            for line in lines[i + 1:]:
                block.append(line)
                if line == "}":
                    return json.loads("\n".join(block))
        assert not lines[i].startswith("TASK ["), "task {0!r} printed no result".format(task)
    raise AssertionError("task {0!r} printed no result".format(task))


def zero_downtime(run):
    return task_result(run, "Follow the Blue/Green deployment to the end")["zero_downtime"]


@runs("herd-refused-at-switch")
def herd_refused(ctx):
    window = 2.0
    ctx.stack(deployment_seconds=10, faults={"herd_refused_seconds": window})
    run = ctx.run(herd_upgrade_probe_interval="0.25")
    succeeded(ctx, run)
    report = zero_downtime(run)
    kinds = report["failures_by_kind"]
    assert kinds["refused"] >= 3 and kinds["refused"] == report["failures"], report
    assert window - 0.5 <= report["longest_outage_seconds"] <= window + 1, report
    assert report["versions_seen"] == ["0.170.0", VERSION], report
    assert "{0} failed, longest stretch without a good answer {1} s".format(
        report["failures"], report["longest_outage_seconds"]) in run.output


@runs("herd-throttled-first-requests")
def herd_throttled_first(ctx):
    ctx.stack(faults={"herd_throttle": THROTTLE})
    run = ctx.run()
    succeeded(ctx, run)
    assert task_result(run, "Read the version HERD serves now")["served"]["attempts"] == 4
    assert ctx.sandbox.live_state(stack_key(ctx.entry))["live"]["herd_throttled_answers"] == 3


@runs("herd-throttled-after-switch")
def herd_throttled_after_switch(ctx):
    ctx.stack(faults={"herd_throttle": dict(THROTTLE, **{"from": "switch"})})
    run = ctx.run(herd_upgrade_probe="false")
    succeeded(ctx, run)
    assert task_result(run, "Check that HERD serves")["attempts"] == 4
    assert ctx.sandbox.live_state(stack_key(ctx.entry))["live"]["herd_throttled_answers"] == 3


@runs("herd-401")
def herd_401(ctx):
    entry = ctx.stack()
    ctx.wrong_password = "Wrong-Herd-Password-3e7a"
    message = failed(ctx, ctx.run(herd_upgrade_username=entry["herd_username"], herd_upgrade_password=ctx.wrong_password),
                     "401")
    assert entry["herd_https_base_url"].split("//")[1] in message


@runs("self-signed")
def self_signed(ctx):
    ctx.stack()
    message = failed(ctx, ctx.run(herd_upgrade_ca_path=""))
    assert "certificate" in message.lower() or "tls" in message.lower(), message


# -- deployments ----------------------------------------------------------------------------------------------
def _fail_at(event):
    def runner(ctx):
        ctx.stack(current_version="0.170.0", faults={"fail_at_event": event})
        message = failed(ctx, ctx.run(), "event: {0} failed on".format(event), "HERD serves 0.170.0 now.")
        rollback = [d for d in ctx.sandbox.live_state(stack_key(ctx.entry))["live"]["deployments"]
                    if d["creator"] == "codeDeployRollback"][0]
        assert rollback["status"] == "Succeeded"
        assert "Rollback deployment {0} succeeded".format(rollback["deployment_id"]) in message

    return runner


for _event in GREEN_EVENTS[1:]:
    runs("fail-at-" + _event)(_fail_at(_event))


@runs("fail-at-ApplicationStop")
def application_stop_fails(ctx):
    ctx.stack(current_version="0.170.0", faults={"fail_at_event": "ApplicationStop"})
    succeeded(ctx, ctx.run())


@runs("stopped-by-someone")
def stopped_by_someone(ctx):
    entry = ctx.stack(current_version="0.170.0")
    ctx.sandbox.hold(stack_key(entry), "ValidateService")
    run = ctx.start()
    held = ctx.sandbox.wait_held(stack_key(entry), 120)
    run.wait_for_line(FOLLOWING)
    ctx.sandbox.client("codedeploy", entry["aws_region"]).stop_deployment(
        deploymentId=held["deployment_id"], autoRollbackEnabled=True)
    run.code = run.finish()
    failed(ctx, run, "stopped", "HERD serves 0.170.0 now.")


@runs("timeout-stop", "timeout-rollback")
def timeout(ctx):
    action = ctx.row.id.split("-")[1]
    ctx.stack(current_version="0.170.0", deployment_seconds=40)
    run = ctx.run(herd_upgrade_wait_timeout="4", herd_upgrade_on_timeout=action)
    failed(ctx, run, "did not succeed")
    deployments = ctx.sandbox.live_state(stack_key(ctx.entry))["live"]["deployments"]
    mine = [d for d in deployments if d["creator"] == "user"][0]
    assert mine["status"] == "Stopped"
    rollbacks = [d for d in deployments if d["creator"] == "codeDeployRollback"]
    assert bool(rollbacks) == (action == "rollback")


def _interrupted(how):
    def runner(ctx):
        entry = ctx.stack()
        ctx.sandbox.hold(stack_key(entry), "ValidateService")
        first = ctx.start()
        held = ctx.sandbox.wait_held(stack_key(entry), 120)
        first.wait_for_line(FOLLOWING)
        if how == "sigkill":
            kill_tree(first)
        else:
            os.kill(first.process.pid, signal.SIGINT if how == "sigint" else signal.SIGTERM)
            first.finish(timeout=60)
        rerun_joins(ctx, held)

    return runner


def rerun_joins(ctx, held):
    """The same command run again while the deployment stands held: it joins it and follows it to its end."""
    second = ctx.start()
    second.wait_for_line(FOLLOWING)
    ctx.sandbox.release(stack_key(ctx.entry))
    second.code = second.finish()
    succeeded(ctx, second)
    assert held["deployment_id"] in second.output and "(joined)" in second.output


for _how in ("sigint", "sigterm", "sigkill"):
    runs(_how + "-rerun")(_interrupted(_how))


# -- stopped while waiting for the lock, holding it, during the Invoke ---------------------------------------
STOPS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def stop_tree(run, how):
    """Send ``how`` to every process of the run (ansible-playbook, its workers in their own sessions, the module);
    SIGKILL as a lost controller loses them. Then no process of it may run for more than 5 s."""
    if how == "SIGKILL":
        kill_tree(run)
        return
    table = conftest._process_table()
    tree = conftest._tree(run.process.pid, table)
    # the module first, its parents after: sent one process at a time, parents first, the shell that started the module
    # could die before the module heard the signal, and the module's watch, which asks every second whether that
    # process still lives, then stop it for that reason ("the process that started this module ... is gone"), not
    # for the signal, as a loaded CI machine once showed
    for pid in reversed(tree):
        try:
            os.kill(pid, STOPS[how])
        except ProcessLookupError:
            pass
    stopped = time.monotonic()
    run.finish(timeout=30)
    gone_within_5_s(tree, stopped, how)


def gone_within_5_s(tree, since, what):
    """Every process of ``tree`` ends (a zombie counts as ended) within 5 s of ``since``, after ``what``."""
    while True:
        table = conftest._process_table()
        alive = [p for p in tree if p in table and not table[p][1].startswith("Z")]
        if not alive:
            return
        assert time.monotonic() - since < 5, "still running 5 s after {0}: {1}".format(what, alive)
        time.sleep(0.05)


def until(condition, what, timeout=120.0):
    """Poll ``condition()`` until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "no {0} after {1} s".format(what, timeout)
        time.sleep(0.05)


class Lock:
    """The stack's upgrade lock, as the sandbox holds it, and the calls made on it."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.name = "/app/MDL/{0}/{1}/HERD/UpgradeLock".format(ctx.entry["mdl_instance_name"], ctx.entry["mdl_environment"])
        self.ssm = ctx.sandbox.client("ssm", ctx.entry["aws_region"])

    def value(self):
        try:
            return json.loads(self.ssm.get_parameter(Name=self.name)["Parameter"]["Value"])
        except self.ssm.exceptions.ParameterNotFound:
            return None

    def reads(self):
        snapshot = self.ctx.sandbox.calls.snapshot()
        return snapshot["parameters_read"].get(stack_key(self.ctx.entry), {}).get(self.name, 0)

    def creates(self):
        return self.ctx.sandbox.calls.snapshot()["stacks"].get(stack_key(self.ctx.entry), {}).get("ssm:PutParameter", 0)


class Gate:
    """Holds one kind of request of the stack where it stands (``arm``), until ``open``: a slow AWS answer."""

    def __init__(self):
        self.reached, self.go = threading.Event(), threading.Event()
        self.armed = False

    def arm(self):
        self.reached.clear()
        self.go.clear()
        self.armed = True

    def hold_here(self):
        if self.armed:
            self.armed = False
            self.reached.set()
            self.go.wait(120)

    def wait_reached(self, timeout=120):
        assert self.reached.wait(timeout), "the run never reached the gate"

    def open(self):
        self.go.set()


@contextlib.contextmanager
def slow_read_under_the_lock(ctx, lock):
    """The read of HERD/MostRecentDeploymentId (the last one before the Invoke) is held while the lock exists."""
    gate = Gate()
    calls = ctx.sandbox.calls
    original = calls.record
    name = lock.name.replace("HERD/UpgradeLock", "HERD/MostRecentDeploymentId")
    backend = ssm_backends[ctx.sandbox.account_id][ctx.entry["aws_region"]]

    def record(call, key):
        original(call, key)
        if (not call.internal and call.key == "ssm:GetParameter" and call.params.get("Name") == name
                and backend.get_parameter(lock.name) is not None):
            gate.hold_here()

    calls.record = record
    try:
        yield gate
    finally:
        calls.record = original
        gate.open()


@contextlib.contextmanager
def slow_lambda(ctx):
    """The stack's upgrade Lambda waits at its start until the gate opens (the Invoke is under way meanwhile)."""
    gate = Gate()
    original = upgrade_lambda._UpgradeRun.handler
    instance = ctx.entry["mdl_instance_name"]

    def handler(self, event):
        if self.instance_name == instance:
            gate.hold_here()
        return original(self, event)

    upgrade_lambda._UpgradeRun.handler = handler
    try:
        yield gate
    finally:
        upgrade_lambda._UpgradeRun.handler = original
        gate.open()


@runs("stop-waiting-for-lock")
def stop_waiting_for_lock(ctx):
    ctx.stack()
    lock = Lock(ctx)
    other = {"owner": "t-other-run", "host": "another-controller", "pid": 4242, "version": "0.177.0", "phase": "held",
             "by": "mdl.herd"}
    lock.ssm.put_parameter(Name=lock.name, Value=json.dumps(other), Type="String")
    for how in ("SIGINT", "SIGTERM", "SIGKILL"):
        reads = lock.reads()
        run = ctx.start()
        until(lambda: lock.reads() > reads, "read of the lock by the run")  # it found the lock held: it waits
        stop_tree(run, how)
        assert lock.value() == other, how
        assert invocations(ctx.sandbox, ctx.entry) == 0
    lock.ssm.delete_parameter(Name=lock.name)  # the other run released it
    succeeded(ctx, ctx.run())
    assert lock.value() is None


@runs("stop-holding-lock")
def stop_holding_lock(ctx):
    ctx.stack()
    lock = Lock(ctx)
    with slow_read_under_the_lock(ctx, lock) as gate:
        for how in ("SIGINT", "SIGTERM", "SIGKILL"):
            gate.arm()
            run = ctx.start()
            gate.wait_reached()
            held = lock.value()
            assert held["phase"] == "held" and held["version"] == VERSION
            stop_tree(run, how)
            gate.open()
            assert invocations(ctx.sandbox, ctx.entry) == 0
            if how != "SIGKILL":
                assert lock.value() is None, how
    left = lock.value()  # SIGKILL: no clean-up could run
    assert (left["phase"], left["host"], left["pid"]) == ("held", socket.gethostname(), held["pid"])
    rerun = ctx.run(herd_upgrade_lock_wait="600")
    succeeded(ctx, rerun)
    said = "Took over the upgrade lock SSM {0} of stack {1} at once, held by {2} (process {3})".format(
        lock.name, stack_key(ctx.entry), socket.gethostname(), held["pid"])
    assert "".join(said.split()) in "".join(rerun.output.split())  # however the warning was wrapped
    assert task_result(rerun, "Read the version HERD serves now")["lock_waited_seconds"] < 2  # not one poll (2 s)
    assert lock.value() is None


def _interrupt_invoke(ctx, gate, how, version):
    """A run for ``version`` stopped by ``how`` while its Invoke is held in the Lambda (``gate``)."""
    gate.arm()
    run = ctx.start(herd_version=version)
    gate.wait_reached()
    stop_tree(run, how)


def _rerun_joins(ctx, lock, gate, version):
    """A re-run for ``version`` while the interrupted Invoke's function still runs: joins its deployment once it appears."""
    reads = lock.reads()
    rerun = ctx.start(herd_version=version, herd_upgrade_lock_wait="600")
    until(lambda: lock.reads() > reads, "read of the lock by the re-run")  # it found the interrupted Invoke's lock
    gate.open()  # the function goes on, and creates its deployment
    rerun.code = rerun.finish()
    succeeded(ctx, rerun, version)
    assert "(joined)" in rerun.output
    invoke = task_result(rerun, "Read the version HERD serves now")
    assert invoke["attached"] is True and invoke["interrupted_invoke"]["lock_removed"] is True, invoke
    assert invoke["lock_waited_seconds"] < 60, invoke
    assert lock.value() is None


@runs("stop-during-invoke")
def stop_during_invoke(ctx):
    ctx.stack()
    lock = Lock(ctx)
    for how, version, other in (("SIGINT", VERSION, "0.177.0"), ("SIGTERM", "0.177.0", None)):
        with slow_lambda(ctx) as gate:
            _interrupt_invoke(ctx, gate, how, version)
            left = lock.value()
            assert (left["phase"], left["version"], left["reason"]) == (
                "interrupted", version, "the run was stopped ({0})".format(how)), left
            assert left["invoked_at"] and left["interrupted_at"]
            if other:
                refused = ctx.run(herd_version=other)
                failed(ctx, refused, "says that a run was stopped during its Invoke",
                       "for HERD {0}, sent at ".format(version), "Nothing was invoked for HERD {0}".format(other),
                       "aws ssm delete-parameter --name {0}".format(lock.name))
            _rerun_joins(ctx, lock, gate, version)


@runs("sigkill-during-invoke")
def sigkill_during_invoke(ctx):
    ctx.stack()
    lock = Lock(ctx)
    with slow_lambda(ctx) as gate:
        _interrupt_invoke(ctx, gate, "SIGKILL", VERSION)
        left = lock.value()
        assert (left["phase"], left["version"], left["host"]) == ("invoking", VERSION, socket.gethostname()), left
        refused = ctx.run(herd_version="0.177.0")
        failed(ctx, refused, "says that a run was stopped during its Invoke", "for HERD {0}".format(VERSION),
               "its process on {0} no longer exists".format(socket.gethostname()))
        _rerun_joins(ctx, lock, gate, VERSION)


def cancel_job(run):
    """ansible-runner's cancel (AWX's, without an execution environment's container): SIGKILL to the process group
    it started, ansible-playbook's. Then no process of the run (found by parent links just before) may run 5 s on."""
    tree = conftest._tree(run.process.pid, conftest._process_table())
    assert len(tree) > 2, tree  # ansible-playbook, a worker, the module's processes
    os.killpg(os.getpgid(run.process.pid), signal.SIGKILL)
    gone_within_5_s(tree, time.monotonic(), "the cancel")


def codedeploy_reads(ctx):
    calls = ctx.sandbox.calls.snapshot()["stacks"].get(stack_key(ctx.entry), {})
    return sum(n for name, n in calls.items() if name.startswith("codedeploy:"))


@runs("cancel-during-wait")
def cancel_during_wait(ctx):
    entry = ctx.stack()
    ctx.sandbox.hold(stack_key(entry), "ValidateService")
    first = ctx.start()
    held = ctx.sandbox.wait_held(stack_key(entry), 120)
    assert held is not None, first.output
    first.wait_for_line(FOLLOWING)
    # the wait's module runs: it has said where the deployment is (the task's header comes before its processes start)
    first.wait_for_line(r"^{0}: d-[A-Z0-9]{{9}} ".format(re.escape(stack_key(entry))))
    cancel_job(first)
    reads = codedeploy_reads(ctx)
    time.sleep(6)  # longer than the wait's poll interval (5 s): a module still polling would show here
    assert codedeploy_reads(ctx) == reads, "CodeDeploy was still read after the cancel"
    rerun_joins(ctx, held)


@runs("cancel-waiting-for-lock")
def cancel_waiting_for_lock(ctx):
    ctx.stack()
    lock = Lock(ctx)
    other = {"owner": "t-other-run", "host": "another-controller", "pid": 4242, "version": VERSION, "phase": "held",
             "by": "mdl.herd"}
    lock.ssm.put_parameter(Name=lock.name, Value=json.dumps(other), Type="String")
    reads = lock.reads()
    run = ctx.start(herd_upgrade_lock_wait="300")
    until(lambda: lock.reads() > reads + 1, "second read of the lock by the run")  # it waits for the lock
    cancel_job(run)
    assert lock.value() == other
    assert invocations(ctx.sandbox, ctx.entry) == 0


@runs("concurrent-same", "concurrent-different")
def concurrent(ctx):
    ctx.stack(faults={"lambda_delay_seconds": 3})
    versions = ("0.176.0", "0.176.0") if ctx.row.id == "concurrent-same" else ("0.176.0", "0.177.0")
    started = [ctx.start(herd_version=version) for version in versions]
    codes = [run.finish() for run in started]
    if ctx.row.id == "concurrent-same":
        assert codes == [0, 0], [run.output[-3000:] for run in started]
        assert sum("(joined)" in run.output for run in started) == 1
        return
    assert sorted(code == 0 for code in codes) == [False, True], [run.output[-3000:] for run in started]
    winner = versions[codes.index(0)]
    loser_run = started[1 - codes.index(0)]
    loser_run.code = codes[1 - codes.index(0)]
    failed(ctx, loser_run, "already deploying HERD {0}".format(winner))
    assert [d["installed_version"] for d in user_deployments(ctx.sandbox, ctx.entry)] == [winner]


# -- the table and its rows -------------------------------------------------------------------------------------
def secrets_of(ctx):
    endpoints = ctx.sandbox.endpoints()
    found = {"AWS secret key": conftest.AWS_SECRET_ACCESS_KEY, "AWS session token": conftest.AWS_SESSION_TOKEN,
             "HERD admin password": ctx.entry["herd_password"], "Maven password": endpoints["maven_password"]}
    if getattr(ctx, "wrong_password", None):
        found["HERD password given"] = ctx.wrong_password
    return found


def leaks(ctx):
    """Every (secret, where) found in the row's outputs and in the files its runs wrote."""
    found = []
    texts = [("output of run {0}".format(i + 1), run.output) for i, run in enumerate(ctx.runs)]
    for run in ctx.runs[:1]:
        for path in Path(run.tmp_path).rglob("*"):
            if path.is_file():
                texts.append((str(path), path.read_text(errors="replace")))
    for name, secret in secrets_of(ctx).items():
        for where, text in texts:
            if secret and secret in text:
                found.append((name, where))
    return found


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_fault(sandbox, make_stack, playbook, row):
    ctx = Context(sandbox, make_stack, playbook, row)
    RUNNERS[row.id](ctx)
    assert invocations(sandbox, ctx.entry) == row.invokes
    deployments = user_deployments(sandbox, ctx.entry)
    assert len(deployments) == row.deployments, deployments
    assert leaks(ctx) == []


def test_every_row_has_a_runner_and_every_runner_a_row():
    assert sorted(RUNNERS) == sorted(row.id for row in ROWS)
    assert len({row.id for row in ROWS}) == len(ROWS)


def test_the_published_table_is_the_suites():
    published = (ROOT / "docs" / "reliability.md").read_text()
    assert published == markdown(), "docs/reliability.md is stale: run make reliability-doc"
    readme = (ROOT / "README.md").read_text()
    assert "the fault matrix: {0} faults".format(len(ROWS)) in readme, "README.md's fault count is not {0}".format(len(ROWS))
