"""The role inside a larger playbook, as the README shows it: its outcome is the fact herd_upgrade_result."""

import http.server
import json
import re
import threading
from pathlib import Path

import pytest
import yaml

from conftest import invocations, stack_key, user_deployments

KEYS = {"stack", "mdl_instance_name", "mdl_environment", "requested_version", "from_version", "to_version",
        "deployment_id", "joined", "status", "duration_seconds", "outcome", "changed", "message", "preflight",
        "zero_downtime", "stage"}
# after a deployment that did not succeed
ROLLBACK_KEYS = {"rollback_deployment_id", "rollback_status"}
ROOT = Path(__file__).resolve().parents[2]


def larger_playbook(entry, endpoints, out):
    return [{
        "name": "Upgrade HERD, then use the result", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "module_defaults": {"group/mdl.herd.herd": {"region": entry["aws_region"],
                                                    "endpoint_url": endpoints["aws_endpoint_url"]}},
        "tasks": [
            {"name": "Upgrade", "ansible.builtin.include_role": {"name": "mdl.herd.herd_upgrade"}, "vars": {
                "herd_upgrade_mdl_instance_name": entry["mdl_instance_name"],
                "herd_upgrade_mdl_environment": entry["mdl_environment"],
                "herd_upgrade_version": "0.176.0", "herd_upgrade_ca_path": endpoints["herd_ca_path"],
                "herd_upgrade_artifact_repository": endpoints["maven_repository_url"],
                "herd_upgrade_verify_delay": 1}},
            {"name": "Keep it", "ansible.builtin.copy": {"dest": str(out), "mode": "0600",
                                                          "content": "{{ herd_upgrade_result | to_json }}"}},
        ],
    }]


