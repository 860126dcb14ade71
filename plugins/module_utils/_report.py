# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of one upgrade or rollback of one stack, for a change record: its data, its Markdown, its files.

Plain functions on plain data (what ``herd_upgrade_result`` and ``codedeploy_wait`` return), so that unit
tests render every kind of report without AWS.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time

REPORT_FORMAT = 1
STRIP_WIDTH = 60  # seconds per line of the availability strip
SECRET_NAME = re.compile(r"password|secret|token|session|private", re.IGNORECASE)
TITLES = {"upgrade": "HERD upgrade", "rollback": "HERD rollback"}


def _get(data, key, default=None):
    value = (data or {}).get(key)
    return default if value is None else value


def repeat_command(playbook, inputs):
    """The command that repeats the run for one stack, from its non-secret inputs (in the order given)."""
    words = ["ansible-playbook", playbook]
    for name, value in (inputs or {}).items():
        if value is None or value == "" or SECRET_NAME.search(name):
            continue
        if isinstance(value, str):
            words += ["-e", shlex.quote("{0}={1}".format(name, value))]
        else:
            words += ["-e", shlex.quote(json.dumps({name: value}, sort_keys=True))]
    return " ".join(words)


def _deployment(result):
    """What a report keeps of a ``codedeploy_wait`` result: status, times, the four steps, every lifecycle event."""
    if not result or not result.get("deployment_id"):
        return None
    events = []
    for instance in result.get("instances") or []:
        for event in instance.get("lifecycle_events") or []:
            diagnostics = event.get("diagnostics") or {}
            events.append({
                "instance_id": instance.get("instance_id"), "label": instance.get("label"),
                "event": event.get("name"), "status": event.get("status"),
                "start_time": event.get("start_time"), "end_time": event.get("end_time"),
                "script_name": diagnostics.get("script_name"),
                "error_code": diagnostics.get("error_code") if diagnostics.get("error_code") not in (None, "Success") else None,
            })
    events.sort(key=lambda e: (e["start_time"] or "~", e["end_time"] or "~"))
    return {
        "deployment_id": result["deployment_id"], "status": result.get("status"), "creator": result.get("creator"),
        "create_time": result.get("create_time"), "start_time": result.get("start_time"),
        "complete_time": result.get("complete_time"), "duration_seconds": result.get("duration_seconds"),
        "steps": [{key: step.get(key) for key in ("number", "name", "status", "start_time", "end_time")}
                  for step in result.get("steps") or []],
        "lifecycle_events": events,
        "error_information": result.get("error_information") or {},
    }


