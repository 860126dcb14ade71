# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding a stack's HERD from its two words: the URL in CloudFormation, the admin credentials in SSM,
and the deployment under way in its CodeDeploy group.

An MDL stack creates HERD in a nested CloudFormation stack whose parameters include
``MDLInstanceName`` and ``Environment`` and whose output ``HerdLoadBalancerURL`` is where
HERD answers. The parent MDL stack (and other nested stacks) carry the same parameters, and
the parent may repeat the output, so the nested stack that has the output wins. The HERD
admin user and password live in SSM (the password as a SecureString).

Clients come from ``_aws.client()``; every read passes ``aws_retry=True`` or goes through ``_aws.paginate``.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils import _aws
from ansible_collections.mdl.herd.plugins.module_utils._codedeploy_reader import newest_active_deployment
from ansible_collections.mdl.herd.plugins.module_utils._stack import FILLED_LATER
from ansible_collections.mdl.herd.plugins.module_utils._time import iso

HERD_URL_OUTPUT = "HerdLoadBalancerURL"
GONE_STATUSES = ("DELETE_COMPLETE", "DELETE_IN_PROGRESS")


class DiscoveryError(Exception):
    """The stack's HERD could not be found (none, several, or a missing SSM parameter)."""


@dataclasses.dataclass(frozen=True)
class HerdStack:
    """The CloudFormation stack found for an MDL stack: its name and HERD's URL."""

    name: str
    url: str


def describe_all_stacks(cloudformation):
    """Every stack of the region, all pages (``_aws.paginate``: each page retried on throttling)."""
    return _aws.paginate(cloudformation, "describe_stacks").get("Stacks", [])


def _parameters(stack):
    return dict((p.get("ParameterKey"), p.get("ParameterValue")) for p in stack.get("Parameters") or [])


def _output(stack, key):
    for output in stack.get("Outputs") or []:
        if output.get("OutputKey") == key:
            return output.get("OutputValue")
    return None


def _is_nested(stack):
    parent = stack.get("ParentId")
    return bool(parent) and parent != stack.get("StackId")


def select_herd_stack(stacks, mdl_stack):
    """The one :class:`HerdStack` among ``stacks`` (describe_stacks entries) for ``mdl_stack`` (an MdlStack).

    Raises DiscoveryError naming the candidates when none or several fit.
    """
    wanted = mdl_stack.cloudformation_parameters
    matching = []
    for stack in stacks:
        if stack.get("StackStatus") in GONE_STATUSES:
            continue
        parameters = _parameters(stack)
        if all(parameters.get(key) == value for key, value in wanted.items()):
            matching.append(stack)
    with_url = [s for s in matching if _output(s, HERD_URL_OUTPUT)]
    if not with_url:
        if not matching:
            raise DiscoveryError(
                "No CloudFormation stack in this region has the parameters {0}: check mdl_instance_name, "
                "mdl_environment and the region, or give url".format(_describe_parameters(wanted))
            )
        raise DiscoveryError(
            "None of the CloudFormation stacks with the parameters {0} has the output {1} (found: {2}): "
            "the stack may still be creating, or give url".format(_describe_parameters(wanted), HERD_URL_OUTPUT, _names(matching))
        )
    if len(with_url) > 1:
        nested = [s for s in with_url if _is_nested(s)]
        if len(nested) == 1:
            with_url = nested
    if len(with_url) > 1:
        raise DiscoveryError(
            "Several CloudFormation stacks have the parameters {0} and the output {1}: {2}. Give url to say "
            "which HERD to read".format(_describe_parameters(wanted), HERD_URL_OUTPUT, _names(with_url, with_output=True))
        )
    stack = with_url[0]
    return HerdStack(stack.get("StackName"), _output(stack, HERD_URL_OUTPUT).strip())


def _describe_parameters(wanted):
    return ", ".join("{0}={1}".format(key, value) for key, value in sorted(wanted.items()))


