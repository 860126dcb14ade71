# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The naming conventions of an MDL stack, and the checks of what a user gives, in one place.

An MDL stack is named by two words, the MDL instance name and the environment (SDLC).
Every AWS resource the upgrade touches is derived from them here, and nowhere else. The
checks of the modules' input (stack words, versions, deployment ids, Lambda function names)
raise :class:`InputError` before any AWS call.
"""

from __future__ import annotations

import re

# What herd-mdl writes to HERD/RequestedVersion (and HERD/MostRecentDeploymentId) when there is none.
FILLED_LATER = "FilledLater"

# CodeDeploy deployment ids: "d-" and nine upper-case letters or digits.
DEPLOYMENT_ID_RE = re.compile(r"^d-[A-Z0-9]{9}$")

# A HERD version: dot-separated numbers, optionally followed by a Maven qualifier after "-"
# (0.176.0, 0.176, 0.176.0-SNAPSHOT, 1.0.0-RC1, 1.0-beta-2). Not "..", not a leading "-" or ".",
# not a word such as "latest": the stack's ApplicationStart downloads herd-war-{version}.war.
VERSION_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*(?:-[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*)?")
VERSION_MAX = 64
VERSION_GRAMMAR = ("dot-separated numbers, optionally followed by a Maven qualifier after '-' (for example 0.176.0, "
                   "0.176.0-SNAPSHOT or 1.0.0-RC1), at most {0} characters").format(VERSION_MAX)

# Characters the stack's words may hold: they end up in a Lambda function name.
STACK_WORD_RE = re.compile(r"^[A-Za-z0-9_-]+$")
LAMBDA_NAME_MAX = 64

# What Lambda accepts as a FunctionName: a name, a partial ARN or an ARN, with an optional qualifier.
# Used with fullmatch: "$" alone would let a trailing newline through to AWS.
FUNCTION_NAME_RE = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9_-]+)(:(\$LATEST|[a-zA-Z0-9_-]+))?"
)
FUNCTION_NAME_MAX = 170

# CodeDeploy statuses.
NOT_STARTED_STATUSES = ("Created", "Queued")  # active, but no lifecycle event has run yet
ACTIVE_STATUSES = NOT_STARTED_STATUSES + ("InProgress", "Baking", "Ready")
ENDED_UNSUCCESSFULLY = ("Failed", "Stopped")
TERMINAL_STATUSES = ("Succeeded",) + ENDED_UNSUCCESSFULLY

UPGRADE_FUNCTION_SUFFIX = "UPGRADE-HERD-LAMBDA-FUNCTION"

# The checks before an invoke (``_preflight``), in the order they run: herd_upgrade_invoke's option preflight.
PREFLIGHT_CHECKS = ("lambda", "deployment_group", "active_deployment", "bundle", "published")
# Where the stack's ApplicationStart downloads HERD's war from, unless told otherwise (artifact_repository).
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


class InputError(ValueError):
    """A module option that cannot be valid (a stack word, version, deployment id, function name, ...).

    The message names the option and says what it must be.
    """


def is_version(version):
    """True when ``version`` follows the HERD version grammar (VERSION_RE)."""
    return isinstance(version, str) and len(version) <= VERSION_MAX and VERSION_RE.fullmatch(version) is not None


def check_version(version, option="requested_version"):
    """Return the version unchanged, or raise InputError naming the option."""
    if not is_version(version):
        raise InputError("{0} must be a HERD version: {1}; got {2!r}".format(option, VERSION_GRAMMAR, version))
    return version


def check_deployment_id(deployment_id, option="deployment_id"):
    """Return the id unchanged, or raise InputError naming the option."""
    if not isinstance(deployment_id, str) or not DEPLOYMENT_ID_RE.fullmatch(deployment_id):
        raise InputError(
            "{0} must be a CodeDeploy deployment id: 'd-' followed by 9 upper-case letters or digits "
            "(for example d-ABCDE1234); got {1!r}".format(option, deployment_id)
        )
    return deployment_id


class MdlStack(object):
    """One MDL stack: an instance name and an environment, and the names derived from them."""

    def __init__(self, instance_name, environment):
        for option, value in (("mdl_instance_name", instance_name), ("mdl_environment", environment)):
            if not isinstance(value, str) or not STACK_WORD_RE.fullmatch(value):
                raise InputError(
                    "{0} must be made of letters, digits, '-' or '_' (for example mdl / DEV); got {1!r}".format(option, value)
                )
        self.instance_name = instance_name
        self.environment = environment
        if len(self.upgrade_function_name) > LAMBDA_NAME_MAX:
            raise InputError(
                "mdl_instance_name and mdl_environment are too long together: the upgrade function name "
                "{0!r} would exceed the {1} characters Lambda allows".format(self.upgrade_function_name, LAMBDA_NAME_MAX)
            )

    def __repr__(self):
        return "MdlStack({0!r}, {1!r})".format(self.instance_name, self.environment)

    def __str__(self):
        return "{0}/{1}".format(self.instance_name, self.environment)

    # Lambda
    @property
    def upgrade_function_name(self):
        return "{0}-Herd-{1}-{2}".format(self.instance_name, self.environment, UPGRADE_FUNCTION_SUFFIX)

    # CodeDeploy
    @property
    def codedeploy_application(self):
        return "{0}-Herd".format(self.instance_name)

    @property
    def deployment_group(self):
        return "{0}-HerdDeployGroup".format(self.instance_name)

    # SSM parameters
    def parameter(self, name):
        """Full SSM name of a stack parameter, e.g. parameter('HERD/RequestedVersion')."""
        return "/app/MDL/{0}/{1}/{2}".format(self.instance_name, self.environment, name)

    @property
    def requested_version_parameter(self):
        return self.parameter("HERD/RequestedVersion")

    @property
    def most_recent_deployment_id_parameter(self):
        return self.parameter("HERD/MostRecentDeploymentId")

    @property
    def deployment_invoked_parameter(self):
        return self.parameter("HERD/DeploymentInvoked")

    @property
    def current_version_parameter(self):
        return self.parameter("HERD/CurrentVersion")

    @property
    def admin_username_parameter(self):
        return self.parameter("LDAP/User/HerdAdminUsername")

    @property
    def admin_password_parameter(self):
        return self.parameter("LDAP/Password/HerdAdminPassword")

    # CloudFormation
    @property
    def cloudformation_parameters(self):
        """Parameters that identify the stack's nested Herd CloudFormation stack."""
        return {"MDLInstanceName": self.instance_name, "Environment": self.environment}


