"""The zero-downtime report on real runs: clean, 503 around the switch, both versions in turn, and the limit;
the probe with the admin credentials; and a run lost mid-wait leaves no probe behind."""

import json
import os
import signal
import time

import pytest
import yaml

from conftest import _process_table, _tree, kill_tree, stack_key, watching


def result_of(playbook, entry, tmp_path, args=(), seen=None, env_overrides=None, **role_vars):
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
    run = playbook(entry, *args, name=str(path), env_overrides=env_overrides)
    code = run.finish()
    if seen is not None:
        seen.append(run.output)
    assert code == 0, run.output  # the play rescues a failure of the role and keeps its message
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


CHECK_TASK = "TASK [mdl.herd.herd_upgrade : Check that HERD serves the requested version]"
PROBE_READ_TASK = "TASK [mdl.herd.herd_upgrade : HERD serves the requested version (read by the probe at the end)]"


def task_outcome(output, header):
    """The first outcome line (ok, skipping, fatal...) after the task's header."""
    rest = output[output.index(header):].splitlines()[1:]
    return next(line for line in rest if line.startswith(("ok:", "skipping:", "fatal:", "changed:"))).split(":")[0]


def credentials_read(sandbox, entry):
    """How many times the stack's HERD admin username and password were read from SSM."""
    read = sandbox.calls.snapshot()["parameters_read"].get(stack_key(entry), {})
    prefix = "/app/MDL/{0}/{1}/LDAP/".format(entry["mdl_instance_name"], entry["mdl_environment"])
    return read.get(prefix + "User/HerdAdminUsername", 0), read.get(prefix + "Password/HerdAdminPassword", 0)


def watching_imports(report):
    """Environment for a run whose ansible-playbook processes write to ``report`` if they import botocore."""
    return watching(MDL_HERD_IMPORT_WATCH=str(report))


def assert_no_aws_library_on_the_controller(imports):
    """The watch's report: no ansible-playbook process (the controller and its workers) imported botocore or boto3;
    only the module processes did, where every call to AWS and HERD is made."""
    report = imports.read_text() if imports.exists() else ""
    assert report == "", report


def test_a_clean_upgrade_shows_no_failure_and_the_switch(make_stack, zd_playbook, tmp_path, sandbox):
    entry = make_stack(deployment_seconds=10)
    seen = []
    imports = tmp_path / "controller-imports.txt"
    code, out = result_of(zd_playbook, entry, tmp_path, seen=seen, env_overrides=watching_imports(imports))
    assert code == 0
    report = out["result"]["zero_downtime"]
    assert report["requests"] >= 10 and report["failures"] == 0
    assert report["versions_seen"] == ["0.170.0", "0.176.0"] and report["switched_at"]
    assert "Zero downtime: " in out["result"]["message"]
    # the probe's read after the deployment is the version check: no module task of its own
    assert (out["result"]["outcome"], out["result"]["to_version"]) == ("upgraded", "0.176.0")
    # said as such (issue 28: a version check shown as skipping reads as "not checked"), with no module task of its own
    assert CHECK_TASK not in seen[0] and task_outcome(seen[0], PROBE_READ_TASK) == "ok"
    assert "HERD serves 0.176.0 (read by the probe at the end of deployment d-" in seen[0]
    # the credentials were read once, by herd_upgrade_invoke's read of HERD: the probe of displayBuildInfo needs none
    assert credentials_read(sandbox, entry) == (1, 1)
    # nothing of the collection calls AWS from ansible-playbook or its workers: the modules do, in their processes
    assert_no_aws_library_on_the_controller(imports)


def test_without_the_probe_the_version_is_checked_by_its_own_task(make_stack, zd_playbook, tmp_path):
    entry = make_stack(deployment_seconds=6)
    seen = []
    code, out = result_of(zd_playbook, entry, tmp_path, seen=seen, herd_upgrade_probe=False)
    assert code == 0
    assert (out["result"]["outcome"], out["result"]["to_version"], out["result"]["zero_downtime"]) == ("upgraded", "0.176.0", {})
    assert task_outcome(seen[0], CHECK_TASK) == "ok" and PROBE_READ_TASK not in seen[0]


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


DISPLAY = "/herd-app/displayBuildInfo"
BUILD_INFO = "/herd-app/rest/buildInfo"
FOLLOWING = r"TASK \[mdl\.herd\.herd_upgrade : Follow the Blue/Green deployment to the end\]"


def herd_requests(sandbox, entry):
    live = sandbox.live_state(stack_key(entry))["live"]
    return live["herd_requests"], live["herd_authenticated_requests"]


