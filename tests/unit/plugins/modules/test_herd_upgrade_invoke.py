# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""herd_upgrade_invoke end to end, against moto in-process.

moto holds the stack (CodeDeploy application and group, SSM parameters, the Lambda function);
its Lambda backend is replaced by ``FakeUpgradeLambda``, which does what the MDL upgrade
Lambda does (SSM writes, one CodeDeploy deployment, the log) and counts its invocations.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import random
import string
import time
import zipfile

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402
from moto.codedeploy.models import codedeploy_backends  # noqa: E402
from moto.codedeploy.responses import CodeDeployResponse  # noqa: E402
from moto.core.exceptions import JsonRESTError  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

from ansible_collections.mdl.herd.plugins.modules import herd_upgrade_invoke  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.modules.module_runner import run_module  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.herd_servers import AnsweringHerd  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
INSTANCE = "mdl"
ENVIRONMENT = "DEV"
FUNCTION = "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION"
APPLICATION = "mdl-Herd"
GROUP = "mdl-HerdDeployGroup"
PREFIX = "/app/MDL/mdl/DEV/"
ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]


class ServiceError(JsonRESTError):
    code = 500


def new_deployment_id():
    return "d-" + "".join(random.choice(string.ascii_uppercase + string.digits) for dummy in range(9))


