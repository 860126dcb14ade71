"""Stopping the sandbox's threaded HTTP servers (the AWS endpoint and the control API) the same way."""

from __future__ import annotations

import threading
from typing import Any, Optional

JOIN_TIMEOUT = 5


def stop_serving(server: Optional[Any], thread: Optional[threading.Thread]) -> None:
    """Stop ``server``'s serve_forever loop, close its socket and join the thread that ran it."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=JOIN_TIMEOUT)
