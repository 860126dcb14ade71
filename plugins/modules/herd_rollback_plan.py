#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_rollback_plan
short_description: Find the HERD version a rollback brings an MDL stack back to, or record a rollback done
version_added: 1.0.0
description:
  - Reads the history of SSM C(/app/MDL/{instance}/{environment}/HERD/CurrentVersion), where the bundle's smoke test
    writes the version of each Blue/Green deployment it validated, leaves out the entries written while a deployment
    ran that then ended C(Failed) or C(Stopped) (upgrades that failed after their smoke test), and returns the entry
    before the last run of entries naming O(served_version) (what buildInfo reports now) when it is older.
  - A rollback never goes to O(served_version), to a newer version, nor to a version whose upgrade failed. When the
    served version came after a newer one (the stack was rolled back already, or its upgrade failed), returns
    RV(rollback_needed=false) with RV(reason=follows_newer) and a RV(message) that says so; this is also what a rollback
    interrupted before its record was written finds when run again.
  - Once a rollback succeeded, O(record) writes C(HERD/RollbackRecord) (JSON with the two versions, the deployment and
    the time). A later plan for a stack serving the recorded version, with no other version written since, returns
    RV(rollback_needed=false), since a rollback is not an upgrade, and running it twice changes nothing.
  - While a deployment is under way in the stack's group, returns it (RV(reason=under_way)) when SSM says it is a
    rollback (it installs a version older than the served one, or the served one after a newer one), so that a rollback run
    again after an interruption joins it. Any other deployment under way fails the plan, naming it.
  - Fails when nothing records a version before the
    one served, or it or the served one is not a HERD version (give O(requested_version)); and when
    O(requested_version) is newer than O(served_version).
  - Used by the playbook C(mdl.herd.rollback_herd); it changes nothing unless O(record) is given.
  - O(mdl_instance_name) and O(mdl_environment) are required.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  served_version:
    description: The version HERD serves now (RV(mdl.herd.herd_buildinfo_check#module:build_number)).
    type: str
    required: true
  requested_version:
    description: Roll back to this version instead of the recorded one.
    type: str
  record:
    description:
      - Write the record of a rollback that succeeded, with keys C(from_version), C(to_version) and C(deployment_id).
    type: dict
notes:
  - "AWS permissions: C(ssm:GetParameterHistory) on C(HERD/CurrentVersion), C(ssm:GetParameter) (and, with O(record),
    C(ssm:PutParameter)) on C(HERD/RollbackRecord), C(codedeploy:ListDeployments), and C(codedeploy:BatchGetDeployments)
    (the times of the failed deployments, read when the history names a version other than the served one); while a
    deployment is under way, C(ssm:GetParameters) on C(HERD/RequestedVersion), C(HERD/DeploymentInvoked) and
    C(HERD/CurrentVersion)."
seealso:
  - module: mdl.herd.herd_upgrade_invoke
    description: Starts the deployment of the version found here (the rollback goes the same Blue/Green way).
extends_documentation_fragment:
  - mdl.herd.stack
  - mdl.herd.attributes
  - mdl.herd.attributes.check_mode_full
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read what HERD serves
  mdl.herd.herd_buildinfo_check:
    mdl_instance_name: mdl
    mdl_environment: DEV
  register: herd_now

- name: Find the version before the last upgrade
  mdl.herd.herd_rollback_plan:
    mdl_instance_name: mdl
    mdl_environment: DEV
    served_version: "{{ herd_now.build_number }}"
  register: plan

- name: Record a rollback that succeeded
  mdl.herd.herd_rollback_plan:
    mdl_instance_name: mdl
    mdl_environment: DEV
    served_version: "{{ plan.target_version }}"
    record:
      from_version: "{{ herd_now.build_number }}"
      to_version: "{{ plan.target_version }}"
      deployment_id: d-ABCDE1234
"""

RETURN = r"""
target_version:
  description: The version to roll back to (the served one when RV(rollback_needed) is V(false)).
  returned: success
  type: str
  sample: 0.170.0
rollback_needed:
  description: V(false) when the stack already serves RV(target_version) after a recorded rollback (or O(requested_version)).
  returned: success
  type: bool
  sample: true
reason:
  description:
    - V(previous) (from the history), V(requested) (O(requested_version)), V(recorded) (O(record) written),
      V(already_rolled_back) (the record names the served version, and nothing else was written since), or
      V(follows_newer) (the served version came after a newer one, so it was rolled back already or its upgrade failed),
      or V(under_way) (a rollback to RV(target_version) is under way, RV(active_deployment_id); follow it to its end).
  returned: success
  type: str
  sample: previous
from_version:
  description: The version the rollback brings the stack back from (the served one, unless a rollback under way was switched to).
  returned: when RV(rollback_needed) is V(true)
  type: str
  sample: 0.176.0
active_deployment_id:
  description: The rollback under way, with RV(reason=under_way) (or the deployment that fails the plan).
  returned: when a deployment is under way
  type: str
  sample: d-ABCDE1234
previous_version:
  description: With RV(reason=follows_newer), the newer version the served one came after.
  returned: when RV(reason) is V(follows_newer)
  type: str
  sample: 0.176.0
message:
  description: Why nothing is to be rolled back, naming the stack (V(null) when a rollback is needed).
  returned: success, without O(record)
  type: str
  sample: "Stack mdl/DEV serves HERD 0.170.0, which came after 0.176.0 in SSM ... nothing to roll back, and running this again changes nothing."
history:
  description: The values of C(HERD/CurrentVersion), oldest first.
  returned: success, without O(record)
  type: list
  elements: str
  sample: ["0.170.0", "0.176.0"]
record:
  description: The rollback record (written now with O(record), else the one found, or V(null)).
  returned: success
  type: dict
  sample: {"from_version": "0.176.0", "to_version": "0.170.0", "deployment_id": "d-ABCDE1234", "time": "2026-12-01T09:00:00.000+00:00"}
served_version:
  description: O(served_version).
  returned: always
  type: str
  sample: 0.176.0
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mdl.herd.plugins.module_utils import _aws, _watch
from ansible_collections.mdl.herd.plugins.module_utils._rollback import RollbackError, RollbackPlan
from ansible_collections.mdl.herd.plugins.module_utils._stack import InputError, MdlStack, check_deployment_id, check_version


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            mdl_instance_name=dict(type="str"),
            mdl_environment=dict(type="str"),
            served_version=dict(type="str", required=True),
            requested_version=dict(type="str"),
            record=dict(type="dict"),
        ),
        supports_check_mode=True,
        required_together=[("mdl_instance_name", "mdl_environment")],
    )
    params = module.params
    try:
        stack = MdlStack(params["mdl_instance_name"], params["mdl_environment"])
        check_version(params["served_version"], "served_version")
        if params["requested_version"] is not None:
            check_version(params["requested_version"], "requested_version")
        record = params["record"]
        if record is not None:
            check_version(record.get("from_version"), "record.from_version")
            check_version(record.get("to_version"), "record.to_version")
            check_deployment_id(record.get("deployment_id"), "record.deployment_id")
    except InputError as e:
        module.fail_json(msg=str(e))

    plan = RollbackPlan(stack, _aws.client(module, "ssm"), _aws.client(module, "codedeploy"))
    try:
        with _watch.guarded():  # a stop of the run raises _watch.Interrupted here
            try:
                if record is not None:
                    written = record if module.check_mode else plan.write_record(
                        record["from_version"], record["to_version"], record["deployment_id"])
                    result = dict(changed=True, target_version=record["to_version"], rollback_needed=False,
                                  reason="recorded", record=written, served_version=params["served_version"])
                else:
                    result = dict(plan.plan(params["served_version"], params["requested_version"]), changed=False)
            except RollbackError as e:
                failure = e
            else:
                failure = None
    except _watch.Interrupted as e:
        if record is not None:
            done = ("the record of the rollback to HERD {0} (SSM {1}) may or may not have been written. Running this task "
                    "again writes it again, the same".format(record["to_version"], plan.record_name))
        else:
            done = "nothing was changed (the plan only reads). Running this task again plans again"
        module.fail_json(msg="Stack {0}: the rollback plan was stopped ({1}); {2}.".format(stack, e.reason, done),
                         interrupted=True, interrupted_reason=e.reason, served_version=params["served_version"])
    if failure is not None:
        if failure.exception is not None:
            module.fail_json_aws(failure.exception, msg=failure.msg, **failure.details)
        module.fail_json(msg=failure.msg, **failure.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
