# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_herd_input
short_description: The batches and the problems of the variables of the playbook mdl.herd.upgrade_herd
version_added: 1.1.0
description:
  - Reads the variables a user gives the playbook C(mdl.herd.upgrade_herd) (C(herd_version), C(mdl_instance_name),
    C(mdl_environment), C(herd_upgrade_serial)) and returns the play's batches and one sentence per problem, in those
    names, before anything is read in AWS.
  - C(herd_upgrade_serial) is taken as C(-e) and AWX surveys give it, as text (C(1,50%,100%) or C([1, "50%", "100%"]))
    as well as a number, a percentage or a list.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description:
      - The playbook's variables, by name. C(herd_version), C(mdl_instance_name) and C(mdl_environment) that are null or
        empty are missing; one that is not in the dict is not checked (C(mdl.herd.rollback_herd) checks the stack's names and the
        batches with it, not its optional C(herd_version)). An absent C(herd_upgrade_serial) is C(0), every stack in one batch.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the playbook's variables before anything is read, as upgrade_herd.yml does
  ansible.builtin.fail:
    msg: "fix these and run again: {{ checked.problems | join('; ') }}"
  vars:
    checked: >-
      {{ {'herd_version': herd_version | default(none), 'mdl_instance_name': 'mdl', 'mdl_environment': 'DEV',
          'herd_upgrade_serial': '1,50%,100%'} | mdl.herd.upgrade_herd_input }}
  when: checked.problems | length > 0
"""

RETURN = r"""
_value:
  description: The batches, the problems and the missing names.
  type: dict
  contains:
    batches:
      description:
        - C(herd_upgrade_serial) as the play's C(serial) takes it, a list of numbers of stacks and percentages (as text);
          C(0), every stack in one batch, when C(herd_upgrade_serial) is not one.
      type: raw
    problems:
      description: One sentence per problem, in the playbook's variable names; empty when there is none.
      type: list
      elements: str
    missing:
      description: The names of C(herd_version), C(mdl_instance_name) and C(mdl_environment) that are missing.
      type: list
      elements: str
"""

import datetime
import json
import re
from collections.abc import Iterable, Mapping

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_input_problems import type_name, preflight_list, version_problems

REQUIRED = ("herd_version", "mdl_instance_name", "mdl_environment")
BATCH = re.compile(r"^[0-9]+%?$")


def _json(value):
    """``value`` as the ``to_json`` filter writes it (dates in ISO format, a set as a list)."""
    def default(item):
        if isinstance(item, (datetime.date, datetime.time)):
            return item.isoformat()
        if isinstance(item, (set, frozenset)):
            return list(item)
        return to_text(item)
    return json.dumps(value, default=default)


def batches(serial):
    """``herd_upgrade_serial`` as a list of batch sizes (text), or None when it is not a number, a percentage or a list
    of them. Text is split as ``herd_upgrade_preflight`` is (``1,50%,100%``, ``[1, "50%", "100%"]``)."""
    if isinstance(serial, (str, bytes)) or not isinstance(serial, Iterable):
        sizes = preflight_list(to_text(serial))
    else:
        sizes = [to_text(size) for size in serial]
    return sizes if sizes and all(BATCH.match(size) for size in sizes) else None


def upgrade_herd_input(variables):
    """The play's batches and one sentence per problem of the playbook's ``variables`` (a dict by name)."""
    if not isinstance(variables, Mapping):
        raise TypeError("upgrade_herd_input expects a dict of the playbook's variables, got {0}".format(type_name(variables)))
    get = variables.get
    missing = [name for name in REQUIRED if name in variables and (get(name) is None or to_text(get(name)) == "")]
    problems = []
    if missing:
        problems.append("missing {0} (set with -e)".format(", ".join(missing)))
    if "herd_version" in variables and "herd_version" not in missing:
        problems.extend(version_problems("herd_version", get("herd_version"), quote='"',
                                         elsewhere=" in a vars file, or -e herd_version=0.180"))
    serial = get("herd_upgrade_serial", 0)
    sizes = batches(serial)
    if sizes is None:
        problems.append("herd_upgrade_serial must be a number of stacks, a percentage or a list of them, for example"
                        " -e herd_upgrade_serial=1,50%,100% (or the list [1, \"50%\", \"100%\"]); got {0}".format(
                            _json(serial)))
    return {"batches": sizes if sizes is not None else 0, "problems": problems, "missing": missing}


class FilterModule(object):
    def filters(self):
        return {"upgrade_herd_input": upgrade_herd_input}
