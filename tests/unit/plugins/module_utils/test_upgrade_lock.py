# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""start_or_join with the real upgrade lock, on fake SSM, CodeDeploy and Lambda: what a stopped run leaves, and what
the next run does with it (a run stopped during its Invoke leaves the lock marked; the next run for that version joins
the deployment as soon as it appears; another version is refused, naming it)."""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import sys

import pytest

botocore = pytest.importorskip("botocore")

from ansible_collections.mdl.herd.plugins.module_utils._lock import (  # noqa: E402
    INTERRUPTED,
    INVOKING,
    UpgradeLock,
    process_space,
    process_start,
)
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import (  # noqa: E402
    UpgradeFailure,
    UpgradeInvocation,
    start_or_join,
)
from ansible_collections.mdl.herd.plugins.module_utils._invoke import interruption  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._watch import Interrupted  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.test_lock import NAME, STACK, T0, Clock  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.test_lock import FakeSsm as LockSsm  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.test_upgrade import (  # noqa: E402
    FakeLambda,
    invoke_response,
)

SECOND = datetime.timedelta(seconds=1)
STOPPED = "the run was stopped (SIGTERM)"
OK_LOG = "START RequestId: r-1\nINFO: Deployment id is: 'd-NEW000001'.\nEND RequestId: r-1\n"


class Meta(object):
    region_name = "us-east-1"


class Ssm(LockSsm):
    """SSM's parameter store (create-if-absent, AWS's clock), in region us-east-1."""

    meta = Meta()

    def value(self, name=NAME):
        return json.loads(self.parameters[name][0]) if name in self.parameters else None


class CodeDeploy(object):
    """The stack's deployment group: its deployments, listed by status and creation time as CodeDeploy lists them."""

    def __init__(self):
        self.deployments = {}

    def add(self, deployment_id, created, status="Created", creator="user"):
        self.deployments[deployment_id] = {
            "deploymentId": deployment_id, "status": status, "createTime": created, "creator": creator,
            "applicationName": STACK.codedeploy_application, "deploymentGroupName": STACK.deployment_group}

    def list_deployments(self, applicationName, deploymentGroupName, includeOnlyStatuses=None, createTimeRange=None):
        found = [i for i, d in sorted(self.deployments.items())
                 if (not includeOnlyStatuses or d["status"] in includeOnlyStatuses)
                 and (not createTimeRange or d["createTime"] >= createTimeRange["start"])]
        return {"deployments": found}

    def get_deployment(self, deploymentId, aws_retry=False):
        return {"deploymentInfo": dict(self.deployments[deploymentId])}


class Run(object):
    """One run of the module's logic: its clients, its lock, its warnings."""

    def __init__(self, ssm, codedeploy, version="0.176.0", lambda_client=None, token=None, clock=None, host="ctl-1",
                 pid=None, space=None):
        self.ssm, self.codedeploy = ssm, codedeploy
        self.lambda_client = lambda_client or FakeLambda(invoke_response=invoke_response(OK_LOG))
        self.clock = clock or Clock(ssm)
        self.warnings = []
        self.locks = []
        self.upgrade = UpgradeInvocation(version, stack=STACK, lambda_client=self.lambda_client, codedeploy=codedeploy,
                                         ssm=ssm, invoke_client=self.lambda_client.invoke_client, now=lambda: ssm.now,
                                         warn=self.warnings.append)
        self.version, self.token, self.host, self.pid, self.space = version, token, host, pid, space

    def lock(self, stale_after):
        held = UpgradeLock(self.ssm, STACK, self.version, stale_after, host=self.host, token=self.token, clock=self.clock,
                           sleep=self.clock.sleep, poll=2.0, pid=self.pid, space=self.space)
        self.locks.append(held)
        return held

    def __call__(self, lock_wait=120, **kwargs):
        return start_or_join(self.upgrade, lock=self.lock, lock_wait=lock_wait, warn=self.warnings.append, **kwargs)


def stack(version="0.170.0"):
    ssm, codedeploy = Ssm(), CodeDeploy()
    ssm.parameters[STACK.requested_version_parameter] = (version, T0 - 3600 * SECOND)
    ssm.parameters[STACK.most_recent_deployment_id_parameter] = ("d-OLD000001", T0 - 3600 * SECOND)
    codedeploy.add("d-OLD000001", T0 - 3600 * SECOND, "Succeeded")
    return ssm, codedeploy


