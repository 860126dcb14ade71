"""Stacks in several AWS accounts in one run (issue 29, item 8): per stack, herd_upgrade_aws_role_arn is assumed with STS
before any other AWS call of that stack, and its temporary credentials serve every module; they are never shown.

The sandbox seeds a stack of another account through a role of that account (moto answers for the account of the role
that credentials assumed), so a module that used the run's own credentials for it would find nothing there.
"""

import re

import yaml

from conftest import AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, invocations, served_version, stack_key, user_deployments
from test_fleet import table_rows

OTHER_ACCOUNT = "210987654321"
ROLE_ARN = "arn:aws:iam::{0}:role/mdl-herd-upgrade".format(OTHER_ACCOUNT)
ASSUME = r"TASK \[mdl\.herd\.herd_upgrade : Assume herd_upgrade_aws_role_arn for the stack\]"


def assumed_secrets():
    """The secret keys and session tokens moto handed out for assumed roles so far."""
    from moto.sts.models import sts_backends

    found = set()
    for by_region in list(sts_backends.values()):
        for backend in list(by_region.values()):
            for role in list(backend.assumed_roles):
                found.update([role.secret_access_key, role.session_token])
    return found


def cross_account_inventory(tmp_path, here, there, role_arn=ROLE_ARN):
    hosts = {
        "here": {"mdl_instance_name": here["mdl_instance_name"], "mdl_environment": here["mdl_environment"],
                 "herd_upgrade_aws_region": here["aws_region"]},
        "there": {"mdl_instance_name": there["mdl_instance_name"], "mdl_environment": there["mdl_environment"],
                  "herd_upgrade_aws_region": there["aws_region"], "herd_upgrade_aws_role_arn": role_arn},
    }
    path = tmp_path / "stacks.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"DEV": {"hosts": hosts}}}}))
    return path


def test_a_fleet_across_two_accounts_assumes_the_role_of_the_other_one(sandbox, make_stack, playbook, tmp_path):
    here = make_stack()
    there = make_stack(account_id=OTHER_ACCOUNT)
    assert there["aws_account_id"] == OTHER_ACCOUNT and here["aws_account_id"] != OTHER_ACCOUNT
    path = cross_account_inventory(tmp_path, here, there)
    before = sandbox.calls.snapshot()["overall"].get("sts:AssumeRole", 0)
    run = playbook(None, "-i", str(path), "-f", "2", "-vvv", herd_version="0.176.0", stacks="DEV")
    assert run.finish() == 0, run.output[-6000:]
    rows = table_rows(run.output)
    for entry in (here, there):
        deployment = user_deployments(sandbox, entry)[0]
        assert deployment["status"] == "Succeeded" and served_version(sandbox, entry) == "0.176.0"
        assert invocations(sandbox, entry) == 1
        row = rows[stack_key(entry)]
        assert (row[0], row[1], row[2], row[4]) == ("0.170.0", "0.176.0", deployment["deployment_id"], "upgraded"), rows
    # one role assumed, for the one stack that names it
    assert sandbox.calls.snapshot()["overall"].get("sts:AssumeRole", 0) - before == 1
    secrets = assumed_secrets()
    assert secrets
    for secret in secrets | {AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN}:
        assert secret not in run.output
    # the rollback of the other account's stack assumes its role too
    back = playbook(None, "-i", str(path), "--limit", "there", "-vvv", name="mdl.herd.rollback_herd", stacks="DEV",
                    herd_upgrade_allow_downgrade="true")
    assert back.finish() == 0, back.output[-6000:]
    assert served_version(sandbox, there) == "0.170.0" and served_version(sandbox, here) == "0.176.0"
    assert len([line for line in back.lines if re.search(ASSUME, line)]) == 1
    for secret in assumed_secrets() | {AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN}:
        assert secret not in back.output


def test_a_role_arn_or_duration_that_is_not_one_is_refused_before_any_aws_call(sandbox, make_stack, playbook, tmp_path):
    here = make_stack()
    there = make_stack(account_id=OTHER_ACCOUNT)
    assumed_before = sandbox.calls.snapshot()["overall"].get("sts:AssumeRole", 0)
    path = cross_account_inventory(tmp_path, here, there, role_arn="mdl-herd-upgrade")
    run = playbook(None, "-i", str(path), "--limit", "there", herd_version="0.176.0", stacks="DEV")
    assert run.finish() != 0
    assert ("{0}: nothing was read or changed in AWS; fix this and run again: herd_upgrade_aws_role_arn must be the ARN of"
            " an IAM role, for example arn:aws:iam::".format(stack_key(there))) in run.output, run.output[-3000:]
    path = cross_account_inventory(tmp_path, here, there)
    reports = tmp_path / "reports"
    run = playbook(None, "-i", str(path), "--limit", "there", herd_version="0.176.0", stacks="DEV",
                   herd_upgrade_aws_role_duration_seconds="60", herd_upgrade_report_dir=str(reports))
    assert run.finish() != 0
    assert ('herd_upgrade_aws_role_duration_seconds must be a number of seconds from 900 to 43200 (at most the maximum'
            ' session duration of the role), for example 3600; got "60"') in run.output, run.output[-3000:]
    # a task of the role failed before the invoke (its rescue): the result is kept, the report written, the failure said
    assert table_rows(run.output)[stack_key(there)] == ("-", "-", "-", "-", "failed"), run.output[-3000:]
    assert len(list(reports.glob("*-upgrade-*.json"))) == 1, run.output[-3000:]
    said = run.output.split("TASK [mdl.herd.herd_upgrade : Say what happened]", 1)[1].split("\nTASK [", 1)[0]
    assert 'the task \\"Check herd_upgrade_aws_role_arn and herd_upgrade_aws_role_duration_seconds\\" failed' in said, said
    assert sandbox.calls.snapshot()["stacks"].get(stack_key(there), {}) == {}
    assert sandbox.calls.snapshot()["overall"].get("sts:AssumeRole", 0) == assumed_before


def test_a_stack_of_another_account_without_its_role_is_not_found(sandbox, make_stack, playbook, tmp_path):
    """The run's own credentials see the sandbox's account only: the other account's stack is not there for them (the
    test above is not passing by reaching it without the role)."""
    there = make_stack(account_id=OTHER_ACCOUNT)
    run = playbook(there, herd_version="0.176.0")
    assert run.finish() != 0
    assert invocations(sandbox, there) == 0 and served_version(sandbox, there) == "0.170.0"
