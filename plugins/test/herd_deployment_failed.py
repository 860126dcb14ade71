# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_deployment_failed
short_description: Did the deployment a codedeploy_wait result followed not succeed
version_added: 1.1.0
description:
  - True for the registered result of M(mdl.herd.codedeploy_wait) when the deployment did not succeed - its status
    is C(Failed) or C(Stopped), or the wait ended without seeing it end (it timed out, or the status could not be read).
  - False when the deployment succeeded, for a skipped task, and in check mode's one look at a deployment still under
    way (not timed out).
  - The role C(mdl.herd.herd_upgrade) follows CodeDeploy's rollback and reads HERD again when it is true, and the
    filter P(mdl.herd.herd_upgrade_result#filter) then keeps the run as C(failed) (stage C(deployment)).
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The registered result of M(mdl.herd.codedeploy_wait).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Follow a deployment to its end
  mdl.herd.codedeploy_wait:
    deployment_id: "{{ deployment_id }}"
  register: wait
  failed_when: false

- name: Say the deployment failed
  ansible.builtin.debug:
    msg: "Deployment {{ deployment_id }} did not succeed: {{ wait.msg | default(wait.status) }}"
  when: wait is mdl.herd.herd_deployment_failed
"""

RETURN = r"""
_value:
  description: Whether the deployment did not succeed.
  type: bool
"""

from collections.abc import Mapping

ENDED = ("Failed", "Stopped")  # a deployment in neither (timed out, or its status unread) may go on


def herd_deployment_failed(result):
    """True when the followed deployment of ``result`` (a codedeploy_wait result) did not succeed."""
    if not isinstance(result, Mapping) or result.get("skipped", False):
        return False
    status = result.get("status", "")
    return status != "Succeeded" and bool(result.get("timed_out", True) or status in ("",) + ENDED)


class TestModule(object):
    def tests(self):
        return {"herd_deployment_failed": herd_deployment_failed}
