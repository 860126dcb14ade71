# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX survey beside the playbook asks for what the playbook and its role need, in their terms."""

from __future__ import annotations

import json
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def load(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


SURVEY = json.loads(load("playbooks", "awx", "upgrade_herd.survey.json"))
PLAYBOOK = yaml.safe_load(load("playbooks", "upgrade_herd.yml"))
ROLE_SPEC = yaml.safe_load(load("roles", "herd_upgrade", "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def test_the_survey_asks_for_every_variable_the_playbook_requires():
    asked = {q["variable"] for q in SURVEY["spec"] if q["required"]}
    playbook_text = load("playbooks", "upgrade_herd.yml")
    needed = set(re.findall(r"\{\{ (\w+) \}\}", playbook_text))
    assert needed == {"herd_version", "mdl_instance_name", "mdl_environment"}
    assert needed <= asked


def test_every_other_question_is_a_role_option_with_the_same_choices():
    playbook_vars = set(PLAYBOOK[0]["vars"].values())
    for question in SURVEY["spec"]:
        if "{{ %s }}" % question["variable"] in playbook_vars:
            continue
        option = ROLE_SPEC[question["variable"]]
        if question["type"] == "multiplechoice" and "choices" in option:
            assert question["choices"].split("\n") == option["choices"]
            assert question["default"] == option["default"]


def test_the_version_question_allows_what_the_module_allows():
    version = next(q for q in SURVEY["spec"] if q["variable"] == "herd_version")
    assert version["max"] == 64 and version["min"] == 1
