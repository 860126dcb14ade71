"""Start the sandbox in the foreground: ``python -m mdl_sandbox --endpoints-file PATH``.

It writes the endpoints file (atomically) once every stack is ready, prints how to reach it,
and on Ctrl-C or SIGTERM stops everything and removes the endpoints file.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import List, Optional

from .fleet import load_fleet
from .spec import SpecError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mdl_sandbox", description=(
        "Run a simulated fleet of MDL stacks (AWS side and HERD buildInfo) on 127.0.0.1."))
    parser.add_argument("--endpoints-file", required=True,
                        help="where to write the endpoints JSON once the sandbox is ready (removed on exit)")
    parser.add_argument("--fleet", help="YAML file of stacks to create at start (e.g. sandbox/fleet.yml)")
    parser.add_argument("--deployment-seconds", type=float, default=20.0,
                        help="how long a whole Blue/Green deployment takes (default: 20)")
    parser.add_argument("--region", default="us-east-1", help="default region of the stacks (default: us-east-1)")
    parser.add_argument("--workdir", default=".sandbox",
                        help="directory for the CA and certificates (default: .sandbox)")
    args = parser.parse_args(argv)
    if args.deployment_seconds <= 0:
        parser.error("--deployment-seconds must be greater than 0")
    return args


# The fleet inventory that matches sandbox/fleet.yml, shipped with the playbooks.
FLEET_INVENTORY = "playbooks/inventory/stacks.sandbox.yml"
DEMO_VERSION = "0.176.0"


def commands(endpoints: dict, environ=None, executable: str = sys.executable) -> dict:
    """The exact shell lines that upgrade the sandbox's stacks from another shell of this checkout: ``setup``
    (the environment: this Python's ansible-playbook, the collection, the sandbox's AWS), ``one`` (the first
    stack) and ``fleet`` (every stack of sandbox/fleet.yml, through its inventory)."""
    environ = os.environ if environ is None else environ
    exports = ["PATH={0}:$PATH".format(shlex.quote(os.path.dirname(executable)))]
    if environ.get("ANSIBLE_COLLECTIONS_PATH"):
        exports.append("ANSIBLE_COLLECTIONS_PATH={0}".format(shlex.quote(environ["ANSIBLE_COLLECTIONS_PATH"])))
    exports += ["AWS_ENDPOINT_URL={0}".format(endpoints["aws_endpoint_url"]),
                "AWS_ACCESS_KEY_ID={0}".format(endpoints["aws_access_key_id"]),
                "AWS_SECRET_ACCESS_KEY={0}".format(endpoints["aws_secret_access_key"]),
                "AWS_DEFAULT_REGION={0}".format(endpoints["aws_region"])]
    sandbox_vars = "-e herd_upgrade_ca_path={0} -e herd_upgrade_artifact_repository={1}".format(
        shlex.quote(endpoints["herd_ca_path"]), shlex.quote(endpoints["maven_repository_url"]))
    found = {"setup": "export " + " ".join(exports)}
    if endpoints["stacks"]:
        first = endpoints["stacks"][0]
        found["one"] = ("ansible-playbook mdl.herd.upgrade_herd -e herd_version={0} -e mdl_instance_name={1} "
                        "-e mdl_environment={2} -e herd_upgrade_aws_region={3} {4}").format(
            DEMO_VERSION, first["mdl_instance_name"], first["mdl_environment"], first["aws_region"], sandbox_vars)
        found["fleet"] = "ansible-playbook mdl.herd.upgrade_herd -i {0} -e stacks=all -e herd_version={1} {2}".format(
            FLEET_INVENTORY, DEMO_VERSION, sandbox_vars)
    return found


def summary(sandbox, endpoints_file: Path) -> str:
    endpoints = sandbox.endpoints()
    lines = ["MDL sandbox ready.", "",
             "  AWS endpoint : {0}  (region {1}, account {2})".format(
                 endpoints["aws_endpoint_url"], endpoints["aws_region"], endpoints["aws_account_id"]),
             "  Control API  : {0}".format(endpoints["control_url"]),
             "  HERD CA      : {0}".format(endpoints["herd_ca_path"]),
             "  Maven        : {0}".format(endpoints["maven_repository_url"]),
             "  Endpoints    : {0}".format(endpoints_file), ""]
    for stack in endpoints["stacks"]:
        faults = ", ".join(sorted(stack["faults"])) or "none"
        lines.append("  {0}/{1} ({2}) HERD {3}, faults: {4}".format(
            stack["mdl_instance_name"], stack["mdl_environment"], stack["aws_region"], stack["current_version"],
            faults))
        lines.append("      buildInfo {0}".format(stack["herd_load_balancer_url"]))
        lines.append("      Lambda    {0}".format(stack["upgrade_function_name"]))
    found = commands(endpoints)
    lines += ["", "From another shell in this checkout, first:", "", "  " + found["setup"]]
    if "one" in found:
        lines += ["", "then upgrade one stack:", "", "  " + found["one"],
                  "", "or every stack above ({0}, made for sandbox/fleet.yml):".format(FLEET_INVENTORY), "", "  " + found["fleet"]]
    lines += ["", "Ctrl-C stops it."]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    endpoints_file = Path(args.endpoints_file).resolve()
    try:
        specs = load_fleet(args.fleet) if args.fleet else []
    except (OSError, SpecError) as error:
        print("mdl_sandbox: {0}".format(error), file=sys.stderr)
        return 2
    from .sandbox import Sandbox  # moto is slow to import: only once the fleet is known to be good

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(workdir=args.workdir, region=args.region, deployment_seconds=args.deployment_seconds)
    written = False
    try:
        sandbox.start()
        for spec in specs:
            if stop.is_set():
                break
            sandbox.add_stack(spec)
        if not stop.is_set():
            sandbox.write_endpoints(endpoints_file)
            written = True
            print(summary(sandbox, endpoints_file), flush=True)
        while not stop.wait(timeout=1.0):
            pass
        print("mdl_sandbox: stopping.", flush=True)
        return 0
    except Exception as error:
        print("mdl_sandbox: {0}: {1}".format(type(error).__name__, error), file=sys.stderr)
        return 1
    finally:
        if written and endpoints_file.exists():
            os.unlink(endpoints_file)
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
