"""The upgrade Lambda of an MDL stack, and a Lambda runtime to invoke it without Docker.

:class:`UpgradeHerdFunction` does what the real function does, in the same order, with the
same log lines, through plain boto3 calls against the sandbox:

1. read the deployment group; if it is not BLUE_GREEN, switch it (BLUE_GREEN /
   WITH_TRAFFIC_CONTROL, green fleet COPY_AUTO_SCALING_GROUP of the ASG named in SSM,
   CONTINUE_DEPLOYMENT, TERMINATE the blue instances);
2. write SSM ``HERD/DeploymentInvoked`` = ``true`` and ``HERD/RequestedVersion``;
3. create the deployment of ``s3://{STAGING_BUCKET}/{RELEASE_VERSION}/herd/herd.zip``;
4. write the id to SSM ``HERD/MostRecentDeploymentId``.

It is not idempotent: each invoke runs every step again. Errors of AWS calls are re-raised
as plain ``Exception`` with the messages the real function uses, so a second deployment while
one is active surfaces as an ``Exception`` whose message names
``DeploymentLimitExceededException``.

:class:`LambdaRuntime` frames an invoke the way Lambda does: ``START``/``END``/``REPORT``
lines, payload ``null`` (or the error document and ``FunctionError: Unhandled``), and the
``x-amz-log-result`` header holding the base64 of the last 4096 bytes of the log, cut
wherever they fall, even inside a multi-byte character. :func:`install` plugs it into moto's
Lambda backend (``use_docker: false``) for the functions the sandbox registers.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import sys
import threading
import time
import traceback
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import ServiceException

from .names import UPGRADE_FUNCTION_MODULE

LOG_TAIL_BYTES = 4096
MAX_MEMORY_USED_MB = 84
TASK_PATH = "/var/task/{0}.py".format(UPGRADE_FUNCTION_MODULE)
RUNTIME_PATH = "/var/runtime/"
# Characters of the padding fault's lines: ASCII and 2-, 3- and 4-byte UTF-8 characters.
PADDING_WORDS = ("bundle", "é", "…", "日本", "—", "ü", "🚀", "status", "∑", "ok")


class LambdaLog:
    """The log of one invocation, as UTF-8 bytes."""

    def __init__(self):
        self._chunks: List[bytes] = []
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._chunks.append(data)
        self.size += len(data)

    def line(self, text: str) -> None:
        """What ``print(text)`` writes from inside the function."""
        self.write(text + "\n")

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)


def log_tail(log: bytes, size: int = LOG_TAIL_BYTES) -> str:
    """The ``LogResult`` Lambda returns: base64 of the last ``size`` bytes, cut anywhere."""
    return base64.b64encode(log[-size:]).decode("ascii")


def padding_text(size: int, split_at: Optional[int] = None) -> str:
    """``size`` bytes of ``INFO:`` lines with multi-byte characters.

    When ``split_at`` (a byte offset inside the text) is given, a 3-byte character straddles
    it, so a cut of the log at that offset falls inside a character.
    """
    if size <= 0:
        return ""
    if size < 8:
        return "." * (size - 1) + "\n"
    out: List[str] = []
    offset = 0
    word = 0
    prefix = "INFO: "

    def emit(text: str) -> None:
        nonlocal offset
        out.append(text)
        offset += len(text.encode("utf-8"))

    if split_at is not None and 0 < split_at < len(prefix) + 2:
        emit("." * (split_at - 1) + "…")  # a cut this close to the start: no room for the prefix
    else:
        emit(prefix)
    line_start = offset
    while True:
        remaining = size - offset
        if remaining <= 1:
            emit("\n")
            break
        target_ahead = split_at is not None and offset < split_at
        if target_ahead and split_at - offset <= 2 and remaining > 3:
            emit("…")  # offset < split_at < offset + 3: the cut falls inside this character
            continue
        if target_ahead and split_at - offset <= len(prefix) + 3:
            emit(".")  # walk up to the cut in ASCII rather than start a new line across it
            continue
        if offset - line_start >= 96 and remaining > len(prefix) + 2:
            emit("\n")
            emit(prefix)
            line_start = offset
            continue
        candidate = PADDING_WORDS[word % len(PADDING_WORDS)] + " "
        word += 1
        needed = len(candidate.encode("utf-8"))
        crosses_target = target_ahead and offset + needed > split_at - 2
        if needed <= remaining - 1 and not crosses_target:
            emit(candidate)
        else:
            emit(".")
    text = "".join(out)
    assert len(text.encode("utf-8")) == size, (len(text.encode("utf-8")), size)
    return text


class InvokeContext:
    """The parts of Lambda's context object the function may use."""

    def __init__(self, request_id: str, function_name: str, memory_size: int, log_trailer_bytes: int):
        self.aws_request_id = request_id
        self.function_name = function_name
        self.memory_limit_in_mb = memory_size
        self.log_trailer_bytes = log_trailer_bytes  # bytes the runtime logs after the function returns
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class UpgradeHerdFunction:
    """The upgrade function of one stack. ``client(service)`` gives a boto3 client in its region."""

    def __init__(self, client: Callable[[str], Any], environment: Callable[[], Dict[str, str]], faults):
        self.client = client
        self.environment = environment
        self.faults = faults

    def __call__(self, event: Any, context: InvokeContext, log: LambdaLog) -> None:
        env = self.environment()
        runner = _UpgradeRun(self.client, env, log, self.faults, context)
        return runner.handler(event)


