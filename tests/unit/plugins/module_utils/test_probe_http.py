# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe over real HTTP on 127.0.0.1: basic auth, and a HERD that hangs never holds up stop()."""

from __future__ import annotations

import base64
import time
from http.server import BaseHTTPRequestHandler

from ansible_collections.mdl.herd.plugins.module_utils._probe import Probe, http_fetch
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.herd_servers import AnsweringHerd, HangingHerd, LocalServer

# Generous: what stop() may take on a slow machine. A stop() that waited for the hung request would take
# the probe's timeout (2 s here) at least.
STOP_BOUND = 1.0


class KeepAliveHerd(LocalServer):
    """Answers the displayBuildInfo page over HTTP/1.1 keep-alive; counts connections and requests."""

    def __init__(self):
        self.connections, self.requests = 0, 0
        herd = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super(Handler, self).setup()
                herd.connections += 1

            def do_GET(self):
                herd.requests += 1
                body = b"<html><body><p>Build Number: 0.176.0</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.serve(Handler, "/herd-app/displayBuildInfo")


def test_the_probe_keeps_one_connection_for_all_its_reads():
    with KeepAliveHerd() as herd:
        probe = Probe(herd.url, interval=0.2)
        probe.start()
        deadline = time.monotonic() + 10
        while probe.report()["requests"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        probe.stop()
        assert probe.read_once() == ("ok", "0.176.0")
        report = probe.report()
    assert report["requests"] >= 4 and report["failures"] == 0
    assert herd.requests >= 5 and herd.connections == 1, (herd.requests, herd.connections)


def test_credentials_go_with_the_first_request_as_basic_auth():
    with AnsweringHerd(username="admin", password="s3cr:et") as herd:
        assert http_fetch(herd.url, 2.0, username="admin", password="s3cr:et") == ("ok", "0.176.0")
        assert len(herd.seen) == 1  # not a 401 first, then a retry with the credentials
        path, auth, accept = herd.seen[0]
        assert auth == "Basic " + base64.b64encode(b"admin:s3cr:et").decode()
        assert accept.startswith("application/json")  # JSON first: the REST buildInfo answers XML otherwise


def test_without_credentials_the_open_page_is_asked_with_no_authorization_and_a_401_is_a_failure():
    with AnsweringHerd(username="admin", password="p") as herd:
        assert http_fetch(herd.url, 2.0) == ("ok", "0.176.0")  # the displayBuildInfo page, open as HERD's is
        assert http_fetch(herd.url, 2.0, username="admin", password="wrong") == ("other", None)
        assert [(path, auth) for path, auth, dummy in herd.seen] == [
            ("/herd-app/displayBuildInfo", None), ("/herd-app/rest/buildInfo", "Basic " + base64.b64encode(b"admin:wrong").decode())]


def test_the_probe_thread_sends_the_credentials_with_every_request():
    with AnsweringHerd(username="admin", password="p") as herd:
        probe = Probe(herd.url, interval=0.2, username="admin", password="p")
        probe.start()
        deadline = time.monotonic() + 10
        # the probe's own count: a request the server saw may not be recorded yet when stop() comes
        while probe.report()["requests"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        probe.stop()
        report = probe.report()
    assert report["requests"] >= 3 and report["failures"] == 0 and report["versions_seen"] == ["0.176.0"]
    assert all(auth and auth.startswith("Basic ") for dummy, auth, dummy2 in herd.seen)


def test_stop_does_not_wait_for_a_request_to_a_hung_herd_and_nothing_is_sent_after_it():
    with HangingHerd() as herd:
        probe = Probe(herd.url, interval=0.2, timeout=2.0)
        probe.start()
        assert herd.wait_for(1)  # the first request is under way, and will not be answered
        started = time.monotonic()
        probe.stop()
        took = time.monotonic() - started
        assert took < STOP_BOUND, took
        report = probe.report()
        assert report["requests"] == 0  # the request under way when the wait ended is not reported
        # The hung request ends at its timeout; no other starts after stop(), however long one waits.
        probe.join(10)
        assert not probe.is_alive()
        assert herd.count == 1
        time.sleep(0.5)
        assert herd.count == 1
        assert probe.report() == report


def test_a_slow_herd_is_asked_one_request_at_a_time():
    with HangingHerd() as herd:
        probe = Probe(herd.url, interval=0.2, timeout=0.5)
        probe.start()
        assert herd.wait_for(3, timeout=20)
        probe.stop()
        probe.join(10)
        samples = list(probe.samples)
    # each request timed out before the next one started: as many connections as requests (one may be cut by stop)
    assert herd.count in (len(samples), len(samples) + 1)
    assert samples and all(kind == "timeout" for dummy, kind, dummy2 in samples)
