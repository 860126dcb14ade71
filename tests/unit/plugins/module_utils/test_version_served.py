# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The version HERD serves, as start_or_join compares it with the requested one: a build number that is not a
version cannot be compared, so it is refused before any invoke unless any direction is allowed."""

from __future__ import annotations

import pytest

pytest.importorskip("botocore")

from ansible_collections.mdl.herd.plugins.module_utils._upgrade import UpgradeFailure, start_or_join  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.test_upgrade import (  # noqa: E402
    FakeLambda,
    invocation,
    invoke_response,
)

DEPLOYED = "INFO: Deployment id is: 'd-NEW000001'.\n"


@pytest.mark.parametrize("build_number", ["garbage", "${buildNumber}", "0.176.0 (build 7)"])
def test_a_build_number_that_is_not_a_version_is_refused_before_the_invoke_naming_it(build_number):
    fake = FakeLambda(invoke_response=invoke_response(DEPLOYED))
    with pytest.raises(UpgradeFailure) as refused:
        start_or_join(invocation(fake, version="0.176.0"), served_version=build_number)
    message = refused.value.msg
    assert fake.invokes == []
    assert "mdl/DEV" in message and repr(build_number) in message and "is not a HERD version" in message
    assert "nothing was invoked, and running this again refuses again" in message
    assert "herd_upgrade_allow_downgrade=true" in message
    assert refused.value.details["served_version"] == build_number


@pytest.mark.parametrize("build_number", ["garbage", "${buildNumber}", "0.176.0 (build 7)"])
@pytest.mark.parametrize("requested", ["0.176.0", "0.100.0", "0.199.0"])
def test_allow_downgrade_lets_any_direction_go_ahead(build_number, requested):
    fake = FakeLambda(invoke_response=invoke_response(DEPLOYED))
    result = start_or_join(invocation(fake, version=requested), served_version=build_number, allow_downgrade=True)
    assert len(fake.invokes) == 1 and result["deployment_id"] == "d-NEW000001"
    assert result["downgrade"] is False  # not known to be one


def test_a_snapshot_to_its_release_stays_an_upgrade():
    fake = FakeLambda(invoke_response=invoke_response(DEPLOYED))
    result = start_or_join(invocation(fake, version="0.176.0"), served_version="0.176.0-SNAPSHOT")
    assert len(fake.invokes) == 1 and result["downgrade"] is False


def test_a_release_to_its_snapshot_is_still_a_downgrade():
    fake = FakeLambda(invoke_response=invoke_response(DEPLOYED))
    with pytest.raises(UpgradeFailure, match="is older: that is a downgrade"):
        start_or_join(invocation(fake, version="0.176.0-SNAPSHOT"), served_version="0.176.0")
    assert fake.invokes == []
