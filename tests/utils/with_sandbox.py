"""Run a command with a sandbox MDL fleet up, then stop the sandbox.

    with_sandbox.py --workdir DIR [--config FILE] [--fleet FILE] -- COMMAND ...

Starts ``python -m mdl_sandbox`` (from ``sandbox/`` in this checkout), waits until it has
written its endpoints file, writes FILE (the ansible-test integration_config.yml: the
sandbox's endpoints as variables) if asked, exports the endpoints to the command's
environment (SANDBOX_ENDPOINTS and the AWS_* variables boto3 reads), runs the command and
returns its exit code. The sandbox is stopped in every case; its log is shown on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90


def start(workdir: Path, fleet: str | None) -> tuple[subprocess.Popen, Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    endpoints = workdir / "endpoints.json"
    if endpoints.exists():
        endpoints.unlink()
    log = workdir / "sandbox.log"
    command = [sys.executable, "-m", "mdl_sandbox", "--workdir", str(workdir), "--endpoints-file", str(endpoints)]
    if fleet:
        command += ["--fleet", fleet]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "sandbox"), PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + START_TIMEOUT
    while not endpoints.exists():
        if process.poll() is not None:
            sys.stderr.write(log.read_text(errors="replace"))
            raise SystemExit("the sandbox exited with code {0} before it was ready".format(process.returncode))
        if time.monotonic() > deadline:
            process.kill()
            sys.stderr.write(log.read_text(errors="replace"))
            raise SystemExit("the sandbox was not ready after {0} s".format(START_TIMEOUT))
        time.sleep(0.1)
    return process, endpoints, log


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def integration_config(endpoints: dict) -> str:
    """ansible-test passes this file to every target as extra variables."""
    config = {
        "aws_endpoint_url": endpoints["aws_endpoint_url"],
        "aws_region": endpoints["aws_region"],
        "aws_access_key": endpoints["aws_access_key_id"],
        "aws_secret_key": endpoints["aws_secret_access_key"],
        "sandbox_control_url": endpoints["control_url"],
        "sandbox_ca_path": endpoints["herd_ca_path"],
        "sandbox": endpoints,
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--config", type=Path, help="write the endpoints as ansible-test integration_config.yml here")
    parser.add_argument("--fleet", help="fleet file for the sandbox")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")

    process, endpoints_path, log = start(args.workdir.resolve(), args.fleet)
    try:
        endpoints = json.loads(endpoints_path.read_text())
        if args.config:
            args.config.parent.mkdir(parents=True, exist_ok=True)
            args.config.write_text(integration_config(endpoints))
        env = dict(
            os.environ,
            SANDBOX_ENDPOINTS=str(endpoints_path),
            AWS_ENDPOINT_URL=endpoints["aws_endpoint_url"],
            AWS_DEFAULT_REGION=endpoints["aws_region"],
            AWS_REGION=endpoints["aws_region"],
            AWS_ACCESS_KEY_ID=endpoints["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=endpoints["aws_secret_access_key"],
        )
        code = subprocess.call(command, env=env)
    finally:
        stop(process)
    if code != 0:
        sys.stderr.write("--- last lines of the sandbox log ({0}) ---\n".format(log))
        sys.stderr.write("\n".join(log.read_text(errors="replace").splitlines()[-40:]) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
