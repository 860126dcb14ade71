"""Loaded by Python at start-up when this directory is on PYTHONPATH (tests only).

With MDL_HERD_IMPORT_WATCH set to a file name, an ``ansible-playbook`` process (the controller and
its forked workers, not the module processes: their ``sys.argv[0]`` is the module's file) that
imports botocore or boto3 writes to that file
the process id and the stack of the import: a test then tells which process loaded the AWS
libraries, and from where. Each process reports its own first import; a fork that inherits them
from its parent imports nothing.

With MDL_HERD_TEST_PLUGIN_WATCH set to a file name, an ``ansible-playbook`` process that opens a file
of ansible-core's Jinja test plugins (``ansible/plugins/test/``: ``is defined``, ``is skipped``...)
writes its process id and the file to that file, one line each: a test then tells whether the tests
were loaded once, by ansible-playbook, or again by each task's worker. (The plugin loader reads
those files by path, not through an import a finder would see, so this watches the files opened.)

With MDL_HERD_COMMAND_WATCH set to a file name, an ``ansible-playbook`` process that starts a process
writes the command to that file, one line each (its arguments joined by spaces).
"""

import os
import sys
import traceback

WATCHED = ("botocore", "boto3")
_REPORT = os.environ.get("MDL_HERD_IMPORT_WATCH")
_TEST_PLUGIN_REPORT = os.environ.get("MDL_HERD_TEST_PLUGIN_WATCH")
_COMMAND_REPORT = os.environ.get("MDL_HERD_COMMAND_WATCH")
_TEST_PLUGIN_DIRECTORY = os.sep.join(["", "ansible", "plugins", "test", ""])


class _ImportWatch:
    seen_by = None  # the process that reported (a fork starts with its parent's)

    def find_spec(self, name, path=None, target=None):
        if _ImportWatch.seen_by != os.getpid() and name in WATCHED and _is_ansible_playbook():
            _ImportWatch.seen_by = os.getpid()
            with open(_REPORT, "a", encoding="utf-8") as report:
                report.write("process {0} imported {1}:\n".format(os.getpid(), name))
                report.write("".join(traceback.format_stack()))
        return None  # the import itself goes on as usual


def _test_plugin_opened(event, args):
    if event == "open" and args and isinstance(args[0], (str, os.PathLike)):
        path = os.fspath(args[0])
        if isinstance(path, str) and _TEST_PLUGIN_DIRECTORY in path:
            with open(_TEST_PLUGIN_REPORT, "a", encoding="utf-8") as report:
                report.write("{0} {1}\n".format(os.getpid(), path))


def _command_started(event, args):
    if event == "subprocess.Popen":
        command = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
        with open(_COMMAND_REPORT, "a", encoding="utf-8") as report:
            report.write(" ".join(str(part) for part in command).replace("\n", " ") + "\n")


def _is_ansible_playbook():
    return any(os.path.basename(arg).startswith("ansible-playbook") for arg in sys.argv[:2])


if _REPORT and _is_ansible_playbook():
    sys.meta_path.insert(0, _ImportWatch())
if _TEST_PLUGIN_REPORT and _is_ansible_playbook():
    sys.addaudithook(_test_plugin_opened)
if _COMMAND_REPORT and _is_ansible_playbook():
    sys.addaudithook(_command_started)
