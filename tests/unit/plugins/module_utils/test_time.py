# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import datetime

import pytest

from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc, iso, to_epoch

EPOCH = 1795698000.0  # 2026-11-26T13:00:00Z
UTC = datetime.timezone.utc


@pytest.mark.parametrize("value", [
    EPOCH + 0.25,
    int(EPOCH) + 0.25,
    "2026-11-26T13:00:00.250Z",
    "2026-11-26T15:00:00.250+02:00",
    datetime.datetime(2026, 11, 26, 13, 0, 0, 250000, tzinfo=UTC),
    datetime.datetime(2026, 11, 26, 13, 0, 0, 250000),  # naive: botocore's are aware, treat naive as UTC
    datetime.datetime(2026, 11, 26, 8, 0, 0, 250000, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
])
def test_every_form_aws_uses_reads_as_the_same_moment(value):
    assert iso(value) == "2026-11-26T13:00:00.250+00:00"
    assert to_epoch(value) == EPOCH + 0.25
    assert as_utc(value).tzinfo == UTC


@pytest.mark.parametrize("value", [None, ""])
def test_nothing_stays_nothing(value):
    assert iso(value) is None and to_epoch(value) is None and as_utc(value) is None
