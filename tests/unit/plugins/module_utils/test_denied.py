# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A denied call names the IAM action, the resource and the shipped policy that grants it; the table of
grants is the policies of policies/*.json."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("botocore")

from botocore.stub import Stubber  # noqa: E402

from ansible_collections.mdl.herd.plugins.module_utils import _aws, _denied  # noqa: E402

from .test_aws import FakeModule  # noqa: E402

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION"


def test_the_table_of_grants_is_the_shipped_policies():
    found = {}
    for name in ("upgrade.json", "plan.json", "rollback.json"):
        with open(os.path.join(COLLECTION, "policies", name)) as handle:
            for statement in json.load(handle)["Statement"]:
                for action in statement["Action"]:
                    found.setdefault(action, []).append((name, statement["Sid"]))
    assert {action: tuple(grants) for action, grants in found.items()} == _denied.GRANTED_BY


def denied(service, operation, params, code, message, region="us-east-1"):
    """The ClientError a client of ``_aws.client`` raises when AWS answers ``code`` and ``message``."""
    client = _aws.client(FakeModule(region=region), service)
    with Stubber(client.client) as stubber:
        stubber.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=403)
        with pytest.raises(_aws.ClientError) as raised:
            getattr(client, operation)(**params)
    return raised.value


def test_aws_naming_the_resource_is_taken_at_its_word_in_one_line():
    error = denied("lambda", "invoke", {"FunctionName": "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION"}, "AccessDeniedException",
                   "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: lambda:InvokeFunction on "
                   "resource: {0} because no identity-based policy allows the lambda:InvokeFunction action".format(FUNCTION_ARN))
    text = str(error)
    assert "\n" not in text
    assert text.endswith("action. AWS denied lambda:InvokeFunction on {0}; mdl.herd's policies/upgrade.json (statement "
                         "InvokeTheUpgradeLambda) and policies/rollback.json (statement InvokeTheUpgradeLambda) grant it."
                         .format(FUNCTION_ARN))
    assert _aws.error_code(error) == "AccessDeniedException"  # callers still see AWS's code


def test_an_answer_without_a_resource_is_explained_from_the_call():
    error = denied("s3", "head_object", {"Bucket": "b", "Key": "1.5.0/herd/herd.zip"}, "403", "Forbidden")
    assert str(error).endswith("Forbidden. AWS denied s3:GetObject on arn:aws:s3:::b/1.5.0/herd/herd.zip; mdl.herd's "
                               "policies/upgrade.json (statement OptionalPreflightCheckTheBundle) and policies/plan.json "
                               "(statement OptionalPreflightCheckTheBundle) and policies/rollback.json (statement "
                               "OptionalPreflightCheckTheBundle) grant it.")


def test_an_action_no_policy_grants_says_where_it_is_documented():
    error = denied("codedeploy", "stop_deployment", {"deploymentId": "d-AAAAAAAAA"}, "AccessDeniedException",
                   "User: u is not authorized to perform: codedeploy:StopDeployment on resource: "
                   "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:mdl-Herd/mdl-HerdDeployGroup")
    assert str(error).endswith("AWS denied codedeploy:StopDeployment on arn:aws:codedeploy:us-east-1:123456789012:"
                               "deploymentgroup:mdl-Herd/mdl-HerdDeployGroup; no policy shipped in mdl.herd grants it "
                               "(docs/permissions.md says when it is needed).")


def test_other_errors_are_left_as_aws_wrote_them():
    error = denied("ssm", "get_parameter", {"Name": "/app/MDL/mdl/DEV/HERD/x"}, "ParameterNotFound", "not here")
    assert str(error).endswith(": not here")
