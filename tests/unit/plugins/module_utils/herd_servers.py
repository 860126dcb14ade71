# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small HERD stand-ins on 127.0.0.1 for the probe's tests: one that answers, one that hangs; and the server they share."""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer(object):
    """An HTTP server on 127.0.0.1 for one test, in a thread: ``url`` is its address with ``path``."""

    def serve(self, handler, path):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:{0}{1}".format(self.server.server_address[1], path)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


class AnsweringHerd(LocalServer):
    """Answers buildInfo with ``version``, as JSON (the displayBuildInfo page as HTML); records each request's path,
    Authorization and Accept headers.

    With ``username``, a request without those credentials gets a 401 (as HERD's REST API does; the page is open).
    """

    def __init__(self, version="0.176.0", username=None, password=None):
        self.version = version
        self.seen = []  # (path, Authorization, Accept)
        herd = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization")
                herd.seen.append((self.path, auth, self.headers.get("Accept")))
                expected = None
                if username is not None:
                    expected = "Basic " + base64.b64encode("{0}:{1}".format(username, password).encode()).decode()
                if expected is not None and auth != expected and not self.path.endswith("/displayBuildInfo"):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="Herd"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.endswith("/displayBuildInfo"):  # the page, as HERD serves it
                    body, content_type = "<html><body><p>Build Number: {0}</p></body></html>".format(herd.version).encode(), "text/html"
                else:
                    body, content_type = json.dumps({"buildNumber": herd.version}).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.serve(Handler, "/herd-app/rest/buildInfo")


class HangingHerd(object):
    """Accepts every connection and never answers (HERD hung); counts the connections and wakes waiters on each."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = "http://127.0.0.1:{0}/herd-app/displayBuildInfo".format(self.listener.getsockname()[1])
        self.connections = []
        self.changed = threading.Condition()
        self._closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while True:
            try:
                conn, dummy = self.listener.accept()
            except OSError:
                return
            with self.changed:
                if self._closing:
                    conn.close()
                    return
                self.connections.append(conn)
                self.changed.notify_all()

    @property
    def count(self):
        with self.changed:
            return len(self.connections)

    def wait_for(self, count, timeout=10.0):
        with self.changed:
            return self.changed.wait_for(lambda: len(self.connections) >= count, timeout=timeout)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        with self.changed:
            self._closing = True
            connections = list(self.connections)
        for conn in connections:
            conn.close()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
