"""Progress as an operator watches it: lines printed while the deployment runs, each step and event once, in order."""

import re

from conftest import stack_key

VERSION = "0.176.0"
STEP = r"step (\d)/4 "


def test_lines_are_printed_while_the_deployment_runs_and_tell_every_step_once(sandbox, make_stack, playbook):
    entry = make_stack(deployment_seconds=40)
    key = stack_key(entry)
    sandbox.hold(key, "AllowTraffic")
    run = playbook(entry, herd_version=VERSION)
    assert sandbox.wait_held(key, timeout=120) is not None, run.output
    # The deployment cannot end while it is held: these lines were printed while it ran.
    run.wait_for_line(r"^{0}: d-[A-Z0-9]{{9}} step 1/4 Deploying replacement instances: ValidateService on i-".format(re.escape(key)))
    run.wait_for_line(r"^{0}: d-[A-Z0-9]{{9}} step 2/4 Rerouting traffic to replacement instances: BeforeAllowTraffic on i-".format(
        re.escape(key)))
    assert not re.search(r"d-[A-Z0-9]{9} Succeeded \(", run.output)
    sandbox.release(key)
    assert run.finish() == 0, run.output[-4000:]
    lines = [line[len(key) + 2:] for line in run.output.splitlines() if line.startswith(key + ": d-")]
    steps = [int(m.group(1)) for m in (re.search(STEP, line) for line in lines) if m]
    assert sorted(set(steps)) == [1, 2, 3, 4] and steps == sorted(steps), lines
    assert re.search(r" Succeeded \(\d+s\)$", lines[-1]), lines
    assert len(lines) == len(set(lines)), lines
    # One line per step start, lifecycle event and status: never one per poll.
    assert len(lines) <= 1 + 4 + 13 + 1, lines
