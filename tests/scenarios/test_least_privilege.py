"""Least privilege, proven: every run of the playbooks as a principal holding exactly the shipped policy.

The sandbox enforces the policies of ``policies/`` (filled in for the stacks of the run) for an access key
of their own (``sandbox.iam.restrict``) and records every (action, resource) each key used. The runs: an
upgrade, its no-op re-run, ``--check``, a fleet of two, a failed upgrade with CodeDeploy's rollback and
``rollback_herd.yml``; then the audit: nothing was denied, and every action of every statement was used
by some run on a resource of that statement. Deployments are short (3 s) and the runs go side by side.
"""

import copy
import json
import re
from pathlib import Path

from conftest import stack_key, user_deployments
from mdl_sandbox.iam import Policy, fill, stack_values
from test_fleet import inventory

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
ROLLBACK = "mdl.herd.rollback_herd"
SECONDS = 3


def shipped(name):
    return json.loads((POLICIES / name).read_text())


def optional(statement):
    return statement["Sid"].startswith("Optional")


def principal(sandbox, key, document, entries):
    """Restrict ``key`` to ``document`` filled in for ``entries``; the environment that signs with it."""
    sandbox.iam.forget(key)
    sandbox.iam.restrict(key, [fill(document, [stack_values(e, sandbox.account_id) for e in entries])])
    return {"AWS_ACCESS_KEY_ID": key}


def audit(sandbox, key, document, entries):
    """What the policy grants that no run used, as (Sid, action); and what was denied."""
    used = sandbox.iam.used(key)
    unused = []
    for statement in fill(document, [stack_values(e, sandbox.account_id) for e in entries])["Statement"]:
        one = Policy({"Statement": [statement]}, statement["Sid"])
        for action in statement["Action"]:
            if not any(one.effects(action, resource) for (done, resource) in used if done == action):
                unused.append((statement["Sid"], action))
    return unused, sandbox.iam.denied(key)


def test_every_run_passes_holding_exactly_its_policy_and_every_grant_is_used(sandbox, make_stack, playbook, tmp_path):
    upgrade, plan, rollback = shipped("upgrade.json"), shipped("plan.json"), shipped("rollback.json")
    one = make_stack(deployment_seconds=SECONDS)
    failing = make_stack(deployment_seconds=SECONDS, faults={"fail_at_event": "ValidateService"})
    fleet = [make_stack(deployment_seconds=SECONDS) for _ in range(2)]
    planned = make_stack(deployment_seconds=SECONDS)
    bare = make_stack(deployment_seconds=SECONDS)
    upgrading = [one, failing] + fleet
    as_upgrade = principal(sandbox, "AKIAMDLHERDUPGRADE", upgrade, upgrading)
    as_plan = principal(sandbox, "AKIAMDLHERDPLAN", plan, [planned])
    without_optional = dict(upgrade, Statement=[s for s in upgrade["Statement"] if not optional(s)])
    as_bare = principal(sandbox, "AKIAMDLHERDBARE", without_optional, [bare])

    runs = {
        "upgrade": playbook(one, env_overrides=as_upgrade, herd_version="0.176.0"),
        "failed": playbook(failing, env_overrides=as_upgrade, herd_version="0.176.0"),
        "fleet": playbook(None, "-i", str(inventory(tmp_path, {"DEV": fleet})), "-f", "2", env_overrides=as_upgrade,
                          herd_version="0.176.0", stacks="DEV"),
        "check": playbook(planned, "--check", env_overrides=as_plan, herd_version="0.176.0"),
        "bare": playbook(bare, env_overrides=as_bare, herd_version="0.176.0"),
    }
    codes = {name: run.finish() for name, run in runs.items()}
    for name in ("upgrade", "fleet", "check", "bare"):
        assert codes[name] == 0, (name, runs[name].output[-4000:])
    assert codes["failed"] != 0
    assert "ValidateService failed" in runs["failed"].output, runs["failed"].output[-4000:]
    assert [d["status"] for d in user_deployments(sandbox, failing)] == ["Failed"]
    rollbacks = [d for d in sandbox.live_state(stack_key(failing))["live"]["deployments"] if d["creator"] != "user"]
    assert [d["status"] for d in rollbacks] == ["Succeeded"]  # CodeDeploy's rollback, followed to its end
    for entry in [one] + fleet:
        assert [d["status"] for d in user_deployments(sandbox, entry)] == ["Succeeded"]
    assert user_deployments(sandbox, planned) == []

    # without the optional statements the upgrade warns, names what it could not check, and goes on
    assert [d["status"] for d in user_deployments(sandbox, bare)] == ["Succeeded"]
    flat = " ".join(runs["bare"].output.split())
    assert "Could not read the configuration of {0} (access denied)".format(bare["upgrade_function_name"]) in flat
    assert "codedeploy:GetDeploymentGroup is not allowed" in flat
    assert "Preflight of stack {0}: bundle is not checked (lambda:GetFunctionConfiguration is not allowed); going on.".format(
        stack_key(bare)) in flat
    # what was refused: the optional reads only (the bundle is not looked for without the function's configuration)
    assert {action for action, _ in sandbox.iam.denied("AKIAMDLHERDBARE")} == {
        "lambda:GetFunctionConfiguration", "codedeploy:GetDeploymentGroup"}

    # the no-op with the upgrade policy, and rollback_herd.yml with the rollback policy, side by side
    back = fleet[0]
    as_rollback = principal(sandbox, "AKIAMDLHERDROLLBACK", rollback, [back])
    noop = playbook(one, env_overrides=as_upgrade, herd_version="0.176.0")
    undo = playbook(back, name=ROLLBACK, env_overrides=as_rollback, herd_upgrade_allow_downgrade="true")
    assert noop.finish() == 0, noop.output[-4000:]
    assert undo.finish() == 0, undo.output[-4000:]
    assert len(user_deployments(sandbox, one)) == 1
    assert [d["status"] for d in user_deployments(sandbox, back)] == ["Succeeded", "Succeeded"]

    # the audit: nothing denied, nothing granted that no run used
    for key, document, entries in (("AKIAMDLHERDUPGRADE", upgrade, upgrading), ("AKIAMDLHERDPLAN", plan, [planned]),
                                   ("AKIAMDLHERDROLLBACK", rollback, [back])):
        unused, denied = audit(sandbox, key, document, entries)
        assert denied == {}, (key, denied)
        assert unused == [], (key, unused)


