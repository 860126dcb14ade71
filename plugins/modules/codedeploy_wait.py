#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: codedeploy_wait
short_description: Follow a CodeDeploy Blue/Green deployment to its end, with live progress
version_added: 1.0.0
description:
  - Waits for a CodeDeploy deployment (the one the upgrade Lambda of an MDL stack starts) to succeed,
    or only to reroute traffic to the replacement instances, and reports how it went.
  - Follows the four steps of a Blue/Green deployment as the CodeDeploy console shows them, with their times
    (of an in-place deployment, its lifecycle events).
  - >-
    While it waits, the task prints a line for each status change, step start and lifecycle event, for example
    "d-ABCDE1234 step 1/4 Deploying replacement instances: ApplicationStart on i-0123 (2m10s)", and at least one a
    minute. The lines show without C(-v), on the command line and in AWX job output.
  - When the deployment fails or is stopped, the task fails with the lifecycle event that failed, the instance,
    the script, the last lines of its log and the rollback deployment with its status.
  - Throttling and transient errors are retried. The collection's C(docs/design.md) says how often it reads what.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  deployment_id:
    description:
      - The CodeDeploy deployment to follow, for example the RV(mdl.herd.herd_upgrade_invoke#module:deployment_id)
        that M(mdl.herd.herd_upgrade_invoke) returns.
    type: str
    required: true
  wait_timeout:
    description:
      - Seconds to wait at most; then the task fails with the last known state (see O(on_timeout)).
    type: int
    default: 3600
  poll_interval:
    description:
      - >-
        Seconds between two reads of what changes (at least 0.5): each event is said within one O(poll_interval)
        of the time CodeDeploy records it.
    type: float
    default: 5.0
  wait_for:
    description:
      - V(success) waits for the status V(Succeeded).
      - V(traffic_rerouted) returns once the replacement instances serve the traffic (step 2 done).
    type: str
    choices: [success, traffic_rerouted]
    default: success
  on_timeout:
    description:
      - When O(wait_timeout) is over, V(fail) leaves the deployment running; V(stop) stops it; V(rollback) stops
        it with automatic rollback.
    type: str
    choices: [fail, stop, rollback]
    default: fail
  label:
    description:
      - Put in front of each progress line, for example the stack (V(mdl/DEV)).
    type: str
  probe_url:
    description:
      - While the deployment runs, ask this URL once per O(probe_interval) as a client would (for example
        C(https://host/herd-app/displayBuildInfo)), and return the zero-downtime report RV(zero_downtime).
      - Without O(probe_username) or O(probe_credentials_from_ssm), the probe asks the displayBuildInfo page of
        the HERD this URL names (its REST buildInfo URL or base URL too); RV(zero_downtime.url) is the URL probed.
    type: str
  probe_username:
    description:
      - HERD user to probe O(probe_url) with (HTTP basic auth), with O(probe_password).
    type: str
  probe_password:
    description:
      - The password of O(probe_username). Never returned or logged, also at C(-vvv).
    type: str
  probe_credentials_from_ssm:
    description:
      - Probe with the stack's HERD admin user, read from SSM. Needs O(mdl_instance_name) and O(mdl_environment).
    type: bool
    default: false
    version_added: 1.1.0
  probe_interval:
    description: Seconds between two probes of O(probe_url) (at least 0.2).
    type: float
    default: 1.0
  probe_ca_path:
    description: CA bundle to verify O(probe_url)'s certificate with.
    type: path
  probe_validate_certs:
    description: Verify O(probe_url)'s certificate.
    type: bool
    default: true
  expected_version:
    description:
      - The version the deployment installs. With O(probe_url), the module returns RV(served_version) and
        RV(served_matches) once the deployment has succeeded.
    type: str
    version_added: 1.1.0
notes:
  - The progress lines show when the module runs on the controller (as usual for AWS modules); not with C(async).
  - RV(api_calls) counts the requests sent to CodeDeploy, retries included.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - mdl.herd.stack
  - mdl.herd.attributes
  - mdl.herd.attributes.check_mode_full
attributes:
  check_mode:
    details: In check mode the module reads the deployment once and returns its state; it neither waits nor stops anything.
  action:
    description: Has an action plugin of the same name, which prints the progress lines on the controller.
    support: full
seealso:
  - module: mdl.herd.herd_upgrade_invoke
  - module: mdl.herd.herd_buildinfo_check
  - name: Working with deployments in CodeDeploy
    description: Blue/Green deployments on EC2, their steps and lifecycle events.
    link: https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-server.html
"""

EXAMPLES = r"""
- name: Start the upgrade of HERD on mdl/DEV
  mdl.herd.herd_upgrade_invoke:
    mdl_instance_name: mdl
    mdl_environment: DEV
    requested_version: 0.176.0
  register: upgrade

- name: Follow the Blue/Green deployment to the end
  mdl.herd.codedeploy_wait:
    deployment_id: "{{ upgrade.deployment_id }}"
  register: deployment

- name: Say how long it took
  ansible.builtin.debug:
    msg: "{{ deployment.deployment_id }} {{ deployment.status }} in {{ deployment.duration_seconds }} s"

- name: Return once the new fleet serves traffic; give up after 30 minutes and roll back
  mdl.herd.codedeploy_wait:
    deployment_id: "{{ upgrade.deployment_id }}"
    wait_for: traffic_rerouted
    wait_timeout: 1800
    on_timeout: rollback
    region: us-east-1

- name: Look at a deployment without waiting
  mdl.herd.codedeploy_wait:
    deployment_id: d-ABCDE1234
  check_mode: true
  register: where
"""

RETURN = r"""
deployment_id:
  description: The deployment followed.
  returned: always
  type: str
  sample: d-ABCDE1234
status:
  description:
    - The deployment's status when the task ended, one of V(Created), V(Queued), V(InProgress), V(Baking),
      V(Ready), V(Succeeded), V(Failed), V(Stopped).
  returned: always
  type: str
  sample: Succeeded
application_name:
  description: The CodeDeploy application.
  returned: when the deployment could be read
  type: str
  sample: mdl-Herd
deployment_group_name:
  description: The deployment group.
  returned: when the deployment could be read
  type: str
  sample: mdl-HerdDeployGroup
deployment_config_name:
  description: The deployment configuration.
  returned: when the deployment could be read
  type: str
  sample: CodeDeployDefault.AllAtOnce
deployment_type:
  description: V(BLUE_GREEN) or V(IN_PLACE).
  returned: when the deployment could be read
  type: str
  sample: BLUE_GREEN
creator:
  description: Who created the deployment, for example V(user), or V(codeDeployRollback) for a rollback.
  returned: when the deployment could be read
  type: str
  sample: user
create_time:
  description: When the deployment was created (ISO 8601).
  returned: when the deployment could be read
  type: str
  sample: "2026-11-26T13:00:01.000+00:00"
start_time:
  description: When the deployment started (ISO 8601); null before.
  returned: when the deployment could be read
  type: str
  sample: "2026-11-26T13:00:02.000+00:00"
complete_time:
  description: When the deployment ended (ISO 8601); null while it runs.
  returned: when the deployment could be read
  type: str
  sample: "2026-11-26T13:14:04.000+00:00"
duration_seconds:
  description: Seconds from the start (or creation) of the deployment to its end, or to now while it runs.
  returned: when the deployment could be read
  type: float
  sample: 842.0
steps:
  description:
    - The four steps of a Blue/Green deployment, in order. Empty for an in-place deployment.
  returned: when the deployment could be read
  type: list
  elements: dict
  contains:
    number:
      description: 1 to 4.
      type: int
      sample: 1
    name:
      description: The step's name as the CodeDeploy console shows it.
      type: str
      sample: Deploying replacement instances
    status:
      description: V(Pending), V(InProgress), V(Succeeded), V(Failed) or V(Skipped).
      type: str
      sample: Succeeded
    start_time:
      description: When the step started (ISO 8601), from the lifecycle events' times; null when unknown.
      type: str
      sample: "2026-11-26T13:00:02.000+00:00"
    end_time:
      description: When the step ended (ISO 8601); null while it runs.
      type: str
      sample: "2026-11-26T13:09:40.000+00:00"
current_activity:
  description: What the deployment was doing at the last read, in words; empty once it ended.
  returned: when the deployment could be read
  type: str
  sample: "ApplicationStart on i-0123456789abcdef0"
overview:
  description: How many instances are in each state (CodeDeploy's deploymentOverview).
  returned: when the deployment could be read
  type: dict
  contains:
    pending:
      description: Instances pending.
      type: int
      sample: 0
    in_progress:
      description: Instances in progress.
      type: int
      sample: 0
    succeeded:
      description: Instances done.
      type: int
      sample: 2
    failed:
      description: Instances failed.
      type: int
      sample: 0
    skipped:
      description: Instances skipped.
      type: int
      sample: 0
    ready:
      description: Replacement instances ready for traffic.
      type: int
      sample: 0
instances:
  description: The deployment's instances, original (Blue) first, at the last read.
  returned: when the deployment could be read
  type: list
  elements: dict
  contains:
    instance_id:
      description: The EC2 instance id.
      type: str
      sample: i-0123456789abcdef0
    label:
      description: V(Blue) for an original instance, V(Green) for a replacement; null for in-place deployments.
      type: str
      sample: Green
    status:
      description: The instance's deployment status.
      type: str
      sample: Succeeded
    last_updated_at:
      description: When CodeDeploy last updated the instance (ISO 8601).
      type: str
      sample: "2026-11-26T13:09:40.000+00:00"
    lifecycle_events:
      description: The instance's lifecycle events, in order.
      type: list
      elements: dict
      contains:
        name:
          description: The event, for example V(ApplicationStart).
          type: str
          sample: ValidateService
        status:
          description: V(Pending), V(InProgress), V(Succeeded), V(Failed), V(Skipped) or V(Unknown).
          type: str
          sample: Failed
        start_time:
          description: When it started (ISO 8601).
          type: str
          sample: "2026-11-26T13:08:10.000+00:00"
        end_time:
          description: When it ended (ISO 8601).
          type: str
          sample: "2026-11-26T13:08:40.000+00:00"
        diagnostics:
          description: What the CodeDeploy agent reported, when it did.
          type: dict
          returned: when CodeDeploy gives diagnostics
          contains:
            error_code:
              description: V(Success), V(ScriptMissing), V(ScriptNotExecutable), V(ScriptTimedOut), V(ScriptFailed) or V(UnknownError).
              type: str
              sample: ScriptFailed
            script_name:
              description: The script that ran.
              type: str
              sample: scripts/smokeTestHerd.sh
            message:
              description: The agent's message.
              type: str
              sample: Script at specified location scripts/smokeTestHerd.sh run as user mdladmin failed with exit code 1
            log_tail:
              description: The last 4 KB of the script's log.
              type: str
              sample: "[stdout]buildInfo reports 0.170.0, expected 0.176.0"
error_information:
  description: CodeDeploy's error for a failed or stopped deployment; empty otherwise.
  returned: when the deployment could be read
  type: dict
  contains:
    code:
      description: The error code.
      type: str
      sample: HEALTH_CONSTRAINTS
    message:
      description: The error message.
      type: str
      sample: The overall deployment failed because too many individual instances failed deployment.
zero_downtime:
  description:
    - What HERD answered a client during the wait, when O(probe_url) is set.
    - Two versions answering in turn during the switch (RV(zero_downtime.alternated)) is what a load balancer does
      while both target groups serve, not an outage.
  returned: when O(probe_url) is set
  type: dict
  contains:
    url:
      description: O(probe_url).
      type: str
      sample: https://herd.example.com/herd-app/displayBuildInfo
    probed:
      description: Whether the probe ran; V(false) in check mode or when its credentials could not be read.
      type: bool
      sample: true
    not_probed_reason:
      description: Why the probe did not run, or V(null).
      type: str
      sample: null
    requests:
      description: Requests sent.
      type: int
      sample: 840
    failures:
      description: Requests without a good answer (a 200 with a build number).
      type: int
      sample: 0
    failures_by_kind:
      description: Those failures by kind, V(5xx), V(refused), V(timeout), V(other).
      type: dict
      sample: {"5xx": 0, "refused": 0, "timeout": 0, "other": 0}
    longest_outage_seconds:
      description: The longest stretch from a failure to the next good answer.
      type: float
      sample: 0.0
    switched_at:
      description: When the first answer with another version came (ISO 8601, UTC), or V(null).
      type: str
      sample: "2026-12-01T09:30:12.345Z"
    versions_seen:
      description: The versions answered, in order (a version again after another is listed again).
      type: list
      elements: str
      sample: ["0.170.0", "0.176.0"]
    alternated:
      description: Whether a version came back after another (both served in turn).
      type: bool
      sample: false
    started_at:
      description: When the first request was sent (ISO 8601, UTC), or V(null).
      type: str
    availability:
      description:
        - One character a second from RV(zero_downtime.started_at) on, C(=) good answers with the version served first,
          C(+) good answers with another, C(x) a request without a good answer, C(.) no request.
      type: str
      sample: "====x++++"
served_version:
  description:
    - The version HERD served (O(probe_url)) when read once more after the deployment succeeded; V(null) when
      that read got no good answer.
  returned: when O(expected_version) and O(probe_url) are set and the deployment succeeded
  type: str
  sample: 0.176.0
  version_added: 1.1.0
served_matches:
  description: Whether RV(served_version) is O(expected_version), compared Maven-style.
  returned: when O(expected_version) and O(probe_url) are set and the deployment succeeded
  type: bool
  sample: true
  version_added: 1.1.0
rollback_info:
  description: The rollback of this deployment (or the deployment this one rolls back); empty when there is none.
  returned: when the deployment could be read
  type: dict
  contains:
    rollback_deployment_id:
      description: The rollback deployment.
      type: str
      sample: d-RBCKE1234
    rollback_deployment_status:
      description: The rollback deployment's status when the task ended.
      type: str
      sample: InProgress
    rollback_triggering_deployment_id:
      description: For a rollback deployment, the deployment it rolls back.
      type: str
      sample: null
    rollback_message:
      description: CodeDeploy's words on the rollback.
      type: str
      sample: null
status_messages:
  description: CodeDeploy's status messages for the deployment.
  returned: when the deployment could be read
  type: list
  elements: str
  sample: []
timeline:
  description:
    - Every status and step change, oldest first. Times come from CodeDeploy's own records (creation, start and
      completion times, lifecycle event times) when it has them, otherwise from when the module saw the change.
  returned: always
  type: list
  elements: dict
  contains:
    time:
      description: When it happened (ISO 8601).
      type: str
      sample: "2026-11-26T13:09:40.000+00:00"
    status:
      description: The new status of the deployment, or of the step.
      type: str
      sample: Succeeded
    step:
      description: The step's number, for a step change.
      type: int
      returned: for step changes
      sample: 1
    name:
      description: The step's name, for a step change.
      type: str
      returned: for step changes
      sample: Deploying replacement instances
    message:
      description: The change in words.
      type: str
      sample: "step 1/4 Deploying replacement instances: Succeeded"
api_calls:
  description: Requests sent to CodeDeploy by this task, retries included, by operation and in total.
  returned: always
  type: dict
  sample: {"get_deployment": 231, "list_deployment_targets": 2, "batch_get_deployment_targets": 9, "total": 242}
waited_seconds:
  description: How long the task waited.
  returned: always
  type: float
  sample: 838.4
timed_out:
  description: Whether O(wait_timeout) ran out.
  returned: always
  type: bool
  sample: false
stop:
  description: What O(on_timeout=stop) or O(on_timeout=rollback) did.
  returned: when the wait timed out and on_timeout is stop or rollback
  type: dict
  contains:
    action:
      description: V(stop) or V(rollback).
      type: str
      sample: rollback
    status:
      description: CodeDeploy's answer to StopDeployment, V(Pending) or V(Succeeded).
      type: str
      sample: Pending
    status_message:
      description: CodeDeploy's message.
      type: str
      sample: Stop request for the deployment is being processed
    already_completed:
      description: True when the deployment had ended before the stop.
      type: bool
      returned: when it had
      sample: true
"""

import os

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.mdl.herd.plugins.module_utils import _aws
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_follower import (
    DEFAULT_POLL_INTERVAL,
    ON_TIMEOUT_CHOICES,
    WAIT_FOR_CHOICES,
    Follower,
    check_wait_options,
)
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import DeploymentMissing, DeploymentReader, poll_retry
from ansible_collections.mdl.herd.plugins.module_utils._discovery import DiscoveryError, read_credentials
from ansible_collections.mdl.herd.plugins.module_utils._herd_http import locate
from ansible_collections.mdl.herd.plugins.module_utils._probe import MIN_PROBE_INTERVAL, Probe, not_probed
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack, check_deployment_id, check_version
from ansible_collections.mdl.herd.plugins.module_utils._version import satisfies
from ansible_collections.mdl.herd.plugins.module_utils import _watch
from ansible_collections.mdl.herd.plugins.module_utils._watch import PROGRESS_FILE_VARIABLE


def argument_spec():
    return dict(
        deployment_id=dict(type="str", required=True),
        wait_timeout=dict(type="int", default=3600),
        poll_interval=dict(type="float", default=DEFAULT_POLL_INTERVAL),
        wait_for=dict(type="str", choices=list(WAIT_FOR_CHOICES), default="success"),
        on_timeout=dict(type="str", choices=list(ON_TIMEOUT_CHOICES), default="fail"),
        label=dict(type="str"),
        mdl_instance_name=dict(type="str"),
        mdl_environment=dict(type="str"),
        probe_url=dict(type="str"),
        probe_username=dict(type="str"),
        probe_password=dict(type="str", no_log=True),
        probe_credentials_from_ssm=dict(type="bool", default=False),
        probe_interval=dict(type="float", default=1.0),
        probe_ca_path=dict(type="path"),
        probe_validate_certs=dict(type="bool", default=True),
        expected_version=dict(type="str"),
    )


def progress_sink():
    """The progress file the action plugin relays while the module runs (its path in the module's
    environment), or None: the lines then go nowhere but the result's timeline."""
    path = os.environ.get(PROGRESS_FILE_VARIABLE)
    if not path:
        return None
    return open(path, "a", encoding="utf-8")  # pylint: disable=consider-using-with


def _writer(sink):
    def write(text):
        sink.write(text + "\n")
        sink.flush()
    return write


def probe_credentials(module, params):
    """``(username, password, None)`` for the probe, or ``(None, None, why)`` when they could not be read."""
    if not params["probe_credentials_from_ssm"]:
        return params["probe_username"], params["probe_password"], None
    stack = MdlStack(params["mdl_instance_name"], params["mdl_environment"])
    try:
        found = read_credentials(_aws.client(module, "ssm"), stack)
    except DiscoveryError as e:
        return None, None, str(e)
    except (BotoCoreError, ClientError) as e:
        return None, None, "the HERD admin credentials of {0} could not be read from SSM: {1}".format(stack, e)
    module.no_log_values.add(found.password)
    return found.username, found.password, None


def start_probe(module, params):
    """The probe, started, or None; and why it did not start (None when it did or was not asked for)."""
    if not params["probe_url"]:
        return None, None
    if module.check_mode:
        return None, "check mode: nothing was deployed to probe"
    username, password, why = probe_credentials(module, params)
    if why is not None:
        _aws.warn("The zero-downtime probe did not run: {0}. The wait goes on without it.".format(why))
        return None, why
    probe = Probe(params["probe_url"], interval=params["probe_interval"], cafile=params["probe_ca_path"],
                  verify=params["probe_validate_certs"], username=username, password=password)
    probe.start()
    return probe, None


def probe_result(probe, why, params, succeeded):
    """What the module returns about the probe: the zero-downtime report, and the version served at the end."""
    if probe is None:
        return {"zero_downtime": not_probed(params["probe_url"], why)} if params["probe_url"] else {}
    probe.stop()
    result = {"zero_downtime": dict(probe.report(), probed=True, not_probed_reason=None)}
    if params["expected_version"] and succeeded:
        result.update(served_at_end(probe, params["expected_version"]))
    return result


def served_at_end(probe, expected_version):
    """The version HERD serves once the deployment has succeeded: one more read by the probe, compared Maven-style."""
    kind, version = probe.read_once()
    if kind != "ok" or not version:
        return {"served_version": None, "served_matches": False}
    try:
        matches = satisfies(version, expected_version)
    except ValueError:  # a build number that is not a version: the role's own check then says so
        matches = False
    return {"served_version": version, "served_matches": matches}


def check_options(params):
    deployment_id = check_deployment_id(params["deployment_id"])
    check_wait_options(params["wait_timeout"], params["poll_interval"])
    if params["expected_version"] is not None:
        check_version(params["expected_version"], option="expected_version")
    if params["probe_interval"] < MIN_PROBE_INTERVAL:
        raise ValueError("probe_interval must be at least {0} seconds, for example probe_interval: 1; got {1}".format(
            MIN_PROBE_INTERVAL, params["probe_interval"]))
    if params["probe_url"]:
        locate(params["probe_url"], option="probe_url")
    if params["mdl_instance_name"] is not None:
        MdlStack(params["mdl_instance_name"], params["mdl_environment"])
    return deployment_id


def main():
    module = AnsibleAWSModule(
        argument_spec=argument_spec(), supports_check_mode=True,
        required_together=[("mdl_instance_name", "mdl_environment"), ("probe_username", "probe_password")],
        mutually_exclusive=[("probe_username", "probe_credentials_from_ssm")],
        required_if=[("probe_credentials_from_ssm", True, ("mdl_instance_name", "mdl_environment"))],
    )
    params = module.params
    try:
        deployment_id = check_options(params)
    except ValueError as e:
        module.fail_json(msg=str(e))

    reader = DeploymentReader(_aws.client(module, "codedeploy", retry_decorator=poll_retry()))
    sink = progress_sink()
    follower = Follower(
        reader, deployment_id,
        wait_timeout=params["wait_timeout"], poll_interval=params["poll_interval"],
        wait_for=params["wait_for"], on_timeout=params["on_timeout"], on_line=_writer(sink) if sink else None,
    )
    probe = why = None
    try:
        with _watch.guarded():
            probe, why = start_probe(module, params)
            outcome = follower.look_once() if module.check_mode else follower.follow()
    except _watch.Interrupted as e:
        module.fail_json(msg="Stopped following CodeDeploy deployment {0}: {1}. The deployment goes on in AWS; running this "
                             "again joins it.".format(deployment_id, e), deployment_id=deployment_id, interrupted=True)
    except DeploymentMissing as e:
        module.fail_json(msg=str(e), deployment_id=deployment_id, api_calls=follower.api_calls())
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not follow CodeDeploy deployment {0}".format(deployment_id),
                             deployment_id=deployment_id, api_calls=follower.api_calls())
    finally:
        if probe is not None:
            probe.stop()
        if sink is not None:
            sink.close()

    result = dict(outcome.result, **probe_result(probe, why, params, outcome.result.get("status") == "Succeeded" and not outcome.failed))
    for note in follower.all_warnings():
        _aws.warn(note)
    changed = bool(outcome.result.get("stop")) and not outcome.result["stop"].get("already_completed")
    if outcome.failed:
        module.fail_json(msg=outcome.message, changed=changed, **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
