"""CodeDeploy as a client sees it: moto's store of applications and groups, our deployments.

moto 5.2.5 keeps applications and deployment groups well, but its deployments never move, its
ids are UUIDs and several answers do not match AWS (see TOOLING.md). This module takes over
every deployment operation and the group reads and update, and answers them the way AWS does:

* ids ``d-`` + 9 upper-case letters and digits; one active deployment per group
  (``DeploymentLimitExceededException``);
* each deployment follows a :class:`~mdl_sandbox.timeline.Plan` (Blue/Green when the group is
  BLUE_GREEN, in place otherwise), so status, targets, overview counts, times,
  ``instanceTerminationWaitTimeStarted``, ``errorInformation`` and ``rollbackInfo`` are always
  consistent with each other;
* the operations moto lacks: ``ListDeploymentTargets`` (paginated), ``BatchGetDeploymentTargets``,
  ``GetDeploymentTarget``, ``ListDeploymentInstances``, ``BatchGetDeploymentInstances``,
  ``StopDeployment``, ``ContinueDeployment``, ``UpdateDeploymentGroup``,
  ``BatchGetDeploymentGroups``;
* ``autoScalingGroups`` as ``{name, hook}`` structures, a default deployment style.

The side effects of a deployment on its MDL stack (HERD serving the new version when traffic is
rerouted, the replaced instance becoming the live one) go through the stack's hooks, run by the
sandbox's :class:`~mdl_sandbox.scheduler.Scheduler` at the exact planned moments.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import json
import random
import re
import string
import threading
import uuid
from typing import Any, Callable, Dict, List, Optional

from moto.codedeploy import responses as moto_responses
from moto.codedeploy.models import codedeploy_backends
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult

from .scheduler import Handle, Scheduler
from .timeline import TERMINATION_WAIT, Plan, TargetPlan

DEPLOYMENT_ID_RE = re.compile(r"^d-[A-Z0-9]{9}$")
DEFAULT_STYLE = {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}
# Deployment targets per ListDeploymentTargets page: small, so that clients must paginate.
TARGETS_PAGE_SIZE = 1
DEPLOYMENTS_PAGE_SIZE = 100
BATCH_LIMIT = 25
# How far a hold pushes the rest of a deployment: far beyond any test.
HOLD_SECONDS = 10.0 ** 6
# A rollback reroutes traffic back: it takes this fraction of the stack's deployment time.
ROLLBACK_DURATION_FRACTION = 0.5

HEALTH_CONSTRAINTS_MESSAGE = (
    "The overall deployment failed because too many individual instances failed deployment, too few "
    "healthy instances are available for deployment, or some instances in your deployment group are "
    "experiencing problems."
)
STOP_STATUS_MESSAGE = "Stopping Pending. Stopping to schedule commands in the deployment instances"


class CodeDeployError(ServiceException):
    """An error answered the way CodeDeploy does (HTTP 400, ``__type`` = the code)."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _utc(moment: Optional[float]) -> Optional[datetime.datetime]:
    if moment is None:
        return None
    return datetime.datetime.fromtimestamp(moment, tz=datetime.timezone.utc)


def _prune(data: Dict[str, Any]) -> Dict[str, Any]:
    """Drop absent values: AWS leaves fields out rather than sending nulls or empty structures."""
    return {k: v for k, v in data.items() if v is not None and v != {}}


