# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module for the tests of plugin_utils/_module_fork.py: it says what it was given and where it ran."""

from __future__ import annotations

import atexit
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            say=dict(type="str", default="hello"),
            secret=dict(type="str", no_log=True),
            fail=dict(type="bool", default=False),
            crash=dict(type="bool", default=False),
            warning=dict(type="str"),
            at_exit_file=dict(type="path"),
            exit_text=dict(type="str"),
            hold_until=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    if module.params["at_exit_file"]:
        atexit.register(lambda: open(module.params["at_exit_file"], "w").close())
    if module.params["hold_until"]:  # runs until the test creates this file (at most a minute)
        deadline = time.monotonic() + 60
        while not os.path.exists(module.params["hold_until"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    if module.params["exit_text"]:
        raise SystemExit(module.params["exit_text"])
    if module.params["crash"]:
        raise RuntimeError("the echo module broke on purpose")
    if module.params["warning"]:
        module.warn(module.params["warning"])
    if module.params["fail"]:
        module.fail_json(msg="echo failed on purpose: " + module.params["say"])
    module.exit_json(changed=not module.check_mode, said=module.params["say"], pid=os.getpid(),
                     environment=os.environ.get("MDL_HERD_ECHO"), check_mode=module.check_mode,
                     secret_given=module.params["secret"] is not None, cwd=os.getcwd(), tmpdir=tempfile.gettempdir())


if __name__ == "__main__":
    main()
