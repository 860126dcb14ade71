# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mdl.herd.herd_upgrade_invoke, run in a fork of the task's worker when it runs on the controller (see plugin_utils/_module_fork.py)."""

from __future__ import annotations

from ansible_collections.mdl.herd.plugins.plugin_utils._module_action import ModuleAction


class ActionModule(ModuleAction):
    MODULE = "herd_upgrade_invoke"