def test_the_probe_with_the_admin_credentials_asks_buildinfo_and_never_shows_the_password(
        make_stack, zd_playbook, tmp_path, sandbox):
    entry = make_stack(deployment_seconds=10)  # ssl: HERD's REST API wants the admin credentials
    seen = []
    imports = tmp_path / "controller-imports.txt"
    code, out = result_of(zd_playbook, entry, tmp_path, args=("-vvv",), seen=seen, env_overrides=watching_imports(imports),
                          herd_upgrade_probe_auth=True)
    assert code == 0, out
    # the credentials for the probe are read by the wait's module process (counted below), where the probe runs:
    # ansible-playbook and its workers load no AWS library
    assert_no_aws_library_on_the_controller(imports)
    report = out["result"]["zero_downtime"]
    assert report["url"].endswith(BUILD_INFO), report
    assert report["requests"] >= 10 and report["failures"] == 0, report
    assert report["versions_seen"] == ["0.170.0", "0.176.0"] and report["switched_at"]
    assert "Zero downtime: {0} requests to HERD during the deployment, 0 failed".format(report["requests"]) \
        in out["result"]["message"]
    asked, authenticated = herd_requests(sandbox, entry)
    # The first read of the version asks the open page, without credentials (herd_upgrade_invoke reads them from SSM
    # only before it starts a deployment); every request to buildInfo carried them: the probe's and the role's checks
    # (one before the invoke, one or more after).
    assert asked.get(DISPLAY, 0) == 1 and authenticated.get(DISPLAY, 0) == 0, (asked, authenticated)
    assert authenticated.get(BUILD_INFO, 0) == asked[BUILD_INFO] >= report["requests"] + 2, (asked, authenticated)
    # read twice: by herd_upgrade_invoke's read of HERD, and by the wait's module for the probe
    assert credentials_read(sandbox, entry) == (2, 2)
    # -vvv shows each task's invocation (module_args): the password is masked there, and nowhere else either
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in seen[0]
    assert entry["herd_password"] not in seen[0]


def test_probe_auth_without_any_credentials_is_refused_before_anything_is_read(make_stack, zd_playbook, tmp_path, sandbox):
    entry = make_stack()
    code, out = result_of(zd_playbook, entry, tmp_path, herd_upgrade_probe_auth=True, herd_upgrade_credentials_from_ssm=False)
    assert code != 0
    assert "herd_upgrade_probe_auth needs HERD credentials" in out["result"]["message"]
    assert (out["result"]["outcome"], out["result"]["stage"]) == ("failed", "input")
    assert herd_requests(sandbox, entry)[0] == {}


def _interrupt(run):
    """Ctrl-C: SIGINT to ansible-playbook (not to its workers, which are in sessions of their own); the tree must end."""
    tree = _tree(run.process.pid, _process_table())
    os.kill(run.process.pid, signal.SIGINT)
    run.finish(timeout=60)
    deadline = time.monotonic() + 20
    while True:
        table = _process_table()
        alive = [p for p in tree if p in table and not table[p][1].startswith("Z")]
        if not alive:
            return
        assert time.monotonic() < deadline, "still running after Ctrl-C: {0}\n{1}".format(alive, run.output)
        time.sleep(0.1)


@pytest.mark.parametrize("lose", [kill_tree, _interrupt], ids=["process tree killed", "Ctrl-C"])
@pytest.mark.parametrize("auth", [False, True], ids=["displayBuildInfo", "buildInfo with credentials"])
def test_a_run_lost_mid_wait_leaves_no_probe_behind(make_stack, playbook, sandbox, lose, auth):
    entry = make_stack()
    path = BUILD_INFO if auth else DISPLAY
    sandbox.hold(stack_key(entry), "ValidateService")
    run = playbook(entry, herd_version="0.176.0", herd_upgrade_probe_interval=0.25, herd_upgrade_probe_auth=auth)
    assert sandbox.wait_held(stack_key(entry), timeout=120) is not None, run.output
    run.wait_for_line(FOLLOWING)
    # the probe is running: HERD is asked about 4 times a second while the deployment stands held
    start = herd_requests(sandbox, entry)[0].get(path, 0)
    deadline = time.monotonic() + 60
    while herd_requests(sandbox, entry)[0].get(path, 0) < start + 4:
        assert time.monotonic() < deadline and run.process.poll() is None, run.output
        time.sleep(0.1)
    lose(run)
    time.sleep(0.5)  # a request sent just before the end may still be read by HERD
    after = herd_requests(sandbox, entry)[0].get(path, 0)
    time.sleep(2.5)  # ten probe intervals
    assert herd_requests(sandbox, entry)[0].get(path, 0) == after, "HERD was still probed after the run was lost"
    sandbox.release(stack_key(entry))
