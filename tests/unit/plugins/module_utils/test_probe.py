# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zero-downtime report from probe samples, and the probe thread on a fake fetch."""

from __future__ import annotations

import threading

from ansible_collections.mdl.herd.plugins.module_utils._probe import (
    Probe, build_number, display_url, sentence, summarize)


def test_a_clean_switch():
    samples = [(t, "ok", "0.170.0") for t in range(5)] + [(t, "ok", "0.176.0") for t in range(5, 10)]
    report = summarize(samples, "u")
    assert (report["requests"], report["failures"], report["longest_outage_seconds"]) == (10, 0, 0.0)
    assert report["versions_seen"] == ["0.170.0", "0.176.0"] and not report["alternated"]
    assert report["switched_at"] == "1970-01-01T00:00:05.000Z"


def test_an_outage_is_measured_from_the_first_failure_to_the_next_good_answer():
    samples = [(0, "ok", "a"), (1, "5xx", None), (2, "refused", None), (3.5, "timeout", None), (4, "ok", "b"),
               (5, "5xx", None), (6, "ok", "b")]
    report = summarize(samples)
    assert report["failures"] == 4 and report["failures_by_kind"] == {"5xx": 2, "refused": 1, "timeout": 1, "other": 0}
    assert report["longest_outage_seconds"] == 3.0
    assert "longest stretch without a good answer 3.0 s" in sentence(report)


def test_an_outage_at_the_end_counts_to_the_last_probe():
    assert summarize([(0, "ok", "a"), (1, "5xx", None), (4, "5xx", None)])["longest_outage_seconds"] == 3.0


def test_two_versions_in_turn_are_alternation_not_outage():
    samples = [(0, "ok", "a"), (1, "ok", "b"), (2, "ok", "a"), (3, "ok", "b"), (4, "ok", "b")]
    report = summarize(samples)
    assert report["alternated"] and report["failures"] == 0 and report["versions_seen"] == ["a", "b", "a", "b"]
    assert "both served in turn" in sentence(report)


def test_pages_and_urls():
    assert build_number(b"<p>Build Number: 0.176.0</p><p>Build User: x</p>") == "0.176.0"
    assert build_number(b'{"buildNumber": "0.176.0"}') == "0.176.0"
    assert build_number(b"<html>nothing</html>") is None
    assert display_url("https://h/herd-app/rest/buildInfo") == "https://h/herd-app/displayBuildInfo"


def test_the_thread_probes_until_stopped_and_survives_a_failing_fetch():
    calls = []
    enough = threading.Event()

    def fetch():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        if len(calls) >= 4:
            enough.set()
        return "ok", "0.176.0"

    probe = Probe("u", interval=0.2, fetch=fetch)
    probe.start()
    assert enough.wait(10)
    probe.stop()
    assert not probe.is_alive()
    kinds = [kind for dummy, kind, dummy2 in probe.samples]
    assert kinds[1] == "other" and kinds.count("ok") >= 3