class _UpgradeRun:
    """One execution of the upgrade function (the real one keeps its state in module globals)."""

    def __init__(self, client, env: Dict[str, str], log: LambdaLog, faults, context: InvokeContext):
        self.client = client
        self.instance_name = env["INSTANCE_NAME"]
        self.environment = env["ENVIRONMENT"]
        self.staging_bucket = env["STAGING_BUCKET"]
        self.release_version = env["RELEASE_VERSION"]
        self.log = log
        self.faults = faults
        self.context = context

    # The four steps, in order.
    def handler(self, event):
        if self.faults.lambda_delay_seconds:
            # A slow start (a cold function, slow AWS calls): the window in which two invokes overlap.
            time.sleep(self.faults.lambda_delay_seconds)
        if self.faults.lambda_error:
            self.error(self.faults.lambda_error)
            raise Exception(self.faults.lambda_error)
        if event["RequestedVersion"] is None:
            self.error("FATAL: Required parameter: 'RequestedVersion' not found - lambda function will not be "
                       "executed.")
            return None
        if not self.is_blue_green():
            self.switch_to_blue_green()
        self.write_deployment_state(event["RequestedVersion"])
        self.create_deployment()
        return None

    # Log lines as the real function prints them.
    def info(self, message: str) -> None:
        self.log.line("INFO: {0}".format(message))

    def error(self, message: str) -> None:
        self.log.line("ERROR: {0}".format(message))

    # Names.
    @property
    def application(self) -> str:
        return "{0}-Herd".format(self.instance_name)

    @property
    def group(self) -> str:
        return "{0}-HerdDeployGroup".format(self.instance_name)

    def parameter(self, name: str) -> str:
        return "/app/MDL/{0}/{1}/HERD/{2}".format(self.instance_name, self.environment, name)

    # Step 1.
    def is_blue_green(self) -> bool:
        try:
            answer = self.client("codedeploy").get_deployment_group(
                applicationName=self.application, deploymentGroupName=self.group)
        except ClientError as error:
            self.error("CodeDeploy caused an exception, {0}".format(error))
            raise Exception("Unknown error: {0}".format(error))
        deployment_type = answer["deploymentGroupInfo"]["deploymentStyle"]["deploymentType"]
        self.info("Current deployment-type: '{0}'".format(deployment_type))
        return deployment_type == "BLUE_GREEN"

    def auto_scaling_group(self) -> str:
        answer = self.client("ssm").get_parameter(Name=self.parameter("AutoScalingGroup"))
        name = answer["Parameter"]["Value"]
        self.info("Herd ASG name: '{0}'".format(name))
        return name

    def switch_to_blue_green(self) -> None:
        try:
            self.info("Attempting to update the deployment style to BLUE_GREEN")
            answer = self.client("codedeploy").update_deployment_group(
                applicationName=self.application,
                currentDeploymentGroupName=self.group,
                autoScalingGroups=[self.auto_scaling_group()],
                loadBalancerInfo={"targetGroupInfoList": [{"name": "{0}-HerdTargetGroup".format(self.instance_name)}]},
                deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                blueGreenDeploymentConfiguration={
                    "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE"},
                    "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                    "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"},
                },
            )
        except ClientError as error:
            self.error("CodeDeploy caused an exception, {0}".format(error))
            raise Exception("CodeDeploy 'update-deployment' error: {0}".format(error))
        self.check_status(answer, "CodeDeploy", "CodeDeploy 'update-deployment' error. Response: {0}")
        self.info("Deployment updated to BLUE_GREEN.")

    # Step 2.
    def write_deployment_state(self, requested_version) -> None:
        try:
            self.info("Updating rolling-deployment condition reference point parameter: 'DeploymentInvoked'")
            self.put("DeploymentInvoked", "true", "Herd rolling-deployment condition reference.")
            self.info("Updating requested version parameter: 'RequestedVersion'")
            self.put("RequestedVersion", requested_version, "Desired Herd-version for a rolling-deployment upgrade.")
        except ClientError as error:
            self.error("SSM caused an exception, {0}".format(error))
            raise Exception("SSM error: {0}".format(error))

    def put(self, name: str, value, description: str) -> None:
        answer = self.client("ssm").put_parameter(Name=self.parameter(name), Description=description, Value=value,
                                                  Type="String", Overwrite=True)
        self.check_status(answer, "SSM", "Unknown error. Response: {0}")
        self.info("SSM parameter updated.")

    def check_status(self, answer, service: str, failure: str) -> None:
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status != 200:
            self.error("{0} returned an error code. status={1}".format(service, status))
            raise Exception(failure.format(answer))

    # Steps 3 and 4.
    def create_deployment(self) -> None:
        try:
            answer = self.client("codedeploy").create_deployment(
                applicationName=self.application,
                deploymentGroupName=self.group,
                revision={"revisionType": "S3", "s3Location": {
                    "bucket": self.staging_bucket,
                    "key": "{0}/herd/herd.zip".format(self.release_version),
                    "bundleType": "zip",
                }},
                description="Blue/Green deployment triggered by upgrade-herd lambda function",
                ignoreApplicationStopFailures=True,
                autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
            )
            self.check_status(answer, "CodeDeploy", "CodeDeploy 'create-deployment' error. Response: {0}")
            self.info("CodeDeploy Blue/Green upgrade initiated.")
            deployment_id = answer["deploymentId"]
            self.info("Deployment id is: '{0}'.".format(deployment_id))
            self.pad_log()
            self.info("Updating rolling-deployment most recent deployment id parameter: 'MostRecentDeploymentId'")
            self.put("MostRecentDeploymentId", deployment_id,
                     "Herd rolling-deployment most recent (upgrade utility lambda triggered) deployment id.")
        except ClientError as error:
            self.error("CodeDeploy caused an exception, {0}".format(error))
            raise Exception("CodeDeploy 'create-deployment' failure. Exception: {0}".format(error))

    def pad_log(self) -> None:
        """The ``lambda_log_padding_bytes`` fault: push the id line out of the 4 KB tail."""
        size = self.faults.lambda_log_padding_bytes
        if not size:
            return
        still_to_come = (
            len("INFO: Updating rolling-deployment most recent deployment id parameter: 'MostRecentDeploymentId'\n")
            + len("INFO: SSM parameter updated.\n")
            + self.context.log_trailer_bytes
        )
        split_at = size + still_to_come - LOG_TAIL_BYTES
        self.log.write(padding_text(size, split_at if 0 < split_at < size else None))


