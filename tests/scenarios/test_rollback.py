"""playbooks/rollback_herd.yml: back to the version served before the last upgrade, the upgrade's way, once."""

from conftest import invocations, served_version, stack_key, user_deployments

FOLLOWING = r"TASK \[mdl\.herd\.herd_upgrade : Follow the Blue/Green deployment to the end\]"
ROLLBACK = "mdl.herd.rollback_herd"


def test_rollback_after_an_upgrade_then_again_changes_nothing(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0")
    assert playbook(entry, herd_version="0.176.0").finish() == 0
    first = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert first.finish() == 0, first.output[-4000:]
    assert "HERD downgraded from 0.176.0 to 0.170.0" in first.output
    assert served_version(sandbox, entry) == "0.170.0"
    assert invocations(sandbox, entry) == 2
    second = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert second.finish() == 0, second.output[-4000:]
    assert "rolled back from 0.176.0 by deployment" in second.output and "nothing to roll back" in second.output
    assert invocations(sandbox, entry) == 2 and len(user_deployments(sandbox, entry)) == 2
    # a later upgrade is rolled back again, to the version before it
    assert playbook(entry, herd_version="0.180.0").finish() == 0
    third = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert third.finish() == 0, third.output[-4000:]
    assert served_version(sandbox, entry) == "0.170.0"


def test_a_rollback_needs_the_confirmation_and_reads_nothing_without_it(sandbox, make_stack, playbook):
    entry = make_stack()
    run = playbook(entry, name=ROLLBACK)
    assert run.finish() != 0
    assert "herd_upgrade_allow_downgrade=true" in run.output and "database changes" in run.output
    assert sandbox.calls.snapshot()["stacks"].get(stack_key(entry), {}) == {}


def test_a_rollback_with_nothing_recorded_asks_for_the_version(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0")
    run = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert run.finish() != 0
    assert "does not record a version before it" in run.output and "-e herd_version=X" in run.output
    assert invocations(sandbox, entry) == 0


def test_a_rollback_to_a_given_version(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.176.0")
    run = playbook(entry, name=ROLLBACK, herd_version="0.160.0", herd_upgrade_allow_downgrade="true")
    assert run.finish() == 0, run.output[-4000:]
    assert served_version(sandbox, entry) == "0.160.0"


def test_a_rollback_while_the_upgrade_runs_is_refused_naming_it(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0")
    sandbox.hold(stack_key(entry), "ValidateService")
    upgrade = playbook(entry, herd_version="0.176.0")
    held = sandbox.wait_held(stack_key(entry), 120)
    upgrade.wait_for_line(FOLLOWING)
    rollback = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert rollback.finish() != 0
    assert "has deployment {0} under way".format(held["deployment_id"]) in rollback.output
    sandbox.release(stack_key(entry))
    assert upgrade.finish() == 0
    assert invocations(sandbox, entry) == 1
