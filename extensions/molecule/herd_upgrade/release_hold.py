# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release a sandbox stack's held deployment once codedeploy_wait follows it (run in the background by converge).

prepare holds the joined stack's deployment at AllowTraffic, so that it is still under way when converge
reaches that stack, however long the steps before take. ListDeploymentTargets is called by codedeploy_wait
only, after herd_upgrade_invoke returned: seeing it means the join is done and the deployment may go on.
Without a hold (the idempotence run), the release answers 404 and this ends.
"""

from __future__ import absolute_import, division, print_function

import json
import sys
import time
from urllib.error import HTTPError
from urllib.request import Request, urlopen

__metaclass__ = type


def main():
    control_url, stack, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urlopen(control_url + "/calls", timeout=10) as answer:
            calls = json.load(answer).get("stacks", {}).get(stack, {})
        if calls.get("codedeploy:ListDeploymentTargets", 0) >= 1:
            break
        time.sleep(0.2)
    try:
        with urlopen(Request(control_url + "/stacks/" + stack + "/hold", method="DELETE"), timeout=10) as answer:
            print(answer.read().decode())
    except HTTPError as error:
        if error.code != 404:
            raise
        print("no hold on " + stack)


if __name__ == "__main__":
    main()
