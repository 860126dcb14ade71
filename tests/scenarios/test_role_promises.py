"""Promises of the role and the playbook that only a whole run shows: on_timeout passed through, no secret at -v,
discovery under throttling."""

import re
import time

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


def report(run):
    """What the role's "Say what happened" printed: a failure in full, once (one JSON string a line)."""
    parts = run.output.split("TASK [mdl.herd.herd_upgrade : Say what happened]")
    assert len(parts) == 2, run.output[-4000:]
    return parts[1].split("\nTASK [", 1)[0]


def assert_fatal_lines_are_short(run, key):
    """The role's failure and the playbook's last task: each one line naming the stack, not the report again."""
    fatal = fatal_lines(run)
    assert len(fatal) == 2, run.output[-4000:]
    assert all(key in line and len(line) < 400 for line in fatal), fatal
    return fatal


def failure_messages(run):
    """Each fatal line with the message it shows (a debug task that fails prints its msg on the next lines)."""
    lines = run.output.splitlines()
    return [" ".join(lines[n:n + 3]) if line.rstrip().endswith("{") else line
            for n, line in enumerate(lines) if line.startswith("fatal:")]


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
    # the role's failure (rescued by the playbook) and the playbook's last task: short lines; the report, once
    assert_fatal_lines_are_short(run, key)
    message = report(run)
    assert "{0}: the upgrade of HERD to {1} by deployment {2} did not succeed.".format(
        key, VERSION, deployment["deployment_id"]) in message, message
    # in the role's variable names, and what a re-run does: the deployment is over
    assert "did not succeed within 3 s (herd_upgrade_wait_timeout)" in message, message
    assert "as herd_upgrade_on_timeout=stop asks" in message, message
    assert "next: find out why {1} failed (the lines above); running this again starts a new deployment of {0}.".format(
        VERSION, deployment["deployment_id"]) in message, message
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


# --- issue 27 item 5: every failure once a deployment exists names it and says what a re-run does --------


def test_a_wait_that_times_out_names_the_deployment_and_a_re_run_joins_it(sandbox, make_stack, playbook):
    """on_timeout=fail (the default): the deployment goes on; the message says a re-run joins it, and one does."""
    entry = make_stack(deployment_seconds=45)  # still under way when the first run has ended
    key = stack_key(entry)
    run = playbook(entry, herd_version=VERSION, herd_upgrade_wait_timeout=3)
    assert run.finish() != 0, run.output[-4000:]
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    assert_fatal_lines_are_short(run, key)
    message = report(run)
    assert "{0}: the upgrade of HERD to {1} by deployment {2} did not succeed.".format(key, VERSION, deployment_id) \
        in message, message
    assert "within 3 s (herd_upgrade_wait_timeout)" in message, message
    assert re.search(r"next: deployment {0} goes on in CodeDeploy without this run \(it is (Created|Queued|InProgress)\): "
                     r"running this again joins it, invoking nothing, and follows it for herd_upgrade_wait_timeout "
                     r"\(3 s this time\)\.".format(deployment_id), message), message
    # neither the module's option names nor a promise of a new deployment
    assert "starts a new deployment" not in message and "deployment_id and a longer wait_timeout" not in message, message
    assert "rollback: none was started" not in message and "No rollback deployment" not in message, message
    again = playbook(entry, herd_version=VERSION)
    assert again.finish() == 0, again.output[-4000:]
    assert invocations(sandbox, entry) == 1 and [d["deployment_id"] for d in user_deployments(sandbox, entry)] == [deployment_id]
    assert "deployment {0} (joined".format(deployment_id) in again.output, again.output[-3000:]


def test_a_wait_that_cannot_read_the_deployment_says_a_re_run_joins_it_while_under_way(sandbox, make_stack, playbook):
    """The wait is refused GetDeployment: the deployment's state is unknown; a re-run joins it if it goes on."""
    entry = make_stack(deployment_seconds=20, faults={"deny": ["codedeploy:GetDeployment"]})
    key = stack_key(entry)
    run = playbook(entry, herd_version=VERSION)
    assert run.finish() != 0, run.output[-4000:]
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    assert_fatal_lines_are_short(run, key)
    message = report(run)
    assert "{0}: the upgrade of HERD to {1} by deployment {2} did not succeed.".format(key, VERSION, deployment_id) \
        in message, message
    assert ("next: deployment {0} could not be followed to its end and may go on in CodeDeploy: running this again joins it "
            "while it is under way, invoking nothing; changes nothing if it succeeded; and starts a new deployment of "
            "{1} only if it ended without success.".format(deployment_id, VERSION)) in message, message
    assert "rollback: none was started" not in message, message
    assert invocations(sandbox, entry) == 1