def stopped_during_invoke(ssm, codedeploy, version="0.176.0"):
    """A run stopped while its Invoke for ``version`` was under way; returns that run."""
    lambda_client = FakeLambda(invoke_error=Interrupted(STOPPED))
    run = Run(ssm, codedeploy, version=version, lambda_client=lambda_client, token="t-stopped")
    with pytest.raises(Interrupted):
        run()
    return run


# --- item 10: the lock never outlives an Invoke that returned ------------------------------------------


def test_the_lock_is_gone_after_an_invoke_that_codedeploy_refused():
    """The pin of issue 27 item 10: start_or_join, not invoke() alone, with the real lock."""
    ssm, codedeploy = stack()
    payload = json.dumps({"errorType": "Exception", "errorMessage": "CodeDeploy 'create-deployment' failure. Exception: "
                          "An error occurred (DeploymentLimitExceededException)"}).encode()
    refused = FakeLambda(invoke_response=invoke_response("ERROR: CodeDeploy caused an exception\n", "Unhandled", payload))
    run = Run(ssm, codedeploy, lambda_client=refused)
    with pytest.raises(UpgradeFailure, match="CodeDeploy refused its deployment"):
        run()
    assert len(refused.invokes) == 1
    assert NAME not in ssm.parameters
    assert not [name for name in ssm.parameters if ".takeover-" in name]


def test_the_lock_says_an_invoke_is_under_way_before_it_is_sent_and_is_gone_after():
    ssm, codedeploy = stack()
    seen = []
    lambda_client = FakeLambda(invoke_response=invoke_response(OK_LOG))
    original = lambda_client.invoke

    def invoke(**kwargs):
        seen.append(ssm.value())
        return original(**kwargs)

    lambda_client.invoke = invoke
    result = Run(ssm, codedeploy, lambda_client=lambda_client)()
    assert result["deployment_id"] == "d-NEW000001"
    assert seen[0]["phase"] == INVOKING and seen[0]["version"] == "0.176.0" and seen[0]["pid"] == os.getpid()
    assert seen[0]["invoked_at"].startswith("2024-05-02T14:00:00") and seen[0]["previous_deployment_id"] == "d-OLD000001"
    assert NAME not in ssm.parameters


# --- a run stopped at each moment ------------------------------------------------------------------------


def test_stopped_while_waiting_for_the_lock_leaves_the_other_runs_lock_and_says_so():
    ssm, codedeploy = stack()
    Run(ssm, codedeploy, version="0.177.0", token="t-other").lock(960).acquire(0)
    before = ssm.parameters[NAME]
    run = Run(ssm, codedeploy)

    def stop(clock):
        if clock.t >= 6:
            raise Interrupted(STOPPED)

    run.clock.on_sleep = stop
    with pytest.raises(Interrupted):
        run()
    assert ssm.parameters[NAME] == before  # not ours: left as it was
    assert run.lambda_client.invokes == []
    failure = interruption(run.upgrade, STOPPED)
    assert failure.msg.startswith("Stack mdl/DEV: the run was stopped (SIGTERM) while waiting for "
                                  "the upgrade lock SSM {0}, held by ctl-1".format(NAME)), failure.msg
    assert "for HERD 0.177.0" in failure.msg and "nothing was invoked, and that lock was left as it was" in failure.msg
    assert "Running this task again waits for it again" in failure.msg
    assert failure.details["changed"] is False


def test_stopped_right_after_creating_the_lock_releases_it():
    """Stopped between the create and its answer: the lock is read back and released."""
    ssm, codedeploy = stack()
    run = Run(ssm, codedeploy)
    original = ssm.put_parameter

    def put_then_stop(**kwargs):
        original(**kwargs)
        if kwargs["Name"] == NAME and not kwargs["Overwrite"]:
            raise Interrupted(STOPPED)

    ssm.put_parameter = put_then_stop
    with pytest.raises(Interrupted):
        run()
    ssm.put_parameter = original
    assert NAME not in ssm.parameters