def _names(stacks, with_output=False):
    if with_output:
        return ", ".join("{0} ({1})".format(s.get("StackName"), _output(s, HERD_URL_OUTPUT)) for s in stacks)
    return ", ".join(str(s.get("StackName")) for s in stacks)


def find_herd_stack(cloudformation, mdl_stack):
    """The nested Herd CloudFormation stack of ``mdl_stack``, read through ``cloudformation`` (an ``_aws.client``)."""
    return select_herd_stack(describe_all_stacks(cloudformation), mdl_stack)


@dataclasses.dataclass(frozen=True)
class Credentials:
    """The HERD admin user and password; the password never shows in repr."""

    username: str
    password: str = dataclasses.field(repr=False)


def read_credentials(ssm, mdl_stack):
    """The HERD admin credentials of ``mdl_stack`` from SSM (the password decrypted).

    Raises DiscoveryError naming the missing parameter. The value of the password is never put
    in a message.
    """
    username = _aws.get_parameter(ssm, mdl_stack.admin_username_parameter)
    if not username:
        raise DiscoveryError(
            "The SSM parameter {0} (the HERD admin user) does not exist or is empty: check mdl_instance_name, "
            "mdl_environment and the region, or give username and password".format(mdl_stack.admin_username_parameter)
        )
    password = _aws.get_parameter(ssm, mdl_stack.admin_password_parameter, decrypt=True)
    if not password:
        raise DiscoveryError(
            "The SSM parameter {0} (the HERD admin password) does not exist or is empty: check mdl_instance_name, "
            "mdl_environment and the region, or give username and password".format(mdl_stack.admin_password_parameter)
        )
    return Credentials(username.strip(), password)


def active_deployment(codedeploy, mdl_stack):
    """The deployment under way in ``mdl_stack``'s CodeDeploy group, or None: one ListDeployments when none is.

    A dict (``deployment_id``, ``status``, ``create_time`` as ISO 8601), the newest when CodeDeploy
    lists several. Raises DiscoveryError when the group does not exist.
    """
    try:
        newest = newest_active_deployment(
            codedeploy, mdl_stack.codedeploy_application, mdl_stack.deployment_group,
            lambda deployment_id: codedeploy.get_deployment(deploymentId=deployment_id, aws_retry=True).get("deploymentInfo"))
    except is_boto3_error_code(["ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException"]):
        raise DiscoveryError(
            "The CodeDeploy deployment group {0}/{1} of stack {2} does not exist: check mdl_instance_name, "
            "mdl_environment and the region".format(mdl_stack.codedeploy_application, mdl_stack.deployment_group, mdl_stack)
        )
    if newest is None:
        return None
    return {"deployment_id": newest.get("deploymentId"), "status": newest.get("status"), "create_time": iso(newest.get("createTime"))}


def upgrade_request(ssm, mdl_stack):
    """What the stack's SSM parameters ask the next HERD instance to install: one GetParameters.

    herd-mdl's bundle (configureTomcat.sh) installs HERD/RequestedVersion when HERD/DeploymentInvoked is
    ``true``, else HERD/CurrentVersion; only its smoke test (ValidateService) resets them once it passed.
    A dict: ``deployment_invoked`` (a bool, None when the parameter is missing), ``requested_version`` and
    ``current_version`` (None when missing or ``FilledLater``).
    """
    names = {
        "deployment_invoked": mdl_stack.deployment_invoked_parameter,
        "requested_version": mdl_stack.requested_version_parameter,
        "current_version": mdl_stack.current_version_parameter,
    }
    answer = ssm.get_parameters(Names=list(names.values()), aws_retry=True)
    values = dict((parameter["Name"], parameter["Value"]) for parameter in answer.get("Parameters", []))
    invoked = values.get(names["deployment_invoked"])
    request = {"deployment_invoked": None if invoked is None else invoked.strip().lower() == "true"}
    for key in ("requested_version", "current_version"):
        value = (values.get(names[key]) or "").strip()
        request[key] = None if value in ("", FILLED_LATER) else value
    return request
