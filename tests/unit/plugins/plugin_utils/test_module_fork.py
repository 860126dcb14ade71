# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Modules run in a fork of the worker: what Ansible would have given them, their result as Ansible reads it."""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from unittest.mock import MagicMock

import pytest

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_core_version
from ansible.template import Templar

from ansible_collections.mdl.herd.plugins.plugin_utils import _module_action, _module_fork

ECHO = "ansible_collections.mdl.herd.tests.unit.plugins.plugin_utils.echo_module"


class _Action(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):  # pragma: no cover - not used: the tests call _module_fork
        raise NotImplementedError


def make_action(transport="local", become=False, async_val=0, check_mode=False, environment=None, delegate_to=None,
                basedir=None, cls=_Action):
    task = MagicMock()
    task.action = "mdl.herd.echo"
    task.async_val = async_val
    task.delegate_to = delegate_to
    task.check_mode = check_mode
    task.no_log = False
    task.diff = False
    task.environment = environment if environment is not None else [{"MDL_HERD_ECHO": "from the task"}]
    task.get_name.return_value = "echo"
    connection = MagicMock()
    connection.transport = transport
    connection.socket_path = None
    connection.become = None
    connection._shell.tmpdir = None
    connection._shell.get_option.return_value = "~/.ansible/tmp"
    play_context = MagicMock()
    play_context.become = become
    play_context.executable = "/bin/sh"
    loader = DataLoader()
    if basedir is not None:
        loader.set_basedir(str(basedir))
    return cls(task, connection, play_context, loader, Templar(loader=loader), MagicMock())


def task_vars(**extra):
    return dict({"ansible_python_interpreter": sys.executable}, **extra)


def test_the_module_runs_in_a_child_with_the_task_environment_and_its_result_is_read_as_ansible_reads_it():
    action = make_action()
    before = dict(os.environ)
    result = _module_fork.run(action, ECHO, {"say": "bonjour"}, task_vars())
    assert result["said"] == "bonjour"
    assert result["changed"] is True
    assert result["environment"] == "from the task"  # the task's environment, in the child only
    assert result["pid"] != os.getpid()
    assert dict(os.environ) == before
    assert ECHO not in sys.modules  # the worker itself never imported the module (nor what it imports)
    assert set(key for key in result if key.startswith("_ansible_")) <= {"_ansible_parsed"}  # as _execute_module leaves it


def test_a_started_module_runs_while_the_worker_waits_for_it_and_is_read_once_it_exits(tmp_path):
    go = tmp_path / "go"
    child = _module_fork.start(make_action(), ECHO, {"say": "later", "hold_until": str(go)}, task_vars())
    try:
        assert child.wait(0.05) is False  # still running: the worker goes on (prints lines, ...)
        go.write_text("")
        assert child.wait(30) is True
        result = child.result()
    finally:
        child.stop()
    assert result["said"] == "later"
    assert result["pid"] == child.pid


def test_a_module_still_running_when_the_task_ends_is_ended_with_it(tmp_path):
    child = _module_fork.start(make_action(), ECHO, {"hold_until": str(tmp_path / "never")}, task_vars())
    assert child.wait(0.05) is False
    child.stop()
    assert child.rc == -15  # SIGTERM: it no longer runs (nor waits, as a zombie, to be reaped)
    with pytest.raises(OSError):
        os.kill(child.pid, 0)


def test_check_mode_reaches_the_module():
    result = _module_fork.run(make_action(check_mode=True), ECHO, {}, task_vars())
    assert result["check_mode"] is True
    assert result["changed"] is False


