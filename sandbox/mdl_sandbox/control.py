"""The sandbox's control API: plain HTTP + JSON, for tests, benchmarks and the demo.

    GET    /health                            {"ok": true}
    GET    /stacks                            every stack's endpoints entry
    POST   /stacks                            create a stack from a StackSpec body: 201 / 400 / 409
    GET    /stacks/{instance}/{environment}   the entry plus "live": HERD's version, deployments
    POST   /stacks/{instance}/{environment}/herd
                                              {"unavailable_seconds": N}, {"refused_seconds": N},
                                              {"throttle": {"requests": N, "status": [429, 503],
                                              "retry_after": S}} and/or {"version": "x", "after_seconds": S}
    POST   /stacks/{instance}/{environment}/hold  {"event": "ValidateService"}: hold the active (else
                                              the next) deployment at the start of that event
                                              ("TerminationWait": at the start of step 3)
    GET    /stacks/{instance}/{environment}/hold?wait=S  block until it stands there (408 after S s)
    DELETE /stacks/{instance}/{environment}/hold  release it
    GET    /calls                             AWS calls received, per service:Operation (and SSM parameters read)
    DELETE /calls                             reset those counts
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Optional, Tuple
from urllib.parse import parse_qs, unquote

from .names import VERSION_RE
from .serving import AnswerHandler, stop_serving
from .spec import SpecError, _check_herd_throttle

MAX_BODY = 1024 * 1024
MAX_HOLD_WAIT = 600


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _number(body: dict, field: str) -> Optional[float]:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ControlError(400, "{0} must be a number of seconds >= 0; got {1!r}".format(field, value))
    return float(value)


class _Handler(AnswerHandler):
    server_version = "mdl-sandbox"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    # -- plumbing -----------------------------------------------------------------------------
    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, indent=2).encode("utf-8") + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ControlError(413, "request body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise ControlError(400, "the body must be JSON: {0}".format(error))

    def _route(self, method: str) -> None:
        sandbox = self.server.sandbox
        try:
            parts = [unquote(p) for p in self.path.split("?", 1)[0].strip("/").split("/") if p]
            sandbox.scheduler.run_due()
            status, payload = self._dispatch(sandbox, method, parts)
        except ControlError as error:
            status, payload = error.status, {"error": error.message}
        except SpecError as error:
            status, payload = 400, {"error": str(error)}
        except Exception as error:  # a bug: say so rather than drop the connection
            status, payload = 500, {"error": "{0}: {1}".format(type(error).__name__, error)}
        self._send(status, payload)

    def _dispatch(self, sandbox, method: str, parts) -> Tuple[int, Any]:
        from .sandbox import StackExists

        if parts == ["health"] and method == "GET":
            return 200, {"ok": True}
        if parts == ["calls"]:
            if method == "GET":
                return 200, sandbox.calls.snapshot()
            if method == "DELETE":
                sandbox.calls.reset()
                return 200, sandbox.calls.snapshot()
        if parts == ["stacks"]:
            if method == "GET":
                return 200, [sandbox.entry(key) for key in list(sandbox.stacks)]
            if method == "POST":
                body = self._body()
                try:
                    return 201, sandbox.add_stack(body)
                except StackExists as error:
                    raise ControlError(409, str(error))
        if len(parts) in (3, 4) and parts[0] == "stacks":
            key = "{0}/{1}".format(parts[1], parts[2])
            if key not in sandbox.stacks:
                raise ControlError(404, "no stack {0}; stacks: {1}".format(key, ", ".join(sandbox.stacks) or "none"))
            if len(parts) == 3 and method == "GET":
                return 200, sandbox.live_state(key)
            if len(parts) == 4 and parts[3] == "herd" and method == "POST":
                return 200, self._herd(sandbox, key, self._body())
            if len(parts) == 4 and parts[3] == "hold":
                return self._hold(sandbox, key, method)
        known = ("/health", "/stacks", "/stacks/{instance}/{environment}", "/stacks/{instance}/{environment}/herd",
                 "/stacks/{instance}/{environment}/hold", "/calls")
        raise ControlError(404 if method == "GET" else 405,
                           "no route {0} /{1}; routes: {2}".format(method, "/".join(parts), ", ".join(known)))

    def _hold(self, sandbox, key: str, method: str) -> Tuple[int, Any]:
        from .codedeploy import HoldError

        try:
            if method == "POST":
                body = self._body()
                if not isinstance(body, dict) or set(body) != {"event"} or not isinstance(body["event"], str):
                    raise ControlError(400, 'expected {"event": "<lifecycle event>"}; got %s' % (json.dumps(body),))
                return 200, sandbox.hold(key, body["event"])
            if method == "GET":
                query = parse_qs(self.path.split("?", 1)[1]) if "?" in self.path else {}
                wait = query.get("wait", ["0"])[0]
                try:
                    seconds = float(wait)
                except ValueError:
                    raise ControlError(400, "wait must be a number of seconds; got {0!r}".format(wait))
                if not 0 <= seconds <= MAX_HOLD_WAIT:
                    raise ControlError(400, "wait must be from 0 to {0} seconds; got {1}".format(MAX_HOLD_WAIT, wait))
                state = sandbox.wait_held(key, seconds)
                if state is None:
                    raise ControlError(408, "the deployment of {0} did not reach its hold within {1} s: {2}".format(
                        key, wait, json.dumps(sandbox.codedeploy.hold_state(sandbox._group(key)))))
                return 200, state
            if method == "DELETE":
                released = sandbox.release(key)
                if released is None:
                    raise ControlError(404, "no hold is set on {0}".format(key))
                return 200, released
        except HoldError as error:
            raise ControlError(409, str(error))
        raise ControlError(405, "hold takes POST (set), GET ?wait=S (wait until held) or DELETE (release)")

    @staticmethod
    def _herd(sandbox, key: str, body: Any):
        if not isinstance(body, dict):
            raise ControlError(400, "the body must be a JSON object")
        unknown = set(body) - {"unavailable_seconds", "refused_seconds", "throttle", "version", "after_seconds"}
        if unknown or not body:
            raise ControlError(400, "expected unavailable_seconds, refused_seconds, throttle and/or version "
                                    "(with after_seconds); got {0}".format(sorted(body)))
        unavailable = _number(body, "unavailable_seconds")
        refused = _number(body, "refused_seconds")
        throttle = body.get("throttle")
        if throttle is not None:
            if isinstance(throttle, dict) and "from" in throttle:
                raise ControlError(400, "throttle counts from now: it takes requests, status and retry_after, not from")
            try:
                throttle = _check_herd_throttle(throttle)
            except SpecError as error:
                raise ControlError(400, str(error).replace("faults.herd_throttle", "throttle"))
        after = _number(body, "after_seconds") or 0.0
        version = body.get("version")
        if version is not None and (not isinstance(version, str) or not VERSION_RE.match(version)):
            raise ControlError(400, "version must be a HERD version such as 0.176.0; got {0!r}".format(version))
        if "after_seconds" in body and version is None:
            raise ControlError(400, "after_seconds needs a version")
        web = sandbox.stacks[key].web
        if unavailable is not None:
            web.unavailable_for(unavailable)
        if refused is not None:
            web.refuse_connections_for(refused)
        if throttle is not None:
            web.throttle_next(throttle["requests"], throttle["status"], throttle["retry_after"])
        if version is not None:
            web.set_version(version, after_seconds=after)
        return sandbox.live_state(key)

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")

    def do_PUT(self):
        self._route("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class ControlServer:
    """Serves the control API of ``sandbox`` on a free port."""

    def __init__(self, sandbox, host: str = "127.0.0.1"):
        self.sandbox = sandbox
        self.host = host
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._server = _Server((self.host, 0), _Handler)
        self._server.sandbox = self.sandbox
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="mdl-sandbox-control", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://{0}:{1}".format(self.host, self._server.server_address[1])

    def stop(self) -> None:
        stop_serving(self._server, self._thread)
