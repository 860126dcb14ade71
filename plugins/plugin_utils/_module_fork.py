# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run this collection's modules in a fork of the task's worker when they run on the controller.

What a module task costs before the module does anything is mostly Ansible's: the AnsiballZ
payload (every module_util the module imports, parsed to find the next: about 0.4 s for
herd_upgrade_invoke), a new Python interpreter that imports ``ansible.module_utils.basic``
again, and a temporary directory made, written, chmod-ed and removed with a command each. When
the module would run on the controller anyway (local connection, no become, not async, the
interpreter that runs ansible-playbook), none of that is needed: the worker forks, the child
runs the module's own code as ``__main__`` with the arguments Ansible would have sent it (the
same ``_ansible_*`` settings, encoded as AnsiballZ encodes them), and the worker reads its
output with Ansible's own parser.

What the modules import (boto3, amazon.aws, requests, this collection's module_utils) and the
AWS service models they parse are loaded once, by ``preload()``, when this collection's action
plugins are imported. The strategy (linear, free) imports a task's action plugin in
ansible-playbook's own process before it forks the task's workers: every worker, and every
module forked from one, inherits all of it, where each module process would import and parse it
again (py-spy: about three quarters of a run of herd_upgrade_invoke on a stack already at the
version; 20 stacks upgraded at once did it 60 times on 2 cores).

Everything else (another connection, become, async, another interpreter, a worker that runs
threads, ``ANSIBLE_KEEP_REMOTE_FILES``, or ``mdl_herd_module_process: true``) gets the module
process Ansible starts for any module.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import inspect
import json
import logging
import os
import runpy
import select
import signal
import sys
import tempfile
import threading

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible.module_utils.common.json import AnsibleJSONEncoder

try:  # ansible-core 2.19 and later: the profile AnsiballZ encodes module arguments with
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # ansible-core 2.17 and 2.18
    Direction = get_module_encoder = None

try:
    from ansible.vars.clean import remove_internal_keys
except ImportError:  # ansible-core 2.21: its UnifiedTaskResult removes them (see run())
    remove_internal_keys = None

display = Display()

# The variable that turns the fork off (the module then runs as a process of its own, as any module does).
MODULE_PROCESS_VAR = "mdl_herd_module_process"
# The serialization profile of modules that do not declare one: this collection's.
PROFILE = "legacy"


# What this collection's modules import: preload() imports it in the controller. A unit test checks that it
# names every module_utils a module imports.
PRELOADED_MODULES = (
    "ansible.module_utils.basic",
    "ansible_collections.amazon.aws.plugins.module_utils.botocore",
    "ansible_collections.amazon.aws.plugins.module_utils.modules",
    "ansible_collections.mdl.herd.plugins.module_utils._aws",
    "ansible_collections.mdl.herd.plugins.module_utils._codedeploy_follower",
    "ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader",
    "ansible_collections.mdl.herd.plugins.module_utils._discovery",
    "ansible_collections.mdl.herd.plugins.module_utils._herd_http",
    "ansible_collections.mdl.herd.plugins.module_utils._lock",
    "ansible_collections.mdl.herd.plugins.module_utils._preflight",
    "ansible_collections.mdl.herd.plugins.module_utils._rollback",
    "ansible_collections.mdl.herd.plugins.module_utils._served",
    "ansible_collections.mdl.herd.plugins.module_utils._stack",
    "ansible_collections.mdl.herd.plugins.module_utils._upgrade",
    "ansible_collections.mdl.herd.plugins.module_utils._version",
)

_preloaded = {}  # "done": the outcome of preload(), "pid": the process that ran it


def preload():
    """Import what this collection's modules import, and parse the AWS service models every run of
    them reads (``_aws.preload``), once per process: True once done, False when the modules'
    requirements are missing here (the modules then report them, as in a module process).

    Called when this collection's action plugins are imported, which the strategy does in
    ansible-playbook's own process: its forks (the workers and the modules forked from them)
    inherit all of it. The modules themselves are not imported: each runs as ``__main__``.

    What the process holds is then frozen out of Python's cyclic garbage collector
    (``gc.freeze()``, which Python's documentation advises before forking): else each fork's
    collections walk every object inherited from ansible-playbook and write to it, which copies
    its memory page by page (measured without the preload: a no-op run took 2.89 s without the
    freeze and 2.54 s with it, a ping play 2.16 s). Objects alive at that moment are still freed
    when nothing refers to them; only a cycle of them that becomes garbage later stays in memory.
    """
    if _preloaded:
        return _preloaded["done"]
    _preloaded.update(done=False, pid=os.getpid())
    gc.collect()
    gc.freeze()  # ansible-playbook's objects, before this adds its own
    try:
        for name in PRELOADED_MODULES:
            importlib.import_module(name)
    except ImportError:  # boto3, botocore or requests missing: the module says which
        pass
    else:
        aws = sys.modules["ansible_collections.mdl.herd.plugins.module_utils._aws"]
        _preloaded["done"] = aws.preload() is not None
    gc.freeze()
    return _preloaded["done"]


def preloaded_from():
    """Where this process got its modules' imports and service models: a phrase for -vvv."""
    if not _preloaded.get("done"):
        return "the module imports its libraries and loads the AWS service models itself"
    if _preloaded["pid"] == os.getpid():
        return "imports and AWS service models loaded in this process"
    return "imports and AWS service models inherited from process {0}".format(_preloaded["pid"])


def why_not(action, task_vars):
    """Why the module of ``action`` cannot run in a fork of this worker, or None when it can."""
    task_vars = task_vars or {}
    setting = task_vars.get(MODULE_PROCESS_VAR, False)
    try:
        if boolean(action._templar.template(setting), strict=False):
            return "{0} is true".format(MODULE_PROCESS_VAR)
    except Exception:  # an unusable value: the module process, as without this plugin
        return "{0} could not be read".format(MODULE_PROCESS_VAR)
    if getattr(action._connection, "transport", None) != "local":
        return "the connection is not local"
    if action._play_context.become:
        return "the task uses become"
    if action._task.async_val:
        return "the task is async"
    if C.DEFAULT_KEEP_REMOTE_FILES:
        return "ANSIBLE_KEEP_REMOTE_FILES keeps the module's files"
    if action._task.delegate_to:  # its interpreter is the delegated host's: the module process finds it
        return "the task is delegated"
    if threading.active_count() > 1:  # a fork copies one thread: a lock another one held would stay held
        return "this worker runs threads"
    interpreter = task_vars.get("ansible_python_interpreter")
    if not interpreter:
        return "ansible_python_interpreter is not set (it would be discovered)"
    try:
        interpreter = action._templar.template(interpreter)
    except Exception:
        return "ansible_python_interpreter could not be templated"
    if not isinstance(interpreter, str) or os.path.abspath(interpreter) != os.path.abspath(sys.executable):
        return "ansible_python_interpreter is not the Python running ansible-playbook"
    return None


def say_module_process(action, reason):
    """At -vvvv: why the module of ``action`` runs as a module process (``why_not``'s reason)."""
    display.vvvv("{0}: {1} runs as a module process: {2}".format(action._task.get_name(), action._task.action, reason))


def encode_arguments(module_args):
    """The module's arguments as AnsiballZ hands them to ``ansible.module_utils.basic``."""
    params = {"ANSIBLE_MODULE_ARGS": module_args}
    try:
        if get_module_encoder is not None:
            return json.dumps(params, cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)).encode("utf-8")
        return json.dumps(params, cls=AnsibleJSONEncoder, vault_to_text=True).encode("utf-8")
    except TypeError as e:
        raise AnsibleError("Unable to pass options to module, they must be JSON serializable: {0}".format(e))


