# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's ``main`` in-process and catch how it ended, for the module unit tests."""

from __future__ import annotations

import contextlib
import json

from ansible.module_utils import basic
from ansible.module_utils.common.warnings import get_warning_messages

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19: modules read their arguments from basic._ANSIBLE_ARGS

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


class ExitJson(Exception):
    def __init__(self, result):
        super(ExitJson, self).__init__(result.get("msg"))
        self.result = result


class FailJson(ExitJson):
    pass


def run_module(monkeypatch, main, params, check_mode=False):
    """Run ``main`` with ``params``; return ``(failed, result)`` as exit_json/fail_json received them."""
    params = dict(params)
    if check_mode:
        params["_ansible_check_mode"] = True

    def with_warnings(kwargs):
        # what AnsibleModule adds when it formats the result (bypassed here); older cores keep them apart
        found = list(get_warning_messages())
        if found and "warnings" not in kwargs:
            kwargs["warnings"] = found
        return kwargs

    def exit_json(self, **kwargs):
        raise ExitJson(with_warnings(kwargs))

    def fail_json(self, **kwargs):
        kwargs["failed"] = True
        raise FailJson(with_warnings(kwargs))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    with patch_module_args(params):
        try:
            main()
        except FailJson as e:
            return True, e.result
        except ExitJson as e:
            return False, e.result
    raise AssertionError("the module ended without exit_json or fail_json")
