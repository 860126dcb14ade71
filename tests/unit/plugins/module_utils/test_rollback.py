# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RollbackPlan's reads against moto's SSM and CodeDeploy: the CurrentVersion history (every page) and the record."""

from __future__ import annotations

import boto3
from moto import mock_aws

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.mdl.herd.plugins.module_utils import _aws
from ansible_collections.mdl.herd.plugins.module_utils._rollback import RollbackPlan, rollback_target
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack

REGION = "us-east-1"
STACK = MdlStack("mdl", "DEV")


def client(service):
    return RetryingBotoClientWrapper(boto3.client(service, region_name=REGION), _aws.read_retry())


@mock_aws
def test_the_history_is_read_over_every_page_oldest_first():
    ssm = client("ssm")
    versions = ["0.{0}.0".format(170 + i) for i in range(60)]  # GetParameterHistory answers 50 at most per page
    for version in versions:
        ssm.put_parameter(Name=STACK.current_version_parameter, Value=version, Type="String", Overwrite=True)
    plan = RollbackPlan(STACK, ssm, client("codedeploy"))
    history = plan.history()
    assert [value for value, dummy in history] == versions
    assert rollback_target(history, versions[-1]) == (versions[-2], "previous")


@mock_aws
def test_no_history_and_no_record_when_the_parameters_do_not_exist():
    plan = RollbackPlan(STACK, client("ssm"), client("codedeploy"))
    assert plan.history() == []
    assert plan.record() is None
