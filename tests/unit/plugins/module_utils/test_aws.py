# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one client that never retries (the read timeout it is built with, whatever aws_config says), and the retried codes."""

from __future__ import annotations

import pytest

pytest.importorskip("botocore")

from ansible_collections.mdl.herd.plugins.module_utils import _aws  # noqa: E402


class FakeModule(object):
    def __init__(self, aws_config=None):
        self.params = {"aws_config": aws_config}
        self.built = []

    def client(self, service, config=None, aws_config="unset", retry_decorator=None):
        self.built.append({"service": service, "config": config, "aws_config": aws_config})
        return object()


@pytest.mark.parametrize("read_timeout", [960, 65, 3600])
def test_the_invoke_client_waits_the_read_timeout_it_is_given_and_never_retries(read_timeout):
    module = FakeModule()
    _aws.no_retry_client(module, "lambda", read_timeout)
    config = module.built[0]["config"]
    assert config.read_timeout == read_timeout
    assert config.retries["total_max_attempts"] == 1


def test_a_users_aws_config_keeps_its_other_settings_but_not_retries_or_the_timeout():
    module = FakeModule(aws_config={"retries": {"max_attempts": 10}, "read_timeout": 5, "proxies": {"https": "p:3128"}})
    _aws.no_retry_client(module, "lambda", 960)
    built = module.built[0]
    assert built["config"].read_timeout == 960
    assert built["config"].retries["total_max_attempts"] == 1
    assert built["config"].proxies == {"https": "p:3128"}
    assert built["aws_config"] is None  # amazon.aws must not merge it on top again


def test_the_transient_codes_are_those_amazon_aws_does_not_retry_by_itself():
    from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

    assert set(_aws.TRANSIENT_ERROR_CODES) == {
        "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
        "ProvisionedThroughputExceededException", "SlowDown", "RequestTimeout", "RequestTimeoutException",
        "PriorRequestNotComplete", "InternalServerError", "InternalServiceError",
    }
    assert not any(AWSRetry.found(code) for code in _aws.TRANSIENT_ERROR_CODES)
    # every throttling code is retried, by AWSRetry itself or through TRANSIENT_ERROR_CODES
    assert all(_aws.is_transient_error_code(code) for code in _aws.THROTTLING_ERROR_CODES)
    assert _aws.is_transient_error_code("ServiceUnavailable") and _aws.is_transient_error_code("InternalServerError")
    assert not _aws.is_transient_error_code("AccessDeniedException") and not _aws.is_transient_error_code(None)
