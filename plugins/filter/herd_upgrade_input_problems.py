# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_upgrade_input_problems
short_description: What is wrong with the variables of the role mdl.herd.herd_upgrade
version_added: 1.1.0
description:
  - Checks the C(herd_upgrade_*) variables of the role C(mdl.herd.herd_upgrade) and returns one sentence per problem,
    in the variables' own names, each with an example; an empty list when they can be used.
  - The role runs it before it reads anything in AWS. Values as C(-e) and AWX surveys give them are taken as they
    mean (C("30"), C("true"), C("lambda,bundle")).
  - A missing C(herd_upgrade_mdl_instance_name), C(herd_upgrade_mdl_environment) or C(herd_upgrade_version) (absent,
    empty or null) is one sentence naming them all. A version must be text in the grammar of the test
    P(mdl.herd.herd_version#test) (an unquoted C(0.180) in YAML is the float 0.18).
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description:
      - The role's variables, by name. A variable that is not given counts as missing when it is one of the three
        above, and is not checked otherwise.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the role's variables, as the role does, before anything is read
  ansible.builtin.fail:
    msg: "fix these and run again: {{ problems | join('; ') }}"
  vars:
    problems: >-
      {{ {'herd_upgrade_mdl_instance_name': 'mdl', 'herd_upgrade_mdl_environment': 'DEV',
          'herd_upgrade_version': herd_version, 'herd_upgrade_wait_timeout': 3600}
         | mdl.herd.herd_upgrade_input_problems }}
  when: problems | length > 0
"""

RETURN = r"""
_value:
  description: One sentence per problem, in the order of the role's documentation; empty when there is none.
  type: list
  elements: str
"""

import re
from collections.abc import Iterable, Mapping

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import BOOLEANS_TRUE

from ansible_collections.mdl.herd.plugins.module_utils._stack import PREFLIGHT_CHECKS, is_version

REQUIRED = ("herd_upgrade_mdl_instance_name", "herd_upgrade_mdl_environment", "herd_upgrade_version")
WORD = re.compile(r"^[A-Za-z0-9_-]+$")
URL = re.compile(r"^https?://[^/\s]+")
WHOLE = re.compile(r"^\s*[0-9]+\s*$")
DECIMAL = re.compile(r"^\s*([0-9]+[.]?[0-9]*|[.][0-9]+)\s*$")
BOOLEAN_WORDS = [True, False, "true", "false", "True", "False", "yes", "no", "on", "off", "1", "0", 1, 0]
BOOLEANS = ("herd_upgrade_allow_downgrade", "herd_upgrade_credentials_from_ssm", "herd_upgrade_validate_certs",
            "herd_upgrade_lock", "herd_upgrade_probe", "herd_upgrade_probe_auth")


def _text(value):
    """``value`` as Jinja's ``string`` filter writes it."""
    return to_text(value)


def _whole(value):
    return WHOLE.match(_text(value)) is not None


# name: (good, what it must be, an example); good(value) for a value that is given
NUMBERS = (
    ("herd_upgrade_wait_timeout", lambda v: _whole(v) and int(_text(v)) != 0,
     "a whole number of seconds greater than 0", "3600"),
    ("herd_upgrade_lock_wait", _whole, "a whole number of seconds, 0 or more", "120"),
    ("herd_upgrade_verify_retries", _whole, "a whole number, 0 or more", "12"),
    ("herd_upgrade_verify_delay", lambda v: _whole(v) and int(_text(v)) != 0,
     "a whole number of seconds greater than 0", "5"),
    ("herd_upgrade_probe_interval", lambda v: DECIMAL.match(_text(v)) is not None and float(_text(v)) > 0,
     "a number of seconds greater than 0", "1"),
    ("herd_upgrade_max_downtime_seconds", lambda v: v in ("", None) or DECIMAL.match(_text(v)) is not None,
     "a number of seconds or empty", "5"),
)


def type_name(value):
    """The name of the value's type as YAML and JSON made it (float, int, bool, date...), whatever class ansible-core
    wraps it in."""
    return next(kind.__name__ for kind in type(value).__mro__ if not kind.__name__.startswith("_"))


def version_problems(name, version, quote="'", elsewhere=""):
    """The sentence for a version given in the variable ``name`` that is not text in the HERD version grammar (none when it
    is): the examples quoted with ``quote``, ``elsewhere`` said after the vars-file example."""
    if not isinstance(version, str):
        sentence = ("{0} must be text, but it is the {1} {2} (YAML and JSON read an unquoted 0.180 as the number 0.18, a version"
                    " nobody asked for): quote it, for example {0}: {3}0.180{3}{4}")
        return [sentence.format(name, type_name(version), _text(version), quote, elsewhere)]
    if not is_version(version):
        return ["{0} must be a HERD version: dot-separated numbers, optionally followed by a Maven qualifier after {1}-{1} (for"
                " example 0.176.0 or 1.0.0-RC1), at most 64 characters; got {1}{2}{1}".format(name, quote, version)]
    return []


def _true(value):
    """As the ``bool`` filter reads it."""
    return value is True or (not isinstance(value, bool) and to_text(value).strip().lower() in BOOLEANS_TRUE)


def preflight_list(value):
    """``herd_upgrade_preflight`` as a list, as the role's ``herd_upgrade_preflight_list`` reads it: a list as it is;
    text (``-e`` and AWX surveys) such as ``lambda,bundle``, ``[]`` or ``["lambda", "bundle"]`` split at its commas."""
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
        return list(value)
    items = re.sub(r"^\s*\[|\]\s*$", "", _text(value)).split(",")
    items = [re.sub("^'|'$", "", re.sub('^"|"$', "", item.strip())) for item in items]
    return [item for item in items if item != ""]


def herd_upgrade_input_problems(variables):
    """One sentence per problem of the role's ``variables`` (a dict by name), in the role's documented order."""
    if not isinstance(variables, Mapping):
        raise TypeError("herd_upgrade_input_problems expects a dict of the role's variables, got {0}".format(type_name(variables)))
    get = variables.get
    missing = [name for name in REQUIRED if get(name) in ("", None)]
    problems = []
    if missing:
        problems.append("missing {0}: set {1}, for example herd_upgrade_mdl_instance_name: mdl, herd_upgrade_mdl_environment: DEV,"
                        " herd_upgrade_version: '0.176.0'".format(", ".join(missing), "it" if len(missing) == 1 else "them"))
    if "herd_upgrade_version" not in missing:
        problems.extend(version_problems("herd_upgrade_version", get("herd_upgrade_version")))
    for name, example in (("herd_upgrade_mdl_instance_name", "mdl"), ("herd_upgrade_mdl_environment", "DEV")):
        if name not in missing and not WORD.match(_text(get(name))):
            problems.append("{0} must be letters, digits, '-' or '_', for example {1}; got '{2}'".format(name, example, _text(get(name))))
    if "herd_upgrade_preflight" in variables:
        if not all(check in PREFLIGHT_CHECKS for check in preflight_list(get("herd_upgrade_preflight"))):
            problems.append("herd_upgrade_preflight must be a list of {0}, for example herd_upgrade_preflight=lambda,bundle ([] for"
                            " none); got {1}".format(", ".join(PREFLIGHT_CHECKS), _text(get("herd_upgrade_preflight"))))
    for name, good, must, example in NUMBERS:
        if name in variables and not good(get(name)):
            problems.append("{0} must be {1}, for example {0}={2}; got {3}".format(name, must, example, _text(get(name))))
    for name in BOOLEANS:
        if name in variables and get(name) not in BOOLEAN_WORDS:
            problems.append("{0} must be true or false, for example {0}=true".format(name))
    if "herd_upgrade_on_timeout" in variables and get("herd_upgrade_on_timeout") not in ("fail", "stop", "rollback"):
        problems.append("herd_upgrade_on_timeout must be fail, stop or rollback, for example herd_upgrade_on_timeout=fail;"
                        " got '{0}'".format(_text(get("herd_upgrade_on_timeout"))))
    if "herd_upgrade_artifact_repository" in variables and not URL.match(_text(get("herd_upgrade_artifact_repository"))):
        problems.append("herd_upgrade_artifact_repository must be an http:// or https:// URL, for example"
                        " https://repo1.maven.org/maven2; got '{0}'".format(_text(get("herd_upgrade_artifact_repository"))))
    if (_true(get("herd_upgrade_probe_auth")) and not get("herd_upgrade_username")
            and not _true(get("herd_upgrade_credentials_from_ssm"))):
        problems.append("herd_upgrade_probe_auth needs HERD credentials: herd_upgrade_credentials_from_ssm: true, or"
                        " herd_upgrade_username and herd_upgrade_password")
    url = get("herd_upgrade_buildinfo_url")
    if url not in ("", None) and not URL.match(_text(url)):
        problems.append("herd_upgrade_buildinfo_url must be an http:// or https:// URL (or empty to read it from CloudFormation),"
                        " for example https://herd.example.org; got '{0}'".format(_text(url)))
    return problems


class FilterModule(object):
    def filters(self):
        return {"herd_upgrade_input_problems": herd_upgrade_input_problems}
