"""The names of an MDL stack's AWS resources, as the real stacks spell them.

These follow ``plugins/module_utils/_stack.py`` of the collection (the sandbox imports nothing
from the collection, so that it can run on its own): the upgrade Lambda, the CodeDeploy
application and group, the SSM parameters and the staging bucket. The names the collection
does not need (roles, Auto Scaling group, CloudFormation stack names) are the sandbox's own
and only have to look plausible.
"""

from __future__ import annotations

import hashlib
import re

# A Maven version as HERD publishes them (0.176.0, 0.176.0-SNAPSHOT, ...).
VERSION_RE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
# Letters allowed in an instance name or environment: they end up in a Lambda function name.
STACK_WORD_RE = re.compile(r"^[A-Za-z0-9_-]+$")
LAMBDA_NAME_MAX = 64

UPGRADE_FUNCTION_SUFFIX = "UPGRADE-HERD-LAMBDA-FUNCTION"
# The file and entry point of the real upgrade function inside its package.
UPGRADE_FUNCTION_MODULE = "herd_upgrade_utility_lambda"
UPGRADE_FUNCTION_HANDLER = UPGRADE_FUNCTION_MODULE + ".handler"

DEFAULT_HERD_VERSION = "0.170.0"
# The MDL release the stacks were built from: where the deployment bundle lives in S3.
DEFAULT_RELEASE_VERSION = "1.5.0"


def _suffix(*words: str, length: int = 13) -> str:
    """A stable, AWS-looking random suffix (upper-case letters and digits) derived from words."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    digest = hashlib.sha256("/".join(words).encode("utf-8")).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


class StackNames:
    """Every name derived from an instance name, an environment and the account id."""

    def __init__(self, instance_name: str, environment: str, account_id: str):
        self.instance_name = instance_name
        self.environment = environment
        self.account_id = account_id

    @property
    def key(self) -> str:
        """How the sandbox refers to a stack in its own answers: ``instance/environment``."""
        return "{0}/{1}".format(self.instance_name, self.environment)

    # Lambda
    @property
    def upgrade_function_name(self) -> str:
        return "{0}-Herd-{1}-{2}".format(self.instance_name, self.environment, UPGRADE_FUNCTION_SUFFIX)

    # CodeDeploy
    @property
    def codedeploy_application(self) -> str:
        return "{0}-Herd".format(self.instance_name)

    @property
    def deployment_group(self) -> str:
        return "{0}-HerdDeployGroup".format(self.instance_name)

    @property
    def target_group(self) -> str:
        return "{0}-HerdTargetGroup".format(self.instance_name)

    # SSM
    def parameter(self, name: str) -> str:
        return "/app/MDL/{0}/{1}/{2}".format(self.instance_name, self.environment, name)

    @property
    def parameter_prefix(self) -> str:
        return "/app/MDL/{0}/{1}/".format(self.instance_name, self.environment)

    # S3
    @property
    def staging_bucket(self) -> str:
        return "{0}-{1}-staging-{2}".format(self.account_id, self.instance_name, self.environment).lower()

    @staticmethod
    def bundle_key(release_version: str) -> str:
        return "{0}/herd/herd.zip".format(release_version)

    # IAM
    @property
    def lambda_role(self) -> str:
        return "{0}-Herd-{1}-UpgradeHerdLambdaRole".format(self.instance_name, self.environment)

    @property
    def codedeploy_role(self) -> str:
        return "{0}-Herd-{1}-CodeDeployServiceRole".format(self.instance_name, self.environment)

    def role_arn(self, role_name: str) -> str:
        return "arn:aws:iam::{0}:role/{1}".format(self.account_id, role_name)

    # CloudFormation: the root MDL stack and its nested Herd stack.
    @property
    def root_stack_name(self) -> str:
        return "MDL-{0}-{1}".format(self.instance_name, self.environment)

    @property
    def herd_stack_name(self) -> str:
        return "{0}-HerdStack-{1}".format(self.root_stack_name, _suffix(self.key, "HerdStack"))

    # EC2 Auto Scaling
    @property
    def auto_scaling_group(self) -> str:
        return "{0}-HerdAutoScalingGroup-{1}".format(self.herd_stack_name, _suffix(self.key, "Asg", length=12))
