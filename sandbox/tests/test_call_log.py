"""The sandbox's record of calls: counts per stack, and when each call about a stack arrived."""

from mdl_sandbox.wire import AwsCall, CallLog


def call(operation, internal=False):
    return AwsCall("codedeploy", operation, "us-east-1", {}, internal, "AKIATEST")


def test_arrivals_are_the_clock_at_each_call_about_the_stack_by_operation():
    now = [100.0]
    log = CallLog(clock=lambda: now[0])
    log.record(call("GetDeployment"), "i1/DEV")
    now[0] = 102.5
    log.record(call("BatchGetDeploymentTargets"), "i1/DEV")
    log.record(call("GetDeployment"), "i2/DEV")  # another stack
    now[0] = 104.0
    log.record(call("GetDeployment"), "i1/DEV")
    log.record(call("GetDeployment", internal=True), "i1/DEV")  # the sandbox's own: neither counted nor timed
    log.record(call("GetDeployment"), None)  # about no stack
    assert log.arrivals("i1/DEV", "codedeploy:GetDeployment") == [100.0, 104.0]
    assert log.arrivals("i1/DEV", "codedeploy:BatchGetDeploymentTargets") == [102.5]
    assert log.arrivals("i2/DEV", "codedeploy:GetDeployment") == [102.5]
    assert log.arrivals("i3/DEV", "codedeploy:GetDeployment") == []
    assert log.arrivals("i1/DEV", "codedeploy:") == [100.0, 102.5, 104.0]  # every CodeDeploy call
    assert log.arrivals("i1/DEV", "codedeploy:Get") == []  # a prefix only when it ends the service's name
    assert log.snapshot()["stacks"]["i1/DEV"] == {"codedeploy:BatchGetDeploymentTargets": 1, "codedeploy:GetDeployment": 2}
    log.reset()
    assert log.arrivals("i1/DEV", "codedeploy:GetDeployment") == []


def test_a_stack_keeps_the_times_of_its_latest_calls_only():
    now = [0.0]
    log = CallLog(clock=lambda: now[0], keep_arrivals=3)
    for at in range(5):
        now[0] = float(at)
        log.record(call("GetDeployment"), "i1/DEV")
    log.record(call("GetDeployment"), "i2/DEV")
    assert log.arrivals("i1/DEV", "codedeploy:") == [2.0, 3.0, 4.0]  # the oldest two are gone
    assert log.arrivals("i2/DEV", "codedeploy:") == [4.0]  # each stack keeps its own
    assert log.snapshot()["stacks"]["i1/DEV"] == {"codedeploy:GetDeployment": 5}  # the counts are all kept
