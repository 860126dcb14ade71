"""What a simulated stack is made of (:class:`StackSpec`) and the faults it can carry.

A spec comes from Python, from ``fleet.yml`` or from the control API's ``POST /stacks``; all
three go through :meth:`StackSpec.from_dict`, which refuses anything it does not understand
with a :class:`SpecError` that names the field and what would be valid.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Mapping, Optional

import botocore.session

from .names import DEFAULT_HERD_VERSION, DEFAULT_RELEASE_VERSION, LAMBDA_NAME_MAX, STACK_WORD_RE, VERSION_RE, StackNames
from .timeline import GREEN_EVENTS

# Services a throttle fault may name (those a stack's resources live in).
THROTTLE_SERVICES = ("codedeploy", "ssm", "lambda", "cloudformation", "s3")
MAX_PADDING_BYTES = 1024 * 1024
# HERD's throttling answers, and from when the requests it throttles are counted.
HERD_THROTTLE_STATUSES = (429, 503)
HERD_THROTTLE_FROM = ("start", "switch")
HERD_THROTTLE_KEYS = ("requests", "status", "retry_after", "from")


class SpecError(ValueError):
    """A stack spec or fault that cannot be honoured; the message says why and what is valid."""


def _check_version(value: Any, field: str) -> str:
    if not isinstance(value, str) or not VERSION_RE.match(value):
        raise SpecError("{0} must be a HERD version such as 0.176.0 (letters, digits, '.', '-', '_', '+'); "
                        "got {1!r}".format(field, value))
    return value


def _check_number(value: Any, field: str, minimum: float = 0.0, exclusive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError("{0} must be a number; got {1!r}".format(field, value))
    if value < minimum or (exclusive and value == minimum):
        raise SpecError("{0} must be {1} {2}; got {3!r}".format(
            field, "greater than" if exclusive else "at least", minimum, value))
    return value


def _operation_names(service: str):
    model = botocore.session.get_session().get_service_model(service)
    return set(model.operation_names)


def _check_herd_throttle(value: Any) -> Dict[str, Any]:
    example = '{"requests": 3, "status": [429, 503], "retry_after": 1, "from": "start"}'
    if not isinstance(value, Mapping):
        raise SpecError("faults.herd_throttle must be a mapping such as {0}; got {1!r}".format(example, value))
    unknown = sorted(set(value) - set(HERD_THROTTLE_KEYS))
    if unknown:
        raise SpecError("faults.herd_throttle: unknown key(s) {0}; valid keys: {1}".format(
            ", ".join(repr(u) for u in unknown), ", ".join(HERD_THROTTLE_KEYS)))
    count = value.get("requests")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise SpecError("faults.herd_throttle.requests must be a positive integer (how many requests are throttled); "
                        "got {0!r}".format(count))
    statuses = value.get("status", [429])
    statuses = [statuses] if isinstance(statuses, int) and not isinstance(statuses, bool) else statuses
    if isinstance(statuses, str) or not isinstance(statuses, (list, tuple)) or not statuses \
            or any(isinstance(s, bool) or s not in HERD_THROTTLE_STATUSES for s in statuses):
        raise SpecError("faults.herd_throttle.status must be 429, 503 or a list of them (answered in turn); "
                        "got {0!r}".format(value.get("status")))
    retry_after = value.get("retry_after", 1)
    if isinstance(retry_after, bool) or not isinstance(retry_after, int) or not 0 <= retry_after <= 3600:
        raise SpecError("faults.herd_throttle.retry_after must be a whole number of seconds from 0 to 3600; "
                        "got {0!r}".format(retry_after))
    start = value.get("from", "start")
    if start not in HERD_THROTTLE_FROM:
        raise SpecError("faults.herd_throttle.from must be one of {0}; got {1!r}".format(
            ", ".join(HERD_THROTTLE_FROM), start))
    return {"requests": count, "status": list(statuses), "retry_after": retry_after, "from": start}


def _check_throttle(value: Any) -> Dict[str, int]:
    if not isinstance(value, Mapping):
        raise SpecError('faults.throttle must be a mapping of "service:Operation" to a count, '
                        'e.g. {"codedeploy:GetDeployment": 3}; got %r' % (value,))
    checked = {}
    for key, count in value.items():
        service, sep, operation = str(key).partition(":")
        if not sep or service not in THROTTLE_SERVICES:
            raise SpecError('faults.throttle keys are "service:Operation" with service one of {0}; got {1!r}'.format(
                ", ".join(THROTTLE_SERVICES), key))
        if operation not in _operation_names(service):
            raise SpecError("faults.throttle: {0} has no operation {1!r} (operation names are CamelCase, "
                            "as in the AWS API reference, e.g. GetDeployment)".format(service, operation))
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SpecError("faults.throttle[{0!r}] must be a positive integer; got {1!r}".format(key, count))
        checked["{0}:{1}".format(service, operation)] = count
    return checked


@dataclasses.dataclass(frozen=True)
class Faults:
    """The faults of one stack. Every field is off by default; see sandbox/README.md."""

    fail_at_event: Optional[str] = None
    lambda_error: Optional[str] = None
    lambda_delay_seconds: float = 0.0
    lambda_response_delay_seconds: float = 0.0
    deny: tuple = ()
    expired_credentials: bool = False
    lambda_log_padding_bytes: int = 0
    throttle: Dict[str, int] = dataclasses.field(default_factory=dict)
    herd_unavailable_seconds: float = 0.0
    herd_stale_version: bool = False
    herd_alternate_seconds: float = 0.0
    herd_refused_seconds: float = 0.0
    herd_throttle: Dict[str, Any] = dataclasses.field(default_factory=dict)
    active_deployment_version: Optional[str] = None
    unpublished_versions: tuple = ()

    @classmethod
    def from_dict(cls, data: Any) -> "Faults":
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SpecError("faults must be a mapping; got {0!r}".format(data))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError("unknown fault(s) {0}; valid faults: {1}".format(
                ", ".join(repr(u) for u in unknown), ", ".join(sorted(known))))
        values: Dict[str, Any] = {}
        if data.get("fail_at_event") is not None:
            event = data["fail_at_event"]
            if event not in GREEN_EVENTS:
                raise SpecError("faults.fail_at_event must be one of the replacement instance's lifecycle events: "
                                "{0}; got {1!r}".format(", ".join(GREEN_EVENTS), event))
            values["fail_at_event"] = event
        if data.get("lambda_error") is not None:
            message = data["lambda_error"]
            if not isinstance(message, str) or not message.strip():
                raise SpecError("faults.lambda_error must be a non-empty message; got {0!r}".format(message))
            values["lambda_error"] = message
        if data.get("lambda_delay_seconds") is not None:
            values["lambda_delay_seconds"] = float(
                _check_number(data["lambda_delay_seconds"], "faults.lambda_delay_seconds", 0.0))
            if values["lambda_delay_seconds"] > 600:
                raise SpecError("faults.lambda_delay_seconds must be at most 600; got {0!r}".format(
                    data["lambda_delay_seconds"]))
        if data.get("lambda_response_delay_seconds") is not None:
            values["lambda_response_delay_seconds"] = float(_check_number(
                data["lambda_response_delay_seconds"], "faults.lambda_response_delay_seconds", 0.0))
            if values["lambda_response_delay_seconds"] > 600:
                raise SpecError("faults.lambda_response_delay_seconds must be at most 600; got {0!r}".format(
                    data["lambda_response_delay_seconds"]))
        if data.get("deny") is not None:
            denied = data["deny"]
            if isinstance(denied, str) or not isinstance(denied, (list, tuple)):
                raise SpecError('faults.deny must be a list of "service:Operation", e.g. ["lambda:Invoke"]; got %r'
                                % (denied,))
            values["deny"] = tuple(sorted(_check_throttle({key: 1 for key in denied})))
        if data.get("expired_credentials") is not None:
            if not isinstance(data["expired_credentials"], bool):
                raise SpecError("faults.expired_credentials must be true or false; got {0!r}".format(
                    data["expired_credentials"]))
            values["expired_credentials"] = data["expired_credentials"]
        if data.get("lambda_log_padding_bytes") is not None:
            padding = data["lambda_log_padding_bytes"]
            if isinstance(padding, bool) or not isinstance(padding, int) or not 0 <= padding <= MAX_PADDING_BYTES:
                raise SpecError("faults.lambda_log_padding_bytes must be an integer from 0 to {0}; got {1!r}".format(
                    MAX_PADDING_BYTES, padding))
            values["lambda_log_padding_bytes"] = padding
        if data.get("throttle") is not None:
            values["throttle"] = _check_throttle(data["throttle"])
        if data.get("herd_unavailable_seconds") is not None:
            values["herd_unavailable_seconds"] = float(
                _check_number(data["herd_unavailable_seconds"], "faults.herd_unavailable_seconds", 0.0))
        if data.get("herd_alternate_seconds") is not None:
            values["herd_alternate_seconds"] = float(
                _check_number(data["herd_alternate_seconds"], "faults.herd_alternate_seconds", 0.0))
        if data.get("herd_refused_seconds") is not None:
            values["herd_refused_seconds"] = float(
                _check_number(data["herd_refused_seconds"], "faults.herd_refused_seconds", 0.0))
            if values["herd_refused_seconds"] > 600:
                raise SpecError("faults.herd_refused_seconds must be at most 600; got {0!r}".format(
                    data["herd_refused_seconds"]))
        if data.get("herd_throttle") is not None:
            values["herd_throttle"] = _check_herd_throttle(data["herd_throttle"])
        if data.get("herd_stale_version") is not None:
            if not isinstance(data["herd_stale_version"], bool):
                raise SpecError("faults.herd_stale_version must be true or false; got {0!r}".format(
                    data["herd_stale_version"]))
            values["herd_stale_version"] = data["herd_stale_version"]
        if data.get("active_deployment_version") is not None:
            values["active_deployment_version"] = _check_version(
                data["active_deployment_version"], "faults.active_deployment_version")
        if data.get("unpublished_versions") is not None:
            versions = data["unpublished_versions"]
            if isinstance(versions, str) or not isinstance(versions, (list, tuple)):
                raise SpecError("faults.unpublished_versions must be a list of versions; got {0!r}".format(versions))
            values["unpublished_versions"] = tuple(
                _check_version(v, "faults.unpublished_versions[]") for v in versions)
        if values.get("lambda_error") and values.get("active_deployment_version"):
            raise SpecError("faults.active_deployment_version needs the upgrade Lambda to work: it cannot be "
                            "combined with faults.lambda_error")
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        """Only the faults that are on, as JSON-ready values."""
        result = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value not in (None, 0, 0.0, False, (), {}):
                result[field.name] = list(value) if isinstance(value, tuple) else value
        return result


@dataclasses.dataclass(frozen=True)
class StackSpec:
    """One simulated MDL stack.

    ``deployment_seconds`` defaults to the sandbox's; ``region`` to the sandbox's. ``ssl``
    serves HERD over HTTPS with basic auth (the load balancer URL is then the https one), as a
    stack with SSL and authentication enabled does; without it HERD is plain HTTP, no auth.
    """

    mdl_instance_name: str
    mdl_environment: str
    current_version: str = DEFAULT_HERD_VERSION
    deployment_seconds: Optional[float] = None
    ssl: bool = True
    faults: Faults = dataclasses.field(default_factory=Faults)
    region: Optional[str] = None
    release_version: str = DEFAULT_RELEASE_VERSION
    function_timeout: int = 900
    # Another AWS account than the sandbox's: the stack's resources live there, reached with the credentials of a
    # role of that account assumed with STS (moto answers for the role's account with them).
    account_id: Optional[str] = None

    def __post_init__(self):
        for field in ("mdl_instance_name", "mdl_environment"):
            value = getattr(self, field)
            if not isinstance(value, str) or not STACK_WORD_RE.match(value):
                raise SpecError("{0} must be made of letters, digits, '-' or '_' (for example mdl / DEV); "
                                "got {1!r}".format(field, value))
        name = StackNames(self.mdl_instance_name, self.mdl_environment, "0").upgrade_function_name
        if len(name) > LAMBDA_NAME_MAX:
            raise SpecError("mdl_instance_name and mdl_environment are too long together: the upgrade function "
                            "name {0!r} would exceed the {1} characters Lambda allows".format(name, LAMBDA_NAME_MAX))
        _check_version(self.current_version, "current_version")
        _check_version(self.release_version, "release_version")
        if self.deployment_seconds is not None:
            _check_number(self.deployment_seconds, "deployment_seconds", 0.0, exclusive=True)
        if isinstance(self.function_timeout, bool) or not isinstance(self.function_timeout, int) \
                or not 1 <= self.function_timeout <= 900:
            raise SpecError("function_timeout must be a whole number of seconds from 1 to 900 (Lambda's limit); "
                            "got {0!r}".format(self.function_timeout))
        if not isinstance(self.ssl, bool):
            raise SpecError("ssl must be true or false; got {0!r}".format(self.ssl))
        if isinstance(self.faults, Mapping) or self.faults is None:
            object.__setattr__(self, "faults", Faults.from_dict(self.faults))
        elif not isinstance(self.faults, Faults):
            raise SpecError("faults must be a mapping; got {0!r}".format(self.faults))
        if self.region is not None and (not isinstance(self.region, str) or not self.region):
            raise SpecError("region must be an AWS region name such as us-west-2; got {0!r}".format(self.region))
        if self.account_id is not None and (not isinstance(self.account_id, str)
                                            or not re.match(r"^[0-9]{12}$", self.account_id)):
            raise SpecError("account_id must be 12 digits, as text (for example \"210987654321\"); got {0!r}".format(
                self.account_id))

    @classmethod
    def from_dict(cls, data: Any) -> "StackSpec":
        """Build a spec from JSON/YAML data, refusing unknown fields and bad types."""
        if not isinstance(data, Mapping):
            raise SpecError("a stack spec must be a JSON object; got {0!r}".format(data))
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise SpecError("unknown field(s) {0}; valid fields: {1}".format(
                ", ".join(repr(u) for u in unknown), ", ".join(sorted(fields))))
        for required in ("mdl_instance_name", "mdl_environment"):
            if required not in data:
                raise SpecError("{0} is required".format(required))
        values = {k: v for k, v in data.items() if v is not None or k in ("mdl_instance_name", "mdl_environment")}
        return cls(**values)
