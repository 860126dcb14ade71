# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change report: its data, its Markdown and its files, from results shaped as the role and codedeploy_wait return them."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.mdl.herd.plugins.module_utils import _report

RUN = {"user": "ops", "controller_host": "laptop", "awx_job_id": None, "awx_job_template_name": None}


def wait_result(deployment_id="d-AAAAAAAAA", status="Succeeded", failed_event=None):
    events = []
    for i, name in enumerate(["BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"]):
        event = {"name": name, "status": "Succeeded", "start_time": "2026-12-05T10:0{0}:00.000Z".format(i),
                 "end_time": "2026-12-05T10:0{0}:30.000Z".format(i), "diagnostics": {"error_code": "Success"}}
        if name == failed_event:
            diagnostics = {"error_code": "ScriptFailed", "script_name": "smokeTestHerd.sh", "message": "exit 1", "log_tail": "..."}
            event.update(status="Failed", diagnostics=diagnostics)
        events.append(event)
    return {
        "deployment_id": deployment_id, "status": status, "creator": "user",
        "create_time": "2026-12-05T09:59:50.000Z", "start_time": "2026-12-05T10:00:00.000Z",
        "complete_time": "2026-12-05T10:06:00.000Z", "duration_seconds": 360,
        "steps": [{"number": n, "name": "step {0}".format(n), "status": "Succeeded", "start_time": "t{0}".format(n),
                   "end_time": "u{0}".format(n)} for n in (1, 2, 3, 4)],
        "instances": [{"instance_id": "i-green", "label": "Green", "lifecycle_events": events},
                      {"instance_id": "i-blue", "label": "Blue", "lifecycle_events": [
                          {"name": "BlockTraffic", "status": "Succeeded", "start_time": "2026-12-05T10:04:00.000Z",
                           "end_time": "2026-12-05T10:04:10.000Z"}]}],
        "error_information": {"code": "HEALTH_CONSTRAINTS", "message": "boilerplate"} if status == "Failed" else {},
        "zero_downtime": {"requests": 300, "failures": 1, "longest_outage_seconds": 1.0, "versions_seen": ["0.175.0", "0.176.0"],
                          "alternated": False, "started_at": "2026-12-05T10:00:00.000Z",
                          "availability": "=" * 70 + "x" + "+" * 10},
    }


def result(outcome="upgraded", **extra):
    base = {"stack": "mdl/DEV", "mdl_instance_name": "mdl", "mdl_environment": "DEV", "outcome": outcome, "changed": True,
            "requested_version": "0.176.0", "from_version": "0.175.0", "to_version": "0.176.0",
            "deployment_id": "d-AAAAAAAAA", "joined": False, "status": "Succeeded", "duration_seconds": 360,
            "message": "mdl/DEV: upgraded."}
    base.update(extra)
    return base


def test_a_success_names_the_stack_versions_deployment_steps_events_and_probe():
    report = _report.build("upgrade", result(), RUN, deployment=wait_result(), command="ansible-playbook x")
    text = _report.markdown(report)
    assert text.startswith("# HERD upgrade of mdl/DEV: upgraded\n")
    assert "| Versions served, before -> after | 0.175.0 -> 0.176.0 |" in text
    assert "| Deployment | d-AAAAAAAAA Succeeded |" in text
    assert "| Run by | ops on laptop |" in text
    assert [s["number"] for s in report["deployment"]["steps"]] == [1, 2, 3, 4]
    # every lifecycle event of both instances, in CodeDeploy's time order, with its times
    assert [e["event"] for e in report["deployment"]["lifecycle_events"]] == [
        "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService", "BlockTraffic"]
    assert "| i-blue | Blue | BlockTraffic | Succeeded | 2026-12-05T10:04:00.000Z | 2026-12-05T10:04:10.000Z | - |" in text
    # the strip, 60 seconds a line, with its offsets
    assert "    0s " + "=" * 60 in text and "   60s " + "=" * 10 + "x" + "+" * 10 in text
    assert "What failed" not in text and report["failure"] is None
    assert "```\nansible-playbook x\n```" in text


def test_a_failure_with_rollback_tells_the_story_and_both_deployments():
    failed = result("failed", to_version="0.175.0", status="Failed", rollback_deployment_id="d-RRRRRRRRR",
                    rollback_status="Succeeded", message="mdl/DEV: the upgrade failed.\nEvent: ValidateService")
    report = _report.build("upgrade", failed, RUN, deployment=wait_result(status="Failed", failed_event="ValidateService"),
                           rollback=wait_result("d-RRRRRRRRR"))
    text = _report.markdown(report)
    assert "## What failed\n\n    mdl/DEV: the upgrade failed.\n    Event: ValidateService" in text
    assert "| i-green | Green | ValidateService | Failed (ScriptFailed) |" in text and "smokeTestHerd.sh" in text
    assert "CodeDeploy's error: HEALTH_CONSTRAINTS" in text
    assert "## Rollback deployment d-RRRRRRRRR" in text and "| Rollback | d-RRRRRRRRR Succeeded |" in text


def test_a_joined_run_and_an_awx_job_say_so():
    run = dict(RUN, awx_job_id=42, awx_job_template_name="Upgrade HERD")
    text = _report.markdown(_report.build("upgrade", result("joined", joined=True), run, deployment=wait_result()))
    assert "| Outcome | joined (joined a deployment under way) |" in text
    assert "| Run by | ops on laptop, AWX job 42 (template Upgrade HERD) |" in text


def test_a_rollback_without_a_wait_result_keeps_the_ids_from_the_result():
    report = _report.build("rollback", result("rolled_back", deployment_id="d-RRRRRRRRR"), RUN)
    assert report["deployment"]["deployment_id"] == "d-RRRRRRRRR" and report["rollback"] is None
    assert _report.markdown(report).startswith("# HERD rollback of mdl/DEV: rolled_back")


def test_the_repeat_command_leaves_out_secrets_and_empty_values_and_quotes():
    command = _report.repeat_command("mdl.herd.upgrade_herd", {
        "herd_version": "0.176.0", "mdl_instance_name": "mdl", "herd_upgrade_artifact_repository_password": "hunter2",
        "herd_upgrade_aws_session_token": "tok", "herd_upgrade_ca_path": "/my certs/ca.pem", "herd_upgrade_buildinfo_url": "",
        "herd_upgrade_allow_downgrade": True})
    assert "hunter2" not in command and "tok" not in command and "buildinfo_url" not in command
    assert command == ("ansible-playbook mdl.herd.upgrade_herd -e herd_version=0.176.0 -e mdl_instance_name=mdl "
                       "-e 'herd_upgrade_ca_path=/my certs/ca.pem' -e '{\"herd_upgrade_allow_downgrade\": true}'")


def test_files_are_written_once_per_run_and_never_overwritten(tmp_path):
    report = _report.build("upgrade", result(), dict(RUN), deployment=wait_result())
    first = _report.write(str(tmp_path / "reports"), report)
    second = _report.write(str(tmp_path / "reports"), report)
    assert first != second and all(os.path.exists(p) for p in first + second)
    assert json.loads(open(first[1]).read()) == json.loads(json.dumps(report))
    assert os.path.basename(first[0]).startswith("mdl-DEV-upgrade-")


@pytest.mark.parametrize("limit", [200, 0])
def test_the_markdown_for_awx_is_capped_and_says_so(limit):
    text = "x" * 1000
    cut = _report.capped(text, limit)
    assert (len(cut) <= 200 and "cut at 200 of 1000 characters" in cut) if limit else cut == text
