# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter mdl.herd.herd_upgrade_result: the role's result of every outcome, from what its tasks registered."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_result import FilterModule

result_of = FilterModule().filters()["herd_upgrade_result"]
ROLE_WORDS = yaml.safe_load((Path(__file__).parents[4] / "roles" / "herd_upgrade" / "vars" / "main.yml").read_text())["herd_upgrade_role_words"]
# the keys every result starts from, for a run that read nothing (bad input)
BASE = {"stack": "mdl/DEV", "mdl_instance_name": "mdl", "mdl_environment": "DEV", "requested_version": "0.176.0",
        "from_version": None, "deployment_id": None, "joined": False, "preflight": {}, "zero_downtime": {}, "stage": None}
SKIPPED = {"skipped": True, "changed": False}
STARTED = {"changed": True, "already_served": False, "deployment_id": "d-ABCDEFGH1", "attached": False,
           "served": {"build_number": "0.170.0"}}
PROBED = {"requests": 40, "failures": 0, "versions_seen": ["0.170.0", "0.176.0"], "alternated": True}


def run(invoke, deployment=None, after=None, **more):
    deployment, after = deployment or SKIPPED, after or SKIPPED
    given = {"stack": "mdl/DEV", "mdl_instance_name": "mdl", "mdl_environment": "DEV", "version": "0.176.0",
             "invoke": invoke, "deployment": deployment,
             "after": after, "problems": [], "role_words": ROLE_WORDS}
    given.update(more)
    return result_of(given)


def succeeded(**more):
    return dict({"status": "Succeeded", "duration_seconds": 61.5, "zero_downtime": PROBED}, **more)


def test_bad_input_names_every_problem_one_a_line_and_changes_nothing():
    result = run(SKIPPED, problems=["herd_upgrade_lock_wait must be a number", "herd_upgrade_probe must be true or false"])
    assert result == dict(BASE, outcome="failed", changed=False, status=None, to_version=None, duration_seconds=None,
                          stage="input", message="mdl/DEV: nothing was read or changed in AWS; fix these and run again:\n"
                          "herd_upgrade_lock_wait must be a number\nherd_upgrade_probe must be true or false")
    assert "fix this and run again:\nx is bad" in run(SKIPPED, problems=["x is bad"])["message"]


@pytest.mark.parametrize("message, served, stage", [
    ("Preflight of mdl/DEV failed: the bundle is missing", {"build_number": "0.170.0"}, "preflight"),
    ("Another run holds the upgrade lock of mdl/DEV", {"build_number": "0.170.0"}, "lock"),
    ("HERD did not answer", None, "read"),
    ("The Lambda failed", {"build_number": "0.170.0"}, "invoke"),
])
def test_a_failed_invoke_says_its_stage(message, served, stage):
    invoke = {"failed": True, "changed": False, "msg": message}
    if served is not None:
        invoke["served"] = served
    result = run(invoke)
    assert (result["outcome"], result["stage"], result["changed"], result["to_version"]) == ("failed", stage, False, None)


def test_a_failed_invoke_says_the_module_message_in_the_role_variables_and_names_the_stack_once():
    invoke = {"failed": True, "changed": True, "served": {"build_number": "0.170.0"},
              "msg": "HERD's certificate\n  was refused: set ca_path (herd_upgrade_ca_path in the role); run this task again."}
    result = run(invoke)
    assert result["message"] == "mdl/DEV: HERD's certificate was refused: set herd_upgrade_ca_path; run this again."
    assert result["changed"] is True
    named = run(dict(invoke, msg="mdl/DEV: the Lambda timed out "))["message"]
    assert named == "mdl/DEV: the Lambda timed out"
    assert run({"failed": True})["message"] == "mdl/DEV: the invoke failed"


def test_already_served_changes_nothing_and_says_so():
    result = run({"changed": False, "already_served": True, "served": {"build_number": "0.176.0"}})
    assert result == dict(BASE, from_version="0.176.0", outcome="already_served", changed=False, status=None, duration_seconds=None,
                          to_version="0.176.0", message="mdl/DEV: HERD already serves 0.176.0; nothing to do.")


WAIT_MESSAGE = (
    "Deployment d-ABCDEFGH1 of mdl/DEV Failed after 95 s.\nLifecycle event ValidateService failed on i-0abc (script"
    " validate.sh).\nError code ScriptFailed: exit 1\nLast lines of its log:\n  curl: (7) refused\n\nAlso failed:"
    " AfterInstall on i-0def\nRollback deployment d-ZYXWVUT98 is InProgress (started by CodeDeploy).\nIt goes on without"
    " this task: wait again with the same deployment_id and a longer wait_timeout, or set on_timeout to stop or rollback.")