def test_stopped_while_holding_the_lock_before_the_invoke_releases_it():
    ssm, codedeploy = stack()
    run = Run(ssm, codedeploy)
    original = ssm.get_parameter

    def slow_read(Name, aws_retry=False):
        if Name == STACK.most_recent_deployment_id_parameter and NAME in ssm.parameters:
            raise Interrupted(STOPPED)  # the read just before the invoke, under the lock
        return original(Name, aws_retry=aws_retry)

    ssm.get_parameter = slow_read
    with pytest.raises(Interrupted):
        run()
    ssm.get_parameter = original
    assert NAME not in ssm.parameters
    assert run.lambda_client.invokes == []
    failure = interruption(run.upgrade, STOPPED)
    assert "while it held the upgrade lock SSM {0}, before the invoke: nothing was invoked. The upgrade lock SSM {0} " \
           "was released.".format(NAME) in failure.msg
    assert "Running this task again starts the upgrade to HERD 0.176.0" in failure.msg and "Stack mdl/DEV" in failure.msg


def test_stopped_during_the_invoke_leaves_the_lock_saying_which_version_and_when():
    ssm, codedeploy = stack()
    run = stopped_during_invoke(ssm, codedeploy)
    value = ssm.value()
    assert value["phase"] == INTERRUPTED and value["version"] == "0.176.0" and value["owner"] == "t-stopped"
    assert value["invoked_at"].startswith("2024-05-02T14:00:00") and value["interrupted_at"].endswith("+00:00")
    assert value["reason"] == STOPPED and value["previous_deployment_id"] == "d-OLD000001"
    failure = interruption(run.upgrade, STOPPED)
    assert "during the invoke of mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION for HERD 0.176.0, sent at 2024-05-02 " \
           "14:00:00 UTC: the function goes on running in AWS" in failure.msg
    assert "The upgrade lock SSM {0} stays, saying so. Running this task again for HERD 0.176.0 joins that deployment as " \
           "soon as it appears, without waiting out lock_wait (herd_upgrade_lock_wait in the role)".format(NAME) in failure.msg
    assert "a run for another version is refused, naming 0.176.0" in failure.msg
    assert failure.details["changed"] is True


def test_stopped_after_the_invoke_returned_releases_the_lock_and_names_the_deployment():
    ssm, codedeploy = stack()
    run = Run(ssm, codedeploy)
    original = run.upgrade.warn

    def stop_on_warning(message):  # the log's WARN line is reported after the Invoke returned
        original(message)
        raise Interrupted(STOPPED)

    run.upgrade.warn = stop_on_warning
    run.lambda_client.invoke_response = invoke_response("WARN: slow\n" + OK_LOG)
    with pytest.raises(Interrupted):
        run()
    assert NAME not in ssm.parameters
    failure = interruption(run.upgrade, STOPPED)
    assert "after the invoke of mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION for HERD 0.176.0 returned (it started deployment " \
           "d-NEW000001). The upgrade lock SSM {0} was released. Running this task again joins deployment d-NEW000001".format(
               NAME) in failure.msg


def test_stopped_before_the_lock_says_nothing_was_invoked():
    ssm, codedeploy = stack()
    run = Run(ssm, codedeploy)
    failure = interruption(run.upgrade, STOPPED)
    assert failure.msg == ("Stack mdl/DEV: {0} before anything was invoked for HERD 0.176.0. Running "
                           "this task again starts over: it joins a deployment of 0.176.0 under way, or starts the "
                           "upgrade.".format(STOPPED))


# --- the next run, after an interrupted Invoke -----------------------------------------------------------


def test_a_rerun_for_that_version_joins_the_deployment_as_soon_as_it_appears_and_removes_the_lock():
    ssm, codedeploy = stack()
    stopped_during_invoke(ssm, codedeploy)
    ssm.now += 5 * SECOND
    rerun = Run(ssm, codedeploy, token="t-rerun")

    def deployment_appears(clock):  # the function, still running in AWS, creates its deployment 6 s later
        if clock.t >= 6 and "d-LATE00001" not in codedeploy.deployments:
            codedeploy.add("d-LATE00001", ssm.now, "Created")
            ssm.parameters[STACK.requested_version_parameter] = ("0.176.0", ssm.now)

    rerun.clock.on_sleep = deployment_appears
    result = rerun(lock_wait=600)
    assert (result["attached"], result["deployment_id"], result["changed"]) == (True, "d-LATE00001", False)
    assert rerun.lambda_client.invokes == []
    assert 6 <= rerun.clock.t <= 8  # as soon as it appeared, not lock_wait
    assert result["interrupted_invoke"]["lock_removed"] is True and result["interrupted_invoke"]["version"] == "0.176.0"
    assert NAME not in ssm.parameters
    assert not [name for name in ssm.parameters if ".takeover-" in name]


