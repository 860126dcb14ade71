# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The only code that calls CodeDeploy while a deployment is followed, and how its errors are classified;
and the one way to find the deployment under way in a group (``newest_active_deployment``)."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code

from ansible_collections.mdl.herd.plugins.module_utils._aws import (
    THROTTLING_ERROR_CODES,
    error_code,
    is_transient_error_code,
    paginate,
    read_retry,
)
from ansible_collections.mdl.herd.plugins.module_utils._stack import ACTIVE_STATUSES
from ansible_collections.mdl.herd.plugins.module_utils._time import as_utc

try:
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.exceptions import HTTPClientError
    CONNECTION_ERRORS = (BotocoreConnectionError, HTTPClientError)  # endpoint, connect/read timeouts, closed, proxy
except ImportError:  # AnsibleAWSModule reports the missing library
    CONNECTION_ERRORS = ()

NOT_STARTED = "DeploymentNotStartedException"
TARGET_GONE = ("DeploymentTargetDoesNotExistException", "InvalidDeploymentTargetIdException", "InstanceDoesNotExistException")
BATCH_SIZE = 25  # batch_get_deployment_targets takes at most 25 ids
# Retries inside one poll stay short: the next poll comes anyway, and a long backoff would
# overrun wait_timeout.
POLL_RETRIES = 4
POLL_RETRY_MAX_DELAY = 5


def newest_active_deployment(codedeploy, application, group, get_deployment):
    """The deploymentInfo of the newest deployment under way in CodeDeploy group ``application``/``group``, or None.

    One ListDeployments (all pages) when none is; ``get_deployment(deployment_id)`` reads each one listed
    (CodeDeploy allows one per group, but a list is what it answers). botocore's errors are the
    caller's to word, ``DeploymentGroupDoesNotExistException`` and ``ApplicationDoesNotExistException``
    included.
    """
    ids = paginate(codedeploy, "list_deployments", applicationName=application, deploymentGroupName=group,
                   includeOnlyStatuses=list(ACTIVE_STATUSES)).get("deployments") or []
    newest, newest_created = None, None
    for deployment_id in ids:
        info = get_deployment(deployment_id) or {}
        created = as_utc(info.get("createTime"))
        if newest is None or (created and newest_created and created > newest_created):
            newest, newest_created = info, created
    return newest


def poll_retry():
    """The retry decorator for the client that polls: a few quick jittered retries."""
    return read_retry(retries=POLL_RETRIES, delay=1, max_delay=POLL_RETRY_MAX_DELAY)


class DeploymentMissing(Exception):
    """The deployment id does not name a deployment in this account and region."""


class DeploymentReader(object):
    """The calls to CodeDeploy, and a count of the requests they send (retries included).

    ``client`` comes from ``_aws.client()``; every call passes ``aws_retry=True`` (the pages of
    ``target_ids`` are retried by ``_aws.paginate`` with ``poll_retry()``). Requests
    are counted on botocore's ``after-call`` event: one per call the retry decorator makes,
    plus the retries botocore made inside it (``ResponseMetadata.RetryAttempts``).
    """

    def __init__(self, client, calls=None):
        self.client = client
        self.calls = dict(calls or {})
        meta = getattr(client, "meta", None)
        events = getattr(meta, "events", None)
        if events is not None:
            events.register("after-call.codedeploy", self._count)

    def _count(self, model=None, parsed=None, **kwargs):
        name = getattr(model, "name", None) or "Unknown"
        retries = ((parsed or {}).get("ResponseMetadata") or {}).get("RetryAttempts") or 0
        self.calls[name] = self.calls.get(name, 0) + 1 + int(retries)

    @property
    def total_calls(self):
        return sum(self.calls.values())

    def deployment(self, deployment_id):
        try:
            return self.client.get_deployment(deploymentId=deployment_id, aws_retry=True)["deploymentInfo"]
        except is_boto3_error_code("DeploymentDoesNotExistException"):
            raise DeploymentMissing(
                "Deployment {0} does not exist in this account and region: check deployment_id, region "
                "and the AWS credentials".format(deployment_id)
            )

    def target_ids(self, deployment_id):
        """Every target id of the deployment (every page, each retried on its own); [] while it has not started."""
        try:
            return paginate(self.client, "list_deployment_targets", retry_decorator=poll_retry(),
                            deploymentId=deployment_id).get("targetIds") or []
        except is_boto3_error_code(NOT_STARTED):
            return []

    def targets(self, deployment_id, ids):
        """The deployment's targets, read 25 at a time; [] while it has not started."""
        found = []
        try:
            for start in range(0, len(ids), BATCH_SIZE):
                page = self.client.batch_get_deployment_targets(
                    deploymentId=deployment_id, targetIds=list(ids[start:start + BATCH_SIZE]), aws_retry=True
                )
                found.extend(page.get("deploymentTargets") or [])
        except is_boto3_error_code(NOT_STARTED):
            return []
        return found

    def stop(self, deployment_id, rollback):
        response = self.client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=bool(rollback), aws_retry=True)
        return {"status": response.get("status"), "status_message": response.get("statusMessage")}


def is_retryable(exception, read_before):
    """Does this error only mean "ask again later"?

    Throttling and server-side errors always do. Connection errors do once the deployment
    has been read successfully: before that they more likely mean a wrong endpoint or region.
    """
    code = error_code(exception)
    if code is not None:
        return is_transient_error_code(code)
    if not read_before:
        return False
    return isinstance(exception, CONNECTION_ERRORS)


def is_throttling(exception):
    return error_code(exception) in THROTTLING_ERROR_CODES
