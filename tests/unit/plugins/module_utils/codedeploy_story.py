# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A scripted CodeDeploy for the unit tests of codedeploy_wait.

A :class:`Story` says when each lifecycle event of each instance starts and ends, and when
the deployment starts and ends; :meth:`Story.at` answers, for any second, what
``get_deployment`` and ``batch_get_deployment_targets`` would return then, in the shapes of
botocore's CodeDeploy service model (the shapes AWS documents, e.g. the AWS CLI examples:
skipped events have an end time and no start time, diagnostics carry errorCode/scriptName/
message/logTail).

:class:`FakeCodeDeploy` serves stories to a real botocore client (through its
``before-call`` event, as botocore's Stubber does) and checks every answer against the
operation's output shape, so a fixture that AWS could not send fails the test.
"""

from __future__ import annotations

import datetime
import json

import boto3
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 11, 26, 13, 0, 0, tzinfo=UTC)
EPOCH0 = T0.timestamp()

GREEN_EVENTS = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart",
                "ValidateService", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
BLUE_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
IN_PLACE_EVENTS = GREEN_EVENTS[:7]

VALIDATE_LOG = "\n".join(
    ["[stdout]Checking https://herd.example/herd-app/rest/buildInfo (attempt {0}/3)".format(n) for n in (1, 2, 3)]
    + ["[stdout]buildInfo reports buildNumber 0.170.0",
       "[stderr]smoke test failed: expected buildNumber 0.176.0, got 0.170.0"]
)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


class FakeClock(object):
    """Wall clock, monotonic clock and sleep, all moved by sleep() (and by each API call's latency)."""

    def __init__(self, start=EPOCH0):
        self.now = start
        self.slept = []

    @property
    def seconds(self):
        return self.now - EPOCH0

    def time(self):
        return self.now

    def monotonic(self):
        return self.now - EPOCH0 + 1000.0

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


class Event(object):
    def __init__(self, name, start, end, status="Succeeded", diagnostics=None):
        self.name, self.start, self.end, self.status, self.diagnostics = name, start, end, status, diagnostics


class Instance(object):
    def __init__(self, instance_id, label, appears, events):
        self.instance_id, self.label, self.appears, self.events = instance_id, label, appears, events


class Story(object):
    """One deployment over time. Times are seconds after T0."""

    def __init__(self, deployment_id, instances, start=2.0, end=None, final="Succeeded", blue_green=True,
                 termination_wait_minutes=0, termination_wait_at=None, keep_alive=False, ready_option=None,
                 error=None, rollback_id=None, triggering_id=None, creator="user", status_messages=None,
                 ignore_application_stop_failures=True, terminating_at=None):
        self.deployment_id = deployment_id
        self.instances = instances
        self.start = start
        self.end = end
        self.final = final
        self.blue_green = blue_green
        self.termination_wait_minutes = termination_wait_minutes
        self.termination_wait_at = termination_wait_at
        self.keep_alive = keep_alive
        self.ready_option = ready_option
        self.error = error
        self.rollback_id = rollback_id
        self.triggering_id = triggering_id
        self.creator = creator
        self.status_messages = status_messages or []
        self.ignore_application_stop_failures = ignore_application_stop_failures
        self.stop_requested = None
        # When CodeDeploy starts terminating the original instances, if the story tells it through their
        # targets (as the sandbox does): they stay InProgress to the end and are updated at that moment.
        self.terminating_at = terminating_at

    # -- what CodeDeploy would answer at second t --
    def status(self, t):
        if t < self.start:
            return "Created"
        if self.end is not None and t >= self.end:
            return self.final
        if self.ready_option and self.ready_option["from"] <= t:
            return "Ready"
        return "InProgress"

    def event_view(self, event, t):
        status = self.status(t)
        ended = status in ("Failed", "Stopped")
        seen = min(t, self.end) if self.end is not None else t  # nothing moves after the end
        view = {"lifecycleEventName": event.name}
        if event.start is not None and seen >= event.start:
            view["startTime"] = at(event.start)
            if event.end is not None and seen >= event.end:
                view["status"] = event.status
                view["endTime"] = at(event.end)
                view["diagnostics"] = event.diagnostics or {"errorCode": "Success", "scriptName": "", "message": "Succeeded", "logTail": ""}
            elif ended:
                view["status"] = "Failed"
                view["endTime"] = at(self.end)
            else:
                view["status"] = "InProgress"
        elif ended:
            view["status"] = "Skipped"
            view["endTime"] = at(self.end)
        else:
            view["status"] = "Pending"
        return view

    def target(self, instance, t):
        events = [self.event_view(e, t) for e in instance.events]
        statuses = [e["status"] for e in events]
        busy = (self.terminating_at is not None and instance.label == "Blue" and self.status(t) == "InProgress")
        if "Failed" in statuses:
            status = "Failed"
        elif busy and all(s == "Succeeded" for s in statuses):
            status = "InProgress"
        elif all(s in ("Succeeded", "Skipped") for s in statuses):
            status = "Succeeded"
        elif self.status(t) == "Ready" and instance.label == "Green":
            status = "Ready"
        elif any(s != "Pending" for s in statuses):
            status = "InProgress"
        else:
            status = "Pending"
        target = {
            "deploymentId": self.deployment_id,
            "targetId": instance.instance_id,
            "targetArn": "arn:aws:ec2:us-east-1:123456789012:instance/{0}".format(instance.instance_id),
            "status": status,
            "lastUpdatedAt": at(max([self.start] + [e.end for e in instance.events if e.end is not None and e.end <= t]
                                    + [e.start for e in instance.events if e.start is not None and e.start <= t]
                                    + ([self.terminating_at] if self.terminating_at is not None and instance.label == "Blue"
                                       and t >= self.terminating_at else [])
                                    + ([self.end] if self.end is not None and t >= self.end else []))),
            "lifecycleEvents": events,
        }
        if instance.label:
            target["instanceLabel"] = instance.label
        return {"deploymentTargetType": "InstanceTarget", "instanceTarget": target}

    def visible_instances(self, t):
        return [i for i in self.instances if i.appears <= t]

    def info(self, t):
        status = self.status(t)
        counts = {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0}
        if status != "Created":
            for instance in self.visible_instances(t):
                counts[self.target(instance, t)["instanceTarget"]["status"]] += 1
        info = {
            "applicationName": "mdl-Herd",
            "deploymentGroupName": "mdl-HerdDeployGroup",
            "deploymentConfigName": "CodeDeployDefault.AllAtOnce",
            "deploymentId": self.deployment_id,
            "revision": {"revisionType": "S3", "s3Location": {"bucket": "123456789012-mdl-staging-dev", "key": "1.5.0/herd/herd.zip",
                                                              "bundleType": "zip"}},
            "status": status,
            "createTime": at(0),
            "deploymentOverview": counts,
            "creator": self.creator,
            "ignoreApplicationStopFailures": self.ignore_application_stop_failures,
            "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
            "updateOutdatedInstancesOnly": False,
            "deploymentStyle": {
                "deploymentType": "BLUE_GREEN" if self.blue_green else "IN_PLACE",
                "deploymentOption": "WITH_TRAFFIC_CONTROL" if self.blue_green else "WITHOUT_TRAFFIC_CONTROL",
            },
            "instanceTerminationWaitTimeStarted": bool(self.termination_wait_at is not None and t >= self.termination_wait_at),
            "fileExistsBehavior": "DISALLOW",
            "deploymentStatusMessages": list(self.status_messages),
            "computePlatform": "Server",
        }
        if t >= self.start:
            info["startTime"] = at(self.start)
        if self.end is not None and t >= self.end:
            info["completeTime"] = at(self.end)
            if self.error:
                info["errorInformation"] = dict(self.error)
            if self.rollback_id:
                info["rollbackInfo"] = {"rollbackDeploymentId": self.rollback_id,
                                        "rollbackMessage": "Automatic rollback to the last successful revision: {0}".format(self.rollback_id)}
        if self.triggering_id:
            info["rollbackInfo"] = {"rollbackTriggeringDeploymentId": self.triggering_id}
        if self.blue_green:
            info["targetInstances"] = {"autoScalingGroups": ["mdl-HerdAutoScalingGroup"]}
            info["blueGreenDeploymentConfiguration"] = {
                "terminateBlueInstancesOnDeploymentSuccess": dict(
                    {"action": "KEEP_ALIVE" if self.keep_alive else "TERMINATE"},
                    **({} if self.termination_wait_minutes is None else {"terminationWaitTimeInMinutes": self.termination_wait_minutes})),
                "deploymentReadyOption": {
                    "actionOnTimeout": "STOP_DEPLOYMENT" if self.ready_option else "CONTINUE_DEPLOYMENT",
                    "waitTimeInMinutes": self.ready_option["minutes"] if self.ready_option else 0,
                },
                "greenFleetProvisioningOption": {"action": "COPY_AUTO_SCALING_GROUP"},
            }
            info["loadBalancerInfo"] = {"targetGroupInfoList": [{"name": "mdl-HerdTargetGroup"}]}
        return info

    def stop(self, t, rollback, rollback_id=None):
        """StopDeployment at second t: Stopped 2 s later, with a rollback deployment if asked."""
        self.stop_requested = t
        self.end = t + 2.0
        self.final = "Stopped"
        self.error = {"code": "MANUAL_STOP", "message": "The deployment was stopped by a user."}
        if rollback:
            self.rollback_id = rollback_id


def blue_green_story(deployment_id="d-ABCDE1234", scale=1.0, fail_at=None, termination_wait_minutes=0, keep_alive=False,
                     rollback_id="d-RBCKE5678", ready_minutes=None, unannounced_wait=30):
    """A Blue/Green deployment of HERD on one instance; each unit of time is ``scale`` seconds.

    Provisioning 0-30, green events 40-305, blue events 305-330, then the termination wait,
    then 60 units of termination. ``fail_at`` names the green event that fails (diagnostics,
    logTail, auto-rollback). ``termination_wait_minutes=None``: the group sets no wait length
    (as the upgrade Lambda's groups): CodeDeploy waits ``unannounced_wait`` units and the
    original instance's target tells when its termination starts.
    """
    s = float(scale)
    spans = [("ApplicationStop", 40, 45), ("DownloadBundle", 45, 60), ("BeforeInstall", 60, 120), ("Install", 120, 130),
             ("AfterInstall", 130, 190), ("ApplicationStart", 190, 250), ("ValidateService", 250, 280),
             ("BeforeAllowTraffic", 280, 285), ("AllowTraffic", 285, 300), ("AfterAllowTraffic", 300, 305)]
    ready = None
    if ready_minutes is not None:
        ready = {"from": 281 * s, "minutes": ready_minutes}
        spans = spans[:7] + [(name, None, None) for name, _a, _b in spans[7:]]
    green_events = []
    end = None
    for name, start, stop in spans:
        if fail_at == name:
            diagnostics = {"errorCode": "ScriptFailed", "scriptName": "scripts/smokeTestHerd.sh" if name == "ValidateService" else
                           "scripts/{0}.sh".format(name.lower()),
                           "message": "Script at specified location: scripts/smokeTestHerd.sh run as user mdladmin failed with exit code 1",
                           "logTail": VALIDATE_LOG}
            green_events.append(Event(name, start * s, stop * s, "Failed", diagnostics))
            end = stop * s + 1 * s
            break
        green_events.append(Event(name, None if start is None else start * s, None if stop is None else stop * s))
    names = [e.name for e in green_events]
    for name in GREEN_EVENTS:
        if name not in names:
            green_events.append(Event(name, None, None))
    blue_events = [Event("BeforeBlockTraffic", 305 * s, 310 * s), Event("BlockTraffic", 310 * s, 325 * s),
                   Event("AfterBlockTraffic", 325 * s, 330 * s)]
    if fail_at or ready is not None:
        blue_events = [Event(e.name, None, None) for e in blue_events]
    instances = [Instance("i-0aaaaaaaaaaaaaaa1", "Blue", 2 * s, blue_events), Instance("i-0bbbbbbbbbbbbbbb2", "Green", 30 * s, green_events)]
    if fail_at:
        error = {"code": "HEALTH_CONSTRAINTS",
                 "message": "The overall deployment failed because too many individual instances failed deployment, too few healthy "
                            "instances are available for deployment, or some instances in your deployment group are experiencing problems."}
        return Story(deployment_id, instances, start=2 * s, end=end, final="Failed", error=error, rollback_id=rollback_id)
    if ready is not None:
        return Story(deployment_id, instances, start=2 * s, ready_option=ready)
    termination_at = 330 * s
    terminating_at = None
    if termination_wait_minutes is None:
        terminating_at = termination_at + unannounced_wait * s
        end = terminating_at + 60 * s
    else:
        end = termination_at + 60 * termination_wait_minutes + 60 * s
    if keep_alive:
        end = termination_at + 1 * s
    return Story(deployment_id, instances, start=2 * s, end=end, termination_wait_minutes=termination_wait_minutes,
                 termination_wait_at=None if keep_alive else termination_at, keep_alive=keep_alive, terminating_at=terminating_at)


# The sandbox's Blue/Green deployment (sandbox/mdl_sandbox/timeline.py, BLUE_GREEN_SHAPE), as fractions of its length.
SANDBOX_SHAPE = {
    "started": 0.04,
    "green": (("ApplicationStop", 0.10, 0.14), ("DownloadBundle", 0.14, 0.19), ("BeforeInstall", 0.19, 0.26),
              ("Install", 0.26, 0.31), ("AfterInstall", 0.31, 0.38), ("ApplicationStart", 0.38, 0.46),
              ("ValidateService", 0.46, 0.54), ("BeforeAllowTraffic", 0.54, 0.57), ("AllowTraffic", 0.57, 0.64),
              ("AfterAllowTraffic", 0.64, 0.67)),
    "blue": (("BeforeBlockTraffic", 0.67, 0.70), ("BlockTraffic", 0.70, 0.76), ("AfterBlockTraffic", 0.76, 0.79)),
    "wait_started": 0.79,
    "terminate": 0.88,
}


def sandbox_like_story(seconds, deployment_id="d-ABCDE1234"):
    """A Blue/Green deployment ``seconds`` long, shaped as the sandbox's: both instances listed from its start,
    no termination wait length (the original instance's target tells when its termination starts)."""
    d = float(seconds)
    green = [Event(name, a * d, b * d) for name, a, b in SANDBOX_SHAPE["green"]]
    blue = [Event(name, a * d, b * d) for name, a, b in SANDBOX_SHAPE["blue"]]
    start = SANDBOX_SHAPE["started"] * d
    instances = [Instance("i-0aaaaaaaaaaaaaaa1", "Blue", start, blue), Instance("i-0bbbbbbbbbbbbbbb2", "Green", start, green)]
    return Story(deployment_id, instances, start=start, end=d, termination_wait_minutes=None,
                 termination_wait_at=SANDBOX_SHAPE["wait_started"] * d, terminating_at=SANDBOX_SHAPE["terminate"] * d)


def in_place_story(deployment_id="d-INPLC1234", scale=1.0):
    s = float(scale)
    events = [Event(name, (10 + 20 * n) * s, (30 + 20 * n) * s) for n, name in enumerate(IN_PLACE_EVENTS)]
    return Story(deployment_id, [Instance("i-0ccccccccccccccc3", None, 2 * s, events)], start=2 * s, end=160 * s, blue_green=False)


def rollback_story(deployment_id, triggering_id, start, length=60.0):
    """The rollback CodeDeploy starts for a failed Blue/Green deployment: it reroutes to the original instances."""
    blue = [Event("BeforeAllowTraffic", start + 5, start + 10), Event("AllowTraffic", start + 10, start + length - 10),
            Event("AfterAllowTraffic", start + length - 10, start + length - 5)]
    return Story(deployment_id, [Instance("i-0aaaaaaaaaaaaaaa1", "Blue", start, blue)], start=start, end=start + length,
                 creator="codeDeployRollback", triggering_id=triggering_id, keep_alive=True)


class FakeCodeDeploy(object):
    """Answers a real botocore CodeDeploy client from stories, at the fake clock's time.

    ``errors`` is a list of (operation, error code) answered, in order, before the real
    answers of that operation. Each answer moves the clock by ``latency`` seconds.
    """

    def __init__(self, clock, stories=(), latency=0.02, page_size=None):
        self.clock = clock
        self.stories = dict((s.deployment_id, s) for s in stories)
        self.errors = []
        self.latency = latency
        self.page_size = page_size
        self.requests = []
        self.client = boto3.client("codedeploy", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                                   aws_secret_access_key="secret", endpoint_url="https://codedeploy.invalid")
        self.client.meta.events.register("before-call.codedeploy", self._answer)
        self._validator = ParamValidator()

    def add(self, story):
        self.stories[story.deployment_id] = story

    def count(self, operation):
        return sum(1 for _t, op, _p in self.requests if op == operation)

    def _error(self, code, message="", status=400):
        return AWSResponse("https://codedeploy.invalid", status, {}, None), {
            "Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 0}}

    def _answer(self, model, params, **kwargs):
        operation = model.name
        params = json.loads(params.get("body") or b"{}")  # CodeDeploy speaks JSON: the request as sent
        t = self.clock.seconds
        self.clock.now += self.latency
        self.requests.append((t, operation, params))
        for n, (op, code) in enumerate(self.errors):
            if op == operation:
                del self.errors[n]
                return self._error(code, status=400 if "Throttl" in code or "Exception" in code else 500)
        story = self.stories.get(params.get("deploymentId"))
        if story is None:
            return self._error("DeploymentDoesNotExistException", "The deployment {0} could not be found.".format(params.get("deploymentId")))
        try:
            parsed = getattr(self, "_" + operation)(story, t, params)
        except _Refused as e:
            return self._error(e.code, e.message)
        report = self._validator.validate(parsed, model.output_shape)
        if report.has_errors():
            raise AssertionError("{0} answer does not fit the service model:\n{1}".format(operation, report.generate_report()))
        parsed["ResponseMetadata"] = {"HTTPStatusCode": 200, "RetryAttempts": 0}
        return AWSResponse("https://codedeploy.invalid", 200, {}, None), parsed

    def _GetDeployment(self, story, t, params):
        return {"deploymentInfo": story.info(t)}

    def _ListDeploymentTargets(self, story, t, params):
        if story.status(t) == "Created":
            raise _Refused("DeploymentNotStartedException", "The specified deployment has not started.")
        ids = [i.instance_id for i in story.visible_instances(t)]
        if not self.page_size:
            return {"targetIds": ids}
        start = int(params.get("nextToken") or 0)
        page = {"targetIds": ids[start:start + self.page_size]}
        if start + self.page_size < len(ids):
            page["nextToken"] = str(start + self.page_size)
        return page

    def _BatchGetDeploymentTargets(self, story, t, params):
        if story.status(t) == "Created":
            raise _Refused("DeploymentNotStartedException", "The specified deployment has not started.")
        if len(params["targetIds"]) > 25:
            raise _Refused("DeploymentTargetListSizeExceededException", "At most 25 target ids.")
        by_id = dict((i.instance_id, i) for i in story.visible_instances(t))
        missing = [i for i in params["targetIds"] if i not in by_id]
        if missing:
            raise _Refused("DeploymentTargetDoesNotExistException", "No target {0}".format(missing[0]))
        return {"deploymentTargets": [story.target(by_id[i], t) for i in params["targetIds"]]}

    def _StopDeployment(self, story, t, params):
        if story.status(t) in ("Succeeded", "Failed", "Stopped"):
            raise _Refused("DeploymentAlreadyCompletedException", "The deployment is already completed.")
        rollback_id = None
        if params.get("autoRollbackEnabled"):
            rollback_id = "d-STOPR" + story.deployment_id[-4:]
            self.add(rollback_story(rollback_id, story.deployment_id, t + 2.0))
        story.stop(t, params.get("autoRollbackEnabled"), rollback_id)
        return {"status": "Pending", "statusMessage": "Stop request for the deployment is being processed"}


class _Refused(Exception):
    def __init__(self, code, message):
        super(_Refused, self).__init__(message)
        self.code, self.message = code, message
