#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: how soon codedeploy_wait notices the end of a deployment, and what it costs in API calls.

    PYTHONPATH=sandbox .venv/bin/python benchmarks/codedeploy_wait.py [--quick]

Starts the sandbox in this process and runs rounds of Blue/Green deployments, several at once
on stacks of their own. Every deployment is watched, from the moment its id is known, by:

* ``playbook``: ``mdl.herd.codedeploy_wait`` with its defaults, in a real ``ansible-playbook``
  (so through its action plugin, which streams its progress lines while the module runs);
  it returns when the task's result reaches the controller (a callback notes the time);
* ``follower``: the module's waiting logic alone (module_utils ``Follower``, module defaults)
  in a thread of this process;
* ``boto3``: boto3's ``deployment_successful`` waiter with its defaults (15 s, 120 attempts),
  which is what ``aws deploy wait deployment-successful`` runs.

For each: detection latency = when the watcher returned - the deployment's ``completeTime``
(for ``traffic_rerouted``-free success and for failures alike: both are ends), and CodeDeploy
requests per minute of waiting (the watcher's own count; the sandbox's per-stack count is the
sum of the three, which the script checks). Deployment lengths are spread so that the ends fall
at every phase of the 15 s waiter's cycle.

Results: a table on stdout, and JSON + text in benchmarks/results/ (not versioned).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_SITE = ROOT / ".venv" / "lib" / "python3.11" / "site-packages"
sys.path.insert(0, str(ROOT / "sandbox"))

import boto3  # noqa: E402
from botocore.exceptions import WaiterError  # noqa: E402

from mdl_sandbox import Sandbox, StackSpec  # noqa: E402
from mdl_sandbox.timeline import BLUE_GREEN_SHAPE  # noqa: E402

# A deployment that fails its smoke test ends when ValidateService ends: this fraction of its length.
VALIDATE_END = dict((name, end) for name, _start, end in BLUE_GREEN_SHAPE["green"])["ValidateService"]

PLAYBOOK = """\
- name: Follow one deployment
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: wait
      mdl.herd.codedeploy_wait:
        deployment_id: "{{ deployment_id }}"
        endpoint_url: "{{ endpoint_url }}"
        region: "{{ region }}"
        access_key: testing
        secret_key: testing
        wait_timeout: 600
      ignore_errors: true
"""

CALLBACK = '''\
# Notes when the task named "wait" returns to the controller, and its result.
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_times"
    CALLBACK_NEEDS_ENABLED = True

    def _note(self, result):
        if result._task.get_name() == "wait":
            with open(os.environ["BENCH_TIMES_FILE"], "w") as handle:
                json.dump({"returned_at": time.time(), "result": result._result}, handle, default=str)

    def v2_runner_on_ok(self, result, **kwargs):
        self._note(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._note(result)
'''

# Rounds: (name, base deployment seconds, deployments that succeed, deployments that fail at ValidateService).
ROUNDS = [("short", 24.0, 3, 1), ("long", 150.0, 5, 3)]
QUICK_ROUNDS = [("short", 24.0, 3, 1)]
WAITER_CYCLE = 15.0  # the boto3 waiter's delay: lengths are spread over one cycle


def collection_tree(workdir):
    """An ansible_collections tree with this checkout as mdl.herd and the venv's amazon.aws."""
    tree = Path(workdir) / "collections" / "ansible_collections"
    (tree / "mdl").mkdir(parents=True)
    (tree / "amazon").mkdir(parents=True)
    os.symlink(str(ROOT), str(tree / "mdl" / "herd"))
    os.symlink(str(VENV_SITE / "ansible_collections" / "amazon" / "aws"), str(tree / "amazon" / "aws"))
    return tree.parent


