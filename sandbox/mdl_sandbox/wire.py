"""What arrives on the AWS endpoint: which service and operation, and about which stack.

:func:`classify` reads a WSGI request the way AWS does: the service from the SigV4 credential
scope, the operation from ``X-Amz-Target`` (JSON protocols), ``Action`` (query protocol) or
the method and path (REST protocols, matched against botocore's own service models). The
:class:`AwsMiddleware` in front of moto counts every call (:class:`CallLog`), answers the
throttling faults with the error each protocol uses, and runs the deployment driver's due
side effects before moto sees the request.
"""

from __future__ import annotations

import collections
import io
import json
import re
import threading
import time
import uuid
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote

import botocore.session

# A header the sandbox's own clients send (the upgrade Lambda, seeding): their calls are
# counted apart and never throttled.
INTERNAL_HEADER = "X-Mdl-Sandbox-Internal"
_CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


class AwsCall:
    """One request: ``service:Operation``, region, parameters, whether the sandbox sent it, and the access
    key id that signed it."""

    __slots__ = ("service", "operation", "region", "params", "internal", "access_key", "method")

    def __init__(self, service: str, operation: str, region: str, params: Dict[str, Any], internal: bool,
                 access_key: Optional[str] = None, method: str = "POST"):
        self.service = service
        self.operation = operation
        self.region = region
        self.params = params
        self.internal = internal
        self.access_key = access_key
        self.method = method

    @property
    def key(self) -> str:
        return "{0}:{1}".format(self.service, self.operation)

    def __repr__(self):
        return "AwsCall({0}, {1})".format(self.key, self.region)


class _Route:
    """One operation of a REST service: method, path pattern, required query keys and headers."""

    def __init__(self, name: str, operation_model):
        http = operation_model.http
        path, _, query = http["requestUri"].partition("?")
        self.name = name
        self.method = http["method"]
        self.pattern = re.compile("^" + re.sub(
            r"\\{([^}]+?)(\\\+)?\\}",
            lambda m: "(?P<{0}>{1})".format(re.sub(r"\W", "_", m.group(1)), ".+" if m.group(2) else "[^/]+"),
            re.escape(path.rstrip("/") or "/")) + "/?$")
        self.query: Dict[str, Optional[str]] = {}
        for part in filter(None, query.split("&")):
            key, _, value = part.partition("=")
            self.query[key] = value or None
        shape = operation_model.input_shape
        required = set(shape.required_members) if shape is not None else set()
        self.headers = [shape.members[m].serialization.get("name", m) for m in sorted(required)
                        if shape.members[m].serialization.get("location") == "header"]
        self.score = len(re.sub(r"\{[^}]+\}", "", path)) + 100 * (len(self.query) + len(self.headers))

    def match(self, method: str, path: str, query: Dict[str, List[str]], environ) -> Optional[Dict[str, str]]:
        if method != self.method:
            return None
        found = self.pattern.match(path)
        if not found:
            return None
        if not all(key in query and (value is None or value in query[key]) for key, value in self.query.items()):
            return None
        if not all(_header(environ, header) for header in self.headers):
            return None
        return {k: unquote(v) for k, v in found.groupdict().items()}


class _RestRoutes:
    """The operations of a REST service (botocore's model), most specific first."""

    def __init__(self, service: str):
        model = botocore.session.get_session().get_service_model(service)
        self.routes = sorted((_Route(name, model.operation_model(name)) for name in model.operation_names),
                             key=lambda route: -route.score)

    def match(self, environ, query: Dict[str, List[str]]) -> Optional[Tuple[str, Dict[str, str]]]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        for route in self.routes:
            params = route.match(method, path, query, environ)
            if params is not None:
                return route.name, params
        return None


_routes: Dict[str, _RestRoutes] = {}
_routes_lock = threading.Lock()


def _rest_routes(service: str) -> _RestRoutes:
    with _routes_lock:
        if service not in _routes:
            _routes[service] = _RestRoutes(service)
        return _routes[service]


