# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe's per-second availability strip, as the change report shows it."""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.module_utils._probe import availability, summarize


def test_one_character_a_second_old_then_new_with_an_outage():
    samples = [(100.0, "ok", "0.175.0"), (101.2, "ok", "0.175.0"), (102.1, "refused", None), (102.9, "ok", "0.175.0"),
               (105.5, "ok", "0.176.0"), (106.0, "ok", "0.175.0")]
    assert availability(samples) == "==x..+="


def test_a_failure_marks_its_whole_second():
    assert availability([(0.0, "ok", "a"), (0.5, "5xx", None), (0.9, "ok", "a")]) == "x"


def test_nothing_probed_gives_an_empty_strip_and_no_start():
    report = summarize([])
    assert report["availability"] == "" and report["started_at"] is None


def test_the_report_carries_the_strip_and_its_start():
    report = summarize([(0.0, "ok", "a"), (1.0, "ok", "b")], "u")
    assert report["availability"] == "=+"
    assert report["started_at"] == "1970-01-01T00:00:00.000Z"
