# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which permission a denied AWS call lacked, and which shipped policy grants it.

:func:`register` hooks a boto3 client: when AWS answers a call with AccessDenied, the error's message
gains one sentence, ``AWS denied <IAM action> on <resource ARN>; mdl.herd's policies/upgrade.json grants
it (statement <Sid>).``, so every failure message built from the error (``fail_json_aws``, the
collection's own sentences) names the missing permission without a second call. The resource comes
from AWS's own message when it names one, else from the call's parameters.

:data:`GRANTED_BY` is the shipped policies (``policies/*.json`` at the collection root) as a table:
modules run away from the collection's files. A test checks it against the policies.
"""

from __future__ import annotations

import re

ACCESS_DENIED_CODES = ("AccessDeniedException", "AccessDenied", "403", "Forbidden")

# IAM action -> ((policy file, statement Sid), ...), from policies/*.json (checked by tests).
GRANTED_BY = {
    "cloudformation:DescribeStacks": (
        ("upgrade.json", "FindTheHerdStackListingEveryStackAcceptsOnlyResourceStar"),
        ("plan.json", "FindTheHerdStackListingEveryStackAcceptsOnlyResourceStar"),
        ("rollback.json", "FindTheHerdStackListingEveryStackAcceptsOnlyResourceStar"),
    ),
    "codedeploy:BatchGetDeploymentTargets": (("upgrade.json", "FollowTheDeployment"), ("rollback.json", "FollowTheDeployment")),
    "codedeploy:GetDeployment": (("upgrade.json", "FollowTheDeployment"), ("rollback.json", "FollowTheDeployment")),
    "codedeploy:GetDeploymentGroup": (
        ("upgrade.json", "OptionalPreflightReadTheDeploymentGroup"),
        ("plan.json", "OptionalPreflightReadTheDeploymentGroup"),
        ("rollback.json", "OptionalPreflightReadTheDeploymentGroup"),
    ),
    "codedeploy:ListDeploymentTargets": (("upgrade.json", "FollowTheDeployment"), ("rollback.json", "FollowTheDeployment")),
    "codedeploy:ListDeployments": (
        ("upgrade.json", "FollowTheDeployment"),
        ("plan.json", "LookForADeploymentUnderWay"),
        ("rollback.json", "FollowTheDeployment"),
    ),
    "lambda:GetFunctionConfiguration": (
        ("upgrade.json", "OptionalPreflightReadTheFunctionConfiguration"),
        ("plan.json", "OptionalPreflightReadTheFunctionConfiguration"),
        ("rollback.json", "OptionalPreflightReadTheFunctionConfiguration"),
    ),
    "lambda:InvokeFunction": (("upgrade.json", "InvokeTheUpgradeLambda"), ("rollback.json", "InvokeTheUpgradeLambda")),
    "s3:GetObject": (
        ("upgrade.json", "OptionalPreflightCheckTheBundle"),
        ("plan.json", "OptionalPreflightCheckTheBundle"),
        ("rollback.json", "OptionalPreflightCheckTheBundle"),
    ),
    "ssm:DeleteParameter": (("upgrade.json", "HoldTheUpgradeLock"), ("rollback.json", "HoldTheUpgradeLock")),
    "ssm:GetParameter": (
        ("upgrade.json", "HoldTheUpgradeLock"),
        ("upgrade.json", "ReadTheUpgradeState"),
        ("upgrade.json", "ReadHerdAdminCredentialsForBuildInfo"),
        ("plan.json", "ReadTheUpgradeState"),
        ("plan.json", "ReadHerdAdminCredentialsForBuildInfo"),
        ("rollback.json", "HoldTheUpgradeLock"),
        ("rollback.json", "ReadTheUpgradeState"),
        ("rollback.json", "RecordTheRollback"),
        ("rollback.json", "ReadHerdAdminCredentialsForBuildInfo"),
    ),
    "ssm:GetParameterHistory": (("rollback.json", "FindTheVersionBeforeTheLastUpgrade"),),
    "ssm:GetParameters": (("upgrade.json", "OptionalSayWhatNewInstancesWouldInstallAfterAFailure"),),
    "ssm:PutParameter": (
        ("upgrade.json", "HoldTheUpgradeLock"),
        ("rollback.json", "HoldTheUpgradeLock"),
        ("rollback.json", "RecordTheRollback"),
    ),
}

# IAM's name of an API operation where it is not the operation's own.
_ACTIONS = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}
_SERVICES = {"CloudFormation": "cloudformation", "CodeDeploy": "codedeploy", "Lambda": "lambda", "S3": "s3", "SSM": "ssm"}
_ON_RESOURCE = re.compile(r"not authorized to perform: ([\w-]+:\w+) on resource: (\S+?)(?: because|\s|$)")
_PARAMS_KEY = "mdl_herd_denied_params"


def iam_action(service, operation):
    """The IAM action of an API operation: ``iam_action("lambda", "Invoke")`` is ``lambda:InvokeFunction``."""
    return _ACTIONS.get((service, operation), "{0}:{1}".format(service, operation))


def resource_of(service, params):
    """The resource a call names, from its parameters (a name or an S3 location; AWS's message is preferred)."""
    params = params or {}
    if service == "s3" and params.get("Bucket"):
        return "arn:aws:s3:::{0}{1}".format(params["Bucket"], "/" + params["Key"] if params.get("Key") else "")
    if service == "codedeploy" and params.get("applicationName"):
        return "{0}/{1}".format(params["applicationName"], params.get("deploymentGroupName") or "").rstrip("/")
    for name in ("FunctionName", "Name", "Path", "deploymentId", "StackName"):
        if params.get(name):
            return str(params[name])
    names = params.get("Names")
    return ", ".join(names) if names else "*"


def explain(action, resource):
    """One sentence: the missing permission and the shipped policy that grants it."""
    grants = GRANTED_BY.get(action)
    if grants:
        files = []
        for policy, sid in grants:
            if not any(policy == seen for seen, dummy in files):
                files.append((policy, sid))
        granted = " and ".join("policies/{0} (statement {1})".format(policy, sid) for policy, sid in files)
        where = "mdl.herd's {0} grant{1} it".format(granted, "s" if len(files) == 1 else "")
    else:
        where = "no policy shipped in mdl.herd grants it (docs/permissions.md says when it is needed)"
    return "AWS denied {0} on {1}; {2}.".format(action, resource, where)


def _remember(params, context, **kwargs):
    if isinstance(context, dict):
        context[_PARAMS_KEY] = params


def _after_call(http_response, parsed, model, context, **kwargs):
    error = parsed.get("Error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or str(error.get("Code")) not in ACCESS_DENIED_CODES:
        return
    message = error.get("Message") or ""
    found = _ON_RESOURCE.search(message)
    if found:
        action, resource = found.group(1), found.group(2)
    else:
        service = _SERVICES.get(model.service_model.service_id, model.service_model.service_name)
        action = iam_action(service, model.name)
        resource = resource_of(service, (context or {}).get(_PARAMS_KEY))
    message = message.rstrip()
    error["Message"] = "{0}{1}{2}".format(message, "" if not message or message.endswith(".") else ".",
                                          " " if message else "") + explain(action, resource)


def register(client):
    """Hook ``client`` (a boto3 client): an AccessDenied answer names the missing permission. Returns the client."""
    client.meta.events.register("before-parameter-build", _remember)
    client.meta.events.register("after-call", _after_call)
    return client
