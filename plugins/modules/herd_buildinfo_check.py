#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_buildinfo_check
short_description: Read the HERD version an MDL stack serves, and optionally wait for the expected one
version_added: 1.0.0
description:
  - Reads HERD's buildInfo (its build number is the HERD version) from the REST URL C(/herd-app/rest/buildInfo)
    (JSON or XML) or the HTML page C(/herd-app/displayBuildInfo).
  - HERD is found from O(url), or from the stack's CloudFormation (O(mdl_instance_name), O(mdl_environment)).
  - With O(expected_version), compares the version served with it and, with O(retries), keeps asking until it is
    served (a Blue/Green deployment rerouting traffic). Refused credentials, certificates that cannot be verified and
    answers that are not buildInfo fail at once, saying what to do.
  - Read-only. With O(url) and O(username)/O(password) it needs no AWS access.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  url:
    description:
      - Where HERD answers, the REST buildInfo URL (C(https://host/herd-app/rest/buildInfo)), the HTML page, or the
        base URL (C(https://host)). Without it, the URL comes from the stack's CloudFormation.
      - Must not hold credentials; use O(username) and O(password).
    type: str
  username:
    description:
      - The user for HTTP basic auth (when the stack has auth enabled), with O(password).
    type: str
  password:
    description:
      - The password of O(username). Never returned or logged.
    type: str
  credentials_from_ssm:
    description:
      - Read the stack's HERD admin user and password from SSM. Needs O(mdl_instance_name) and O(mdl_environment).
    type: bool
    default: false
  format:
    description:
      - How to read buildInfo. V(auto) asks for JSON and reads XML and HTML too; V(html) reads the page, which needs
        no credentials.
    type: str
    choices: [auto, json, xml, html]
    default: auto
  expected_version:
    description:
      - The HERD version to expect, for example V(0.176.0). The result then has RV(matches), and the module
        fails when the version served does not match after O(retries).
    type: str
  on_mismatch:
    description:
      - When the version served does not match O(expected_version), V(fail) asks again up to O(retries) times,
        then fails; V(report) returns RV(matches=false) without failing.
    type: str
    choices: [fail, report]
    default: fail
    version_added: 1.1.0
  report_active_deployment:
    description:
      - Also return the deployment under way in the stack's CodeDeploy group (RV(active_deployment)), so that one
        task tells whether there is anything to do.
    type: bool
    default: false
    version_added: 1.1.0
  report_upgrade_request:
    description:
      - Also return what the stack's SSM parameters ask the next HERD instance to install (RV(upgrade_request));
        after a failed upgrade they still ask for the version that failed.
    type: bool
    default: false
    version_added: 1.1.0
  compare:
    description:
      - V(equal) wants O(expected_version); V(at_least) accepts it or a later one, compared the Maven way
        (C(0.9.0 < 0.10.0), C(0.176 = 0.176.0)).
    type: str
    choices: [equal, at_least]
    default: equal
  retries:
    description:
      - How many more times to ask when the answer is not the expected version, or HERD cannot be reached or
        answers 429 or 5xx. V(0) asks once.
    type: int
    default: 0
  delay:
    description:
      - Seconds between two attempts. More than V(0) when O(retries) is set.
    type: float
    default: 5
  timeout:
    description:
      - Seconds to wait for each HTTP answer (connection and read).
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the TLS certificates of HERD and AWS. Rather than V(false), set O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to verify HERD's certificate with (a private CA).
    type: path
notes:
  - The AWS permissions of each option are in the collection's C(docs/permissions.md).
requirements:
  - requests
seealso:
  - module: mdl.herd.herd_upgrade_invoke
    description: Start the upgrade of HERD on the stack (the version to expect here afterwards).
  - module: mdl.herd.codedeploy_wait
    description: Follow the Blue/Green deployment to its end before checking the version.
extends_documentation_fragment:
  - mdl.herd.stack
  - mdl.herd.attributes
  - mdl.herd.attributes.check_mode_full
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    details: The module only reads (CloudFormation, SSM, HERD); check mode runs it exactly as a normal run, retries included.
"""

EXAMPLES = r"""
- name: Read the version HERD serves (no AWS access needed)
  mdl.herd.herd_buildinfo_check:
    url: https://herd.dev.example.com/herd-app/rest/buildInfo
    username: "{{ herd_admin_user }}"
    password: "{{ herd_admin_password }}"
  register: herd

- name: Show it
  ansible.builtin.debug:
    msg: "HERD {{ herd.build_number }}, built {{ herd.build_date }} by {{ herd.build_user }}"

- name: Read the open HTML page of a stack with a private CA
  mdl.herd.herd_buildinfo_check:
    url: https://herd.dev.example.com
    format: html
    ca_path: /etc/pki/mdl/ca.pem

- name: Find HERD through CloudFormation, credentials from SSM, and wait for the upgrade to be served
  mdl.herd.herd_buildinfo_check:
    mdl_instance_name: mdl
    mdl_environment: DEV
    region: us-east-1
    credentials_from_ssm: true
    expected_version: 0.176.0
    retries: 60
    delay: 10

- name: Is there anything to do? At the version, and no deployment of it still running
  mdl.herd.herd_buildinfo_check:
    mdl_instance_name: mdl
    mdl_environment: DEV
    region: us-east-1
    credentials_from_ssm: true
    expected_version: 0.176.0
    on_mismatch: report
    report_active_deployment: true
  register: herd_now

- name: Say so
  ansible.builtin.debug:
    msg: >-
      {{ 'nothing to do' if herd_now.matches and herd_now.active_deployment is none
         else 'HERD serves ' ~ herd_now.build_number ~ '; deployment under way: '
              ~ (herd_now.active_deployment.deployment_id | default('none')) }}

- name: Accept this version or a later one
  mdl.herd.herd_buildinfo_check:
    mdl_instance_name: mdl
    mdl_environment: PROD
    region: us-east-1
    credentials_from_ssm: true
    expected_version: 0.176.0
    compare: at_least
"""

RETURN = r"""
build_number:
  description: The HERD version served (buildInfo's C(buildNumber)), as HERD reports it.
  returned: when HERD answered with buildInfo
  type: str
  sample: 0.176.0
build_user:
  description: Who built this HERD (buildInfo's C(buildUser)).
  returned: when HERD answered with buildInfo
  type: str
  sample: jenkins
build_date:
  description: When this HERD was built (buildInfo's C(buildDate), or the page's C(Build Time)), as HERD reports it.
  returned: when HERD answered with buildInfo
  type: str
  sample: "2024-03-05T14:21:07Z"
url:
  description: The URL read (discovered, or derived from O(url) and O(format)).
  returned: when the URL is known
  type: str
  sample: https://herd.dev.example.com/herd-app/rest/buildInfo
format:
  description: The format of the answer read, V(json), V(xml) or V(html).
  returned: when HERD answered with buildInfo
  type: str
  sample: json
status_code:
  description: The HTTP status of the last answer (none when HERD could not be reached).
  returned: when HERD was asked
  type: int
  sample: 200
matches:
  description: Whether the version served matches O(expected_version) (with O(compare)).
  returned: when O(expected_version) is given and HERD answered with buildInfo
  type: bool
  sample: true
attempts:
  description: How many times HERD was asked.
  returned: when HERD was asked
  type: int
  sample: 1
elapsed_seconds:
  description: Seconds from the first question to the last answer.
  returned: when HERD was asked
  type: float
  sample: 0.042
active_deployment:
  description:
    - The deployment under way (status Created, Queued, InProgress, Baking or Ready) in the stack's
      CodeDeploy group, the newest if CodeDeploy lists several; V(null) when none is.
  returned: when O(report_active_deployment=true)
  type: dict
  contains:
    deployment_id:
      description: The deployment's id.
      type: str
      sample: d-4ZRG75IGH
    status:
      description: Its CodeDeploy status.
      type: str
      sample: InProgress
    create_time:
      description: When it was created (ISO 8601).
      type: str
      sample: "2026-12-01T14:03:07.000+00:00"
  version_added: 1.1.0
upgrade_request:
  description:
    - What the stack's SSM parameters ask the next HERD instance to install.
    - V(null), with a warning, when the credentials may not read them (C(ssm:GetParameters)).
  returned: when O(report_upgrade_request=true)
  type: dict
  contains:
    deployment_invoked:
      description:
        - C(HERD/DeploymentInvoked) as a boolean (V(null) when the parameter does not exist); V(true) means the
          next instance installs RV(upgrade_request.requested_version).
      type: bool
      sample: true
    requested_version:
      description: C(HERD/RequestedVersion), V(null) when it does not exist or holds C(FilledLater).
      type: str
      sample: 0.176.0
    current_version:
      description: C(HERD/CurrentVersion), the version the bundle installs otherwise.
      type: str
      sample: 0.170.0
  version_added: 1.1.0
cloudformation_stack_name:
  description: The CloudFormation stack whose output C(HerdLoadBalancerURL) gave the URL.
  returned: when the URL was discovered
  type: str
  sample: mdl-DEV-MdlStack-Herd-1ABCDEF2GHIJ
"""

try:
    import botocore
except ImportError:
    pass  # reported by AnsibleAWSModule

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mdl.herd.plugins.module_utils import _aws, _watch
from ansible_collections.mdl.herd.plugins.module_utils._discovery import DiscoveryError, active_deployment, upgrade_request
from ansible_collections.mdl.herd.plugins.module_utils._herd_http import HAS_REQUESTS
from ansible_collections.mdl.herd.plugins.module_utils._served import check_read_options, read_options, read_served
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack, check_version
from ansible_collections.mdl.herd.plugins.module_utils._version import COMPARE_CHOICES


def argument_spec():
    return dict(
        read_options(),
        mdl_instance_name=dict(type="str"),
        mdl_environment=dict(type="str"),
        expected_version=dict(type="str"),
        compare=dict(type="str", choices=list(COMPARE_CHOICES), default="equal"),
        on_mismatch=dict(type="str", choices=["fail", "report"], default="fail"),
        report_active_deployment=dict(type="bool", default=False),
        report_upgrade_request=dict(type="bool", default=False),
    )


def check_options(params):
    """Fail-fast checks ansible's spec cannot express; returns (stack or None, location or None, verify)."""
    if params["expected_version"] is not None:
        check_version(params["expected_version"], option="expected_version")
    stack = None
    if params["mdl_instance_name"] is not None:
        stack = MdlStack(params["mdl_instance_name"], params["mdl_environment"])
    location, verify = check_read_options(params, stack)
    return stack, location, verify


def deployment_under_way(module, stack):
    """The deployment under way in the stack's CodeDeploy group, or None."""
    try:
        return active_deployment(_aws.client(module, "codedeploy"), stack)
    except DiscoveryError as e:
        module.fail_json(msg="{0} (region {1})".format(e, module.region))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not list the deployments under way in the CodeDeploy group of {0} in region {1}".format(
            stack, module.region))


def stack_upgrade_request(module, stack):
    """What the stack's SSM parameters ask the next HERD instance to install; None, with a warning, when the
    credentials may not read them (an optional report: the version served is still returned)."""
    try:
        return upgrade_request(_aws.client(module, "ssm"), stack)
    except is_boto3_error_code(_aws.ACCESS_DENIED_ERROR_CODES):
        _aws.warn("The credentials may not read the upgrade parameters of stack {0} (ssm:GetParameters on "
                  "HERD/DeploymentInvoked, HERD/RequestedVersion, HERD/CurrentVersion): upgrade_request is null".format(stack))
        return None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        module.fail_json_aws(e, msg="Could not read the upgrade parameters (HERD/DeploymentInvoked, HERD/RequestedVersion) "
                                    "of stack {0} from SSM in region {1}".format(stack, module.region))


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_one_of=[("url", "mdl_instance_name")],
        required_together=[("mdl_instance_name", "mdl_environment"), ("username", "password")],
        required_if=[("credentials_from_ssm", True, ("mdl_instance_name", "mdl_environment")),
                     ("report_active_deployment", True, ("mdl_instance_name", "mdl_environment")),
                     ("report_upgrade_request", True, ("mdl_instance_name", "mdl_environment"))],
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"))
    params = module.params
    try:
        stack, location, verify = check_options(params)
    except ValueError as e:  # locate()'s, and InputError, a ValueError
        module.fail_json(msg=str(e))

    try:
        with _watch.guarded():  # a stop of the run raises _watch.Interrupted here
            result = read_served(module, stack, params, location, verify, expected_version=params["expected_version"],
                                 compare=params["compare"], wait_for_match=params["on_mismatch"] == "fail")
            if params["report_active_deployment"]:
                result["active_deployment"] = deployment_under_way(module, stack)
            if params["report_upgrade_request"]:
                result["upgrade_request"] = stack_upgrade_request(module, stack)
    except _watch.Interrupted as e:
        where = "Stack {0}".format(stack) if stack is not None else "HERD at {0}".format(params["url"])
        module.fail_json(msg="{0}: reading the HERD version served was stopped ({1}); nothing was changed (this task only "
                             "reads). Running this task again reads it again.".format(where, e.reason),
                         interrupted=True, interrupted_reason=e.reason)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
