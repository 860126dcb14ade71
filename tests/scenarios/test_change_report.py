"""herd_upgrade_report_dir: the report of each upgrade, joined run, failure and rollback, checked against what the sandbox did.

With MDL_HERD_REPORT_EXAMPLES set to a directory, the reports these runs write are copied there (docs/reports/ holds
the examples made that way; test_the_examples_in_docs_have_what_a_run_writes checks they still match).
"""

import json
import os
import re
from pathlib import Path

import yaml

from conftest import stack_key, user_deployments
from mdl_sandbox.spec import Faults

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "reports"
ROLLBACK = "mdl.herd.rollback_herd"


def reports(directory, operation="upgrade"):
    """The reports in ``directory``: [(markdown text, data)], oldest first."""
    found = []
    for path in sorted(Path(directory).glob("*-{0}-*.json".format(operation))):
        found.append((path.with_suffix(".md").read_text(), json.loads(path.read_text())))
    return found


def keep_example(markdown, name, sandbox, entry):
    """With MDL_HERD_REPORT_EXAMPLES set, keep ``markdown`` there, with this machine's paths and names made general."""
    target = os.environ.get("MDL_HERD_REPORT_EXAMPLES")
    if target:
        endpoints = sandbox.endpoints()
        for mine, general in ((endpoints["herd_ca_path"], "/etc/pki/herd/ca.pem"),
                              (endpoints["maven_repository_url"], "https://maven.example.com/maven2"),
                              ("-e mdl_instance_name=" + entry["mdl_instance_name"], "-e mdl_instance_name=mdl"),
                              ("mdl_instance_name " + entry["mdl_instance_name"], "mdl_instance_name mdl"),
                              (entry["mdl_instance_name"] + "/", "mdl/")):
            markdown = markdown.replace(mine, general)
        markdown = re.sub(r"/tmp/pytest-of-[^ ]*/reports", "/var/lib/herd-reports", markdown)
        markdown = re.sub(r"\| Run by \| \S+ on \S+ \|", "| Run by | ops on controller |", markdown)
        Path(target).mkdir(parents=True, exist_ok=True)
        Path(target, name + ".md").write_text(markdown)


def recorded_events(sandbox, entry, deployment_id):
    """(instance, event, status, start) of every lifecycle event, as CodeDeploy records them."""
    codedeploy = sandbox.client("codedeploy", region=entry["aws_region"])
    pages = codedeploy.get_paginator("list_deployment_targets").paginate(deploymentId=deployment_id)
    ids = [target for page in pages for target in page["targetIds"]]
    targets = codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)["deploymentTargets"]
    events = set()
    for target in targets:
        instance = target["instanceTarget"]
        for event in instance.get("lifecycleEvents", []):
            start = event.get("startTime")
            events.add((instance["targetId"].split("/")[-1], event["lifecycleEventName"], event["status"],
                        start.strftime("%Y-%m-%dT%H:%M:%S") if start else None))
    return events


def reported_events(deployment):
    return {(e["instance_id"], e["event"], e["status"], e["start_time"][:19] if e["start_time"] else None)
            for e in deployment["lifecycle_events"]}


def test_an_upgrade_then_its_rollback_leave_a_report_each_and_the_no_op_none(sandbox, make_stack, playbook, tmp_path):
    entry = make_stack(current_version="0.170.0")
    directory = tmp_path / "reports"
    run = playbook(entry, herd_version="0.176.0", herd_upgrade_report_dir=str(directory))
    assert run.finish() == 0, run.output[-4000:]
    [(markdown, data)] = reports(directory)
    [deployment] = user_deployments(sandbox, entry)
    assert (data["stack"], data["outcome"], data["from_version"], data["to_version"]) == (
        stack_key(entry), "upgraded", "0.170.0", "0.176.0")
    assert data["deployment"]["deployment_id"] == deployment["deployment_id"]
    assert data["deployment"]["status"] == "Succeeded" and [s["status"] for s in data["deployment"]["steps"]] == ["Succeeded"] * 4
    assert reported_events(data["deployment"]) == recorded_events(sandbox, entry, deployment["deployment_id"])
    probe = data["zero_downtime"]
    assert probe["requests"] > 0 and len(probe["availability"]) > 0 and set(probe["availability"]) <= set("=+x.")
    assert probe["availability"].startswith("=") and "+" in probe["availability"]  # the old version, then the new one
    assert data["run"]["user"] and data["run"]["controller_host"]
    command = data["repeat_command"]
    assert command.startswith("ansible-playbook mdl.herd.upgrade_herd -e herd_version=0.176.0 -e mdl_instance_name=")
    assert "herd_upgrade_ca_path=" in command
    assert "Markdown report" not in markdown and "# HERD upgrade of {0}: upgraded".format(stack_key(entry)) in markdown
    assert "report: {0}".format(directory) in run.output  # the run says where it is
    keep_example(markdown, "upgrade", sandbox, entry)

    again = playbook(entry, herd_version="0.176.0", herd_upgrade_report_dir=str(directory))
    assert again.finish() == 0, again.output[-4000:]
    assert len(reports(directory)) == 1  # the no-op changes nothing and writes nothing

    back = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true", herd_upgrade_report_dir=str(directory))
    assert back.finish() == 0, back.output[-4000:]
    [(markdown, data)] = reports(directory, "rollback")
    assert (data["operation"], data["from_version"], data["to_version"]) == ("rollback", "0.176.0", "0.170.0")
    newest = user_deployments(sandbox, entry)[0]
    assert data["deployment"]["deployment_id"] == newest["deployment_id"] != deployment["deployment_id"]
    assert data["repeat_command"].startswith("ansible-playbook mdl.herd.rollback_herd ")
    keep_example(markdown, "rollback", sandbox, entry)


