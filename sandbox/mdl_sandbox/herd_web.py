"""The HERD web tier of one simulated MDL stack: the buildInfo endpoints, nothing else.

A real stack answers two URLs that matter to the upgrade:

* ``GET /herd-app/rest/buildInfo``: HTTP basic auth; XML by default, JSON when the client's
  ``Accept`` header prefers ``application/json``. ``buildNumber`` is the HERD version.
* ``GET /herd-app/displayBuildInfo``: no auth (the load balancer's health check); an HTML page
  with the lines ``Build Number: X``, ``Build User: Y``, ``Build Time: Z``.

Everything else is 404. :meth:`HerdWeb.set_version` switches the version served (now or after
a delay, as when a deployment reroutes traffic to the new instances),
:meth:`HerdWeb.unavailable_for` makes every URL answer 503 for a while (instances out of the
target group), :meth:`HerdWeb.refuse_connections_for` makes both ports refuse TCP connections
for a while (nothing listens: clients get ECONNREFUSED; open connections are cut), and
:meth:`HerdWeb.throttle_next` answers the next N requests to buildInfo with 429 (or 503) and
``Retry-After``. One plain HTTP server and, with ``tls_cert``, one HTTPS server listen on free
ports of 127.0.0.1 and share one state. Nothing is logged.

    web = HerdWeb(version="0.170.0", username="u", password="p", tls_cert=(cert, key))
    web.start()
    web.https_base_url + "/herd-app/rest/buildInfo"
    web.set_version("0.176.0", after_seconds=2)
    web.stop()
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import hmac
import html
import json
import math
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Callable, Counter, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape as xml_escape

from .serving import AnswerHandler

__all__ = ["HerdWeb", "BUILD_INFO_PATH", "DISPLAY_BUILD_INFO_PATH"]

BUILD_INFO_PATH = "/herd-app/rest/buildInfo"
DISPLAY_BUILD_INFO_PATH = "/herd-app/displayBuildInfo"
REALM = "Herd"
HOST = "127.0.0.1"
THROTTLE_STATUSES = (429, 503)

# A connection that opens and then says nothing must not hold a worker thread forever.
HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0
POLL_INTERVAL = 0.05
JOIN_TIMEOUT = 5.0


def _default_build_date() -> str:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _prefers_json(accept: Optional[str]) -> bool:
    """True when an Accept header ranks application/json above every XML type.

    XML is the default: no header, ``*/*``, or JSON and XML at the same quality give XML.
    """
    if not accept:
        return False
    json_q = 0.0
    xml_q = 0.0
    for media_range in accept.split(","):
        media, _, params = media_range.partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if media == "application/json" or media.endswith("+json"):
            json_q = max(json_q, q)
        elif media in ("application/xml", "text/xml") or media.endswith("+xml"):
            xml_q = max(xml_q, q)
    return json_q > 0 and json_q > xml_q


def _page(title: str, message: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html><head><title>%s</title></head>\n"
        "<body><h1>%s</h1><p>%s</p></body></html>\n"
        % (html.escape(title), html.escape(title), html.escape(message))
    ).encode("utf-8")


class _Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status: int, body: bytes, content_type: str,
                 headers: Sequence[Tuple[str, str]] = ()):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers)


class _Handler(AnswerHandler):
    """Turns requests into calls on the owning HerdWeb; all state lives there."""

    server_version = "Apache-Coyote/1.1"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass  # quiet: the sandbox must not write a line per request

    def do_GET(self):
        self._serve(send_body=True)

    def do_HEAD(self):
        self._serve(send_body=False)

    def _other_method(self):
        # We never read a request body, so do not try to reuse the connection.
        self.close_connection = True
        self._serve(send_body=self.command != "HEAD", allowed=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other_method

    def _serve(self, send_body: bool, allowed: bool = True):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        web = self.server.herd_web
        response = web._handle(path, self.headers, allowed)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)


class _Server(ThreadingHTTPServer):
    """A threading HTTP(S) server that handshakes in worker threads and can drop its clients."""

    daemon_threads = True

    def __init__(self, herd_web: "HerdWeb", ssl_context: Optional[ssl.SSLContext]):
        self.herd_web = herd_web
        self.ssl_context = ssl_context
        self._connections = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def get_request(self):
        sock, address = self.socket.accept()
        if self.ssl_context is not None:
            # The handshake happens in the worker thread (finish_request), so a slow or
            # failing client never blocks the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        if self.ssl_context is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # e.g. a client that does not trust our CA; nothing to log
        super().finish_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # quiet: resets and broken pipes from clients are not our concern

    def stop_listening(self) -> None:
        """Refuse TCP connections: close the listening socket and hold its port with one that does not listen.

        The kernel answers a SYN to a port nobody listens on with a RST (the client's
        ECONNREFUSED), and the bound socket keeps the port ours until :meth:`listen_again`.
        Call with :meth:`serve_forever` stopped.
        """
        port = self.port
        held = socket.socket(self.address_family, self.socket_type)
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.close()
        held.bind((HOST, port))
        self.socket = held
        self.drop_connections()

    def listen_again(self) -> None:
        self.socket.listen(self.request_queue_size)

    def drop_connections(self):
        """Cut every open (keep-alive) connection so nothing is served after stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                # socket.socket.shutdown, not SSLSocket's: do not touch the TLS object that a
                # worker thread may be using; cutting the TCP stream is enough.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
            except OSError:
                pass


class HerdWeb:
    """HERD's buildInfo endpoints for one stack, over HTTP and optionally HTTPS.

    ``username=None`` turns authentication off (a stack without SSL/auth). ``build_date``
    defaults to the time of construction (UTC, ISO 8601).
    """

    def __init__(
        self,
        version: str,
        username: Optional[str] = None,
        password: Optional[str] = None,
        tls_cert: Optional[Tuple[str, str]] = None,
        build_user: str = "herd-build",
        build_date: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._check_version(version)
        if username is not None and password is None:
            raise ValueError("a password is required when a username is given")
        self._username = username
        self._password = password
        self._tls_cert = tuple(tls_cert) if tls_cert else None
        self._build_user = build_user
        self._build_date = build_date if build_date is not None else _default_build_date()
        self._clock = clock

        self._lock = threading.Lock()
        self._version = version
        self._pending: List[Tuple[float, str]] = []  # (due, version), sorted by due
        self._unavailable_until: Optional[float] = None
        # (the other version, until when, whether the next answer gives the other): both versions answer in turn
        self._alternate: Optional[List] = None
        self._requests: Counter[str] = collections.Counter()
        # the next requests to buildInfo that are throttled: [left, statuses, retry_after, given]; answers given so far
        self._throttle: Optional[List] = None
        self._throttled = 0
        self._refusal: Optional[threading.Timer] = None  # set while the ports refuse connections
        self._authenticated: Counter[str] = collections.Counter()  # requests that carried the right credentials

        self._lifecycle = threading.Lock()  # serialises start() and stop()
        self._servers: List[_Server] = []
        self._threads: List[threading.Thread] = []
        self._http_url: Optional[str] = None
        self._https_url: Optional[str] = None

    # -- state ---------------------------------------------------------------------------
    @staticmethod
    def _check_version(version) -> None:
        if not isinstance(version, str) or not version.strip():
            raise ValueError("version must be a non-empty string, got %r" % (version,))

    def _apply_due(self, now: float) -> None:
        """Apply pending switches whose time has come. Caller holds the lock."""
        while self._pending and self._pending[0][0] <= now:
            self._version = self._pending.pop(0)[1]

    @property
    def version(self) -> str:
        """The build number served now."""
        with self._lock:
            self._apply_due(self._clock())
            return self._version

    @property
    def build_user(self) -> str:
        return self._build_user

    @property
    def build_date(self) -> str:
        return self._build_date

    def set_version(self, version: str, after_seconds: float = 0) -> None:
        """Serve ``version`` from now, or ``after_seconds`` from now (monotonic clock).

        The last call decides the final version: a call cancels every pending switch that
        was due later than its own. Switches scheduled in increasing time order all happen.
        """
        self._check_version(version)
        if after_seconds is None or after_seconds < 0:
            raise ValueError("after_seconds must be >= 0, got %r" % (after_seconds,))
        with self._lock:
            now = self._clock()
            self._apply_due(now)
            due = now + after_seconds
            self._pending = [(t, v) for (t, v) in self._pending if t <= due]
            if after_seconds == 0:
                self._version = version
                self._pending = []
            else:
                self._pending.append((due, version))
                self._pending.sort(key=lambda item: item[0])

    def alternate_for(self, other_version: str, seconds: float) -> None:
        """For ``seconds`` from now, answer ``other_version`` and the current one in turn (two targets behind a load balancer)."""
        self._check_version(other_version)
        with self._lock:
            self._alternate = [other_version, self._clock() + seconds, True] if seconds > 0 else None

    def unavailable_for(self, seconds: float) -> None:
        """Answer 503 on every path from now for ``seconds`` (0 ends a window early)."""
        if seconds is None or seconds < 0:
            raise ValueError("seconds must be >= 0, got %r" % (seconds,))
        with self._lock:
            self._unavailable_until = self._clock() + seconds if seconds > 0 else None

    def throttle_next(self, count: int, statuses: Sequence[int] = (429,), retry_after: int = 1) -> None:
        """Answer the next ``count`` requests to buildInfo (REST or page) with ``statuses`` in turn and ``Retry-After``.

        Replaces a throttle still under way; 0 ends it. Requests answered 503 by
        :meth:`unavailable_for` do not count.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count must be an integer >= 0, got %r" % (count,))
        statuses = tuple(statuses)
        if not statuses or any(status not in THROTTLE_STATUSES for status in statuses):
            raise ValueError("statuses must be some of %s, got %r" % (", ".join(map(str, THROTTLE_STATUSES)), statuses))
        if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after must be a whole number of seconds >= 0, got %r" % (retry_after,))
        with self._lock:
            self._throttle = [count, statuses, retry_after, 0] if count else None

    @property
    def throttled(self) -> int:
        """How many throttled answers (429/503 of :meth:`throttle_next`) were given so far."""
        with self._lock:
            return self._throttled

    def refuse_connections_for(self, seconds: float) -> None:
        """Refuse TCP connections on both ports from now for ``seconds`` (0 ends a refusal early).

        Open connections are cut at the start. The ports stay reserved and listen again when
        the time is up (a timer thread), with the same addresses.
        """
        if seconds is None or seconds < 0:
            raise ValueError("seconds must be >= 0, got %r" % (seconds,))
        with self._lifecycle:
            if not self._servers:
                raise RuntimeError("HerdWeb is not started")
            if self._refusal is not None:
                self._refusal.cancel()
            elif seconds > 0:
                for server in self._servers:
                    server.shutdown()
                for server in self._servers:
                    server.stop_listening()
            if seconds > 0:
                timer = threading.Timer(seconds, self._end_refusal)
                timer.daemon = True
                self._refusal = timer
                timer.start()
            else:
                self._listen_again()

    def _end_refusal(self) -> None:
        with self._lifecycle:
            if self._refusal is threading.current_thread():
                self._listen_again()

    def _listen_again(self) -> None:
        """Listen and serve again after a refusal. Caller holds the lifecycle lock."""
        if self._refusal is None:
            return
        self._refusal = None
        for server in self._servers:
            server.listen_again()
        self._threads = [self._serve(server) for server in self._servers]

    @property
    def refusing(self) -> bool:
        """True while the ports refuse connections."""
        return self._refusal is not None

    @property
    def unavailable(self) -> bool:
        with self._lock:
            return self._unavailable_until is not None and self._clock() < self._unavailable_until

    @property
    def requests(self) -> Counter[str]:
        """Requests received so far, by path (a copy; missing paths count 0)."""
        with self._lock:
            return collections.Counter(self._requests)

    @property
    def authenticated_requests(self) -> Counter[str]:
        """Requests so far, by path, that carried the right basic-auth credentials (a copy; none without auth)."""
        with self._lock:
            return collections.Counter(self._authenticated)

    # -- addresses -----------------------------------------------------------------------
    # Both stay set after stop() (the addresses the instance had), None before start().
    @property
    def http_base_url(self) -> Optional[str]:
        return self._http_url

    @property
    def https_base_url(self) -> Optional[str]:
        """None when the instance has no TLS certificate."""
        return self._https_url

    @property
    def base_url(self) -> Optional[str]:
        """The URL a stack would publish: HTTPS when TLS is on, else HTTP."""
        return self.https_base_url or self.http_base_url

    # -- request handling (called from server threads) -----------------------------------
    def _handle(self, path: str, headers, method_allowed: bool) -> _Response:
        with self._lock:
            now = self._clock()
            self._requests[path] += 1
            if self._username is not None and self._authorized(headers):
                self._authenticated[path] += 1
            self._apply_due(now)
            version = self._version
            until = self._unavailable_until
            alternate = self._alternate
            if alternate is not None and now < alternate[1] and path in (BUILD_INFO_PATH, DISPLAY_BUILD_INFO_PATH):
                if alternate[2]:
                    version = alternate[0]
                alternate[2] = not alternate[2]
        if until is not None and now < until:
            retry = max(1, int(math.ceil(until - now)))
            return _Response(503, _page("503 Service Unavailable",
                                        "HERD is not available right now. Try again later."),
                             "text/html;charset=UTF-8", [("Retry-After", str(retry))])
        if path in (BUILD_INFO_PATH, DISPLAY_BUILD_INFO_PATH):
            throttled = self._take_throttle()
            if throttled is not None:
                status, retry = throttled
                title = "429 Too Many Requests" if status == 429 else "503 Service Unavailable"
                return _Response(status, _page(title, "Too many requests to HERD right now. Try again later."),
                                 "text/html;charset=UTF-8", [("Retry-After", str(retry))])
        if path not in (BUILD_INFO_PATH, DISPLAY_BUILD_INFO_PATH):
            return _Response(404, _page("404 Not Found", "The requested resource is not available."),
                             "text/html;charset=UTF-8")
        if not method_allowed:
            return _Response(405, _page("405 Method Not Allowed", "Only GET is supported here."),
                             "text/html;charset=UTF-8", [("Allow", "GET, HEAD")])
        if path == DISPLAY_BUILD_INFO_PATH:
            return self._display_build_info(version)
        if not self._authorized(headers):
            return _Response(401, _page("401 Unauthorized", "Full authentication is required."),
                             "text/html;charset=UTF-8",
                             [("WWW-Authenticate", 'Basic realm="%s"' % REALM)])
        return self._build_info(version, _prefers_json(headers.get("Accept")))

    def _take_throttle(self) -> Optional[Tuple[int, int]]:
        """(status, retry_after) when this request is one of the throttled ones, else None."""
        with self._lock:
            throttle = self._throttle
            if throttle is None:
                return None
            left, statuses, retry_after, given = throttle
            throttle[0], throttle[3] = left - 1, given + 1
            if left <= 1:
                self._throttle = None
            self._throttled += 1
            return statuses[given % len(statuses)], retry_after

    def _authorized(self, headers) -> bool:
        if self._username is None:
            return True
        value = headers.get("Authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "basic" or not token:
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        if not sep:
            return False
        user_ok = hmac.compare_digest(user, self._username.encode("utf-8"))
        password_ok = hmac.compare_digest(password, self._password.encode("utf-8"))
        return user_ok and password_ok

    def _build_info(self, version: str, as_json: bool) -> _Response:
        if as_json:
            body = json.dumps({
                "buildUser": self._build_user,
                "buildDate": self._build_date,
                "buildNumber": version,
            }).encode("utf-8")
            return _Response(200, body, "application/json")
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            "<buildInformation>"
            "<buildUser>%s</buildUser>"
            "<buildDate>%s</buildDate>"
            "<buildNumber>%s</buildNumber>"
            "</buildInformation>"
            % (xml_escape(self._build_user), xml_escape(self._build_date), xml_escape(version))
        ).encode("utf-8")
        return _Response(200, body, "application/xml")

    def _display_build_info(self, version: str) -> _Response:
        body = (
            "<!DOCTYPE html>\n"
            "<html>\n<head><title>Herd Build Information</title></head>\n<body>\n"
            "<h2>Build Information</h2>\n"
            "<p>\nBuild Number: %s<br/>\nBuild User: %s<br/>\nBuild Time: %s<br/>\n</p>\n"
            "</body>\n</html>\n"
            % (html.escape(version), html.escape(self._build_user), html.escape(self._build_date))
        ).encode("utf-8")
        return _Response(200, body, "text/html;charset=UTF-8")

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "HerdWeb":
        """Listen on free ports of 127.0.0.1 and serve from daemon threads; returns at once."""
        with self._lifecycle:
            return self._start()

    def _start(self) -> "HerdWeb":
        if self._servers:
            raise RuntimeError("HerdWeb is already started")
        context = None
        if self._tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(certfile=self._tls_cert[0], keyfile=self._tls_cert[1])
        servers = []
        try:
            servers.append(_Server(self, None))
            if context is not None:
                servers.append(_Server(self, context))
        except BaseException:
            for server in servers:
                server.server_close()
            raise
        self._http_url = "http://%s:%d" % (HOST, servers[0].port)
        self._https_url = "https://%s:%d" % (HOST, servers[1].port) if len(servers) > 1 else None
        self._servers = servers
        self._threads = [self._serve(server) for server in servers]
        return self

    @staticmethod
    def _serve(server: _Server) -> threading.Thread:
        kind = "https" if server.ssl_context else "http"
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="herd-web-%s-%d" % (kind, server.port),
            daemon=True,
        )
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop both servers, cut open connections, close the ports and join the threads."""
        with self._lifecycle:
            self._stop()

    def _stop(self) -> None:
        servers, threads = self._servers, self._threads
        self._servers, self._threads = [], []
        refusing, self._refusal = self._refusal, None
        if refusing is not None:
            refusing.cancel()  # serve_forever is not running: nothing to shut down
        for server in servers if refusing is None else ():
            server.shutdown()
        for server in servers:
            server.server_close()
            server.drop_connections()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def __enter__(self) -> "HerdWeb":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        return "HerdWeb(version=%r, http=%r, https=%r)" % (
            self._version, self.http_base_url, self.https_base_url)
