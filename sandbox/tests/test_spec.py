"""Stack specs and faults: what is accepted, and the messages for what is not."""

import pytest

from mdl_sandbox import Faults, SpecError, StackSpec


def test_defaults():
    spec = StackSpec.from_dict({"mdl_instance_name": "mdl", "mdl_environment": "DEV"})
    assert spec.current_version == "0.170.0"
    assert spec.ssl is True
    assert spec.faults == Faults()
    assert spec.faults.to_dict() == {}


def test_every_documented_fault_is_accepted():
    faults = Faults.from_dict({
        "fail_at_event": "ValidateService",
        "lambda_error": "boom",
        "lambda_log_padding_bytes": 5000,
        "throttle": {"codedeploy:GetDeployment": 3, "ssm:GetParameter": 2},
        "herd_unavailable_seconds": 4,
        "herd_stale_version": True,
        "herd_refused_seconds": 3,
        "herd_throttle": {"requests": 3, "status": 503, "retry_after": 2, "from": "switch"},
        "unpublished_versions": ["9.9.9"],
    })
    assert faults.herd_refused_seconds == 3.0
    assert faults.to_dict()["herd_throttle"] == {"requests": 3, "status": [503], "retry_after": 2, "from": "switch"}
    assert Faults.from_dict({"herd_throttle": {"requests": 1}}).herd_throttle == {
        "requests": 1, "status": [429], "retry_after": 1, "from": "start"}
    assert faults.to_dict()["throttle"] == {"codedeploy:GetDeployment": 3, "ssm:GetParameter": 2}
    assert faults.to_dict()["unpublished_versions"] == ["9.9.9"]
    assert Faults.from_dict({"active_deployment_version": "0.171.0"}).active_deployment_version == "0.171.0"


@pytest.mark.parametrize("faults,message", [
    ({"fail_at": "ValidateService"}, "unknown fault(s) 'fail_at'; valid faults:"),
    ({"fail_at_event": "BlockTraffic"}, "fail_at_event must be one of"),
    ({"lambda_error": ""}, "lambda_error must be a non-empty message"),
    ({"lambda_log_padding_bytes": "5000"}, "lambda_log_padding_bytes must be an integer"),
    ({"throttle": {"GetDeployment": 1}}, 'keys are "service:Operation"'),
    ({"throttle": {"codedeploy:GetDeploymnet": 1}}, "codedeploy has no operation 'GetDeploymnet'"),
    ({"throttle": {"codedeploy:GetDeployment": 0}}, "must be a positive integer"),
    ({"herd_unavailable_seconds": -1}, "herd_unavailable_seconds must be at least"),
    ({"herd_stale_version": "yes"}, "herd_stale_version must be true or false"),
    ({"herd_refused_seconds": -1}, "herd_refused_seconds must be at least"),
    ({"herd_refused_seconds": 601}, "herd_refused_seconds must be at most 600"),
    ({"herd_throttle": 3}, "herd_throttle must be a mapping"),
    ({"herd_throttle": {"requests": 0}}, "herd_throttle.requests must be a positive integer"),
    ({"herd_throttle": {"count": 3}}, "herd_throttle: unknown key(s) 'count'"),
    ({"herd_throttle": {"requests": 3, "status": [429, 500]}}, "herd_throttle.status must be 429, 503"),
    ({"herd_throttle": {"requests": 3, "retry_after": 0.5}}, "herd_throttle.retry_after must be a whole number"),
    ({"herd_throttle": {"requests": 3, "from": "upgrade"}}, "herd_throttle.from must be one of start, switch"),
    ({"active_deployment_version": "0.171 .0"}, "active_deployment_version must be a HERD version"),
    ({"unpublished_versions": "9.9.9"}, "unpublished_versions must be a list"),
    ({"lambda_error": "x", "active_deployment_version": "0.171.0"}, "cannot be combined with faults.lambda_error"),
])
def test_bad_faults_are_refused_with_a_clear_message(faults, message):
    with pytest.raises(SpecError, match=None) as error:
        StackSpec.from_dict({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "faults": faults})
    assert message in str(error.value)


@pytest.mark.parametrize("spec,message", [
    ({"mdl_environment": "DEV"}, "mdl_instance_name is required"),
    ({"mdl_instance_name": "m dl", "mdl_environment": "DEV"}, "mdl_instance_name must be made of"),
    ({"mdl_instance_name": "m" * 40, "mdl_environment": "DEV"}, "would exceed the 64 characters"),
    ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "ssl": "true"}, "ssl must be true or false"),
    ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "deployment_seconds": 0}, "greater than 0"),
    ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "current_version": 170}, "current_version must be"),
    ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "colour": "blue"}, "unknown field(s) 'colour'"),
    (["mdl", "DEV"], "must be a JSON object"),
])
def test_bad_specs_are_refused(spec, message):
    with pytest.raises(SpecError) as error:
        StackSpec.from_dict(spec)
    assert message in str(error.value)