def build(operation, result, run, deployment=None, rollback=None, command=None, written_at=None):
    """The report's data: ``result`` is the role's ``herd_upgrade_result`` (or the rollback playbook's result)."""
    result = result or {}
    zero_downtime = _get(deployment, "zero_downtime", None) or _get(result, "zero_downtime", {})
    rollback_id = result.get("rollback_deployment_id") or _get(rollback, "deployment_id")
    return {
        "report_format": REPORT_FORMAT,
        "operation": operation,
        "stack": result.get("stack"),
        "mdl_instance_name": result.get("mdl_instance_name"),
        "mdl_environment": result.get("mdl_environment"),
        "outcome": result.get("outcome"),
        "changed": bool(result.get("changed")),
        "requested_version": result.get("requested_version"),
        "from_version": result.get("from_version"),
        "to_version": result.get("to_version"),
        "joined": bool(result.get("joined")),
        "run": dict(run or {}, written_at=written_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        "deployment": _deployment(deployment) or (
            {"deployment_id": result["deployment_id"], "status": result.get("status"),
             "duration_seconds": result.get("duration_seconds"), "steps": [], "lifecycle_events": []}
            if result.get("deployment_id") else None),
        "rollback": _deployment(rollback) or (
            {"deployment_id": rollback_id, "status": result.get("rollback_status"), "steps": [], "lifecycle_events": []}
            if rollback_id else None),
        "zero_downtime": zero_downtime or {},
        "failure": result.get("message") if result.get("outcome") == "failed" else None,
        "message": result.get("message"),
        "repeat_command": command,
    }


def _cell(value):
    return "-" if value in (None, "") else str(value).replace("|", "\\|").replace("\n", " ")


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _deployment_lines(title, deployment):
    if not deployment:
        return []
    lines = ["", "## {0} {1}".format(title, deployment["deployment_id"]), "",
             "Status {0}; created {1}, started {2}, ended {3}; {4} s. Times are CodeDeploy's own, in UTC.".format(
                 _cell(deployment.get("status")), _cell(deployment.get("create_time")), _cell(deployment.get("start_time")),
                 _cell(deployment.get("complete_time")), _cell(deployment.get("duration_seconds")))]
    if deployment.get("steps"):
        lines += [""] + _table(["step", "name", "status", "start", "end"],
                               [[s.get("number"), s.get("name"), s.get("status"), s.get("start_time"), s.get("end_time")]
                                for s in deployment["steps"]])
    if deployment.get("lifecycle_events"):
        lines += [""] + _table(["instance", "", "event", "status", "start", "end", "script"],
                               [[e["instance_id"], e["label"], e["event"], e["status"] + (" (" + e["error_code"] + ")"
                                                                                          if e.get("error_code") else ""),
                                 e["start_time"], e["end_time"], e.get("script_name")]
                                for e in deployment["lifecycle_events"]])
    error = deployment.get("error_information") or {}
    if error.get("code"):
        lines += ["", "CodeDeploy's error: {0}: {1}".format(error["code"], _cell(error.get("message")))]
    return lines


def _zero_downtime_lines(zero_downtime):
    if not zero_downtime.get("requests"):
        reason = zero_downtime.get("not_probed_reason")
        return ["", "## Zero downtime", "", "HERD was not probed{0}.".format(": " + reason.rstrip(".") if reason else "")]
    lines = ["", "## Zero downtime", "",
             "{0} requests to HERD during the deployment, {1} without a good answer; longest stretch without one "
             "{2} s; versions seen: {3}{4}.".format(
                 zero_downtime["requests"], zero_downtime.get("failures", 0), zero_downtime.get("longest_outage_seconds", 0),
                 " -> ".join(zero_downtime.get("versions_seen") or []) or "none",
                 " (both served in turn during the switch)" if zero_downtime.get("alternated") else "")]
    strip = zero_downtime.get("availability") or ""
    if strip:
        lines += ["", "One character a second from {0}: `=` good answers with the version served first, `+` good "
                      "answers with another version, `x` a request without a good answer, `.` no request.".format(
                          _cell(zero_downtime.get("started_at"))), "", "```"]
        lines += ["{0:>5}s {1}".format(start, strip[start:start + STRIP_WIDTH]) for start in range(0, len(strip), STRIP_WIDTH)]
        lines += ["```"]
    return lines


def markdown(report):
    """The report as Markdown, for a change record."""
    versions = "{0} -> {1}".format(_cell(report["from_version"]), _cell(report["to_version"]))
    run = report["run"]
    who = "{0} on {1}".format(_cell(run.get("user")), _cell(run.get("controller_host")))
    if run.get("awx_job_id"):
        who += ", AWX job {0}{1}".format(run["awx_job_id"], " (template {0})".format(run["awx_job_template_name"])
                                         if run.get("awx_job_template_name") else "")
    lines = ["# {0} of {1}: {2}".format(TITLES.get(report["operation"], report["operation"]), report["stack"],
                                        report["outcome"]), ""]
    lines += _table(["", ""], [
        ["Stack", "{0} (mdl_instance_name {1}, mdl_environment {2})".format(
            report["stack"], report["mdl_instance_name"], report["mdl_environment"])],
        ["Outcome", report["outcome"] + (" (joined a deployment under way)" if report["joined"] else "")],
        ["Requested version", report["requested_version"]],
        ["Versions served, before -> after", versions],
        ["Deployment", (report["deployment"] or {}).get("deployment_id", "none") + (
            " " + _cell(report["deployment"].get("status")) if report["deployment"] else "")],
        ["Rollback", (report["rollback"] or {}).get("deployment_id", "none") + (
            " " + _cell(report["rollback"].get("status")) if report["rollback"] else "")],
        ["Run by", who],
        ["Report written", run.get("written_at")],
    ])
    if report["failure"]:
        lines += ["", "## What failed", ""] + ["    " + line for line in report["failure"].splitlines()]
    lines += _deployment_lines("Deployment", report["deployment"])
    lines += _deployment_lines("Rollback deployment", report["rollback"])
    if report["deployment"] or report["zero_downtime"]:
        lines += _zero_downtime_lines(report["zero_downtime"] or {})
    if report["repeat_command"]:
        lines += ["", "## The command that repeats this run", "", "```", report["repeat_command"], "```"]
    return "\n".join(lines) + "\n"


def file_stem(report):
    """``{instance}-{environment}-{operation}-{time}``: one pair of files per stack and run."""
    stamp = re.sub(r"[^0-9TZ]", "", report["run"]["written_at"])
    return "{0}-{1}-{2}-{3}".format(report["mdl_instance_name"], report["mdl_environment"], report["operation"], stamp)


def write(directory, report):
    """Write the Markdown and the JSON of ``report`` to ``directory`` (created if needed): their paths.

    A second report of the same stack and operation in the same second gets a suffix, never overwrites.
    """
    os.makedirs(directory, exist_ok=True)
    stem = file_stem(report)
    for attempt in range(1, 1000):
        name = stem if attempt == 1 else "{0}-{1}".format(stem, attempt)
        md_path, json_path = os.path.join(directory, name + ".md"), os.path.join(directory, name + ".json")
        try:
            handle = open(md_path, "x", encoding="utf-8")
        except FileExistsError:
            continue
        with handle:
            handle.write(markdown(report))
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
            handle.write("\n")
        return md_path, json_path
    raise RuntimeError("too many reports named {0} in {1}".format(stem, directory))


def capped(text, limit):
    """``text`` cut to ``limit`` characters, saying so, for an AWX job's artifacts."""
    if limit <= 0 or len(text) <= limit:
        return text
    note = "\n\n(cut at {0} of {1} characters: the whole report is in the report files)\n".format(limit, len(text))
    return text[:max(0, limit - len(note))] + note
