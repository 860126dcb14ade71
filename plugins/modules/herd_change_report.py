#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_change_report
short_description: Write the report of a HERD upgrade or rollback of an MDL stack, for a change record
version_added: 1.1.0
description:
  - Writes, to O(report_dir) on the host it runs on, a Markdown report and the same data as JSON, named
    C({instance}-{environment}-{operation}-{time}.md) and C(.json), that a change board attaches to its record.
  - The report names the stack, who ran it and from where (the user and host the module runs as, the AWX job and
    template from O(awx)), the versions before and after, the deployment and rollback with their statuses, the four
    Blue/Green steps and every lifecycle event with CodeDeploy's own times, the zero-downtime probe's figures with one
    character a second, the failure when there is one, and the command that repeats the run.
  - The command is rebuilt from O(inputs), leaving out every input whose name says it is a secret (password, secret,
    token, session, private).
  - Used by the role C(mdl.herd.herd_upgrade) and the playbook C(mdl.herd.rollback_herd) when
    C(herd_upgrade_report_dir) is set. It reads nothing from AWS.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  report_dir:
    description: The directory the two files are written to; created when missing.
    type: path
    required: true
  operation:
    description: What the report is of.
    type: str
    choices: [upgrade, rollback]
    default: upgrade
  result:
    description:
      - The outcome, as the role's C(herd_upgrade_result) has it (C(stack), C(mdl_instance_name), C(mdl_environment),
        C(outcome), C(requested_version), C(from_version), C(to_version), C(deployment_id), C(message), ...).
    type: dict
    required: true
  deployment:
    description: What M(mdl.herd.codedeploy_wait) returned for the deployment, for its steps, events and probe.
    type: dict
  rollback:
    description: What M(mdl.herd.codedeploy_wait) returned for CodeDeploy's rollback of a failed deployment.
    type: dict
  inputs:
    description:
      - The run's inputs, in the order the repeat command gives them, for example C(herd_version),
        C(mdl_instance_name), C(mdl_environment). Empty values and secrets are left out.
    type: dict
  playbook:
    description: The playbook the repeat command runs.
    type: str
    default: mdl.herd.upgrade_herd
  awx:
    description: The AWX (Automation Controller) job, when the run is one; keys C(job_id) and C(job_template_name).
    type: dict
  max_markdown_chars:
    description:
      - The most characters of Markdown returned in RV(markdown) (the files hold it all); an AWX job's artifacts
        carry it. V(0) returns it all.
    type: int
    default: 20000
notes:
  - In check mode, nothing is written; the paths the files would have are returned.
seealso:
  - module: mdl.herd.codedeploy_wait
    description: What the report's deployment part is made of.
extends_documentation_fragment:
  - mdl.herd.attributes.check_mode_full
  - mdl.herd.attributes.no_diff
"""

EXAMPLES = r"""
- name: Upgrade HERD, keeping the deployment's details
  ansible.builtin.import_role:
    name: mdl.herd.herd_upgrade
  vars:
    herd_upgrade_mdl_instance_name: mdl
    herd_upgrade_mdl_environment: DEV
    herd_upgrade_version: 0.176.0
    # the role writes the report itself when this is set
    herd_upgrade_report_dir: /var/lib/herd-reports

- name: Write a report of a result kept earlier
  mdl.herd.herd_change_report:
    report_dir: /tmp/herd-reports
    result: "{{ herd_upgrade_result }}"
    inputs:
      herd_version: 0.176.0
      mdl_instance_name: mdl
      mdl_environment: DEV
"""

RETURN = r"""
markdown_path:
  description: The Markdown report.
  returned: always
  type: str
  sample: /tmp/herd-reports/mdl-DEV-upgrade-20261205T141500Z.md
json_path:
  description: The same report as JSON.
  returned: always
  type: str
  sample: /tmp/herd-reports/mdl-DEV-upgrade-20261205T141500Z.json
report:
  description:
    - The report's data, as in the JSON file; see C(docs/reports.md) in the collection for every key.
  returned: always
  type: dict
  sample: {"stack": "mdl/DEV", "operation": "upgrade", "outcome": "upgraded", "from_version": "0.175.0",
           "to_version": "0.176.0"}
markdown:
  description: The Markdown report, cut to O(max_markdown_chars).
  returned: always
  type: str
"""

import getpass
import os
import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mdl.herd.plugins.module_utils import _report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            report_dir=dict(type="path", required=True),
            operation=dict(type="str", choices=["upgrade", "rollback"], default="upgrade"),
            result=dict(type="dict", required=True),
            deployment=dict(type="dict"),
            rollback=dict(type="dict"),
            inputs=dict(type="dict"),
            playbook=dict(type="str", default="mdl.herd.upgrade_herd"),
            awx=dict(type="dict"),
            max_markdown_chars=dict(type="int", default=20000),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = params["result"]
    for key in ("stack", "mdl_instance_name", "mdl_environment", "outcome"):
        if not result.get(key):
            module.fail_json(msg="result must be the role's herd_upgrade_result, with the key {0}; got the keys {1}".format(
                key, ", ".join(sorted(result)) or "none"))
    awx = params["awx"] or {}
    run = {"user": getpass.getuser(), "controller_host": socket.gethostname(),
           "awx_job_id": awx.get("job_id") or None, "awx_job_template_name": awx.get("job_template_name") or None}
    report = _report.build(params["operation"], result, run, deployment=params["deployment"],
                           rollback=params["rollback"],
                           command=_report.repeat_command(params["playbook"], params["inputs"]))
    text = _report.markdown(report)
    directory = params["report_dir"]
    if module.check_mode:
        stem = os.path.join(directory, _report.file_stem(report))
        paths = (stem + ".md", stem + ".json")
    else:
        try:
            paths = _report.write(directory, report)
        except OSError as e:
            module.fail_json(msg="Stack {0}: could not write the report to {1} (herd_upgrade_report_dir): {2}. Nothing "
                                 "else was changed; the {3} itself is done as its result says.".format(
                                     result["stack"], directory, e, params["operation"]))
    module.exit_json(changed=not module.check_mode, markdown_path=paths[0], json_path=paths[1], report=report,
                     markdown=_report.capped(text, params["max_markdown_chars"]))


if __name__ == "__main__":
    main()
