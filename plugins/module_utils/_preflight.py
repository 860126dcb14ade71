# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks before anything is invoked: what would make the upgrade fail minutes later.

* ``lambda``: the upgrade function exists (``Inactive`` is fine: Lambda wakes it on invoke);
* ``deployment_group``: the stack's CodeDeploy deployment group exists;
* ``active_deployment``: no deployment of another version is active in it;
* ``bundle``: the deployment's revision, ``s3://{STAGING_BUCKET}/{RELEASE_VERSION}/herd/herd.zip``
  (both from the function's environment), exists; a 403 (no ``s3:ListBucket``) cannot tell;
* ``published``: ``org/finra/herd/herd-war/{v}/herd-war-{v}.war`` exists in the artifact
  repository the bundle downloads from (Maven Central by default): ApplicationStart fails after
  minutes of work when it does not.

``lambda`` and ``active_deployment`` are part of starting an upgrade in any case (the function's
timeout, the join): listed, they report what that part found, and only that. ``lambda`` is ``ok``
once ``resolve_function`` read the function's configuration; denied (the module warned and went
on), it is ``not checked``. ``active_deployment`` is ``ok`` once the run looked for a deployment
under way in the group (``UpgradeInvocation.active_deployment``, which records its answers) and
found none; ``not checked`` when no such look came before it.

Each check ends ``ok``; or ``cannot tell: why`` (it asked, and the answer cannot tell; a warning);
or ``not checked: why`` (it could not ask); or raises ``UpgradeFailure``.
"""

from __future__ import annotations

from ansible.module_utils.six.moves.urllib.parse import quote

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import ACCESS_DENIED_ERROR_CODES
from ansible_collections.mdl.herd.plugins.module_utils._herd_http import REQUEST_ERRORS, describe_exception, head
from ansible_collections.mdl.herd.plugins.module_utils._stack import MAVEN_CENTRAL, PREFLIGHT_CHECKS as CHECKS
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import UpgradeFailure

WAR_PATH = "org/finra/herd/herd-war/{0}/herd-war-{0}.war"
HTTP_TIMEOUT = 10


def war_url(repository, version):
    """Where the bundle's ApplicationStart downloads the war of ``version`` from."""
    return "{0}/{1}".format(repository.rstrip("/"), WAR_PATH.format(quote(version, safe="")))


def bundle_location(variables):
    """``(bucket, key)`` of the revision the upgrade Lambda deploys, from its environment; None when unknown."""
    bucket, release = (variables or {}).get("STAGING_BUCKET"), (variables or {}).get("RELEASE_VERSION")
    if not bucket or not release:
        return None
    return bucket, "{0}/herd/herd.zip".format(release)


