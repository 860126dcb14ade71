# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of upgrade_herd.yml and rollback_herd.yml: the table of the stacks a run did, and their AWX artifacts, from
the ``herd_upgrade_result`` of each stack (the action mdl.herd.herd_stacks_report)."""

from __future__ import annotations

import re
from collections.abc import Mapping

HEADERS = "stack | from | to | deployment | duration | outcome"
NOT_IN_A_KEY = re.compile(r"[^A-Za-z0-9_]")


def stack_results(results, option):
    """The results of a list (an item that is not one reads as empty); ValueError naming ``option`` for anything else."""
    if isinstance(results, (str, bytes, Mapping)) or not hasattr(results, "__iter__"):
        raise ValueError("{0} must be a list of herd_upgrade_result, one for each stack, for example "
                         "\"{{{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('herd_upgrade_result', 'defined')"
                         " | map(attribute='herd_upgrade_result') }}}}\"; got {1}".format(option, type(results).__name__))
    return [result if isinstance(result, Mapping) else {} for result in results]


def _cell(value):
    return "-" if value is None or value == "" else str(value)


def table(results):
    """One line of headers, then one line a stack: stack, from, to, deployment, duration, outcome; ``-`` for what the run
    did not learn."""
    lines = [HEADERS]
    for result in results:
        duration = result.get("duration_seconds")
        lines.append(" | ".join([
            _cell(result.get("stack")), _cell(result.get("from_version")), _cell(result.get("to_version")),
            _cell(result.get("deployment_id")), "-" if duration is None else "{0} s".format(duration),
            _cell(result.get("outcome"))]))
    return lines


def artifacts(results):
    """One key a stack, ``herd_upgrade_<instance>_<environment>`` (each character other than a letter, a digit or ``_``
    written ``_``), holding its result."""
    return {"herd_upgrade_" + NOT_IN_A_KEY.sub("_", str(result.get("stack"))): result for result in results if result}