ASKS = {"deployment_invoked": True, "requested_version": "0.176.0", "current_version": "0.170.0"}


def failed(deployment, rollback=None, after_failure=None, **more):
    return run(STARTED, deployment, rollback=rollback or SKIPPED, after_failure=after_failure or {}, wait_timeout=3600, **more)


def test_a_failed_deployment_says_where_it_failed_the_rollback_what_is_served_ssm_and_the_next_step_one_line_each():
    result = failed({"status": "Failed", "timed_out": False, "msg": WAIT_MESSAGE, "duration_seconds": 95},
                    {"deployment_id": "d-ZYXWVUT98", "status": "Succeeded", "duration_seconds": 40},
                    {"build_number": "0.170.0", "upgrade_request": ASKS}, aws_region="eu-west-1")
    assert {k: result[k] for k in ("outcome", "changed", "stage", "status", "to_version", "rollback_deployment_id",
                                   "rollback_status", "duration_seconds")} == {
        "outcome": "failed", "changed": True, "stage": "deployment", "status": "Failed", "to_version": "0.170.0",
        "rollback_deployment_id": "d-ZYXWVUT98", "rollback_status": "Succeeded", "duration_seconds": 95}
    assert result["message"].split("\n") == [
        "mdl/DEV: the upgrade of HERD to 0.176.0 by deployment d-ABCDEFGH1 did not succeed. Deployment d-ABCDEFGH1 of"
        " mdl/DEV Failed after 95 s.",
        "  event: ValidateService failed on i-0abc (script validate.sh).",
        "  code: ScriptFailed: exit 1",
        "  log, last lines:",
        "     curl: (7) refused",
        "  also failed: AfterInstall on i-0def",
        "  rollback: Rollback deployment d-ZYXWVUT98 succeeded in 40 s.",
        "  served: HERD serves 0.170.0 now.",
        "  SSM: still asks new instances to install 0.176.0, not 0.170.0 (HERD/DeploymentInvoked is true; herd-mdl resets it"
        " only once its smoke test passed): a HERD instance the Auto Scaling group launches before the next successful"
        " upgrade installs 0.176.0.",
        "  next: find out why d-ABCDEFGH1 failed (the lines above); running this again starts a new deployment of 0.176.0.",
        "  fix SSM now: until a deployment of 0.176.0 succeeds, have new instances install 0.170.0 with: aws ssm put-parameter"
        " --overwrite --name /app/MDL/mdl/DEV/HERD/DeploymentInvoked --value false --region eu-west-1 (what herd-mdl itself"
        " writes once a smoke test passed)."]


def test_a_rollback_still_under_way_is_what_a_rerun_waits_for():
    result = failed({"status": "Failed", "timed_out": False, "msg": "Deployment failed."},
                    {"deployment_id": "d-ZYXWVUT98", "status": "InProgress", "duration_seconds": 0},
                    {"msg": "HERD  did\n not answer"})
    assert result["message"].split("\n")[1:] == [
        "  rollback: Rollback deployment d-ZYXWVUT98 is InProgress after ? s.",
        "  served: HERD could not be read: HERD did not answer",
        "  next: rollback deployment d-ZYXWVUT98 is still under way: running this again now is refused, naming it; once it"
        " has ended, running this again starts a new deployment of 0.176.0: find out why d-ABCDEFGH1 failed first."]


def test_a_stopped_deployment_without_a_rollback_says_why():
    result = failed({"status": "Stopped", "timed_out": False, "msg": "Stopped.", "rollback_info": {"rollback_message": "none configured."}},
                    after_failure={"build_number": "0.170.0", "upgrade_request": dict(ASKS, current_version=None)})
    lines = result["message"].split("\n")
    assert "  rollback: none was started (none configured)." in lines
    assert lines[-1] == "  next: find out why d-ABCDEFGH1 failed (the lines above); running this again starts a new deployment of 0.176.0."
    assert "SSM: still asks new instances to install 0.176.0 (HERD" in result["message"] and "fix SSM" not in result["message"]


