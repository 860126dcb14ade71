"""Safe by default, as an operator meets it on the command line: bad input, downgrades, two runs at once."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import (
    assert_tests_loaded_once_and_modules_run_from_files,
    invocations,
    served_version,
    stack_key,
    user_deployments,
    watching_workers,
)


def aws_calls(sandbox, entry):
    return sandbox.calls.snapshot()["stacks"].get(stack_key(entry), {})


@pytest.mark.parametrize("variables, words", [
    ({"herd_version": "latest"}, ['herd_version must be a HERD version', 'got "latest"']),
    ({"herd_version": ".."}, ['herd_version must be a HERD version', 'got ".."']),
    ({"herd_version": "-1"}, ['herd_version must be a HERD version']),
    ({"herd_version": "0.176.0", "herd_upgrade_wait_timeout": "-5"},
     ["herd_upgrade_wait_timeout must be a whole number of seconds greater than 0, for example herd_upgrade_wait_timeout=3600;"
      " got -5"]),
])
def test_bad_input_is_refused_before_any_aws_call(sandbox, make_stack, playbook, variables, words):
    entry = make_stack()
    run = playbook(entry, **variables)
    assert run.finish() != 0
    for word in words:
        assert word in run.output, run.output
    assert "Nothing was read or changed in AWS" in run.output or "nothing was read or changed in AWS" in run.output
    assert aws_calls(sandbox, entry) == {}  # not CloudFormation, not SSM (the password), not HERD's stack


def test_missing_values_are_listed_at_once_in_the_command_line_names(sandbox, make_stack, playbook):
    entry = make_stack()
    run = playbook(entry, "-e", "mdl_environment=")
    assert run.finish() != 0
    assert "missing herd_version, mdl_environment (set with -e)" in run.output, run.output
    assert "argument_spec" not in run.output


@pytest.mark.parametrize("name", ["mdl.herd.upgrade_herd", "mdl.herd.rollback_herd"])
def test_a_null_stack_name_is_missing_and_the_stack_is_named_by_its_host(sandbox, make_stack, playbook, name):
    entry = make_stack()
    run = playbook(entry, "-e", '{"mdl_instance_name": null}', name=name, herd_version="0.176.0", herd_upgrade_allow_downgrade="true")
    assert run.finish() != 0
    assert "localhost: nothing was read or changed in AWS; fix this and run again: missing mdl_instance_name (set with -e)" \
        in run.output, run.output
    assert "None/" not in run.output
    assert aws_calls(sandbox, entry) == {}


def test_a_variable_whose_template_fails_stops_the_run_before_any_aws_call(sandbox, make_stack, playbook):
    """The role reads its variables in its input check, before any AWS call, also those it does not check: a report
    directory whose template fails is not taken as "no report" (``default``) while the upgrade goes on."""
    entry = make_stack(current_version="0.176.0")
    run = playbook(entry, "-e", "herd_upgrade_report_dir={{ report_root }}/reports", herd_version="0.176.0")
    assert run.finish() != 0, run.output
    assert "report_root" in run.output, run.output
    assert "HERD already serves" not in run.output, run.output
    assert aws_calls(sandbox, entry) == {}


def test_a_version_written_another_way_is_already_served(sandbox, make_stack, playbook, tmp_path):
    entry = make_stack(current_version="0.176.0")
    run = playbook(entry, herd_version="0.176", env_overrides=watching_workers(tmp_path))
    assert run.finish() == 0, run.output
    assert "HERD already serves 0.176.0; nothing to do." in run.output
    # the role's own input check speaks for its variables: no task validates them against its argument specs first
    assert "Validating arguments" not in run.output, run.output
    # Jinja's tests loaded once, by ansible-playbook; the one module task run from a file, not pipelined
    assert_tests_loaded_once_and_modules_run_from_files(run, tmp_path, module_tasks=1)
    assert invocations(sandbox, entry) == 0
    # one module call decides it (herd_upgrade_invoke reads HERD first): the group's deployments are
    # listed once, and nothing else of CodeDeploy or Lambda is read
    calls = aws_calls(sandbox, entry)
    assert calls.get("codedeploy:ListDeployments") == 1, calls
    assert not [name for name in calls if name.startswith("lambda:")], calls


def test_a_downgrade_is_refused_unless_allowed(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0")
    refused = playbook(entry, herd_version="0.160.0")
    assert refused.finish() != 0
    assert "serves HERD 0.170.0, and the requested 0.160.0 is older" in refused.output
    assert "herd_upgrade_allow_downgrade=true" in refused.output
    assert invocations(sandbox, entry) == 0
    allowed = playbook(entry, herd_version="0.160.0", herd_upgrade_allow_downgrade="true")
    assert allowed.finish() == 0, allowed.output
    assert "HERD downgraded from 0.170.0 to 0.160.0" in allowed.output
    assert served_version(sandbox, entry) == "0.160.0"


# A slow Lambda (its first step 3 s after the invoke) makes the window in which two invokes overlap wide:
# without the lock both runs invoke, and the refused one rewrites RequestedVersion under the other's deployment.
SLOW = {"lambda_delay_seconds": 3}


def test_two_runs_at_once_for_different_versions_invoke_once(sandbox, make_stack, playbook):
    entry = make_stack(faults=SLOW)
    runs = {version: playbook(entry, herd_version=version) for version in ("0.176.0", "0.177.0")}
    codes = {version: run.finish() for version, run in runs.items()}
    assert sorted(codes.values())[0] == 0 and sorted(codes.values())[1] != 0, {v: r.output for v, r in runs.items()}
    winner = [v for v, c in codes.items() if c == 0][0]
    loser = [v for v, c in codes.items() if c != 0][0]
    assert invocations(sandbox, entry) == 1
    assert "already deploying HERD {0}".format(winner) in runs[loser].output
    assert "not the requested {0}".format(loser) in runs[loser].output
    deployments = user_deployments(sandbox, entry)
    assert [(d["status"], d["installed_version"]) for d in deployments] == [("Succeeded", winner)]
    assert served_version(sandbox, entry) == winner
    assert sandbox.live_state(stack_key(entry))["live"]["ssm"]["HERD/CurrentVersion"] == winner


def test_two_runs_at_once_for_the_same_version_share_one_deployment(sandbox, make_stack, playbook):
    entry = make_stack(faults=SLOW)
    runs = [playbook(entry, herd_version="0.176.0") for _ in range(2)]
    codes = [run.finish() for run in runs]
    assert codes == [0, 0], [run.output for run in runs]
    assert invocations(sandbox, entry) == 1
    assert sum("(joined)" in run.output for run in runs) == 1
    assert len(user_deployments(sandbox, entry)) == 1
    assert served_version(sandbox, entry) == "0.176.0"


def report_lines(run):
    """The lines the role's "Say what happened" printed (a failure: one JSON string a line)."""
    said = run.output.split("TASK [mdl.herd.herd_upgrade : Say what happened]", 1)[1].split("\nTASK [", 1)[0]
    return [json.loads(line.strip().rstrip(",")) for line in said.splitlines() if line.strip().startswith('"')
            and not line.strip().startswith('"msg"')]