class InvokeResult:
    def __init__(self, payload: bytes, log: bytes, function_error: Optional[str], request_id: str):
        self.payload = payload
        self.log = log
        self.function_error = function_error
        self.request_id = request_id


class LambdaRuntime:
    """Runs registered Python handlers the way the Lambda service frames them."""

    def __init__(self):
        self._handlers: Dict[Tuple[str, str, str], Callable] = {}
        self._warm: set = set()
        self._lock = threading.Lock()

    def register(self, account: str, region: str, function_name: str, handler: Callable) -> None:
        self._handlers[(account, region, function_name)] = handler

    def handler_for(self, account: str, region: str, function_name: str) -> Optional[Callable]:
        return self._handlers.get((account, region, function_name))

    def invoke(self, handler: Callable, function_name: str, memory_size: int, event: Any) -> InvokeResult:
        request_id = str(uuid.uuid4())
        with self._lock:
            cold = function_name not in self._warm
            self._warm.add(function_name)
        init_ms = random.uniform(300.0, 499.99) if cold else None
        log = LambdaLog()
        log.write("START RequestId: {0} Version: $LATEST\n".format(request_id))
        trailer = len(self._end(request_id).encode("utf-8")) + len(
            self._report(request_id, 1000.0, memory_size, init_ms).encode("utf-8"))
        context = InvokeContext(request_id, function_name, memory_size, trailer)
        started = time.perf_counter()
        try:
            result = handler(event, context, log)
            payload = json.dumps(result).encode("utf-8")
            function_error = None
        except Exception as error:  # what the Python runtime does with an unhandled exception
            frames = _stack_trace(error)
            log.write("[ERROR] {0}: {1}\nTraceback (most recent call last):\n{2}".format(
                type(error).__name__, error, "".join(frames)))
            payload = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__,
                                  "requestId": request_id, "stackTrace": frames}).encode("utf-8")
            function_error = "Unhandled"
        duration_ms = 1000.0 + (time.perf_counter() - started) * 1000.0
        log.write(self._end(request_id))
        log.write(self._report(request_id, duration_ms, memory_size, init_ms))
        return InvokeResult(payload, log.getvalue(), function_error, request_id)

    @staticmethod
    def _end(request_id: str) -> str:
        return "END RequestId: {0}\n".format(request_id)

    @staticmethod
    def _report(request_id: str, duration_ms: float, memory_size: int, init_ms: Optional[float]) -> str:
        """The REPORT line; its fields have fixed widths so the log's length is known in advance."""
        duration_ms = min(max(duration_ms, 1000.0), 9999.99)
        billed_ms = min(int(math.ceil(duration_ms)), 9999)
        line = ("REPORT RequestId: {0}\tDuration: {1:.2f} ms\tBilled Duration: {2} ms\tMemory Size: {3} MB\t"
                "Max Memory Used: {4} MB\t").format(request_id, duration_ms, billed_ms, memory_size, MAX_MEMORY_USED_MB)
        if init_ms is not None:
            line += "Init Duration: {0:.2f} ms\t".format(init_ms)
        return line + "\n"