@pytest.mark.parametrize("deployment, next_step", [
    ({"status": "InProgress", "timed_out": True, "msg": "Deployment d-ABCDEFGH1 is InProgress after 3600 s."},
     "  next: deployment d-ABCDEFGH1 goes on in CodeDeploy without this run (it is InProgress): running this again joins"
     " it, invoking nothing, and follows it for herd_upgrade_wait_timeout (3600 s this time)."),
    ({"status": "", "timed_out": True, "msg": "CodeDeploy could not be read."},
     "  next: deployment d-ABCDEFGH1 could not be followed to its end and may go on in CodeDeploy: running this again"
     " joins it while it is under way, invoking nothing; changes nothing if it succeeded; and starts a new deployment of"
     " 0.176.0 only if it ended without success."),
])
def test_a_deployment_that_may_go_on_is_joined_by_a_rerun(deployment, next_step):
    lines = failed(deployment, after_failure={"build_number": "0.170.0", "upgrade_request": ASKS})["message"].split("\n")
    assert lines[-1] == next_step
    assert not [line for line in lines if "rollback:" in line or "SSM" in line]


def test_the_wait_s_rollback_sentences_and_its_advice_go_and_its_option_names_are_the_role_s():
    message = ("Deployment d-ABCDEFGH1 Failed.\nNo rollback deployment was started.\nRollback: none configured\n"
               "Lifecycle event ApplicationStart failed; raise wait_timeout (herd_upgrade_wait_timeout in the role).")
    result = failed({"status": "Failed", "timed_out": False, "msg": message},
                    {"deployment_id": "d-ZYXWVUT98", "status": "Failed", "duration_seconds": 12})
    assert result["message"].split("\n")[1:3] == [
        "  event: ApplicationStart failed; raise herd_upgrade_wait_timeout.",
        "  rollback: Rollback deployment d-ZYXWVUT98 failed in 12 s."]


def test_a_rollback_whose_wait_failed_before_it_read_it_is_named_by_the_deployment():
    result = failed({"status": "Failed", "timed_out": False, "rollback_info": {"rollback_deployment_id": "d-ZYXWVUT98"}},
                    {"failed": True, "msg": "could not read it"})
    assert "  rollback: Rollback deployment d-ZYXWVUT98 is ? after ? s." in result["message"].split("\n")


def test_no_rollback_result_at_all_is_no_rollback():
    lines = run(STARTED, {"status": "Failed", "timed_out": False}, rollback={}, after_failure={})["message"].split("\n")
    assert "  rollback: none was started." in lines


def test_ssm_is_said_only_when_the_failed_run_had_invoked_and_its_fix_without_a_region_when_none_is_set():
    plain = failed({"status": "Failed", "timed_out": False}, after_failure={"upgrade_request": dict(ASKS, deployment_invoked=False)})
    assert "SSM" not in plain["message"]
    assert "SSM" not in failed({"status": "Failed", "timed_out": False}, after_failure={"upgrade_request": None})["message"]
    fix = failed({"status": "Failed", "timed_out": False}, after_failure={"upgrade_request": ASKS})["message"].split("\n")[-1]
    assert fix.endswith("--name /app/MDL/mdl/DEV/HERD/DeploymentInvoked --value false (what herd-mdl itself writes once a"
                        " smoke test passed).")


def test_a_zero_downtime_report_without_failures_and_one_version_after_the_other():
    probed = {"requests": 12, "failures": 0, "versions_seen": ["0.170.0", "0.176.0"], "alternated": False}
    result = run(STARTED, succeeded(zero_downtime=probed), {"build_number": "0.176.0", "matches": True})
    assert result["message"].endswith(" Zero downtime: 12 requests to HERD during the deployment, 0 failed; versions seen:"
                                      " 0.170.0 -> 0.176.0.")


@pytest.mark.parametrize("deployment", [
    {"status": "Failed", "timed_out": False}, {"status": "Stopped", "timed_out": False}, {"status": "InProgress", "timed_out": True},
    {"status": "", "timed_out": False}, {"status": "InProgress"},
])
def test_every_deployment_that_did_not_succeed_is_a_failure_of_its_stage(deployment):
    result = failed(deployment)
    assert (result["outcome"], result["stage"], result["changed"]) == ("failed", "deployment", True)


@pytest.mark.parametrize("deployment", [{"status": "InProgress", "timed_out": False}, {"status": None, "timed_out": False}])
def test_a_deployment_still_under_way_in_check_mode_is_not_a_failure(deployment):
    assert failed(deployment)["outcome"] == "would_upgrade"