def codedeploy_client(endpoints):
    return boto3.client("codedeploy", endpoint_url=endpoints["aws_endpoint_url"], region_name=endpoints["aws_region"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def count_requests(client, counts):
    def note(model=None, parsed=None, **kwargs):
        retries = ((parsed or {}).get("ResponseMetadata") or {}).get("RetryAttempts") or 0
        counts[model.name] = counts.get(model.name, 0) + 1 + int(retries)

    client.meta.events.register("after-call.codedeploy", note)
    return client


class Watch(object):
    """One deployment and its three watchers."""

    def __init__(self, label, stack, deployment_id, seconds, fails):
        self.label, self.stack, self.deployment_id, self.seconds, self.fails = label, stack, deployment_id, seconds, fails
        self.started_at = None
        self.ends = {}     # watcher -> when it returned
        self.calls = {}    # watcher -> {operation: count}
        self.notes = {}    # watcher -> anything worth keeping (status seen, lines printed)
        self.threads = []

    # -- the module's waiting logic, in process --
    def follower(self, endpoints):
        from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
        from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower as follower
        from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_reader as reader

        client = RetryingBotoClientWrapper(codedeploy_client(endpoints), reader.poll_retry())
        deployments = reader.DeploymentReader(client)
        outcome = follower.Follower(deployments, self.deployment_id, wait_timeout=600).follow()
        self.ends["follower"] = time.time()
        self.calls["follower"] = dict(deployments.calls)
        self.notes["follower"] = {"status": outcome.result["status"], "kind": outcome.kind}

    # -- boto3's waiter, defaults --
    def boto3_waiter(self, endpoints):
        counts = {}
        client = count_requests(codedeploy_client(endpoints), counts)
        try:
            client.get_waiter("deployment_successful").wait(deploymentId=self.deployment_id)
            seen = "Succeeded"
        except WaiterError as e:
            seen = "WaiterError: {0}".format(str(e)[:80])
        self.ends["boto3"] = time.time()
        self.calls["boto3"] = counts
        self.notes["boto3"] = {"status": seen}

    # -- the module in ansible-playbook --
    def playbook(self, endpoints, workdir, collections):
        folder = Path(workdir) / self.label
        folder.mkdir()
        (folder / "play.yml").write_text(PLAYBOOK)
        times = folder / "times.json"
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_CALLBACK_PLUGINS=str(Path(workdir) / "callbacks"),
                   ANSIBLE_CALLBACKS_ENABLED="bench_times", BENCH_TIMES_FILE=str(times), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=str(folder / "tmp"), ANSIBLE_HOME=str(folder / "home"),
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
        extra = json.dumps({"deployment_id": self.deployment_id, "endpoint_url": endpoints["aws_endpoint_url"],
                            "region": endpoints["aws_region"]})
        process = subprocess.run(["ansible-playbook", "-i", "localhost,", str(folder / "play.yml"), "-e", extra],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        noted = json.loads(times.read_text()) if times.exists() else {}
        result = noted.get("result") or {}
        self.ends["playbook"] = noted.get("returned_at")
        calls = dict(result.get("api_calls") or {})
        calls.pop("total", None)
        self.calls["playbook"] = calls
        lines = [line for line in process.stdout.splitlines() if line.startswith(self.deployment_id + " ")]
        self.notes["playbook"] = {"status": result.get("status"), "lines": lines, "rc": process.returncode,
                                  "waited_seconds": result.get("waited_seconds")}
        if not noted:
            self.notes["playbook"]["output"] = process.stdout[-3000:]

    def start(self, endpoints, workdir, collections):
        self.started_at = time.time()
        for name, target, args in (("playbook", self.playbook, (endpoints, workdir, collections)),
                                   ("follower", self.follower, (endpoints,)), ("boto3", self.boto3_waiter, (endpoints,))):
            thread = threading.Thread(target=target, args=args, name="{0}-{1}".format(self.label, name), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self):
        for thread in self.threads:
            thread.join()


def invoke(sandbox, endpoints, stack):
    client = boto3.client("lambda", endpoint_url=endpoints["aws_endpoint_url"], region_name=endpoints["aws_region"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    answer = client.invoke(FunctionName=stack["upgrade_function_name"], Payload=json.dumps({"RequestedVersion": "0.176.0"}),
                           LogType="Tail")
    log = base64.b64decode(answer["LogResult"]).decode("utf-8", "replace")
    return re.search(r"Deployment id is: '(d-[A-Z0-9]{9})'", log).group(1)


def run_round(sandbox, endpoints, workdir, collections, name, base, succeed, fail):
    count = succeed + fail
    watches = []
    for n in range(count):
        fails = n >= succeed
        # The ends (success: the whole length; failure: the end of ValidateService) are spread
        # over one cycle of the boto3 waiter, so that they fall at every phase of its polling.
        ends_after = base + WAITER_CYCLE * n / count
        seconds = round(ends_after / VALIDATE_END if fails else ends_after, 2)
        label = "{0}{1}{2}".format(name[0], "f" if fails else "s", n)
        faults = {"fail_at_event": "ValidateService"} if fails else {}
        stack = sandbox.add_stack(StackSpec("bn{0}{1}".format(label, os.getpid() % 1000), "DEV", deployment_seconds=seconds,
                                            faults=faults))
        watch = Watch(label, stack, invoke(sandbox, endpoints, stack), seconds, fails)
        watch.start(endpoints, workdir, collections)
        watches.append(watch)
    for watch in watches:
        watch.join()
    internal = sandbox.client("codedeploy")
    calls_seen = sandbox.calls.snapshot()["stacks"]
    rows = []
    for watch in watches:
        info = internal.get_deployment(deploymentId=watch.deployment_id)["deploymentInfo"]
        complete = info["completeTime"].timestamp()
        key = "{0}/{1}".format(watch.stack["mdl_instance_name"], watch.stack["mdl_environment"])
        server = sum(v for k, v in calls_seen.get(key, {}).items() if k.startswith("codedeploy:"))
        row = {"round": name, "label": watch.label, "deployment_id": watch.deployment_id, "status": info["status"],
               "deployment_seconds": watch.seconds, "complete_time": complete, "started_at": watch.started_at,
               "server_codedeploy_calls": server, "watchers": {}}
        for watcher in ("playbook", "follower", "boto3"):
            end = watch.ends.get(watcher)
            calls = sum(watch.calls.get(watcher, {}).values())
            waited = (end - watch.started_at) if end else None
            if watcher == "playbook":  # the module's own waiting time: ansible-playbook's start-up is not waiting
                waited = watch.notes["playbook"].get("waited_seconds")
            row["watchers"][watcher] = {
                "latency": round(end - complete, 3) if end else None,
                "calls": calls,
                "calls_by_operation": watch.calls.get(watcher, {}),
                "waited": round(waited, 3) if waited else None,
                "calls_per_minute": round(calls / (waited / 60.0), 2) if waited else None,
                "notes": watch.notes.get(watcher, {}),
            }
        row["client_codedeploy_calls"] = sum(w["calls"] for w in row["watchers"].values())
        rows.append(row)
    return rows


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def summarize(rows):
    lines = []
    header = "{0:<7} {1:<10} {2:>7} {3:<9} | {4:>8} {5:>8} {6:>8} | {7:>6} {8:>6} {9:>6} | {10:>6} {11:>6} {12:>6}".format(
        "round", "deployment", "length", "status", "playbook", "follower", "boto3", "pb/min", "fo/min", "b3/min",
        "pb", "fo", "b3")
    lines.append("detection latency (s) = watcher returned - completeTime; CodeDeploy requests per minute of waiting, and in all")
    lines.append(header)
    lines.append("-" * len(header))
    for row in rows:
        w = row["watchers"]
        lines.append("{0:<7} {1:<10} {2:>7} {3:<9} | {4:>8} {5:>8} {6:>8} | {7:>6} {8:>6} {9:>6} | {10:>6} {11:>6} {12:>6}".format(
            row["round"], row["deployment_id"], row["deployment_seconds"], row["status"],
            w["playbook"]["latency"], w["follower"]["latency"], w["boto3"]["latency"],
            w["playbook"]["calls_per_minute"], w["follower"]["calls_per_minute"], w["boto3"]["calls_per_minute"],
            w["playbook"]["calls"], w["follower"]["calls"], w["boto3"]["calls"]))
    lines.append("")
    summary = {}
    groups = [("all", rows), ("succeeded", [r for r in rows if r["status"] == "Succeeded"]),
              ("failed", [r for r in rows if r["status"] == "Failed"])]
    groups += [("round " + name, [r for r in rows if r["round"] == name]) for name in sorted(set(r["round"] for r in rows))]
    for label, subset in groups:
        if not subset:
            continue
        entry = {}
        for watcher in ("playbook", "follower", "boto3"):
            latencies = [r["watchers"][watcher]["latency"] for r in subset]
            calls = sum(r["watchers"][watcher]["calls"] for r in subset)
            minutes = sum((r["watchers"][watcher]["waited"] or 0) for r in subset) / 60.0
            entry[watcher] = {"median_latency": median(latencies), "max_latency": max(v for v in latencies if v is not None),
                              "calls_per_minute": round(calls / minutes, 2) if minutes else None,
                              "worst_calls_per_minute": max(r["watchers"][watcher]["calls_per_minute"] or 0 for r in subset)}
        for watcher in ("playbook", "follower"):
            ratio = entry[watcher]["median_latency"] / entry["boto3"]["median_latency"] if entry["boto3"]["median_latency"] else None
            entry[watcher]["latency_ratio_to_boto3"] = round(ratio, 3) if ratio is not None else None
        summary[label] = entry
        lines.append("{0} ({1} deployments):".format(label, len(subset)))
        for watcher in ("playbook", "follower", "boto3"):
            e = entry[watcher]
            ratio = " = {0:.2f} x boto3's".format(e["latency_ratio_to_boto3"]) if e.get("latency_ratio_to_boto3") is not None else ""
            lines.append("  {0:<9} median latency {1:>5} s{2}, max {3:>5} s; {4:>5} CodeDeploy requests/min (worst deployment {5})".format(
                watcher, e["median_latency"], ratio, e["max_latency"], e["calls_per_minute"], e["worst_calls_per_minute"]))
    mismatched = [r["deployment_id"] for r in rows if r["server_codedeploy_calls"] != r["client_codedeploy_calls"]]
    lines.append("")
    lines.append("requests counted by the watchers = requests the sandbox received, per stack: {0}".format(
        "yes" if not mismatched else "NO for " + ", ".join(mismatched)))
    return "\n".join(lines), summary, mismatched


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round of 4 deployments (a smoke run)")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", "")
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-codedeploy-wait-") as workdir:
        collections = collection_tree(workdir)
        sys.path.insert(0, str(collections))
        (Path(workdir) / "callbacks").mkdir()
        (Path(workdir) / "callbacks" / "bench_times.py").write_text(CALLBACK)
        rows = []
        with Sandbox(workdir=str(Path(workdir) / "sandbox")) as sandbox:
            endpoints = sandbox.endpoints()
            for name, base, succeed, fail in (QUICK_ROUNDS if args.quick else ROUNDS):
                print("round {0}: {1} deployments ending {2:g}-{3:g} s after they start, {4} of them failing at "
                      "ValidateService...".format(name, succeed + fail, base, base + WAITER_CYCLE, fail), flush=True)
                rows.extend(run_round(sandbox, endpoints, workdir, collections, name, base, succeed, fail))
    text, summary, mismatched = summarize(rows)
    elapsed = time.time() - started
    sample = next((r["watchers"]["playbook"]["notes"].get("lines") for r in rows if r["status"] == "Succeeded"), [])
    text += "\n\nprogress lines of one run (ansible-playbook, no -v):\n" + "\n".join("  " + line for line in sample)
    text += "\n\nbenchmark took {0:.0f} s".format(elapsed)
    print(text)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results_dir / "codedeploy_wait-{0}.json".format(stamp)).write_text(json.dumps(
        {"summary": summary, "rows": rows, "elapsed_seconds": elapsed, "quick": args.quick}, indent=2, default=str))
    (results_dir / "codedeploy_wait-{0}.txt".format(stamp)).write_text(text + "\n")
    print("results: benchmarks/results/codedeploy_wait-{0}.(json|txt)".format(stamp))
    return 1 if mismatched or any(r["watchers"]["playbook"]["latency"] is None for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