def test_a_version_check_that_fails_names_the_deployment_and_what_a_re_run_does(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0", deployment_seconds=6, faults={"herd_stale_version": True})
    key = stack_key(entry)
    run = playbook(entry, herd_version=VERSION, herd_upgrade_verify_retries="1")
    assert run.finish() != 0, run.output[-4000:]
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    assert_fatal_lines_are_short(run, key)
    message = report(run)
    assert "{0}: deployment {1} succeeded in".format(key, deployment_id) in message, message
    assert "reports 0.170.0, not {0}".format(VERSION) in message, message
    assert ("running this again reads HERD, changes nothing if it then serves {0}, and otherwise starts another "
            "deployment of {0} (deployment {1} is over: there is nothing to join).".format(VERSION, deployment_id)) \
        in message, message
    # the playbook's last line: the stack and the stage
    assert "{0}: the upgrade failed (version_check)".format(key) in fatal_lines(run)[-1]


def test_over_the_downtime_limit_the_failure_names_the_deployment_and_a_re_run_changes_nothing(sandbox, make_stack, playbook):
    entry = make_stack(deployment_seconds=12, faults={"herd_unavailable_seconds": 3})
    key = stack_key(entry)
    run = playbook(entry, herd_version=VERSION, herd_upgrade_max_downtime_seconds="1", herd_upgrade_probe_interval="0.25")
    assert run.finish() != 0, run.output[-4000:]
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    fatal = failure_messages(run)
    assert len(fatal) == 2, run.output[-4000:]
    for message in fatal:
        assert message.count(key + ": ") >= 1 and "by deployment {0}".format(deployment_id) in message, message
        assert ("That is more than herd_upgrade_max_downtime_seconds (1 s): the upgrade itself is done (deployment {0} "
                "succeeded), HERD serves {1}; running this again changes nothing.".format(deployment_id, VERSION)) in message, message


def test_a_probe_whose_credentials_cannot_be_read_is_said_in_the_summary(sandbox, make_stack, playbook):
    """The password disappears from SSM after the invoke read it (while the Lambda runs): the wait's probe cannot read it;
    the wait goes on, and the summary says the probe did not run, and why."""
    entry = make_stack(deployment_seconds=6, faults={"lambda_delay_seconds": 4})
    key = stack_key(entry)
    run = playbook(entry, herd_version=VERSION, herd_upgrade_probe_auth="true")
    deadline = time.monotonic() + 120
    while invocations(sandbox, entry) == 0:
        assert time.monotonic() < deadline and run.process.poll() is None, run.output[-3000:]
        time.sleep(0.05)
    name = "/app/MDL/{0}/{1}/LDAP/Password/HerdAdminPassword".format(entry["mdl_instance_name"], entry["mdl_environment"])
    ssm = sandbox.client("ssm", entry["aws_region"])
    password = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    ssm.delete_parameter(Name=name)
    # put back once the wait has started (and found it missing): the version check after it reads it again
    run.wait_for_line(r"^{0}: d-[A-Z0-9]{{9}} ".format(re.escape(key)))
    ssm.put_parameter(Name=name, Value=password, Type="SecureString")
    assert run.finish() == 0, run.output[-4000:]
    said = [line for line in run.output.splitlines() if "HERD upgraded from 0.170.0 to {0}".format(VERSION) in line]
    assert said, run.output[-3000:]
    assert "{0}: HERD upgraded".format(key) in said[0]
    assert " HERD was not probed: " in said[0] and name in said[0], said[0]
    assert "Zero downtime:" not in said[0]


def test_a_failure_while_codedeploy_s_rollback_goes_on_says_a_re_run_is_refused_until_it_ends(sandbox, make_stack, playbook):
    """The deployment failed early (DownloadBundle, at about 19 % of its 160 s); CodeDeploy's rollback (about 76 s) is
    still under way when the run ends (the rollback's wait, like the deployment's, gives up after 40 s): the message says
    a re-run now is refused naming the rollback, and one is (with some 25 s to spare); a new deployment comes only once
    it has ended."""
    entry = make_stack(deployment_seconds=160, faults={"fail_at_event": "DownloadBundle"})
    key = stack_key(entry)
    run = playbook(entry, herd_version=VERSION, herd_upgrade_wait_timeout=40)
    assert run.finish() != 0, run.output[-4000:]
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    rollback = [d for d in sandbox.live_state(key)["live"]["deployments"] if d["creator"] == "codeDeployRollback"][0]
    assert_fatal_lines_are_short(run, key)
    message = report(run)
    assert "{0}: the upgrade of HERD to {1} by deployment {2} did not succeed.".format(key, VERSION, deployment_id) \
        in message, message
    assert re.search(r"rollback: Rollback deployment {0} is InProgress after [0-9.]+ s\.".format(rollback["deployment_id"]),
                     message), message
    assert ("next: rollback deployment {0} is still under way: running this again now is refused, naming it; once it has "
            "ended, running this again starts a new deployment of {1}: find out why {2} failed first.".format(
                rollback["deployment_id"], VERSION, deployment_id)) in message, message
    refused = playbook(entry, herd_version=VERSION)
    assert refused.finish() != 0
    assert "it is CodeDeploy's automatic rollback of deployment {0}".format(deployment_id) in refused.output, \
        refused.output[-3000:]
    assert invocations(sandbox, entry) == 1


# --- issue 29 item 5: task names that hold for every stack of a fleet ------------------------------------------

def test_no_task_name_names_one_stack_or_version():
    """Hosts of a fleet run each task together, under one header: a templated name would name the first stack's
    stack or version over the lines of every stack (the lines themselves name their stack)."""
    import pathlib

    import yaml

    root = pathlib.Path(__file__).resolve().parents[2]
    files = sorted((root / "roles" / "herd_upgrade" / "tasks").glob("*.yml")) + [
        root / "playbooks" / "upgrade_herd.yml", root / "playbooks" / "rollback_herd.yml"] + sorted((root / "playbooks" / "tasks").glob("*.yml"))

    def names(node):
        if isinstance(node, dict):
            if isinstance(node.get("name"), str) and ("block" in node or "hosts" not in node):
                yield node["name"]
            for value in node.values():
                yield from names(value)
        elif isinstance(node, list):
            for item in node:
                yield from names(item)

    templated = [(path.name, name) for path in files for name in names(yaml.safe_load(path.read_text())) if "{{" in name]
    assert templated == [], templated