def test_an_upgrade_read_by_the_probe_at_its_end_says_the_versions_the_time_and_the_zero_downtime_report():
    result = run(STARTED, succeeded(served_matches=True, served_version="0.176.0"), {"msg": "HERD serves 0.176.0", "changed": False})
    assert result == dict(BASE, from_version="0.170.0", deployment_id="d-ABCDEFGH1", zero_downtime=PROBED,
                          outcome="upgraded", changed=True, status="Succeeded", stage=None, to_version="0.176.0",
                          duration_seconds=61.5, message="mdl/DEV: HERD upgraded from 0.170.0 to 0.176.0 by deployment"
                          " d-ABCDEFGH1 in 61.5 s. Zero downtime: 40 requests to HERD during the deployment, 0 failed;"
                          " versions seen: 0.170.0 -> 0.176.0 (both served in turn during the switch).")


def test_the_check_task_after_the_probe_wins_and_failed_probe_requests_say_the_longest_outage():
    probed = {"requests": 40, "failures": 3, "longest_outage_seconds": 2.5, "versions_seen": ["0.170.0", "0.176.0"]}
    result = run(STARTED, succeeded(served_matches=True, served_version="0.170.0", zero_downtime=probed),
                 {"build_number": "0.176.0", "matches": True})
    assert result["to_version"] == "0.176.0"
    assert result["message"].endswith(" Zero downtime: 40 requests to HERD during the deployment, 3 failed, longest"
                                      " stretch without a good answer 2.5 s; versions seen: 0.170.0 -> 0.176.0.")


def test_a_downgrade_and_a_probe_that_did_not_run():
    invoke = dict(STARTED, downgrade=True, served={"build_number": "0.180.0"})
    result = run(invoke, succeeded(zero_downtime={"not_probed_reason": "the admin credentials could not be read."}),
                 {"build_number": "0.176.0", "matches": True})
    assert result["outcome"] == "downgraded" and result["changed"] is True
    assert result["message"] == ("mdl/DEV: HERD downgraded from 0.180.0 to 0.176.0 by deployment d-ABCDEFGH1 in 61.5 s."
                                 " HERD was not probed: the admin credentials could not be read.")


def test_a_joined_deployment_and_one_joined_after_traffic_had_reached_it():
    joined = dict(STARTED, changed=False, attached=True)
    result = run(joined, succeeded(zero_downtime={}), {"build_number": "0.176.0", "matches": True})
    assert (result["outcome"], result["changed"]) == ("joined", True)
    assert result["message"] == "mdl/DEV: HERD upgraded from 0.170.0 to 0.176.0 by deployment d-ABCDEFGH1 (joined) in 61.5 s."
    late = run(dict(joined, served={"build_number": "0.176.0"}), succeeded(zero_downtime={}), {"build_number": "0.176.0", "matches": True})
    assert late["message"] == "mdl/DEV: HERD serves 0.176.0: deployment d-ABCDEFGH1 (joined after traffic had reached it) ended in 61.5 s."


def test_check_mode_says_what_it_would_do_and_changes_nothing():
    would = run(dict(STARTED, changed=False, deployment_id=None))
    assert (would["outcome"], would["changed"], would["to_version"]) == ("would_upgrade", True, None)
    assert would["message"] == "mdl/DEV: check mode: would start the upgrade from 0.170.0 to 0.176.0; nothing was changed."
    joined = dict(STARTED, changed=False, attached=True)
    one_look = {"status": "InProgress", "timed_out": False, "zero_downtime": {"not_probed_reason": "check mode: nothing was deployed to probe"}}
    result = run(joined, one_look)
    assert (result["outcome"], result["changed"], result["status"]) == ("would_join", False, "InProgress")
    assert result["message"] == ("mdl/DEV: check mode: would join deployment d-ABCDEFGH1 (InProgress) from 0.170.0 to 0.176.0;"
                                 " nothing was changed.")
    assert "(under way)" in run(joined, {"status": None, "timed_out": False})["message"]


def test_a_version_not_served_after_a_successful_deployment_fails_and_says_what_a_rerun_does():
    result = run(STARTED, succeeded(zero_downtime={}), {"build_number": "0.170.0", "matches": False, "msg": "HERD serves 0.170.0"})
    assert (result["outcome"], result["changed"], result["stage"], result["to_version"]) == ("failed", False, "version_check", "0.170.0")
    assert result["message"].split("\n") == [
        "mdl/DEV: deployment d-ABCDEFGH1 succeeded in 61.5 s, but HERD reports 0.170.0, not 0.176.0 (HERD serves 0.170.0).",
        "next: check the load balancer's target group and HERD's instance first: running this again reads HERD, changes nothing"
        " if it then serves 0.176.0, and otherwise starts another deployment of 0.176.0 (deployment d-ABCDEFGH1 is over:"
        " there is nothing to join)."]
    unread = run(STARTED, {"status": "Succeeded"}, {"matches": False, "msg": "timed out"})
    assert unread["message"].startswith("mdl/DEV: deployment d-ABCDEFGH1 succeeded in ? s, but HERD could not be read, not 0.176.0 (timed out).")


