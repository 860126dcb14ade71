# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX surveys beside the playbook ask for what the playbook and its role need, in their terms."""

from __future__ import annotations

import json
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def load(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


SINGLE = json.loads(load("playbooks", "awx", "upgrade_herd.single.survey.json"))
FLEET = json.loads(load("playbooks", "awx", "upgrade_herd.fleet.survey.json"))
PLAYBOOK = yaml.safe_load(load("playbooks", "upgrade_herd.yml"))[0]
ROLE_SPEC = yaml.safe_load(load("roles", "herd_upgrade", "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]
# The playbook's own variables (the rest are the role's)
PLAYBOOK_VARIABLES = {"herd_version", "mdl_instance_name", "mdl_environment", "stacks", "herd_upgrade_serial"}
TEMPLATES = ("upgrade_herd_job_templates.yml",)


class UnsafeLoader(yaml.SafeLoader):
    """YAML as Ansible reads it: ``!unsafe`` text stays text."""


UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def variables(survey):
    return {q["variable"] for q in survey["spec"]}


def test_the_single_stack_survey_asks_for_the_stack_its_region_and_the_version():
    assert {"herd_version", "mdl_instance_name", "mdl_environment", "herd_upgrade_aws_region"} <= {
        q["variable"] for q in SINGLE["spec"] if q["required"]}


def test_the_fleet_survey_asks_nothing_a_host_sets():
    """Survey answers are extra vars: they would override every host's mdl_instance_name, region, ..."""
    assert {"herd_version", "stacks", "herd_upgrade_serial"} <= variables(FLEET)
    assert not variables(FLEET) & {"mdl_instance_name", "mdl_environment", "herd_upgrade_aws_region",
                                   "herd_upgrade_aws_profile"}


def test_every_question_is_a_playbook_or_role_variable_with_the_same_choices():
    for survey in (SINGLE, FLEET):
        for question in survey["spec"]:
            name = question["variable"]
            assert name in PLAYBOOK_VARIABLES or name in ROLE_SPEC, name
            option = ROLE_SPEC.get(name, {})
            if question["type"] == "multiplechoice" and "choices" in option:
                assert question["choices"].split("\n") == option["choices"]
                assert question["default"] == option["default"]
            if question["type"] == "integer" and option:
                # raw: the role takes a number or text holding one (what -e and a survey's text field give)
                assert option["type"] in ("int", "raw"), (name, option["type"])


def test_the_playbook_reads_the_fleet_variables():
    assert "stacks" in PLAYBOOK["hosts"]
    # serial comes from herd_upgrade_serial, through the play's variables that take it as -e and surveys give it
    assert "herd_upgrade_serial" in str(PLAYBOOK["serial"]) + str(PLAYBOOK.get("vars", {}))


def test_the_version_question_allows_what_the_module_allows():
    for survey in (SINGLE, FLEET):
        version = next(q for q in survey["spec"] if q["variable"] == "herd_version")
        assert version["max"] == 64 and version["min"] == 1


def test_instance_and_environment_fit_the_lambda_name():
    """{instance}-Herd-{environment}-UPGRADE-HERD-LAMBDA-FUNCTION is at most 64 characters: 29 for the two words."""
    instance = next(q for q in SINGLE["spec"] if q["variable"] == "mdl_instance_name")
    environment = next(q for q in SINGLE["spec"] if q["variable"] == "mdl_environment")
    assert len("-Herd--UPGRADE-HERD-LAMBDA-FUNCTION") + 29 == 64
    assert instance["max"] < 29 and environment["max"] < 29 and instance["min"] == environment["min"] == 1


def test_the_job_templates_load_the_shipped_surveys():
    text = load("playbooks", "awx", "upgrade_herd_job_templates.yml")
    for survey in ("upgrade_herd.single.survey.json", "upgrade_herd.fleet.survey.json"):
        assert survey in text
    plays = yaml.load(text, Loader=UnsafeLoader)
    modules = {key for play in plays for task in play["tasks"] for key in task if key.startswith("awx.awx.")}
    assert {"awx.awx.project", "awx.awx.job_template"} <= modules
