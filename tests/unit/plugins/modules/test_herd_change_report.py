# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""herd_change_report: the files it writes, check mode, and its errors."""

from __future__ import annotations

import json

from ansible_collections.mdl.herd.plugins.modules import herd_change_report

from .module_runner import run_module

RESULT = {"stack": "mdl/DEV", "mdl_instance_name": "mdl", "mdl_environment": "DEV", "outcome": "already_served",
          "requested_version": "0.176.0", "from_version": "0.176.0", "to_version": "0.176.0", "deployment_id": None,
          "message": "mdl/DEV: HERD already serves 0.176.0; nothing to do."}


def test_writes_markdown_and_json_and_returns_them(monkeypatch, tmp_path):
    failed, result = run_module(monkeypatch, herd_change_report.main, {
        "report_dir": str(tmp_path), "result": RESULT, "awx": {"job_id": 7, "job_template_name": "t"},
        "inputs": {"herd_version": "0.176.0", "herd_upgrade_artifact_repository_password": "s3cret"}})
    assert not failed and result["changed"]
    assert json.loads(open(result["json_path"]).read())["run"]["awx_job_id"] == 7
    assert open(result["markdown_path"]).read() == result["markdown"]
    assert "s3cret" not in result["markdown"] and "-e herd_version=0.176.0" in result["markdown"]


def test_check_mode_writes_nothing(monkeypatch, tmp_path):
    failed, result = run_module(monkeypatch, herd_change_report.main, {"report_dir": str(tmp_path / "r"), "result": RESULT},
                                check_mode=True)
    assert not failed and not result["changed"] and not (tmp_path / "r").exists()


def test_a_result_that_is_not_the_roles_is_refused_naming_the_key(monkeypatch, tmp_path):
    failed, result = run_module(monkeypatch, herd_change_report.main, {"report_dir": str(tmp_path), "result": {"stack": "x"}})
    assert failed and "result must be the role's herd_upgrade_result, with the key mdl_instance_name" in result["msg"]


def test_an_unwritable_directory_names_the_variable_and_the_stack(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    failed, result = run_module(monkeypatch, herd_change_report.main, {"report_dir": str(blocker / "sub"), "result": RESULT})
    assert failed and "Stack mdl/DEV: could not write the report" in result["msg"] and "herd_upgrade_report_dir" in result["msg"]
