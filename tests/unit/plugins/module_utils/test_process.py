# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_process: a module run by Ansible loads its imports with Python's collector off, then freezes them and turns it on."""

from __future__ import annotations

import gc
import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.mdl.herd.plugins.module_utils import _process

COLLECTION = pathlib.Path(__file__).resolve().parents[4]
# every module that imports boto3 (through amazon.aws's AnsibleAWSModule)
AWS_MODULES = sorted(path.stem for path in (COLLECTION / "plugins" / "modules").glob("*.py")
                     if "AnsibleAWSModule" in path.read_text())

# Run a module as Ansible runs it (``__main__``), with no arguments (it fails at once, in main()), noting the collector's
# state when the module turns it off and when it freezes what was loaded, and at the end.
RUN_AS_ANSIBLE_DOES = """
import gc, json, runpy, sys
from ansible.module_utils import basic  # loaded before the module, as Ansible's wrapper loads it
try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:
    import contextlib
    @contextlib.contextmanager
    def patch_module_args(args):
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        yield
seen = {}
off, freeze = gc.disable, gc.freeze
def noted_off():
    seen["off"] = {"boto3_loaded": "boto3" in sys.modules, "frozen": gc.get_freeze_count()}
    off()
def noted_freeze():
    seen["freeze"] = {"boto3_loaded": "boto3" in sys.modules, "collector_on": gc.isenabled()}
    freeze()
gc.disable, gc.freeze = noted_off, noted_freeze
with patch_module_args({}):
    try:
        runpy.run_module(sys.argv[1], run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
seen["end"] = {"collector_on": gc.isenabled(), "frozen_since_off": gc.get_freeze_count() > seen["off"]["frozen"]}
sys.stderr.write("SEEN" + json.dumps(seen) + "\\n")
"""


@pytest.fixture
def collector():
    """Python's collector as the test found it, afterwards."""
    was_on = gc.isenabled()
    yield
    gc.unfreeze()
    if was_on:
        gc.enable()


def test_imported_otherwise_than_by_ansible_the_collector_is_left_alone(collector):
    frozen = gc.get_freeze_count()
    _process.imports_loaded()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_once_the_imports_are_loaded_they_are_frozen_and_the_collector_runs_again(collector):
    gc.disable()
    _process.imports_loaded()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_the_aws_modules_are_found():
    assert {"herd_upgrade_invoke", "codedeploy_wait", "herd_buildinfo_check", "herd_rollback_plan"} <= set(AWS_MODULES)


@pytest.mark.parametrize("name", AWS_MODULES)
def test_each_aws_module_run_as_ansible_runs_it_loads_boto3_with_the_collector_off_then_freezes_it(name):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(COLLECTION.parents[2])] + sys.path))
    run = subprocess.run([sys.executable, "-c", RUN_AS_ANSIBLE_DOES, "ansible_collections.mdl.herd.plugins.modules." + name],
                         env=environment, capture_output=True, text=True, check=True)
    seen = json.loads(run.stderr.rsplit("SEEN", 1)[1])
    assert seen["off"]["boto3_loaded"] is False, seen  # off before boto3 loads (some ansible-core versions froze a little)
    assert seen["freeze"] == {"boto3_loaded": True, "collector_on": False}, seen  # frozen once it is loaded, in main()
    assert seen["end"] == {"collector_on": True, "frozen_since_off": True}, seen  # and on again for the run's own objects
    assert '"failed": true' in run.stdout  # main() ran: no arguments
