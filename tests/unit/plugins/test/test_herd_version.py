# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test plugin mdl.herd.herd_version: the modules' own version grammar, for the role and the playbooks."""

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.module_utils import _stack
from ansible_collections.mdl.herd.plugins.test.herd_version import TestModule as HerdVersionTests


@pytest.mark.parametrize("value, expected", [
    ("0.176.0", True), ("0.176", True), ("1.0.0-RC1", True), ("0.176.0-SNAPSHOT", True), ("1.0-beta-2", True),
    ("1" * 64, True), ("1" * 65, False),
    ("latest", False), ("..", False), ("-1", False), ("0.176.0\n", False), ("", False), (" 0.176.0", False),
    (0.18, False), (176, False), (None, False), (["0.176.0"], False),
])
def test_the_test_is_the_modules_grammar(value, expected):
    test = HerdVersionTests().tests()["herd_version"]
    assert test(value) is expected
    assert _stack.is_version(value) is expected  # one definition: the plugin answers as the modules check