def test_a_rerun_finds_the_deployment_of_the_interrupted_invoke_already_ended_and_reports_it():
    ssm, codedeploy = stack()
    stopped_during_invoke(ssm, codedeploy)
    codedeploy.add("d-DONE00001", ssm.now + 3 * SECOND, "Succeeded")
    ssm.now += 900 * SECOND
    rerun = Run(ssm, codedeploy, token="t-rerun")
    result = rerun(lock_wait=120)
    assert (result["attached"], result["deployment_id"], result["deployment_status"]) == (True, "d-DONE00001", "Succeeded")
    assert result["deployment_id_source"] == "interrupted_invoke"
    assert rerun.lambda_client.invokes == [] and rerun.clock.sleeps == []
    assert NAME not in ssm.parameters


def test_a_rerun_with_the_deployment_already_under_way_joins_it_and_removes_the_lock():
    ssm, codedeploy = stack()
    stopped_during_invoke(ssm, codedeploy)
    codedeploy.add("d-LATE00001", ssm.now + 2 * SECOND, "InProgress")
    ssm.parameters[STACK.requested_version_parameter] = ("0.176.0", ssm.now + 1 * SECOND)
    ssm.now += 10 * SECOND
    result = Run(ssm, codedeploy, token="t-rerun")()
    assert (result["attached"], result["deployment_id"]) == (True, "d-LATE00001")
    assert result["interrupted_invoke"]["lock_removed"] is True
    assert NAME not in ssm.parameters


def test_another_version_is_refused_at_once_naming_the_interrupted_one_and_when():
    ssm, codedeploy = stack()
    stopped_during_invoke(ssm, codedeploy)
    ssm.now += 30 * SECOND
    other = Run(ssm, codedeploy, version="0.177.0", token="t-other")
    with pytest.raises(UpgradeFailure) as failure:
        other(lock_wait=120)
    message = failure.value.msg
    assert message.startswith("Stack mdl/DEV: the upgrade lock SSM {0} says that a run was stopped during its Invoke of "
                              "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION for HERD 0.176.0, sent at 2024-05-02 14:00:00 UTC "
                              "(stopped at 2024-05-02 14:00:00 UTC)".format(NAME)), message
    assert "no deployment of it has appeared yet" in message and "Nothing was invoked for HERD 0.177.0" in message
    assert "until the lock is taken over at 2024-05-02 14:16:00 UTC" in message
    assert "aws ssm delete-parameter --name {0} --region us-east-1".format(NAME) in message
    assert other.clock.sleeps == [] and other.lambda_client.invokes == []  # at once, not after lock_wait
    assert ssm.value()["phase"] == INTERRUPTED


def test_another_version_goes_ahead_once_the_deployment_of_the_interrupted_invoke_ended():
    ssm, codedeploy = stack()
    stopped_during_invoke(ssm, codedeploy)
    codedeploy.add("d-DONE00001", ssm.now + 3 * SECOND, "Failed")
    ssm.now += 600 * SECOND
    other = Run(ssm, codedeploy, version="0.177.0", token="t-other")
    result = other()
    assert result["deployment_id"] == "d-NEW000001" and len(other.lambda_client.invokes) == 1
    assert len(other.warnings) == 1, other.warnings
    assert "left by a run stopped during its Invoke of HERD 0.176.0" in other.warnings[0], other.warnings
    assert "d-DONE00001, has ended (Failed)" in other.warnings[0]
    assert NAME not in ssm.parameters


def test_a_rerun_waits_at_most_until_the_lock_is_stale_then_invokes():
    ssm, codedeploy = stack()
    stopped_during_invoke(ssm, codedeploy)
    rerun = Run(ssm, codedeploy, token="t-rerun")
    result = rerun(lock_wait=0)
    assert result["deployment_id"] == "d-NEW000001" and len(rerun.lambda_client.invokes) == 1
    assert 960 <= rerun.clock.t <= 964
    assert any("older than the invoke's read timeout (960 s)" in w for w in rerun.warnings), rerun.warnings


