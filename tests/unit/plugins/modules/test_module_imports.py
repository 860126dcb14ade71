# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What herd_upgrade_invoke imports when it starts: a run with nothing to invoke (the no-op) never takes the upgrade lock,
so the lock's module_utils are imported only where the lock is built (each module_util a run imports is compiled from
the module's zip at every run)."""

from __future__ import annotations

import ast
import pathlib

COLLECTION = pathlib.Path(__file__).resolve().parents[4]
PACKAGE = "ansible_collections.mdl.herd.plugins.module_utils"


def _imported(node):
    """The collection's module_utils an import statement names."""
    if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
        return [node.module[len(PACKAGE) + 1:]]
    return []


def _at_start(path):
    """The module_utils a file imports when it is imported: its top-level statements (a try or an if included)."""
    found, pending = [], list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Try, ast.If)):
            pending.extend(node.body + node.orelse + getattr(node, "finalbody", []) + [h for t in getattr(node, "handlers", []) for h in t.body])
        found.extend(_imported(node))
    return found


def _anywhere(path):
    return [name for node in ast.walk(ast.parse(path.read_text())) for name in _imported(node)]


def _closure(path):
    seen, pending = set(), _at_start(path)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_at_start(COLLECTION / "plugins" / "module_utils" / (name + ".py")))
    return seen


def test_the_invoke_imports_the_lock_only_where_it_builds_one():
    module = COLLECTION / "plugins" / "modules" / "herd_upgrade_invoke.py"
    at_start = _closure(module)
    assert {"_upgrade", "_served", "_herd_http", "_codedeploy_reader"} <= at_start  # what every run needs
    assert "_lock" not in at_start
    assert "_lock" in _anywhere(module)  # the payload still carries it: ansible-core bundles every import it finds
