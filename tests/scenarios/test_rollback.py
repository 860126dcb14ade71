"""playbooks/rollback_herd.yml: back to the version served before the last upgrade, the upgrade's way, once."""

import json

import pytest

from conftest import (
    assert_tests_loaded_once_and_modules_run_from_files,
    invocations,
    kill_tree,
    served_version,
    stack_key,
    user_deployments,
    watching_workers,
)
from mdl_sandbox.spec import Faults
from test_fleet import inventory, table_rows

FOLLOWING = r"TASK \[mdl\.herd\.herd_upgrade : Follow the Blue/Green deployment to the end\]"
ROLLBACK = "mdl.herd.rollback_herd"


def test_rollback_after_an_upgrade_then_again_changes_nothing(sandbox, make_stack, playbook, tmp_path):
    entry = make_stack(current_version="0.170.0")
    assert playbook(entry, herd_version="0.176.0").finish() == 0
    first = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert first.finish() == 0, first.output[-4000:]
    assert "HERD downgraded from 0.176.0 to 0.170.0" in first.output
    assert served_version(sandbox, entry) == "0.170.0"
    assert invocations(sandbox, entry) == 2
    # herd_upgrade_serial as -e and AWX surveys give it, as upgrade_herd.yml takes it
    second = playbook(entry, "-e", "herd_upgrade_serial=1,50%", name=ROLLBACK, herd_upgrade_allow_downgrade="true",
                      env_overrides=watching_workers(tmp_path))
    assert second.finish() == 0, second.output[-4000:]
    assert "rolled back from 0.176.0 by deployment" in second.output and "nothing to roll back" in second.output
    # Jinja's tests loaded once, by ansible-playbook; its module tasks run from files, not pipelined
    assert_tests_loaded_once_and_modules_run_from_files(second, tmp_path)
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


# --- issue 27, item 4: a rollback never upgrades, never goes to a failed upgrade, and never repeats ---------------

def test_after_a_rollback_and_a_failed_upgrade_a_rollback_changes_nothing(sandbox, make_stack, playbook):
    """The issue's run: 0.170 -> 0.176, rolled back to 0.170, then 0.177 failed at AllowTraffic after the smoke test had
    written CurrentVersion=0.177.0. The history reads [0.170, 0.176, 0.170, 0.177] while HERD serves 0.170: a rollback
    must not go to 0.176 (newer: an upgrade) nor to 0.177 (newer, and failed)."""
    entry = make_stack(current_version="0.170.0")
    stack = sandbox.stack(entry["mdl_instance_name"], entry["mdl_environment"])
    assert playbook(entry, herd_version="0.176.0").finish() == 0
    assert playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true").finish() == 0
    stack.faults = Faults.from_dict({"fail_at_event": "AllowTraffic"})
    assert playbook(entry, herd_version="0.177.0").finish() != 0
    stack.faults = Faults()
    live = sandbox.live_state(stack_key(entry))["live"]
    assert (live["served_version"], live["ssm"]["HERD/CurrentVersion"]) == ("0.170.0", "0.177.0")
    assert invocations(sandbox, entry) == 3
    run = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert run.finish() == 0, run.output[-4000:]
    said = [line for line in run.output.splitlines() if "msg" in line and "nothing to roll back" in line]
    assert said, run.output[-4000:]
    assert "Stack {0} serves HERD 0.170.0, which came after 0.176.0".format(stack_key(entry)) in said[0]
    assert "0.170.0, 0.176.0, 0.170.0, 0.177.0 (failed)" in said[0]
    assert "running this again changes nothing" in said[0]
    assert invocations(sandbox, entry) == 3 and served_version(sandbox, entry) == "0.170.0"


