# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight checks, on fake clients that answer as S3, CodeDeploy and a Maven repository do."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler

import pytest

botocore = pytest.importorskip("botocore")
requests = pytest.importorskip("requests")

from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.mdl.herd.plugins.module_utils._preflight import Preflight, bundle_location, war_url  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack  # noqa: E402
from ansible_collections.mdl.herd.plugins.module_utils._upgrade import UpgradeFailure, UpgradeInvocation, start_or_join  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils import test_upgrade as upgrade_fakes  # noqa: E402
from ansible_collections.mdl.herd.tests.unit.plugins.module_utils.herd_servers import LocalServer  # noqa: E402

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


def preflight(checks=ALL, s3=None, codedeploy=None, session=None, version="0.176.0", env=None, warnings=None, looked=True,
              **kwargs):
    """A Preflight as start_or_join runs it: the function's configuration read, one look for an active deployment made."""
    upgrade = UpgradeInvocation(version, stack=MdlStack("mdl", "DEV"))
    upgrade.function_environment = ENV if env is None else env
    upgrade.function_timeout = 900
    checked = Preflight(upgrade, checks, codedeploy=codedeploy or FakeCodeDeploy(), s3=s3 or FakeS3(),
                        session=session or FakeSession(), warn=(warnings.append if warnings is not None else None), **kwargs)
    if looked:
        checked.active_looks.append(None)  # what start_or_join's look answers when nothing is under way
    return checked


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


def test_without_the_function_environment_the_bundle_is_not_checked():
    warnings = []
    s3 = FakeS3()
    report = preflight(env={}, s3=s3, warnings=warnings).run()
    assert report["bundle"] == ("not checked: where the bundle is comes from the function's environment, and the function "
                                "has no STAGING_BUCKET and RELEASE_VERSION")
    assert s3.heads == [] and "bundle is not checked" in warnings[0]
    assert bundle_location({"STAGING_BUCKET": "b"}) is None


def test_a_denied_function_configuration_is_not_checked_through_start_or_join():
    """Issue 27 item 8: GetFunctionConfiguration denied, the module warns and goes on; lambda (and the bundle, whose
    place comes from the function) are "not checked", not "ok"; active_deployment is "ok": the run did look."""
    warnings = []
    fake = upgrade_fakes.FakeLambda(error=upgrade_fakes.client_error("AccessDeniedException", "GetFunctionConfiguration", 403))
    codedeploy = upgrade_fakes.FakeCodeDeploy()
    upgrade = upgrade_fakes.invocation(fake, codedeploy=codedeploy, warnings=warnings)
    s3 = FakeS3()
    checks = Preflight(upgrade, ALL, codedeploy=FakeCodeDeploy(), s3=s3, session=FakeSession(), warn=warnings.append)
    result = start_or_join(upgrade, served_version="0.170.0", check_mode=True, preflight=checks.run, warn=warnings.append)
    report = result["preflight"]
    assert report["lambda"] == ("not checked: lambda:GetFunctionConfiguration on mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION "
                                "is not allowed; whether it exists shows only at the invoke")
    assert report["bundle"] == ("not checked: where the bundle is comes from the function's environment, and "
                                "lambda:GetFunctionConfiguration is not allowed")
    assert report["active_deployment"] == "ok" and len(codedeploy.list_calls) == 1
    assert report["deployment_group"] == "ok" and report["published"] == "ok" and s3.heads == []
    assert any("access denied" in w for w in warnings)


def test_the_function_read_and_nothing_under_way_are_ok_through_start_or_join():
    fake = upgrade_fakes.FakeLambda(configuration={"FunctionName": upgrade_fakes.FUNCTION, "Timeout": 900,
                                                   "Environment": {"Variables": ENV}})
    upgrade = upgrade_fakes.invocation(fake)
    checks = Preflight(upgrade, ALL, codedeploy=FakeCodeDeploy(), s3=FakeS3(), session=FakeSession())
    result = start_or_join(upgrade, served_version="0.170.0", check_mode=True, preflight=checks.run)
    assert result["preflight"] == dict.fromkeys(ALL, "ok")


def test_checks_that_nothing_answered_are_not_reported_ok():
    upgrade = UpgradeInvocation("0.176.0", stack=MdlStack("mdl", "DEV"))
    report = Preflight(upgrade, ["lambda", "active_deployment"]).run()
    assert report == {"lambda": "not checked: the configuration of mdl-Herd-DEV-UPGRADE-HERD-LAMBDA-FUNCTION was not read",
                      "active_deployment": "not checked: no look for a deployment under way in mdl-HerdDeployGroup came "
                                           "before the preflight"}


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


class Repository(LocalServer):
    """An artifact repository on 127.0.0.1 that holds ``published`` paths; records each HEAD's path and User-Agent."""

    def __init__(self, published=()):
        repository = self
        self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                repository.seen.append((self.path, self.headers.get("User-Agent")))
                self.send_response(200 if self.path in published else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.serve(Handler, "/maven2")


def test_the_published_check_asks_the_repository_over_http_with_the_collections_client():
    war = "/maven2/org/finra/herd/herd-war/0.176.0/herd-war-0.176.0.war"
    with Repository(published=[war]) as repository:
        upgrade = UpgradeInvocation("0.176.0", stack=MdlStack("mdl", "DEV"))
        assert Preflight(upgrade, ["published"], repository=repository.url).run() == {"published": "ok"}
        upgrade = UpgradeInvocation("0.199.0", stack=MdlStack("mdl", "DEV"))
        with pytest.raises(UpgradeFailure, match="HERD 0.199.0 is not published: .* answered 404"):
            Preflight(upgrade, ["published"], repository=repository.url).run()
    assert [path for path, dummy in repository.seen] == [war, war.replace("0.176.0", "0.199.0")]
    assert all(agent == "mdl.herd" for dummy, agent in repository.seen)


def test_a_repository_that_refuses_the_connection_cannot_tell_and_says_why():
    held = socket.socket()
    held.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
    try:
        warnings = []
        upgrade = UpgradeInvocation("0.176.0", stack=MdlStack("mdl", "DEV"))
        report = Preflight(upgrade, ["published"], repository="http://127.0.0.1:{0}".format(held.getsockname()[1]),
                           warn=warnings.append).run()
    finally:
        held.close()
    assert report["published"].startswith("cannot tell: http://127.0.0.1:")
    assert "could not be reached: ConnectionError (" in report["published"] and "refused" in report["published"].lower()
    assert warnings and "published cannot be checked" in warnings[0]
