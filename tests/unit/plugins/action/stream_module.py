# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for codedeploy_wait in the tests of its action plugin: writes its lines to the progress file as it goes."""

from __future__ import annotations

import os
import threading
import time

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            deployment_id=dict(type="str", required=True),
            lines=dict(type="list", elements="str", default=[]),
            hold_until=dict(type="path"),  # after the first line, wait for this file (made by the test once it saw the line)
            probe_url=dict(type="str"),
            probe_username=dict(type="str"),
            wait_timeout=dict(type="int"),
            label=dict(type="str"),
            _slice=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    stream = (module.params["_slice"] or {}).get("stream")
    with open(stream, "a", encoding="utf-8") as handle:
        for n, text in enumerate(module.params["lines"]):
            handle.write(text + "\n")
            handle.flush()
            if n == 0 and module.params["hold_until"]:
                deadline = time.monotonic() + 30
                while not os.path.exists(module.params["hold_until"]):
                    if time.monotonic() > deadline:
                        module.fail_json(msg="the first line was not shown while the module ran")
                    time.sleep(0.02)
    module.exit_json(changed=False, status="Succeeded", deployment_id=module.params["deployment_id"], pid=os.getpid(),
                     threads=threading.active_count())


if __name__ == "__main__":
    main()