def _header(environ, name: str) -> str:
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def classify(environ: Dict[str, Any], body: bytes) -> Optional[AwsCall]:
    """The AWS call a request makes, or None when it is not a signed AWS API call."""
    scope = _CREDENTIAL_RE.search(_header(environ, "Authorization")) or _CREDENTIAL_RE.search(
        environ.get("QUERY_STRING", "").replace("%2F", "/"))
    if not scope:
        return None
    access_key, region, service = scope.group(1), scope.group(2), scope.group(3)
    internal = bool(_header(environ, INTERNAL_HEADER))
    method = environ.get("REQUEST_METHOD", "GET")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    target = _header(environ, "X-Amz-Target")
    if target:
        try:
            params = json.loads(body.decode("utf-8")) if body else {}
        except (ValueError, UnicodeDecodeError):
            params = {}
        return AwsCall(service, target.rpartition(".")[2], region, params if isinstance(params, dict) else {},
                       internal, access_key, method)
    form = {}
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    action = form.get("Action") or (query.get("Action") or [None])[0]
    if action:
        params = {k: v[0] for k, v in query.items()}
        params.update(form)
        return AwsCall(service, action, region, params, internal, access_key, method)
    try:
        matched = _rest_routes(service).match(environ, query)
    except Exception:  # a service botocore does not know: count it by method
        matched = None
    if matched is None:
        return AwsCall(service, method, region, {}, internal, access_key, method)
    return AwsCall(service, matched[0], region, matched[1], internal, access_key, method)


class CallLog:
    """Counts of calls per ``service:Operation``: overall, per stack, and the sandbox's own; per
    stack, how many times each SSM parameter was read (GetParameter, GetParameters), which tells
    a test who asked for a secret; and, per stack, when each of its latest ``keep_arrivals`` calls
    arrived (``clock()``, POSIX seconds by default), which tells a test when a client read what it
    printed later. A sandbox left running keeps no more than that per stack."""

    def __init__(self, clock: Callable[[], float] = time.time, keep_arrivals: int = 10000):
        self._lock = threading.Lock()
        self._clock = clock
        self._keep_arrivals = keep_arrivals
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._overall: collections.Counter = collections.Counter()
            self._stacks: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            self._internal: collections.Counter = collections.Counter()
            self._parameters: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            self._arrivals: Dict[str, Deque[Tuple[float, str]]] = collections.defaultdict(
                lambda: collections.deque(maxlen=self._keep_arrivals))

    def record(self, call: AwsCall, stack_key: Optional[str]) -> None:
        with self._lock:
            if call.internal:
                self._internal[call.key] += 1
                return
            self._overall[call.key] += 1
            if stack_key:
                self._stacks[stack_key][call.key] += 1
                self._arrivals[stack_key].append((self._clock(), call.key))
                if call.key in ("ssm:GetParameter", "ssm:GetParameters"):
                    names = call.params.get("Names") or [call.params.get("Name")]
                    for name in names:
                        if isinstance(name, str):
                            self._parameters[stack_key][name] += 1

    def arrivals(self, stack_key: str, key: str) -> List[float]:
        """When each call about the stack arrived, oldest first: the calls whose ``service:Operation`` is ``key``,
        or starts with it when ``key`` ends with ``:`` (``codedeploy:``, every CodeDeploy call)."""
        with self._lock:
            return [at for at, called in self._arrivals.get(stack_key, [])
                    if called == key or (key.endswith(":") and called.startswith(key))]

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._overall.values()),
                "overall": dict(sorted(self._overall.items())),
                "stacks": {key: dict(sorted(counts.items())) for key, counts in sorted(self._stacks.items())},
                "internal": dict(sorted(self._internal.items())),
                "parameters_read": {key: dict(sorted(counts.items())) for key, counts in sorted(self._parameters.items())},
            }


# -- throttling answers, per protocol ------------------------------------------------------------
def throttling_response(call: AwsCall) -> Tuple[str, List[Tuple[str, str]], bytes]:
    """The error AWS answers when a caller exceeds the rate of ``call``'s operation."""
    request_id = str(uuid.uuid4())
    protocol = botocore.session.get_session().get_service_model(call.service).protocol
    if call.service == "lambda":
        body = json.dumps({"Type": "User", "message": "Rate exceeded", "Reason": "CallerRateLimitExceeded"})
        return "429 Too Many Requests", [("Content-Type", "application/json"),
                                         ("x-amzn-ErrorType", "TooManyRequestsException"),
                                         ("x-amzn-RequestId", request_id), ("Retry-After", "1")], body.encode()
    if call.service == "s3":
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your "
                "request rate.</Message><RequestId>{0}</RequestId></Error>").format(request_id)
        return "503 Slow Down", [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body.encode()
    if protocol == "query":
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
                "</Error><RequestId>{0}</RequestId></ErrorResponse>").format(request_id)
        return "400 Bad Request", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
    return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)], \
        body.encode()


