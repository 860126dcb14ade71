"""A run cancelled as AWX and ansible-runner cancel a job leaves no process behind.

ansible-runner's cancel sends SIGKILL to the process group it started (ansible-playbook's); Ansible's
workers run in sessions of their own (ansible-core 2.19 and later), so they, and the module processes
they started, are not in that group: each module watches the run's controller process and stops
itself, cleanly, within seconds of its end.
"""

import json
import os
import signal
import time

import boto3

from conftest import AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, _process_table, _tree, invocations, stack_key

FOLLOWING = r"TASK \[mdl\.herd\.herd_upgrade : Follow the Blue/Green deployment to the end\]"
INVOKING = r"TASK \[mdl\.herd\.herd_upgrade : Read the version HERD serves now"
# The promise: no process of a cancelled run runs longer than this after the cancel.
GONE_WITHIN = 5.0


def cancel(run):
    """ansible-runner's cancel: SIGKILL to the process group of ansible-playbook. Returns the processes of the run
    (found by parent links just before) that were still running GONE_WITHIN seconds later."""
    tree = _tree(run.process.pid, _process_table())
    assert len(tree) > 2, tree  # ansible-playbook, a worker and the module's processes
    os.killpg(os.getpgid(run.process.pid), signal.SIGKILL)
    cancelled = time.monotonic()
    while True:
        table = _process_table()
        alive = [p for p in tree if p in table and not table[p][1].startswith("Z")]
        if not alive or time.monotonic() - cancelled > GONE_WITHIN:
            return alive
        time.sleep(0.1)


def ssm_client(sandbox, entry):
    return boto3.client("ssm", region_name=entry["aws_region"], endpoint_url=sandbox.endpoints()["aws_endpoint_url"],
                        aws_access_key_id=AWS_ACCESS_KEY_ID, aws_secret_access_key=AWS_SECRET_ACCESS_KEY,
                        aws_session_token=AWS_SESSION_TOKEN)


def codedeploy_reads(sandbox, entry):
    calls = sandbox.calls.snapshot()["stacks"].get(stack_key(entry), {})
    return sum(n for name, n in calls.items() if name.startswith("codedeploy:"))


def test_a_run_cancelled_during_the_wait_stops_polling_and_the_rerun_joins(make_stack, playbook, sandbox):
    entry = make_stack()
    sandbox.hold(stack_key(entry), "ValidateService")
    run = playbook(entry, herd_version="0.176.0")
    held = sandbox.wait_held(stack_key(entry), timeout=120)
    assert held is not None, run.output
    run.wait_for_line(FOLLOWING)
    alive = cancel(run)
    assert alive == [], "still running {0} s after the cancel: {1}".format(GONE_WITHIN, alive)
    reads = codedeploy_reads(sandbox, entry)
    time.sleep(6)  # longer than the wait's poll interval (5 s): a module still polling would show up
    assert codedeploy_reads(sandbox, entry) == reads, "CodeDeploy was still read after the cancel"
    again = playbook(entry, herd_version="0.176.0")
    again.wait_for_line(FOLLOWING)
    sandbox.release(stack_key(entry))
    assert again.finish() == 0, again.output
    assert held["deployment_id"] in again.output and "(joined)" in again.output
    assert invocations(sandbox, entry) == 1


def test_a_run_cancelled_while_it_waits_for_the_lock_invokes_nothing_and_leaves_the_lock_alone(make_stack, playbook, sandbox):
    entry = make_stack()
    ssm = ssm_client(sandbox, entry)
    name = "/app/MDL/{0}/{1}/HERD/UpgradeLock".format(entry["mdl_instance_name"], entry["mdl_environment"])
    other = {"owner": "another-run", "host": "awx-node-2", "pid": 4242, "version": "0.176.0", "phase": "holding",
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "by": "mdl.herd"}
    ssm.put_parameter(Name=name, Value=json.dumps(other), Type="String", Overwrite=False)
    run = playbook(entry, herd_version="0.176.0", herd_upgrade_lock_wait=300)
    run.wait_for_line(INVOKING)
    deadline = time.monotonic() + 60
    while sandbox.calls.snapshot()["parameters_read"].get(stack_key(entry), {}).get(name, 0) < 2:  # it looked at the lock twice
        assert time.monotonic() < deadline and run.process.poll() is None, run.output
        time.sleep(0.1)
    alive = cancel(run)
    assert alive == [], "still running {0} s after the cancel: {1}".format(GONE_WITHIN, alive)
    assert invocations(sandbox, entry) == 0
    assert json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])["owner"] == "another-run"
