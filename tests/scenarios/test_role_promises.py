"""Promises of the role and the playbook that only a whole run shows: on_timeout passed through, no secret at -v,
discovery under throttling."""

import re


import conftest
from conftest import invocations, stack_key, user_deployments

VERSION = "0.176.0"


def secrets(sandbox, entry):
    return {"AWS secret key": conftest.AWS_SECRET_ACCESS_KEY, "AWS session token": conftest.AWS_SESSION_TOKEN,
            "HERD admin password": entry["herd_password"], "Maven password": sandbox.endpoints()["maven_password"]}


def leaked(sandbox, entry, run):
    return [name for name, secret in secrets(sandbox, entry).items() if secret and secret in run.output]


def fatal_lines(run):
    return [line for line in run.output.splitlines() if line.startswith("fatal:")]


def test_on_timeout_stop_reaches_codedeploy_wait_and_the_play_fails_naming_stack_and_deployment(sandbox, make_stack, playbook):
    entry = make_stack(deployment_seconds=300)  # far longer than the wait: it can only end by being stopped
    key = stack_key(entry)
    run = playbook(entry, "-v", herd_version=VERSION, herd_upgrade_wait_timeout=3, herd_upgrade_on_timeout="stop")
    code = run.finish()
    assert code != 0, run.output[-4000:]
    deployments = user_deployments(sandbox, entry)
    assert len(deployments) == 1 and invocations(sandbox, entry) == 1, deployments
    deployment = deployments[0]
    assert deployment["status"] == "Stopped", deployment
    # the role's failure (rescued by the playbook) and the playbook's last task, which fails the stack with it
    fatal = fatal_lines(run)
    assert len(fatal) == 2, run.output[-4000:]
    for message in fatal:
        assert "{0}: the upgrade of HERD to {1} by deployment {2} did not succeed.".format(
            key, VERSION, deployment["deployment_id"]) in message, message
        assert "did not succeed within 3 s (wait_timeout)" in message and "on_timeout=stop" in message, message
    # failing cleanly: the role's own message, no module crash
    assert "Traceback" not in run.output and "MODULE FAILURE" not in run.output
    assert re.search(r"failed=1 ", run.output), run.output[-2000:]
    assert leaked(sandbox, entry, run) == []


def test_no_secret_in_the_output_at_v(sandbox, make_stack, playbook):
    entry = make_stack(deployment_seconds=6)
    run = playbook(entry, "-v", herd_version=VERSION)
    assert run.finish() == 0, run.output[-4000:]
    # the run read the password from SSM and used it: HERD answered it
    assert "HERD upgraded from 0.170.0 to {0}".format(VERSION) in run.output, run.output[-3000:]
    assert leaked(sandbox, entry, run) == []
    # a re-run (nothing to do) and a failing run print other results: none shows a secret either
    again = playbook(entry, "-v", herd_version=VERSION)
    assert again.finish() == 0, again.output[-4000:]
    refused = playbook(entry, "-v", herd_version="0.160.0")
    assert refused.finish() != 0
    assert leaked(sandbox, entry, again) == [] and leaked(sandbox, entry, refused) == []


def discovery_run(sandbox, make_stack, playbook, throttle):
    """An upgrade whose stack throttles ``throttle``; the stack's throttle counts left after it."""
    entry = make_stack(deployment_seconds=6, faults={"throttle": throttle})
    run = playbook(entry, "-v", herd_version=VERSION)
    assert run.finish() == 0, run.output[-4000:]
    assert "HERD upgraded from 0.170.0 to {0}".format(VERSION) in run.output, run.output[-3000:]
    # the sandbox's own count of the refusals it has still to give (none: every throttled call was met and retried)
    return dict(sandbox.stacks[stack_key(entry)]._throttle_left)


def test_discovery_survives_throttled_ssm_reads(sandbox, make_stack, playbook):
    """The first buildInfo read finds HERD's admin user and password in SSM although GetParameter is throttled.

    The first GetParameter calls of a run are discovery's (herd_buildinfo_check reads the credentials before
    any other module runs): the 3 refusals all land there, and the run goes on.
    """
    assert discovery_run(sandbox, make_stack, playbook, {"ssm:GetParameter": 3}) == {"ssm:GetParameter": 0}


def test_discovery_survives_throttled_cloudformation_reads(sandbox, make_stack, playbook):
    assert discovery_run(sandbox, make_stack, playbook, {"cloudformation:DescribeStacks": 2}) == {
        "cloudformation:DescribeStacks": 0}
