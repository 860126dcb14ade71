# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight checks, on fake clients that answer as S3, CodeDeploy and a Maven repository do."""

from __future__ import annotations

import pytest

botocore = pytest.importorskip("botocore")
requests = pytest.importorskip("requests")

from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.mdl.herd.plugins.module_utils._preflight import Preflight, bundle_location, war_url  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import UpgradeFailure, UpgradeInvocation  # noqa: E402

ENV = {"STAGING_BUCKET": "123456789012-mdl-staging-dev", "RELEASE_VERSION": "1.5.0"}
ALL = ("lambda", "deployment_group", "active_deployment", "bundle", "published")


def error(code, status=400):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


class FakeS3(object):
    def __init__(self, error=None):
        self.error, self.heads = error, []

    def head_object(self, Bucket, Key, aws_retry=False):
        assert aws_retry
        self.heads.append((Bucket, Key))
        if self.error:
            raise self.error
        return {}


class FakeCodeDeploy(object):
    def __init__(self, error=None):
        self.error = error

    def get_deployment_group(self, applicationName, deploymentGroupName, aws_retry=False):
        if self.error:
            raise self.error
        return {"deploymentGroupInfo": {}}


class Answer(object):
    def __init__(self, status_code):
        self.status_code = status_code


class FakeSession(object):
    def __init__(self, status=200, exception=None):
        self.status, self.exception, self.heads = status, exception, []

    def head(self, url, auth=None, timeout=None, allow_redirects=False):
        self.heads.append((url, auth))
        if self.exception:
            raise self.exception
        return Answer(self.status)


def preflight(checks=ALL, s3=None, codedeploy=None, session=None, version="0.176.0", env=None, warnings=None, **kwargs):
    upgrade = UpgradeInvocation(version, stack=MdlStack("mdl", "DEV"))
    upgrade.function_environment = ENV if env is None else env
    return Preflight(upgrade, checks, codedeploy=codedeploy or FakeCodeDeploy(), s3=s3 or FakeS3(),
                     session=session or FakeSession(), warn=(warnings.append if warnings is not None else None), **kwargs)


def test_everything_present_is_ok_and_the_right_places_are_asked():
    s3, session = FakeS3(), FakeSession()
    report = preflight(s3=s3, session=session, repository="https://mirror.example/maven2/").run()
    assert report == dict.fromkeys(ALL, "ok")
    assert s3.heads == [("123456789012-mdl-staging-dev", "1.5.0/herd/herd.zip")]
    assert session.heads == [("https://mirror.example/maven2/org/finra/herd/herd-war/0.176.0/herd-war-0.176.0.war", None)]


def test_an_unpublished_version_fails_naming_the_url():
    with pytest.raises(UpgradeFailure) as failure:
        preflight(session=FakeSession(404)).run()
    assert "HERD 0.176.0 is not published: https://repo1.maven.org/maven2/org/finra/herd/herd-war/0.176.0/herd-war-0.176.0.war " \
           "answered 404" in failure.value.msg
    assert "Nothing was invoked" in failure.value.msg and "mdl/DEV" in failure.value.msg
    assert failure.value.details["preflight"]["bundle"] == "ok"


def test_a_repository_that_wants_credentials_says_so_and_gets_them():
    with pytest.raises(UpgradeFailure, match="answered 401: the artifact repository wants credentials"):
        preflight(session=FakeSession(401)).run()
    session = FakeSession()
    preflight(session=session, username="reader", password="s3cret").run()
    assert session.heads[0][1] == ("reader", "s3cret")


@pytest.mark.parametrize("session, why", [
    (FakeSession(exception=requests.exceptions.ConnectionError("down")), "could not be reached: ConnectionError"),
    (FakeSession(503), "answered 503"),
])
def test_a_repository_that_cannot_answer_cannot_tell(session, why):
    warnings = []
    report = preflight(session=session, warnings=warnings).run()
    assert report["published"].startswith("cannot tell") and why in report["published"]
    assert warnings and "published cannot be checked" in warnings[0]


def test_a_missing_bundle_fails():
    with pytest.raises(UpgradeFailure, match="the deployment bundle s3://123456789012-mdl-staging-dev/1.5.0/herd/herd.zip"):
        preflight(s3=FakeS3(error("404", 404))).run()


def test_a_forbidden_bundle_cannot_tell_rather_than_missing():
    warnings = []
    report = preflight(s3=FakeS3(error("403", 403)), warnings=warnings).run()
    assert report["bundle"].startswith("cannot tell: S3 answered 403") and report["published"] == "ok"
    assert warnings


def test_without_the_function_environment_the_bundle_cannot_tell():
    assert preflight(env={}).run()["bundle"].startswith("cannot tell")
    assert bundle_location({"STAGING_BUCKET": "b"}) is None


def test_a_missing_deployment_group_fails():
    with pytest.raises(UpgradeFailure, match="deployment group mdl-HerdDeployGroup .application mdl-Herd. does not exist"):
        preflight(codedeploy=FakeCodeDeploy(error("DeploymentGroupDoesNotExistException"))).run()


def test_no_checks_run_none_and_the_order_is_fixed():
    s3, session = FakeS3(), FakeSession()
    assert preflight([], s3=s3, session=session).run() == {}
    assert s3.heads == [] and session.heads == []
    assert list(preflight(["published", "bundle"]).run()) == ["bundle", "published"]


def test_the_war_url_quotes_the_version():
    assert war_url("https://r/m2", "1.0.0-RC1") == "https://r/m2/org/finra/herd/herd-war/1.0.0-RC1/herd-war-1.0.0-RC1.war"