def _to_epoch(value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def new_deployment_id(taken) -> str:
    alphabet = string.ascii_uppercase + string.digits
    while True:
        candidate = "d-" + "".join(random.choice(alphabet) for _ in range(9))
        if candidate not in taken:
            return candidate


def new_instance_id() -> str:
    return "i-" + uuid.uuid4().hex[:17]


@dataclasses.dataclass
class Hold:
    """A test's request to stop a deployment at the start of a lifecycle event until released.

    ``at`` is the event's planned start; from then on every later moment of the plan is pushed
    HOLD_SECONDS away (the event stays InProgress, its script has not run), and the release
    brings them back to "now plus what was left".
    """

    event: str
    at: Optional[float] = None  # the moment the hold took effect (the event's start)
    engaged_at: Optional[float] = None  # the clock when it did
    released_at: Optional[float] = None

    @property
    def holding(self) -> bool:
        return self.engaged_at is not None and self.released_at is None

    def view(self, deployment_id: Optional[str]) -> Dict[str, Any]:
        return {"event": self.event, "deployment_id": deployment_id, "holding": self.holding,
                "since": _iso(self.at) if self.holding else None}


class HoldError(Exception):
    """A hold that cannot be placed: the message says why."""


class Deployment:
    """One deployment: what was asked, its plan, and its links to other deployments."""

    def __init__(self, deployment_id: str, account: str, region: str, group, plan: Plan, request: Dict[str, Any],
                 creator: str, stack=None, target_version: Optional[str] = None,
                 previous_version: Optional[str] = None):
        self.deployment_id = deployment_id
        self.account = account
        self.region = region
        self.group = group
        self.application_name = group.application.application_name
        self.group_name = group.deployment_group_name
        self.plan = plan
        self.revision = request.get("revision")
        self.description = request.get("description")
        self.ignore_application_stop_failures = bool(request.get("ignoreApplicationStopFailures"))
        self.auto_rollback_configuration = request.get("autoRollbackConfiguration")
        self.deployment_config_name = request.get("deploymentConfigName") or str(group.deployment_config_name)
        self.file_exists_behavior = request.get("fileExistsBehavior") or "DISALLOW"
        self.deployment_style = dict(group.deployment_style or DEFAULT_STYLE)
        self.blue_green_configuration = dict(group.blue_green_deployment_configuration or {})
        self.load_balancer_info = dict(group.load_balancer_info or {})
        self.auto_scaling_groups_before = list(group.auto_scaling_groups)
        self.creator = creator
        self.stack = stack
        self.target_version = target_version
        self.previous_version = previous_version
        self.previous_revision = None
        self.rollback_deployment_id: Optional[str] = None
        self.rollback_triggering_deployment_id: Optional[str] = None
        self.rollback_message: Optional[str] = None
        self.handles: List[Handle] = []
        # The version the bundle's ApplicationStart script installed (read from SSM at that moment).
        self.installed_version: Optional[str] = None
        self.requested_version = target_version  # HERD/RequestedVersion when the deployment was created
        self.hold: Optional[Hold] = None

    @property
    def blue_green(self) -> bool:
        return self.plan.blue_green

    def rolls_back_on(self, event: str) -> bool:
        config = self.auto_rollback_configuration or {}
        return bool(config.get("enabled")) and event in (config.get("events") or [])

    def target_arn(self, target: TargetPlan) -> str:
        return "arn:aws:ec2:{0}:{1}:instance/{2}".format(self.region, self.account, target.target_id)

    # -- rendering ------------------------------------------------------------------------
    def info(self, now: float) -> Dict[str, Any]:
        """The ``deploymentInfo`` structure of GetDeployment at ``now``."""
        plan = self.plan
        info = {
            "applicationName": self.application_name,
            "deploymentGroupName": self.group_name,
            "deploymentConfigName": self.deployment_config_name,
            "deploymentId": self.deployment_id,
            "previousRevision": self.previous_revision,
            "revision": self.revision,
            "status": plan.status(now),
            "createTime": _utc(plan.created_at),
            "startTime": _utc(plan.start_time(now)),
            "completeTime": _utc(plan.complete_time(now)),
            "deploymentOverview": plan.overview(now),
            "description": self.description,
            "creator": self.creator,
            "ignoreApplicationStopFailures": self.ignore_application_stop_failures,
            "autoRollbackConfiguration": self.auto_rollback_configuration,
            "updateOutdatedInstancesOnly": False,
            "deploymentStyle": self.deployment_style,
            "instanceTerminationWaitTimeStarted": plan.termination_wait_started(now),
            "fileExistsBehavior": self.file_exists_behavior,
            "deploymentStatusMessages": [],
            "computePlatform": self.group.application.compute_platform or "Server",
        }
        if self.blue_green:
            info["blueGreenDeploymentConfiguration"] = self.blue_green_configuration
            info["targetInstances"] = {"autoScalingGroups": self.auto_scaling_groups_before}
        if self.load_balancer_info:
            info["loadBalancerInfo"] = self.load_balancer_info
        if plan.is_cut(now):
            info["errorInformation"] = {"code": plan.cut.error_code, "message": plan.cut.error_message}
            info["deploymentStatusMessages"] = [plan.cut.error_message]
        rollback = _prune({
            "rollbackDeploymentId": self.rollback_deployment_id,
            "rollbackTriggeringDeploymentId": self.rollback_triggering_deployment_id,
            "rollbackMessage": self.rollback_message,
        })
        if rollback:
            info["rollbackInfo"] = rollback
        return _prune(info)

    def lifecycle_events(self, target: TargetPlan, now: float) -> List[Dict[str, Any]]:
        return [_prune({
            "lifecycleEventName": state.name,
            "status": state.status,
            "startTime": _utc(state.start),
            "endTime": _utc(state.end),
            "diagnostics": state.diagnostics,
        }) for state in self.plan.events(target, now)]

    def instance_target(self, target: TargetPlan, now: float) -> Dict[str, Any]:
        return {
            "deploymentTargetType": "InstanceTarget",
            "instanceTarget": {
                "deploymentId": self.deployment_id,
                "targetId": target.target_id,
                "targetArn": self.target_arn(target),
                "status": self.plan.target_status(target, now),
                "lastUpdatedAt": _utc(self.plan.target_updated_at(target, now)),
                "lifecycleEvents": self.lifecycle_events(target, now),
                "instanceLabel": target.label,
            },
        }

    def instance_summary(self, target: TargetPlan, now: float) -> Dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "instanceId": self.target_arn(target),
            "status": self.plan.target_status(target, now),
            "lastUpdatedAt": _utc(self.plan.target_updated_at(target, now)),
            "lifecycleEvents": self.lifecycle_events(target, now),
            "instanceType": target.label,
        }

    def summary(self, now: float) -> Dict[str, Any]:
        """A short JSON-ready view for the control API."""
        return {
            "deployment_id": self.deployment_id,
            "status": self.plan.status(now),
            "creator": self.creator,
            "requested_version": self.requested_version,
            "installed_version": self.installed_version,
            "previous_version": self.previous_version,
            "create_time": _iso(self.plan.created_at),
            "start_time": _iso(self.plan.start_time(now)),
            "complete_time": _iso(self.plan.complete_time(now)),
            "traffic_switched": self.plan.traffic_switched(now),
            "rollback_deployment_id": self.rollback_deployment_id,
            "rollback_triggering_deployment_id": self.rollback_triggering_deployment_id,
        }


