# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zero-downtime report: HERD probed as a client would, while the deployment runs.

A ``Probe`` thread asks one URL (by default the unauthenticated ``displayBuildInfo`` page, the
load balancer's own health check; or the REST buildInfo with HTTP basic auth, given a username
and password) about once per ``interval`` until stopped, and records each answer: good (200 and a
build number), 5xx, refused (the connection was refused, reset or closed before an answer, whether
over HTTP or during the TLS handshake), timeout, or other (429 included). ``report`` sums it up:
requests, failures by kind, the longest stretch without a good answer (from the first failure to
the next good answer), when the version served switched, and every version seen in order. Two
versions answering in turn during the switch is what a load balancer does while both target
groups serve: it is reported as alternation, not as an outage.

It runs in a thread of codedeploy_wait's module process, beside the wait. Each read goes through
``_herd_http`` (the collection's one HTTP client and buildInfo parser), with one ``requests``
session per probe, so that its connection is reused from one read to the next; the clock and the
fetch function are injectable for tests. ``stop()`` never waits for an answer: a request still
under way when the wait ends (HERD hanging) is left to its timeout, its answer is not recorded,
and no request starts after ``stop()``.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

from ansible_collections.mdl.herd.plugins.module_utils._herd_http import HerdClient, HerdError, locate
from ansible_collections.mdl.herd.plugins.module_utils._watch import start_without_stop_signals

try:
    from urllib3.exceptions import NewConnectionError as _NotConnected, TimeoutError as _Urllib3Timeout
except ImportError:  # pragma: no cover - urllib3 comes with requests, which the module reports when missing
    _NotConnected = _Urllib3Timeout = TimeoutError

# The port did not serve: the connection was refused, reset or closed before HERD answered
# (http.client's RemoteDisconnected is a ConnectionResetError; a TLS handshake cut short is an SSLEOFError).
CUT_CONNECTION = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
# No answer in time. urllib3's NewConnectionError (refused, or a name that does not resolve) is one of its
# TimeoutErrors by inheritance only: it is not one here.
TIMEOUTS = (socket.timeout, TimeoutError, _Urllib3Timeout)
# How long stop() gives the thread to end: it never waits for a request under way.
STOP_JOIN_SECONDS = 0.1
# The shortest interval between two probes.
MIN_PROBE_INTERVAL = 0.2


def _causes(exception):
    """``exception`` and every exception it wraps (requests and urllib3 nest them in args, reason, cause and context)."""
    seen, pending = [], [exception]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or any(current is known for known in seen):
            continue
        seen.append(current)
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__] + list(current.args))
    return seen


def failure_kind(error):
    """What kind of failure a :class:`~_herd_http.HerdError` is for the report: ``5xx``, ``refused``, ``timeout`` or ``other``."""
    if error.status_code is not None:
        return "5xx" if 500 <= error.status_code < 600 else "other"
    causes = _causes(error)[1:]  # the requests/urllib3 error HerdClient turned into this one
    if any(isinstance(cause, CUT_CONNECTION) for cause in causes):
        return "refused"
    if any(isinstance(cause, TIMEOUTS) and not isinstance(cause, _NotConnected) for cause in causes):
        return "timeout"
    return "other"  # for example a name that does not resolve, or a certificate that does not verify


def fetch_with(client):
    """One read of buildInfo by ``client`` (a ``_herd_http.HerdClient``): ``(kind, version)``, kind ``ok`` or a failure kind."""
    try:
        return "ok", client.read().build_number
    except HerdError as e:
        return failure_kind(e), None


def probe_client(url, timeout, cafile=None, verify=True, username=None, password=None):
    """The ``HerdClient`` a probe reads ``url`` with (ValueError naming probe_url when it is not a buildInfo URL).

    With ``username``, HTTP basic auth is sent with the first request (not after a 401), as
    herd_buildinfo_check does; the REST buildInfo is asked for JSON first (it answers XML otherwise).
    Without, the probe asks the displayBuildInfo page of the HERD ``url`` names (the REST buildInfo,
    or the stack's base URL), open without credentials: the client's ``url`` is the one probed.
    """
    location = locate(url, "auto" if username is not None else "html", option="probe_url")
    return HerdClient(location, "auto", username, password, timeout=timeout, verify=cafile if verify and cafile else verify)


def http_fetch(url, timeout, cafile=None, verify=True, username=None, password=None):
    """One GET with a client of its own: ``(kind, version)`` with kind ``ok``, ``5xx``, ``refused``, ``timeout`` or ``other``."""
    client = probe_client(url, timeout, cafile=cafile, verify=verify, username=username, password=password)
    try:
        return fetch_with(client)
    finally:
        client.close()


