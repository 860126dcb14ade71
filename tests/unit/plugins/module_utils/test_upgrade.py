# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of herd_upgrade_invoke, driven without AWS: pure functions and fake clients."""

from __future__ import annotations

import base64
import datetime
import io
import json
import sys

import pytest

botocore = pytest.importorskip("botocore")

from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError  # noqa: E402

from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._time import aws_date  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import (  # noqa: E402
    CLOCK_SKEW,
    DEFAULT_FUNCTION_TIMEOUT,
    READ_TIMEOUT_MARGIN,
    ActiveDeployment,
    AwsFailure,
    UpgradeFailure,
    UpgradeInvocation,
    invoke_read_timeout,
)
from ansible_collections.mdl.herd.plugins.module_utils import _invoke  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._invoke import (  # noqa: E402
    build_payload,
    decode_log,
    invoke,
    parse_log,
    previous_deployment_id,
)

UTC = datetime.timezone.utc
T0 = datetime.datetime(2024, 5, 2, 14, 0, 0, tzinfo=UTC)
STACK = MdlStack("mdl", "DEV")
FUNCTION = "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION"
HTTP_DATE = "Thu, 02 May 2024 14:00:00 GMT"


def client_error(code, operation, status=400, date=HTTP_DATE):
    return ClientError(
        {"Error": {"Code": code, "Message": "{0} happened".format(code)},
         "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {"date": date}}},
        operation,
    )


def b64(text):
    return base64.b64encode(text.encode("utf-8") if isinstance(text, str) else text).decode()


# --- fake clients: the calls the logic makes, with the answers AWS gives --------------------------


class Meta(object):
    region_name = "us-east-1"


class FakeLambda(object):
    meta = Meta()

    def __init__(self, configuration=None, error=None, invoke_response=None, invoke_error=None):
        self.configuration = configuration if configuration is not None else {"FunctionName": FUNCTION, "Timeout": 900}
        self.error = error
        self.invoke_response = invoke_response
        self.invoke_error = invoke_error
        self.invokes = []
        self.read_timeouts = []

    def get_function_configuration(self, FunctionName, aws_retry=False):
        assert aws_retry
        if self.error:
            raise self.error
        return self.configuration

    def invoke(self, **kwargs):
        self.invokes.append(kwargs)
        if self.invoke_error:
            raise self.invoke_error
        return self.invoke_response

    def invoke_client(self, read_timeout):
        self.read_timeouts.append(read_timeout)
        return self


class FakeCodeDeploy(object):
    def __init__(self, pages=None, deployments=None, error=None):
        self.pages = pages or [{"deployments": []}]
        self.deployments = deployments or {}
        self.error = error
        self.list_calls = []

    def list_deployments(self, **kwargs):
        self.list_calls.append(kwargs)
        if self.error:
            raise self.error
        return self.pages[min(len(self.list_calls), len(self.pages)) - 1]

    def get_deployment(self, deploymentId, aws_retry=False):
        assert aws_retry
        if deploymentId not in self.deployments:
            raise client_error("DeploymentDoesNotExistException", "GetDeployment")
        return {"deploymentInfo": self.deployments[deploymentId]}


class FakeSsm(object):
    def __init__(self, values=None, date=HTTP_DATE):
        self.values = values or {}  # name -> (value, last modified) or a list of them, read in turn
        self.date = date
        self.reads = []

    def get_parameter(self, Name, aws_retry=False):
        assert aws_retry
        self.reads.append(Name)
        value = self.values.get(Name)
        if isinstance(value, list):
            value = value.pop(0)
        if value is None:
            raise client_error("ParameterNotFound", "GetParameter", date=self.date)
        headers = {"date": self.date} if self.date else {}
        return {"Parameter": {"Name": Name, "Value": value[0], "LastModifiedDate": value[1]},
                "ResponseMetadata": {"HTTPHeaders": headers}}


def deployment(deployment_id, created, status="Created", application="mdl-Herd", group="mdl-HerdDeployGroup"):
    return {"deploymentId": deployment_id, "status": status, "createTime": created, "applicationName": application,
            "deploymentGroupName": group}


def invocation(lambda_client=None, codedeploy=None, ssm=None, stack=STACK, function_name=None, version="0.176.0", warnings=None):
    lambda_client = lambda_client or FakeLambda()
    return UpgradeInvocation(
        version, stack=stack, function_name=function_name, lambda_client=lambda_client,
        codedeploy=codedeploy or FakeCodeDeploy(), ssm=ssm or FakeSsm(), invoke_client=lambda_client.invoke_client,
        now=lambda: T0, warn=(warnings.append if warnings is not None else None),
    )


def invoke_response(log, function_error=None, payload=b"null"):
    response = {"StatusCode": 200, "LogResult": b64(log), "Payload": io.BytesIO(payload),
                "ResponseMetadata": {"RequestId": "req-1", "HTTPHeaders": {}}}
    if function_error:
        response["FunctionError"] = function_error
    return response


# --- input --------------------------------------------------------------------------------------


def test_payload_is_json_whatever_the_version_holds():
    assert json.loads(build_payload('0.1", "x": "y')) == {"RequestedVersion": '0.1", "x": "y'}
    assert build_payload("0.176.0") == b'{"RequestedVersion": "0.176.0"}'


@pytest.mark.parametrize("timeout, expected", [(900, 900), (300, 300), (None, DEFAULT_FUNCTION_TIMEOUT), (0, DEFAULT_FUNCTION_TIMEOUT),
                                               ("x", DEFAULT_FUNCTION_TIMEOUT)])
def test_read_timeout_covers_the_function_timeout(timeout, expected):
    assert invoke_read_timeout(timeout) == expected + READ_TIMEOUT_MARGIN


# --- the log ------------------------------------------------------------------------------------


def test_decode_log_replaces_broken_characters():
    raw = "é".encode("utf-8")[1:] + "INFO: ok\n\nINFO: fin é\r\n".encode("utf-8")
    assert decode_log(b64(raw)) == ["\ufffdINFO: ok", "INFO: fin é"]
    assert decode_log(None) == []
    assert decode_log("%%%not base64") == ["(the log tail returned by Lambda is not valid base64 and could not be read)"]


def test_parse_log():
    log = parse_log([
        "START RequestId: r Version: $LATEST",
        "INFO: Deployment id is: 'd-ABCDE1234'.",
        "WARN: the group was IN_PLACE; switched to BLUE_GREEN",
        "  ERROR: FATAL: Required parameter: 'RequestedVersion' not found",
        "[ERROR] KeyError: 'RequestedVersion'",
        "INFO: the word ERROR: inside a line is no error",
    ])
    assert log.deployment_id == "d-ABCDE1234"
    assert log.errors == ["ERROR: FATAL: Required parameter: 'RequestedVersion' not found", "[ERROR] KeyError: 'RequestedVersion'"]
    assert log.warnings == ["WARN: the group was IN_PLACE; switched to BLUE_GREEN"]
    assert log.request_id == "r"
    assert parse_log(["INFO: Deployment id is: 'not-an-id'."]).deployment_id is None


def test_request_id_comes_from_the_log_when_it_names_it():
    fake = FakeLambda(invoke_response=invoke_response("INFO: Deployment id is: 'd-ABCDE1234'.\nEND RequestId: 6f1c2d3e-aaaa\n"))
    assert invoke(invocation(fake), None, T0)["request_id"] == "6f1c2d3e-aaaa"
    fake = FakeLambda(invoke_response=invoke_response("INFO: Deployment id is: 'd-ABCDE1234'.\n"))
    assert invoke(invocation(fake), None, T0)["request_id"] == "req-1"


def test_aws_date():
    assert aws_date({"ResponseMetadata": {"HTTPHeaders": {"date": HTTP_DATE}}}) == T0
    assert aws_date({"ResponseMetadata": {"HTTPHeaders": {"date": "yesterday"}}}) is None
    assert aws_date({}) is None and aws_date(None) is None


# --- 1. the function ----------------------------------------------------------------------------


def test_missing_function_names_the_options_to_check():
    upgrade = invocation(FakeLambda(error=client_error("ResourceNotFoundException", "GetFunctionConfiguration", 404)))
    with pytest.raises(UpgradeFailure, match="does not exist in region us-east-1: check mdl_instance_name, mdl_environment and region"):
        upgrade.resolve_function()


def test_function_timeout_sets_the_read_timeout():
    fake = FakeLambda(configuration={"FunctionName": FUNCTION, "Timeout": 300},
                      invoke_response=invoke_response("INFO: Deployment id is: 'd-ABCDE1234'.\n"))
    upgrade = invocation(fake)
    upgrade.resolve_function()
    result = invoke(upgrade, None, T0)
    assert fake.read_timeouts == [300 + READ_TIMEOUT_MARGIN]
    assert result["deployment_id"] == "d-ABCDE1234"
    assert fake.invokes == [dict(FunctionName=FUNCTION, InvocationType="RequestResponse", LogType="Tail",
                                 Payload=b'{"RequestedVersion": "0.176.0"}')]


def test_access_denied_on_the_configuration_warns_and_goes_on_when_the_stack_is_known():
    warnings = []
    upgrade = invocation(FakeLambda(error=client_error("AccessDeniedException", "GetFunctionConfiguration", 403)), warnings=warnings)
    upgrade.resolve_function()
    assert upgrade.function_timeout == DEFAULT_FUNCTION_TIMEOUT
    assert "access denied" in warnings[0]


def test_access_denied_without_the_stack_fails():
    upgrade = invocation(FakeLambda(error=client_error("AccessDeniedException", "GetFunctionConfiguration", 403)), stack=None,
                         function_name=FUNCTION)
    with pytest.raises(AwsFailure, match="give mdl_instance_name and mdl_environment as well"):
        upgrade.resolve_function()


def test_function_without_stack_variables_needs_the_stack_words():
    upgrade = invocation(FakeLambda(configuration={"FunctionName": "other", "Timeout": 60}), stack=None, function_name="other")
    with pytest.raises(UpgradeFailure, match="give mdl_instance_name and mdl_environment as well"):
        upgrade.resolve_function()


def test_qualified_arn_is_invoked_as_given_and_shown_by_name():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:{0}:live".format(FUNCTION)
    fake = FakeLambda(configuration={"FunctionName": FUNCTION, "Timeout": 900,
                                     "Environment": {"Variables": {"INSTANCE_NAME": "mdl", "ENVIRONMENT": "DEV"}}},
                      invoke_response=invoke_response("INFO: Deployment id is: 'd-ABCDE1234'.\n"))
    upgrade = invocation(fake, stack=None, function_name=arn)
    upgrade.resolve_function()
    result = invoke(upgrade, None, T0)
    assert fake.invokes[0]["FunctionName"] == arn
    assert (result["function_name"], result["mdl_instance_name"], result["mdl_environment"]) == (FUNCTION, "mdl", "DEV")


# --- 2. an active deployment --------------------------------------------------------------------


def test_active_deployments_are_listed_page_by_page_and_the_newest_is_taken():
    codedeploy = FakeCodeDeploy(
        pages=[{"deployments": ["d-AAAAAAAA1"], "nextToken": "t"}, {"deployments": ["d-AAAAAAAA2"]}],
        deployments={"d-AAAAAAAA1": deployment("d-AAAAAAAA1", T0, "InProgress"),
                     "d-AAAAAAAA2": deployment("d-AAAAAAAA2", T0 + datetime.timedelta(minutes=1), "Created")},
    )
    ssm = FakeSsm({STACK.requested_version_parameter: ("0.176.0", T0 - datetime.timedelta(seconds=1))})
    active = invocation(codedeploy=codedeploy, ssm=ssm).active_deployment()
    assert codedeploy.list_calls[0] == dict(applicationName="mdl-Herd", deploymentGroupName="mdl-HerdDeployGroup",
                                            includeOnlyStatuses=["Created", "Queued", "InProgress", "Baking", "Ready"])
    assert codedeploy.list_calls[1]["nextToken"] == "t"
    assert (active.deployment_id, active.status, active.requested_version) == ("d-AAAAAAAA2", "Created", "0.176.0")
    assert active.version_is_certain


def test_no_active_deployment():
    assert invocation().active_deployment() is None


@pytest.mark.parametrize("code", ["ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException"])
def test_missing_group_says_to_check_the_stack(code):
    upgrade = invocation(codedeploy=FakeCodeDeploy(error=client_error(code, "ListDeployments")))
    with pytest.raises(UpgradeFailure, match="mdl-HerdDeployGroup .application mdl-Herd. of stack mdl/DEV does not exist"):
        upgrade.active_deployment()


def test_active_deployment_without_requested_version_is_refused():
    active = ActiveDeployment("d-AAAAAAAA1", "InProgress", T0, None, None)
    with pytest.raises(UpgradeFailure, match="does not exist, so its HERD version is unknown") as failure:
        invocation().attach(active)
    assert failure.value.details["deployment_id"] == "d-AAAAAAAA1"


def test_an_automatic_rollback_is_never_attached_to():
    # RequestedVersion still names the failed version: only the creator and rollbackInfo tell
    codedeploy = FakeCodeDeploy(
        pages=[{"deployments": ["d-ROLLBACK1"]}],
        deployments={"d-ROLLBACK1": dict(deployment("d-ROLLBACK1", T0, "InProgress"), creator="codeDeployRollback",
                                         rollbackInfo={"rollbackTriggeringDeploymentId": "d-FAILED001"})},
    )
    ssm = FakeSsm({STACK.requested_version_parameter: ("0.176.0", T0 - datetime.timedelta(minutes=5))})
    upgrade = invocation(codedeploy=codedeploy, ssm=ssm)
    active = upgrade.active_deployment()
    assert (active.creator, active.rollback_of) == ("codeDeployRollback", "d-FAILED001")
    with pytest.raises(UpgradeFailure, match="automatic rollback of deployment d-FAILED001, which failed") as failure:
        upgrade.attach(active)
    assert failure.value.details["deployment_id"] == "d-ROLLBACK1"


def test_a_deployment_codedeploy_started_is_not_the_upgrade():
    active = ActiveDeployment("d-AAAAAAAA1", "InProgress", T0, "0.176.0", T0, creator="autoscaling")
    with pytest.raises(UpgradeFailure, match="started by CodeDeploy .creator 'autoscaling'., not by the upgrade Lambda"):
        invocation().attach(active)


def test_version_certainty_allows_clock_skew():
    assert ActiveDeployment("d-A", "Created", T0, "1", T0 + CLOCK_SKEW).version_is_certain
    assert not ActiveDeployment("d-A", "Created", T0, "1", T0 + CLOCK_SKEW + datetime.timedelta(seconds=1)).version_is_certain


@pytest.mark.parametrize("seconds_after, certain", [(0, True), (29, True), (31, False), (60, False), (300, False)])
def test_version_certainty_allows_about_thirty_seconds_in_absolute_terms(seconds_after, certain):
    """A HERD/RequestedVersion written a minute after the deployment was created is another invoke's."""
    changed = T0 + datetime.timedelta(seconds=seconds_after)
    assert ActiveDeployment("d-A", "Created", T0, "1", changed).version_is_certain is certain


def test_attach_result():
    active = ActiveDeployment("d-AAAAAAAA1", "Baking", T0, "0.176.0", T0)
    result = invocation().attach(active)
    assert result["changed"] is False and result["attached"] is True
    assert result["deployment_create_time"] == "2024-05-02T14:00:00.000+00:00"
    assert result["deployment_status"] == "Baking"


# --- past the smoke test: RequestedVersion reset to FilledLater ---------------------------------

MINUTE = datetime.timedelta(minutes=1)


def smoke_tested(current_version="0.176.0", current_written=T0 + 5 * MINUTE, created=T0):
    """The group's active deployment after smokeTestHerd.sh reset the state (deployment created at ``created``)."""
    codedeploy = FakeCodeDeploy(pages=[{"deployments": ["d-AAAAAAAA1"]}],
                                deployments={"d-AAAAAAAA1": deployment("d-AAAAAAAA1", created, "InProgress")})
    values = {STACK.requested_version_parameter: ("FilledLater", T0 + 5 * MINUTE)}
    if current_version is not None:
        values[STACK.current_version_parameter] = (current_version, current_written)
    return codedeploy, FakeSsm(values)


def test_past_the_smoke_test_the_version_is_the_one_current_version_names():
    codedeploy, ssm = smoke_tested()
    upgrade = invocation(codedeploy=codedeploy, ssm=ssm)
    active = upgrade.active_deployment()
    assert ssm.reads == [STACK.requested_version_parameter, STACK.current_version_parameter]
    assert active.past_smoke_test and active.version_is_certain and active.version == "0.176.0"
    result = upgrade.attach(active)
    assert (result["attached"], result["changed"], result["deployment_id"]) == (True, False, "d-AAAAAAAA1")
    assert result["active_requested_version"] == "0.176.0"


def test_current_version_is_read_only_when_requested_version_is_filled_later():
    codedeploy = FakeCodeDeploy(pages=[{"deployments": ["d-AAAAAAAA1"]}],
                                deployments={"d-AAAAAAAA1": deployment("d-AAAAAAAA1", T0, "InProgress")})
    ssm = FakeSsm({STACK.requested_version_parameter: ("0.176.0", T0)})
    invocation(codedeploy=codedeploy, ssm=ssm).active_deployment()
    assert ssm.reads == [STACK.requested_version_parameter]


def test_past_the_smoke_test_another_version_is_refused_naming_both():
    codedeploy, ssm = smoke_tested()
    upgrade = invocation(codedeploy=codedeploy, ssm=ssm, version="0.177.0")
    with pytest.raises(UpgradeFailure) as failure:
        upgrade.attach(upgrade.active_deployment())
    message = failure.value.msg
    assert "is already deploying HERD 0.176.0 (past its smoke test: SSM /app/MDL/mdl/DEV/HERD/CurrentVersion = 0.176.0)" in message
    assert "not the requested 0.177.0" in message and "nothing was invoked" in message
    assert failure.value.details["deployment_id"] == "d-AAAAAAAA1"


@pytest.mark.parametrize("written, why", [
    (T0 - MINUTE, "was written at 2024-05-02T13:59:00.000+00:00, not after the deployment was created"),
    (T0, "was written at 2024-05-02T14:00:00.000+00:00, not after the deployment was created"),
])
def test_filled_later_with_a_current_version_older_than_the_deployment_stays_uncertain(written, why):
    codedeploy, ssm = smoke_tested(current_written=written)
    upgrade = invocation(codedeploy=codedeploy, ssm=ssm)
    active = upgrade.active_deployment()
    assert active.version is None and not active.past_smoke_test
    with pytest.raises(UpgradeFailure, match="its HERD version is uncertain") as failure:
        upgrade.attach(active)
    assert why in failure.value.msg


def test_filled_later_without_current_version_stays_uncertain():
    codedeploy, ssm = smoke_tested(current_version=None)
    upgrade = invocation(codedeploy=codedeploy, ssm=ssm)
    with pytest.raises(UpgradeFailure, match="HERD/CurrentVersion was not found"):
        upgrade.attach(upgrade.active_deployment())


def test_another_value_changed_after_creation_stays_uncertain_even_with_a_fresh_current_version():
    active = ActiveDeployment("d-AAAAAAAA1", "InProgress", T0, "0.177.0", T0 + 5 * MINUTE,
                              current_version="0.176.0", current_version_changed_at=T0 + 4 * MINUTE)
    assert active.version is None
    with pytest.raises(UpgradeFailure, match="uncertain: SSM /app/MDL/mdl/DEV/HERD/RequestedVersion was changed to '0.177.0'"):
        invocation().attach(active)


def test_versions_are_the_same_the_maven_way():
    active = ActiveDeployment("d-AAAAAAAA1", "InProgress", T0, "0.176.0", T0)
    assert invocation(version="0.176").attach(active)["attached"] is True
    with pytest.raises(UpgradeFailure, match="already deploying HERD 0.176.0, not the requested 0.176.1"):
        invocation(version="0.176.1").attach(active)


# --- HERD already serves the requested version -------------------------------------------------


def test_already_served_with_nothing_under_way_is_nothing_to_do():
    result = invocation().already_served("0.176.0", None)
    assert (result["changed"], result["attached"], result["already_served"], result["deployment_id"]) == (False, False, True, None)


def test_already_served_joins_the_deployment_of_that_version_still_under_way():
    codedeploy, ssm = smoke_tested()
    upgrade = invocation(codedeploy=codedeploy, ssm=ssm)
    result = upgrade.already_served("0.176.0", upgrade.active_deployment())
    assert (result["attached"], result["already_served"], result["deployment_id"]) == (True, False, "d-AAAAAAAA1")


@pytest.mark.parametrize("active", [False, True])
def test_the_no_op_and_a_join_decide_without_the_invokes_code(monkeypatch, active):
    """A run at the served version (the no-op), or one that joins, never imports ``_invoke``: the module's no-op
    compiles less of its payload (``test_module_imports.py``: nor does the module import it when it starts)."""
    from ansible_collections.mdl.herd.plugins.module_utils._upgrade import start_or_join

    monkeypatch.setitem(sys.modules, "ansible_collections.mdl.herd.plugins.module_utils._invoke", None)  # importing it fails
    codedeploy = FakeCodeDeploy(pages=[{"deployments": ["d-AAAAAAAA1"] if active else []}],
                                deployments={"d-AAAAAAAA1": deployment("d-AAAAAAAA1", T0)})
    upgrade = invocation(codedeploy=codedeploy, ssm=FakeSsm({STACK.requested_version_parameter: ("0.176.0", T0)}))
    result = start_or_join(upgrade, served_version="0.176.0" if not active else "0.170.0", lock=None)
    assert result["attached"] is active and result["already_served"] is not active and not result["changed"]
    with pytest.raises(ImportError):  # the test would pass without the import's failure otherwise
        start_or_join(invocation(), served_version="0.170.0")


def test_already_served_refuses_a_deployment_of_another_version():
    active = ActiveDeployment("d-AAAAAAAA1", "InProgress", T0, "0.180.0", T0)
    with pytest.raises(UpgradeFailure, match="already deploying HERD 0.180.0, not the requested 0.176.0"):
        invocation().already_served("0.176.0", active)


# --- 3 and 4. the invoke and the id from SSM ----------------------------------------------------


def test_previous_deployment_id_and_the_aws_time():
    ssm = FakeSsm({STACK.most_recent_deployment_id_parameter: ("d-OLD000001", T0)}, date="Thu, 02 May 2024 15:00:00 GMT")
    assert previous_deployment_id(invocation(ssm=ssm)) == ("d-OLD000001", T0 + datetime.timedelta(hours=1))
    # never upgraded: no parameter, the time from the error answer
    assert previous_deployment_id(invocation(ssm=FakeSsm(date="Thu, 02 May 2024 15:00:00 GMT"))) == (None, T0 + datetime.timedelta(hours=1))
    # no Date from AWS: the local clock
    assert previous_deployment_id(invocation(ssm=FakeSsm(date=None))) == (None, T0)
    # never upgraded, as the stack's template creates the parameter: FilledLater is no deployment
    ssm = FakeSsm({STACK.most_recent_deployment_id_parameter: ("FilledLater", T0)}, date=None)
    assert previous_deployment_id(invocation(ssm=ssm)) == (None, T0)


def lost_line_invocation(ssm_value, deployments):
    ssm = FakeSsm({STACK.most_recent_deployment_id_parameter: ssm_value})
    fake = FakeLambda(invoke_response=invoke_response("INFO: waiting...\n" * 10))
    return invocation(fake, codedeploy=FakeCodeDeploy(deployments=deployments), ssm=ssm)


@pytest.mark.parametrize("created, accepted", [
    (T0 + datetime.timedelta(seconds=5), True),
    (T0 - CLOCK_SKEW + datetime.timedelta(seconds=1), True),
    (T0 - CLOCK_SKEW - datetime.timedelta(seconds=1), False),
    (T0 - datetime.timedelta(days=3), False),
])
def test_id_from_ssm_must_be_created_after_the_invoke_began(created, accepted):
    upgrade = lost_line_invocation(("d-NEW000001", T0), {"d-NEW000001": deployment("d-NEW000001", created)})
    if accepted:
        result = invoke(upgrade, "d-OLD000001", T0)
        assert (result["deployment_id"], result["deployment_id_source"]) == ("d-NEW000001", "ssm")
    else:
        with pytest.raises(UpgradeFailure, match="before this invoke began") as failure:
            invoke(upgrade, "d-OLD000001", T0)
        assert failure.value.details["log_lines"] == ["INFO: waiting..."] * 10
        assert "/aws/lambda/" + FUNCTION in failure.value.msg and "req-1" in failure.value.msg


@pytest.mark.parametrize("seconds_before, accepted", [(0, True), (20, True), (29, True), (31, False), (60, False), (300, False)])
def test_the_clock_skew_allowance_is_about_thirty_seconds_in_absolute_terms(seconds_before, accepted):
    """Pinned in seconds, not in CLOCK_SKEW: a deployment created a minute before the invoke is another run's."""
    created = T0 - datetime.timedelta(seconds=seconds_before)
    upgrade = lost_line_invocation(("d-NEW000001", T0), {"d-NEW000001": deployment("d-NEW000001", created)})
    if accepted:
        assert invoke(upgrade, "d-OLD000001", T0)["deployment_id"] == "d-NEW000001"
    else:
        with pytest.raises(UpgradeFailure, match="before this invoke began"):
            invoke(upgrade, "d-OLD000001", T0)


def test_id_from_ssm_must_belong_to_the_stack_group():
    upgrade = lost_line_invocation(("d-NEW000001", T0), {"d-NEW000001": deployment("d-NEW000001", T0, group="other-HerdDeployGroup")})
    with pytest.raises(UpgradeFailure, match="not of group mdl-HerdDeployGroup"):
        invoke(upgrade, "d-OLD000001", T0)


def test_id_from_ssm_must_exist():
    upgrade = lost_line_invocation(("d-NEW000001", T0), {})
    with pytest.raises(AwsFailure, match="Could not read CodeDeploy deployment d-NEW000001"):
        invoke(upgrade, "d-OLD000001", T0)


def test_no_ssm_parameter_after_the_invoke():
    upgrade = lost_line_invocation(None, {})
    with pytest.raises(UpgradeFailure, match="does not exist: no deployment of this invoke can be found"):
        invoke(upgrade, None, T0)


def test_filled_later_in_ssm_after_the_invoke_is_no_deployment_id():
    upgrade = lost_line_invocation(("FilledLater", T0), {})
    with pytest.raises(UpgradeFailure, match="still holds FilledLater: the function wrote no deployment id"):
        invoke(upgrade, None, T0)


def test_function_error_with_a_text_payload():
    fake = FakeLambda(invoke_response=invoke_response("boom\n", function_error="Unhandled", payload=b"Task timed out after 900.00 seconds"))
    with pytest.raises(UpgradeFailure) as failure:
        invoke(invocation(fake), None, T0)
    assert failure.value.details["error_type"] == "Unhandled"
    assert failure.value.details["error_message"] == "Task timed out after 900.00 seconds"
    assert failure.value.details["log_lines"] == ["boom"]


def test_a_failed_invoke_does_not_claim_a_deployment_it_only_found_in_ssm():
    """Another run may have written the new id: only the function's own log line proves this invoke started it."""
    fake = FakeLambda(invoke_response=invoke_response("INFO: waiting...\n" * 3, function_error="Unhandled",
                                                      payload=b'{"errorMessage": "Task timed out after 900.00 seconds"}'))
    ssm = FakeSsm({STACK.most_recent_deployment_id_parameter: ("d-NEW000001", T0)})
    codedeploy = FakeCodeDeploy(deployments={"d-NEW000001": deployment("d-NEW000001", T0 + datetime.timedelta(seconds=3))})
    with pytest.raises(UpgradeFailure) as failure:
        invoke(invocation(fake, codedeploy=codedeploy, ssm=ssm), "d-OLD000001", T0)
    assert "It started deployment" not in failure.value.msg
    assert "names deployment d-NEW000001, created after this invoke began; whether this invoke or another run" in failure.value.msg
    assert failure.value.details["deployment_id"] is None
    assert failure.value.details["ssm_deployment_id"] == "d-NEW000001"
    assert failure.value.details["changed"] is True
    assert failure.value.details["error_message"] == "Task timed out after 900.00 seconds"


def test_a_failed_invoke_with_the_id_in_its_log_says_it_started_it():
    log = "INFO: Deployment id is: 'd-NEW000001'.\nERROR: SSM caused an exception\n"
    fake = FakeLambda(invoke_response=invoke_response(log, function_error="Unhandled", payload=b'{"errorMessage": "SSM error"}'))
    with pytest.raises(UpgradeFailure, match="It started deployment d-NEW000001 before failing") as failure:
        invoke(invocation(fake), "d-OLD000001", T0)
    assert failure.value.details["deployment_id"] == "d-NEW000001"
    assert "Running this task again joins deployment d-NEW000001 while it is under way" in failure.value.msg


def test_a_refused_invoke_says_it_started_nothing_even_with_a_new_id_in_ssm():
    payload = json.dumps({"errorType": "Exception", "errorMessage": "CodeDeploy 'create-deployment' failure. Exception: An "
                          "error occurred (DeploymentLimitExceededException)"}).encode()
    fake = FakeLambda(invoke_response=invoke_response("ERROR: CodeDeploy caused an exception\n", "Unhandled", payload))
    ssm = FakeSsm({STACK.most_recent_deployment_id_parameter: ("d-NEW000001", T0)})
    codedeploy = FakeCodeDeploy(deployments={"d-NEW000001": deployment("d-NEW000001", T0 + datetime.timedelta(seconds=3))})
    with pytest.raises(UpgradeFailure, match="this invoke started none") as failure:
        invoke(invocation(fake, codedeploy=codedeploy, ssm=ssm), "d-OLD000001", T0)
    assert failure.value.details["deployment_id"] is None and failure.value.details["changed"] is True


def test_function_error_missing_key():
    payload = json.dumps({"errorMessage": "'RequestedVersion'", "errorType": "KeyError", "stackTrace": []}).encode()
    fake = FakeLambda(invoke_response=invoke_response("[ERROR] KeyError: 'RequestedVersion'\n", "Unhandled", payload))
    with pytest.raises(UpgradeFailure, match="failed with KeyError: 'RequestedVersion'") as failure:
        invoke(invocation(fake), None, T0)
    assert failure.value.details["request_id"] == "req-1"


def test_warning_lines_become_warnings():
    warnings = []
    fake = FakeLambda(invoke_response=invoke_response("WARN: switching the group to BLUE_GREEN\nINFO: Deployment id is: 'd-ABCDE1234'.\n"))
    result = invoke(invocation(fake, warnings=warnings), None, T0)
    assert result["deployment_id"] == "d-ABCDE1234"
    assert warnings == ["The upgrade Lambda {0} logged: WARN: switching the group to BLUE_GREEN".format(FUNCTION)]


def test_read_timeout_is_an_unknown_outcome_and_is_not_retried():
    fake = FakeLambda(invoke_error=ReadTimeoutError(endpoint_url="https://lambda"))
    with pytest.raises(AwsFailure, match="whether it started a deployment is unknown; it was not retried"):
        invoke(invocation(fake), None, T0)
    assert len(fake.invokes) == 1


def test_connect_timeout_started_nothing():
    fake = FakeLambda(invoke_error=ConnectTimeoutError(endpoint_url="https://lambda"))
    with pytest.raises(AwsFailure, match="nothing was started"):
        invoke(invocation(fake), None, T0)


@pytest.mark.parametrize("code, words", [
    ("TooManyRequestsException", "nothing was started and the invoke is never retried"),
    ("ResourceNotFoundException", "does not exist in region us-east-1; nothing was started"),
    ("AccessDeniedException", "lambda:InvokeFunction"),
    ("ServiceException", "it was not retried"),
])
def test_invoke_errors(code, words):
    fake = FakeLambda(invoke_error=client_error(code, "Invoke", 429))
    with pytest.raises(AwsFailure) as failure:
        invoke(invocation(fake), None, T0)
    assert words in failure.value.msg
    assert failure.value.exception.response["Error"]["Code"] == code


# --- start_or_join: the lock around the invoke -------------------------------------------------------


class FakeLock(object):
    def __init__(self, acquired=True, holder=None, on_acquire=None):
        self.acquired, self.holder, self.on_acquire = acquired, holder, on_acquire
        self.name = "/app/MDL/mdl/DEV/HERD/UpgradeLock"
        self.stale_after = None
        self.taken_over = None
        self.waited = 3.0
        self.released = 0
        self.waits = []
        self.held = acquired

    def __call__(self, stale_after):
        self.stale_after = stale_after
        return self

    def acquire(self, wait):
        self.waits.append(wait)
        if self.on_acquire:
            self.on_acquire()
        return self.acquired, self.holder

    def release(self, force=False):  # as UpgradeLock.release: only a lock this run holds
        if not (self.held or force):
            return False
        self.held = False
        self.released += 1
        return True

    def mark_invoking(self, invoked_at, previous):
        self.invoking = (invoked_at, previous)

    def stale_sentence(self, holder):
        return "it is taken over at (when)"

    def removal_command(self):
        return "aws ssm delete-parameter --name {0} --region us-east-1".format(self.name)


def test_the_invoke_happens_under_the_lock_and_releases_it():
    from ansible_collections.mdl.herd.plugins.module_utils._upgrade import start_or_join

    fake = FakeLambda(invoke_response=invoke_response("INFO: Deployment id is: 'd-NEW000001'.\n"))
    held = FakeLock()
    result = start_or_join(invocation(fake), lock=held, lock_wait=120)
    assert result["deployment_id"] == "d-NEW000001" and len(fake.invokes) == 1
    assert held.waits == [120] and held.released == 1
    assert held.stale_after == 960  # the function's timeout and a minute: no invoke can outlive it
    assert result["lock_waited_seconds"] == 3.0


def test_a_run_that_waited_for_the_lock_joins_the_other_runs_deployment():
    from ansible_collections.mdl.herd.plugins.module_utils._upgrade import start_or_join

    codedeploy = FakeCodeDeploy(pages=[{"deployments": []}, {"deployments": ["d-OTHER0001"]}],
                                deployments={"d-OTHER0001": deployment("d-OTHER0001", T0, "Created")})
    ssm = FakeSsm({STACK.requested_version_parameter: ("0.176.0", T0)})
    fake = FakeLambda()
    result = start_or_join(invocation(fake, codedeploy=codedeploy, ssm=ssm), lock=FakeLock(), lock_wait=120)
    assert (result["attached"], result["deployment_id"]) == (True, "d-OTHER0001")
    assert fake.invokes == []


def test_a_run_that_waited_for_the_lock_refuses_the_other_runs_other_version():
    from ansible_collections.mdl.herd.plugins.module_utils._upgrade import start_or_join

    codedeploy = FakeCodeDeploy(pages=[{"deployments": []}, {"deployments": ["d-OTHER0001"]}],
                                deployments={"d-OTHER0001": deployment("d-OTHER0001", T0, "Created")})
    ssm = FakeSsm({STACK.requested_version_parameter: ("0.177.0", T0)})
    fake = FakeLambda()
    held = FakeLock()
    with pytest.raises(UpgradeFailure, match="already deploying HERD 0.177.0, not the requested 0.176.0"):
        start_or_join(invocation(fake, codedeploy=codedeploy, ssm=ssm), lock=held, lock_wait=120)
    assert fake.invokes == [] and held.released == 1


def test_a_lock_never_released_and_nothing_under_way_invokes_nothing():
    from ansible_collections.mdl.herd.plugins.module_utils._lock import Holder
    from ansible_collections.mdl.herd.plugins.module_utils._upgrade import start_or_join

    fake = FakeLambda()
    held = FakeLock(acquired=False, holder=Holder("t", "ctl-2", "0.177.0", "2024-05-02T14:00:00Z", 130.0))
    with pytest.raises(UpgradeFailure, match="held by ctl-2 for HERD 0.177.0") as failure:
        start_or_join(invocation(fake), lock=held, lock_wait=120)
    assert "nothing was invoked" in failure.value.msg and fake.invokes == []
    assert held.released == 0  # not ours


def test_a_refused_invoke_puts_back_what_the_function_overwrote_and_the_join_trusts_it():
    from ansible_collections.mdl.herd.plugins.module_utils._upgrade import RESTORE_MARK

    class Ssm(FakeSsm):
        def __init__(self, values):
            super(Ssm, self).__init__(values)
            self.puts = []

        def put_parameter(self, aws_retry=False, **kwargs):
            self.puts.append(kwargs)
            self.values[kwargs["Name"]] = (kwargs["Value"], T0 + 10 * MINUTE)

        def describe_parameters(self, ParameterFilters):
            name = ParameterFilters[0]["Values"][0]
            marked = [p for p in self.puts if p["Name"] == name]
            return {"Parameters": [{"Name": name, "Description": marked[-1]["Description"]}] if marked else []}

    ssm = Ssm({STACK.requested_version_parameter: ("0.176.0", T0), STACK.deployment_invoked_parameter: ("true", T0),
               STACK.most_recent_deployment_id_parameter: ("d-RUNNING01", T0)})
    payload = json.dumps({"errorType": "Exception", "errorMessage": "CodeDeploy 'create-deployment' failure. Exception: "
                          "An error occurred (DeploymentLimitExceededException)"}).encode()
    fake = FakeLambda(invoke_response=invoke_response("ERROR: CodeDeploy caused an exception\n", "Unhandled", payload))
    upgrade = invocation(fake, ssm=ssm, version="0.177.0")
    previous, began = previous_deployment_id(upgrade)
    ssm.values[STACK.requested_version_parameter] = ("0.177.0", T0 + 9 * MINUTE)  # what the function wrote
    with pytest.raises(UpgradeFailure, match="this task put back") as failure:
        invoke(upgrade, previous, began)
    assert {(p["Name"], p["Value"]) for p in ssm.puts} == {
        (STACK.requested_version_parameter, "0.176.0"), (STACK.deployment_invoked_parameter, "true")}
    assert all(p["Description"] == RESTORE_MARK and p["Overwrite"] for p in ssm.puts)
    assert failure.value.details["changed"] is True
    # a later run: the value changed after the deployment was created, but it is a restore: certain
    codedeploy = FakeCodeDeploy(pages=[{"deployments": ["d-RUNNING01"]}],
                                deployments={"d-RUNNING01": deployment("d-RUNNING01", T0, "InProgress")})
    active = invocation(codedeploy=codedeploy, ssm=ssm).active_deployment()
    assert active.restored and active.version == "0.176.0"


def test_the_clock_allowance_is_seconds_not_minutes():
    """Absolute cases: a deployment created a minute before the invoke is not this invoke's, and a version
    changed a minute after a deployment was created is not that deployment's."""
    ssm = FakeSsm({STACK.most_recent_deployment_id_parameter: ("d-NEW000001", T0)})
    codedeploy = FakeCodeDeploy(deployments={"d-NEW000001": deployment("d-NEW000001", T0 - MINUTE)})
    deployment_found, why = _invoke._ssm_deployment(invocation(codedeploy=codedeploy, ssm=ssm), "d-OLD000001", T0)
    assert deployment_found is None and "before this invoke began" in why
    assert not ActiveDeployment("d-A", "InProgress", T0, "0.176.0", T0 + MINUTE).version_is_certain
