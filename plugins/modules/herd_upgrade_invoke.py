#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: herd_upgrade_invoke
short_description: Start the Blue/Green upgrade of HERD on an MDL stack, once and only once
version_added: 1.0.0
description:
  - Invokes the upgrade Lambda of an MDL stack with the requested HERD version and returns the id of the
    CodeDeploy Blue/Green deployment it started, to follow with M(mdl.herd.codedeploy_wait).
  - Safe to run again. When a deployment of O(requested_version) is under way, it returns that one
    (RV(attached=true), C(changed=false)) and invokes nothing. The invoke is sent once, never retried.
  - How it works inside is in the collection's C(docs/design.md); the AWS permissions in C(docs/permissions.md).
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  function_name:
    description:
      - The upgrade Lambda (name or ARN), instead of the one MDL's naming gives for the stack. Without
        O(mdl_instance_name) and O(mdl_environment), the stack is read from the function's environment.
    type: str
  requested_version:
    description:
      - The HERD version to deploy, a Maven version as published, for example V(0.176.0) or V(1.0.0-RC1).
      - Checked before any AWS call; the function receives it exactly as given.
    type: str
    required: true
  served_version:
    description:
      - The version the stack serves now. When it equals O(requested_version), nothing is invoked
        (RV(already_served=true)). Mutually exclusive with O(buildinfo).
    type: str
  buildinfo:
    description:
      - Read the version HERD serves first, as M(mdl.herd.herd_buildinfo_check) does, and use it as
        O(served_version); returned as RV(served).
    type: dict
    version_added: 1.1.0
    suboptions:
      url:
        description: HERD's URL (default from CloudFormation).
        type: str
      username:
        description: HERD user (basic auth).
        type: str
      password:
        description: Its password.
        type: str
      credentials_from_ssm:
        description:
          - Credentials from the stack's SSM. With V(auto) O(buildinfo.format), the version is read from the open
            displayBuildInfo page; the credentials are read, and tried on buildInfo, only before a deployment is started.
        type: bool
        default: false
      format:
        description: How to read buildInfo.
        type: str
        choices: [auto, json, xml, html]
        default: auto
      retries:
        description: Retries when HERD is unreachable or busy.
        type: int
        default: 0
      delay:
        description: Seconds between attempts.
        type: float
        default: 5
      timeout:
        description: Seconds per HTTP answer.
        type: float
        default: 10
      validate_certs:
        description: Verify HERD's TLS certificate.
        type: bool
        default: true
      ca_path:
        description: CA bundle (PEM) for HERD.
        type: path
  allow_downgrade:
    description:
      - Invoke even when O(requested_version) is older than the version served (by default that fails).
    type: bool
    default: false
  preflight:
    description:
      - Checks run before the invoke, so that an unpublished version or a missing bundle fails in seconds, not
        minutes into the deployment. V(bundle) looks in the staging bucket, V(published) in O(artifact_repository).
        A check that cannot tell warns. V([]) runs none.
    type: list
    elements: str
    choices: [lambda, deployment_group, active_deployment, bundle, published]
    default: [lambda, deployment_group, active_deployment, bundle, published]
  artifact_repository:
    description:
      - The Maven repository the bundle downloads HERD from (your mirror, if it uses one).
    type: str
    default: https://repo1.maven.org/maven2
  artifact_repository_username:
    description: User for O(artifact_repository), when it needs HTTP basic auth.
    type: str
  artifact_repository_password:
    description: Password of O(artifact_repository_username). Never logged.
    type: str
  lock:
    description:
      - Hold the stack's upgrade lock (SSM C(HERD/UpgradeLock)) around the invoke, so that two runs never invoke
        at once. A run that finds it held waits O(lock_wait), then joins the other run's deployment of the same
        version, or fails naming the holder.
    type: bool
    default: true
  lock_wait:
    description: Seconds to wait for the upgrade lock held by another run (see O(lock)); 0 or more.
    type: int
    default: 120
  on_active_deployment:
    description:
      - When a deployment of O(requested_version) is under way, V(attach) returns it and V(fail) fails. One of
        another version always fails.
    type: str
    choices: [attach, fail]
    default: attach