def test_a_no_log_option_is_masked_in_the_invocation_and_shown_nowhere():
    result = _module_fork.run(make_action(), ECHO, {"secret": "s3cr3t-value"}, task_vars())
    assert result["secret_given"] is True
    if "invocation" in result:  # ansible-core 2.21 keeps it out of the action's result
        assert result["invocation"]["module_args"]["secret"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "s3cr3t-value" not in json.dumps(result, default=str)


def test_fail_json_is_a_failed_result_with_the_module_message():
    result = _module_fork.run(make_action(), ECHO, {"fail": True, "say": "x"}, task_vars())
    assert result["failed"] is True
    assert result["msg"] == "echo failed on purpose: x"


def test_a_module_that_raises_is_a_failed_result_that_says_why_as_ansiballz_reports_it():
    result = _module_fork.run(make_action(), ECHO, {"crash": True}, task_vars())
    assert result["failed"] is True
    assert "the echo module broke on purpose" in json.dumps(result, default=str)
    assert result.get("rc", 1) == 1  # a module process ends with 1 on an uncaught exception
    if tuple(int(part) for part in ansible_core_version.split(".")[:2]) >= (2, 19):
        # AnsiballZ's loader turns the exception into a result: no "deserialization failed"
        assert "deserialization" not in json.dumps(result, default=str)


def test_the_module_runs_in_the_playbook_directory_with_the_task_tmpdir(tmp_path):
    playbook_dir = tmp_path / "playbooks"
    playbook_dir.mkdir()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    before = os.getcwd()
    action = make_action(basedir=playbook_dir, environment=[{"TMPDIR": str(temporary)}])
    result = _module_fork.run(action, ECHO, {}, task_vars())
    assert result["cwd"] == str(playbook_dir)
    assert result["tmpdir"] == str(temporary)
    assert os.getcwd() == before


def test_the_module_exit_handlers_run_and_the_worker_handlers_do_not(tmp_path):
    module_file, worker_file = tmp_path / "module-exit", tmp_path / "worker-exit"

    def worker_handler():
        worker_file.write_text("ran")

    atexit.register(worker_handler)
    try:
        result = _module_fork.run(make_action(), ECHO, {"at_exit_file": str(module_file)}, task_vars())
    finally:
        atexit.unregister(worker_handler)
    assert result["changed"] is True
    assert module_file.exists()
    assert not worker_file.exists()


def test_sys_exit_with_a_text_fails_with_the_text():
    result = _module_fork.run(make_action(), ECHO, {"exit_text": "stopped by the module"}, task_vars())
    assert result["failed"] is True
    assert "stopped by the module" in json.dumps(result, default=str)


def test_the_action_forks_on_the_controller_and_runs_a_module_process_elsewhere(monkeypatch):
    calls = []
    monkeypatch.setattr(_module_fork, "run", lambda action, fqn, args, task_vars: calls.append(fqn) or {"forked": True})

    class Invoke(_module_action.ModuleAction):
        MODULE = "herd_upgrade_invoke"

    here = make_action(cls=Invoke)
    assert here.run(task_vars=task_vars())["forked"] is True
    assert calls == ["ansible_collections.mdl.herd.plugins.modules.herd_upgrade_invoke"]
    elsewhere = make_action(transport="ssh", cls=Invoke)
    monkeypatch.setattr(elsewhere, "_execute_module", lambda task_vars=None, wrap_async=False: {"process": True})
    monkeypatch.setattr(elsewhere, "_remove_tmp_path", lambda path: None)
    assert elsewhere.run(task_vars=task_vars())["process"] is True
    assert len(calls) == 1


def test_a_warning_of_the_module_is_returned_with_its_result():
    result = _module_fork.run(make_action(), ECHO, {"warning": "look at this"}, task_vars())
    assert "look at this" in json.dumps(result.get("warnings"), default=str)


def test_an_unknown_option_fails_as_in_a_module_process():
    result = _module_fork.run(make_action(), ECHO, {"no_such_option": 1}, task_vars())
    assert result["failed"] is True
    assert "no_such_option" in result["msg"]


def test_a_module_that_does_not_exist_is_a_failed_result():
    result = _module_fork.run(make_action(), ECHO + "_missing", {}, task_vars())
    assert result["failed"] is True
    assert "echo_module_missing" in json.dumps(result, default=str)


def test_on_the_controller_the_fork_is_taken():
    assert _module_fork.why_not(make_action(), task_vars()) is None
    assert _module_fork.why_not(make_action(), task_vars(mdl_herd_module_process="{{ false }}")) is None


@pytest.mark.parametrize("action_args, extra_vars, reason", [
    ({"transport": "ssh"}, {}, "the connection is not local"),
    ({"become": True}, {}, "become"),
    ({"async_val": 30}, {}, "async"),
    ({}, {"ansible_python_interpreter": "/usr/bin/false-python"}, "not the Python running ansible-playbook"),
    ({}, {"ansible_python_interpreter": None}, "would be discovered"),
    ({}, {"mdl_herd_module_process": True}, "mdl_herd_module_process is true"),
    ({}, {"mdl_herd_module_process": "yes"}, "mdl_herd_module_process is true"),
    ({"delegate_to": "bastion"}, {}, "delegated"),
])
def test_elsewhere_the_module_runs_as_a_process(action_args, extra_vars, reason):
    assert reason in _module_fork.why_not(make_action(**action_args), task_vars(**extra_vars))


def test_kept_module_files_mean_a_module_process(monkeypatch):
    monkeypatch.setattr(_module_fork.C, "DEFAULT_KEEP_REMOTE_FILES", True)
    assert "ANSIBLE_KEEP_REMOTE_FILES" in _module_fork.why_not(make_action(), task_vars())


def test_a_worker_that_runs_threads_does_not_fork():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert "threads" in _module_fork.why_not(make_action(), task_vars())
    finally:
        stop.set()
        thread.join()


# -- what the controller loads once for every module it forks ---------------------------------------

def _module_util_imports(path):
    """The module_utils (``ansible_collections.*`` and ``ansible.module_utils.*``) a module file imports at its top."""
    import ast
    import importlib.util

    def is_module(name):
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a name imported from a module, not a module
            return False

    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + ["{0}.{1}".format(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        names.update(name for name in candidates if ".module_utils." in name and is_module(name))
    return names


def test_the_preload_imports_every_module_util_a_module_of_the_collection_imports():
    modules = os.path.join(os.path.dirname(_module_fork.__file__), "..", "modules")
    files = [os.path.join(modules, name) for name in os.listdir(modules) if name.endswith(".py") and name != "__init__.py"]
    assert len(files) >= 4
    script = ("import json, sys\n"
              "from ansible_collections.mdl.herd.plugins.plugin_utils import _module_fork\n"
              "done = _module_fork.preload()\n"
              "print(json.dumps({'done': done, 'modules': sorted(sys.modules)}))\n")
    loaded = _run_python(script)
    assert loaded["done"] is True
    for path in files:
        for name in _module_util_imports(path):
            assert name in loaded["modules"], "{0} imports {1}, which the preload does not load".format(os.path.basename(path), name)


def _run_python(script):
    """Run ``script`` in a new Python with this one's sys.path: its last output line, as JSON."""
    import subprocess
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("plugin", ["herd_upgrade_invoke", "codedeploy_wait", "herd_buildinfo_check", "herd_rollback_plan"])
def test_importing_an_action_plugin_preloads_the_modules_imports_and_the_service_models_once_and_freezes_them(plugin):
    # what happens in ansible-playbook's own process when the strategy loads the action plugin's class
    script = ("import gc, json, sys\n"
              "import botocore.loaders\n"
              "reads = []\n"
              "load_file = botocore.loaders.JSONFileLoader.load_file\n"
              "botocore.loaders.JSONFileLoader.load_file = lambda self, path, *a, **k: reads.append(path) or load_file(self, path, *a, **k)\n"
              "import ansible_collections.mdl.herd.plugins.action.PLUGIN\n"
              "from ansible_collections.mdl.herd.plugins.plugin_utils import _module_fork\n"
              "from ansible_collections.mdl.herd.plugins.module_utils import _aws\n"
              "preloaded = len(reads)\n"
              "result = {'boto3': 'boto3' in sys.modules, 'requests': 'requests' in sys.modules,\n"
              "          'frozen': gc.get_freeze_count(), 'preloaded_reads': preloaded, 'phrase': _module_fork.preloaded_from()}\n"
              "core = _aws._new_session(None)._session\n"
              "for service in _aws.PRELOADED_SERVICES:\n"
              "    core.create_client(service, region_name='eu-west-1', aws_access_key_id='a', aws_secret_access_key='b')\n"
              "result['reads_after'] = reads[preloaded:]\n"
              "print(json.dumps(result))\n").replace("PLUGIN", plugin)
    found = _run_python(script)
    assert found["boto3"] and found["requests"]
    assert found["frozen"] > 10000  # ansible's objects and the preloaded ones, out of the cyclic collector's reach
    assert found["preloaded_reads"] > len(_aws_services())  # models, endpoint rules, partitions ...
    assert found["reads_after"] == []  # a module's clients of those services parse nothing again
    assert found["phrase"] == "imports and AWS service models loaded in this process"


def _aws_services():
    from ansible_collections.mdl.herd.plugins.module_utils import _aws
    return _aws.PRELOADED_SERVICES


def test_without_boto3_the_preload_leaves_the_module_to_say_what_is_missing():
    script = ("import json, sys\n"
              "sys.modules['boto3'] = None\n"
              "from ansible_collections.mdl.herd.plugins.plugin_utils import _module_fork\n"
              "print(json.dumps({'done': _module_fork.preload(), 'phrase': _module_fork.preloaded_from()}))\n")
    assert _run_python(script) == {"done": False, "phrase": "the module imports its libraries and loads the AWS service models itself"}


def test_a_fork_says_it_inherited_the_preload_from_the_process_that_ran_it(monkeypatch):
    monkeypatch.setattr(_module_fork, "_preloaded", {"done": True, "pid": os.getpid() + 100000})
    assert _module_fork.preloaded_from() == "imports and AWS service models inherited from process {0}".format(os.getpid() + 100000)