class FakeUpgradeLambda(object):
    """What the MDL upgrade Lambda does, in moto, with the faults the tests need."""

    def __init__(self):
        self.events = []
        self.pad_log_bytes = 0  # log lines after the id line, so that the 4 KB tail loses it
        self.raise_service_error = False  # Lambda answers 500
        self.fail_after_deployment = False  # raise once the deployment exists (step 4 failed)
        self.ssm_points_to = None  # callable(new_id) -> the id written to MostRecentDeploymentId
        self.broken_utf8_in_tail = False

    def install(self, monkeypatch):
        fake = self

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            return fake.run(function_name, body, headers, response_headers)

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

    # The function itself
    def run(self, function_name, body, headers, response_headers):
        event = json.loads(body) if body else {}
        self.events.append(event)
        if self.raise_service_error:
            raise ServiceError("ServiceException", "Lambda was unable to finish the request")
        log = ["START RequestId: 0f0e Version: $LATEST"]
        try:
            self.handler(event, log)
        except Exception as e:  # the Lambda runtime turns an exception into a FunctionError
            log.append("[ERROR] {0}: {1}".format(type(e).__name__, e))
            log.append("END RequestId: 0f0e")
            response_headers["x-amz-function-error"] = "Unhandled"
            self.tail(log, response_headers)
            return json.dumps({"errorMessage": str(e), "errorType": type(e).__name__, "stackTrace": []}).encode()
        log.append("END RequestId: 0f0e")
        log.append("REPORT RequestId: 0f0e Duration: 1234.56 ms")
        self.tail(log, response_headers)
        return b"null"

    def handler(self, event, log):
        version = event["RequestedVersion"]  # KeyError when missing, as in MDL
        if version is None:
            log.append("ERROR: FATAL: Required parameter: 'RequestedVersion' not found in event")
            return
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name=PREFIX + "HERD/DeploymentInvoked", Value="true", Type="String", Overwrite=True)
        ssm.put_parameter(Name=PREFIX + "HERD/RequestedVersion", Value=version, Type="String", Overwrite=True)
        log.append("INFO: Requested version: {0}".format(version))
        if any(d.status in ACTIVE for d in codedeploy_backend().deployments.values()):
            raise RuntimeError("An error occurred (DeploymentLimitExceededException) when calling the CreateDeployment operation")
        deployment_id = create_deployment()
        log.append("INFO: Deployment id is: '{0}'.".format(deployment_id))
        if self.fail_after_deployment:
            raise RuntimeError("An error occurred (ThrottlingException) when calling the PutParameter operation")
        for number in range(self.pad_log_bytes // 60 + 1 if self.pad_log_bytes else 0):
            log.append("INFO: waiting for the replacement instances ({0:04d}) é".format(number).ljust(58, "."))
        written = self.ssm_points_to(deployment_id) if self.ssm_points_to else deployment_id
        ssm.put_parameter(Name=PREFIX + "HERD/MostRecentDeploymentId", Value=written, Type="String", Overwrite=True)

    def tail(self, log, response_headers):
        raw = "\n".join(log).encode("utf-8") + b"\n"
        tail = raw[-4096:]
        if self.broken_utf8_in_tail:
            tail = "é".encode("utf-8")[1:] + tail[1:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()


def codedeploy_backend():
    return codedeploy_backends[ACCOUNT][REGION]


def create_deployment(age_seconds=0, status="Created"):
    """A deployment in the stack's group, with an AWS-shaped id, created ``age_seconds`` ago."""
    uuid_id = boto3.client("codedeploy", region_name=REGION).create_deployment(
        applicationName=APPLICATION,
        deploymentGroupName=GROUP,
        revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k", "bundleType": "zip"}},
    )["deploymentId"]
    backend = codedeploy_backend()
    deployment = backend.deployments.pop(uuid_id)
    deployment.deployment_id = new_deployment_id()
    deployment.status = status
    deployment.create_time = deployment.create_time - datetime.timedelta(seconds=age_seconds)
    backend.deployments[deployment.deployment_id] = deployment
    return deployment.deployment_id


def set_status(deployment_id, status):
    codedeploy_backend().deployments[deployment_id].status = status


def put(name, value):
    boto3.client("ssm", region_name=REGION).put_parameter(Name=PREFIX + name, Value=value, Type="String", Overwrite=True)


def get(name):
    return boto3.client("ssm", region_name=REGION).get_parameter(Name=PREFIX + name)["Parameter"]["Value"]


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def stack(monkeypatch):
    """An MDL stack in moto, with a previous deployment that succeeded; yields the fake Lambda."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="upgrade", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("lambda", region_name=REGION).create_function(
            FunctionName=FUNCTION, Runtime="python3.11", Role=role, Handler="index.handler", Timeout=900,
            Code={"ZipFile": zip_bytes()},
            Environment={"Variables": {"INSTANCE_NAME": INSTANCE, "ENVIRONMENT": ENVIRONMENT, "RELEASE_VERSION": "1.5.0"}},
        )
        codedeploy = boto3.client("codedeploy", region_name=REGION)
        codedeploy.create_application(applicationName=APPLICATION, computePlatform="Server")
        codedeploy.create_deployment_group(applicationName=APPLICATION, deploymentGroupName=GROUP, serviceRoleArn=role)
        previous = create_deployment(age_seconds=3600, status="Succeeded")
        put("HERD/MostRecentDeploymentId", previous)
        put("HERD/RequestedVersion", "0.170.0")
        fake = FakeUpgradeLambda()
        fake.install(monkeypatch)
        fake.previous = previous
        yield fake


@pytest.fixture
def no_sleep(monkeypatch):
    """Retries back off without waiting; the sleeps are recorded."""
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    return sleeps


def throttle(monkeypatch, response_class, method, times):
    """Make the first ``times`` calls of a moto API answer ThrottlingException; return the call counter."""
    original = getattr(response_class, method)
    calls = {"count": 0}

    def throttled(self):
        calls["count"] += 1
        if calls["count"] <= times:
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return original(self)

    monkeypatch.setattr(response_class, method, throttled)
    return calls


def run(monkeypatch, check_mode=False, **args):
    """Run the module; return (failed, result)."""
    params = dict(region=REGION, access_key="testing", secret_key="testing", preflight=[])  # tests/unit/.../test_preflight.py
    params.update(args)
    return run_module(monkeypatch, herd_upgrade_invoke.main, params, check_mode=check_mode)


def stack_args(**extra):
    args = dict(mdl_instance_name=INSTANCE, mdl_environment=ENVIRONMENT, requested_version="0.176.0")
    args.update(extra)
    return args


def deployments():
    return {i: d.status for i, d in codedeploy_backend().deployments.items()}


# --- invoking -----------------------------------------------------------------------------------


def test_the_preflight_runs_through_the_module_before_the_invoke(stack, monkeypatch):
    """The module builds the preflight only when its checks run (after the looks; test_module_imports.py)."""
    failed, result = run(monkeypatch, preflight=["lambda", "deployment_group", "active_deployment"], **stack_args())
    assert not failed, result
    assert result["preflight"] == {"lambda": "ok", "deployment_group": "ok", "active_deployment": "ok"}
    assert stack.events == [{"RequestedVersion": "0.176.0"}]


def test_the_preflight_asks_the_artifact_repository_it_is_given(stack, monkeypatch):
    failed, result = run(monkeypatch, preflight=["published"], artifact_repository="http://127.0.0.1:9/maven2",
                         **stack_args())
    assert not failed and stack.events == [{"RequestedVersion": "0.176.0"}], result  # cannot tell (nothing listens): it goes on
    assert result["preflight"]["published"].startswith("cannot tell: http://127.0.0.1:9/maven2/org/finra/herd/herd-war/0.176.0/")


def test_invokes_once_and_returns_the_id_from_the_log(stack, monkeypatch):
    failed, result = run(monkeypatch, **stack_args())
    assert not failed, result
    assert stack.events == [{"RequestedVersion": "0.176.0"}]
    assert result["changed"] is True
    assert result["attached"] is False
    assert result["deployment_id"] == get("HERD/MostRecentDeploymentId")
    assert result["deployment_id"] != stack.previous
    assert result["deployment_id_source"] == "log"
    assert result["previous_deployment_id"] == stack.previous
    assert result["function_name"] == FUNCTION
    assert result["requested_version"] == "0.176.0"
    assert (result["mdl_instance_name"], result["mdl_environment"]) == (INSTANCE, ENVIRONMENT)
    assert "INFO: Deployment id is: '{0}'.".format(result["deployment_id"]) in result["log_lines"]
    assert result["request_id"] == "0f0e"  # the request id of the log (START/END/REPORT lines)
    assert get("HERD/RequestedVersion") == "0.176.0"


def spy_invoke_clients(monkeypatch):
    """The botocore clients the module builds for the Invoke (through the real _aws.no_retry_client)."""
    built = []
    original = herd_upgrade_invoke._aws.no_retry_client

    def spy(module, service, read_timeout):
        client = original(module, service, read_timeout)
        built.append(client)
        return client

    monkeypatch.setattr(herd_upgrade_invoke._aws, "no_retry_client", spy)
    return built


@pytest.mark.parametrize("function_timeout, aws_config", [
    (900, None),
    (300, None),
    # a user's aws_config (often set for a whole group in module_defaults) changes neither
    (120, {"read_timeout": 5, "retries": {"max_attempts": 10, "mode": "standard"}}),
])
def test_the_invoke_client_waits_the_function_timeout_plus_a_minute_and_sends_once(stack, monkeypatch, function_timeout, aws_config):
    boto3.client("lambda", region_name=REGION).update_function_configuration(FunctionName=FUNCTION, Timeout=function_timeout)
    built = spy_invoke_clients(monkeypatch)
    extra = {"aws_config": aws_config} if aws_config else {}
    failed, result = run(monkeypatch, **stack_args(**extra))
    assert not failed, result
    assert len(built) == 1 and built[0].meta.service_model.service_name == "lambda"
    config = built[0].meta.config
    assert config.read_timeout == function_timeout + 60
    assert config.retries["total_max_attempts"] == 1
    assert stack.events == [{"RequestedVersion": "0.176.0"}]


def test_the_version_reaches_the_function_as_json_whatever_it_holds(stack, monkeypatch):
    failed, result = run(monkeypatch, **stack_args(requested_version="1.0.0-build.5-RC1"))
    assert not failed, result
    assert stack.events == [{"RequestedVersion": "1.0.0-build.5-RC1"}]


def test_id_from_ssm_when_the_tail_lost_the_id_line(stack, monkeypatch):
    stack.pad_log_bytes = 6000
    failed, result = run(monkeypatch, **stack_args())
    assert not failed, result
    assert not any("Deployment id is" in line for line in result["log_lines"])
    assert result["deployment_id"] == get("HERD/MostRecentDeploymentId") != stack.previous
    assert result["deployment_id_source"] == "ssm"
    assert result["deployment_status"] == "Created"
    assert result["deployment_create_time"].endswith("+00:00")
    assert len(stack.events) == 1


def test_a_tail_cut_inside_a_character_is_decoded_with_replacement(stack, monkeypatch):
    stack.broken_utf8_in_tail = True
    failed, result = run(monkeypatch, **stack_args())
    assert not failed, result
    assert result["log_lines"][0].startswith("\ufffd")


def test_stale_ssm_id_is_refused(stack, monkeypatch):
    old = {}

    def older_deployment(new_id):
        old["id"] = create_deployment(age_seconds=600, status="Succeeded")
        return old["id"]

    stack.pad_log_bytes = 6000
    stack.ssm_points_to = older_deployment
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert old["id"] in result["msg"] and "before this invoke began" in result["msg"]
    assert "last 4 KB" in result["msg"]
    assert len(stack.events) == 1


def test_unchanged_ssm_id_is_refused(stack, monkeypatch):
    stack.pad_log_bytes = 6000
    stack.ssm_points_to = lambda new_id: stack.previous
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert "still holds {0}".format(stack.previous) in result["msg"]
    assert result["previous_deployment_id"] == stack.previous
    assert result["log_lines"] and result["request_id"]


def test_function_error_fails_with_type_message_and_log(stack, monkeypatch):
    stack.fail_after_deployment = True
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert result["error_type"] == "RuntimeError"
    assert "ThrottlingException" in result["error_message"]
    assert result["function_error"] == "Unhandled"
    assert "failed with RuntimeError" in result["msg"]
    # the deployment it started before failing is named, not hidden
    started = [i for i in deployments() if i != stack.previous]
    assert len(started) == 1
    assert result["deployment_id"] == started[0]
    assert started[0] in result["msg"]
    assert any(line.startswith("[ERROR] RuntimeError") for line in result["log_lines"])


def test_deployment_limit_exceeded_says_to_run_again(stack, monkeypatch):
    # an active deployment the module cannot see (created between its look and the invoke)
    original = CodeDeployResponse.list_deployments
    looks = {"count": 0}

    def first_look_sees_nothing(self):
        looks["count"] += 1
        if looks["count"] == 1:
            create_deployment(status="InProgress")
        if looks["count"] <= 2:  # before the lock and under it
            return json.dumps({"deployments": []})
        return original(self)

    monkeypatch.setattr(CodeDeployResponse, "list_deployments", first_look_sees_nothing)
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert "DeploymentLimitExceeded" in result["msg"]
    assert "this invoke started none" in result["msg"]
    assert "Running this task again joins the deployment of 0.176.0 under way" in result["msg"]
    # the function ran and wrote SSM: never "nothing changed"
    assert result["changed"] is True and result["deployment_id"] is None and result["request_id"]
    # what it overwrote before CodeDeploy refused is put back, so the running deployment keeps its version
    assert get("HERD/RequestedVersion") == "0.170.0"
    assert "this task put back" in result["msg"]


def lock_exists():
    try:
        get("HERD/UpgradeLock")
    except ClientError:
        return False
    return True


def test_the_lock_is_taken_for_the_invoke_and_gone_after_it(stack, monkeypatch):
    seen = []
    original = stack.handler

    def handler(event, log):
        seen.append(json.loads(get("HERD/UpgradeLock")))
        original(event, log)

    stack.handler = handler
    failed, result = run(monkeypatch, **stack_args())
    assert not failed, result
    assert seen[0]["version"] == "0.176.0" and seen[0]["owner"]
    assert not lock_exists()


def test_without_the_lock_no_lock_is_written(stack, monkeypatch):
    seen = []
    original = stack.handler

    def handler(event, log):
        seen.append(lock_exists())
        original(event, log)

    stack.handler = handler
    failed, result = run(monkeypatch, lock=False, **stack_args())
    assert not failed, result
    assert seen == [False]


def test_a_lock_held_by_another_run_is_waited_for_then_the_run_gives_up(stack, monkeypatch, no_sleep):
    put("HERD/UpgradeLock", json.dumps({"owner": "other", "host": "ctl-2", "version": "0.177.0"}))
    failed, result = run(monkeypatch, lock_wait=0, **stack_args())
    assert failed
    assert stack.events == []
    assert "held by ctl-2 for HERD 0.177.0" in result["msg"] and "nothing was invoked" in result["msg"]
    assert lock_exists()  # not ours: left alone


def test_error_line_fails(stack, monkeypatch):
    # A null version reaches the function only from outside this module; the module refuses it itself,
    # so make the function see one.
    original = stack.handler
    stack.handler = lambda event, log: original({"RequestedVersion": None}, log)
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert "ERROR: FATAL: Required parameter" in result["msg"]
    assert "It started no deployment that can be seen" in result["msg"]
    assert result["deployment_id"] is None
    assert deployments() == {stack.previous: "Succeeded"}


def test_invoke_is_not_retried_on_a_server_error_even_when_aws_config_asks(stack, monkeypatch, no_sleep):
    stack.raise_service_error = True
    failed, result = run(monkeypatch, aws_config={"retries": {"max_attempts": 5, "mode": "standard"}}, **stack_args())
    assert failed
    assert len(stack.events) == 1
    assert "not retried" in result["msg"]
    assert result["error"]["code"] == "ServiceException"


def test_reads_are_retried_on_throttling_and_invoke_happens_exactly_once(stack, monkeypatch, no_sleep):
    stack.pad_log_bytes = 6000  # the id then comes from SSM and GetDeployment: more reads to throttle
    ssm_reads = throttle(monkeypatch, SimpleSystemManagerResponse, "get_parameter", 2)
    lists = throttle(monkeypatch, CodeDeployResponse, "list_deployments", 2)
    gets = throttle(monkeypatch, CodeDeployResponse, "get_deployment", 3)
    # botocore's own retries off: the retries seen are the module's (AWSRetry, with backoff)
    failed, result = run(monkeypatch, aws_config={"retries": {"max_attempts": 0}}, **stack_args())
    assert not failed, result
    assert len(stack.events) == 1
    assert result["deployment_id_source"] == "ssm"
    # 2 throttled, then RequestedVersion, DeploymentInvoked and MostRecentDeploymentId before the invoke,
    # MostRecentDeploymentId after it, and the lock read back before it is deleted
    assert ssm_reads["count"] == 2 + 5
    assert lists["count"] == 2 + 2  # before the lock and under it
    assert gets["count"] == 3 + 1
    assert len(no_sleep) >= 2 + 2 + 3


def test_throttling_that_never_ends_fails_without_invoking(stack, monkeypatch, no_sleep):
    throttle(monkeypatch, SimpleSystemManagerResponse, "get_parameter", 1000)
    failed, result = run(monkeypatch, aws_config={"retries": {"max_attempts": 0}}, **stack_args())
    assert failed
    assert stack.events == []
    assert "Could not read the SSM parameter {0}HERD/RequestedVersion".format(PREFIX) in result["msg"]
    assert result["error"]["code"] == "ThrottlingException"


# --- an active deployment -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ACTIVE)
def test_attaches_to_the_active_deployment_of_the_same_version(stack, monkeypatch, status):
    put("HERD/RequestedVersion", "0.176.0")  # the upgrade Lambda writes it, then creates the deployment
    active = create_deployment(status=status)
    failed, result = run(monkeypatch, **stack_args())
    assert not failed, result
    assert stack.events == []
    assert result["changed"] is False
    assert result["attached"] is True
    assert result["deployment_id"] == active
    assert result["deployment_status"] == status
    assert result["deployment_id_source"] == "active_deployment"
    assert result["log_lines"] == [] and result["request_id"] is None


def test_a_second_run_attaches_to_the_deployment_of_the_first(stack, monkeypatch):
    failed, first = run(monkeypatch, **stack_args())
    assert not failed, first
    failed, second = run(monkeypatch, **stack_args())
    assert not failed, second
    assert len(stack.events) == 1
    assert (second["changed"], second["attached"], second["deployment_id"]) == (False, True, first["deployment_id"])


def test_on_active_deployment_fail(stack, monkeypatch):
    active = create_deployment(status="InProgress")
    put("HERD/RequestedVersion", "0.176.0")
    failed, result = run(monkeypatch, on_active_deployment="fail", **stack_args())
    assert failed
    assert stack.events == []
    assert active in result["msg"] and "on_active_deployment" in result["msg"]


def test_active_deployment_of_another_version_is_refused(stack, monkeypatch):
    active = create_deployment(status="InProgress")
    put("HERD/RequestedVersion", "0.171.0")
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert stack.events == []
    for word in (active, "0.171.0", "InProgress", "0.176.0", "codedeploy_wait"):
        assert word in result["msg"]
    assert result["deployment_id"] == active
    assert result["active_requested_version"] == "0.171.0"


def test_a_rollback_under_way_is_not_attached_to(stack, monkeypatch):
    put("HERD/RequestedVersion", "0.176.0")
    rollback = create_deployment(status="InProgress")
    codedeploy_backend().deployments[rollback].creator = "codeDeployRollback"
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert stack.events == []
    assert rollback in result["msg"] and "automatic rollback" in result["msg"]


def test_version_changed_after_the_active_deployment_was_created_is_not_trusted(stack, monkeypatch):
    active = create_deployment(age_seconds=600, status="InProgress")
    put("HERD/RequestedVersion", "0.176.0")  # written now: by an invoke CodeDeploy refused
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert stack.events == []
    assert active in result["msg"] and "uncertain" in result["msg"]


# --- check mode ---------------------------------------------------------------------------------


def test_check_mode_never_invokes(stack, monkeypatch):
    failed, result = run(monkeypatch, check_mode=True, **stack_args())
    assert not failed, result
    assert result["changed"] is True and result["attached"] is False
    assert result["deployment_id"] is None
    assert result["previous_deployment_id"] == stack.previous
    assert stack.events == []
    assert deployments() == {stack.previous: "Succeeded"}


def test_check_mode_reports_attach_as_unchanged(stack, monkeypatch):
    active = create_deployment(status="InProgress")
    put("HERD/RequestedVersion", "0.176.0")
    failed, result = run(monkeypatch, check_mode=True, **stack_args())
    assert not failed, result
    assert (result["changed"], result["attached"], result["deployment_id"]) == (False, True, active)
    assert stack.events == []


def test_check_mode_fails_when_the_function_does_not_exist(stack, monkeypatch):
    failed, result = run(monkeypatch, check_mode=True, **stack_args(mdl_instance_name="other"))
    assert failed
    assert "other-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION does not exist" in result["msg"]
    assert "mdl_instance_name" in result["msg"]


# --- naming the function ----------------------------------------------------------------------------


def test_function_name_alone_reads_the_stack_from_the_function(stack, monkeypatch):
    arn = "arn:aws:lambda:{0}:{1}:function:{2}".format(REGION, ACCOUNT, FUNCTION)
    failed, result = run(monkeypatch, function_name=arn, requested_version="0.176.0")
    assert not failed, result
    assert (result["mdl_instance_name"], result["mdl_environment"], result["function_name"]) == (INSTANCE, ENVIRONMENT, FUNCTION)
    assert len(stack.events) == 1


def test_function_of_another_stack_is_refused(stack, monkeypatch):
    failed, result = run(monkeypatch, function_name=FUNCTION, **stack_args(mdl_environment="QA"))
    assert failed
    assert "upgrades the stack mdl/DEV, not mdl/QA" in result["msg"]
    assert stack.events == []


# --- input checked before any AWS call ----------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (stack_args(requested_version="0.176.0 "), ["requested_version must be"]),
    (stack_args(requested_version='0.1", "x": "y'), ["requested_version must be"]),
    (stack_args(requested_version="{{ lookup('env', 'HOME') }}"), ["requested_version must be"]),
    (stack_args(requested_version="a" * 65), ["requested_version must be"]),
    (stack_args(requested_version=""), ["requested_version must be"]),
    (stack_args(requested_version="0.176.0\n"), ["requested_version must be"]),
    (stack_args(mdl_instance_name="md l"), ["mdl_instance_name must be"]),
    (stack_args(mdl_environment="DEV\n"), ["mdl_environment must be"]),
    (stack_args(function_name="my function"), ["function_name must be"]),
    (stack_args(function_name=FUNCTION + "\n"), ["function_name must be"]),
    (dict(function_name="arn:aws:lambda:eu-west-1:{0}:function:{1}".format(ACCOUNT, FUNCTION), requested_version="0.176.0"),
     ["function_name is a function of region eu-west-1", "set region to eu-west-1"]),
    (dict(requested_version="0.176.0"), ["one of the following is required", "mdl_instance_name", "function_name"]),
    (dict(mdl_instance_name=INSTANCE, requested_version="0.176.0"), ["required together", "mdl_environment"]),
    (stack_args(on_active_deployment="ignore"), ["on_active_deployment", "attach, fail"]),
    (stack_args(served_version="0.176.0 "), ["served_version must be"]),
    (stack_args(served_version="0.170.0", buildinfo={"url": "https://h"}), ["mutually exclusive", "served_version", "buildinfo"]),
    (stack_args(buildinfo={"url": "https://h", "retries": -1}), ["buildinfo.retries must be 0 or more; got -1"]),
    (stack_args(buildinfo={"url": "https://h", "username": "u"}), ["buildinfo.username and buildinfo.password go together"]),
    (dict(function_name=FUNCTION, requested_version="0.176.0", buildinfo={"credentials_from_ssm": True, "url": "https://h"}),
     ["buildinfo.credentials_from_ssm, needs mdl_instance_name and mdl_environment"]),
    (stack_args(buildinfo={"url": "ftp://h"}), ["url"]),
])
def test_bad_input_fails_before_any_aws_call(monkeypatch, args, words):
    def no_client(*a, **kw):
        raise AssertionError("an AWS client was built")

    monkeypatch.setattr(herd_upgrade_invoke._aws, "client", no_client)
    monkeypatch.setattr(herd_upgrade_invoke._aws, "no_retry_client", no_client)
    failed, result = run(monkeypatch, **args)
    assert failed
    for word in words:
        assert word in result["msg"]


# --- HERD already serves the requested version (served_version) -----------------------------------


def test_served_version_equal_to_the_request_invokes_nothing(stack, monkeypatch):
    failed, result = run(monkeypatch, served_version="0.176.0", **stack_args(requested_version="0.176"))
    assert not failed, result
    assert stack.events == []
    assert (result["changed"], result["attached"], result["already_served"], result["deployment_id"]) == (False, False, True, None)


def test_served_version_joins_a_deployment_of_that_version_past_its_smoke_test(stack, monkeypatch):
    """After traffic is rerouted, buildInfo reports the new version while the deployment still runs."""
    active = create_deployment(age_seconds=300, status="InProgress")
    put("HERD/RequestedVersion", "FilledLater")  # smokeTestHerd.sh, minutes after the deployment was created
    put("HERD/CurrentVersion", "0.176.0")
    failed, result = run(monkeypatch, served_version="0.176.0", **stack_args())
    assert not failed, result
    assert stack.events == []
    assert (result["changed"], result["attached"], result["already_served"]) == (False, True, False)
    assert result["deployment_id"] == active
    assert result["active_requested_version"] == "0.176.0"


def test_a_rerun_past_the_smoke_test_joins_and_another_version_is_refused(stack, monkeypatch):
    active = create_deployment(age_seconds=300, status="InProgress")
    put("HERD/RequestedVersion", "FilledLater")
    put("HERD/CurrentVersion", "0.176.0")
    failed, result = run(monkeypatch, **stack_args())
    assert not failed, result
    assert (result["attached"], result["deployment_id"]) == (True, active)
    failed, result = run(monkeypatch, **stack_args(requested_version="0.177.0"))
    assert failed
    assert stack.events == []
    assert "already deploying HERD 0.176.0" in result["msg"] and "not the requested 0.177.0" in result["msg"]


def test_served_version_with_another_version_under_way_is_refused(stack, monkeypatch):
    create_deployment(status="InProgress")
    put("HERD/RequestedVersion", "0.180.0")
    failed, result = run(monkeypatch, served_version="0.176.0", **stack_args())
    assert failed
    assert stack.events == []
    assert "already deploying HERD 0.180.0, not the requested 0.176.0" in result["msg"]


def test_served_version_older_than_the_request_upgrades(stack, monkeypatch):
    failed, result = run(monkeypatch, served_version="0.170.0", **stack_args())
    assert not failed, result
    assert stack.events == [{"RequestedVersion": "0.176.0"}]
    assert result["changed"] is True and result["already_served"] is False


# --- downgrades -------------------------------------------------------------------------------------


def test_a_downgrade_is_refused_naming_both_versions_and_the_variable(stack, monkeypatch):
    failed, result = run(monkeypatch, served_version="0.180.0", **stack_args())
    assert failed
    assert stack.events == []
    assert "serves HERD 0.180.0, and the requested 0.176.0 is older" in result["msg"]
    assert "herd_upgrade_allow_downgrade=true" in result["msg"] and "Nothing was invoked" in result["msg"]


def test_a_downgrade_allowed_invokes(stack, monkeypatch):
    failed, result = run(monkeypatch, served_version="0.180.0", allow_downgrade=True, **stack_args())
    assert not failed, result
    assert stack.events == [{"RequestedVersion": "0.176.0"}]
    assert result["downgrade"] is True


@pytest.mark.parametrize("served", ["0.176.0-SNAPSHOT", "0.175.9", "0.99.0"])
def test_an_older_served_version_is_an_upgrade(stack, monkeypatch, served):
    failed, result = run(monkeypatch, served_version=served, **stack_args())
    assert not failed, result
    assert result["downgrade"] is False and len(stack.events) == 1


# --- nothing started is lost --------------------------------------------------------------------------


def test_a_failure_after_the_invoke_returned_is_changed_with_what_is_known(stack, monkeypatch, no_sleep):
    """GetDeployment throttled for good and the id line lost from the tail: the deployment may run unattended."""
    stack.pad_log_bytes = 6000
    throttle(monkeypatch, CodeDeployResponse, "get_deployment", 1000)
    failed, result = run(monkeypatch, **stack_args())
    assert failed
    assert len(stack.events) == 1
    assert result["changed"] is True
    assert result["request_id"] and "deployment_id" in result
    assert "Running this task again joins the deployment of 0.176.0 under way" in result["msg"]


# --- HERD read first (buildinfo) ------------------------------------------------------------------


def test_buildinfo_at_the_requested_version_invokes_nothing_and_returns_what_herd_said(stack, monkeypatch):
    with AnsweringHerd(version="0.176.0") as herd:
        failed, result = run(monkeypatch, buildinfo={"url": herd.url}, **stack_args(requested_version="0.176"))
    assert not failed, result
    assert stack.events == []
    assert (result["already_served"], result["changed"], result["served"]["build_number"], result["served"]["url"]) == (
        True, False, "0.176.0", herd.url)


def test_buildinfo_at_another_version_upgrades_from_it(stack, monkeypatch):
    with AnsweringHerd(version="0.170.0") as herd:
        failed, result = run(monkeypatch, buildinfo={"url": herd.url}, **stack_args())
    assert not failed, result
    assert len(stack.events) == 1 and result["changed"] and result["deployment_id"]
    assert (result["served"]["build_number"], result["downgrade"]) == ("0.170.0", False)


def test_buildinfo_is_the_served_version_a_downgrade_is_judged_by(stack, monkeypatch):
    with AnsweringHerd(version="0.180.0") as herd:
        failed, result = run(monkeypatch, buildinfo={"url": herd.url}, **stack_args())
    assert failed and stack.events == []
    assert "0.180.0" in result["msg"] and "allow_downgrade" in result["msg"]
    assert result["served"]["build_number"] == "0.180.0"


def test_a_herd_that_cannot_be_read_fails_before_anything_is_invoked(stack, monkeypatch):
    url = "http://127.0.0.1:9/herd-app/rest/buildInfo"
    failed, result = run(monkeypatch, buildinfo={"url": url, "timeout": 2}, **stack_args())
    assert failed and stack.events == []
    assert url in result["msg"]


# --- HERD read first with the credentials from SSM: the open page, the credentials only before a change -------------


HERD_PASSWORD = "Herd-Admin-Pw-5c1d"


def credential_reads(monkeypatch):
    """The names of the SSM parameters read, in order (GetParameter and GetParameters)."""
    names = []
    for method in ("get_parameter", "get_parameters"):
        original = getattr(SimpleSystemManagerResponse, method)

        def spy(self, original=original):
            body = json.loads(self.body)
            names.extend([body["Name"]] if "Name" in body else body.get("Names", []))
            return original(self)

        monkeypatch.setattr(SimpleSystemManagerResponse, method, spy)
    return names


def herd_admin(password=HERD_PASSWORD):
    put("LDAP/User/HerdAdminUsername", "admin")
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name=PREFIX + "LDAP/Password/HerdAdminPassword", Value=password, Type="SecureString", Overwrite=True)


def ldap_reads(names):
    return [name for name in names if "/LDAP/" in name]


def test_with_credentials_from_ssm_nothing_to_do_reads_the_open_page_and_no_credentials(stack, monkeypatch):
    herd_admin()
    names = credential_reads(monkeypatch)
    with AnsweringHerd(version="0.176.0", username="admin", password=HERD_PASSWORD) as herd:
        failed, result = run(monkeypatch, buildinfo={"url": herd.url, "credentials_from_ssm": True}, **stack_args())
    assert not failed, result
    assert (result["already_served"], result["changed"], stack.events) == (True, False, [])
    assert result["served"]["build_number"] == "0.176.0" and result["served"]["url"].endswith("/herd-app/displayBuildInfo")
    assert ldap_reads(names) == []
    assert [(path, auth) for path, auth, dummy in herd.seen] == [("/herd-app/displayBuildInfo", None)]


@pytest.mark.parametrize("check_mode", [False, True])
def test_with_credentials_from_ssm_an_upgrade_reads_herd_with_them_before_anything_changes(stack, monkeypatch, check_mode):
    herd_admin()
    names = credential_reads(monkeypatch)
    with AnsweringHerd(version="0.170.0", username="admin", password=HERD_PASSWORD) as herd:
        failed, result = run(monkeypatch, check_mode=check_mode, buildinfo={"url": herd.url, "credentials_from_ssm": True},
                             **stack_args())
    assert not failed, result
    assert result["served"]["build_number"] == "0.170.0" and result["changed"] is True  # would change, in check mode
    assert len(stack.events) == (0 if check_mode else 1)
    assert ldap_reads(names) == [PREFIX + "LDAP/User/HerdAdminUsername", PREFIX + "LDAP/Password/HerdAdminPassword"]
    paths = [(path, auth is not None) for path, auth, dummy in herd.seen]
    assert paths == [("/herd-app/displayBuildInfo", False), ("/herd-app/rest/buildInfo", True)]
    assert HERD_PASSWORD not in json.dumps(result)


def test_with_credentials_from_ssm_that_herd_refuses_nothing_is_invoked_and_no_lock_is_left(stack, monkeypatch):
    herd_admin(password="Not-The-Password-77")
    with AnsweringHerd(version="0.170.0", username="admin", password=HERD_PASSWORD) as herd:
        failed, result = run(monkeypatch, buildinfo={"url": herd.url, "credentials_from_ssm": True}, **stack_args())
    assert failed and stack.events == [] and not lock_exists()
    assert "401" in result["msg"] and herd.url in result["msg"]
    assert "served" not in result  # as when HERD could not be read at all: the role says stage "read"
    assert "Not-The-Password-77" not in json.dumps(result)
