"""Fixtures of the scenario suite: ansible-playbook, as users run it, against an in-process sandbox.

Each pytest process (xdist worker) runs one sandbox (moto keeps its state in module globals);
every test creates stacks of its own. ``playbook(...)`` starts ``ansible-playbook`` on the
installed collection tree (ANSIBLE_COLLECTIONS_PATH, set by ``make scenarios``) with the
sandbox's endpoint in the environment, as a user's shell would have it.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from mdl_sandbox import Sandbox, StackSpec

DEPLOYMENT_SECONDS = 8.0
AWS_ACCESS_KEY_ID = "ASIAMDLHERDSCENARIOS"
AWS_SECRET_ACCESS_KEY = "mdlHerdScenarioSecretKey-5f2c9a71e0d4"
AWS_SESSION_TOKEN = "mdlHerdScenarioSessionToken-8b31d6c4f9e2"
_names = itertools.count(1)


class Run:
    """One ansible-playbook process; its output is collected line by line as it comes."""

    def __init__(self, command: List[str], env: Dict[str, str], cwd: Path):
        self.command = command
        self.lines: List[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(command, env=env, cwd=str(cwd), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace",
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 120.0) -> str:
        """Block until a line matches ``pattern`` (a regex); fail if the run ends or time runs out first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                if not self._reader.is_alive():
                    raise AssertionError("the run ended without a line matching {0!r}:\n{1}".format(
                        pattern, "\n".join(self.lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line matching {0!r} after {1} s:\n{2}".format(
                        pattern, timeout, "\n".join(self.lines)))
                self._changed.wait(timeout=left)

    def finish(self, timeout: float = 300.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code


def _process_table() -> Dict[int, tuple]:
    """pid -> (ppid, state) of every process, from ps."""
    table = {}
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat="], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        pid, ppid, state = line.split(None, 2)
        table[int(pid)] = (int(ppid), state.strip())
    return table


def _tree(root: int, table: Dict[int, tuple]) -> List[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(p for p, (ppid, _) in table.items() if ppid == pid and p not in found)
    return found


def kill_tree(run: Run) -> List[int]:
    """Kill ansible-playbook and every process it started, as a lost controller would lose them.

    Its workers detach into sessions of their own, so a process group kill would leave them
    running: freeze the whole tree (found by parent links) until it stops growing, then kill
    it, and check that nothing but zombies is left.
    """
    frozen: List[int] = []
    while True:
        tree = [p for p in _tree(run.process.pid, _process_table()) if p not in frozen]
        if not tree:
            break
        for pid in tree:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            frozen.append(pid)
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run.finish(timeout=30)
    deadline = time.monotonic() + 10
    while True:
        table = _process_table()
        alive = [p for p in frozen if p in table and not table[p][1].startswith("Z")]
        if not alive:
            return frozen
        if time.monotonic() > deadline:
            raise AssertionError("still running after SIGKILL: {0}".format(alive))
        time.sleep(0.05)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with Sandbox(workdir=tmp_path_factory.mktemp("sandbox"), deployment_seconds=DEPLOYMENT_SECONDS) as running:
        yield running
    assert not running.scheduler.errors, running.scheduler.errors


@pytest.fixture
def make_stack(sandbox):
    """``make_stack(**spec)``: a new stack with a unique instance name; returns its entry."""

    def make(**spec):
        spec.setdefault("mdl_instance_name", "sc{0}w{1}".format(next(_names), os.environ.get("PYTEST_XDIST_WORKER", "0")))
        spec.setdefault("mdl_environment", "DEV")
        spec.setdefault("current_version", "0.170.0")
        return sandbox.add_stack(StackSpec.from_dict(spec))

    return make


@pytest.fixture
def playbook(sandbox, tmp_path):
    """``playbook(entry, *extra_args, name="mdl.herd.upgrade_herd", **extra_vars)``: start a run; returns a Run."""
    endpoints = sandbox.endpoints()
    env = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(name, None)
    env.update(AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
               AWS_EC2_METADATA_DISABLED="true")
    env.update(
        AWS_ENDPOINT_URL=endpoints["aws_endpoint_url"],
        # distinctive values (the sandbox accepts any): the fault matrix searches every output for them
        AWS_ACCESS_KEY_ID=AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN=AWS_SESSION_TOKEN,
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        PYTHONUNBUFFERED="1",
    )
    runs: List[Run] = []

    def start(entry, *args: str, name: str = "mdl.herd.upgrade_herd", env_overrides: Optional[Dict[str, Optional[str]]] = None,
              **variables) -> Run:
        """A run for the stack ``entry`` (from -e), or, with ``entry=None``, for the stacks of an inventory (in args)."""
        region = entry["aws_region"] if entry else endpoints["aws_region"]
        run_env = dict(env, AWS_REGION=region, AWS_DEFAULT_REGION=region)
        for key, value in (env_overrides or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        command = ["ansible-playbook", name]
        if entry:
            command += ["-e", "mdl_instance_name={0}".format(entry["mdl_instance_name"]),
                        "-e", "mdl_environment={0}".format(entry["mdl_environment"])]
        command += ["-e", "herd_upgrade_ca_path={0}".format(endpoints["herd_ca_path"]),
                   "-e", "herd_upgrade_verify_delay=1",
                   "-e", "herd_upgrade_artifact_repository={0}".format(endpoints["maven_repository_url"])]
        for key, value in variables.items():
            command += ["-e", "{0}={1}".format(key, value)]
        command += list(args)
        run = Run(command, run_env, tmp_path)
        run.tmp_path = tmp_path
        runs.append(run)
        return run

    yield start
    for run in runs:  # a test that failed half-way: leave nothing running
        if run.process.poll() is None:
            kill_tree(run)


def stack_key(entry) -> str:
    return "{0}/{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])


def invocations(sandbox, entry) -> int:
    """How many times clients invoked the stack's upgrade Lambda."""
    return sandbox.calls.snapshot()["stacks"].get(stack_key(entry), {}).get("lambda:Invoke", 0)


def user_deployments(sandbox, entry) -> List[dict]:
    """The stack's deployments that were not CodeDeploy's own rollbacks, newest first."""
    return [d for d in sandbox.live_state(stack_key(entry))["live"]["deployments"] if d["creator"] == "user"]


def served_version(sandbox, entry) -> Optional[str]:
    return sandbox.live_state(stack_key(entry))["live"]["served_version"]


IMPORT_WATCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "import_watch")


def watching(**reports: str) -> Dict[str, str]:
    """Environment for a run with import_watch/sitecustomize.py loaded and its ``reports`` (MDL_HERD_*_WATCH) set."""
    return dict(reports, PYTHONPATH=os.pathsep.join([IMPORT_WATCH] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def watching_workers(tmp_path) -> Dict[str, str]:
    """Environment for a run whose ansible-playbook processes write to files in ``tmp_path`` each file of ansible-core's
    Jinja test plugins they open, and each command they start; read by
    assert_tests_loaded_once_and_modules_run_from_files."""
    return watching(MDL_HERD_TEST_PLUGIN_WATCH=str(tmp_path / "test-plugins-opened.txt"),
                    MDL_HERD_COMMAND_WATCH=str(tmp_path / "commands.txt"))


# A module task's command: the Python that runs ansible-playbook, running the module's file (AnsiballZ_<name>.py), or,
# pipelined, reading the module's code from its standard input.
MODULE_FILE_COMMAND = re.compile(r"python[0-9.]* \S*/AnsiballZ_\w+\.py && sleep 0'$")
PIPELINED_MODULE_COMMAND = re.compile(r"python[0-9.]* && sleep 0'$")


def assert_tests_loaded_once_and_modules_run_from_files(run: Run, tmp_path, module_tasks: Optional[int] = None) -> None:
    """What the watch of ``watching_workers`` saw of ``run``: Jinja's tests (is defined, is skipped...) were loaded once,
    by ansible-playbook before it forked the tasks' workers (the play's hosts), not again by the worker of each task whose
    templates use one; and each module task (``module_tasks`` of them, when given) ran its module from a file, not
    pipelined (Python reads a module's code from its standard input much slower than from a file: the playbooks'
    ``ansible_pipelining: false``)."""
    opened: Dict[int, List[str]] = {}
    report = tmp_path / "test-plugins-opened.txt"
    for line in (report.read_text().splitlines() if report.exists() else []):
        pid, path = line.split(" ", 1)
        opened.setdefault(int(pid), []).append(path)
    assert set(opened) == {run.process.pid}, opened
    commands = tmp_path / "commands.txt"
    started = commands.read_text().splitlines() if commands.exists() else []
    from_files = [line for line in started if MODULE_FILE_COMMAND.search(line)]
    pipelined = [line for line in started if PIPELINED_MODULE_COMMAND.search(line)]
    assert pipelined == [] and from_files, started
    assert module_tasks is None or len(from_files) == module_tasks, started
