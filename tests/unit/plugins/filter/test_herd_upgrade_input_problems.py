# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter mdl.herd.herd_upgrade_input_problems: every problem of the role's variables, in their names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_input_problems import PREFLIGHT_CHECKS, FilterModule, preflight_list
from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_preflight_list import FilterModule as FilterModule_preflight
from ansible_collections.mdl.herd.plugins.module_utils._preflight import CHECKS

problems = FilterModule().filters()["herd_upgrade_input_problems"]
DEFAULTS = yaml.safe_load((Path(__file__).parents[4] / "roles" / "herd_upgrade" / "defaults" / "main.yml").read_text())
GOOD = dict({name: DEFAULTS[name] for name in DEFAULTS if name != "herd_upgrade_report_dir"},
            herd_upgrade_mdl_instance_name="mdl", herd_upgrade_mdl_environment="DEV", herd_upgrade_version="0.176.0")


def with_(**changes):
    return dict(GOOD, **changes)


def test_the_role_defaults_with_a_stack_and_a_version_have_no_problem():
    assert problems(GOOD) == []


def test_values_as_e_and_awx_surveys_give_them_are_taken_as_they_mean():
    assert problems(with_(herd_upgrade_wait_timeout=" 30 ", herd_upgrade_lock_wait="0", herd_upgrade_verify_retries="0",
                          herd_upgrade_verify_delay="5", herd_upgrade_probe_interval=".5", herd_upgrade_max_downtime_seconds="2.5",
                          herd_upgrade_lock="false", herd_upgrade_probe="yes", herd_upgrade_allow_downgrade="True",
                          herd_upgrade_preflight="lambda,bundle")) == []


@pytest.mark.parametrize("missing, sentence", [
    (["herd_upgrade_version"], "missing herd_upgrade_version: set it, for example"),
    (["herd_upgrade_mdl_instance_name", "herd_upgrade_mdl_environment"],
     "missing herd_upgrade_mdl_instance_name, herd_upgrade_mdl_environment: set them, for example herd_upgrade_mdl_instance_name: mdl,"
     " herd_upgrade_mdl_environment: DEV, herd_upgrade_version: '0.176.0'"),
])
@pytest.mark.parametrize("how", ["absent", "empty", "null"])
def test_missing_values_are_one_sentence_naming_them_all(missing, sentence, how):
    variables = dict(GOOD)
    for name in missing:
        if how == "absent":
            del variables[name]
        else:
            variables[name] = "" if how == "empty" else None
    found = problems(variables)
    assert len(found) == 1 and found[0].startswith(sentence), found


@pytest.mark.parametrize("changes, sentence", [
    ({"herd_upgrade_version": 0.18},
     "herd_upgrade_version must be text, but it is the float 0.18 (YAML and JSON read an unquoted 0.180 as the number 0.18,"
     " a version nobody asked for): quote it, for example herd_upgrade_version: '0.180'"),
    ({"herd_upgrade_version": 1}, "herd_upgrade_version must be text, but it is the int 1 "),
    ({"herd_upgrade_version": "latest"},
     "herd_upgrade_version must be a HERD version: dot-separated numbers, optionally followed by a Maven qualifier after '-'"
     " (for example 0.176.0 or 1.0.0-RC1), at most 64 characters; got 'latest'"),
    ({"herd_upgrade_mdl_instance_name": "my stack"},
     "herd_upgrade_mdl_instance_name must be letters, digits, '-' or '_', for example mdl; got 'my stack'"),
    ({"herd_upgrade_mdl_environment": "DEV/1"},
     "herd_upgrade_mdl_environment must be letters, digits, '-' or '_', for example DEV; got 'DEV/1'"),
    ({"herd_upgrade_preflight": "lambda,typo"},
     "herd_upgrade_preflight must be a list of lambda, deployment_group, active_deployment, bundle, published, for example"
     " herd_upgrade_preflight=lambda,bundle ([] for none); got lambda,typo"),
    ({"herd_upgrade_wait_timeout": "-5"},
     "herd_upgrade_wait_timeout must be a whole number of seconds greater than 0, for example herd_upgrade_wait_timeout=3600; got -5"),
    ({"herd_upgrade_wait_timeout": 0}, "herd_upgrade_wait_timeout must be a whole number of seconds greater than 0"),
    ({"herd_upgrade_lock_wait": "soon"},
     "herd_upgrade_lock_wait must be a whole number of seconds, 0 or more, for example herd_upgrade_lock_wait=120; got soon"),
    ({"herd_upgrade_verify_retries": 1.5},
     "herd_upgrade_verify_retries must be a whole number, 0 or more, for example herd_upgrade_verify_retries=12; got 1.5"),
    ({"herd_upgrade_verify_delay": "0"},
     "herd_upgrade_verify_delay must be a whole number of seconds greater than 0, for example herd_upgrade_verify_delay=5; got 0"),
    ({"herd_upgrade_probe_interval": "0"},
     "herd_upgrade_probe_interval must be a number of seconds greater than 0, for example herd_upgrade_probe_interval=1; got 0"),
    ({"herd_upgrade_max_downtime_seconds": "a while"},
     "herd_upgrade_max_downtime_seconds must be a number of seconds or empty, for example herd_upgrade_max_downtime_seconds=5;"
     " got a while"),
    ({"herd_upgrade_lock": "maybe"}, "herd_upgrade_lock must be true or false, for example herd_upgrade_lock=true"),
    ({"herd_upgrade_on_timeout": "wait"},
     "herd_upgrade_on_timeout must be fail, stop or rollback, for example herd_upgrade_on_timeout=fail; got 'wait'"),
    ({"herd_upgrade_artifact_repository": "repo.example.org"},
     "herd_upgrade_artifact_repository must be an http:// or https:// URL, for example https://repo1.maven.org/maven2;"
     " got 'repo.example.org'"),
    ({"herd_upgrade_probe_auth": "true", "herd_upgrade_credentials_from_ssm": False},
     "herd_upgrade_probe_auth needs HERD credentials: herd_upgrade_credentials_from_ssm: true, or herd_upgrade_username and"
     " herd_upgrade_password"),
    ({"herd_upgrade_buildinfo_url": "herd.example.org"},
     "herd_upgrade_buildinfo_url must be an http:// or https:// URL (or empty to read it from CloudFormation), for example"
     " https://herd.example.org; got 'herd.example.org'"),
])
def test_each_problem_is_said_in_the_variables_name_with_an_example(changes, sentence):
    found = problems(with_(**changes))
    assert len(found) == 1, found
    assert found[0].startswith(sentence), found[0]