def check_function_name(name, option="function_name"):
    """Return the name unchanged, or raise InputError naming the option."""
    if not isinstance(name, str) or len(name) > FUNCTION_NAME_MAX or not FUNCTION_NAME_RE.fullmatch(name):
        raise InputError(
            "{0} must be a Lambda function name or ARN (letters, digits, '-' and '_', for example "
            "mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION or arn:aws:lambda:us-east-1:123456789012:function:NAME), "
            "at most {1} characters; got {2!r}".format(option, FUNCTION_NAME_MAX, name)
        )
    return name


def check_request(params, region=None):
    """Validate herd_upgrade_invoke's options before any AWS call; ``region`` is the one the module works in.

    Returns ``(stack or None, function_name or None, requested_version)``; raises InputError.
    """
    version = check_version(params.get("requested_version"))
    stack = None
    if params.get("mdl_instance_name") is not None or params.get("mdl_environment") is not None:
        stack = MdlStack(params.get("mdl_instance_name"), params.get("mdl_environment"))
    function_name = params.get("function_name")
    if function_name is not None:
        check_function_name(function_name)
        function_region = (FUNCTION_NAME_RE.fullmatch(function_name).group(3) or "").rstrip(":")
        if function_region and region and function_region != region:
            raise InputError(
                "function_name is a function of region {0}, but the module works in region {1}, where it reads the "
                "stack's CodeDeploy deployment group and SSM parameters: set region to {0}".format(function_region, region)
            )
    # Reachable: the module's required_one_of counts an option given as null as given.
    if stack is None and function_name is None:
        raise InputError("give mdl_instance_name and mdl_environment (the stack), or function_name (the upgrade Lambda)")
    return stack, function_name, version
