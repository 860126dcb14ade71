"""Fixtures of the sandbox's own tests.

One sandbox runs for the whole session (moto keeps its state in module globals, so a process
holds one at a time); every test creates the stacks it needs under names of its own, so tests
do not see each other's deployments. Deployments last ``DEPLOYMENT_SECONDS``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, Callable, Dict

import boto3
import pytest
import requests
from botocore.config import Config

from mdl_sandbox import Sandbox, StackSpec

DEPLOYMENT_SECONDS = 2.0
TERMINAL = ("Succeeded", "Failed", "Stopped")
_names = itertools.count(1)


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after {0}s waiting for {1}".format(timeout, what))
        time.sleep(interval)


def wait_until(fetch: Callable[[], Any], accept: Callable[[Any], bool], timeout: float = 15.0,
               what: str = "condition"):
    """Fetch a value until ``accept(value)``; return that value (fail after ``timeout`` seconds)."""
    found = []

    def check():
        value = fetch()
        if accept(value):
            found.append(value)
            return True
        return False

    wait_for(check, timeout=timeout, what=what)
    return found[0]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    with Sandbox(workdir=tmp_path_factory.mktemp("sandbox"), deployment_seconds=DEPLOYMENT_SECONDS) as running:
        yield running
    assert not running.scheduler.errors, running.scheduler.errors


@pytest.fixture(scope="session")
def endpoints(sandbox) -> Dict[str, Any]:
    return sandbox.endpoints()


@pytest.fixture(scope="session")
def aws(endpoints):
    """``aws(service, region=None, retries=False)``: a plain boto3 client of the sandbox."""
    session = boto3.session.Session(aws_access_key_id=endpoints["aws_access_key_id"],
                                    aws_secret_access_key=endpoints["aws_secret_access_key"])
    cache = {}

    def client(service: str, region: str = None, retries: bool = False):
        key = (service, region, retries)
        if key not in cache:
            config = Config(retries={"total_max_attempts": 3 if retries else 1, "mode": "standard"},
                            read_timeout=30)
            cache[key] = session.client(service, region_name=region or endpoints["aws_region"],
                                        endpoint_url=endpoints["aws_endpoint_url"], config=config)
        return cache[key]

    return client


@pytest.fixture
def make_stack(sandbox):
    """``make_stack(**spec)``: a new stack with a unique instance name; returns its entry."""

    def make(**spec) -> Dict[str, Any]:
        spec.setdefault("mdl_instance_name", "t{0}".format(next(_names)))
        spec.setdefault("mdl_environment", "DEV")
        return sandbox.add_stack(StackSpec.from_dict(spec))

    return make


@pytest.fixture
def invoke(aws):
    """``invoke(entry, payload)``: invoke the stack's upgrade Lambda as the console's Test does."""

    def call(entry: Dict[str, Any], payload: Any):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        return aws("lambda", entry["aws_region"]).invoke(
            FunctionName=entry["upgrade_function_name"], InvocationType="RequestResponse", LogType="Tail",
            Payload=body)

    return call


@pytest.fixture
def deployment(aws):
    """``deployment(entry, deployment_id)``: its deploymentInfo now."""

    def get(entry: Dict[str, Any], deployment_id: str) -> Dict[str, Any]:
        return aws("codedeploy", entry["aws_region"]).get_deployment(deploymentId=deployment_id)["deploymentInfo"]

    return get


@pytest.fixture
def wait_terminal(deployment):
    def wait(entry: Dict[str, Any], deployment_id: str, timeout: float = 20.0) -> Dict[str, Any]:
        return wait_until(lambda: deployment(entry, deployment_id), lambda info: info["status"] in TERMINAL,
                          timeout=timeout, what="deployment {0} to end".format(deployment_id))

    return wait


@pytest.fixture
def most_recent_id(aws):
    def get(entry: Dict[str, Any]) -> str:
        name = "/app/MDL/{0}/{1}/HERD/MostRecentDeploymentId".format(entry["mdl_instance_name"],
                                                                     entry["mdl_environment"])
        return aws("ssm", entry["aws_region"]).get_parameter(Name=name)["Parameter"]["Value"]

    return get


@pytest.fixture
def build_number(endpoints):
    """``build_number(entry)``: what HERD's REST buildInfo reports, over the stack's load balancer URL."""

    def get(entry: Dict[str, Any]):
        url = entry["herd_load_balancer_url"]
        auth = (entry["herd_username"], entry["herd_password"]) if entry["ssl"] else None
        answer = requests.get(url, auth=auth, verify=endpoints["herd_ca_path"], timeout=5,
                              headers={"Accept": "application/json"})
        if answer.status_code != 200:
            return answer.status_code
        return answer.json()["buildNumber"]

    return get