def refusal_response(call: AwsCall, kind: str, message: Optional[str] = None) -> Tuple[str, List[Tuple[str, str]], bytes]:
    """What AWS answers a caller it refuses: ``kind`` AccessDenied (an IAM policy, ``message`` naming the action
    and resource) or ExpiredToken."""
    request_id = str(uuid.uuid4())
    protocol = botocore.session.get_session().get_service_model(call.service).protocol
    denied = kind == "AccessDenied"
    message = message or ("User: arn:aws:sts::123456789012:assumed-role/operator/session is not authorized to perform: "
                          "{0} because no identity-based policy allows the {0} action".format(call.key) if denied
                          else "The security token included in the request is expired")
    if call.service == "lambda":
        code = "AccessDeniedException" if denied else "ExpiredTokenException"
        body = json.dumps({"Type": "User", "Message": message})
        return "403 Forbidden", [("Content-Type", "application/json"), ("x-amzn-ErrorType", code),
                                 ("x-amzn-RequestId", request_id)], body.encode()
    if call.service == "s3":
        code = "AccessDenied" if denied else "ExpiredToken"
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{0}</Code><Message>{1}</Message>"
                "<RequestId>{2}</RequestId></Error>").format(code, message, request_id).encode()
        if call.method == "HEAD":  # S3 answers HEAD with the status alone
            body = b""
        return ("403 Forbidden" if denied else "400 Bad Request"), [("Content-Type", "application/xml"),
                                                                   ("x-amz-request-id", request_id)], body
    if protocol == "query":
        code = "AccessDenied" if denied else "ExpiredToken"
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>{0}</Code><Message>{1}</Message></Error>"
                "<RequestId>{2}</RequestId></ErrorResponse>").format(code, message, request_id)
        return "403 Forbidden", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
    code = "AccessDeniedException" if denied else "ExpiredTokenException"
    body = json.dumps({"__type": code, "message": message})
    return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)], \
        body.encode()


class AwsMiddleware:
    """WSGI middleware in front of moto: classify, count, throttle, run due effects.

    ``stack_for(call)`` returns the stack a call concerns (or None); the stack decides with
    ``take_throttle(key)`` whether this call is one of the first N it must refuse. ``authorize(call)`` judges
    a call against its principal's IAM policies (:mod:`mdl_sandbox.iam`): the AccessDenied message, or None. A call that
    names no stack (an account-wide read such as DescribeStacks without StackName) is refused
    when ``account_throttle(call)`` says so: AWS throttles per account and region, so any stack
    of the region throttling that operation throttles it.
    """

    def __init__(self, app: Callable, calls: CallLog, stack_for: Callable[[AwsCall], Any],
                 before_request: Callable[[], None], account_throttle: Optional[Callable[[AwsCall], bool]] = None,
                 authorize: Optional[Callable[[AwsCall], Optional[str]]] = None):
        self.app = app
        self.authorize = authorize or (lambda call: None)
        self.calls = calls
        self.stack_for = stack_for
        self.before_request = before_request
        self.account_throttle = account_throttle or (lambda call: False)

    def __call__(self, environ, start_response):
        body = self._read_body(environ)
        call = classify(environ, body)
        if call is not None:
            stack = self.stack_for(call)
            self.calls.record(call, stack.key if stack is not None else None)
            denial = self.authorize(call) if not call.internal else None
            refused = "AccessDenied" if denial else (
                stack.refusal(call.key) if stack is not None and not call.internal else None)
            if refused:
                status, headers, payload = refusal_response(call, refused, denial)
                headers.append(("Content-Length", str(len(payload))))
                start_response(status, headers)
                return [payload]
            throttled = False
            if not call.internal:
                throttled = stack.take_throttle(call.key) if stack is not None else self.account_throttle(call)
            if throttled:
                status, headers, payload = throttling_response(call)
                headers.append(("Content-Length", str(len(payload))))
                start_response(status, headers)
                return [payload]
        self.before_request()
        return self.app(environ, start_response)

    @staticmethod
    def _read_body(environ) -> bytes:
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = stream.read(int(length))
        elif environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body