def _iso(moment: Optional[float]) -> Optional[str]:
    value = _utc(moment)
    return value.isoformat().replace("+00:00", "Z") if value else None


def _encode_token(data: Dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode("utf-8")).decode("ascii")


def _decode_token(token: str, deployment_id: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8"))
        if data["d"] != deployment_id:
            raise ValueError("token of another listing")
        return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise CodeDeployError("InvalidNextTokenException", "The next token was specified in an invalid format.")


class CodeDeployEmulator:
    """The deployments of one sandbox and the operations that read and change them.

    ``stack_for_group(group)`` returns the MDL stack that owns a moto deployment group (or None
    for a group created by hand); the stack provides the hooks that a deployment drives.
    """

    def __init__(self, scheduler: Scheduler, stack_for_group: Callable[[Any], Any], default_seconds: float,
                 revision_exists: Callable[[str, str, dict], bool]):
        self.scheduler = scheduler
        self.lock = scheduler.lock
        self.clock = scheduler.clock
        self.stack_for_group = stack_for_group
        self.default_seconds = default_seconds
        self.revision_exists = revision_exists
        self.deployments: Dict[str, Deployment] = {}
        self.hooks: Dict[tuple, str] = {}
        self.pending_holds: Dict[str, Hold] = {}  # by deployment group id: for its next deployment
        self.hold_changed = threading.Condition(self.lock)

    # -- state helpers ----------------------------------------------------------------------
    def now(self) -> float:
        """The current time, after every side effect due by then has happened."""
        now = self.clock()
        self.scheduler.run_due(now)
        return now

    def deployment(self, response, deployment_id: Optional[str], required: bool = True) -> Deployment:
        if not deployment_id:
            raise CodeDeployError("DeploymentIdRequiredException", "At least one deployment ID must be specified.")
        if not DEPLOYMENT_ID_RE.match(deployment_id):
            raise CodeDeployError("InvalidDeploymentIdException",
                                  "Specified DeploymentId is not in the valid format: {0}".format(deployment_id))
        found = self.deployments.get(deployment_id)
        if found is None or found.account != response.current_account or found.region != response.region:
            raise CodeDeployError("DeploymentDoesNotExistException",
                                  "The deployment {0} could not be found.".format(deployment_id))
        return found

    def group_deployments(self, group) -> List[Deployment]:
        return [d for d in self.deployments.values() if d.group is group]

    def active_deployment(self, group, now: float) -> Optional[Deployment]:
        for deployment in self.group_deployments(group):
            if deployment.plan.is_active(now):
                return deployment
        return None

    def _hook_name(self, group, asg_name: str) -> str:
        key = (group.deployment_group_id, asg_name)
        if key not in self.hooks:
            self.hooks[key] = "CodeDeploy-managed-automatic-launch-deployment-hook-{0}-{1}".format(
                group.deployment_group_name, uuid.uuid4())
        return self.hooks[key]

    @staticmethod
    def _backend(response):
        return codedeploy_backends[response.current_account][response.region]

    # -- deployment groups -------------------------------------------------------------------
    def group_info(self, group, now: float) -> Dict[str, Any]:
        deployments = sorted(self.group_deployments(group), key=lambda d: d.plan.created_at)
        attempted = deployments[-1] if deployments else None
        succeeded = [d for d in deployments if d.plan.status(now) == "Succeeded"]
        last_success = succeeded[-1] if succeeded else None

        def last(deployment):
            if deployment is None:
                return None
            return _prune({"deploymentId": deployment.deployment_id, "status": deployment.plan.status(now),
                           "endTime": _utc(deployment.plan.complete_time(now)),
                           "createTime": _utc(deployment.plan.created_at)})

        alarms = group.alarm_configuration if isinstance(group.alarm_configuration, dict) else None
        return _prune({
            "applicationName": group.application.application_name,
            "deploymentGroupId": group.deployment_group_id,
            "deploymentGroupName": group.deployment_group_name,
            "deploymentConfigName": str(group.deployment_config_name),
            "ec2TagFilters": group.ec2_tag_filters,
            "onPremisesInstanceTagFilters": group.on_premises_instance_tag_filters,
            "autoScalingGroups": [{"name": name, "hook": self._hook_name(group, name)}
                                  for name in group.auto_scaling_groups],
            "serviceRoleArn": group.service_role_arn,
            "targetRevision": attempted.revision if attempted else None,
            "triggerConfigurations": group.trigger_configurations,
            "alarmConfiguration": alarms or {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []},
            "autoRollbackConfiguration": group.auto_rollback_configuration or None,
            "deploymentStyle": group.deployment_style or DEFAULT_STYLE,
            "outdatedInstancesStrategy": group.outdated_instances_strategy or "UPDATE",
            "blueGreenDeploymentConfiguration": group.blue_green_deployment_configuration or None,
            "loadBalancerInfo": group.load_balancer_info or None,
            "lastSuccessfulDeployment": last(last_success),
            "lastAttemptedDeployment": last(attempted),
            "computePlatform": group.application.compute_platform or "Server",
            "terminationHookEnabled": bool(group.termination_hook_enabled),
        })

    def get_deployment_group(self, response):
        group = self._backend(response).get_deployment_group(
            response._get_param("applicationName"), response._get_param("deploymentGroupName"))
        with self.lock:
            return ActionResult({"deploymentGroupInfo": self.group_info(group, self.now())})

    def batch_get_deployment_groups(self, response):
        application = response._get_param("applicationName")
        names = response._get_param("deploymentGroupNames") or []
        if len(names) > 100:
            raise CodeDeployError("BatchLimitExceededException", "The maximum number of names or IDs allowed for "
                                  "this request (100) was exceeded.")
        backend = self._backend(response)
        backend.get_application(application)
        groups, missing = [], []
        for name in names:
            group = backend.deployment_groups.get(application, {}).get(name)
            (groups if group else missing).append(group or name)
        with self.lock:
            now = self.now()
            result = {"deploymentGroupsInfo": [self.group_info(g, now) for g in groups]}
        if missing:
            result["errorMessage"] = "Deployment groups not found: {0}".format(", ".join(missing))
        return ActionResult(result)

    def update_deployment_group(self, response):
        backend = self._backend(response)
        application = response._get_param("applicationName")
        current = response._get_param("currentDeploymentGroupName")
        if not application:
            raise CodeDeployError("ApplicationNameRequiredException", "The minimum number of required application "
                                  "names was not specified.")
        if not current:
            raise CodeDeployError("DeploymentGroupNameRequiredException", "The deployment group name was not "
                                  "specified.")
        group = backend.get_deployment_group(application, current)
        style = response._get_param("deploymentStyle") or group.deployment_style or DEFAULT_STYLE
        load_balancer = response._get_param("loadBalancerInfo") or group.load_balancer_info
        if style.get("deploymentOption") == "WITH_TRAFFIC_CONTROL" and not load_balancer:
            raise CodeDeployError("InvalidLoadBalancerInfoException", "A load balancer must be specified for a "
                                  "deployment with traffic control.")
        if style.get("deploymentType") == "BLUE_GREEN" and not (
                response._get_param("blueGreenDeploymentConfiguration") or group.blue_green_deployment_configuration):
            raise CodeDeployError("InvalidBlueGreenDeploymentConfigurationException", "A blue/green deployment "
                                  "configuration must be specified for a BLUE_GREEN deployment group.")
        new_name = response._get_param("newDeploymentGroupName")
        with self.lock:
            if new_name and new_name != current:
                groups = backend.deployment_groups[application]
                if new_name in groups:
                    raise CodeDeployError("DeploymentGroupAlreadyExistsException",
                                          "Deployment group {0} already exists.".format(new_name))
                groups[new_name] = groups.pop(current)
                group.deployment_group_name = new_name
            simple = {
                "deploymentConfigName": "deployment_config_name",
                "ec2TagFilters": "ec2_tag_filters",
                "onPremisesInstanceTagFilters": "on_premises_instance_tag_filters",
                "autoScalingGroups": "auto_scaling_groups",
                "serviceRoleArn": "service_role_arn",
                "triggerConfigurations": "trigger_configurations",
                "alarmConfiguration": "alarm_configuration",
                "autoRollbackConfiguration": "auto_rollback_configuration",
                "outdatedInstancesStrategy": "outdated_instances_strategy",
                "deploymentStyle": "deployment_style",
                "blueGreenDeploymentConfiguration": "blue_green_deployment_configuration",
                "loadBalancerInfo": "load_balancer_info",
                "ec2TagSet": "ec2_tag_set",
                "onPremisesTagSet": "on_premises_tag_set",
                "ecsServices": "ecs_services",
                "terminationHookEnabled": "termination_hook_enabled",
            }
            for param, attribute in simple.items():
                value = response._get_param(param)
                if value is not None:
                    setattr(group, attribute, value)
        return ActionResult({"hooksNotCleanedUp": []})

    # -- creating deployments ----------------------------------------------------------------
    def create_deployment(self, response):
        backend = self._backend(response)
        application = response._get_param("applicationName")
        group_name = response._get_param("deploymentGroupName")
        if not application:
            raise CodeDeployError("ApplicationNameRequiredException", "The minimum number of required application "
                                  "names was not specified.")
        backend.get_application(application)
        if not group_name:
            raise CodeDeployError("DeploymentGroupNameRequiredException", "The deployment group name was not "
                                  "specified.")
        group = backend.get_deployment_group(application, group_name)
        request = {key: response._get_param(key) for key in (
            "revision", "description", "ignoreApplicationStopFailures", "autoRollbackConfiguration",
            "deploymentConfigName", "fileExistsBehavior")}
        revision = request["revision"]
        if not revision:
            raise CodeDeployError("RevisionRequiredException", "The revision ID was not specified.")
        if not self.revision_exists(response.current_account, response.region, revision):
            location = revision.get("s3Location") or {}
            raise CodeDeployError("RevisionDoesNotExistException",
                                  "The named revision does not exist with the IAM user or AWS account: "
                                  "s3://{0}/{1}".format(location.get("bucket"), location.get("key")))
        with self.lock:
            now = self.now()
            active = self.active_deployment(group, now)
            if active is not None:
                raise CodeDeployError("DeploymentLimitExceededException",
                                      "The Deployment Group '{0}' already has an active Deployment '{1}'".format(
                                          group.deployment_group_name, active.deployment_id))
            deployment = self.start_deployment(response.current_account, response.region, group, request, now)
        return ActionResult({"deploymentId": deployment.deployment_id})

    def start_deployment(self, account: str, region: str, group, request: Dict[str, Any], now: float,
                         creator: str = "user", rollback_of: Optional[Deployment] = None) -> Deployment:
        """Create a deployment at ``now`` and schedule its effects. The caller holds the lock."""
        stack = self.stack_for_group(group)
        duration = stack.deployment_seconds if stack is not None else self.default_seconds
        live_id = stack.live_instance_id if stack is not None else new_instance_id()
        deployment_id = new_deployment_id(self.deployments)
        style = group.deployment_style or DEFAULT_STYLE
        if rollback_of is not None:
            duration *= ROLLBACK_DURATION_FRACTION
            if rollback_of.blue_green:
                original = [t for t in rollback_of.plan.targets if t.label == "Blue"][0].target_id
                replacement = [t for t in rollback_of.plan.targets if t.label == "Green"][0].target_id
                plan = Plan.rollback_deployment(now, duration, original, replacement)
            else:
                plan = Plan.in_place_deployment(now, duration, live_id)
            target_version = rollback_of.previous_version
        else:
            if style.get("deploymentType") == "BLUE_GREEN":
                plan = Plan.blue_green_deployment(now, duration, new_instance_id(), live_id)
            else:
                plan = Plan.in_place_deployment(now, duration, live_id)
            target_version = stack.requested_version() if stack is not None else None
        previous_version = stack.deployed_version if stack is not None else None
        deployment = Deployment(deployment_id, account, region, group, plan, request, creator, stack,
                                target_version, previous_version)
        earlier = [d for d in self.group_deployments(group) if d.plan.status(now) == "Succeeded"]
        if earlier:
            deployment.previous_revision = max(earlier, key=lambda d: d.plan.created_at).revision
        if stack is not None and rollback_of is None:
            failure = stack.failure_for(target_version)
            if failure is not None:
                target = [t for t in plan.targets if t.label == "Green"] or plan.targets
                if target[0].event(failure.event) is None:
                    pass
                elif failure.event == "ApplicationStop" and deployment.ignore_application_stop_failures:
                    # CodeDeploy goes on after a failed ApplicationStop when the deployment says so (the
                    # upgrade Lambda does): the event shows Failed, the deployment continues.
                    plan.forgive_failure(target[0].target_id, failure.event, failure.diagnostics)
                else:
                    plan.fail_at(target[0].target_id, failure.event, "HEALTH_CONSTRAINTS",
                                 HEALTH_CONSTRAINTS_MESSAGE, failure.diagnostics)
        if rollback_of is None:
            deployment.hold = self.pending_holds.pop(group.deployment_group_id, None)
        self.deployments[deployment_id] = deployment
        self.schedule_effects(deployment)
        return deployment

    # -- effects of a deployment on its stack ---------------------------------------------------
    def schedule_effects(self, deployment: Deployment, after: Optional[float] = None) -> None:
        """(Re)schedule what the deployment does to the world: everything, or what comes after ``after``.

        A new deployment schedules everything; a stopped or hastened one only what is still to
        come (what was due has already run: callers run the scheduler first).
        """
        for handle in deployment.handles:
            handle.cancel()
        deployment.handles = []
        plan = deployment.plan

        def at(moment: float, action: Callable[[float], None]) -> None:
            if after is None or moment > after:
                deployment.handles.append(self.scheduler.at(moment, action))

        stack = deployment.stack
        if stack is not None and deployment.creator == "user":
            # The bundle's scripts (what they do to SSM and whether they fail), at the end of their events.
            for event, script in (("ApplicationStart", stack.application_start),
                                  ("ValidateService", stack.validate_service)):
                found = plan.event_slot(event)
                if found is not None and (plan.cut is None or plan.cut.at > found[1].end):
                    at(found[1].end, lambda due, script=script: self._run_script(deployment, script, due))
        if stack is not None and plan.will_switch():
            window = stack.faults.herd_unavailable_seconds
            if window:
                at(max(plan.created_at, plan.switch_at - window / 2.0), lambda due: stack.herd_unavailable(window))
            at(plan.switch_at, lambda due: stack.traffic_switched(deployment))
        if plan.cut is None:
            at(plan.end_at, lambda due: self.succeeded(deployment))
        elif plan.cut.status == "Failed" and deployment.rolls_back_on("DEPLOYMENT_FAILURE"):
            at(plan.cut.at, lambda due: self.roll_back(deployment, due, "failed"))
        hold = deployment.hold
        if hold is not None and hold.engaged_at is None:
            moment = plan.hold_moment(hold.event)
            if moment is not None and (plan.cut is None or plan.cut.at > moment):
                at(moment, lambda due: self._engage_hold(deployment, due))

    def _run_script(self, deployment: Deployment, script: Callable, due: float) -> None:
        """Run one of the bundle's scripts; a failure ends the deployment there (and rolls it back)."""
        failure = script(deployment)
        if failure is None:
            return
        target, slot = deployment.plan.event_slot(failure.event)
        deployment.plan.fail_at(target.target_id, failure.event, "HEALTH_CONSTRAINTS", HEALTH_CONSTRAINTS_MESSAGE,
                                failure.diagnostics)
        self.schedule_effects(deployment, after=due)
        if deployment.rolls_back_on("DEPLOYMENT_FAILURE"):
            self.roll_back(deployment, due, "failed")

    # -- holds (for tests: act at a chosen lifecycle event) --------------------------------------
    def _engage_hold(self, deployment: Deployment, due: float) -> None:
        self.scheduler.run_due(due)  # what is due at the same moment (the previous event's script) first
        hold = deployment.hold
        hold.at, hold.engaged_at = due, self.clock()
        deployment.plan.shift_after(due, HOLD_SECONDS)
        self.schedule_effects(deployment, after=due)
        self.hold_changed.notify_all()

    def _release(self, deployment: Deployment, now: float) -> None:
        hold = deployment.hold
        if hold is None or hold.released_at is not None:
            return
        if hold.engaged_at is None:
            deployment.hold = None
        else:
            deployment.plan.shift_after(hold.at, -(HOLD_SECONDS - (now - hold.at)))
            hold.released_at = now
        self.schedule_effects(deployment, after=now)
        self.hold_changed.notify_all()

    def hold(self, group, event: str) -> Dict[str, Any]:
        """Hold the group's active deployment at the start of ``event``, or its next one if none is active."""
        with self.lock:
            now = self.now()
            active = self.active_deployment(group, now)
            if active is not None and active.creator == "user":
                if active.hold is not None and active.hold.released_at is None:
                    raise HoldError("deployment {0} is already held at {1}: release it first".format(
                        active.deployment_id, active.hold.event))
                moment = active.plan.hold_moment(event)
                if moment is None:
                    raise HoldError("deployment {0} has no lifecycle event {1} (events: {2}; or {3})".format(
                        active.deployment_id, event,
                        ", ".join(s.name for t in active.plan.targets for s in t.events), TERMINATION_WAIT))
                if moment <= now:
                    raise HoldError("deployment {0} is already past the start of {1}".format(
                        active.deployment_id, event))
                active.hold = Hold(event)
                self.schedule_effects(active, after=now)
                return active.hold.view(active.deployment_id)
            self.pending_holds[group.deployment_group_id] = Hold(event)
            return self.pending_holds[group.deployment_group_id].view(None)

    def release(self, group) -> Optional[Dict[str, Any]]:
        """Let the held (or to-be-held) deployment of the group go on; the hold as it was, or None."""
        with self.lock:
            now = self.now()
            pending = self.pending_holds.pop(group.deployment_group_id, None)
            if pending is not None:
                self.hold_changed.notify_all()
                return pending.view(None)
            for deployment in self.group_deployments(group):
                if deployment.hold is not None and deployment.hold.released_at is None:
                    view = deployment.hold.view(deployment.deployment_id)
                    self._release(deployment, now)
                    return view
            return None

    def hold_state(self, group) -> Optional[Dict[str, Any]]:
        with self.lock:
            pending = self.pending_holds.get(group.deployment_group_id)
            if pending is not None:
                return pending.view(None)
            for deployment in self.group_deployments(group):
                if deployment.hold is not None and deployment.hold.released_at is None:
                    return deployment.hold.view(deployment.deployment_id)
            return None

    def wait_held(self, group, timeout: float) -> Optional[Dict[str, Any]]:
        """Block until the group's hold has taken effect (the deployment stands at its event); None on timeout."""
        deadline = self.clock() + timeout
        with self.hold_changed:
            while True:
                self.now()
                state = self.hold_state(group)
                if state is None:
                    raise HoldError("no hold is set on this stack")
                if state["holding"]:
                    return state
                left = deadline - self.clock()
                if left <= 0:
                    return None
                # The scheduler thread engages the hold at the event's start and notifies.
                self.hold_changed.wait(timeout=min(left, 0.5))

    def succeeded(self, deployment: Deployment) -> None:
        group = deployment.group
        if deployment.blue_green:
            if deployment.rollback_triggering_deployment_id:
                triggering = self.deployments[deployment.rollback_triggering_deployment_id]
                group.auto_scaling_groups = list(triggering.auto_scaling_groups_before)
            else:
                group.auto_scaling_groups = ["CodeDeploy_{0}_{1}".format(group.deployment_group_name,
                                                                         deployment.deployment_id)]
        if deployment.stack is not None:
            live = [t for t in deployment.plan.targets if t.label == "Green"] or deployment.plan.targets
            deployment.stack.deployment_succeeded(deployment, live[0].target_id)

    def roll_back(self, deployment: Deployment, at: float, why: str) -> Deployment:
        rollback = self.start_deployment(deployment.account, deployment.region, deployment.group,
                                         {"revision": deployment.previous_revision or deployment.revision,
                                          "deploymentConfigName": deployment.deployment_config_name},
                                         at, creator="codeDeployRollback", rollback_of=deployment)
        deployment.rollback_deployment_id = rollback.deployment_id
        deployment.rollback_message = "Deployment {0} {1}; rollback deployment {2} was created to roll it back.".format(
            deployment.deployment_id, why, rollback.deployment_id)
        rollback.rollback_triggering_deployment_id = deployment.deployment_id
        rollback.rollback_message = "Rollback of deployment {0}, which {1}.".format(deployment.deployment_id, why)
        return rollback

    # -- reading deployments -----------------------------------------------------------------
    def get_deployment(self, response):
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            return ActionResult({"deploymentInfo": deployment.info(self.now())})

    def batch_get_deployments(self, response):
        ids = response._get_param("deploymentIds") or []
        if len(ids) > BATCH_LIMIT:
            raise CodeDeployError("BatchLimitExceededException", "The maximum number of names or IDs allowed for "
                                  "this request ({0}) was exceeded.".format(BATCH_LIMIT))
        with self.lock:
            now = self.now()
            infos = []
            for deployment_id in ids:
                found = self.deployments.get(deployment_id)
                if found and found.account == response.current_account and found.region == response.region:
                    infos.append(found.info(now))
            return ActionResult({"deploymentsInfo": infos})

    def list_deployments(self, response):
        backend = self._backend(response)
        application = response._get_param("applicationName")
        group_name = response._get_param("deploymentGroupName")
        if application and not group_name:
            raise CodeDeployError("DeploymentGroupNameRequiredException",
                                  "If applicationName is specified, then deploymentGroupName must be specified.")
        if group_name and not application:
            raise CodeDeployError("ApplicationNameRequiredException",
                                  "If deploymentGroupName is specified, applicationName must be specified.")
        group = backend.get_deployment_group(application, group_name) if application else None
        statuses = response._get_param("includeOnlyStatuses") or []
        time_range = response._get_param("createTimeRange") or {}
        start, end = _to_epoch(time_range.get("start")), _to_epoch(time_range.get("end"))
        if start is not None and end is not None and start > end:
            raise CodeDeployError("InvalidTimeRangeException", "The start time must be earlier than the end time.")
        with self.lock:
            now = self.now()
            found = [d for d in self.deployments.values()
                     if d.account == response.current_account and d.region == response.region
                     and (group is None or d.group is group)
                     and (not statuses or d.plan.status(now) in statuses)
                     and (start is None or d.plan.created_at >= start)
                     and (end is None or d.plan.created_at <= end)]
        found.sort(key=lambda d: d.plan.created_at, reverse=True)
        ids = [d.deployment_id for d in found]
        token = response._get_param("nextToken")
        offset = _decode_token(token, "list") if token else 0
        page = ids[offset:offset + DEPLOYMENTS_PAGE_SIZE]
        result = {"deployments": page}
        if offset + DEPLOYMENTS_PAGE_SIZE < len(ids):
            result["nextToken"] = _encode_token({"d": "list", "o": offset + DEPLOYMENTS_PAGE_SIZE})
        return ActionResult(result)

    # -- targets -----------------------------------------------------------------------------
    def _started(self, deployment: Deployment, now: float) -> None:
        if deployment.plan.start_time(now) is None:
            raise CodeDeployError("DeploymentNotStartedException",
                                  "The specified deployment has not started.")

    def _filtered_targets(self, deployment: Deployment, now: float, statuses, labels) -> List[TargetPlan]:
        return [t for t in deployment.plan.targets
                if (not statuses or deployment.plan.target_status(t, now) in statuses)
                and (not labels or t.label in labels)]

    def _page(self, deployment: Deployment, ids: List[str], token: Optional[str], key: str) -> Dict[str, Any]:
        offset = _decode_token(token, deployment.deployment_id) if token else 0
        result = {key: ids[offset:offset + TARGETS_PAGE_SIZE]}
        if offset + TARGETS_PAGE_SIZE < len(ids):
            result["nextToken"] = _encode_token({"d": deployment.deployment_id, "o": offset + TARGETS_PAGE_SIZE})
        return result

    def list_deployment_targets(self, response):
        filters = response._get_param("targetFilters") or {}
        unknown = set(filters) - {"TargetStatus", "ServerInstanceLabel"}
        if unknown:
            raise CodeDeployError("InvalidTargetFilterNameException",
                                  "The target filter name {0} is invalid.".format(sorted(unknown)[0]))
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            now = self.now()
            self._started(deployment, now)
            targets = self._filtered_targets(deployment, now, filters.get("TargetStatus"),
                                             filters.get("ServerInstanceLabel"))
            return ActionResult(self._page(deployment, [t.target_id for t in targets],
                                           response._get_param("nextToken"), "targetIds"))

    def _targets_by_id(self, deployment: Deployment, ids, missing_code: str, missing_message: str):
        known = {t.target_id: t for t in deployment.plan.targets}
        for target_id in ids:
            if target_id not in known:
                raise CodeDeployError(missing_code, missing_message.format(target_id))
        return [known[target_id] for target_id in ids]

    def batch_get_deployment_targets(self, response):
        ids = response._get_param("targetIds") or []
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            if not ids:
                raise CodeDeployError("DeploymentTargetIdRequiredException", "A deployment target ID was not "
                                      "provided.")
            if len(ids) > BATCH_LIMIT:
                raise CodeDeployError("DeploymentTargetListSizeExceededException",
                                      "The maximum number of targets that can be associated with a request "
                                      "({0}) was exceeded.".format(BATCH_LIMIT))
            now = self.now()
            self._started(deployment, now)
            targets = self._targets_by_id(deployment, ids, "DeploymentTargetDoesNotExistException",
                                          "The provided target ID {0} does not belong to the deployment.")
            return ActionResult({"deploymentTargets": [deployment.instance_target(t, now) for t in targets]})

    def get_deployment_target(self, response):
        target_id = response._get_param("targetId")
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            if not target_id:
                raise CodeDeployError("DeploymentTargetIdRequiredException", "A deployment target ID was not "
                                      "provided.")
            now = self.now()
            self._started(deployment, now)
            target = self._targets_by_id(deployment, [target_id], "DeploymentTargetDoesNotExistException",
                                         "The provided target ID {0} does not belong to the deployment.")[0]
            return ActionResult({"deploymentTarget": deployment.instance_target(target, now)})

    def list_deployment_instances(self, response):
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            now = self.now()
            self._started(deployment, now)
            targets = self._filtered_targets(deployment, now, response._get_param("instanceStatusFilter"),
                                             response._get_param("instanceTypeFilter"))
            return ActionResult(self._page(deployment, [t.target_id for t in targets],
                                           response._get_param("nextToken"), "instancesList"))

    def batch_get_deployment_instances(self, response):
        ids = response._get_param("instanceIds") or []
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            if not ids:
                raise CodeDeployError("InstanceIdRequiredException", "The instance ID was not specified.")
            if len(ids) > BATCH_LIMIT:
                raise CodeDeployError("BatchLimitExceededException", "The maximum number of names or IDs allowed "
                                      "for this request ({0}) was exceeded.".format(BATCH_LIMIT))
            now = self.now()
            known = {t.target_id: t for t in deployment.plan.targets}
            summaries = [deployment.instance_summary(known[i], now) for i in ids if i in known]
            result = {"instancesSummary": summaries}
            missing = [i for i in ids if i not in known]
            if missing:
                result["errorMessage"] = "Instances not found in the deployment: {0}".format(", ".join(missing))
            return ActionResult(result)

    # -- stopping and continuing -------------------------------------------------------------
    def stop_deployment(self, response):
        auto_rollback = response._get_param("autoRollbackEnabled")
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            now = self.now()
            if not deployment.plan.is_active(now):
                raise CodeDeployError("DeploymentAlreadyCompletedException",
                                      "The deployment {0} has already completed.".format(deployment.deployment_id))
            self._release(deployment, now)  # a held deployment is stopped where it stands
            deployment.plan.stop(now, "MANUAL_STOP", "The deployment was stopped by a user request.")
            self.schedule_effects(deployment, now)
            if auto_rollback or (auto_rollback is None and deployment.rolls_back_on("DEPLOYMENT_STOP_ON_REQUEST")):
                self.roll_back(deployment, now, "was stopped")
        return ActionResult({"status": "Pending", "statusMessage": STOP_STATUS_MESSAGE})

    def continue_deployment(self, response):
        wait_type = response._get_param("deploymentWaitType") or "READY_WAIT"
        with self.lock:
            deployment = self.deployment(response, response._get_param("deploymentId"))
            now = self.now()
            if not deployment.plan.is_active(now):
                raise CodeDeployError("DeploymentAlreadyCompletedException",
                                      "The deployment {0} has already completed.".format(deployment.deployment_id))
            if not deployment.blue_green:
                raise CodeDeployError("UnsupportedActionForDeploymentTypeException",
                                      "This action is only available for blue/green deployments.")
            if wait_type == "TERMINATION_WAIT" and deployment.plan.skip_termination_wait(now):
                self.schedule_effects(deployment, now)
                return ActionResult({})
            if wait_type == "TERMINATION_WAIT":
                raise CodeDeployError("DeploymentIsNotInReadyStateException",
                                      "The deployment {0} is not waiting for the original instances to be "
                                      "terminated.".format(deployment.deployment_id))
            raise CodeDeployError("DeploymentIsNotInReadyStateException",
                                  "The deployment {0} is not in a ready state: its deployment group continues "
                                  "automatically (CONTINUE_DEPLOYMENT).".format(deployment.deployment_id))


# -- installation into moto ------------------------------------------------------------------
OPERATIONS = (
    "get_deployment_group", "batch_get_deployment_groups", "update_deployment_group", "create_deployment",
    "get_deployment", "batch_get_deployments", "list_deployments", "list_deployment_targets",
    "batch_get_deployment_targets", "get_deployment_target", "list_deployment_instances",
    "batch_get_deployment_instances", "stop_deployment", "continue_deployment",
)
_active: Dict[str, Optional[CodeDeployEmulator]] = {"emulator": None}
_install_lock = threading.Lock()
_originals: Dict[str, Any] = {}


def _make_operation(name: str):
    def operation(self):
        emulator = _active["emulator"]
        if emulator is None:
            original = _originals.get(name)
            if original is None:
                raise NotImplementedError("The {0} action has not been implemented".format(name))
            return original(self)
        return getattr(emulator, name)(self)

    operation.__name__ = name
    return operation


def install(emulator: Optional[CodeDeployEmulator]) -> None:
    """Route moto's CodeDeploy operations to ``emulator`` (None: back to moto's own)."""
    cls = moto_responses.CodeDeployResponse
    with _install_lock:
        if not _originals:
            for name in OPERATIONS:
                _originals[name] = cls.__dict__.get(name)
                setattr(cls, name, _make_operation(name))
        _active["emulator"] = emulator