def run_twice(sandbox, entry, playbook, tmp_path, second_run):
    """The role included twice for the same host in one play, the second time as ``second_run(first task)`` makes it; each
    run's herd_upgrade_result, kept after it: (first, second)."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    play = larger_playbook(entry, sandbox.endpoints(), first)[0]
    upgrade, keep = play["tasks"]
    play["tasks"] = [upgrade, keep, second_run(upgrade),
                     dict(keep, name="Keep it again", **{"ansible.builtin.copy": dict(keep["ansible.builtin.copy"], dest=str(second))})]
    path = tmp_path / "twice.yml"
    path.write_text(yaml.safe_dump([play]))
    run = playbook(entry, name=str(path))
    assert run.finish() == 0, run.output
    return json.loads(first.read_text()), json.loads(second.read_text())


def test_the_result_fact_after_an_upgrade_and_after_a_no_op(sandbox, make_stack, playbook, tmp_path):
    entry = make_stack()
    endpoints = sandbox.endpoints()
    out = tmp_path / "result.json"
    path = tmp_path / "larger.yml"
    path.write_text(yaml.safe_dump(larger_playbook(entry, endpoints, out)))
    assert playbook(entry, name=str(path)).finish() == 0
    result = json.loads(out.read_text())
    assert set(result) == KEYS
    assert (result["outcome"], result["from_version"], result["to_version"], result["status"], result["changed"]) == (
        "upgraded", "0.170.0", "0.176.0", "Succeeded", True)
    # every key of it is documented, and nothing more than it and the keys of other runs' results (a failed
    # deployment's, the playbook's outcome_before_failure, herd_upgrade_report_dir's report)
    documented = documented_result_keys()
    assert set(result) <= documented, set(result) - documented
    assert documented - set(result) <= ROLLBACK_KEYS | {"outcome_before_failure", "report"}, documented - set(result)
    assert result["deployment_id"].startswith("d-") and result["stack"] == "{0}/DEV".format(entry["mdl_instance_name"])
    assert result["preflight"] == {"lambda": "ok", "deployment_group": "ok", "active_deployment": "ok", "bundle": "ok",
                                   "published": "ok"}
    assert playbook(entry, name=str(path)).finish() == 0
    again = json.loads(out.read_text())
    assert (again["outcome"], again["changed"], again["deployment_id"]) == ("already_served", False, None)


def test_a_no_op_after_an_upgrade_in_the_same_play_reports_its_own_outcome_only(sandbox, make_stack, playbook, tmp_path):
    """The role included twice for the same host: the second run (nothing to do) follows no deployment, and
    its result carries nothing of the deployment the first one followed (status, duration, zero-downtime report)."""
    entry = make_stack()
    before, after = run_twice(sandbox, entry, playbook, tmp_path, lambda upgrade: dict(upgrade, name="Upgrade again"))
    assert (before["outcome"], before["status"]) == ("upgraded", "Succeeded")
    assert before["zero_downtime"]["requests"] > 0
    assert (after["outcome"], after["changed"], after["deployment_id"], after["status"], after["duration_seconds"]) == (
        "already_served", False, None, None, None)
    assert after["zero_downtime"] == {}
    assert after["message"] == "{0}/DEV: HERD already serves 0.176.0; nothing to do.".format(entry["mdl_instance_name"])


@pytest.mark.parametrize("broken", [
    {"herd_upgrade_aws_role_arn": "not-an-arn"},  # a task of aws_role.yml fails
    {"herd_upgrade_aws_role_arn": "arn:aws:iam::123456789012:role/mdl-herd-upgrade",
     "herd_upgrade_lock_wait": "{{ no_such_variable }}"},  # the include of aws_role.yml fails: its condition checks the input
])
def test_a_second_run_failing_before_its_invoke_reports_nothing_of_the_first_runs_invoke(sandbox, make_stack, playbook,
                                                                                        tmp_path, broken):
    """The role included twice for the same host, the second run failing before its invoke: its result (the rescue's) names
    that failure and carries nothing of the first run's invoke (deployment, versions, changed), which is still
    registered on the host; no report is written for the first run's deployment."""
    entry = make_stack()
    reports = tmp_path / "reports"

    def failing_again(upgrade):
        # without the argument specs' check, which would refuse a variable whose template fails before the role starts
        again = dict(upgrade, name="Upgrade again", vars=dict(upgrade["vars"], herd_upgrade_report_dir=str(reports), **broken),
                     **{"ansible.builtin.include_role": dict(upgrade["ansible.builtin.include_role"], rolespec_validate=False)})
        return {"name": "Upgrade again, failing", "block": [again],
                "rescue": [{"name": "Go on", "ansible.builtin.debug": {"msg": "failed, as it should"}}]}

    before, after = run_twice(sandbox, entry, playbook, tmp_path, failing_again)
    assert (before["outcome"], before["changed"]) == ("upgraded", True) and before["deployment_id"].startswith("d-")
    assert (after["outcome"], after["stage"], after["changed"]) == ("failed", "task", False), after
    assert (after["deployment_id"], after["from_version"], after["joined"], after["preflight"]) == (None, None, False, {}), after
    assert 'the task "{0}" failed'.format("Check herd_upgrade_aws_role_arn and herd_upgrade_aws_role_duration_seconds"
                                          if "lock_wait" not in str(broken) else "Assume the stack's herd_upgrade_aws_role_arn") in after["message"], after
    written = [json.loads(path.read_text()) for path in reports.glob("*.json")]  # the failed check's report, if any
    assert all(report["deployment"] is None and report["changed"] is False for report in written), written
    assert len(user_deployments(sandbox, entry)) == 1


def test_the_role_itself_fails_when_herd_kept_its_version_after_a_successful_deployment(sandbox, make_stack, playbook, tmp_path):
    """Without upgrade_herd.yml's own last task, the role's "Say what happened" fails the play; the fact is kept."""
    entry = make_stack(current_version="0.170.0", faults={"herd_stale_version": True})
    endpoints = sandbox.endpoints()
    out = tmp_path / "result.json"
    play = larger_playbook(entry, endpoints, out)[0]
    play["tasks"][0]["vars"]["herd_upgrade_verify_retries"] = 1
    play["tasks"][1] = dict(play["tasks"][1], name="Keep it after the failure")
    path = tmp_path / "stale.yml"
    play["tasks"] = [{"name": "Upgrade, and keep what happened", "block": [play["tasks"][0]], "always": [play["tasks"][1]]}]
    path.write_text(yaml.safe_dump([play]))
    run = playbook(entry, name=str(path))
    assert run.finish() != 0
    said = run.output.split("TASK [mdl.herd.herd_upgrade : Say what happened]", 1)[-1].split("TASK [", 1)[0]
    assert "but HERD reports 0.170.0, not 0.176.0" in said, run.output
    failed = run.output.split("TASK [mdl.herd.herd_upgrade : Fail when the upgrade failed]", 1)[-1].split("TASK [", 1)[0]
    assert "fatal: [localhost]: FAILED!" in failed and "failed (version_check)" in failed, run.output
    result = json.loads(out.read_text())
    assert (result["outcome"], result["status"], result["to_version"]) == ("failed", "Succeeded", "0.170.0")


def test_aws_settings_given_only_in_the_plays_environment_reach_the_probe(sandbox, make_stack, playbook, tmp_path):
    """Region, endpoint and keys only in the play's ``environment:`` (none in the process, no module_defaults), with the
    probe of buildInfo with the admin credentials: the wait's module reads them from SSM with that environment."""
    from conftest import AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN

    entry = make_stack()
    endpoints = sandbox.endpoints()
    out = tmp_path / "result.json"
    play = larger_playbook(entry, endpoints, out)[0]
    del play["module_defaults"]
    play["environment"] = {"AWS_REGION": entry["aws_region"], "AWS_ENDPOINT_URL": endpoints["aws_endpoint_url"],
                           "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
                           "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN}
    play["tasks"][0]["vars"]["herd_upgrade_probe_auth"] = True
    path = tmp_path / "environment.yml"
    path.write_text(yaml.safe_dump([play]))
    gone = {name: None for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                                    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    run = playbook(entry, name=str(path), env_overrides=gone)
    assert run.finish() == 0, run.output
    result = json.loads(out.read_text())
    assert result["outcome"] == "upgraded", result
    report = result["zero_downtime"]
    assert report["probed"] is True and report["requests"] > 0 and report["url"].endswith("/herd-app/rest/buildInfo"), report


# --- issue 29 item 6: the fact after any failure, and the README's "tell the on-call channel" example ----------

def documented_example():
    """The example of docs/larger-playbooks.md, as it is written there."""
    text = (ROOT / "docs" / "larger-playbooks.md").read_text()
    block = re.search(r"## Tell the on-call channel.*?```yaml\n(.*?)```", text, re.S).group(1)
    return yaml.safe_load(block)


class Channel:
    """A webhook as the on-call channel's: it keeps every JSON body posted to it."""

    def __init__(self):
        self.posts = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:{0}/hooks/oncall".format(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("failure, stage", [("input", "input"), ("preflight", "preflight"), ("deployment", "deployment")])
def test_the_documented_on_call_example_tells_the_channel_whatever_failed(sandbox, make_stack, playbook, tmp_path,
                                                                            failure, stage):
    # the Maven stand-in is the sandbox's, shared by the worker's stacks: a version no other test asks for
    spec = {"input": {}, "preflight": {"faults": {"unpublished_versions": ["0.199.0"]}},
            "deployment": {"faults": {"fail_at_event": "ValidateService"}, "deployment_seconds": 6}}[failure]
    entry = make_stack(**spec)
    endpoints = sandbox.endpoints()
    path = tmp_path / "upgrade-and-tell.yml"
    play = documented_example()
    play[0]["module_defaults"] = {"group/mdl.herd.herd": {"region": entry["aws_region"],
                                                          "endpoint_url": endpoints["aws_endpoint_url"]}}
    path.write_text(yaml.safe_dump(play))
    channel = Channel()
    try:
        extra = {"input": ["-e", "herd_upgrade_wait_timeout=abc"], "preflight": ["-e", "herd_upgrade_version=0.199.0"],
                 "deployment": []}[failure]
        run = playbook(entry, *extra, name=str(path), oncall_webhook_url=channel.url,
                       herd_upgrade_mdl_instance_name=entry["mdl_instance_name"],
                       herd_upgrade_mdl_environment=entry["mdl_environment"])
        assert run.finish() != 0
    finally:
        channel.close()
    key = stack_key(entry)
    assert "TASK [Tell the on-call channel]" in run.output, run.output[-3000:]
    assert len(channel.posts) == 1, run.output[-3000:]
    told = channel.posts[0]
    result = told["outcome"]
    assert (result["outcome"], result["stage"], result["stack"]) == ("failed", stage, key), result
    assert told["text"].startswith("HERD upgrade failed on {0} ({1}): ".format(key, stage)), told["text"]
    assert key in told["text"].split("): ", 1)[1], told["text"]
    assert "the channel was told" in run.output
    assert invocations(sandbox, entry) == (1 if failure == "deployment" else 0)
    # every key of the fact is documented (issue 29 item 10)
    assert set(result) <= documented_result_keys(), set(result) - documented_result_keys()
    if failure == "deployment":
        assert set(result) == KEYS | ROLLBACK_KEYS
        assert result["rollback_status"] == "Succeeded" and result["to_version"] == "0.170.0"
    else:
        assert set(result) == KEYS


def documented_result_keys():
    """The keys of herd_upgrade_result the role's documentation (meta/argument_specs.yml) names."""
    specs = yaml.safe_load((ROOT / "roles" / "herd_upgrade" / "meta" / "argument_specs.yml").read_text())
    text = next(d for d in specs["argument_specs"]["main"]["description"] if "C(herd_upgrade_result)" in d)
    return set(re.findall(r"C\((\w+)\)", text.split("Its keys:", 1)[1]))
