# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_version
short_description: Is the value a HERD version
version_added: 1.1.0
description:
  - True when the value is text that follows the HERD version grammar the modules of this collection check
    (M(mdl.herd.herd_upgrade_invoke), M(mdl.herd.codedeploy_wait) and the others) - dot-separated numbers,
    optionally followed by a Maven qualifier after C(-), for example C(0.176.0), C(0.176.0-SNAPSHOT) or C(1.0.0-RC1),
    at most 64 characters.
  - False for anything else, C(latest), C(..) or C(-1) included, and for a number (an unquoted C(0.180) in YAML is
    the float 0.18, not the version C(0.180)).
  - The role C(mdl.herd.herd_upgrade) and the playbooks of this collection check their versions with it.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The value to test.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse anything but a HERD version, before any AWS call
  ansible.builtin.assert:
    that: herd_version is mdl.herd.herd_version
    fail_msg: "herd_version must be a HERD version such as 0.176.0 (quoted in YAML); got {{ herd_version }}"
"""

RETURN = r"""
_value:
  description: Whether the value is a HERD version.
  type: bool
"""

from ansible_collections.mdl.herd.plugins.module_utils._stack import is_version


def herd_version(value):
    """True when ``value`` is text in the HERD version grammar (``_stack.is_version``, the modules' own check)."""
    return is_version(value)


class TestModule(object):
    def tests(self):
        return {"herd_version": herd_version}