def test_the_probe_with_credentials_given_another_way_is_no_problem():
    assert problems(with_(herd_upgrade_probe_auth=True, herd_upgrade_credentials_from_ssm=False, herd_upgrade_username="admin")) == []
    assert problems(with_(herd_upgrade_probe_auth=True)) == []  # the credentials from SSM, the default


def test_every_problem_is_said_at_once_in_the_documented_order():
    found = problems(with_(herd_upgrade_version="latest", herd_upgrade_mdl_environment="a b", herd_upgrade_wait_timeout="x",
                           herd_upgrade_probe="maybe", herd_upgrade_buildinfo_url="ftp://x"))
    assert [sentence.split(" ")[0] for sentence in found] == [
        "herd_upgrade_version", "herd_upgrade_mdl_environment", "herd_upgrade_wait_timeout", "herd_upgrade_probe",
        "herd_upgrade_buildinfo_url"]


def test_anything_but_a_dict_is_refused_with_what_it_was():
    with pytest.raises(TypeError, match="dict of the role's variables, got list"):
        problems(["herd_upgrade_version"])


@pytest.mark.parametrize("value, expected", [
    (["lambda", "bundle"], ["lambda", "bundle"]), ([], []), ("[]", []), ("", []), ("lambda", ["lambda"]),
    ("lambda, bundle", ["lambda", "bundle"]), ('["lambda", "bundle"]', ["lambda", "bundle"]),
    ("['published']", ["published"]), (" [ lambda ,published ] ", ["lambda", "published"]),
])
def test_the_preflight_as_text_is_read_as_the_role_reads_it(value, expected):
    assert preflight_list(value) == expected
    assert problems(with_(herd_upgrade_preflight=value)) == []


@pytest.mark.parametrize("value", ["lambda;bundle", {"lambda": True}, 5, ["lambda", "nope"]])
def test_a_preflight_that_is_no_list_of_checks_is_a_problem(value):
    [found] = problems(with_(herd_upgrade_preflight=value))
    assert found.startswith("herd_upgrade_preflight must be a list of lambda, deployment_group"), found


def test_the_checks_and_the_reading_of_the_text_are_the_modules_and_the_roles():
    assert list(PREFLIGHT_CHECKS) == list(CHECKS)
    role_vars = yaml.safe_load((Path(__file__).parents[4] / "roles" / "herd_upgrade" / "vars" / "main.yml").read_text())
    # the role gives the module the list this filter file checks: the filter herd_upgrade_preflight_list is preflight_list
    assert role_vars["herd_upgrade_preflight_list"] == "{{ herd_upgrade_preflight | mdl.herd.herd_upgrade_preflight_list }}"
    assert FilterModule_preflight().filters()["herd_upgrade_preflight_list"] is preflight_list
