# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one client that never retries (the read timeout it is built with, whatever aws_config says), and the retried codes."""

from __future__ import annotations

import pytest

boto3 = pytest.importorskip("boto3")

from ansible_collections.mdl.herd.plugins.module_utils import _aws  # noqa: E402


class FakeModule(object):
    """An AnsibleAWSModule's AWS options and failures."""

    _name = "mdl.herd.test"

    def __init__(self, aws_config=None, region="us-east-1"):
        self.params = {"access_key": "AKIDEXAMPLE", "secret_key": "secret", "session_token": None, "region": region,
                       "endpoint_url": "https://lambda.invalid", "validate_certs": True, "aws_ca_bundle": None, "profile": None,
                       "aws_config": aws_config}

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)

    fail_json_aws = fail_json


@pytest.fixture
def sessions(monkeypatch):
    """The boto3 sessions built, in order."""
    built = []
    original = boto3.session.Session

    def counted(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(boto3.session, "Session", counted)
    return built


@pytest.mark.parametrize("read_timeout", [960, 65, 3600])
def test_the_invoke_client_waits_the_read_timeout_it_is_given_and_never_retries(read_timeout, sessions):
    module = FakeModule()
    reads = _aws.client(module, "lambda")  # the module's client for reads: the Invoke's is another
    built = _aws.no_retry_client(module, "lambda", read_timeout)
    assert built is not reads.client and len(sessions) == 1
    assert built.meta.config.read_timeout == read_timeout
    assert built.meta.config.retries["total_max_attempts"] == 1
    assert built.meta.endpoint_url == "https://lambda.invalid" and built.meta.region_name == "us-east-1"


def test_a_users_aws_config_keeps_its_other_settings_but_not_retries_or_the_timeout():
    module = FakeModule(aws_config={"retries": {"max_attempts": 10}, "read_timeout": 5, "proxies": {"https": "p:3128"}})
    built = _aws.no_retry_client(module, "lambda", 960)
    assert built.meta.config.read_timeout == 960
    assert built.meta.config.retries["total_max_attempts"] == 1
    assert built.meta.config.proxies == {"https": "p:3128"}


def test_a_module_builds_each_services_client_once_from_one_session_and_keeps_the_users_settings(sessions):
    module = FakeModule(aws_config={"proxies": {"https": "p:3128"}})
    ssm, codedeploy = _aws.client(module, "ssm"), _aws.client(module, "codedeploy")
    polled = _aws.client(module, "ssm", retry_decorator=_aws.read_retry(retries=3))
    lazy = _aws.lazy_client(module, "ssm")
    lazy.describe_parameters  # pylint: disable=pointless-statement  # built on first use: the same client again
    assert ssm.client is polled.client is lazy._client.client  # pylint: disable=protected-access
    assert ssm.retry is not polled.retry  # each with its own retries
    assert ssm.client.meta.service_model.service_name == "ssm" and codedeploy.client.meta.service_model.service_name == "codedeploy"
    assert len(sessions) == 1  # one boto3 session for every client of the module: botocore's data read once
    assert ssm.client.meta.config.proxies == {"https": "p:3128"}
    assert ssm.client.meta.config.user_agent_extra == "mdl.herd"
    assert ssm.client.meta.endpoint_url == "https://lambda.invalid" and ssm.client.meta.region_name == "us-east-1"
    credentials = ssm.client._request_signer._credentials  # pylint: disable=protected-access
    assert (credentials.access_key, credentials.secret_key) == ("AKIDEXAMPLE", "secret")
    other = FakeModule()
    assert _aws.client(other, "ssm").client is not ssm.client and len(sessions) == 2


def test_a_missing_region_is_a_sentence_naming_the_option():
    with pytest.raises(AssertionError, match="requires a region.*set region [(]herd_upgrade_aws_region in the role[)]"):
        _aws.client(FakeModule(region=None), "ssm")


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


def test_the_role_says_the_missing_region_in_its_own_variable():
    """The role rewrites a module's message with herd_upgrade_role_words (regex_replace, in turn): the option and the
    role's variable in brackets become the variable alone."""
    import re
    from pathlib import Path

    import yaml

    words = yaml.safe_load((Path(__file__).parents[4] / "roles" / "herd_upgrade" / "vars" / "main.yml").read_text())["herd_upgrade_role_words"]
    with pytest.raises(AssertionError) as raised:
        _aws.client(FakeModule(region=None), "ssm")
    text = str(raised.value)
    for pattern, replacement in words:
        text = re.sub(pattern, replacement, text)
    assert "set herd_upgrade_aws_region, or AWS_REGION" in text, text
    assert not re.search(r"(?<![A-Za-z_])region \(|in the role", text), text
    lock = "without waiting out lock_wait (herd_upgrade_lock_wait in the role); up to lock_wait, herd_upgrade_lock_wait in the role)"
    for pattern, replacement in words:
        lock = re.sub(pattern, replacement, lock)
    assert lock == "without waiting out herd_upgrade_lock_wait; up to herd_upgrade_lock_wait)", lock


@pytest.mark.parametrize("service, operation", [
    ("cloudformation", "describe_stacks"),
    ("codedeploy", "list_deployments"),
    ("codedeploy", "list_deployment_targets"),
    ("ssm", "describe_parameters"),
    ("ssm", "get_parameter_history"),
])
def test_each_paginated_read_names_the_tokens_and_list_of_botocores_paginator_model(service, operation):
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    names = {xform_name(name): name for name in session.get_service_model(service).operation_names}
    model = session.get_paginator_model(service).get_paginator(names[operation])
    assert _aws.PAGES[operation] == (model["input_token"], model["output_token"], model["result_key"])


def test_every_paginated_read_of_the_collection_is_in_the_table():
    import ast
    import pathlib

    used = set()
    for path in pathlib.Path(_aws.__file__).parents[1].rglob("*.py"):  # plugins/, modules and action plugins included
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "paginate":
                used.add(node.args[1].value)
    assert used and used == set(_aws.PAGES)


class PagedReads(object):
    """list_deployment_targets in pages, throttled once on ``throttle``; ``tokens`` answers each page's next token."""

    def __init__(self, tokens, throttle=None):
        self.tokens = tokens
        self.throttle = throttle
        self.calls = []

    def list_deployment_targets(self, **kwargs):
        from botocore.exceptions import ClientError

        self.calls.append(kwargs)
        index = len(self.calls) - 1
        if index == self.throttle:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListDeploymentTargets")
        token = self.tokens[min(index, len(self.tokens) - 1)]
        page = {"targetIds": ["i-{0}".format(index)]}
        if token:
            page["nextToken"] = token
        return page


def test_the_pages_are_merged_and_a_throttled_page_alone_is_read_again():
    reads = PagedReads(["a", None, "b", None], throttle=1)  # the second call is throttled, then answers "b"
    quick = _aws.read_retry(retries=2, delay=0, max_delay=0)
    answer = _aws.paginate(reads, "list_deployment_targets", retry_decorator=quick, deploymentId="d-1")
    assert answer == {"targetIds": ["i-0", "i-2", "i-3"]}
    assert reads.calls == [{"deploymentId": "d-1"}, {"deploymentId": "d-1", "nextToken": "a"},
                           {"deploymentId": "d-1", "nextToken": "a"}, {"deploymentId": "d-1", "nextToken": "b"}]


def test_a_retrying_client_is_called_without_its_own_retries_one_layer_only():
    from botocore.exceptions import ClientError
    from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

    class Throttled(PagedReads):
        def list_deployment_targets(self, **kwargs):
            if kwargs.get("nextToken"):  # the second page, always throttled
                self.calls.append(kwargs)
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListDeploymentTargets")
            return super(Throttled, self).list_deployment_targets(**kwargs)

    reads = Throttled(["a"])
    client = RetryingBotoClientWrapper(reads, _aws.read_retry(retries=5, delay=0, max_delay=0))
    with pytest.raises(ClientError):
        _aws.paginate(client, "list_deployment_targets", retry_decorator=_aws.read_retry(retries=2, delay=0, max_delay=0),
                      deploymentId="d-1")
    # the page's tries are paginate's alone (retries=2: two): with the client's as well, they would multiply (2 x 5)
    assert len(reads.calls) == 1 + 2


def test_a_next_token_answered_twice_ends_the_read_with_an_error():
    from botocore.exceptions import BotoCoreError

    reads = PagedReads(["a", "b", "a"])
    with pytest.raises(BotoCoreError, match="list_deployment_targets answered the same next token twice: a"):
        _aws.paginate(reads, "list_deployment_targets", deploymentId="d-1")
    assert len(reads.calls) == 3
