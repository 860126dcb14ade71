#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""make bench: the collection's own cost, its fleet scaling and its CodeDeploy budget, in one table.

    PYTHONPATH=sandbox .venv/bin/python benchmarks/suite.py [--quick] [--doc docs/benchmarks.md]

Every figure is a ratio against a baseline measured in the same run, on this machine (absolute
times here are noise):

1. detection latency of codedeploy_wait in ansible-playbook against boto3's deployment_successful
   waiter on the same deployments (benchmarks/codedeploy_wait.py, run as a subprocess);
2. the idempotent no-op (mdl.herd.upgrade_herd on a stack already at the version, URL and
   credentials discovered, preflight included) against a play of one amazon.aws.aws_caller_info
   task: what any module task that calls AWS costs (a module process that imports boto3 and builds
   a client), the ecosystem's floor; for context, both against ansible-playbook of a play with one
   ansible.builtin.ping task (2', 2''), and the no-op without a bytecode cache (2''', see below);
   the median of 9 runs of each, all four interleaved;
3. the overhead of a full upgrade: playbook wall time minus the sandbox deployment's own
   duration (create to complete), the median, against the play of one aws_caller_info task of
   figure 2 (target 2x); for context (3'), each against the floor of its own minute (the mean of a
   ping play just before it and one just after it), the median of the differences; upgrades of about a
   minute (the fleets' length: each step lasts seconds, as it lasts minutes on AWS) whose lengths
   are spread over one poll_interval (60-63.75 s), so that their ends fall at every phase of the
   wait's polling, as in figure 1;
4. fleet scaling: 1, 5 and 20 sandbox stacks in one run (forks = stacks, 60 s deployments),
   wall time of 20 against 1; and the peak memory of the run (summed PSS of all its processes,
   /proc/*/smaps_rollup) for 20 stacks against a 20-host play of amazon.aws.aws_caller_info;
5. CodeDeploy requests per stack per minute of waiting over a 15-minute deployment: the
   follower on a virtual clock, fed by answers in the shapes of CodeDeploy's service model
   (tests/unit/plugins/module_utils/codedeploy_story.py), counted by the scripted client.

Every ansible-playbook run has Python's bytecode cache on, as Python has it by default, in a
folder of the run (PYTHONPYCACHEPREFIX) that untimed first runs fill: a machine that sets
PYTHONDONTWRITEBYTECODE=1 would otherwise compile the collections' Python at every run while
ansible-core's comes compiled with its wheel, a cost the floor does not pay (row 2''' shows it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sandbox"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import yaml  # noqa: E402

from codedeploy_wait import collection_tree  # noqa: E402
from mdl_sandbox import Sandbox, StackSpec  # noqa: E402

PING = """\
- name: The floor, one module task
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""

# Context for figure 2 (not a target): what one AWS-calling module task costs, amazon.aws's own.
ONE_CALLER_INFO = PING.replace("ansible.builtin.ping:", "amazon.aws.aws_caller_info:")

CALLER_INFO = """\
- name: One amazon.aws module task on every host
  hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: Who am I
      amazon.aws.aws_caller_info:
      vars:
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


# --- measuring ----------------------------------------------------------------------------------
def _children(pid):
    """Every process whose ancestors include ``pid`` (and pid itself)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/{0}/stat".format(entry)) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, changed = {pid}, True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    return tree


def _pss_kb(pid):
    try:
        with open("/proc/{0}/smaps_rollup".format(pid)) as handle:
            for text in handle:
                if text.startswith("Pss:"):
                    return int(text.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory(threading.Thread):
    """Samples the summed PSS of a process tree every 0.2 s; ``peak_mb`` once stopped."""

    def __init__(self, pid):
        super(PeakMemory, self).__init__(daemon=True)
        self.pid, self.peak_kb, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in _children(self.pid)))
            self.done.wait(0.2)

    @property
    def peak_mb(self):
        return round(self.peak_kb / 1024.0, 1)


class Runner(object):
    def __init__(self, workdir, sandbox):
        self.workdir = Path(workdir)
        self.sandbox = sandbox
        self.endpoints = sandbox.endpoints()
        self.collections = collection_tree(workdir)
        self.count = 0

    def env(self, bytecode=True):
        """The environment of one ansible-playbook run. ``bytecode``: Python's bytecode cache on, as it is by
        default where users run it, in a folder of this run (``PYTHONPYCACHEPREFIX``) that the first runs fill.
        Without it (``PYTHONDONTWRITEBYTECODE=1``, which some machines set) every run compiles the collections'
        Python again, while ansible-core's comes compiled with its wheel: the floor would not pay what the
        collection pays."""
        self.count += 1
        folder = self.workdir / "run{0}".format(self.count)
        folder.mkdir()
        env = dict(os.environ)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"):
            env.pop(name, None)
        if bytecode:
            env["PYTHONPYCACHEPREFIX"] = str(self.workdir / "pycache")
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(self.collections), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_LOCAL_TEMP=str(folder / "tmp"),
            ANSIBLE_HOME=str(folder / "home"), PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
            AWS_ENDPOINT_URL=self.endpoints["aws_endpoint_url"], AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION=self.endpoints["aws_region"], AWS_DEFAULT_REGION=self.endpoints["aws_region"],
            AWS_CONFIG_FILE=str(folder / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(folder / "no-credentials"),
            AWS_EC2_METADATA_DISABLED="true")
        return env, folder

    def upgrade_args(self):
        return ["-e", "herd_upgrade_ca_path={0}".format(self.endpoints["herd_ca_path"]),
                "-e", "herd_upgrade_artifact_repository={0}".format(self.endpoints["maven_repository_url"]),
                "-e", "herd_version=0.176.0"]

    def run(self, args, memory=False, bytecode=True):
        """ansible-playbook with ``args``: (wall seconds, peak MB or None, output)."""
        env, _folder = self.env(bytecode)
        started = time.monotonic()
        process = subprocess.Popen(["ansible-playbook"] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sampler = None
        if memory:
            sampler = PeakMemory(process.pid)
            sampler.start()
        output, _ = process.communicate()
        wall = time.monotonic() - started
        if sampler is not None:
            sampler.done.set()
            sampler.join()
        if process.returncode != 0:
            raise RuntimeError("ansible-playbook {0} failed:\n{1}".format(" ".join(args), output[-4000:]))
        return wall, (sampler.peak_mb if sampler else None), output

    def play(self, text, name):
        path = self.workdir / name
        path.write_text(text)
        return str(path)

    def stack(self, name, seconds):
        return self.sandbox.add_stack(StackSpec(name, "DEV", deployment_seconds=seconds, current_version="0.170.0"))

    def deployment_seconds(self, entry):
        client = self.sandbox.client("codedeploy")
        ids = client.list_deployments(applicationName=entry["codedeploy_application"],
                                      deploymentGroupName=entry["deployment_group"])["deployments"]
        info = client.get_deployment(deploymentId=ids[0])["deploymentInfo"]
        return info["completeTime"].timestamp() - info["createTime"].timestamp()

    def inventory(self, entries, name):
        hosts = dict(("{0}-dev".format(e["mdl_instance_name"]), {"mdl_instance_name": e["mdl_instance_name"],
                                                                  "mdl_environment": e["mdl_environment"]}) for e in entries)
        path = self.workdir / name
        path.write_text(yaml.safe_dump({"all": {"children": {"fleet": {"hosts": hosts}}}}))
        return str(path)


def median(values):
    return round(statistics.median(values), 3)


# --- the figures --------------------------------------------------------------------------------
UPGRADE_LENGTH = 60.0  # the fleets' deployments: a 20 s one ends within a poll of its step 2, unlike one on AWS
UPGRADE_SPREAD = 5.0  # codedeploy_wait's default poll_interval: the upgrades' ends spread over one cycle of it


def floor_and_noop(runner, repeats, upgrades):
    ping = runner.play(PING, "ping.yml")
    caller = runner.play(ONE_CALLER_INFO, "one-caller.yml")
    for play in (ping, caller):  # not timed: the first runs fill the bytecode cache (see Runner.env)
        runner.run(["-i", "localhost,", play])

    def floor():
        return runner.run(["-i", "localhost,", ping])[0]

    upgrade_walls, overheads, upgrade_floors = [], [], []
    entry = None
    lengths = [UPGRADE_LENGTH + UPGRADE_SPREAD * k / upgrades for k in range(upgrades)]
    for n, seconds in enumerate(lengths):
        entry = runner.stack("bnop{0}x{1}".format(n, os.getpid() % 1000), seconds)
        before = floor()
        wall, _mb, _out = runner.run(["mdl.herd.upgrade_herd", "-e", "mdl_instance_name={0}".format(entry["mdl_instance_name"]),
                                      "-e", "mdl_environment=DEV"] + runner.upgrade_args())
        after = floor()
        deployment = runner.deployment_seconds(entry)
        upgrade_walls.append(wall)
        overheads.append(wall - deployment)
        # each upgrade against the floor of its own minute (a ping play just before it and just after it): the
        # speed of this machine drifts over minutes, and a floor measured earlier would not pay the same
        upgrade_floors.append((before + after) / 2.0)
    noop = ["mdl.herd.upgrade_herd", "-e", "mdl_instance_name={0}".format(entry["mdl_instance_name"]),
            "-e", "mdl_environment=DEV"] + runner.upgrade_args()
    runner.run(noop)  # not timed: fills the bytecode cache
    floors, callers, noops, compiled = [], [], [], []
    # All interleaved, so that a busy moment, or the drift of this machine's speed over minutes, weighs on the
    # floor as on the rest: the floor, one amazon.aws task, the no-op as users run it, and compiling the
    # collections' Python at every run (no bytecode cache).
    for _ in range(repeats):
        floors.append(floor())
        callers.append(runner.run(["-i", "localhost,", caller])[0])
        for walls, bytecode in ((noops, True), (compiled, False)):
            wall, _mb, output = runner.run(noop, bytecode=bytecode)
            if "already_served" not in output:
                raise RuntimeError("the no-op run did something:\n" + output[-3000:])
            walls.append(wall)
    return {"floor": median(floors), "floors": floors, "one_aws_task": median(callers), "one_aws_tasks": callers,
            "noop": median(noops), "noops": noops,
            "noop_no_bytecode": median(compiled), "noop_no_bytecodes": compiled,
            "upgrade_walls": upgrade_walls, "upgrade_lengths": lengths, "overhead": median(overheads), "overheads": overheads,
            "upgrade_floors": upgrade_floors, "upgrade_floor": median(upgrade_floors),
            "overhead_above_floor": median([o - f for o, f in zip(overheads, upgrade_floors)])}


def fleet(runner, sizes, seconds):
    walls = {}
    memory = {}
    for size in sizes:
        entries = [runner.stack("bf{0}n{1}x{2}".format(size, n, os.getpid() % 1000), seconds) for n in range(size)]
        inventory = runner.inventory(entries, "fleet{0}.yml".format(size))
        wall, mb, _out = runner.run(["mdl.herd.upgrade_herd", "-i", inventory, "-f", str(size), "-e", "stacks=fleet",
                                     "-e", "herd_upgrade_serial={0}".format(size)] + runner.upgrade_args(), memory=True)
        walls[size], memory[size] = round(wall, 2), mb
    largest = max(sizes)
    entries = [{"mdl_instance_name": "bcaller{0}".format(n), "mdl_environment": "DEV"} for n in range(largest)]
    inventory = runner.inventory(entries, "callers.yml")
    base_wall, base_mb, _out = runner.run(["-i", inventory, "-f", str(largest), runner.play(CALLER_INFO, "caller.yml")], memory=True)
    return {"walls": walls, "memory_mb": memory, "baseline_memory_mb": base_mb, "baseline_wall": round(base_wall, 2)}


def calls_per_minute():
    """Figure 5: CodeDeploy requests per minute of waiting, on a virtual clock with recorded-shape answers: a
    15-minute deployment (the budget's own length on AWS) and a 300 s one (issue 28's measure: long enough
    that the pace is poll_interval)."""
    tree = os.environ["BENCH_TREE"]
    sys.path.insert(0, tree)
    from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
    from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower as follower
    from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_reader as reader
    from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import FakeClock, FakeCodeDeploy, blue_green_story

    def measure(seconds):
        clock = FakeClock()
        story = blue_green_story(scale=seconds / 420.0, termination_wait_minutes=None)
        fake = FakeCodeDeploy(clock, [story])
        deployments = reader.DeploymentReader(RetryingBotoClientWrapper(fake.client, reader.poll_retry()))
        outcome = follower.Follower(deployments, story.deployment_id, wait_timeout=3600, wall=clock.time, clock=clock.monotonic,
                                    sleep=clock.sleep).follow()
        minutes = outcome.result["waited_seconds"] / 60.0
        return {"requests": len(fake.requests), "minutes": round(minutes, 2), "per_minute": round(len(fake.requests) / minutes, 2),
                "lines": len(outcome.lines), "by_operation": outcome.result["api_calls"], "latency": round(clock.seconds - story.end, 2)}

    result = measure(900)
    result["short"] = measure(300)
    return result


def detection(quick):
    command = [sys.executable, str(ROOT / "benchmarks" / "codedeploy_wait.py")] + (["--quick"] if quick else [])
    process = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = sorted((ROOT / "benchmarks" / "results").glob("codedeploy_wait-*.json"))
    if process.returncode != 0 or not results:
        raise RuntimeError("benchmarks/codedeploy_wait.py failed:\n" + process.stdout[-4000:])
    summary = json.loads(results[-1].read_text())["summary"]["all"]
    return {"playbook": summary["playbook"]["median_latency"], "boto3": summary["boto3"]["median_latency"],
            "ratio": summary["playbook"]["latency_ratio_to_boto3"]}


# --- the table ----------------------------------------------------------------------------------
def table(d, n, f, c):
    rows = []

    def row(figure, measured, baseline, ratio, target, met):
        rows.append((figure, measured, baseline, ratio, target, "-" if met is None else "yes" if met else "NO"))

    row("1 detection latency, median (playbook vs boto3 waiter)", "{0} s".format(d["playbook"]), "{0} s".format(d["boto3"]),
        "{0:.2f}x".format(d["ratio"]), "<= 1.5 s and <= 0.25x", d["playbook"] <= 1.5 and d["ratio"] <= 0.25)
    row("2 idempotent no-op (upgrade_herd at the version vs a play of one amazon.aws.aws_caller_info task)",
        "{0:.2f} s".format(n["noop"]), "{0:.2f} s".format(n["one_aws_task"]),
        "{0:.2f}x".format(n["noop"] / n["one_aws_task"]), "<= 1.25x", n["noop"] / n["one_aws_task"] <= 1.25)
    row("2' context: the no-op vs ping play", "{0:.2f} s".format(n["noop"]),
        "{0:.2f} s".format(n["floor"]), "{0:.2f}x".format(n["noop"] / n["floor"]), "(none)", None)
    row("2'' context: one amazon.aws module task (aws_caller_info) vs ping play", "{0:.2f} s".format(n["one_aws_task"]),
        "{0:.2f} s".format(n["floor"]), "{0:.2f}x".format(n["one_aws_task"] / n["floor"]), "(none)", None)
    row("2''' context: the no-op without a bytecode cache (PYTHONDONTWRITEBYTECODE=1) vs ping play",
        "{0:.2f} s".format(n["noop_no_bytecode"]), "{0:.2f} s".format(n["floor"]),
        "{0:.2f}x, the cache saves {1:.2f} s".format(n["noop_no_bytecode"] / n["floor"], n["noop_no_bytecode"] - n["noop"]),
        "(none)", None)
    row("3 full upgrade overhead (wall - deployment vs a play of one aws_caller_info task)", "{0:.2f} s".format(n["overhead"]),
        "{0:.2f} s".format(n["one_aws_task"]), "{0:.2f}x".format(n["overhead"] / n["one_aws_task"]), "<= 2x",
        n["overhead"] / n["one_aws_task"] <= 2.0)
    row("3' context: the same overhead vs ping plays around each upgrade", "{0:.2f} s".format(n["overhead"]),
        "{0:.2f} s".format(n["upgrade_floor"]),
        "{0:.2f}x, floor {1:+.2f} s".format(n["overhead"] / n["upgrade_floor"], n["overhead_above_floor"]), "(none)", None)
    sizes = sorted(f["walls"])
    small, large = sizes[0], sizes[-1]
    row("4a fleet wall time, {0} stacks vs {1} ({2})".format(large, small, ", ".join("{0}: {1} s".format(s, f["walls"][s]) for s in sizes)),
        "{0} s".format(f["walls"][large]), "{0} s".format(f["walls"][small]), "{0:.2f}x".format(f["walls"][large] / f["walls"][small]),
        "<= 1.3x", f["walls"][large] / f["walls"][small] <= 1.3)
    row("4b fleet peak memory, {0} stacks vs {0}-host aws_caller_info play".format(large), "{0} MB".format(f["memory_mb"][large]),
        "{0} MB".format(f["baseline_memory_mb"]), "{0:.2f}x".format(f["memory_mb"][large] / f["baseline_memory_mb"]), "<= 1.5x",
        f["memory_mb"][large] / f["baseline_memory_mb"] <= 1.5)
    row("5 CodeDeploy requests per minute of waiting, 15-minute deployment", "{0}/min".format(c["per_minute"]), "budget 15/min",
        "{0:.2f}x".format(c["per_minute"] / 15.0), "<= 15/min", c["per_minute"] <= 15)
    row("5' CodeDeploy requests per minute of waiting, 300 s deployment", "{0}/min".format(c["short"]["per_minute"]),
        "budget 15/min", "{0:.2f}x".format(c["short"]["per_minute"] / 15.0), "<= 15/min", c["short"]["per_minute"] <= 15)
    widths = [max(len(str(r[i])) for r in rows + [("figure", "measured", "baseline", "ratio", "target", "met")]) for i in range(6)]
    head = ("figure", "measured", "baseline", "ratio", "target", "met")
    lines = ["| " + " | ".join(str(v).ljust(widths[i]) for i, v in enumerate(head)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(v).ljust(widths[i]) for i, v in enumerate(r)) + " |" for r in rows]
    return "\n".join(lines), all(r[5] != "NO" for r in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, fleets of 1 and 5, one short latency round")
    parser.add_argument("--doc", help="write the table and its details to this Markdown file")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as workdir:
        with Sandbox(workdir=str(Path(workdir) / "sandbox")) as sandbox:
            runner = Runner(workdir, sandbox)
            os.environ.setdefault("BENCH_TREE", str(runner.collections))
            print("5: the follower on a virtual clock...", flush=True)
            c = calls_per_minute()
            print("2, 3: floor, full upgrades, no-ops...", flush=True)
            n = floor_and_noop(runner, 3 if args.quick else 9, 2 if args.quick else 4)
            print("4: fleets...", flush=True)
            f = fleet(runner, [1, 5] if args.quick else [1, 5, 20], 60.0)
    print("1: detection latency (benchmarks/codedeploy_wait.py)...", flush=True)
    d = detection(args.quick)
    text, all_met = table(d, n, f, c)
    details = {"detection": d, "noop_and_upgrade": n, "fleet": f, "calls": c, "quick": args.quick,
               "elapsed_seconds": round(time.time() - started), "cpus": os.cpu_count()}
    print(text)
    print(json.dumps(details, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / "suite-{0}.json".format(stamp)).write_text(json.dumps(details, indent=2))
    (results / "suite-{0}.txt".format(stamp)).write_text(text + "\n")
    if args.doc:
        Path(args.doc).write_text(DOC.format(table=text, date=stamp, cpus=os.cpu_count(), elapsed=details["elapsed_seconds"],
                                             details=json.dumps(details, indent=2), quick=" --quick" if args.quick else ""))
        print("wrote " + args.doc)
    return 0 if all_met else 1


DOC = """# Benchmarks

The collection's own cost, measured by `make bench` against the sandbox, each figure as a ratio
against a baseline measured in the same run on the same machine. Latest output
(`PYTHONPATH=sandbox .venv/bin/python benchmarks/suite.py{quick} --doc docs/benchmarks.md`, which
`make bench` runs; {date}, {cpus} CPUs, {elapsed} s):

{table}

What each figure is: see the docstring of `benchmarks/suite.py` and `benchmarks/README.md`.
A "NO" in the last column is a target this run missed; `make bench` then exits non-zero.
What the profiles of missed figures showed, and what changed since: `docs/benchmarks-profile.md`.

<details><summary>Raw figures of that run</summary>

```json
{details}
```

</details>
"""


if __name__ == "__main__":
    sys.exit(main())