class Probe(threading.Thread):
    """Probes ``url`` every ``interval`` seconds until ``stop()``; never raises into the wait."""

    def __init__(self, url, interval=1.0, timeout=2.0, cafile=None, verify=True, fetch=None, clock=None,
                 username=None, password=None):
        super(Probe, self).__init__(name="mdl-herd-probe", daemon=True)
        self.client = None
        if fetch is None:  # one client, so one session, for every read: its connection is kept from one read to the next
            self.client = probe_client(url, timeout, cafile=cafile, verify=verify, username=username, password=password)
            url = self.client.url
            fetch = self._read
        self.url = url
        self.interval = max(MIN_PROBE_INTERVAL, float(interval))
        self.timeout = timeout
        self.authenticated = username is not None
        self.fetch = fetch
        self.clock = clock or time.time
        self.samples = []  # (time, kind, version)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def start(self):
        start_without_stop_signals(super(Probe, self).start)  # Ctrl-C stops the wait at once, not after its poll

    def run(self):
        while not self._stop_event.is_set():
            started = time.monotonic()
            try:
                kind, version = self.fetch()
            except Exception:  # a probe must never end the wait
                kind, version = "other", None
            with self._lock:
                if self._stop_event.is_set():
                    return  # answered after the wait ended: not part of the report
                self.samples.append((self.clock(), kind, version))
            self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _read(self):
        return fetch_with(self.client)

    def stop(self):
        """End the probe without waiting for a request under way (it ends at its timeout, unrecorded)."""
        with self._lock:
            self._stop_event.set()
        if self.is_alive():
            self.join(timeout=STOP_JOIN_SECONDS)

    def read_once(self):
        """One more read, now, outside the report (for example once the deployment has ended): ``(kind, version)``."""
        try:
            return self.fetch()
        except Exception:  # as in run(): a probe never raises into the wait
            return "other", None

    def report(self):
        with self._lock:
            samples = list(self.samples)
        return summarize(samples, self.url)


def summarize(samples, url=None):
    """The report of ``samples`` ((time, kind, version), in time order)."""
    failures = {"5xx": 0, "refused": 0, "timeout": 0, "other": 0}
    longest, outage_started, versions = 0.0, None, []
    switched_at = None
    for moment, kind, version in samples:
        if kind == "ok":
            if outage_started is not None:
                longest = max(longest, moment - outage_started)
                outage_started = None
            if not versions or versions[-1] != version:
                if versions and switched_at is None:
                    switched_at = moment
                versions.append(version)
        else:
            failures[kind] = failures.get(kind, 0) + 1
            if outage_started is None:
                outage_started = moment
    if outage_started is not None and samples:
        longest = max(longest, samples[-1][0] - outage_started)
    distinct = []
    for version in versions:
        if version not in distinct:
            distinct.append(version)
    return {
        "url": url,
        "requests": len(samples),
        "failures": sum(failures.values()),
        "failures_by_kind": failures,
        "longest_outage_seconds": round(float(longest), 2),
        "switched_at": _iso(switched_at),
        "versions_seen": versions,
        "alternated": len(versions) > len(distinct),
        "started_at": _iso(samples[0][0]) if samples else None,
        "availability": availability(samples),
    }


def availability(samples):
    """One character per second from the first request: ``=`` every answer good with the version first served,
    ``+`` every answer good with another version, ``x`` a request without a good answer, ``.`` no request."""
    if not samples:
        return ""
    start, first_version = samples[0][0], None
    seconds = []
    for moment, kind, version in samples:
        index = int(moment - start)
        seconds.extend(["."] * (index + 1 - len(seconds)))
        if kind != "ok":
            seconds[index] = "x"
            continue
        if first_version is None:
            first_version = version
        if seconds[index] != "x":
            seconds[index] = "=" if version == first_version and seconds[index] != "+" else "+"
    return "".join(seconds)


def not_probed(url, why):
    """The report of a probe that did not run, and why."""
    return dict(summarize([], url), probed=False, not_probed_reason=why)


def _iso(moment):
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + ".{0:03d}Z".format(int((moment % 1) * 1000))


def sentence(report):
    """The report in one sentence, for the summary line."""
    if report and report.get("not_probed_reason"):
        return "HERD was not probed: {0}.".format(report["not_probed_reason"])
    if not report or not report.get("requests"):
        return "HERD was not probed."
    outage = report["longest_outage_seconds"]
    text = "{0} requests to HERD during the deployment, {1} failed".format(report["requests"], report["failures"])
    if report["failures"]:
        kinds = ", ".join("{0} {1}".format(n, k) for k, n in sorted(report["failures_by_kind"].items()) if n)
        text += " ({0}); longest stretch without a good answer {1} s".format(kinds, outage)
    text += "; versions seen: {0}".format(" -> ".join(report["versions_seen"]) or "none")
    if report["alternated"]:
        text += " (both served in turn during the switch)"
    return text + "."
