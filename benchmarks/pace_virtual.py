#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pace of codedeploy_wait on a virtual clock, in seconds instead of minutes: figure 5 and 5' (CodeDeploy
requests per minute over a 300 s and a 15-minute deployment, as ``make bench`` measures them) and, as a quick
preview of figure 1, the follower's detection latency on sandbox-shaped deployments of the benchmark's lengths
(24 and 150 s), their ends at every phase of the 5 s poll.

    PYTHONPATH=sandbox .venv/bin/python benchmarks/pace_virtual.py

No sandbox, no ansible-playbook: the scripted CodeDeploy of the unit tests answers, so the latency here is the
follower's pace alone (the real figure 1 adds a module's start and the machine's load).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import codedeploy_wait  # noqa: E402
import suite  # noqa: E402


def sandbox_latencies(lengths):
    from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
    from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower as follower
    from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_reader as reader
    from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import FakeClock, FakeCodeDeploy, sandbox_like_story

    rows = []
    for seconds in lengths:
        clock = FakeClock()
        story = sandbox_like_story(seconds)
        fake = FakeCodeDeploy(clock, [story])
        deployments = reader.DeploymentReader(RetryingBotoClientWrapper(fake.client, reader.poll_retry()))
        outcome = follower.Follower(deployments, story.deployment_id, wait_timeout=3600, wall=clock.time, clock=clock.monotonic,
                                    sleep=clock.sleep).follow()
        minutes = outcome.result["waited_seconds"] / 60.0
        rows.append({"seconds": seconds, "latency": round(clock.seconds - story.end, 2), "requests": len(fake.requests),
                     "per_minute": round(len(fake.requests) / minutes, 2)})
    return rows


def main():
    with tempfile.TemporaryDirectory(prefix="bench-pace-") as workdir:
        tree = codedeploy_wait.collection_tree(workdir)
        os.environ["BENCH_TREE"] = str(tree)
        calls = suite.calls_per_minute()
        lengths = [base + 0.25 * n for base in (24.0, 150.0) for n in range(20)]
        rows = sandbox_latencies(lengths)
    report = {"figure 5' (300 s)": {k: calls["short"][k] for k in ("per_minute", "requests", "by_operation", "latency")},
              "figure 5 (15 min)": {k: calls[k] for k in ("per_minute", "requests", "by_operation", "latency")}}
    for base in (24.0, 150.0):
        mine = [r for r in rows if base <= r["seconds"] < base + 10]
        report["sandbox-shaped {0:.0f}-{1:.2f} s".format(base, mine[-1]["seconds"])] = {
            "median_latency": round(statistics.median(r["latency"] for r in mine), 2),
            "max_latency": max(r["latency"] for r in mine),
            "median_per_minute": round(statistics.median(r["per_minute"] for r in mine), 2)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
