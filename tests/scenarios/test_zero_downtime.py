"""The zero-downtime report on real runs: clean, 503 around the switch, both versions in turn, and the limit."""

import json

import pytest
import yaml


def result_of(playbook, entry, tmp_path, **role_vars):
    endpoints = playbook.endpoints
    out = tmp_path / "result.json"
    play = [{"name": "Upgrade", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "module_defaults": {"group/mdl.herd.herd": {"region": entry["aws_region"],
                                                         "endpoint_url": endpoints["aws_endpoint_url"]}},
             "tasks": [{"name": "Upgrade", "block": [
                 {"name": "Upgrade", "ansible.builtin.include_role": {"name": "mdl.herd.herd_upgrade"}, "vars": dict({
                     "herd_upgrade_mdl_instance_name": entry["mdl_instance_name"],
                     "herd_upgrade_mdl_environment": entry["mdl_environment"],
                     "herd_upgrade_version": "0.176.0", "herd_upgrade_ca_path": endpoints["herd_ca_path"],
                     "herd_upgrade_artifact_repository": endpoints["maven_repository_url"],
                     "herd_upgrade_verify_delay": 1, "herd_upgrade_probe_interval": 0.25}, **role_vars)},
                 keep(out, "''")],
                 "rescue": [keep(out, "ansible_failed_result.msg")]}]}]
    path = tmp_path / "zd.yml"
    path.write_text(yaml.safe_dump(play))
    code = playbook(entry, name=str(path)).finish()
    assert code == 0  # the play rescues a failure of the role and keeps its message
    kept = json.loads(out.read_text())
    return (1 if kept["msg"] else 0), kept


def keep(out, msg):
    return {"name": "Keep it", "ansible.builtin.copy": {
        "dest": str(out), "mode": "0600",
        "content": "{{ {'result': herd_upgrade_result | default({}), 'msg': %s} | to_json }}" % msg}}


@pytest.fixture
def zd_playbook(playbook, sandbox):
    playbook.endpoints = sandbox.endpoints()
    return playbook


def test_a_clean_upgrade_shows_no_failure_and_the_switch(make_stack, zd_playbook, tmp_path):
    entry = make_stack(deployment_seconds=10)
    code, out = result_of(zd_playbook, entry, tmp_path)
    assert code == 0
    report = out["result"]["zero_downtime"]
    assert report["requests"] >= 10 and report["failures"] == 0
    assert report["versions_seen"] == ["0.170.0", "0.176.0"] and report["switched_at"]
    assert "Zero downtime: " in out["result"]["message"]


def test_503_around_the_switch_shows_up_with_its_duration(make_stack, zd_playbook, tmp_path):
    entry = make_stack(deployment_seconds=12, faults={"herd_unavailable_seconds": 3})
    code, out = result_of(zd_playbook, entry, tmp_path)
    assert code == 0
    report = out["result"]["zero_downtime"]
    assert report["failures_by_kind"]["5xx"] >= 6
    assert abs(report["longest_outage_seconds"] - 3) <= 1, report


def test_both_versions_in_turn_are_alternation_not_outage(make_stack, zd_playbook, tmp_path):
    entry = make_stack(deployment_seconds=10, faults={"herd_alternate_seconds": 2})
    code, out = result_of(zd_playbook, entry, tmp_path)
    assert code == 0
    report = out["result"]["zero_downtime"]
    assert report["alternated"] and report["failures"] == 0, report
    assert "both served in turn during the switch" in out["result"]["message"]


def test_the_downtime_limit_fails_the_play_after_the_upgrade(make_stack, zd_playbook, tmp_path, sandbox):
    entry = make_stack(deployment_seconds=12, faults={"herd_unavailable_seconds": 3})
    code, out = result_of(zd_playbook, entry, tmp_path, herd_upgrade_max_downtime_seconds=1)
    assert code != 0
    assert "more than herd_upgrade_max_downtime_seconds (1 s)" in out["msg"]
    assert sandbox.live_state("{0}/DEV".format(entry["mdl_instance_name"]))["live"]["served_version"] == "0.176.0"