def test_a_denied_call_names_the_action_the_resource_and_the_policy_that_grants_it(sandbox, make_stack, playbook):
    entry = make_stack(deployment_seconds=SECONDS)
    policy = copy.deepcopy(shipped("upgrade.json"))
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "InvokeTheUpgradeLambda"]
    key = principal(sandbox, "AKIAMDLHERDNOINVOKE", policy, [entry])
    run = playbook(entry, env_overrides=key, herd_version="0.176.0")
    assert run.finish() != 0
    arn = "arn:aws:lambda:{0}:{1}:function:{2}".format(entry["aws_region"], sandbox.account_id,
                                                       entry["upgrade_function_name"])
    line = ("AWS denied lambda:InvokeFunction on {0}; mdl.herd's policies/upgrade.json (statement "
            "InvokeTheUpgradeLambda) and policies/rollback.json (statement InvokeTheUpgradeLambda) grant it.").format(arn)
    # one line: the stack, what was done (nothing), the missing action on its resource, the policy granting it
    said = [text for text in run.output.splitlines() if line in text]
    assert said, run.output[-4000:]
    assert "{0}: Not allowed to invoke".format(stack_key(entry)) in said[0] and "nothing was started" in said[0]
    assert user_deployments(sandbox, entry) == []  # nothing changed in AWS
    assert list(sandbox.iam.denied("AKIAMDLHERDNOINVOKE")) == [("lambda:InvokeFunction", arn)]


def test_the_policies_say_in_their_sids_what_is_optional_and_what_takes_only_resource_star():
    for name in ("upgrade.json", "plan.json", "rollback.json"):
        statements = shipped(name)["Statement"]
        sids = [s["Sid"] for s in statements]
        assert len(set(sids)) == len(sids) and all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), name
        for statement in statements:
            assert statement["Effect"] == "Allow" and set(statement) == {"Sid", "Effect", "Action", "Resource"}
            resources = statement["Resource"]
            star = "*" in ([resources] if isinstance(resources, str) else resources)
            assert star == ("OnlyResourceStar" in statement["Sid"]), (name, statement["Sid"])
            Policy(fill({"Statement": [statement]}, [{"region": "r", "account": "1", "instance": "i", "environment": "e",
                                                      "staging_bucket": "b"}]))  # placeholders only where fillable


def test_the_permissions_page_is_generated_from_the_policies_and_the_readme_points_to_it():
    from permissions_doc import render

    assert (ROOT / "docs" / "permissions.md").read_text() == render(), (
        "docs/permissions.md is stale: PYTHONPATH=tests/scenarios .venv/bin/python tests/scenarios/permissions_doc.py "
        "> docs/permissions.md")
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### AWS permissions", 1)[1].split("\n#", 1)[0]
    assert "docs/permissions.md" in section
    for name in ("upgrade.json", "plan.json", "rollback.json"):
        assert "policies/" + name in section
