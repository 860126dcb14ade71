# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # The two words that name an MDL stack.
    DOCUMENTATION = r"""
options:
  mdl_instance_name:
    description:
      - The MDL instance name of the stack (the C(MDLInstanceName) parameter it was created with).
      - With O(mdl_environment), it names every resource of the stack, for example the upgrade
        Lambda C({instance}-Herd-{environment}-UPGRADE-HERD-LAMBDA-FUNCTION) and the SSM
        parameters under C(/app/MDL/{instance}/{environment}/).
      - Letters, digits, C(-) and C(_).
    type: str
  mdl_environment:
    description:
      - The environment (SDLC) of the stack, for example C(DEV), C(QA) or C(PROD)
        (the C(Environment) parameter it was created with).
      - Letters, digits, C(-) and C(_).
    type: str
"""
