# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that builds AWS clients and decides what is retried.

Modules get their clients here, from the AWS options of an amazon.aws ``AnsibleAWSModule`` as
amazon.aws's public ``get_aws_connection_info()`` reads them (credentials, profile, region,
endpoint, CA bundle, ``aws_config``), with amazon.aws's failures for a missing region or a bad
option. Reads are retried with jittered backoff on throttling and transient errors when called
with ``aws_retry=True``. The upgrade Lambda's Invoke gets a client of its own that never
retries: a retried Invoke would start a second deployment.

Every client of a module comes from one boto3 session, built when the module asks for its first
client. ``AnsibleAWSModule.client()`` makes a session for every client, and each session reads
botocore's endpoint data again: with it, an upgrade's ``herd_upgrade_invoke`` (six clients) took
98 MB against 60 MB, and the no-op 0.1-0.2 s more (``docs/benchmarks-profile.md``, figures 2 and
4). Each service's client is built once and shared (:func:`client`), and only when it is first
used (:func:`lazy_client`).
"""

from __future__ import annotations

import weakref

try:
    import boto3
    from botocore.config import Config
    # ClientError and HTTPClientError: for the module_utils that catch them, with the stand-ins below
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoRegionError  # pylint: disable=unused-import
    from botocore.exceptions import PaginationError
except ImportError:  # pragma: no cover - reported by AnsibleAWSModule
    Config = None

    # Stand-ins so that ``except (ClientError, BotoCoreError)`` in the module_utils still parses.
    class BotoCoreError(Exception):
        pass

    class HTTPClientError(BotoCoreError):
        pass

    class ClientError(Exception):
        pass

    class NoRegionError(BotoCoreError):
        pass

    class PaginationError(BotoCoreError):
        def __init__(self, message=None):
            super(PaginationError, self).__init__(message)

from ansible.module_utils.common.warnings import warn as _record_warning

from ansible_collections.amazon.aws.plugins.module_utils.botocore import (
    get_aws_connection_info,
    is_boto3_error_code,
)
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


USER_AGENT_EXTRA = "mdl.herd"  # added to botocore's user agent on every request of this collection


class _Built(object):
    """What one module built: its boto3 session and its clients by service."""

    def __init__(self):
        self.session = None
        self.clients = {}


_BUILT = weakref.WeakKeyDictionary()  # module -> _Built


def _boto3_client(module, service, config=None):
    """A boto3 client for ``service`` from the module's one session, with the module's AWS options.

    ``config`` (a botocore ``Config``) is merged over the user's ``aws_config``.
    """
    region, endpoint_url, params = get_aws_connection_info(module)
    params = dict(params)
    profile = params.pop("profile_name", None)
    users = params.pop("aws_config", None)
    merged = Config(user_agent_extra=USER_AGENT_EXTRA)
    for extra in (users, config):  # both botocore Configs (amazon.aws builds the user's from aws_config)
        if extra is not None:
            merged = merged.merge(extra)
    built = _BUILT.setdefault(module, _Built())
    try:
        if built.session is None:
            built.session = boto3.session.Session(profile_name=profile)
        return built.session.client(service, config=merged, region_name=region, endpoint_url=endpoint_url, **params)
    except NoRegionError:
        module.fail_json(msg="This module requires a region and none was found in configuration, environment variables "
                             "or module parameters: set region (herd_upgrade_aws_region in the role), or AWS_REGION")
    except (ValueError, BotoCoreError) as e:
        module.fail_json_aws(e, msg="Couldn't connect to AWS")


def client(module, service, retry_decorator=None):
    """A client whose calls retry with backoff when passed ``aws_retry=True`` (by default :func:`read_retry`).

    Built the first time the module asks for ``service``; later asks get the same boto3 client,
    wrapped with their own ``retry_decorator``.
    """
    built = _BUILT.setdefault(module, _Built())
    if service not in built.clients:
        built.clients[service] = _denied.register(_boto3_client(module, service))  # AccessDenied names the policy
    return RetryingBotoClientWrapper(built.clients[service], retry_decorator or read_retry())


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
    # The user's aws_config goes underneath: an aws_config with retries (often set for a whole group in
    # module_defaults) would otherwise turn retries back on. It keeps every other setting (proxies, ...).
    return _denied.register(_boto3_client(module, service, config=config))  # AccessDenied names the policy


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


# The paginated reads of the collection: (the request's token, the answer's token, the answer's list), as in
# botocore's paginator models (a unit test compares them). Read page by page here, they spare every module run
# botocore's paginators, whose model loading lists the data of every AWS service first (about 8 ms a run).
PAGES = {
    "describe_stacks": ("NextToken", "NextToken", "Stacks"),  # cloudformation
    "list_deployments": ("nextToken", "nextToken", "deployments"),  # codedeploy
    "list_deployment_targets": ("nextToken", "nextToken", "targetIds"),  # codedeploy
    "describe_parameters": ("NextToken", "NextToken", "Parameters"),  # ssm
    "get_parameter_history": ("NextToken", "NextToken", "Parameters"),  # ssm
}


def paginate(client, operation, retry_decorator=None, **params):
    """Every page of a paginated read (an operation of ``PAGES``), its lists merged into one answer.

    ``client`` is one from :func:`client`, called without ``aws_retry`` (one layer of retries, this one's). Each page
    is retried with ``retry_decorator`` (by default :func:`read_retry`) when it fails with a transient error, up to
    that decorator's limit for each page; the pages read before it are kept.
    """
    request_token, answer_token, key = PAGES[operation]
    read = (retry_decorator or read_retry())(getattr(client, operation))
    merged, seen = [], set()
    while True:
        page = read(**params)
        merged.extend(page.get(key) or [])
        token = page.get(answer_token)
        if not token:
            return {key: merged}
        if token in seen:  # the read would never end (botocore's paginator compares with the last token only)
            raise PaginationError(message="{0} answered the same next token twice: {1}".format(operation, token))
        seen.add(token)
        params = dict(params, **{request_token: token})
