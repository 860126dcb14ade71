# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-doc shows only what users set: no module has an internal option (such as the `_slice` that
codedeploy_wait's action plugin once passed); what the plugin needs travels in the module's environment."""

from __future__ import annotations

import importlib

import pytest
import yaml

MODULES = ["codedeploy_wait", "herd_buildinfo_check", "herd_rollback_plan", "herd_upgrade_invoke"]


@pytest.mark.parametrize("name", MODULES)
def test_no_option_is_internal(name):
    module = importlib.import_module("ansible_collections.mdl.herd.plugins.modules." + name)
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert [option for option in options if option.startswith("_")] == []
