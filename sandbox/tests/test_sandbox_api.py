"""The Python API: the endpoints contract, the atomic endpoints file, one sandbox per process."""

import json
import stat

import pytest

from mdl_sandbox import Sandbox

TOP_KEYS = ("aws_endpoint_url", "aws_region", "aws_access_key_id", "aws_secret_access_key", "aws_account_id",
            "control_url", "herd_ca_path", "stacks")
STACK_KEYS = ("mdl_instance_name", "mdl_environment", "current_version", "herd_base_url", "herd_buildinfo_url",
              "herd_display_url", "herd_https_base_url", "herd_https_buildinfo_url", "herd_https_display_url",
              "herd_username", "herd_password", "upgrade_function_name", "codedeploy_application", "deployment_group",
              "cloudformation_stack_name", "deployment_seconds", "faults")


def test_endpoints_keep_the_contract(sandbox, make_stack):
    entry = make_stack()
    endpoints = sandbox.endpoints()
    for key in TOP_KEYS:
        assert key in endpoints, key
    assert endpoints["aws_endpoint_url"].startswith("http://127.0.0.1:")
    assert endpoints["aws_account_id"] == "123456789012"
    stacks = {s["mdl_instance_name"]: s for s in endpoints["stacks"]}
    for key in STACK_KEYS:
        assert key in stacks[entry["mdl_instance_name"]], key
    assert entry["herd_buildinfo_url"] == entry["herd_base_url"] + "/herd-app/rest/buildInfo"
    assert entry["herd_https_display_url"] == entry["herd_https_base_url"] + "/herd-app/displayBuildInfo"


def test_write_endpoints_is_atomic_and_private(sandbox, tmp_path):
    path = sandbox.write_endpoints(tmp_path / "deep" / "endpoints.json")
    assert json.loads(path.read_text()) == sandbox.endpoints()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["endpoints.json"]  # no temporary file left


def test_one_sandbox_per_process(sandbox, tmp_path):
    with pytest.raises(RuntimeError, match="another Sandbox is already running"):
        Sandbox(workdir=tmp_path).start()
    assert sandbox.endpoints()["stacks"] is not None  # the running one is untouched


def test_adding_a_stack_before_start_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="start the Sandbox"):
        Sandbox(workdir=tmp_path).add_stack({"mdl_instance_name": "x", "mdl_environment": "DEV"})
