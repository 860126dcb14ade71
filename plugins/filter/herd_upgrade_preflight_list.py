# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_upgrade_preflight_list
short_description: The checks of herd_upgrade_preflight as a list, also from the text of -e and AWX surveys
version_added: 1.1.0
description:
  - Returns the role variable C(herd_upgrade_preflight) as the list the module option C(preflight) of
    M(mdl.herd.herd_upgrade_invoke) takes. A list is returned as a list; text, as C(-e) and AWX surveys give it
    (C(lambda,bundle), C([]), C(["lambda", "bundle"])), is split at its commas, without brackets, quotes and blanks.
  - The filter P(mdl.herd.herd_upgrade_input_problems#filter) reads the variable the same way to check it.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The value of C(herd_upgrade_preflight).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Run only two checks before the upgrade, as an AWX survey gives them
  ansible.builtin.debug:
    msg: "{{ 'lambda,bundle' | mdl.herd.herd_upgrade_preflight_list }}"  # ['lambda', 'bundle']
"""

RETURN = r"""
_value:
  description: The names of the checks, in the order given; empty for none.
  type: list
  elements: str
"""

from ansible_collections.mdl.herd.plugins.filter.herd_upgrade_input_problems import preflight_list


class FilterModule(object):
    def filters(self):
        return {"herd_upgrade_preflight_list": preflight_list}