def test_a_failed_upgrade_reports_the_failure_and_codedeploys_rollback(sandbox, make_stack, playbook, tmp_path):
    entry = make_stack(current_version="0.170.0")
    stack = sandbox.stack(entry["mdl_instance_name"], entry["mdl_environment"])
    stack.faults = Faults.from_dict({"fail_at_event": "ValidateService"})
    directory = tmp_path / "reports"
    run = playbook(entry, herd_version="0.176.0", herd_upgrade_report_dir=str(directory))
    assert run.finish() != 0
    stack.faults = Faults()
    [(markdown, data)] = reports(directory)
    [deployment] = user_deployments(sandbox, entry)
    assert data["outcome"] == "failed" and data["deployment"]["deployment_id"] == deployment["deployment_id"]
    assert data["deployment"]["status"] == "Failed"
    assert reported_events(data["deployment"]) == recorded_events(sandbox, entry, deployment["deployment_id"])
    failed = [e for e in data["deployment"]["lifecycle_events"] if e["status"] == "Failed"]
    assert [e["event"] for e in failed] == ["ValidateService"]
    rollbacks = [d for d in sandbox.live_state(stack_key(entry))["live"]["deployments"] if d["creator"] != "user"]
    assert data["rollback"]["deployment_id"] == rollbacks[0]["deployment_id"]
    assert data["rollback"]["status"] == rollbacks[0]["status"]
    assert "## What failed" in markdown and "ValidateService" in data["failure"]
    keep_example(markdown, "failed-upgrade", sandbox, entry)


def test_a_joined_run_reports_the_deployment_it_joined(sandbox, make_stack, playbook, tmp_path):
    entry = make_stack(current_version="0.170.0")
    sandbox.hold(stack_key(entry), "ValidateService")
    first = playbook(entry, herd_version="0.176.0")
    held = sandbox.wait_held(stack_key(entry), timeout=120)
    assert held is not None, first.output
    directory = tmp_path / "reports"
    second = playbook(entry, herd_version="0.176.0", herd_upgrade_report_dir=str(directory))
    second.wait_for_line(held["deployment_id"])
    sandbox.release(stack_key(entry))
    assert second.finish() == 0, second.output[-4000:]
    assert first.finish() == 0, first.output[-4000:]
    [(markdown, data)] = reports(directory)
    assert data["outcome"] == "joined" and data["joined"] and data["deployment"]["deployment_id"] == held["deployment_id"]
    assert "(joined a deployment under way)" in markdown
    keep_example(markdown, "joined", sandbox, entry)


def test_the_examples_in_docs_have_what_a_run_writes():
    """docs/reports/*.md were written by these scenarios: each has the headings its kind of run writes."""
    expected = {
        "upgrade.md": ["# HERD upgrade of ", "## Deployment d-", "## Zero downtime", "## The command that repeats this run"],
        "joined.md": ["# HERD upgrade of ", "joined a deployment under way", "## Deployment d-"],
        "failed-upgrade.md": ["# HERD upgrade of ", "## What failed", "## Deployment d-", "## Rollback deployment d-"],
        "rollback.md": ["# HERD rollback of ", "## Deployment d-", "## The command that repeats this run"],
    }
    for name, parts in expected.items():
        text = (EXAMPLES / name).read_text()
        missing = [part for part in parts if part not in text]
        assert not missing, (name, missing)
        assert "/tmp/" not in text and "pytest" not in text, name  # no machine path in the docs


def test_a_report_names_no_rollback_an_earlier_run_of_the_role_left(sandbox, make_stack, playbook, tmp_path):
    """A playbook that runs the role twice for one stack: the rollback the first run followed (here a fact the play set,
    as a failed run registers it) is not the second run's, and its report does not name it."""
    from test_larger_playbook import larger_playbook

    entry = make_stack(current_version="0.170.0")
    directory = tmp_path / "reports"
    play = larger_playbook(entry, sandbox.endpoints(), tmp_path / "result.json")[0]
    play["tasks"][0]["vars"]["herd_upgrade_report_dir"] = str(directory)
    stale = {"deployment_id": "d-STALE0000", "status": "Succeeded", "duration_seconds": 30, "changed": False}
    play["tasks"].insert(0, {"name": "What an earlier run of the role left", "ansible.builtin.set_fact": {"herd_upgrade_rollback": stale}})
    path = tmp_path / "twice.yml"
    path.write_text(yaml.safe_dump([play]))
    run = playbook(entry, name=str(path))
    assert run.finish() == 0, run.output[-4000:]
    [(markdown, data)] = reports(directory)
    assert data["outcome"] == "upgraded"
    assert not data.get("rollback") and "d-STALE0000" not in markdown, data.get("rollback")