class Preflight(object):
    """The checks of ``checks`` for one ``_upgrade.UpgradeInvocation`` (after ``resolve_function``)."""

    def __init__(self, upgrade, checks, codedeploy=None, s3=None, repository=MAVEN_CENTRAL, username=None, password=None,
                 session=None, warn=None):
        self.upgrade = upgrade
        self.checks = [c for c in CHECKS if c in (checks or [])]
        self.codedeploy = codedeploy
        self.s3 = s3
        self.repository = repository or MAVEN_CENTRAL
        self.auth = (username, password) if username else None
        self.session = session
        self.warn = warn or (lambda message: None)
        self.report = {}

    @property
    def active_looks(self):
        """What each look of the run for a deployment under way answered (None: none), in order."""
        return self.upgrade.active_looks

    def _fail(self, message, **details):
        details.update(self.upgrade._base_details())
        details["preflight"] = dict(self.report)
        raise UpgradeFailure("Preflight of stack {0}: {1} Nothing was invoked; running this task again checks again. "
                             "(herd_upgrade_preflight / preflight lists the checks; [] runs none.)".format(
                                 self.upgrade.stack, message), **details)

    def _not_checked(self, check, why):
        self.report[check] = "not checked: {0}".format(why)

    def _cannot_tell(self, check, why):
        self.report[check] = "cannot tell: {0}".format(why)
        self.warn("Preflight of stack {0}: {1} cannot be checked ({2}); going on.".format(self.upgrade.stack, check, why))

    def run(self):
        """Run the checks in order; the report (check -> outcome), or raise at the first failure."""
        for check in self.checks:
            getattr(self, "_" + check)()
        return dict(self.report)

    # -- the checks ----------------------------------------------------------------------------------
    def _lambda(self):
        if self.upgrade.function_environment is not None:  # resolve_function read the configuration: it exists
            self.report["lambda"] = "ok"
        elif self.upgrade.function_timeout is not None:  # resolve_function was denied, warned and went on
            self._not_checked("lambda", "lambda:GetFunctionConfiguration on {0} is not allowed; whether it exists shows "
                                        "only at the invoke".format(self.upgrade.function_name))
        else:
            self._not_checked("lambda", "the configuration of {0} was not read".format(self.upgrade.function_name))

    def _active_deployment(self):
        if not self.active_looks:
            self._not_checked("active_deployment", "no look for a deployment under way in {0} came before the "
                                                   "preflight".format(self.upgrade.stack.deployment_group))
        elif self.active_looks[-1] is None:
            self.report["active_deployment"] = "ok"
        else:  # start_or_join joins or refuses an active deployment before the preflight: not reached there
            active = self.active_looks[-1]
            self._fail("deployment {0} ({1}) is under way in {2}.".format(
                getattr(active, "deployment_id", "?"), getattr(active, "status", "?"), self.upgrade.stack.deployment_group))

    def _deployment_group(self):
        stack = self.upgrade.stack
        try:
            self.codedeploy.get_deployment_group(applicationName=stack.codedeploy_application,
                                                 deploymentGroupName=stack.deployment_group, aws_retry=True)
        except is_boto3_error_code(["ApplicationDoesNotExistException", "DeploymentGroupDoesNotExistException"]):
            self._fail("the CodeDeploy deployment group {0} (application {1}) does not exist{2}: the upgrade Lambda "
                       "would fail. Check mdl_instance_name, mdl_environment and region.".format(
                           stack.deployment_group, stack.codedeploy_application, self.upgrade._where))
        except is_boto3_error_code(ACCESS_DENIED_ERROR_CODES):
            self._cannot_tell("deployment_group", "codedeploy:GetDeploymentGroup is not allowed")
            return
        self.report["deployment_group"] = "ok"

    def _bundle(self):
        location = bundle_location(self.upgrade.function_environment)
        if location is None:
            why = ("lambda:GetFunctionConfiguration is not allowed" if self.upgrade.function_environment is None
                   else "the function has no STAGING_BUCKET and RELEASE_VERSION")
            self._not_checked("bundle", "where the bundle is comes from the function's environment, and {0}".format(why))
            self.warn("Preflight of stack {0}: bundle is not checked ({1}); going on.".format(self.upgrade.stack, why))
            return
        bucket, key = location
        url = "s3://{0}/{1}".format(bucket, key)
        try:
            self.s3.head_object(Bucket=bucket, Key=key, aws_retry=True)
        except is_boto3_error_code(["404", "NoSuchKey", "NotFound", "NoSuchBucket"]):
            self._fail("the deployment bundle {0} (STAGING_BUCKET and RELEASE_VERSION of the function {1}) does not "
                       "exist: CodeDeploy would refuse the deployment.".format(url, self.upgrade.function_name),
                       bundle=url)
        except is_boto3_error_code(["403", "AccessDenied", "Forbidden"]):
            # Without s3:ListBucket, S3 answers 403 for a missing object too: it cannot tell.
            self._cannot_tell("bundle", "S3 answered 403 for {0}: without s3:GetObject and s3:ListBucket on the "
                                        "staging bucket a missing bundle looks the same".format(url))
            return
        self.report["bundle"] = "ok"

    def _published(self):
        version = self.upgrade.requested_version
        url = war_url(self.repository, version)
        try:
            answer = head(url, auth=self.auth, timeout=HTTP_TIMEOUT, session=self.session)
        except REQUEST_ERRORS as e:
            self._cannot_tell("published", "{0} could not be reached: {1} ({2})".format(url, type(e).__name__, describe_exception(e)))
            return
        if answer.status_code == 200:
            self.report["published"] = "ok"
            return
        if answer.status_code == 404:
            self._fail("HERD {0} is not published: {1} answered 404. The bundle's ApplicationStart downloads that war and "
                       "would fail after minutes of deployment. Check herd_version, or point herd_upgrade_artifact_repository "
                       "at the repository the bundle downloads from.".format(version, url), war_url=url)
        if answer.status_code in (401, 403):
            self._fail("{0} answered {1}: the artifact repository wants credentials "
                       "(herd_upgrade_artifact_repository_username and _password; artifact_repository_username and "
                       "_password of the module).".format(url, answer.status_code), war_url=url)
        self._cannot_tell("published", "{0} answered {1}".format(url, answer.status_code))
