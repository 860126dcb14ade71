# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's ``main`` in-process and catch how it ended, for the module unit tests."""

from __future__ import annotations

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


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

    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        kwargs["failed"] = True
        raise FailJson(kwargs)

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
