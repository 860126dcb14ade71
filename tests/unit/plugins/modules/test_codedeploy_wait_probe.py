# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The zero-downtime probe, a thread of codedeploy_wait's module process: its credentials, a hung HERD,
credentials that cannot be read, and the version check at the end."""

from __future__ import annotations

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _codedeploy_follower
from ansible_collections.mdl.herd.plugins.modules import codedeploy_wait
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.codedeploy_story import EPOCH0, FakeCodeDeploy, blue_green_story
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.herd_servers import AnsweringHerd, HangingHerd
from ansible_collections.mdl.herd.tests.unit.plugins.modules.test_codedeploy_wait import DEPLOYMENT, run

PASSWORD = "pr0be-Passw0rd-7d1c"
STACK = {"mdl_instance_name": "mdl", "mdl_environment": "DEV"}


class FakeSsm(object):
    """get_parameter: the admin credentials, or AccessDenied when ``denied``."""

    def __init__(self, denied=False):
        self.denied = denied
        self.names = []

    def get_parameter(self, Name, WithDecryption=False):  # pylint: disable=invalid-name
        self.names.append(Name)
        if self.denied:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetParameter")
        value = "admin" if Name.endswith("HerdAdminUsername") else PASSWORD
        return {"Parameter": {"Name": Name, "Value": value}}


@pytest.fixture
def services(monkeypatch, clock):
    """A deployment that succeeds, and the SSM parameters of stack mdl/DEV."""
    codedeploy = FakeCodeDeploy(clock, [blue_green_story()])
    ssm = FakeSsm()

    def client(module, service, retry_decorator=None):
        return RetryingBotoClientWrapper(ssm if service == "ssm" else codedeploy.client, retry_decorator or codedeploy_wait._aws.read_retry())

    monkeypatch.setattr(codedeploy_wait._aws, "client", client)
    return codedeploy, ssm


def wait_between_reads(monkeypatch, clock, condition):
    """The wait's pauses also wait (on a condition, up to 10 s) for ``condition()``: the probe has had its say."""
    fake_sleep = clock.sleep

    def sleep(seconds):
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        fake_sleep(seconds)

    monkeypatch.setattr(_codedeploy_follower.time, "sleep", sleep)


def probe_threads():
    return [t for t in threading.enumerate() if t.name == "mdl-herd-probe" and t.is_alive()]


def test_the_probe_sends_the_credentials_read_from_ssm_and_the_password_shows_nowhere(monkeypatch, clock, services):
    dummy, ssm = services
    with AnsweringHerd(username="admin", password=PASSWORD) as herd:
        wait_between_reads(monkeypatch, clock, lambda: len(herd.seen) >= 2)
        failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url=herd.url, probe_interval=0.2,
                             probe_credentials_from_ssm=True, **STACK)
    assert not failed and result["status"] == "Succeeded"
    assert ssm.names == ["/app/MDL/mdl/DEV/LDAP/User/HerdAdminUsername", "/app/MDL/mdl/DEV/LDAP/Password/HerdAdminPassword"]
    report = result["zero_downtime"]
    assert report["probed"] is True and report["not_probed_reason"] is None
    assert report["requests"] >= 2 and report["failures"] == 0, report
    assert herd.seen and all(auth and auth.startswith("Basic ") for dummy, auth, dummy2 in herd.seen)
    assert PASSWORD not in json.dumps(result)


def test_credentials_that_cannot_be_read_do_not_fail_the_wait(monkeypatch, clock, services):
    dummy, ssm = services
    ssm.denied = True
    with AnsweringHerd(username="admin", password=PASSWORD) as herd:
        failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url=herd.url, probe_credentials_from_ssm=True, **STACK)
    assert not failed and result["status"] == "Succeeded"
    report = result["zero_downtime"]
    assert report["probed"] is False and report["requests"] == 0
    assert "could not be read from SSM" in report["not_probed_reason"] and "mdl/DEV" in report["not_probed_reason"]
    assert any("did not run" in w for w in result["warnings"])
    assert herd.seen == []


@pytest.mark.parametrize("args, message", [
    ({"probe_credentials_from_ssm": True}, "probe_credentials_from_ssm"),
    ({"probe_username": "admin"}, "probe_password"),
    ({"probe_interval": 0.1}, "probe_interval must be at least 0.2 seconds"),
])
def test_probe_options_are_checked_before_any_aws_call(monkeypatch, clock, services, args, message):
    codedeploy, ssm = services
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url="http://127.0.0.1:9/herd-app/displayBuildInfo", **args)
    assert failed and message in result["msg"]
    assert codedeploy.requests == [] and ssm.names == []


def test_in_check_mode_the_probe_does_not_run_and_says_so(monkeypatch, clock, services):
    clock.now = EPOCH0 + 100
    with AnsweringHerd() as herd:
        failed, result = run(monkeypatch, check_mode=True, deployment_id=DEPLOYMENT, probe_url=herd.url)
    assert not failed
    assert result["zero_downtime"]["probed"] is False and "check mode" in result["zero_downtime"]["not_probed_reason"]
    assert herd.seen == []


def test_a_hung_herd_never_delays_the_end_of_the_wait(monkeypatch, clock, services):
    with HangingHerd() as herd:
        wait_between_reads(monkeypatch, clock, lambda: herd.count >= 1)
        failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url=herd.url, probe_interval=0.2)
        # The module returned while the probe's request was still unanswered: it did not wait for it.
        assert probe_threads()
        assert not failed and result["status"] == "Succeeded" and result["zero_downtime"]["requests"] == 0
        count = herd.count
        deadline = time.monotonic() + 10
        while probe_threads() and time.monotonic() < deadline:  # the request ends at its timeout
            threading.Event().wait(0.05)
        assert not probe_threads()
        assert herd.count == count  # and no request started after the wait ended


@pytest.mark.parametrize("version, expected, served", [
    ("0.176.0", "0.176", {"served_version": "0.176.0", "served_matches": True}),  # compared Maven-style
    ("0.170.0", "0.176.0", {"served_version": "0.170.0", "served_matches": False}),
])
def test_expected_version_is_checked_by_one_read_after_success(monkeypatch, clock, services, version, expected, served):
    with AnsweringHerd(version=version) as herd:
        failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url=herd.url, probe_interval=5,
                             expected_version=expected)
    assert not failed
    assert {k: result[k] for k in ("served_version", "served_matches")} == served


def test_without_an_answer_at_the_end_the_version_is_not_taken_as_served(monkeypatch, clock, services):
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url="http://127.0.0.1:9/herd-app/rest/buildInfo",
                         probe_interval=5, expected_version="0.176.0")
    assert not failed
    assert (result["served_version"], result["served_matches"]) == (None, False)


def test_a_probe_url_that_is_not_a_herd_url_fails_naming_it_before_any_aws_call(monkeypatch, clock, services):
    codedeploy, ssm = services
    failed, result = run(monkeypatch, deployment_id=DEPLOYMENT, probe_url="herd.example.com/herd-app/displayBuildInfo")
    assert failed and result["msg"].startswith("probe_url must be an http:// or https:// URL"), result["msg"]
    assert "https://host/herd-app/displayBuildInfo" in result["msg"]
    assert codedeploy.requests == [] and ssm.names == []
