# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What herd_upgrade_invoke imports when it starts: a run that neither invokes nor joins (the no-op) never takes the upgrade
lock nor invokes, so the lock's module_utils are imported only where the lock is built, the Invoke's (``_invoke``) only
where a run invokes or words a stop, and the preflight's only where its checks run (each module_util a run imports is
compiled from the module's zip at every run)."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

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


def test_the_invoke_imports_the_lock_and_the_invoke_only_where_it_uses_them():
    module = COLLECTION / "plugins" / "modules" / "herd_upgrade_invoke.py"
    at_start = _closure(module)
    assert {"_upgrade", "_served", "_herd_http", "_codedeploy_reader"} <= at_start  # what every run needs
    assert not {"_lock", "_invoke", "_preflight"} & at_start
    # the payload still carries them: ansible-core bundles every import it finds
    assert {"_lock", "_invoke", "_preflight"} <= set(_anywhere(module))
    assert "_invoke" in _anywhere(COLLECTION / "plugins" / "module_utils" / "_upgrade.py")


def test_importing_the_invoke_module_imports_neither_the_lock_nor_the_invoke():
    # a fresh interpreter: the unit tests of the lock import it in this one
    code = ("import sys; import ansible_collections.mdl.herd.plugins.modules.herd_upgrade_invoke; "
            "print(sorted(name.rsplit('.', 1)[1] for name in sys.modules if name.startswith({0!r} + '.')))".format(PACKAGE))
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(COLLECTION.parents[2])] + sys.path))
    imported = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True).stdout
    assert "'_upgrade'" in imported and "'_served'" in imported
    assert "'_lock'" not in imported and "'_invoke'" not in imported and "'_preflight'" not in imported
