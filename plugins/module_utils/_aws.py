# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds AWS clients and decides what is retried.

Modules get their clients here, built by amazon.aws's ``AnsibleAWSModule.client()`` (which owns
credentials, region, endpoint, ``aws_config`` and the user agent). Reads are retried with jittered
backoff on throttling and transient errors when called with ``aws_retry=True``. The upgrade
Lambda's Invoke gets a client of its own that never retries: a retried Invoke would start a
second deployment.

``module.client()`` makes a boto3 session for every client, and each session reads botocore's
endpoint data again (about 0.1 s a client): a module builds each service's client once and shares
it (:func:`client`), and only when it is first used (:func:`lazy_client`).
"""

from __future__ import annotations

import weakref

try:
    from botocore.config import Config
    # ClientError and HTTPClientError: for the module_utils that catch them, with the stand-ins below
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError  # pylint: disable=unused-import
except ImportError:  # pragma: no cover - reported by AnsibleAWSModule
    Config = None

    # Stand-ins so that ``except (ClientError, BotoCoreError)`` in the module_utils still parses.
    class BotoCoreError(Exception):
        pass

    class HTTPClientError(BotoCoreError):
        pass

    class ClientError(Exception):
        pass

from ansible.module_utils.common.warnings import warn as _record_warning

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code, paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _denied

# "Slow down" answers of the services this collection calls. AWSRetry retries three of them by itself
# (Throttling, TooManyRequestsException, RequestLimitExceeded); read_retry() adds the others.
THROTTLING_ERROR_CODES = frozenset([
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
])

# Error codes that mean "ask again later" beyond those AWSRetry retries by itself (RequestLimitExceeded,
# Throttling, TooManyRequestsException, ServiceUnavailable, Unavailable, InternalFailure, InternalError):
# the other throttling codes, timeouts and server errors. The one list of them in the collection.
TRANSIENT_ERROR_CODES = sorted(
    [code for code in THROTTLING_ERROR_CODES if not AWSRetry.found(code)]
    + [
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalServerError",
        "InternalServiceError",
    ]
)


# What AWS answers a call the credentials are not allowed to make (services spell it differently).
ACCESS_DENIED_ERROR_CODES = ("AccessDeniedException", "AccessDenied")


def is_transient_error_code(code):
    """True when an AWS error code means "ask again later": AWSRetry's own codes and TRANSIENT_ERROR_CODES."""
    return code is not None and AWSRetry.found(code, TRANSIENT_ERROR_CODES)


# Backoff for reads: up to 10 tries, 1 s doubling to at most 20 s, full jitter.
READ_RETRIES = 10
READ_DELAY = 1
READ_MAX_DELAY = 20


def read_retry(retries=READ_RETRIES, delay=READ_DELAY, max_delay=READ_MAX_DELAY):
    """The retry decorator for calls that are safe to repeat."""
    return AWSRetry.jittered_backoff(
        retries=retries, delay=delay, max_delay=max_delay, catch_extra_error_codes=TRANSIENT_ERROR_CODES
    )


# module -> {service: the boto3 client module.client() built}: one client per service and module.
_CLIENTS = weakref.WeakKeyDictionary()


def client(module, service, retry_decorator=None):
    """A client whose calls retry with backoff when passed ``aws_retry=True`` (by default :func:`read_retry`).

    Built by ``module.client()`` the first time the module asks for ``service``; later asks get the same
    boto3 client, wrapped with their own ``retry_decorator``.
    """
    retry_decorator = retry_decorator or read_retry()
    built = _CLIENTS.setdefault(module, {})
    if service not in built:
        wrapped = module.client(service, retry_decorator=retry_decorator)
        built[service] = _denied.register(wrapped.client)  # AccessDenied names the policy
        return wrapped
    return RetryingBotoClientWrapper(built[service], retry_decorator)


class LazyClient(object):
    """A client built on its first use: building one costs a tenth of a second (a boto3 session,
    endpoint data and the service model), and many runs need only some of a module's clients
    (the idempotent no-op, which decides before it reads Lambda or S3)."""

    def __init__(self, build):
        self._build = build
        self._client = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)


def lazy_client(module, service, retry_decorator=None):
    """:func:`client`, built when first used."""
    return LazyClient(lambda: client(module, service, retry_decorator=retry_decorator))


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
    # aws_config=None: amazon.aws would merge the user's over ``config`` (it is already underneath).
    return _denied.register(module.client(service, config=config, aws_config=None))  # AccessDenied names the policy


def warn(message):
    """Warn as ``AnsibleModule.warn`` does: the warning is shown once with the task's result.

    The modules warn with this, never with ``module.warn``: amazon.aws's ``AnsibleAWSModule.warn``
    also keeps the warnings and, on ansible-core 2.19 and later, passes them to ``exit_json`` as
    ``warnings``, which ansible-core deprecates ("Passing 'warnings' to 'exit_json' or 'fail_json'
    ... removed in 2.23") on every run that warns.
    """
    _record_warning(message)


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
    except is_boto3_error_code("ParameterNotFound"):
        return default
    return response["Parameter"]["Value"]


def paginate(client, operation, retry_decorator=None, **params):
    """Every page of a paginated read, merged into one answer (botocore's paginator and ``build_full_result``).

    ``client`` is one from :func:`client` (its paginators are botocore's own, without ``aws_retry``): the
    whole read is retried with ``retry_decorator`` (by default :func:`read_retry`) when a page fails with a
    transient error.
    """
    return paginated_query_with_retries(client, operation, retry_decorator=retry_decorator or read_retry(), **params)
