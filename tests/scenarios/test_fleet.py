"""Fleets: every host of an inventory is a stack; batches promote stage by stage and stop at the first failure."""

import re

import yaml

from conftest import invocations, served_version, stack_key, user_deployments


def inventory(tmp_path, groups):
    """An inventory file: ``groups`` maps a group name to the stack entries it holds."""
    content = {"all": {"children": {
        group: {"hosts": {
            "{0}-{1}".format(e["mdl_instance_name"], e["mdl_environment"]).lower(): {
                "mdl_instance_name": e["mdl_instance_name"], "mdl_environment": e["mdl_environment"],
                "herd_upgrade_aws_region": e["aws_region"]}
            for e in entries}}
        for group, entries in groups.items()}}}
    path = tmp_path / "stacks.yml"
    path.write_text(yaml.safe_dump(content))
    return path


def table_rows(output):
    """The rows of the final table (stack | from | to | deployment | duration | outcome), by stack."""
    rows = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+/\S+) \| (\S+) \| (\S+) \| (\S+) \| (.+?) \| (\w+)$", line)  # printed as it is, a line each
        if match:
            rows[match.group(1)] = match.groups()[1:]
    return rows


def test_four_stacks_upgrade_in_one_run_each_once(sandbox, make_stack, playbook, tmp_path):
    stacks = [make_stack() for _ in range(4)]
    path = inventory(tmp_path, {"DEV": stacks})
    run = playbook(None, "-i", str(path), "-f", "4", herd_version="0.176.0", stacks="DEV")
    assert run.finish() == 0, run.output[-4000:]
    rows = table_rows(run.output)
    for entry in stacks:
        assert [d["status"] for d in user_deployments(sandbox, entry)] == ["Succeeded"]
        assert invocations(sandbox, entry) == 1
        assert served_version(sandbox, entry) == "0.176.0"
        key = stack_key(entry)
        # every progress line says whose deployment it is
        assert re.search(r"^{0}: d-[A-Z0-9]{{9}} ".format(re.escape(key)), run.output, re.M), run.output[-3000:]
        assert rows[key][0] == "0.170.0" and rows[key][1] == "0.176.0" and rows[key][4] == "upgraded"
    assert not re.search(r"^d-[A-Z0-9]{9} ", run.output, re.M)  # no progress line without its stack


def test_a_failed_stack_stops_the_later_batches_after_its_siblings_end(sandbox, make_stack, playbook, tmp_path):
    failing = make_stack(faults={"fail_at_event": "ValidateService"})
    sibling = make_stack()
    later = make_stack()
    path = inventory(tmp_path, {"DEV": [failing, sibling], "QA": [later]})
    run = playbook(None, "-i", str(path), "-f", "2", herd_version="0.176.0", stacks="DEV:QA", herd_upgrade_serial="2")
    assert run.finish() != 0
    # the sibling was followed to its end and reported
    assert [d["status"] for d in user_deployments(sandbox, sibling)] == ["Succeeded"]
    assert served_version(sandbox, sibling) == "0.176.0"
    rows = table_rows(run.output)
    assert rows[stack_key(sibling)][4] == "upgraded"
    assert rows[stack_key(failing)][4] == "failed"
    assert served_version(sandbox, failing) == "0.170.0"
    # the later batch never started: not one AWS call for its stack
    assert stack_key(later) not in rows
    assert sandbox.calls.snapshot()["stacks"].get(stack_key(later), {}) == {}
    assert "event: ValidateService failed on" in run.output


def test_batches_follow_the_order_of_the_pattern(sandbox, make_stack, playbook, tmp_path):
    first, second = make_stack(), make_stack()
    path = inventory(tmp_path, {"QA": [first], "DEV": [second]})
    run = playbook(None, "-i", str(path), herd_version="0.176.0", stacks="QA:DEV", herd_upgrade_serial="1")
    assert run.finish() == 0, run.output[-4000:]
    created = [user_deployments(sandbox, e)[0]["create_time"] for e in (first, second)]
    assert created[0] < created[1]


def test_an_upgrade_over_the_downtime_limit_keeps_what_it_knew_in_the_table(sandbox, make_stack, playbook, tmp_path):
    """Issue 27 item 9: the upgrade succeeded, but HERD was down longer than herd_upgrade_max_downtime_seconds. The run
    fails; the table still shows the version reached, the deployment and its duration."""
    slow = make_stack(deployment_seconds=12, faults={"herd_unavailable_seconds": 3})
    path = inventory(tmp_path, {"DEV": [slow]})
    run = playbook(None, "-i", str(path), herd_version="0.176.0", stacks="DEV", herd_upgrade_max_downtime_seconds="1",
                   herd_upgrade_probe_interval="0.25")
    assert run.finish() != 0, run.output[-4000:]
    deployment = user_deployments(sandbox, slow)[0]
    assert deployment["status"] == "Succeeded" and served_version(sandbox, slow) == "0.176.0"
    row = table_rows(run.output)[stack_key(slow)]
    assert row[:3] == ("0.170.0", "0.176.0", deployment["deployment_id"]), row
    assert row[3].endswith(" s") and row[3] != "-" and row[4] == "failed", row
    assert "more than herd_upgrade_max_downtime_seconds (1 s)" in run.output
