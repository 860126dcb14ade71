"""A Maven repository stand-in: where the bundle's ApplicationStart downloads HERD's war from.

    GET|HEAD /maven2/org/finra/herd/herd-war/{v}/herd-war-{v}.war           200 when v is published, else 404
    GET|HEAD /private/maven2/org/finra/herd/herd-war/{v}/herd-war-{v}.war   the same behind HTTP basic auth
                                                                            (an internal mirror: 401 without it)

A version is published when it follows Maven Central's shape for HERD (numbers, an optional
qualifier) and ``is_unpublished(v)`` says no (the stacks' ``unpublished_versions`` faults).
The body of a war is a few bytes: only its presence matters. Nothing is logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import threading
from http.server import ThreadingHTTPServer
from typing import Callable, Optional

from .serving import AnswerHandler, stop_serving

WAR_RE = re.compile(r"^/(private/)?maven2/org/finra/herd/herd-war/([^/]+)/herd-war-([^/]+)\.war$")
PUBLISHABLE_RE = re.compile(r"^[0-9]+(\.[0-9]+)*(-[A-Za-z0-9]+)*$")
USERNAME = "mirror-reader"


class _Handler(AnswerHandler):
    server_version = "mdl-sandbox-maven"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def _answer(self, status: int, body: bytes = b"", headers=()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        repo = self.server.repository
        return hmac.compare_digest(user, USERNAME) and hmac.compare_digest(password, repo.password)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        repo = self.server.repository
        with repo.lock:
            repo.requests += 1
        match = WAR_RE.match(self.path.split("?", 1)[0])
        if match and match.group(1) and not self._authorized():
            self._answer(401, b"Unauthorized\n", [("WWW-Authenticate", 'Basic realm="mirror"')])
            return
        if not match or match.group(2) != match.group(3) or not repo.is_published(match.group(2)):
            self._answer(404, b"Not Found\n", [("Content-Type", "text/plain")])
            return
        self._answer(200, b"PK\x05\x06" + b"\x00" * 18, [("Content-Type", "application/java-archive")])


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class MavenRepository:
    """Serves the stand-in on a free port of ``host``; ``is_unpublished(version)`` decides what is missing."""

    def __init__(self, is_unpublished: Callable[[str], bool], host: str = "127.0.0.1"):
        self.is_unpublished = is_unpublished
        self.host = host
        self.password = secrets.token_urlsafe(12)
        self.lock = threading.Lock()
        self.requests = 0
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def is_published(self, version: str) -> bool:
        return bool(PUBLISHABLE_RE.match(version)) and not self.is_unpublished(version)

    def start(self) -> None:
        self._server = _Server((self.host, 0), _Handler)
        self._server.repository = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="mdl-sandbox-maven", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://{0}:{1}/maven2".format(self.host, self._server.server_address[1])

    @property
    def private_url(self) -> str:
        return "http://{0}:{1}/private/maven2".format(self.host, self._server.server_address[1])

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