def test_the_result_starts_from_the_names_the_versions_and_the_deployment_and_a_value_that_is_not_a_dict_is_refused():
    joined = dict(STARTED, changed=False, attached=True, preflight={"lambda": "ok"})
    result = run(joined, succeeded(served_matches=True, served_version="0.176.0"))
    assert {key: result[key] for key in BASE} == dict(BASE, from_version="0.170.0", deployment_id="d-ABCDEFGH1", joined=True,
                                                      preflight={"lambda": "ok"}, zero_downtime=PROBED)
    with pytest.raises(AnsibleFilterError, match="herd_upgrade_result takes a dict"):
        result_of(["not", "a", "dict"])


@pytest.mark.parametrize("invoke", [
    {"changed": False, "already_served": True, "served": {"build_number": "0.176.0"}},  # nothing to do
    {"changed": False, "already_served": False, "served": {"build_number": "0.170.0"}},  # check mode, nothing joined
    {"failed": True, "changed": False, "msg": "The Lambda failed", "deployment_id": "d-ABCDEFGH1"},  # a failed invoke
    SKIPPED,  # bad input
])
def test_what_an_earlier_run_registered_is_never_this_run_s(invoke):
    """The role's registered variables outlive a run on the same host: a run that followed no deployment ignores them."""
    earlier = {"deployment": succeeded(deployment_id="d-EARLIER00"), "after": {"build_number": "0.150.0", "matches": True},
               "rollback": {"status": "Succeeded", "deployment_id": "d-ROLLBACK0"}}
    result = run(invoke, **earlier)
    assert result == run(invoke)
    assert result["zero_downtime"] == {} and result["duration_seconds"] is None and result["status"] is None


@pytest.mark.parametrize("deployment, outcome", [
    ({"status": "InProgress", "timed_out": False}, "would_join"),  # check mode's one look at the deployment it joined
    ({"status": "Failed", "timed_out": False, "msg": "Deployment d-ABCDEFGH1 of mdl/DEV Failed."}, "failed"),
])
def test_a_version_check_an_earlier_run_registered_is_not_read_after_a_deployment_that_did_not_succeed(deployment, outcome):
    joined = dict(STARTED, changed=False, attached=True)
    earlier_check = {"build_number": "0.176.0", "matches": True, "msg": "HERD serves 0.176.0"}
    result = run(joined, deployment, earlier_check)
    assert result == run(joined, deployment)
    assert (result["outcome"], result["to_version"]) == (outcome, None)


def test_a_task_of_the_role_that_failed_is_the_result_named_stage_task_in_one_line():
    result = run(STARTED, failed_task={"name": "Assume the stack's herd_upgrade_aws_role_arn", "msg": "Access\n denied  now"})
    assert result == dict(BASE, from_version="0.170.0", deployment_id="d-ABCDEFGH1", outcome="failed", changed=True,
                          status=None, to_version=None, duration_seconds=None, stage="task",
                          message='mdl/DEV: the task "Assume the stack\'s herd_upgrade_aws_role_arn" failed: Access denied now')
    # changed only when the invoke of this run changed something; a skipped or absent invoke did not
    assert run(dict(SKIPPED, changed=True), failed_task={"name": "x", "msg": "m"})["changed"] is False
    assert run({}, failed_task={"name": "x", "msg": "m"}) == dict(BASE, outcome="failed", changed=False, status=None,
                                                                  to_version=None, duration_seconds=None, stage="task",
                                                                  message='mdl/DEV: the task "x" failed: m')
    assert run(SKIPPED, failed_task={"name": "x", "msg": ["a", "b"]})["message"] == "mdl/DEV: the task \"x\" failed: ['a', 'b']"


def test_a_failed_invoke_keeps_what_it_read_the_deployment_it_named_and_its_preflight():
    invoke = {"failed": True, "changed": True, "msg": "The Lambda failed", "served": {"build_number": "0.170.0"},
              "deployment_id": "d-ABCDEFGH1", "attached": False, "preflight": {"bundle": "ok"}}
    result = run(invoke)
    assert {key: result[key] for key in BASE} == dict(BASE, from_version="0.170.0", deployment_id="d-ABCDEFGH1",
                                                      preflight={"bundle": "ok"}, stage="invoke")
    assert (result["outcome"], result["changed"]) == ("failed", True)