def _as_module(module_fqn, json_params, environment, cwd, stdout_fd, stderr_fd):
    """In the child: become the module's process (as AnsiballZ sets one up) and never return."""
    code = 1  # unless the module exits with its own code
    try:
        atexit._clear()  # pylint: disable=protected-access  # the worker's exit handlers are not the module's
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        # the controller's log handlers (ANSIBLE_LOG_PATH) are not the module's
        logging.root.handlers[:] = []
        logging.root.setLevel(logging.WARNING)
        os.environ.update(environment)
        tempfile.tempdir = None  # TMPDIR as the task sets it
        for folder in (cwd, os.path.expanduser("~"), "/"):  # the playbook's directory, as for a module process
            try:
                os.chdir(folder)
                break
            except (OSError, TypeError):
                continue
        try:  # ansible-core 2.19 and later: module_utils act as in a module (warnings returned, not displayed)
            from ansible.module_utils import _internal
            _internal.is_controller = False
        except ImportError:
            pass
        try:  # ansible-core 2.19 and later: how AnsiballZ runs a module (an exception becomes a structured result)
            from ansible.module_utils._internal._ansiballz import _loader as ansiballz_loader
        except ImportError:  # ansible-core 2.17 and 2.18: the AnsiballZ wrapper sets basic._ANSIBLE_ARGS and runs runpy
            ansiballz_loader = None
        try:
            if ansiballz_loader is not None:
                ansiballz_loader.run_module(json_params=json_params, profile=PROFILE, module_fqn=module_fqn,
                                            modlib_path=None, extensions={})
            else:
                from ansible.module_utils import basic
                basic._ANSIBLE_ARGS = json_params
                runpy.run_module(module_fqn, init_globals={"_module_fqn": module_fqn, "_modlib_path": None},
                                 run_name="__main__", alter_sys=True)
                raise RuntimeError("New-style module did not handle its own exit.")
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:  # sys.exit("text"), as Python ends a process with it
                sys.stderr.write("{0}\n".format(e.code))
                code = 1
        finally:
            atexit._run_exitfuncs()  # pylint: disable=protected-access  # the module's (its tmpdir, ...)
    except BaseException:  # the output says what broke; Ansible's parser reports it as for a module process
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class Child(object):
    """A module running in a fork of this worker (see ``start``)."""

    def __init__(self, action, pid, out, err, done):
        self.action, self.pid, self._out, self._err, self._done = action, pid, out, err, done
        self.rc = None

    def wait(self, timeout=None):
        """True once the module has exited: waits up to ``timeout`` seconds (None: until it has)."""
        if self.rc is not None:
            return True
        # The child holds the write end of ``done`` until it exits: then the read end is at its end.
        ready, _w, _x = select.select([self._done], [], [], timeout)
        if not ready:
            return False
        self.rc = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        os.close(self._done)
        return True

    def stop(self):
        """End the module if it still runs (the task was interrupted), and free its files."""
        try:
            if self.rc is None:
                try:
                    os.kill(self.pid, signal.SIGTERM)
                except OSError:
                    pass
                self.wait()
        finally:
            self._out.close()
            self._err.close()

    def result(self):
        """The module's result once it has exited, as ``ActionBase._execute_module`` returns a module's."""
        self.wait()
        action = self.action
        try:
            self._out.seek(0)
            self._err.seek(0)
            stdout = to_text(self._out.read(), errors="surrogate_then_replace")
            stderr = to_text(self._err.read(), errors="surrogate_then_replace")
        finally:
            self.stop()
        res = dict(rc=self.rc, stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines())
        if len(inspect.signature(action._parse_returned_data).parameters) > 1:  # ansible-core 2.19 and later
            data = action._parse_returned_data(res, PROFILE)
        else:
            data = action._parse_returned_data(res)
        if hasattr(data, "as_result_dict"):  # ansible-core 2.21 and later: a UnifiedTaskResult, as _execute_module handles it
            data.remove_internal_keys()
            return data.as_result_dict(for_round_trip=True)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        if remove_internal_keys is not None:
            remove_internal_keys(data)
        return data


