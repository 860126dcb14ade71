"""``python -m mdl_sandbox``: the endpoints file appears when ready and goes away on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from conftest import wait_for

SANDBOX_DIR = Path(__file__).resolve().parents[1]


def test_cli_writes_then_removes_the_endpoints_file(tmp_path):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text("stacks:\n  - {mdl_instance_name: mdl, mdl_environment: DEV}\n"
                     "  - {mdl_instance_name: mdl, mdl_environment: QA, region: us-west-2,"
                     " faults: {fail_at_event: ValidateService}}\n")
    endpoints_file = tmp_path / "out" / "endpoints.json"
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    process = subprocess.Popen(
        [sys.executable, "-m", "mdl_sandbox", "--endpoints-file", str(endpoints_file), "--fleet", str(fleet),
         "--deployment-seconds", "2", "--workdir", str(tmp_path / "work")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        wait_for(lambda: endpoints_file.exists() or process.poll() is not None, timeout=60,
                 what="the endpoints file")
        assert process.poll() is None, process.communicate()
        endpoints = json.loads(endpoints_file.read_text())
        assert [(s["mdl_environment"], s["aws_region"]) for s in endpoints["stacks"]] == [
            ("DEV", "us-east-1"), ("QA", "us-west-2")]
        assert endpoints["stacks"][1]["faults"] == {"fail_at_event": "ValidateService"}
        assert Path(endpoints["herd_ca_path"]).is_file()
        assert requests.get(endpoints["control_url"] + "/health", timeout=5).json() == {"ok": True}
        assert (endpoints_file.stat().st_mode & 0o777) == 0o600
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "MDL sandbox ready." in out and "AWS_ENDPOINT_URL=" in out
    assert not endpoints_file.exists()


def test_cli_refuses_a_bad_fleet(tmp_path):
    fleet = tmp_path / "fleet.yml"
    fleet.write_text("stacks:\n  - {mdl_instance_name: mdl, mdl_environment: DEV, faults: {nope: 1}}\n")
    env = dict(os.environ, PYTHONPATH=str(SANDBOX_DIR))
    result = subprocess.run([sys.executable, "-m", "mdl_sandbox", "--endpoints-file", str(tmp_path / "e.json"),
                             "--fleet", str(fleet)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "stacks[0]: unknown fault(s) 'nope'" in result.stderr
    assert not (tmp_path / "e.json").exists()
