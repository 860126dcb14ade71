"""Where the collection's modules run: in a fork of the task's worker on the controller, or as module processes."""

from __future__ import annotations

FORKED = "running mdl.herd.herd_upgrade_invoke in a fork of this worker"
PAYLOAD = "AnsiballZ_herd_upgrade_invoke"
WAIT_FORKED = "running mdl.herd.codedeploy_wait in a fork of this worker"
WAIT_PAYLOAD = "AnsiballZ_codedeploy_wait"
# ansible-playbook's own process imported the action plugins, so the modules' imports and service models
PRELOADED = "imports and AWS service models inherited from process"


def test_on_the_controller_herd_upgrade_invoke_and_codedeploy_wait_run_in_a_fork_of_the_worker(sandbox, make_stack, playbook):
    entry = make_stack()
    run = playbook(entry, "-vvv", herd_version="0.176.0")
    assert run.finish() == 0, run.output
    assert "HERD upgraded from 0.170.0 to 0.176.0 by deployment" in run.output
    for forked, payload in ((FORKED, PAYLOAD), (WAIT_FORKED, WAIT_PAYLOAD)):
        assert forked in run.output, run.output
        assert payload not in run.output  # no AnsiballZ payload was written for it
    # every forked module inherits boto3, amazon.aws and the service models from ansible-playbook's own process
    # (the strategy imported the action plugins there), never the worker's: not loaded once per task
    forked_lines = [line for line in run.output.splitlines() if "in a fork of this worker" in line]
    assert len(forked_lines) >= 2 and all(PRELOADED in line for line in forked_lines), forked_lines
    assert len(set(line.split(PRELOADED)[1].split()[0] for line in forked_lines)) == 1, forked_lines
    # the progress lines still show while the module runs in the fork, the probe's report with them
    assert "step 4/4 Terminating original instances" in run.output, run.output
    assert "zero_downtime" in run.output


def test_with_mdl_herd_module_process_codedeploy_wait_runs_as_a_process_and_says_its_lines(sandbox, make_stack, playbook):
    entry = make_stack()
    run = playbook(entry, "-vvv", "-e", "mdl_herd_module_process=true", herd_version="0.176.0")
    assert run.finish() == 0, run.output
    assert "HERD upgraded from 0.170.0 to 0.176.0 by deployment" in run.output
    assert WAIT_FORKED not in run.output
    assert WAIT_PAYLOAD in run.output, run.output
    assert "step 4/4 Terminating original instances" in run.output, run.output


def test_mdl_herd_module_process_gives_the_module_a_process_of_its_own_with_the_same_outcome(sandbox, make_stack, playbook):
    entry = make_stack(current_version="0.176.0")
    forked = playbook(entry, "-vvv", herd_version="0.176.0")
    assert forked.finish() == 0, forked.output
    assert FORKED in forked.output, forked.output
    process = playbook(entry, "-vvv", "-e", "mdl_herd_module_process=true", herd_version="0.176.0")
    assert process.finish() == 0, process.output
    assert FORKED not in process.output
    assert PAYLOAD in process.output, process.output
    for run in (forked, process):
        assert "HERD already serves 0.176.0; nothing to do." in run.output
        assert "changed=0" in run.output
