# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.mdl.herd.plugins.module_utils._stack import (
    ACTIVE_STATUSES,
    ENDED_UNSUCCESSFULLY,
    NOT_STARTED_STATUSES,
    TERMINAL_STATUSES,
    InputError,
    MdlStack,
    check_deployment_id,
    check_function_name,
    check_request,
    check_version,
)
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import function_name_of

FUNCTION = "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION"


def test_names_follow_the_mdl_conventions():
    stack = MdlStack("mdl", "DEV")
    assert stack.upgrade_function_name == "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION"
    assert stack.codedeploy_application == "mdl-Herd"
    assert stack.deployment_group == "mdl-HerdDeployGroup"
    assert stack.requested_version_parameter == "/app/MDL/mdl/DEV/HERD/RequestedVersion"
    assert stack.most_recent_deployment_id_parameter == "/app/MDL/mdl/DEV/HERD/MostRecentDeploymentId"
    assert stack.admin_password_parameter == "/app/MDL/mdl/DEV/LDAP/Password/HerdAdminPassword"
    assert stack.admin_username_parameter == "/app/MDL/mdl/DEV/LDAP/User/HerdAdminUsername"
    assert stack.cloudformation_parameters == {"MDLInstanceName": "mdl", "Environment": "DEV"}


@pytest.mark.parametrize("instance, environment", [("", "DEV"), ("mdl", "D EV"), ("md/l", "DEV"), ("mdl", None), ("x" * 40, "DEV")])
def test_bad_stack_words_are_refused_with_the_option_name(instance, environment):
    with pytest.raises(InputError, match="mdl_instance_name|mdl_environment"):
        MdlStack(instance, environment)


@pytest.mark.parametrize("version", ["0.176.0", "0.176", "7", "0.176.0-SNAPSHOT", "1.0.0-RC1", "1.0-beta-2",
                                     "1.0.0-rc.1", "1." + "0" * 62])
def test_valid_versions(version):
    assert check_version(version) == version


@pytest.mark.parametrize("version", ["", "0.176.0 ", '0.1"', "0.1}", "{{x}}", "1." + "0" * 63, None, 176,
                                     "..", "latest", "-1", ".1", "1.", "1..2", "1.0-", "1.0--RC1", "v2", "1.0.0+build.5",
                                     "1.0_1", "0.176.0\n", "LATEST", "FilledLater"])
def test_invalid_versions_name_the_option(version):
    with pytest.raises(InputError, match="requested_version must be a HERD version: dot-separated numbers"):
        check_version(version)


def test_deployment_ids():
    assert check_deployment_id("d-ABCDE1234") == "d-ABCDE1234"
    for bad in ("d-abcde1234", "d-ABCDE123", "ABCDE12345", "d-ABCDE12345", None):
        with pytest.raises(InputError, match="deployment_id must be"):
            check_deployment_id(bad)


@pytest.mark.parametrize("name", [
    FUNCTION, "arn:aws:lambda:us-east-1:123456789012:function:" + FUNCTION, "123456789012:function:" + FUNCTION,
    "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:" + FUNCTION + ":live", FUNCTION + ":$LATEST",
])
def test_function_names_lambda_accepts(name):
    assert check_function_name(name) == name
    assert function_name_of(name) == FUNCTION


@pytest.mark.parametrize("name", ["", "my function", "fn;rm", "arn:aws:s3:::bucket", "x" * 171, None, "a/b", FUNCTION + "\n",
                                  "arn:aws:lambda:us-east-1:123456789012:function:" + FUNCTION + "\n"])
def test_function_names_lambda_refuses(name):
    with pytest.raises(InputError, match="function_name must be"):
        check_function_name(name)


def test_check_request():
    stack, function_name, version = check_request(dict(mdl_instance_name="mdl", mdl_environment="DEV", requested_version="0.176.0"))
    assert (stack.instance_name, stack.environment, function_name, version) == ("mdl", "DEV", None, "0.176.0")
    stack, function_name, version = check_request(dict(function_name=FUNCTION, requested_version="0.176.0"))
    assert (stack, function_name) == (None, FUNCTION)
    with pytest.raises(InputError, match="give mdl_instance_name and mdl_environment"):
        check_request(dict(requested_version="0.176.0"))
    with pytest.raises(InputError, match="requested_version must be"):
        check_request(dict(mdl_instance_name="mdl", mdl_environment="DEV", requested_version="0.176.0\n"))
    with pytest.raises(InputError, match="mdl_environment must be"):
        check_request(dict(mdl_instance_name="mdl", requested_version="0.176.0"))
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:" + FUNCTION
    assert check_request(dict(function_name=arn, requested_version="0.176.0"), region="eu-west-1")[1] == arn
    with pytest.raises(InputError, match="function_name is a function of region eu-west-1, but the module works in region us-east-1"):
        check_request(dict(function_name=arn, requested_version="0.176.0"), region="us-east-1")


def test_status_groups():
    assert ACTIVE_STATUSES == ("Created", "Queued", "InProgress", "Baking", "Ready")
    assert TERMINAL_STATUSES == ("Succeeded", "Failed", "Stopped")
    assert NOT_STARTED_STATUSES == ACTIVE_STATUSES[:2] and ENDED_UNSUCCESSFULLY == TERMINAL_STATUSES[1:]