def test_a_failed_upgrade_is_told_once_in_labelled_lines_with_the_rollback_and_what_ssm_asks(sandbox, make_stack, playbook):
    """Issue 29 items 2 and 3: read in ten seconds, printed once."""
    entry = make_stack(current_version="0.170.0", faults={"fail_at_event": "ValidateService"})
    key = stack_key(entry)
    run = playbook(entry, herd_version="0.176.0")
    assert run.finish() != 0
    deployments = sandbox.live_state(key)["live"]["deployments"]
    rollback = [d for d in deployments if d["creator"] == "codeDeployRollback"][0]
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    assert rollback["status"] == "Succeeded"  # followed to its end before the run ended
    lines = report_lines(run)
    # the first line: what failed where
    assert lines[0] == ("{0}: the upgrade of HERD to 0.176.0 by deployment {1} did not succeed. Deployment {1} failed at "
                        "step 1/4 Deploying replacement instances.".format(key, deployment_id)), lines
    labels = [line.split(":", 1)[0].strip() for line in lines[1:] if line.startswith("  ") and not line.startswith("    ")]
    assert labels == ["event", "code", "log, last lines", "rollback", "served", "SSM", "next", "fix SSM now"], lines
    said = dict((line.split(":", 1)[0].strip(), line.split(":", 1)[1].strip()) for line in lines[1:]
                if line.startswith("  ") and not line.startswith("    "))
    assert said["event"].startswith("ValidateService failed on i-") and "running scripts/smokeTestHerd.sh" in said["event"]
    assert said["code"] == "HEALTH_CONSTRAINTS."  # CodeDeploy's paragraph about too many instances is left out
    assert "too many individual instances" not in run.output
    log = [line.strip() for line in lines if line.startswith("    ")]
    assert log and "doesn't match requested version: 0.176.0" in log[-1], lines
    assert said["rollback"] == "Rollback deployment {0} succeeded in {1} s.".format(
        rollback["deployment_id"], said["rollback"].rsplit(" in ", 1)[1][:-3])
    assert said["served"] == "HERD serves 0.170.0 now."
    # the smoke test failed, so herd-mdl never reset the request: a new instance would install 0.176.0; the command that
    # puts it right
    assert said["SSM"].startswith("still asks new instances to install 0.176.0, not 0.170.0 (HERD/DeploymentInvoked is true")
    assert ("aws ssm put-parameter --overwrite --name /app/MDL/{0}/HERD/DeploymentInvoked --value false".format(key)
            in said["fix SSM now"]), said
    assert said["next"] == ("find out why {0} failed (the lines above); running this again starts a new deployment of "
                            "0.176.0.".format(deployment_id))
    # printed once: the report; the role's failure and the playbook's last task are one short line each
    for line in lines[1:]:
        assert run.output.count(json.dumps(line)[1:-1]) == 1, line
    fatal = [line for line in run.output.splitlines() if line.startswith("fatal:")]
    assert len(fatal) == 2 and all(len(line) < 400 and key in line for line in fatal), fatal
    assert run.output.count("running scripts/smokeTestHerd.sh") == 1


