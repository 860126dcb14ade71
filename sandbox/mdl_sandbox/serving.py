"""What the sandbox's threaded HTTP servers share: how their handlers answer, and how they stop."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Optional

JOIN_TIMEOUT = 5


class AnswerHandler(BaseHTTPRequestHandler):
    """The handlers of HERD, the Maven repository and the control API: HTTP/1.1 (kept connections), and TCP_NODELAY.
    The headers and the body leave in two writes: with Nagle's algorithm the body would wait for the client's
    acknowledgement of the headers, which it delays (about 40 ms on Linux), a wait no real server adds to a read."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True


def stop_serving(server: Optional[Any], thread: Optional[threading.Thread]) -> None:
    """Stop ``server``'s serve_forever loop, close its socket and join the thread that ran it."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=JOIN_TIMEOUT)
