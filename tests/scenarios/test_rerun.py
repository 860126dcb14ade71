"""A run lost at any moment of the deployment, then run again (issue: the late re-run).

The first run is killed (the whole process tree, as a lost controller or an AWX node failure
would lose it) while the sandbox holds its deployment at a lifecycle event. The same command
run again joins that deployment and follows it to its end: exactly one deployment, one invoke.
The same command with another version is refused, naming both, and invokes nothing.
"""

import pytest

from conftest import invocations, kill_tree, served_version, stack_key, user_deployments

VERSION = "0.176.0"
OTHER = "0.177.0"
# Where the first run is lost, and the sandbox hold that stands the deployment there.
MOMENTS = {
    "before ApplicationStart": "ApplicationStart",
    "between ApplicationStart and ValidateService": "ValidateService",
    "after ValidateService (RequestedVersion is FilledLater)": "BeforeAllowTraffic",
    "after traffic was rerouted (buildInfo reports the new version)": "BeforeBlockTraffic",
}
FOLLOWING = r"TASK \[mdl\.herd\.herd_upgrade : Follow the Blue/Green deployment to the end\]"


def lose_first_run(sandbox, playbook, entry, event):
    sandbox.hold(stack_key(entry), event)
    first = playbook(entry, herd_version=VERSION)
    held = sandbox.wait_held(stack_key(entry), timeout=120)
    assert held is not None, first.output
    first.wait_for_line(FOLLOWING)  # it was following the deployment when it was lost
    kill_tree(first)
    assert invocations(sandbox, entry) == 1
    return held["deployment_id"]


@pytest.mark.parametrize("event", list(MOMENTS.values()), ids=list(MOMENTS))
def test_a_rerun_joins_and_follows_the_deployment_to_its_end(sandbox, make_stack, playbook, event):
    entry = make_stack()
    deployment_id = lose_first_run(sandbox, playbook, entry, event)
    if event == "BeforeAllowTraffic":
        ssm = sandbox.live_state(stack_key(entry))["live"]["ssm"]
        assert ssm["HERD/RequestedVersion"] == "FilledLater" and ssm["HERD/CurrentVersion"] == VERSION
    if event == "BeforeBlockTraffic":
        assert served_version(sandbox, entry) == VERSION

    second = playbook(entry, herd_version=VERSION)
    second.wait_for_line(FOLLOWING)
    sandbox.release(stack_key(entry))
    code = second.finish()
    assert code == 0, second.output
    assert deployment_id in second.output
    assert "(joined" in second.output, second.output
    deployments = user_deployments(sandbox, entry)
    assert [(d["deployment_id"], d["status"]) for d in deployments] == [(deployment_id, "Succeeded")]
    assert invocations(sandbox, entry) == 1
    assert served_version(sandbox, entry) == VERSION


@pytest.mark.parametrize("event", list(MOMENTS.values())[:3], ids=list(MOMENTS)[:3])
def test_a_rerun_for_another_version_is_refused_naming_both(sandbox, make_stack, playbook, event):
    entry = make_stack()
    deployment_id = lose_first_run(sandbox, playbook, entry, event)

    other = playbook(entry, herd_version=OTHER)
    code = other.finish()
    assert code != 0, other.output
    # said once, by the role's "Say what happened" (then the role fails with a short line)
    refusal = [line for line in other.output.splitlines() if deployment_id in line and '"msg": ' in line]
    assert refusal, other.output
    assert "already deploying HERD {0}".format(VERSION) in refusal[0]
    assert "not the requested {0}".format(OTHER) in refusal[0]
    assert invocations(sandbox, entry) == 1  # nothing invoked
    assert sandbox.live_state(stack_key(entry))["live"]["ssm"]["HERD/RequestedVersion"] in (VERSION, "FilledLater")

    sandbox.release(stack_key(entry))
    assert len(user_deployments(sandbox, entry)) == 1


def test_check_mode_during_the_upgrade_would_join_and_changes_nothing(sandbox, make_stack, playbook):
    """--check while the deployment of the same version runs: would_join, naming it and its status; rc 0, nothing changed."""
    entry = make_stack()
    deployment_id = lose_first_run(sandbox, playbook, entry, "ValidateService")
    check = playbook(entry, "--check", herd_version=VERSION)
    code = check.finish()
    assert code == 0, check.output
    assert "check mode: would join deployment {0} (InProgress)".format(deployment_id) in check.output, check.output
    assert "nothing was changed" in check.output and "did not succeed" not in check.output
    assert "changed=0" in check.output and "failed=0" in check.output
    sandbox.release(stack_key(entry))
    assert invocations(sandbox, entry) == 1
    assert [d["deployment_id"] for d in user_deployments(sandbox, entry)] == [deployment_id]
