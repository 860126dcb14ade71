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
output with Ansible's own parser. The child holds boto3 and exits with the module; the worker
never imports it.

Everything else (another connection, become, async, another interpreter, a worker that runs
threads, ``ANSIBLE_KEEP_REMOTE_FILES``, or ``mdl_herd_module_process: true``) gets the module
process Ansible starts for any module.
"""

from __future__ import annotations

import inspect
import json
import os
import runpy
import sys
import tempfile
import threading

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible.module_utils.common.json import AnsibleJSONEncoder

try:  # ansible-core 2.19 and later: the profile AnsiballZ encodes module arguments with
    from ansible.module_utils.common.json import Direction, get_module_encoder
except ImportError:  # ansible-core 2.17 and 2.18
    Direction = get_module_encoder = None

try:
    from ansible.vars.clean import remove_internal_keys
except ImportError:  # pragma: no cover - every supported ansible-core has it
    remove_internal_keys = None

display = Display()

# The variable that turns the fork off (the module then runs as a process of its own, as any module does).
MODULE_PROCESS_VAR = "mdl_herd_module_process"
# The serialization profile of modules that do not declare one: this collection's.
PROFILE = "legacy"
# Exit code of a child that could not run the module at all (its traceback is on its stderr).
CHILD_BROKEN = 70


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
    if threading.active_count() > 1:  # a fork copies one thread: a lock another one held would stay held
        return "this worker runs threads"
    interpreter = task_vars.get("ansible_python_interpreter")
    if not interpreter:
        return "ansible_python_interpreter is not set (it would be discovered)"
    try:
        interpreter = action._templar.template(interpreter)
    except Exception:
        return "ansible_python_interpreter could not be templated"
    if not isinstance(interpreter, str) or os.path.realpath(interpreter) != os.path.realpath(sys.executable):
        return "ansible_python_interpreter is not the Python running ansible-playbook"
    return None


def encode_arguments(module_args):
    """The module's arguments as AnsiballZ hands them to ``ansible.module_utils.basic``."""
    params = {"ANSIBLE_MODULE_ARGS": module_args}
    if get_module_encoder is not None:
        return json.dumps(params, cls=get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)).encode("utf-8")
    return json.dumps(params, cls=AnsibleJSONEncoder, vault_to_text=True).encode("utf-8")


def _as_module(module_fqn, json_params, environment, out_path, err_path):
    """In the child: become the module's process and never return."""
    code = CHILD_BROKEN
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, out_path), (2, err_path)):
            target = os.open(path, os.O_WRONLY | os.O_TRUNC)
            os.dup2(target, fd)
            os.close(target)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        os.environ.update(environment)
        try:  # ansible-core 2.19 and later: module_utils act as in a module (warnings returned, not displayed)
            from ansible.module_utils import _internal
            _internal.is_controller = False
        except ImportError:
            pass
        from ansible.module_utils import basic
        basic._ANSIBLE_ARGS = json_params
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            basic._ANSIBLE_PROFILE = PROFILE
        try:
            runpy.run_module(module_fqn, init_globals={"_module_fqn": module_fqn, "_modlib_path": None},
                             run_name="__main__", alter_sys=True)
            print(json.dumps({"failed": True, "msg": "{0} returned without exit_json or fail_json".format(module_fqn)}))
            code = 1
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # the output says what broke; Ansible's parser reports it as for a module process
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run(action, module_fqn, module_args, task_vars):
    """Run the module ``module_fqn`` with ``module_args`` in a fork of this worker: its result, as
    ``ActionBase._execute_module`` returns a module's."""
    module_args = dict(module_args)
    action._update_module_args(action._task.action, module_args, task_vars)
    json_params = encode_arguments(module_args)
    environment = {}
    action._compute_environment_string(raw_environment_out=environment)
    environment = dict((str(name), str(value)) for name, value in environment.items())
    display.vvv("{0}: running {1} in a fork of this worker (set {2}: true for a module process)".format(
        action._task.get_name(), action._task.action, MODULE_PROCESS_VAR))
    folder = tempfile.mkdtemp(prefix="mdl-herd-module-")
    out_path, err_path = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
    try:
        for path in (out_path, err_path):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit
            _as_module(module_fqn, json_params, environment, out_path, err_path)
        status = os.waitpid(pid, 0)[1]
        rc = os.waitstatus_to_exitcode(status)
        with open(out_path, encoding="utf-8", errors="surrogateescape") as handle:
            stdout = handle.read()
        with open(err_path, encoding="utf-8", errors="surrogateescape") as handle:
            stderr = handle.read()
    finally:
        for path in (out_path, err_path):
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(folder)
    res = dict(rc=rc, stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(), stderr_lines=stderr.splitlines())
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
