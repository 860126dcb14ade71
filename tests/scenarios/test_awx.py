"""The AWX path: a job laid out as AWX lays it out, run by ansible-runner (AWX's engine), against the sandbox.

The project is a copy of this repository; its collections come from collections/requirements.yml
(installed offline, amazon.aws already present, as a project sync would install them); survey
answers are extra vars; the AWS credential is environment variables only, without a region.
"""

import datetime
import json
import shutil
import subprocess
from pathlib import Path

import yaml

from conftest import AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, stack_key, user_deployments

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", ".cache", ".sandbox", "dist", "build", "output", "__pycache__",
                              ".pytest_cache")


def amazon_aws():
    """Where this venv's amazon.aws lives (PyPI's ansible package): the collection already present."""
    import ansible_collections.amazon.aws as package

    return Path(package.__file__).resolve().parent if getattr(package, "__file__", None) else \
        Path(list(package.__path__)[0]).resolve()


def job_dir(tmp_path, sandbox, inventory, extravars):
    """A private data dir as AWX writes one for a job."""
    data = tmp_path / "job"
    project = data / "project"
    shutil.copytree(ROOT, project, ignore=SKIP)
    collections = data / "requirements_collections"
    (collections / "ansible_collections" / "amazon").mkdir(parents=True)
    shutil.copytree(amazon_aws(), collections / "ansible_collections" / "amazon" / "aws")
    # what the project sync runs, from the project's root
    subprocess.run(["ansible-galaxy", "collection", "install", "-r", "collections/requirements.yml", "-p", str(collections),
                    "--offline"], cwd=project, check=True, capture_output=True, env=_env(collections))
    (data / "inventory").mkdir()
    (data / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (data / "env").mkdir()
    endpoints = sandbox.endpoints()
    extravars = dict(extravars, herd_upgrade_ca_path=endpoints["herd_ca_path"],  # job template extra vars
                     herd_upgrade_artifact_repository=endpoints["maven_repository_url"], herd_upgrade_verify_delay=1)
    (data / "env" / "extravars").write_text(json.dumps(extravars))
    # what AWX's AWS credential injects: keys, no region (the endpoint is the sandbox's, as a custom credential would set it)
    (data / "env" / "envvars").write_text(json.dumps({
        "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
        "AWS_SECURITY_TOKEN": AWS_SESSION_TOKEN, "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN,
        "AWS_ENDPOINT_URL": endpoints["aws_endpoint_url"],
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }))
    return data


def _env(collections):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return env


def run_job(data, playbook="playbooks/upgrade_herd.yml"):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_COLLECTIONS"))}
    result = subprocess.run(["ansible-runner", "run", str(data), "-p", playbook, "--ident", "1"],
                            env=env, capture_output=True, text=True, timeout=600)
    events = [json.loads(p.read_text()) for p in sorted((data / "artifacts" / "1" / "job_events").glob("*.json"),
                                                        key=lambda p: int(p.name.split("-")[0]))]
    return result, events


def progress_events(events, key):
    return [e for e in events if "{0}: d-".format(key) in (e.get("stdout") or "")]


def stats(events):
    return next(e for e in events if e.get("event") == "playbook_on_stats")["event_data"].get("artifact_data") or {}


def test_a_single_stack_job_with_the_shipped_survey(sandbox, make_stack, tmp_path):
    entry = make_stack(region="us-west-2", deployment_seconds=10)
    survey = {"herd_version": "0.176.0", "mdl_instance_name": entry["mdl_instance_name"],
              "mdl_environment": entry["mdl_environment"], "herd_upgrade_aws_region": "us-west-2",
              "herd_upgrade_wait_timeout": 600, "herd_upgrade_on_timeout": "fail"}
    # what AWX adds to every job's extra vars; a report directory set on the template
    survey.update(awx_job_id=1, awx_job_template_name="Upgrade HERD", herd_upgrade_report_dir=str(tmp_path / "reports"))
    data = job_dir(tmp_path, sandbox, {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}, survey)
    result, events = run_job(data)
    assert result.returncode == 0, result.stdout[-4000:]
    deployment = user_deployments(sandbox, entry)[0]
    assert deployment["status"] == "Succeeded"
    # progress lines were events while the deployment ran, not only at its end
    lines = progress_events(events, stack_key(entry))
    ended = datetime.datetime.fromisoformat(deployment["complete_time"].replace("Z", "+00:00"))
    created = [datetime.datetime.fromisoformat(e["created"]).replace(tzinfo=datetime.timezone.utc) for e in lines]
    assert len(lines) >= 2 and min(created) < ended, [e["stdout"] for e in lines]
    artifact = stats(events)["herd_upgrade_{0}_{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])]
    assert (artifact["outcome"], artifact["to_version"], artifact["deployment_id"]) == (
        "upgraded", "0.176.0", deployment["deployment_id"])
    # the job's files go with its container: the artifacts carry the report itself
    report = artifact["report"]["markdown"]
    assert report.startswith("# HERD upgrade of {0}: upgraded".format(stack_key(entry))), report[:300]
    assert "AWX job 1 (template Upgrade HERD)" in report and "## Deployment {0}".format(deployment["deployment_id"]) in report


def test_a_fleet_job_with_the_shipped_survey(sandbox, make_stack, tmp_path):
    stacks = [make_stack(deployment_seconds=6) for _ in range(2)]
    hosts = {e["mdl_instance_name"].lower(): {"mdl_instance_name": e["mdl_instance_name"],
                                              "mdl_environment": e["mdl_environment"],
                                              "herd_upgrade_aws_region": e["aws_region"]} for e in stacks}
    survey = {"herd_version": "0.176.0", "stacks": "DEV", "herd_upgrade_serial": "0", "herd_upgrade_wait_timeout": 600}
    data = job_dir(tmp_path, sandbox, {"all": {"children": {"DEV": {"hosts": hosts}}}}, survey)
    result, events = run_job(data)
    assert result.returncode == 0, result.stdout[-4000:]
    published = stats(events)
    for entry in stacks:
        assert [d["status"] for d in user_deployments(sandbox, entry)] == ["Succeeded"]
        assert progress_events(events, stack_key(entry))
        key = "herd_upgrade_{0}_{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])
        assert published[key]["outcome"] == "upgraded"
    # the table is in the job's output, a line each (printed by mdl.herd.herd_stacks_report, not as a debug's JSON)
    table = [line for e in events for line in (e.get("stdout") or "").splitlines() if " | " in line]
    assert table[0] == "stack | from | to | deployment | duration | outcome", table
    assert sorted(line.split(" | ")[0] for line in table[1:]) == sorted(stack_key(e) for e in stacks), table


def test_an_upgrade_over_the_downtime_limit_keeps_its_report_in_the_artifacts(sandbox, make_stack, tmp_path):
    """Issue 27 item 9: the job fails (HERD was down longer than herd_upgrade_max_downtime_seconds), yet its artifact keeps
    what the upgrade did: the version reached, the deployment's status and duration, the zero-downtime report."""
    entry = make_stack(deployment_seconds=12, faults={"herd_unavailable_seconds": 3})
    survey = {"herd_version": "0.176.0", "mdl_instance_name": entry["mdl_instance_name"],
              "mdl_environment": entry["mdl_environment"], "herd_upgrade_aws_region": entry["aws_region"],
              "herd_upgrade_max_downtime_seconds": "1", "herd_upgrade_probe_interval": 0.25}
    data = job_dir(tmp_path, sandbox, {"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}, survey)
    result, events = run_job(data)
    assert result.returncode != 0, result.stdout[-4000:]
    deployment = user_deployments(sandbox, entry)[0]
    assert deployment["status"] == "Succeeded"
    artifact = stats(events)["herd_upgrade_{0}_{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])]
    assert (artifact["from_version"], artifact["to_version"], artifact["deployment_id"], artifact["status"]) == (
        "0.170.0", "0.176.0", deployment["deployment_id"], "Succeeded"), artifact
    assert (artifact["outcome"], artifact.get("outcome_before_failure")) == ("failed", "upgraded"), artifact
    assert artifact["duration_seconds"] and artifact["changed"] is True, artifact
    report = artifact["zero_downtime"]
    assert report["probed"] is True and report["longest_outage_seconds"] > 1 and report["failures"] > 0, report
    assert "more than herd_upgrade_max_downtime_seconds (1 s)" in artifact["message"], artifact["message"]
    assert "{0} | 0.170.0 | 0.176.0 | {1} |".format(stack_key(entry), deployment["deployment_id"]) in result.stdout


# --- issue 29, item 8: the AWX objects as code, checked offline against awx.awx and the role ---------------------------

AWX_PLAYBOOK = ROOT / "playbooks" / "awx" / "upgrade_herd_job_templates.yml"
# what the playbooks themselves read (the rest are the role's variables)
PLAYBOOK_VARIABLES = {"herd_version", "stacks", "mdl_instance_name", "mdl_environment", "herd_upgrade_serial"}


def awx_tasks():
    from ansible.parsing.dataloader import DataLoader

    play = DataLoader().load_from_file(str(AWX_PLAYBOOK))[0]
    return play, play["tasks"]


def role_options():
    specs = yaml.safe_load((ROOT / "roles" / "herd_upgrade" / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {entry: spec["options"] for entry, spec in specs.items()}


def module_options(module):
    out = subprocess.run(["ansible-doc", "-j", module], capture_output=True, text=True, check=True).stdout
    options = json.loads(out)[module]["doc"]["options"]
    names = {}
    for name, option in options.items():
        for alias in [name] + list(option.get("aliases") or []):
            names[alias] = option
    return names


def test_the_awx_playbook_passes_syntax_check():
    result = subprocess.run(["ansible-playbook", "--syntax-check", str(AWX_PLAYBOOK)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_awx_tasks_give_awx_awx_only_options_it_documents():
    _, tasks = awx_tasks()
    modules = [(next(k for k in task if k.startswith("awx.awx.")), task) for task in tasks
               if any(k.startswith("awx.awx.") for k in task)]
    assert {m for m, _ in modules} == {"awx.awx.execution_environment", "awx.awx.credential_type", "awx.awx.project",
                                       "awx.awx.job_template"}
    for module, task in modules:
        documented = module_options(module)
        for option, value in task[module].items():
            assert option in documented, "{0}: {1} is not an option of {0}".format(module, option)
            choices = documented[option].get("choices")
            if choices and isinstance(value, str) and "{{" not in value:
                assert value in choices, "{0}: {1}={2} is not one of {3}".format(module, option, value, choices)


def test_every_job_template_runs_in_the_execution_environment_built_from_the_image_variable():
    play, tasks = awx_tasks()
    ee = next(t["awx.awx.execution_environment"] for t in tasks if "awx.awx.execution_environment" in t)
    assert ee["image"] == "{{ herd_awx_ee_image }}" and ee["name"] == "{{ herd_awx_ee_name }}"
    template = next(t for t in tasks if "awx.awx.job_template" in t)
    assert template["awx.awx.job_template"]["execution_environment"] == "{{ herd_awx_ee_name }}"
    project = next(t["awx.awx.project"] for t in tasks if "awx.awx.project" in t)
    assert project["default_environment"] == "{{ herd_awx_ee_name }}"
    templates = play["vars"]["awx_job_templates"]
    assert {(t["playbook"], t["fleet"]) for t in templates} == {
        ("playbooks/upgrade_herd.yml", False), ("playbooks/upgrade_herd.yml", True),
        ("playbooks/rollback_herd.yml", False), ("playbooks/rollback_herd.yml", True)}


def test_the_credential_type_injects_the_roles_own_variables():
    _, tasks = awx_tasks()
    credential_type = next(t["awx.awx.credential_type"] for t in tasks if "awx.awx.credential_type" in t)
    options = role_options()["main"]
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    injected = credential_type["injectors"]["extra_vars"]
    assert set(injected) == {"herd_upgrade_artifact_repository_username", "herd_upgrade_artifact_repository_password",
                             "herd_upgrade_ca_path"}
    for variable, template in injected.items():
        assert variable in options, "{0} is not a variable of the role".format(variable)
        field = template.strip("{} ").split(".")[-1]
        assert field in fields or template == "{{ tower.filename.herd_ca }}", template
    # a secret of the role's is a secret field of the credential
    assert options["herd_upgrade_artifact_repository_password"].get("no_log") is True
    assert fields["artifact_repository_password"].get("secret") is True
    # the CA is a file of the job's, whose path the role reads
    assert credential_type["injectors"]["file"] == {"template.herd_ca": "{{ herd_ca }}"}
    assert injected["herd_upgrade_ca_path"] == "{{ tower.filename.herd_ca }}" and fields["herd_ca"]["multiline"] is True


def test_every_survey_asks_for_a_variable_of_the_playbook_or_the_role():
    play, _ = awx_tasks()
    options = role_options()
    known = PLAYBOOK_VARIABLES | set(options["main"]) | set(options["rollback"])
    for template in play["vars"]["awx_job_templates"]:
        survey = json.loads((AWX_PLAYBOOK.parent / template["survey"]).read_text())
        variables = [question["variable"] for question in survey["spec"]]
        assert variables and set(variables) <= known, (template["survey"], set(variables) - known)
        if template["fleet"]:  # survey answers override every host's values: nothing per stack
            assert not {"mdl_instance_name", "mdl_environment", "herd_upgrade_aws_region"} & set(variables)
        if "rollback" in template["playbook"]:
            assert "herd_upgrade_allow_downgrade" in variables


def test_a_fleet_rollback_job_with_the_shipped_survey(sandbox, make_stack, playbook, tmp_path):
    """The rollback's fleet template, as AWX runs it: every stack rolled back, one key per stack in the artifacts."""
    stacks = [make_stack(deployment_seconds=6) for _ in range(2)]
    hosts = {e["mdl_instance_name"].lower(): {"mdl_instance_name": e["mdl_instance_name"],
                                              "mdl_environment": e["mdl_environment"],
                                              "herd_upgrade_aws_region": e["aws_region"]} for e in stacks}
    for entry in stacks:
        assert playbook(entry, herd_version="0.176.0").finish() == 0
    survey = json.loads((AWX_PLAYBOOK.parent / "rollback_herd.fleet.survey.json").read_text())
    answers = {q["variable"]: q["default"] for q in survey["spec"]}
    answers.update(stacks="DEV", herd_upgrade_allow_downgrade="true", herd_upgrade_serial="0")
    data = job_dir(tmp_path, sandbox, {"all": {"children": {"DEV": {"hosts": hosts}}}}, answers)
    result, events = run_job(data, "playbooks/rollback_herd.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    published = stats(events)
    for entry in stacks:
        deployment = user_deployments(sandbox, entry)[0]
        key = "herd_upgrade_{0}_{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])
        assert (published[key]["outcome"], published[key]["to_version"], published[key]["deployment_id"]) == (
            "downgraded", "0.170.0", deployment["deployment_id"]), published[key]
        assert "{0} | 0.176.0 | 0.170.0 | {1} |".format(stack_key(entry), deployment["deployment_id"]) in result.stdout


def test_a_fleet_job_across_two_accounts_with_the_aws_credential_in_the_environment(sandbox, make_stack, tmp_path):
    """AWX's AWS credential puts keys in the environment (where a per-stack profile is refused): the stack of the other
    account names its role, which those keys assume; nothing of the role's credentials reaches the job's output or
    artifacts."""
    from test_cross_account import OTHER_ACCOUNT, ROLE_ARN, assumed_secrets

    here, there = make_stack(deployment_seconds=6), make_stack(deployment_seconds=6, account_id=OTHER_ACCOUNT)
    hosts = {e["mdl_instance_name"].lower(): {"mdl_instance_name": e["mdl_instance_name"],
                                              "mdl_environment": e["mdl_environment"],
                                              "herd_upgrade_aws_region": e["aws_region"]} for e in (here, there)}
    hosts[there["mdl_instance_name"].lower()]["herd_upgrade_aws_role_arn"] = ROLE_ARN
    survey = {"herd_version": "0.176.0", "stacks": "DEV", "herd_upgrade_serial": "0", "herd_upgrade_wait_timeout": 600}
    data = job_dir(tmp_path, sandbox, {"all": {"children": {"DEV": {"hosts": hosts}}}}, survey)
    result, events = run_job(data)
    assert result.returncode == 0, result.stdout[-4000:]
    published = stats(events)
    for entry in (here, there):
        deployment = user_deployments(sandbox, entry)[0]
        key = "herd_upgrade_{0}_{1}".format(entry["mdl_instance_name"], entry["mdl_environment"])
        assert (published[key]["outcome"], published[key]["deployment_id"]) == ("upgraded", deployment["deployment_id"])
    # the job's output and events hold neither the role's nor the job's own secrets; no artifact file the role's
    # (ansible-runner itself records the environment it was given, the job's keys: AWX keeps that file to itself)
    shown = result.stdout + json.dumps(events)
    written = "".join(p.read_text(errors="replace") for p in (data / "artifacts").rglob("*") if p.is_file())
    assert assumed_secrets()
    for secret in assumed_secrets():
        assert secret not in shown and secret not in written
    for secret in (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN):
        assert secret not in shown