def test_a_process_killed_during_its_invoke_on_this_host_is_an_interrupted_invoke():
    ssm, codedeploy = stack()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    killed = Run(ssm, codedeploy, token="t-killed", pid=int(dead))
    held = killed.lock(960)
    held.acquire(0)
    held.mark_invoking(T0, "d-OLD000001")  # then SIGKILL: no clean-up
    ssm.now += 5 * SECOND
    other = Run(ssm, codedeploy, version="0.177.0", token="t-other")
    with pytest.raises(UpgradeFailure, match="stopped during its Invoke of .* for HERD 0.176.0"):
        other()
    assert other.clock.sleeps == []


# --- the lock's words -----------------------------------------------------------------------------------


def test_a_lock_never_released_says_when_it_is_taken_over_and_how_to_remove_it_by_hand():
    ssm, codedeploy = stack()
    Run(ssm, codedeploy, version="0.177.0", token="t-other", host="ctl-2").lock(960).acquire(0)
    ssm.now += 100 * SECOND
    run = Run(ssm, codedeploy)
    with pytest.raises(UpgradeFailure) as failure:
        run(lock_wait=120)
    message = failure.value.msg
    assert ("The upgrade lock SSM {0} of stack mdl/DEV is held by ctl-2 (process {1}) for HERD 0.177.0, written at "
            "2024-05-02 14:00:00 UTC (220 s ago), and it was not released within lock_wait (120 s; herd_upgrade_lock_wait "
            "in the role); no deployment is under way, so nothing was invoked.".format(NAME, os.getpid())) in message
    assert "it is taken over at 2024-05-02 14:16:00 UTC, once older than 960 s" in message
    assert message.endswith("remove the lock by hand: aws ssm delete-parameter --name {0} --region us-east-1".format(NAME))
    assert failure.value.details["lock"]["age_seconds"] == 220.0


def test_the_lock_of_a_process_killed_before_its_invoke_on_this_host_is_taken_over_at_once():
    ssm, codedeploy = stack()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start(child.pid)
        killed = Run(ssm, codedeploy, token="t-killed", pid=child.pid)
        killed.lock(960).acquire(0)
        value = ssm.value()
        assert (value["pid"], value["started"], value["space"], value["host"]) == (
            child.pid, started, process_space(), "ctl-1")
        run = Run(ssm, codedeploy, token="t-mine")
        with pytest.raises(UpgradeFailure, match="was not released within lock_wait"):
            run(lock_wait=4)  # alive: waited for
        assert run.clock.t == 4
    finally:
        child.kill()
        child.wait()
    run = Run(ssm, codedeploy, token="t-mine")
    result = run(lock_wait=120)
    assert result["deployment_id"] == "d-NEW000001" and run.clock.sleeps == []
    assert any(w.startswith("Took over the upgrade lock SSM {0} of stack mdl/DEV at once, held by ctl-1 (process {1}) for "
                            "HERD 0.176.0".format(NAME, child.pid)) and "no longer exists" in w for w in run.warnings)


def test_the_lock_of_a_process_on_another_host_is_never_taken_over_before_it_is_stale():
    ssm, codedeploy = stack()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    Run(ssm, codedeploy, token="t-far", pid=int(dead), host=socket.gethostname() + "-elsewhere").lock(960).acquire(0)
    run = Run(ssm, codedeploy, token="t-mine")
    with pytest.raises(UpgradeFailure, match="was not released within lock_wait"):
        run(lock_wait=2)


def test_without_the_lock_a_run_stopped_before_its_invoke_says_nothing_was_invoked():
    ssm, codedeploy = stack()
    run = Run(ssm, codedeploy)

    def stopped(read_timeout):
        raise Interrupted(STOPPED)

    run.upgrade.invoke_client = stopped  # stopped while the Invoke's client is built
    with pytest.raises(Interrupted):
        start_or_join(run.upgrade, lock=None)
    failure = interruption(run.upgrade, STOPPED)
    assert "before anything was invoked for HERD 0.176.0" in failure.msg and run.lambda_client.invokes == []


def test_without_the_lock_a_run_stopped_during_its_invoke_says_when_to_run_again():
    ssm, codedeploy = stack()
    run = Run(ssm, codedeploy, lambda_client=FakeLambda(invoke_error=Interrupted(STOPPED)))
    with pytest.raises(Interrupted):
        start_or_join(run.upgrade, lock=None)
    failure = interruption(run.upgrade, STOPPED)
    assert "during the invoke of mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION for HERD 0.176.0" in failure.msg
    assert "Run this task again after 900 s (the function's timeout): it joins that deployment" in failure.msg
    assert NAME not in ssm.parameters
