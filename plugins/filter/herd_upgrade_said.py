# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: herd_upgrade_said
short_description: What the role mdl.herd.herd_upgrade says at its end, whether it writes its report, and whether it fails
version_added: 1.1.0
description:
  - Returns what the role's tasks "Say what happened" and "Fail when the upgrade failed" print, from its
    C(herd_upgrade_result) and C(herd_upgrade_max_downtime_seconds), and whether its task "Write the report for the
    change record" runs.
  - The role fails when the outcome is C(failed), and when a deployment that succeeded held HERD down longer than
    C(herd_upgrade_max_downtime_seconds) (its zero-downtime report's C(longest_outage_seconds)). The outcome is kept
    then; the message says that the upgrade itself is done and that running it again changes nothing.
author:
  - mdl.herd maintainers (@mdl-herd)
options:
  _input:
    description: The role's C(herd_upgrade_result).
    type: dict
    required: true
  max_downtime_seconds:
    description: C(herd_upgrade_max_downtime_seconds); none or empty for no limit.
    type: raw
  report_dir:
    description: C(herd_upgrade_report_dir); none or empty for no report.
    type: raw
  check_mode:
    description: Whether the run is in check mode (C(ansible_check_mode)), which writes no report.
    type: bool
    default: false
  invoke:
    description:
      - The registered result of the role's M(mdl.herd.herd_upgrade_invoke) (empty before it ran), which tells whether
        the run followed a deployment (the test P(mdl.herd.herd_deployment_to_follow#test)).
    type: dict
"""

EXAMPLES = r"""
- name: Say what happened (the role's own task)
  ansible.builtin.debug:
    msg: "{{ (herd_upgrade_result | mdl.herd.herd_upgrade_said(herd_upgrade_max_downtime_seconds)).lines }}"

- name: Whether a run of the role writes its report
  ansible.builtin.debug:
    msg: >-
      {{ (herd_upgrade_result | mdl.herd.herd_upgrade_said(herd_upgrade_max_downtime_seconds, report_dir=herd_upgrade_report_dir,
          check_mode=ansible_check_mode, invoke=herd_upgrade_invoke | default({}))).report }}
"""

RETURN = r"""
_value:
  description: What the role says.
  type: dict
  contains:
    lines:
      description: The message, one item a line (blank lines left out), or the message itself when it is one line.
      type: raw
    failed:
      description: Whether the role fails.
      type: bool
    report:
      description: >-
        Whether the role writes its report for the change record: with a C(report_dir), not in check mode, for a run
        that followed a deployment or failed, bad input aside (there is no stack to report on then).
      type: bool
    failure:
      description: >-
        The line the role fails with: the whole message when the deployment held HERD down too long, else a short
        line naming the stack, the version and the stage (the whole message was said just before).
      type: str
"""

from ansible_collections.mdl.herd.plugins.test.herd_deployment_to_follow import herd_deployment_to_follow


def _number(value):
    """A number as Jinja's float filter reads it: 0.0 for what is not one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def over_downtime(result, max_downtime_seconds):
    """True when a run that did not fail held HERD down longer than ``max_downtime_seconds`` (none or '': no limit)."""
    if result.get("outcome") == "failed" or max_downtime_seconds in ("", None):
        return False
    longest = (result.get("zero_downtime") or {}).get("longest_outage_seconds", 0)
    return _number(longest) > _number(max_downtime_seconds)


def report_wanted(result, report_dir=None, check_mode=False, invoke=None):
    """Whether the role writes its report: a run that followed a deployment, or failed other than on its input."""
    if not report_dir or check_mode:  # as default('', true): none, empty or false is no directory
        return False
    if herd_deployment_to_follow(invoke):  # the test reads anything: what is not a result followed nothing
        return True
    return result.get("outcome") == "failed" and result.get("stage") != "input"


def herd_upgrade_said(result, max_downtime_seconds=None, report_dir=None, check_mode=False, invoke=None):
    too_long = over_downtime(result, max_downtime_seconds)
    message = str(result.get("message"))
    if too_long:
        message = ("{0} That is more than herd_upgrade_max_downtime_seconds ({1} s): the upgrade itself is done (deployment "
                   "{2} {3}), HERD serves {4}; running this again changes nothing.").format(
            message, max_downtime_seconds, result.get("deployment_id"), str(result.get("status") or "ended").lower(),
            result.get("to_version"))
        failure = message
    else:
        requested = result.get("requested_version")
        failure = "{0}: {1} failed ({2}): what happened is said just above, and kept in herd_upgrade_result.".format(
            result.get("stack"),
            "the upgrade of HERD to {0}".format(requested) if isinstance(requested, str) else "the upgrade of HERD",
            result.get("stage") or "?")
    lines = [line for line in message.split("\n") if line] if "\n" in message else message
    return {"lines": lines, "failed": too_long or result.get("outcome") == "failed", "failure": failure,
            "report": report_wanted(result, report_dir, check_mode, invoke)}


class FilterModule(object):
    def filters(self):
        return {"herd_upgrade_said": herd_upgrade_said}
