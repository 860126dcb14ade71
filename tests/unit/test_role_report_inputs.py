# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's repeat command leaves out the role's defaults: report.yml's copy of them is the role's."""

from __future__ import annotations

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "herd_upgrade"


def test_the_reports_defaults_are_the_roles_and_every_input_is_a_role_variable():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    [write] = [task for task in yaml.safe_load((ROLE / "tasks" / "report.yml").read_text())
               if task.get("mdl.herd.herd_change_report")]
    inputs, kept = write["vars"]["herd_upgrade_report_inputs"], write["vars"]["herd_upgrade_report_defaults"]
    assert set(inputs) <= set(defaults), set(inputs) - set(defaults)
    assert {name: defaults[name] for name in kept} == kept
    # every input with a default other than empty is in the copy (else the repeat command would say the default)
    assert {name for name in inputs if defaults[name] not in ("", None)} == set(kept)
    assert not [name for name in inputs if "password" in name or "secret" in name or "token" in name]
