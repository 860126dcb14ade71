"""The module_defaults groups the documentation names reach every module (and the one it says does not, does not)."""

import json

import pytest
import yaml

from conftest import user_deployments

MODULES = ("herd_upgrade_invoke", "codedeploy_wait", "herd_buildinfo_check")


def play(group, entry, endpoints, results):
    options = {"region": entry["aws_region"], "endpoint_url": endpoints["aws_endpoint_url"],
               "access_key": "ASIAMDLHERDSCENARIOS", "secret_key": "mdlHerdScenarioSecretKey-5f2c9a71e0d4"}
    return [{
        "name": "module_defaults " + group, "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {group: options},
        "tasks": [
            {"name": "invoke (check mode)", "mdl.herd.herd_upgrade_invoke": {
                "mdl_instance_name": entry["mdl_instance_name"], "mdl_environment": entry["mdl_environment"],
                "requested_version": "0.176.0", "preflight": []}, "check_mode": True, "register": "r_invoke",
             "ignore_errors": True},
            {"name": "wait", "mdl.herd.codedeploy_wait": {"deployment_id": "d-NOPE12345", "wait_timeout": 1},
             "register": "r_wait", "ignore_errors": True},
            {"name": "buildinfo", "mdl.herd.herd_buildinfo_check": {
                "mdl_instance_name": entry["mdl_instance_name"], "mdl_environment": entry["mdl_environment"],
                "ca_path": endpoints["herd_ca_path"], "credentials_from_ssm": True}, "register": "r_buildinfo", "ignore_errors": True},
            {"name": "results", "ansible.builtin.copy": {"dest": str(results), "mode": "0600", "content": (
                "{{ {'herd_upgrade_invoke': r_invoke.msg | default('ok'), 'codedeploy_wait': r_wait.msg | default('ok'), "
                "'herd_buildinfo_check': r_buildinfo.msg | default('ok')} | to_json }}")}},
        ],
    }]


@pytest.mark.parametrize("group, reaches", [("group/mdl.herd.herd", True), ("group/mdl.herd.aws", True),
                                            ("group/amazon.aws.aws", False)])
def test_each_documented_group_reaches_each_module(sandbox, make_stack, playbook, tmp_path, group, reaches):
    entry = make_stack()
    path = tmp_path / "defaults.yml"
    results = tmp_path / "results.json"
    path.write_text(yaml.safe_dump(play(group, entry, sandbox.endpoints(), results)))
    # no region, endpoint or credentials in the environment: only module_defaults can give them
    run = playbook(entry, name=str(path), env_overrides={"AWS_REGION": None, "AWS_DEFAULT_REGION": None,
                                                         "AWS_ENDPOINT_URL": None, "AWS_ACCESS_KEY_ID": None,
                                                         "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None})
    assert run.finish() == 0, run.output[-3000:]
    messages = json.loads(results.read_text())
    if reaches:
        assert messages["herd_upgrade_invoke"] == "ok", messages
        assert "Deployment d-NOPE12345 does not exist" in messages["codedeploy_wait"], messages
        assert messages["herd_buildinfo_check"] == "ok", messages
    else:
        assert all("region" in message for message in messages.values()), messages
    assert user_deployments(sandbox, entry) == []