def start(action, module_fqn, module_args, task_vars):
    """Start the module ``module_fqn`` with ``module_args`` in a fork of this worker: a ``Child``.

    Call it before this worker starts any thread (``why_not`` says so): a fork copies one.
    """
    module_args = dict(module_args)
    action._update_module_args(action._task.action, module_args, task_vars)
    json_params = encode_arguments(module_args)
    environment = {}
    action._compute_environment_string(raw_environment_out=environment)
    environment = dict((str(name), str(value)) for name, value in environment.items())
    display.vvv("{0}: running {1} in a fork of this worker, {2} (set {3}: true for a module process)".format(
        action._task.get_name(), action._task.action, preloaded_from(), MODULE_PROCESS_VAR))
    cwd = action._loader.get_basedir()
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # unlinked already: nothing left behind
    done, child_end = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        for handle in (out, err):
            handle.close()
        os.close(done)
        os.close(child_end)
        raise
    if pid == 0:  # pragma: no cover - the child ends in os._exit
        os.close(done)
        _as_module(module_fqn, json_params, environment, cwd, out.fileno(), err.fileno())
    os.close(child_end)
    return Child(action, pid, out, err, done)


def run(action, module_fqn, module_args, task_vars):
    """Run the module ``module_fqn`` with ``module_args`` in a fork of this worker: its result, as
    ``ActionBase._execute_module`` returns a module's."""
    return start(action, module_fqn, module_args, task_vars).result()
