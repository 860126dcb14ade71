# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds AWS clients and decides what is retried.

Modules get their clients here, from an amazon.aws ``AnsibleAWSModule`` (which owns
credentials, region, endpoint and ``aws_config``). Reads are retried with jittered
backoff on throttling and transient errors when called with ``aws_retry=True``. The
upgrade Lambda's Invoke gets a client of its own that never retries: a retried Invoke
would start a second deployment.
"""

from __future__ import annotations

try:
    from botocore.config import Config
except ImportError:  # pragma: no cover - reported by AnsibleAWSModule
    Config = None

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Error codes that mean "ask again later", beyond those amazon.aws retries already
# (RequestLimitExceeded, Throttling, TooManyRequestsException, ServiceUnavailable, ...).
TRANSIENT_ERROR_CODES = [
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "InternalServerError",
    "InternalServiceError",
]

# Backoff for reads: up to 10 tries, 1 s doubling to at most 20 s, full jitter.
READ_RETRIES = 10
READ_DELAY = 1
READ_MAX_DELAY = 20


def read_retry(retries=READ_RETRIES, delay=READ_DELAY, max_delay=READ_MAX_DELAY):
    """The retry decorator for calls that are safe to repeat."""
    return AWSRetry.jittered_backoff(
        retries=retries, delay=delay, max_delay=max_delay, catch_extra_error_codes=TRANSIENT_ERROR_CODES
    )


def client(module, service, retry_decorator=None):
    """A client whose calls retry with backoff when passed ``aws_retry=True``."""
    return module.client(service, retry_decorator=retry_decorator or read_retry())


def no_retry_client(module, service, read_timeout):
    """A client that sends each request exactly once and waits ``read_timeout`` seconds for the answer.

    For calls that are not safe to repeat, such as invoking the upgrade Lambda.
    """
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=read_timeout,
        connect_timeout=30,
        tcp_keepalive=True,
    )
    # amazon.aws merges the user's aws_config over ``config``, so an aws_config with retries
    # (often set for a whole group in module_defaults) would turn retries back on. Merge it
    # underneath instead: it keeps every other setting (proxies, ...) but not these.
    user_config = module.params.get("aws_config")
    if user_config:
        config = Config(**user_config).merge(config)
    return module.client(service, config=config, aws_config=None)


def error_code(exception):
    """The AWS error code of a botocore ClientError, or None."""
    response = getattr(exception, "response", None) or {}
    return response.get("Error", {}).get("Code")


def get_parameter(ssm, name, decrypt=False, default=None):
    """The value of an SSM parameter, or ``default`` when it does not exist.

    ``ssm`` is a client from :func:`client`; the read is retried on throttling.
    """
    try:
        response = ssm.get_parameter(Name=name, WithDecryption=decrypt, aws_retry=True)
    except Exception as e:  # botocore may be missing at import time; match on the error code
        if error_code(e) == "ParameterNotFound":
            return default
        raise
    return response["Parameter"]["Value"]
