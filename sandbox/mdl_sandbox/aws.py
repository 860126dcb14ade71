"""moto, in this process, on a free port of 127.0.0.1, behind the sandbox's middleware.

In-process (not ``moto_server`` in a subprocess) so that the sandbox can extend moto's
CodeDeploy and Lambda and read its backends directly. moto keeps its state in module globals:
one sandbox per process at a time (:func:`claim` / :func:`release`).
"""

from __future__ import annotations

import os
import threading
from typing import Callable

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.config import default_user_config
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition
from werkzeug.serving import make_server

from .serving import stop_serving

_claimed = threading.Lock()


def account_id() -> str:
    """The account moto answers for with any credentials (``MOTO_ACCOUNT_ID`` or its default)."""
    return os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)


def account_of(access_key: str) -> str:
    """The account moto answers a request signed with ``access_key`` for: ``MOTO_ACCOUNT_ID``, else the
    account of the key (an IAM user's, an assumed role's), else moto's default."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from
    return get_account_id_from(access_key) if access_key else DEFAULT_ACCOUNT_ID


def claim() -> None:
    """Take moto's global state for one sandbox; a second running sandbox is refused."""
    if not _claimed.acquire(blocking=False):
        raise RuntimeError("another Sandbox is already running in this process: moto keeps its state in "
                           "module globals, so stop it first (or run this one in another process)")
    default_user_config["lambda"]["use_docker"] = False
    moto_api_backend.reset()


def release() -> None:
    moto_api_backend.reset()
    if _claimed.locked():
        _claimed.release()


def revision_exists(account: str, region: str, revision: dict) -> bool:
    """Whether a CodeDeploy revision can be fetched: S3 revisions must exist; others are accepted."""
    if revision.get("revisionType") != "S3":
        return True
    location = revision.get("s3Location") or {}
    try:
        found = s3_backends[account][get_partition(region)].get_object(location.get("bucket"), location.get("key"))
    except Exception:  # no such bucket
        return False
    return found is not None


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without a line on stderr per request."""

    def log_request(self, code="-", size="-"):
        pass


class AwsServer(ThreadedMotoServer):
    """moto's threaded server with ``wrap(app)`` applied to its WSGI application."""

    def __init__(self, wrap: Callable, host: str = "127.0.0.1"):
        super().__init__(ip_address=host, port=0, verbose=False)
        self._wrap = wrap

    def _server_entry(self) -> None:
        app = self._wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, threaded=True,
                                   request_handler=_QuietHandler)
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.1)

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return "http://{0}:{1}".format(host, port)

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
