# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the module tests."""

from __future__ import annotations

import types

import pytest

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower, _waiter
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import FakeClock


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock()
    fake_time = types.SimpleNamespace(time=clock.time, monotonic=clock.monotonic, sleep=clock.sleep)
    monkeypatch.setattr(_codedeploy_follower, "time", fake_time)
    monkeypatch.setattr(_waiter, "time", fake_time)
    monkeypatch.setattr(cloud, "time", fake_time)
    return clock