def test_a_rollback_cut_short_before_its_record_changes_nothing_when_run_again(sandbox, make_stack, playbook):
    """The rollback deployed, but the run failed before its last task wrote the record (here: HERD was down longer than
    herd_upgrade_max_downtime_seconds): the history [0.170, 0.176, 0.170] alone must keep the next run from going back
    to 0.176."""
    entry = make_stack(current_version="0.170.0", faults={"herd_refused_seconds": 3})
    assert playbook(entry, herd_version="0.176.0").finish() == 0
    cut = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true", herd_upgrade_max_downtime_seconds="1")
    assert cut.finish() != 0
    assert "more than herd_upgrade_max_downtime_seconds" in cut.output, cut.output[-4000:]
    assert served_version(sandbox, entry) == "0.170.0" and invocations(sandbox, entry) == 2
    again = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert again.finish() == 0, again.output[-4000:]
    assert "which came after 0.176.0" in again.output and "nothing to roll back" in again.output
    assert invocations(sandbox, entry) == 2 and served_version(sandbox, entry) == "0.170.0"


def test_a_rollback_skips_a_version_whose_upgrade_failed(sandbox, make_stack, playbook):
    """0.170 -> 0.176 failed at AllowTraffic after its smoke test (CurrentVersion=0.176.0, HERD kept 0.170), then
    0.170 -> 0.177 succeeded: the history reads [0.170, 0.176, 0.177], and the rollback goes to 0.170."""
    entry = make_stack(current_version="0.170.0")
    stack = sandbox.stack(entry["mdl_instance_name"], entry["mdl_environment"])
    stack.faults = Faults.from_dict({"fail_at_event": "AllowTraffic"})
    assert playbook(entry, herd_version="0.176.0").finish() != 0
    stack.faults = Faults()
    assert sandbox.live_state(stack_key(entry))["live"]["ssm"]["HERD/CurrentVersion"] == "0.176.0"
    assert playbook(entry, herd_version="0.177.0").finish() == 0
    run = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert run.finish() == 0, run.output[-4000:]
    assert "HERD downgraded from 0.177.0 to 0.170.0" in run.output
    assert served_version(sandbox, entry) == "0.170.0"


