# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_upgrade_result
short_description: The result of a run of the role mdl.herd.herd_upgrade, from what its tasks registered
version_added: 1.1.0
description:
  - Returns the role's C(herd_upgrade_result) (its keys are documented with the role) from what the role's tasks
    registered in this run. The role's task "Keep the result" runs it once, whatever the outcome.
  - The outcome is C(failed) for bad input (stage C(input)) and for a failed invoke (stage C(preflight), C(lock),
    C(read) or C(invoke)); C(already_served) when HERD serves the version already; for a deployment this run followed,
    C(upgraded), C(downgraded), C(joined), C(would_upgrade) or C(would_join) (check mode), or C(failed) (stage
    C(version_check)) when HERD does not serve the version after the deployment succeeded.
  - A deployment that did not succeed is C(failed) (stage C(deployment)). Its message says, one labelled line each,
    where it failed, the last lines of the script's log, the rollback, what HERD serves, what SSM still asks new
    instances to install, and the next step.
  - The message names the stack, in the role's variable names, and says what running the role again does.
  - Every outcome's result starts from the same keys (stack, mdl_instance_name, mdl_environment, requested_version,
    from_version, deployment_id, joined, preflight, zero_downtime, stage).
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description:
      - What the role knows of this run, by name.
      - C(stack), the stack as C(instance/environment); C(mdl_instance_name) and C(mdl_environment), the role's
        variables of the same names; C(version), the version requested.
      - C(invoke), the registered result of M(mdl.herd.herd_upgrade_invoke) (skipped for bad input).
      - C(deployment), the registered result of M(mdl.herd.codedeploy_wait), and C(after), the version check after it;
        both are read only when C(invoke) started or joined a deployment (the test
        P(mdl.herd.herd_deployment_to_follow#test)), so that a wait or a check an earlier run left is not taken for this
        run's; C(after) only when that deployment succeeded.
      - C(rollback), the registered wait of CodeDeploy's rollback of a deployment that did not succeed, and
        C(after_failure), the registered M(mdl.herd.herd_buildinfo_check) after it; C(wait_timeout) and C(aws_region),
        the role's C(herd_upgrade_wait_timeout) and C(herd_upgrade_aws_region), which its next step names.
      - C(problems), the problems of the role's variables (bad input).
      - C(role_words), the role's C(herd_upgrade_role_words), which say a module's message in the role's variable
        names.
      - C(failed_task), for a task of the role that failed (the role's rescue), its C(name) and C(msg). The outcome is
        then C(failed), stage C(task).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Keep the result, as the role does
  ansible.builtin.set_fact:
    herd_upgrade_result: >-
      {{ {'stack': 'mdl/DEV', 'mdl_instance_name': 'mdl', 'mdl_environment': 'DEV', 'version': '0.176.0',
          'invoke': herd_upgrade_invoke, 'deployment': herd_upgrade_deployment | default({'skipped': true}),
          'after': herd_upgrade_after | default({'skipped': true}), 'rollback': {'skipped': true}, 'after_failure': {},
          'wait_timeout': 3600, 'aws_region': '', 'problems': [], 'role_words': []}
         | mdl.herd.herd_upgrade_result }}
"""

RETURN = r"""
_value:
  description: The role's C(herd_upgrade_result).
  type: dict
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.mdl.herd.plugins.test.herd_deployment_failed import ENDED, herd_deployment_failed
from ansible_collections.mdl.herd.plugins.test.herd_deployment_to_follow import herd_deployment_to_follow

CHANGED_OUTCOMES = ("upgraded", "downgraded", "joined", "would_upgrade")
SKIPPED = {"skipped": True, "changed": False}  # what a task this run did not run registers


def _dict(value):
    return value if isinstance(value, Mapping) else {}


def _skipped(result):
    return bool(_dict(result).get("skipped", False))


def _text(value):
    """As Jinja's ``~`` writes a value (None as None)."""
    return str(value)


def _shown(value):
    """As ``{{ value }}`` writes it (None as nothing)."""
    return "" if value is None else str(value)


def ending(invoke, deployment):
    """Which outcome this run had: input, invoke_failed, already_served, deployment_failed or followed."""
    if _skipped(invoke):
        return "input"
    if "already_served" not in invoke:
        return "invoke_failed"
    if invoke.get("already_served"):
        return "already_served"
    if herd_deployment_failed(deployment):  # the same test decides whether follow.yml includes failed.yml
        return "deployment_failed"
    return "followed"


def in_role_words(message, role_words, blanks=r"\s+"):
    """A module's message in the role's variable names (herd_upgrade_role_words, applied in turn), each run of
    ``blanks`` one space, trimmed."""
    text = re.sub(blanks, " ", message)
    for pattern, replacement in role_words:
        text = re.sub(pattern, replacement, text)
    return text.strip()


def _input(run):
    problems = list(run.get("problems") or [])
    return {"outcome": "failed", "changed": False, "status": None, "to_version": None, "duration_seconds": None,
            "stage": "input",
            "message": "{0}: nothing was read or changed in AWS; fix {1} and run again:\n{2}".format(
                run["stack"], "this" if len(problems) == 1 else "these", "\n".join(_text(p) for p in problems))}


def _invoke_failed(run, invoke):
    raw = _text(invoke.get("msg", "the invoke failed"))
    if re.match("Preflight of ", raw):
        stage = "preflight"
    elif "upgrade lock" in raw:
        stage = "lock"
    elif "served" not in invoke:
        stage = "read"
    else:
        stage = "invoke"
    text = in_role_words(raw, run.get("role_words") or [])
    return {"outcome": "failed", "changed": invoke.get("changed", False), "status": None, "to_version": None,
            "duration_seconds": None, "stage": stage,
            "message": text if run["stack"] in text else "{0}: {1}".format(run["stack"], text)}


def _already_served(run, before):
    return {"outcome": "already_served", "changed": False, "status": None, "duration_seconds": None,
            "to_version": before.get("build_number"),
            "message": "{0}: HERD already serves {1}; nothing to do.".format(run["stack"], _text(before.get("build_number")))}


def verified(deployment, after):
    """The version check after a successful deployment: the probe's read at its end, or the check task's."""
    if deployment.get("served_matches", False) and "build_number" not in after:
        return {"build_number": deployment.get("served_version"), "matches": True}
    return after


def downtime_sentence(deployment, checked):
    """What the zero-downtime probe saw, or why it did not run (check mode aside: nothing was deployed)."""
    zd = _dict(deployment.get("zero_downtime"))
    reason = zd.get("not_probed_reason")
    if reason and checked:
        return " HERD was not probed: {0}.".format(re.sub(r"[.]\s*$", "", _text(reason)))
    if not zd.get("requests", 0):
        return ""
    return " Zero downtime: {0} requests to HERD during the deployment, {1} failed{2}; versions seen: {3}{4}.".format(
        _text(zd["requests"]), _text(zd.get("failures")),
        ", longest stretch without a good answer {0} s".format(_text(zd.get("longest_outage_seconds"))) if zd.get("failures") else "",
        " -> ".join(_text(v) for v in zd.get("versions_seen") or []),
        " (both served in turn during the switch)" if zd.get("alternated") else "")


def _followed(run, invoke, deployment, after, before):
    check = verified(deployment, after)
    checked = not _skipped(check)
    attached = invoke.get("attached")
    deployment_id = _text(invoke.get("deployment_id"))
    version = _text(run["version"])
    if not checked:
        outcome = "would_join" if attached else "would_upgrade"
    elif not check.get("matches", False):
        outcome = "failed"
    elif attached:
        outcome = "joined"
    elif invoke.get("downgrade", False):
        outcome = "downgraded"
    else:
        outcome = "upgraded"
    duration = deployment.get("duration_seconds")
    if not checked:
        summary = "check mode: would {0} from {1} to {2}; nothing was changed.".format(
            "join deployment {0} ({1})".format(deployment_id, deployment.get("status") or "under way") if attached
            else "start the upgrade", _text(before.get("build_number")), version)
    elif outcome == "failed":
        summary = "\n".join([
            "deployment {0} succeeded in {1} s, but HERD {2}, not {3} ({4}).".format(
                deployment_id, _shown(deployment.get("duration_seconds", "?")),
                "reports " + _text(check["build_number"]) if check.get("build_number") else "could not be read",
                version, _shown(check.get("msg", ""))),
            "next: check the load balancer's target group and HERD's instance first: running this again reads HERD,"
            " changes nothing if it then serves {0}, and otherwise starts another deployment of {0} (deployment {1} is"
            " over: there is nothing to join).".format(version, deployment_id)])
    elif attached and before.get("build_number") == check.get("build_number"):
        summary = "HERD serves {0}: deployment {1} (joined after traffic had reached it) ended in {2} s.".format(
            _text(check.get("build_number")), deployment_id, _text(duration))
    else:
        summary = "HERD {0} from {1} to {2} by deployment {3}{4} in {5} s.".format(
            "downgraded" if invoke.get("downgrade") else "upgraded", _text(before.get("build_number")),
            _text(check.get("build_number")), deployment_id, " (joined)" if attached else "", _text(duration))
    return {"outcome": outcome, "changed": outcome in CHANGED_OUTCOMES, "status": deployment.get("status"),
            "stage": "version_check" if outcome == "failed" else None,
            "to_version": check.get("build_number") if checked else None,
            "duration_seconds": duration,
            "message": "{0}: {1}{2}".format(run["stack"], summary, downtime_sentence(deployment, checked))}


# The wait's message without its rollback sentences (the rollback was followed since) and its advice to the module's
# user (the next step says what a re-run does).
_WAIT_SENTENCES_FOLLOWED_SINCE = (
    re.compile(r" ?Rollback deployment d-[A-Z0-9]{9} is [A-Za-z]+ [(][^)]*[)][.]"),
    re.compile(r" ?It goes on without this task: wait again with the same deployment_id and a longer wait_timeout,"
               r" or set on_timeout to stop or rollback[.]"),
    re.compile(r"^(Rollback deployment .*|No rollback deployment was started[.]|Rollback: .*)(\n|$)", re.M),
)
# The wait's lines after its first, one labelled line each, the others indented under them.
_WAIT_LABELS = (
    (re.compile(r"^Lifecycle event ", re.M), "  event: "),
    (re.compile(r"^Also failed: ", re.M), "  also failed: "),
    (re.compile(r"^Error code ", re.M), "  code: "),
    (re.compile(r"^Last lines of its log:$", re.M), "  log, last lines:"),
    (re.compile(r"^(?! {2}[a-z])(.+)$", re.M), r"    \1"),
)


def wait_lines(message, role_words):
    """The wait's message, in the role's variable names: its first line, and the others labelled."""
    text = message
    for pattern in _WAIT_SENTENCES_FOLLOWED_SINCE:
        text = pattern.sub("", text)
    text = in_role_words(text, role_words, blanks=r"[ \t]+")  # its line breaks kept
    rest = re.sub(r"\n+", "\n", re.sub(r"^[^\n]*(\n|$)", "", text))
    for pattern, replacement in _WAIT_LABELS:
        rest = pattern.sub(replacement, rest)
    return text.split("\n")[0], rest


def _deployment_failed(run, invoke, deployment, rollback, after):
    """A deployment that did not succeed, read in ten seconds: what failed where, then one labelled line each (the
    event, instance and script; the last lines of its log; the rollback and how it ended; what HERD serves; what SSM
    still asks new instances to install; the next step)."""
    request = _dict(after.get("upgrade_request"))
    version, deployment_id = _text(run["version"]), _text(invoke.get("deployment_id"))
    status = deployment.get("status") or None
    ended = status in ENDED
    rollback_ran = bool(rollback) and not _skipped(rollback)
    # the wait of the rollback could fail before it read it: its id is the one the deployment named
    rollback_id = _text(rollback.get("deployment_id") or _dict(deployment.get("rollback_info")).get("rollback_deployment_id"))
    rollback_under_way = rollback_ran and (rollback.get("status") or None) not in ("Succeeded",) + ENDED
    ssm_asks_failed = bool(ended and request.get("deployment_invoked", False) and request.get("requested_version"))
    first, rest = wait_lines(_text(deployment.get("msg", "")), run.get("role_words") or [])
    if rollback_under_way:
        rollback_line = "  rollback: Rollback deployment {0} is {1} after {2} s.".format(
            rollback_id, _text(rollback.get("status") or "?"), _text(rollback.get("duration_seconds") or "?"))
    elif rollback_ran:
        rollback_line = "  rollback: Rollback deployment {0} {1} in {2} s.".format(
            rollback_id, _text(rollback.get("status", "?")).lower(), _text(rollback.get("duration_seconds", "?")))
    elif ended:
        why = _dict(deployment.get("rollback_info")).get("rollback_message")
        rollback_line = "  rollback: none was started{0}.".format(
            " ({0})".format(re.sub(r"[.]\s*$", "", _text(why))) if why else "")
    else:
        rollback_line = ""
    if after.get("build_number"):
        served = "  served: HERD serves {0} now.".format(_text(after["build_number"]))
    else:
        served = "  served: HERD could not be read: " + re.sub(r"\s+", " ", _text(after.get("msg", "?")))
    asked, current = _text(request.get("requested_version")), request.get("current_version")
    ssm = ("  SSM: still asks new instances to install {0}{1} (HERD/DeploymentInvoked is true; herd-mdl resets it only once"
           " its smoke test passed): a HERD instance the Auto Scaling group launches before the next successful upgrade"
           " installs {0}.".format(asked, ", not " + _text(current) if current else "")) if ssm_asks_failed else ""
    if ended and rollback_under_way:
        next_step = ("  next: rollback deployment {0} is still under way: running this again now is refused, naming it; once it"
                     " has ended, running this again starts a new deployment of {1}: find out why {2} failed first."
                     .format(rollback_id, version, deployment_id))
    elif ended:
        next_step = ("  next: find out why {0} failed (the lines above); running this again starts a new deployment of {1}."
                     .format(deployment_id, version))
    elif status:
        next_step = ("  next: deployment {0} goes on in CodeDeploy without this run (it is {1}): running this again joins it,"
                     " invoking nothing, and follows it for herd_upgrade_wait_timeout ({2} s this time)."
                     .format(deployment_id, status, _text(run.get("wait_timeout"))))
    else:
        next_step = ("  next: deployment {0} could not be followed to its end and may go on in CodeDeploy: running this again"
                     " joins it while it is under way, invoking nothing; changes nothing if it succeeded; and starts a new"
                     " deployment of {1} only if it ended without success.".format(deployment_id, version))
    fix = ""
    if ssm_asks_failed and current:
        region = " --region " + _text(run["aws_region"]) if run.get("aws_region") else ""
        fix = ("  fix SSM now: until a deployment of {0} succeeds, have new instances install {1} with: aws ssm put-parameter"
               " --overwrite --name /app/MDL/{2}/{3}/HERD/DeploymentInvoked --value false{4} (what herd-mdl itself writes"
               " once a smoke test passed).".format(asked, _text(current), _text(run.get("mdl_instance_name")),
                                                    _text(run.get("mdl_environment")), region))
    parts = ["{0}: the upgrade of HERD to {1} by deployment {2} did not succeed. {3}".format(run["stack"], version, deployment_id, first),
             rest, rollback_line, served, ssm, next_step, fix]
    return {"outcome": "failed", "changed": True, "status": deployment.get("status"), "stage": "deployment",
            "to_version": after.get("build_number"), "rollback_deployment_id": rollback.get("deployment_id"),
            "rollback_status": rollback.get("status"), "duration_seconds": deployment.get("duration_seconds"),
            "message": "\n".join(part for part in parts if part)}


def base_of(run, invoke, deployment):
    """The keys every outcome's result starts from."""
    return {"stack": run.get("stack"), "mdl_instance_name": run.get("mdl_instance_name"),
            "mdl_environment": run.get("mdl_environment"), "requested_version": run.get("version"),
            "from_version": _dict(invoke.get("served")).get("build_number"), "deployment_id": invoke.get("deployment_id"),
            "joined": invoke.get("attached", False), "preflight": invoke.get("preflight", {}),
            "zero_downtime": deployment.get("zero_downtime", {}), "stage": None}


def _task_failed(run, invoke, failed_task):
    name = _text(failed_task.get("name", "?"))
    msg = " ".join(_text(failed_task.get("msg", "no message")).split())
    return {"outcome": "failed", "changed": not _skipped(invoke) and invoke.get("changed", False),
            "status": None, "to_version": None, "duration_seconds": None, "stage": "task",
            "message": '{0}: the task "{1}" failed: {2}'.format(run["stack"], name, msg)}


def herd_upgrade_result(run):
    if not isinstance(run, Mapping):
        raise AnsibleFilterError("herd_upgrade_result takes a dict (stack, version, invoke, deployment, after, ...),"
                                 " not {0}".format(type(run).__name__))
    invoke = _dict(run.get("invoke"))
    # the wait and the version check of this run's follow only: never those an earlier run left on the same host
    deployment = _dict(run.get("deployment")) if herd_deployment_to_follow(invoke) else SKIPPED
    after = (_dict(run.get("after")) if not _skipped(deployment) and deployment.get("status") == "Succeeded" else SKIPPED)
    before = _dict(invoke.get("served"))
    if run.get("failed_task") is not None:
        keys = _task_failed(run, invoke, _dict(run.get("failed_task")))
    else:
        outcome = ending(invoke, deployment)
        if outcome == "deployment_failed":
            keys = _deployment_failed(run, invoke, deployment, _dict(run.get("rollback")), _dict(run.get("after_failure")))
        elif outcome == "input":
            keys = _input(run)
        elif outcome == "invoke_failed":
            keys = _invoke_failed(run, invoke)
        elif outcome == "already_served":
            keys = _already_served(run, before)
        else:
            keys = _followed(run, invoke, deployment, after, before)
    result = base_of(run, invoke, deployment)
    result.update(keys)
    return result


class FilterModule(object):
    def filters(self):
        return {"herd_upgrade_result": herd_upgrade_result}
