# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of a module of this collection that has nothing to do on the controller but run it."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.mdl.herd.plugins.plugin_utils import _module_fork

_module_fork.preload()  # in ansible-playbook's own process, where the strategy imports this plugin (see _module_fork)


class ModuleAction(ActionBase):
    """Runs the module ``MODULE`` of mdl.herd: in a fork of the worker when it runs on the controller
    (see ``_module_fork``), else as Ansible's ``normal`` action runs any module."""

    MODULE = None
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ModuleAction, self).run(tmp, task_vars)
        del tmp
        reason = _module_fork.why_not(self, task_vars)
        if reason is None:
            module_fqn = "ansible_collections.mdl.herd.plugins.modules.{0}".format(self.MODULE)
            return merge_hash(result, _module_fork.run(self, module_fqn, self._task.args, task_vars))
        _module_fork.say_module_process(self, reason)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