def _task_path(filename: str) -> str:
    """Where a file would be inside the Lambda sandbox: the function's own code, or the runtime's."""
    if os.path.abspath(filename) == os.path.abspath(__file__):
        return TASK_PATH
    for root in sys.path:
        if root and "site-packages" in root and filename.startswith(root):
            return RUNTIME_PATH + os.path.relpath(filename, root)
    return filename


def _stack_trace(error: BaseException) -> List[str]:
    """The traceback lines of ``error`` from the function's handler down, as Lambda reports them."""
    entries = traceback.extract_tb(error.__traceback__)
    while entries and entries[0].name != "handler":
        entries.pop(0)
    for entry in entries:
        entry.filename = _task_path(entry.filename)
    return traceback.format_list(entries)


# -- installation into moto ----------------------------------------------------------------------
_active: Dict[str, Optional[LambdaRuntime]] = {"runtime": None}
_original_invoke = LambdaSimpleBackend.invoke
_install_lock = threading.Lock()


def _invoke(self, function_name, qualifier, body, headers, response_headers):
    """LambdaSimpleBackend.invoke for the sandbox: run registered functions, echo the others."""
    runtime = _active["runtime"]
    function = self.get_function(function_name, qualifier)  # ResourceNotFoundException when unknown
    handler = runtime.handler_for(self.account_id, self.region_name, function.function_name) if runtime else None
    if handler is None:
        return _original_invoke(self, function_name, qualifier, body, headers, response_headers)
    raw = body or b"{}"
    try:
        event = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ServiceException("InvalidRequestContentException",
                               "Could not parse request body into json: {0}".format(error))
    invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    response_headers["x-amz-executed-version"] = "$LATEST"
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        threading.Thread(target=runtime.invoke, args=(handler, function.function_name, function.memory_size, event),
                         name="mdl-sandbox-lambda-event", daemon=True).start()
        return b""
    result = runtime.invoke(handler, function.function_name, function.memory_size, event)
    delay = getattr(getattr(handler, "faults", None), "lambda_response_delay_seconds", 0)
    if delay:
        # The function ran (and started its deployment); its answer is lost or late on the way back.
        time.sleep(delay)
    response_headers["x-amz-log-result"] = log_tail(result.log)
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    return result.payload


def install(runtime: Optional[LambdaRuntime]) -> None:
    """Route moto's Lambda invokes (``use_docker: false``) through ``runtime`` (None: moto's own)."""
    with _install_lock:
        LambdaSimpleBackend.invoke = _invoke
        _active["runtime"] = runtime