def test_a_rollback_to_a_newer_version_is_refused(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0")
    run = playbook(entry, name=ROLLBACK, herd_version="0.176.0", herd_upgrade_allow_downgrade="true")
    assert run.finish() != 0
    assert "serves HERD 0.170.0, and 0.176.0 is newer: a rollback never goes to a newer version" in run.output, run.output
    assert invocations(sandbox, entry) == 0


@pytest.mark.parametrize("held_at", ["ValidateService", "TerminationWait"])
def test_a_rollback_killed_while_following_joins_its_deployment_when_run_again(sandbox, make_stack, playbook, held_at):
    """The controller running a rollback dies while it follows the deployment (before the smoke test, or once traffic
    reached the older version): the rollback run again joins that deployment, invokes nothing, and writes the record."""
    entry = make_stack(current_version="0.170.0")
    assert playbook(entry, herd_version="0.176.0").finish() == 0
    sandbox.hold(stack_key(entry), held_at)
    first = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    held = sandbox.wait_held(stack_key(entry), 120)
    first.wait_for_line(FOLLOWING)
    kill_tree(first)
    assert served_version(sandbox, entry) == ("0.176.0" if held_at == "ValidateService" else "0.170.0")
    again = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    again.wait_for_line(FOLLOWING)
    sandbox.release(stack_key(entry))
    assert again.finish() == 0, again.output[-4000:]
    assert "(joined" in again.output, again.output[-4000:]
    assert invocations(sandbox, entry) == 2 and len(user_deployments(sandbox, entry)) == 2
    assert served_version(sandbox, entry) == "0.170.0"
    third = playbook(entry, name=ROLLBACK, herd_upgrade_allow_downgrade="true")
    assert third.finish() == 0, third.output[-4000:]
    assert "rolled back from 0.176.0 by deployment {0}".format(held["deployment_id"]) in third.output, third.output[-4000:]
    assert invocations(sandbox, entry) == 2


# --- issue 29, item 7: a fleet's rollback as its upgrade (rescue, table, AWX artifacts) -------------------------------

def custom_stats(output):
    """What set_stats published, as the default callback prints it (ANSIBLE_SHOW_CUSTOM_STATS)."""
    start = output.index("RUN: ", output.index("CUSTOM STATS:")) + len("RUN: ")
    return json.JSONDecoder().raw_decode(output[start:])[0]


def test_a_fleet_rollback_follows_every_stack_and_reports_each(sandbox, make_stack, playbook, tmp_path):
    """Two stacks rolled back in one batch; one's rollback deployment fails its smoke test. The other is still followed
    to its end; the table and the AWX artifacts say what became of each; the run fails, naming the failed one."""
    failing, healthy = make_stack(current_version="0.170.0"), make_stack(current_version="0.170.0")
    path = inventory(tmp_path, {"DEV": [failing, healthy]})
    assert playbook(None, "-i", str(path), "-f", "2", herd_version="0.176.0", stacks="DEV").finish() == 0
    sandbox.stack(failing["mdl_instance_name"], failing["mdl_environment"]).faults = Faults.from_dict(
        {"fail_at_event": "ValidateService"})
    run = playbook(None, "-i", str(path), "-f", "2", name=ROLLBACK, stacks="DEV", herd_upgrade_allow_downgrade="true",
                   env_overrides={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    assert run.finish() != 0, run.output[-4000:]
    assert served_version(sandbox, healthy) == "0.170.0" and served_version(sandbox, failing) == "0.176.0"
    rolled_back = user_deployments(sandbox, healthy)[0]
    failed = user_deployments(sandbox, failing)[0]
    assert (rolled_back["status"], failed["status"]) == ("Succeeded", "Failed")
    rows = table_rows(run.output)
    assert rows[stack_key(healthy)] == ("0.176.0", "0.170.0", rolled_back["deployment_id"], rows[stack_key(healthy)][3],
                                        "downgraded"), rows
    assert rows[stack_key(failing)][0] == "0.176.0" and rows[stack_key(failing)][2:] == (
        failed["deployment_id"], rows[stack_key(failing)][3], "failed"), rows
    published = custom_stats(run.output)
    artifact = published["herd_upgrade_{0}_{1}".format(healthy["mdl_instance_name"], healthy["mdl_environment"])]
    assert (artifact["outcome"], artifact["to_version"], artifact["deployment_id"]) == (
        "downgraded", "0.170.0", rolled_back["deployment_id"]), artifact
    artifact = published["herd_upgrade_{0}_{1}".format(failing["mdl_instance_name"], failing["mdl_environment"])]
    assert (artifact["outcome"], artifact["requested_version"], artifact["deployment_id"]) == (
        "failed", "0.170.0", failed["deployment_id"]), artifact
    assert "event: ValidateService failed on" in artifact["message"], artifact["message"]
    # the healthy stack's rollback was recorded: run again, it changes nothing there
    again = playbook(None, "-i", str(path), "--limit", "{0}-dev".format(healthy["mdl_instance_name"]).lower(), name=ROLLBACK,
                     stacks="DEV", herd_upgrade_allow_downgrade="true")
    assert again.finish() == 0, again.output[-4000:]
    assert table_rows(again.output)[stack_key(healthy)][4] == "already_rolled_back"
    assert invocations(sandbox, healthy) == 2


def test_a_fleet_rollback_that_fails_before_any_deployment_keeps_the_stack_in_the_table(sandbox, make_stack, playbook,
                                                                                           tmp_path):
    """A stack with no recorded upgrade (the plan refuses) beside one that rolls back: both in the table."""
    unrecorded, upgraded = make_stack(current_version="0.170.0"), make_stack(current_version="0.170.0")
    assert playbook(upgraded, herd_version="0.176.0").finish() == 0
    path = inventory(tmp_path, {"DEV": [unrecorded, upgraded]})
    run = playbook(None, "-i", str(path), "-f", "2", name=ROLLBACK, stacks="DEV", herd_upgrade_allow_downgrade="true")
    assert run.finish() != 0
    rows = table_rows(run.output)
    assert rows[stack_key(unrecorded)] == ("0.170.0", "-", "-", "-", "failed"), rows
    assert rows[stack_key(upgraded)][:2] == ("0.176.0", "0.170.0") and rows[stack_key(upgraded)][4] == "downgraded", rows
    assert served_version(sandbox, upgraded) == "0.170.0" and invocations(sandbox, unrecorded) == 0
    assert "does not record a version before it" in run.output
