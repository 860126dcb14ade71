# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the action plugin's tests."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from ansible_collections.mdl.herd.plugins.action import codedeploy_wait as action


@pytest.fixture
def shown(monkeypatch):
    """The plugin's Display, replaced: what it printed."""
    display = MagicMock()
    monkeypatch.setattr(action, "display", display)
    return display