def test_a_deployment_that_succeeded_while_herd_kept_its_version_names_both(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0", faults={"herd_stale_version": True})
    run = playbook(entry, herd_version="0.176.0", herd_upgrade_verify_retries="1")
    assert run.finish() != 0
    deployment_id = user_deployments(sandbox, entry)[0]["deployment_id"]
    # said once, under "Say what happened" (the role then fails with one short line)
    final = [line for line in run.output.splitlines() if "but HERD" in line]
    assert len(final) == 1, run.output
    assert "deployment {0}".format(deployment_id) in final[0] and "succeeded" in final[0]
    assert "reports 0.170.0, not 0.176.0" in final[0]


def test_an_unpublished_version_fails_in_seconds_naming_the_url(sandbox, make_stack, playbook):
    entry = make_stack(faults={"unpublished_versions": ["0.199.0"]})
    run = playbook(entry, herd_version="0.199.0")
    assert run.finish() != 0
    url = sandbox.endpoints()["maven_repository_url"] + "/org/finra/herd/herd-war/0.199.0/herd-war-0.199.0.war"
    assert "HERD 0.199.0 is not published: {0} answered 404".format(url) in run.output, run.output
    assert invocations(sandbox, entry) == 0 and user_deployments(sandbox, entry) == []


def test_a_private_mirror_is_checked_with_its_credentials_which_never_show(sandbox, make_stack, playbook):
    endpoints = sandbox.endpoints()
    entry = make_stack()
    mirror = endpoints["maven_private_repository_url"]
    refused = playbook(entry, "-v", herd_version="0.176.0", herd_upgrade_artifact_repository=mirror)
    assert refused.finish() != 0
    assert "answered 401: the artifact repository wants credentials" in refused.output
    assert invocations(sandbox, entry) == 0
    ok = playbook(entry, "-v", herd_version="0.176.0", herd_upgrade_artifact_repository=mirror,
                  herd_upgrade_artifact_repository_username=endpoints["maven_username"],
                  herd_upgrade_artifact_repository_password=endpoints["maven_password"])
    assert ok.finish() == 0, ok.output
    assert '"published": "ok"' in ok.output
    assert endpoints["maven_password"] not in ok.output + refused.output
    assert invocations(sandbox, entry) == 1


# --- issue 27, item 2: a version that YAML or JSON turned into a number ---------------------------------------

ROLE_PLAY = """
- name: The role on its own, as a larger playbook includes it
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Include the role's {entry_point} entry point
      ansible.builtin.include_role:
        name: mdl.herd.herd_upgrade
        tasks_from: {entry_point}
      vars:
        herd_upgrade_mdl_instance_name: "{{{{ mdl_instance_name }}}}"
        herd_upgrade_mdl_environment: "{{{{ mdl_environment }}}}"
        herd_upgrade_allow_downgrade: true
        herd_upgrade_version: {version}
"""


@pytest.mark.parametrize("source, number", [("vars_file", "0.180"), ("json", "0.18"), ("vars_file", "1")])
@pytest.mark.parametrize("name", ["mdl.herd.upgrade_herd", "mdl.herd.rollback_herd"])
def test_a_version_that_is_a_number_is_refused_before_any_aws_call(sandbox, make_stack, playbook, tmp_path, source, number, name):
    entry = make_stack(current_version="0.176.0")
    if source == "vars_file":
        path = tmp_path / "versions.yml"
        path.write_text("herd_version: {0}\n".format(number))  # unquoted: YAML reads a number
        args = ["-e", "@{0}".format(path)]
    else:
        args = ["-e", '{{"herd_version": {0}}}'.format(number)]
    run = playbook(entry, *args, name=name, herd_upgrade_allow_downgrade="true")
    assert run.finish() != 0
    fatal = [line for line in run.output.splitlines() if "must be text" in line]
    assert fatal, run.output
    kind = "int" if number == "1" else "float"
    said = {"mdl.herd.upgrade_herd": "herd_version must be text",
            "mdl.herd.rollback_herd": "herd_version (the version to roll back to) must be text"}[name]
    assert said in fatal[0], fatal[0]
    assert "must be text, but it is the {0} {1}".format(kind, float(number) if kind == "float" else 1) in fatal[0]
    assert 'quote it, for example herd_version: "0.1' in fatal[0]
    assert "{0}/DEV: nothing was read or changed in AWS".format(entry["mdl_instance_name"]) in fatal[0]
    assert "run again" in fatal[0]
    assert aws_calls(sandbox, entry) == {}


@pytest.mark.parametrize("entry_point", ["main", "rollback"])
def test_the_role_refuses_a_version_that_is_a_number_in_its_own_variable(sandbox, make_stack, playbook, tmp_path, entry_point):
    entry = make_stack(current_version="0.176.0")
    path = tmp_path / "role.yml"
    path.write_text(ROLE_PLAY.format(entry_point=entry_point, version="0.180"))
    run = playbook(entry, name=str(path))
    assert run.finish() != 0
    assert "herd_upgrade_version" in run.output and "must be text, but it is the float 0.18" in run.output, run.output
    assert re.search(r"herd_upgrade_version: \\?[\"']0[.]1", run.output), run.output
    assert "nothing was read or changed in AWS" in run.output
    assert aws_calls(sandbox, entry) == {}


def test_a_version_given_with_e_is_text_and_is_not_refused_as_a_number(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.170.0")
    run = playbook(entry, herd_version="0.18")  # -e herd_version=0.18: the string "0.18", an older version
    assert run.finish() != 0
    assert "must be text" not in run.output
    assert "serves HERD 0.170.0, and the requested 0.18 is older" in run.output, run.output
    assert invocations(sandbox, entry) == 0


# --- issue 27, item 3: a build number that is not a version cannot be compared ---------------------------------

@pytest.mark.parametrize("build_number", ["garbage", "${buildNumber}", "0.176.0 (build 7)"])
def test_a_build_number_that_is_not_a_version_is_refused_unless_any_direction_is_allowed(sandbox, make_stack, playbook,
                                                                                         build_number):
    entry = make_stack(current_version="0.170.0")
    sandbox.stack(entry["mdl_instance_name"], entry["mdl_environment"]).web.set_version(build_number)
    refused = playbook(entry, herd_version="0.176.0")
    assert refused.finish() != 0
    assert "Stack {0}/DEV: HERD's buildInfo reports build number {1!r}, which is not a HERD version".format(
        entry["mdl_instance_name"], build_number) in refused.output, refused.output
    assert "nothing was invoked, and running this again refuses again" in refused.output
    assert invocations(sandbox, entry) == 0 and user_deployments(sandbox, entry) == []
    allowed = playbook(entry, herd_version="0.176.0", herd_upgrade_allow_downgrade="true")
    assert allowed.finish() == 0, allowed.output
    assert invocations(sandbox, entry) == 1 and served_version(sandbox, entry) == "0.176.0"


def test_a_snapshot_to_its_release_is_an_upgrade(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.176.0-SNAPSHOT")
    run = playbook(entry, herd_version="0.176.0")
    assert run.finish() == 0, run.output
    assert "HERD upgraded from 0.176.0-SNAPSHOT to 0.176.0" in run.output


# --- issue 29 item 4: no JSON walls; -e and surveys give text -------------------------------------------------

@pytest.mark.parametrize("args, line", [
    (["-e", "herd_upgrade_wait_timeout=abc"],
     "herd_upgrade_wait_timeout must be a whole number of seconds greater than 0, for example herd_upgrade_wait_timeout=3600;"
     " got abc"),
    (["-e", "herd_upgrade_preflight=lambda,nope"],
     'herd_upgrade_preflight must be a list of lambda, deployment_group, active_deployment, bundle, published, for example'
     ' herd_upgrade_preflight=lambda,bundle'),
    (["-e", "herd_upgrade_lock=maybe"], "herd_upgrade_lock must be true or false, for example herd_upgrade_lock=true"),
    (["-e", "herd_upgrade_on_timeout=later"],
     "herd_upgrade_on_timeout must be fail, stop or rollback, for example herd_upgrade_on_timeout=fail; got 'later'"),
    (["-e", "herd_upgrade_probe_interval=fast"], "herd_upgrade_probe_interval must be a number of seconds greater than 0"),
])
def test_a_wrong_type_from_e_is_one_line_naming_the_variable(sandbox, make_stack, playbook, args, line):
    entry = make_stack()
    run = playbook(entry, *args, herd_version="0.176.0")
    assert run.finish() != 0
    assert run.output.count(line) == 1, run.output
    assert "argument_spec_data" not in run.output and "Validation of arguments failed" not in run.output, run.output
    assert "Traceback" not in run.output and "Unexpected Exception" not in run.output
    assert len(run.output) < 6000, len(run.output)
    assert aws_calls(sandbox, entry) == {}


@pytest.mark.parametrize("name", ["mdl.herd.upgrade_herd", "mdl.herd.rollback_herd"])
def test_a_serial_that_is_not_one_is_refused_naming_it_before_anything_is_read(sandbox, make_stack, playbook, name):
    """Checked by the playbook's first task (a failed task: ansible-core 2.19 prints its line as ERROR and as fatal)."""
    entry = make_stack()
    run = playbook(entry, "-e", "herd_upgrade_serial=abc", name=name, herd_version="0.176.0", herd_upgrade_allow_downgrade="true")
    assert run.finish() != 0
    assert ("herd_upgrade_serial must be a number of stacks, a percentage or a list of them, for example "
            "-e herd_upgrade_serial=1,50%,100%") in run.output, run.output
    assert "Traceback" not in run.output and "Unexpected Exception" not in run.output and "argument_spec" not in run.output
    assert aws_calls(sandbox, entry) == {}


@pytest.mark.parametrize("args", [
    ["-e", "herd_upgrade_preflight=[]"],
    ["-e", '{"herd_upgrade_preflight": "[\\"lambda\\", \\"bundle\\"]"}'],
    ["-e", '{"herd_upgrade_serial": "[1, \\"50%\\", \\"100%\\"]"}'],
    ["-e", "herd_upgrade_serial=1,50%,100%"],
    ["-e", "herd_upgrade_wait_timeout=600", "-e", "herd_upgrade_lock=yes", "-e", "herd_upgrade_probe_interval=0.5"],
])
def test_text_as_e_and_surveys_give_it_is_taken_as_it_means(sandbox, make_stack, playbook, args):
    entry = make_stack(current_version="0.176.0")
    run = playbook(entry, *args, herd_version="0.176.0")
    assert run.finish() == 0, run.output
    assert "HERD already serves 0.176.0; nothing to do." in run.output
    assert "argument_spec" not in run.output


def test_a_preflight_given_as_text_runs_those_checks(sandbox, make_stack, playbook):
    entry = make_stack(deployment_seconds=6)
    run = playbook(entry, "-e", '{"herd_upgrade_preflight": "[\\"lambda\\", \\"published\\"]"}', "-v",
                   herd_version="0.176.0")
    assert run.finish() == 0, run.output[-3000:]
    assert '"preflight": {"lambda": "ok", "published": "ok"}' in run.output, run.output[-3000:]


def test_a_module_error_names_the_role_variable(sandbox, make_stack, playbook, tmp_path):
    """Issue 29 item 2: the user set herd_upgrade_ca_path; the message says so, not the module's ca_path."""
    entry = make_stack()
    run = playbook(entry, herd_version="0.176.0", herd_upgrade_ca_path=str(tmp_path / "no-such-ca.pem"))
    assert run.finish() != 0
    said = [line for line in run.output.splitlines() if "must be a readable PEM file" in line]
    assert len(said) == 1, run.output
    assert "{0}: herd_upgrade_ca_path must be a readable PEM file".format(stack_key(entry)) in said[0], said
    assert not re.search(r"(?<!herd_upgrade_)\bca_path", run.output), run.output
    assert invocations(sandbox, entry) == 0


@pytest.mark.parametrize("plugin, variable", [("herd_upgrade_input_problems", "herd_upgrade_version"),
                                              ("upgrade_herd_input", "herd_version")])
def test_the_input_check_filter_example_runs_as_documented(sandbox, make_stack, playbook, tmp_path, plugin, variable):
    """The EXAMPLES of the filter plugins herd_upgrade_input_problems and upgrade_herd_input, as a play: a bad version fails,
    naming it in the filter's words."""
    source = (Path(__file__).resolve().parents[2] / "plugins" / "filter" / (plugin + ".py")).read_text()
    [examples] = [node.value.value for node in ast.parse(source).body
                  if isinstance(node, ast.Assign) and node.targets[0].id == "EXAMPLES"]
    path = tmp_path / "example.yml"
    path.write_text(yaml.safe_dump([{"name": "The example", "hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "tasks": yaml.safe_load(examples)}]))
    entry = make_stack()
    bad = playbook(entry, name=str(path), herd_version="latest")
    assert bad.finish() != 0
    assert "fix these and run again: {0} must be a HERD version".format(variable) in bad.output, bad.output
    assert re.search("got .latest.", bad.output), bad.output
    good = playbook(entry, name=str(path), herd_version="0.176.0")
    assert good.finish() == 0, good.output
    assert aws_calls(sandbox, entry) == {}