notes:
  - Give O(mdl_instance_name) and O(mdl_environment), or O(function_name), or all three.
  - Check mode never invokes; C(changed=true) says it would.
  - An invoke without an answer in time is not retried; a re-run after the function's timeout attaches to its
    deployment.
seealso:
  - module: mdl.herd.codedeploy_wait
    description: Follow the deployment whose id this module returns to its end.
  - module: mdl.herd.herd_buildinfo_check
    description: Check which HERD version the stack serves, before and after the upgrade.
  - name: MDL tutorials, performing a zero-downtime upgrade on HERD
    description: The manual procedure this module automates (invoking the function and noting the deployment id).
    link: https://finraos.github.io/herd-mdl/tutorials/
extends_documentation_fragment:
  - mdl.herd.stack
  - mdl.herd.attributes
  - mdl.herd.attributes.check_mode_full
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Start the upgrade of HERD to 0.176.0 on mdl/DEV (or follow the one under way)
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: DEV
    requested_version: "0.176.0"
    region: us-east-1
  register: upgrade

- name: Follow the Blue/Green deployment to its end
  mdl.herd.codedeploy_wait:
    deployment_id: "{{ upgrade.deployment_id }}"
    region: us-east-1

- name: Name the function instead (the stack's words are read from its environment)
  mdl.herd.herd_upgrade_invoke:
    function_name: arn:aws:lambda:us-east-1:123456789012:function:mdl-Herd-QA-UPGRADE-HERD-LAMBDA-FUNCTION
    requested_version: "0.176.0"
    region: us-east-1

- name: Refuse to go on when an upgrade is already under way
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: PROD
    requested_version: "0.176.0"
    on_active_deployment: fail
    profile: mdl-prod
    region: us-east-1

- name: Read what HERD serves now
  mdl.herd.herd_buildinfo_check:
    mdl_instance_name: mdl
    mdl_environment: DEV
    region: us-east-1
  register: herd_now

- name: Upgrade only if HERD does not serve 0.176.0 yet (and join a deployment of it still under way)
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: DEV
    requested_version: "0.176.0"
    served_version: "{{ herd_now.build_number }}"
    region: us-east-1
  register: upgrade

- name: The same in one task, HERD read first (found through CloudFormation, credentials from SSM)
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: DEV
    requested_version: "0.176.0"
    buildinfo:
      credentials_from_ssm: true
      retries: 6
      delay: 5
    region: us-east-1
  register: upgrade

- name: See what would happen, without invoking anything
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: PROD
    requested_version: "0.176.0"
    profile: mdl-prod
    region: us-east-1
  check_mode: true
  register: plan

- name: Say it
  ansible.builtin.debug:
    msg: "{{ 'would follow deployment ' ~ plan.deployment_id if plan.attached else 'would start a deployment' }}"
"""

RETURN = r"""
deployment_id:
  description:
    - The id of the CodeDeploy deployment started by the invoke, or of the active deployment attached to.
    - V(null) in check mode when the module would invoke.
  returned: success
  type: str
  sample: d-ABCDE1234
deployment_id_source:
  description:
    - Where RV(deployment_id) came from. V(log) is the function's log, V(ssm) the SSM parameter
      C(HERD/MostRecentDeploymentId) (when the log tail lost the line), V(active_deployment) the active
      deployment attached to, V(interrupted_invoke) the deployment an earlier run's interrupted Invoke started,
      found once it had ended (RV(deployment_status) says how).
    - V(null) in check mode when the module would invoke.
  returned: success
  type: str
  sample: log
attached:
  description: Whether the module attached to a deployment of O(requested_version) already under way instead of invoking.
  returned: success
  type: bool
  sample: false
preflight:
  description:
    - The outcome of each check of O(preflight) that ran; empty when none ran.
    - V(ok); V(cannot tell) and why (the check asked, and the answer cannot tell; with a warning); or V(not checked) and
      why (the check could not ask, for example V(lambda) and V(bundle) without C(lambda:GetFunctionConfiguration)).
  returned: success
  type: dict
  sample: {"lambda": "ok", "deployment_group": "ok", "active_deployment": "ok", "bundle": "ok", "published": "ok"}
downgrade:
  description: V(true) when the module invoked (or would invoke) for a version older than O(served_version), as O(allow_downgrade) allowed.
  returned: success
  type: bool
  sample: false
already_served:
  description:
    - V(true) when O(served_version) is O(requested_version) and no deployment is under way, so there is nothing to do
      or to follow (RV(deployment_id) is V(null)).
  returned: success
  type: bool
  sample: false
deployment_status:
  description:
    - The CodeDeploy status of the deployment (V(Created), V(Queued), V(InProgress), V(Baking), V(Ready), ...),
      when the module read it, that is when it attached or took the id from SSM; V(null) otherwise.
  returned: success
  type: str
  sample: InProgress
deployment_create_time:
  description: When the deployment was created (ISO 8601, UTC), when the module read it (as for RV(deployment_status)).
  returned: success
  type: str
  sample: "2024-05-02T14:03:27.512+00:00"
function_name:
  description: The name of the upgrade Lambda.
  returned: always
  type: str
  sample: mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION
mdl_instance_name:
  description: The MDL instance name of the stack, as given or as read from the function's environment.
  returned: always
  type: str
  sample: mdl
mdl_environment:
  description: The environment of the stack, as given or as read from the function's environment.
  returned: always
  type: str
  sample: DEV
requested_version:
  description: The HERD version requested.
  returned: always
  type: str
  sample: 0.176.0
previous_deployment_id:
  description:
    - The value of SSM C(HERD/MostRecentDeploymentId) just before the invoke (in check mode, when the module
      would invoke), V(null) when the parameter did not exist, holds C(FilledLater) (a stack never upgraded, as
      its template creates it) or the module attached.
  returned: success
  type: str
  sample: d-ZYXWV9876
log_lines:
  description:
    - The lines of the last 4 KB of the function's log, as Lambda returned them (broken characters replaced).
      Empty when the module did not invoke.
  returned: success, and on failure after the invoke
  type: list
  elements: str
  sample:
    - "START RequestId: 7f9c2ba4-e5a6-4e0b-8f2c-1d3e4f5a6b7c Version: $LATEST"
    - "INFO: CodeDeploy Blue/Green upgrade initiated."
    - "INFO: Deployment id is: 'd-ABCDE1234'."
    - "END RequestId: 7f9c2ba4-e5a6-4e0b-8f2c-1d3e4f5a6b7c"
request_id:
  description:
    - The request id of the invocation, to find its log in CloudWatch (C(/aws/lambda/{function_name})),
      as the log's C(START), C(END) and C(REPORT) lines name it (else as Lambda's answer does).
      V(null) when the module did not invoke.
  returned: success, and on failure after the invoke
  type: str
  sample: 7f9c2ba4-e5a6-4e0b-8f2c-1d3e4f5a6b7c
