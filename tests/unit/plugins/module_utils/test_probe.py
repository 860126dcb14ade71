# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zero-downtime report from probe samples, and the probe thread on a fake fetch."""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.mdl.herd.plugins.module_utils._probe import (
    Probe, http_fetch, not_probed, sentence, summarize)


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


def test_the_page_and_the_rest_answers_are_read_by_the_one_buildinfo_parser(answering):
    page = answering(200, b"<p>Build Number: 0.176.0</p><p>Build User: x</p>", [("Content-Type", "text/html")])
    assert http_fetch(page, timeout=2) == ("ok", "0.176.0")
    for content_type, body in (("application/json", b'{"buildNumber": "0.176.0"}'),
                               ("application/xml", b"<?xml version='1.0'?><buildInformation><buildNumber>0.176.0"
                                                   b"</buildNumber></buildInformation>")):
        rest = answering(200, body, [("Content-Type", content_type)]).replace("/displayBuildInfo", "/rest/buildInfo")
        assert http_fetch(rest, timeout=2, username="admin", password="p") == ("ok", "0.176.0")  # the REST buildInfo
    assert http_fetch(answering(200, b"<html>nothing</html>"), timeout=2) == ("other", None)


def test_a_probe_url_that_is_not_a_herd_url_fails_naming_probe_url():
    with pytest.raises(ValueError, match="probe_url must be an http:// or https:// URL"):
        Probe("ftp://herd.example.com/herd-app/displayBuildInfo")
    with pytest.raises(ValueError, match="probe_url must not hold credentials"):
        Probe("https://admin:secret@herd.example.com/herd-app/displayBuildInfo")


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


# --- http_fetch on real sockets of 127.0.0.1 ---------------------------------------------------
@pytest.fixture
def refusing_url():
    """A URL whose port is bound but not listening: the kernel refuses every connection (ECONNREFUSED)."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    try:
        yield "http://127.0.0.1:{0}/herd-app/displayBuildInfo".format(held.getsockname()[1])
    finally:
        held.close()


@pytest.fixture
def answering():
    """``answering(status, body)``: the URL of a server that gives that answer to every GET."""
    servers = []

    def start(status, body=b"", headers=()):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return "http://127.0.0.1:{0}/herd-app/displayBuildInfo".format(server.server_address[1])

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def cutting():
    """``cutting(how)``: the port of a server that accepts each connection and closes it at once, ``rst`` or ``fin``."""
    listeners, threads = [], []
    stop = threading.Event()

    def start(how):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.1)  # accept() wakes up to see stop: closing the socket would not wake it
        listeners.append(listener)

        def serve():
            while not stop.is_set():
                try:
                    conn, dummy = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                if how == "rst":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return listener.getsockname()[1]

    yield start
    stop.set()
    for thread in threads:  # none left behind: a test of the fork runner counts this process's threads
        thread.join(5)
    for listener in listeners:
        listener.close()


def test_a_refused_connection_is_refused(refusing_url):
    assert http_fetch(refusing_url, timeout=2) == ("refused", None)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("how", ["rst", "fin"])
def test_a_connection_cut_before_an_answer_is_refused_too(cutting, scheme, how):
    url = "{0}://127.0.0.1:{1}/herd-app/displayBuildInfo".format(scheme, cutting(how))
    for dummy in range(3):  # where the cut lands (handshake, request, response) varies: same kind each time
        assert http_fetch(url, timeout=2, verify=False) == ("refused", None)


def test_kinds_of_answers(answering):
    assert http_fetch(answering(200, b"<p>Build Number: 0.176.0<br/></p>"), timeout=2) == ("ok", "0.176.0")
    assert http_fetch(answering(503, b"busy", [("Retry-After", "1")]), timeout=2) == ("5xx", None)
    # throttling is a failed answer, counted with the other kinds the report does not name
    assert http_fetch(answering(429, b"slow down", [("Retry-After", "1")]), timeout=2) == ("other", None)
    assert http_fetch(answering(200, b"<html>no build number</html>"), timeout=2) == ("other", None)


def test_a_probe_that_did_not_run_says_why():
    report = not_probed("https://h/herd-app/displayBuildInfo", "check mode: nothing was deployed to probe")
    assert report["probed"] is False and report["requests"] == 0 and report["url"] == "https://h/herd-app/displayBuildInfo"
    assert sentence(report) == "HERD was not probed: check mode: nothing was deployed to probe."


def test_without_credentials_the_probe_asks_the_page_of_the_herd_the_url_names_and_reports_that_url():
    page = "https://herd.example.com/herd-app/displayBuildInfo"
    for url in ("https://herd.example.com/herd-app/rest/buildInfo", "https://herd.example.com", page):
        probe = Probe(url)
        assert probe.url == page and probe.report()["url"] == page
    rest = "https://herd.example.com/herd-app/rest/buildInfo"
    assert Probe(rest, username="admin", password="p").url == rest  # with credentials: the REST buildInfo, as given
