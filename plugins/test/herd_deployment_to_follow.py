# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_deployment_to_follow
short_description: Did a herd_upgrade_invoke result start or join a deployment
version_added: 1.1.0
description:
  - True for the registered result of M(mdl.herd.herd_upgrade_invoke) that started or joined a CodeDeploy deployment
    (its C(deployment_id)), which a run then follows to its end.
  - False when HERD already served the version and nothing was under way, for a failed invoke (it has no
    C(already_served)), for a skipped task, and in check mode when nothing was joined (nothing was invoked).
  - The role C(mdl.herd.herd_upgrade) follows the deployment when it is true, and the filter
    P(mdl.herd.herd_upgrade_result#filter) reads what that follow registered only then, so that a run which followed
    no deployment never reads the wait or the version check an earlier run left on the same host.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The registered result of M(mdl.herd.herd_upgrade_invoke).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Read the version HERD serves, then start the upgrade or join the one under way
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: DEV
    requested_version: 0.176.0
    buildinfo: {}
  register: invoke

- name: Follow the deployment to its end
  mdl.herd.codedeploy_wait:
    deployment_id: "{{ invoke.deployment_id }}"
  when: invoke is mdl.herd.herd_deployment_to_follow
"""

RETURN = r"""
_value:
  description: Whether there is a deployment to follow.
  type: bool
"""

from collections.abc import Mapping


def herd_deployment_to_follow(result):
    """True when ``result`` (a herd_upgrade_invoke result) started or joined a deployment: it did not fail (it says
    whether HERD already served the version) and names the deployment."""
    if not isinstance(result, Mapping) or result.get("skipped", False):
        return False
    return "already_served" in result and bool(result.get("deployment_id"))


class TestModule(object):
    def tests(self):
        return {"herd_deployment_to_follow": herd_deployment_to_follow}