error_type:
  description: The type of the function's error, when it failed (for example V(KeyError), or V(ClientError) when one of its AWS calls failed).
  returned: failure, when the function failed
  type: str
  sample: KeyError
error_message:
  description: The message of the function's error, when it failed.
  returned: failure, when the function failed
  type: str
  sample: "'RequestedVersion'"
function_error:
  description: Lambda's C(FunctionError) for the invoke (V(Unhandled) for an exception the function raised).
  returned: failure, when the function failed
  type: str
  sample: Unhandled
served:
  description:
    - What HERD answered when read first, with O(buildinfo); the keys are those
      M(mdl.herd.herd_buildinfo_check) returns (RV(served.build_number), RV(served.url), and so on).
  returned: when O(buildinfo) is given
  type: dict
  version_added: 1.1.0
  contains:
    build_number:
      description: The HERD version served.
      type: str
      sample: 0.170.0
    url:
      description: The URL read.
      type: str
      sample: https://herd.dev.example.com/herd-app/rest/buildInfo
    attempts:
      description: How many times HERD was asked.
      type: int
      sample: 1
interrupted_invoke:
  description:
    - The lock an earlier run left when it was stopped during its Invoke of this version, and what this run did with
      it (joined the deployment of that Invoke, RV(interrupted_invoke.lock_removed)).
  returned: when such a lock was found and its deployment joined
  type: dict
  version_added: 1.1.0
  contains:
    version:
      description: The version of the interrupted Invoke.
      type: str
      sample: 0.176.0
    invoked_at:
      description: When that Invoke was sent (ISO 8601, UTC, AWS's clock).
      type: str
      sample: "2026-12-05T09:10:03.000+00:00"
    deployment_id:
      description: The deployment it started, joined by this run.
      type: str
      sample: d-ABCDE1234
    lock_removed:
      description: Whether this run removed that lock.
      type: bool
      sample: true
lock_waited_seconds:
  description: Seconds this run waited for the upgrade lock (another run's, or the deployment of an interrupted Invoke).
  returned: when the module took the lock
  type: float
  sample: 0.0
active_requested_version:
  description:
    - The version of the active deployment found, as SSM tells it (C(HERD/RequestedVersion), or C(HERD/CurrentVersion)
      once the smoke test reset the former to C(FilledLater)); V(null) when it cannot be told.
  returned: when an active deployment was found
  type: str
  sample: 0.175.0
"""

import re
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import requests  # the published check of the preflight talks HTTP to the artifact repository
except ImportError:
    requests = None
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    REQUESTS_IMPORT_ERROR = None
HAS_REQUESTS = requests is not None

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mdl.herd.plugins.module_utils import _aws, _watch
from ansible_collections.mdl.herd.plugins.module_utils._stack import MAVEN_CENTRAL, PREFLIGHT_CHECKS, InputError, check_request, check_version
from ansible_collections.mdl.herd.plugins.module_utils._served import check_read_options, read_first, read_options
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import (
    AwsFailure,
    LockError,
    UpgradeFailure,
    UpgradeInvocation,
    start_or_join,
)


def argument_spec():
    return dict(
        mdl_instance_name=dict(type="str"),
        mdl_environment=dict(type="str"),
        function_name=dict(type="str"),
        requested_version=dict(type="str", required=True),
        on_active_deployment=dict(type="str", default="attach", choices=["attach", "fail"]),
        served_version=dict(type="str"),
        buildinfo=dict(type="dict", options=read_options()),
        allow_downgrade=dict(type="bool", default=False),
        lock=dict(type="bool", default=True),
        lock_wait=dict(type="int", default=120),
        preflight=dict(type="list", elements="str", choices=list(PREFLIGHT_CHECKS), default=list(PREFLIGHT_CHECKS)),
        artifact_repository=dict(type="str", default=MAVEN_CENTRAL),
        artifact_repository_username=dict(type="str"),
        artifact_repository_password=dict(type="str", no_log=True),
    )


def check_options(module):
    """(stack, function_name, requested_version, buildinfo location, verify): bad input fails here, before any AWS call."""
    location = verify = None
    try:
        stack, function_name, requested_version = check_request(module.params, region=module.region)
        served_version = module.params["served_version"]
        if served_version is not None:
            check_version(served_version, "served_version")
        if not re.match(r"^https?://[^/\s]+", module.params["artifact_repository"] or ""):
            raise InputError("artifact_repository must be an http:// or https:// URL (for example {0}); got {1!r}".format(
                MAVEN_CENTRAL, module.params["artifact_repository"]))
        if module.params["lock_wait"] < 0:
            raise InputError("lock_wait must be 0 or more seconds; got {0}".format(module.params["lock_wait"]))
        buildinfo = module.params["buildinfo"]
        if buildinfo is not None:
            location, verify = check_read_options(buildinfo, stack, prefix="buildinfo.")
    except (InputError, ValueError) as e:  # InputError is a ValueError; locate()'s too
        module.fail_json(msg=str(e))
    if "published" in module.params["preflight"] and not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    return stack, function_name, requested_version, location, verify


def build_upgrade(module, stack, function_name, requested_version):
    """The invocation, its lock (or None) and the run of its preflight checks (or None).

    Built before the run is watched, without any AWS call: the no-op (HERD already serves the version) needs
    CodeDeploy only, and each client is built on first use."""
    ssm = _aws.lazy_client(module, "ssm")
    upgrade = UpgradeInvocation(
        requested_version,
        stack=stack,
        function_name=function_name,
        lambda_client=_aws.lazy_client(module, "lambda"),
        codedeploy=_aws.lazy_client(module, "codedeploy"),
        ssm=ssm,
        invoke_client=lambda read_timeout: _aws.no_retry_client(module, "lambda", read_timeout),
        warn=_aws.warn,
    )
    lock = None
    if module.params["lock"]:
        def lock(stale_after):
            # imported here: a run that neither invokes nor joins (the no-op) takes no lock, and imports less
            from ansible_collections.mdl.herd.plugins.module_utils._lock import UpgradeLock
            return UpgradeLock(ssm, upgrade.stack, requested_version, stale_after)
    preflight = None
    if module.params["preflight"]:
        def preflight():
            # imported here: only a run that goes on to invoke runs the checks
            from ansible_collections.mdl.herd.plugins.module_utils._preflight import Preflight
            return Preflight(upgrade, module.params["preflight"], codedeploy=upgrade.codedeploy, s3=_aws.lazy_client(module, "s3"),
                             repository=module.params["artifact_repository"],
                             username=module.params["artifact_repository_username"],
                             password=module.params["artifact_repository_password"], warn=_aws.warn).run()
    return upgrade, lock, preflight


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_together=[("mdl_instance_name", "mdl_environment")],
        required_one_of=[("mdl_instance_name", "function_name")],
        mutually_exclusive=[("served_version", "buildinfo")],
    )
    stack, function_name, requested_version, location, verify = check_options(module)
    buildinfo = module.params["buildinfo"]
    upgrade, lock, preflight = build_upgrade(module, stack, function_name, requested_version)
    known = {}  # what HERD answered, returned by every outcome, failures included

    def run():
        """The run's work; a stop of the run raises _watch.Interrupted in it."""
        served_version, confirm = module.params["served_version"], None
        if buildinfo is not None:
            # before anything else: nothing is invoked when HERD cannot be read (nor with credentials that do not work)
            known["served"], confirm = read_first(module, stack, buildinfo, location, verify)
            served_version = known["served"].get("build_number")
        try:
            result = start_or_join(
                upgrade, served_version=served_version, allow_downgrade=module.params["allow_downgrade"],
                on_active_deployment=module.params["on_active_deployment"], check_mode=module.check_mode,
                lock=lock, lock_wait=module.params["lock_wait"], warn=_aws.warn, preflight=preflight, confirm_read=confirm,
            )
        except LockError as e:
            return lambda e=e: module.fail_json_aws(
                e.exception, msg="{0} of stack {1}; nothing was invoked. Run this task again.".format(e.msg, upgrade.stack), **known)
        except AwsFailure as e:
            return lambda e=e: module.fail_json_aws(e.exception, msg=e.msg, **dict(e.details, **known))
        except UpgradeFailure as e:
            return lambda e=e: module.fail_json(msg=e.msg, **dict(e.details, **known))
        return lambda: module.exit_json(**dict(result, **known))

    try:
        with _watch.guarded():
            end = run()
    except _watch.Interrupted as e:  # the lock was released, or left marked, on the way out
        from ansible_collections.mdl.herd.plugins.module_utils._invoke import interruption
        failure = interruption(upgrade, e.reason)
        module.fail_json(msg=failure.msg, **dict(failure.details, **known))
    end()


if __name__ == "__main__":
    main()
