# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module end to end, against a small HERD buildInfo server on 127.0.0.1 (HTTP and HTTPS) and moto."""

from __future__ import annotations

import base64
import datetime
import json
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws

from ansible_collections.mdl.herd.tests.unit.plugins.modules.module_runner import patch_module_args

from ansible_collections.mdl.herd.plugins.modules import herd_buildinfo_check

REGION = "us-east-1"
AWS = {"region": REGION, "access_key": "testing", "secret_key": "testing"}
USER, PASSWORD = "herd-admin", "Correct-Horse-7"


class HerdState(object):
    """What the fake HERD serves; ``script`` gives (status, version) per request, then ``version`` for ever."""

    def __init__(self, version="0.170.0", username=USER, password=PASSWORD):
        self.version = version
        self.username = username
        self.password = password
        self.script = []
        self.bad_body = None
        self.requests = []
        self.lock = threading.Lock()

    def next(self, path):
        with self.lock:
            self.requests.append(path)
            if self.script:
                status, version = self.script.pop(0)
                if version is not None:
                    self.version = version
                return status, self.version
            return 200, self.version


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        state = self.server.state
        status, version = state.next(self.path)
        if status != 200:
            return self.reply(status, b"<html><body>unavailable</body></html>", "text/html")
        if self.path == "/herd-app/displayBuildInfo":
            body = "<html><body><p>Build Number: {0}<br/>Build User: jenkins<br/>Build Time: 2024-03-05 14:21:07<br/></p></body></html>"
            return self.reply(200, body.format(version).encode(), "text/html;charset=UTF-8")
        if self.path != "/herd-app/rest/buildInfo":
            return self.reply(404, b"<html>not found</html>", "text/html")
        expected = "Basic " + base64.b64encode("{0}:{1}".format(state.username, state.password).encode()).decode()
        if state.username and self.headers.get("Authorization") != expected:
            return self.reply(401, b"<html>Full authentication is required</html>", "text/html")
        if state.bad_body is not None:
            return self.reply(200, state.bad_body.encode(), "text/html")
        if "application/json" in (self.headers.get("Accept") or "").split(",")[0]:
            body = json.dumps({"buildUser": "jenkins", "buildDate": "2024-03-05 14:21:07", "buildNumber": version}).encode()
            return self.reply(200, body, "application/json")
        body = "<buildInformation><buildUser>jenkins</buildUser><buildDate>2024-03-05 14:21:07</buildDate><buildNumber>{0}</buildNumber></buildInformation>"
        return self.reply(200, body.format(version).encode(), "application/xml")

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state, context=None):
        super(Server, self).__init__(("127.0.0.1", 0), Handler)
        self.state = state
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request, client_address):
        pass  # clients that refuse our certificate hang up; that is expected

    @property
    def url(self):
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return "{0}://127.0.0.1:{1}".format(scheme, self.server_address[1])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A private CA and a certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress

    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unit test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "herd")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "herd.pem", directory / "herd-key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(ca_path), str(cert_path), str(key_path)


def start(state, context=None):
    server = Server(state, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture
def herd():
    state = HerdState()
    server = start(state)
    server.state = state
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def herd_tls(certificates):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates[1], certificates[2])
    state = HerdState()
    server = start(state, context)
    yield server
    server.shutdown()
    server.server_close()


def run(capsys, args, check_mode=False):
    """Run the module; return (failed, result) as Ansible would see them, and the whole output text."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            herd_buildinfo_check.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    return result, out


def rest(server):
    return server.url + "/herd-app/rest/buildInfo"


# --- reading ---------------------------------------------------------------------------------
def test_reads_the_version_with_basic_auth(capsys, herd):
    result, out = run(capsys, {"url": rest(herd), "username": USER, "password": PASSWORD})
    assert not result.get("failed") and result["changed"] is False
    for key, value in {
        "build_number": "0.170.0",
        "build_user": "jenkins",
        "build_date": "2024-03-05 14:21:07",
        "url": rest(herd),
        "format": "json",
        "status_code": 200,
        "attempts": 1,
    }.items():
        assert result[key] == value, key
    assert result["elapsed_seconds"] >= 0
    assert "matches" not in result
    assert PASSWORD not in out


def test_a_base_url_reads_the_rest_path(capsys, herd):
    result, dummy = run(capsys, {"url": herd.url, "username": USER, "password": PASSWORD, "format": "xml"})
    assert (result["url"], result["format"], result["build_number"]) == (rest(herd), "xml", "0.170.0")


def test_the_html_page_needs_no_credentials(capsys, herd):
    result, dummy = run(capsys, {"url": herd.url + "/herd-app/displayBuildInfo"})
    assert (result["format"], result["build_number"], result["build_user"]) == ("html", "0.170.0", "jenkins")


def test_check_mode_reads_just_the_same(capsys, herd):
    result, dummy = run(capsys, {"url": rest(herd), "username": USER, "password": PASSWORD, "expected_version": "0.170.0"}, check_mode=True)
    assert result["changed"] is False and result["matches"] is True and result["build_number"] == "0.170.0"


# --- expected versions -----------------------------------------------------------------------
def test_a_mismatch_fails_with_the_version_served(capsys, herd):
    args = {"url": rest(herd), "username": USER, "password": PASSWORD, "expected_version": "0.176.0", "retries": 2, "delay": 0.5}
    result, dummy = run(capsys, args)
    assert result["failed"] is True
    assert result["msg"] == "HERD at {0} reports 0.170.0; expected 0.176.0 (3 attempts over 1 s)".format(rest(herd))
    assert (result["matches"], result["attempts"], result["build_number"]) == (False, 3, "0.170.0")
    assert len(herd.state.requests) == 3


def test_retries_across_a_503_window_until_the_version_switches(capsys, herd):
    herd.state.script = [(200, None), (503, None), (503, None), (200, "0.176.0")]
    args = {"url": rest(herd), "username": USER, "password": PASSWORD, "expected_version": "0.176.0", "retries": 20, "delay": 0.1}
    result, dummy = run(capsys, args)
    assert not result.get("failed"), result
    assert (result["matches"], result["attempts"], result["build_number"]) == (True, 4, "0.176.0")


def test_at_least_accepts_a_later_version(capsys, herd):
    herd.state.version = "0.180.0"
    args = {"url": rest(herd), "username": USER, "password": PASSWORD, "expected_version": "0.176.0", "compare": "at_least"}
    result, dummy = run(capsys, args)
    assert result["matches"] is True and result["attempts"] == 1


def test_on_mismatch_report_answers_at_once_without_failing(capsys, herd):
    args = {"url": rest(herd), "username": USER, "password": PASSWORD, "expected_version": "0.176.0", "retries": 3, "delay": 0.01,
            "on_mismatch": "report"}
    result, dummy = run(capsys, args)
    assert not result.get("failed"), result
    assert (result["matches"], result["attempts"], result["build_number"]) == (False, 1, "0.170.0")
    assert len(herd.state.requests) == 1


def test_on_mismatch_report_still_waits_out_a_503(capsys, herd):
    herd.state.script = [(503, None), (200, None)]
    # a budget (retries x delay) that a slow first answer on a busy machine cannot use up
    args = {"url": rest(herd), "username": USER, "password": PASSWORD, "expected_version": "0.170", "retries": 3, "delay": 0.5,
            "on_mismatch": "report"}
    result, dummy = run(capsys, args)
    assert not result.get("failed"), result
    # Maven-style: 0.170 is 0.170.0
    assert (result["matches"], result["attempts"]) == (True, 2)


# --- failures --------------------------------------------------------------------------------
def test_a_wrong_password_names_the_user_never_the_password(capsys, herd):
    args = {"url": rest(herd), "username": USER, "password": "Wrong-Battery-9", "retries": 5, "delay": 0.01}
    result, out = run(capsys, args)
    assert result["failed"] is True
    assert result["msg"].startswith("HERD at {0} refused the credentials of user 'herd-admin' (401 Unauthorized)".format(rest(herd)))
    assert "Wrong-Battery-9" not in out
    assert (result["attempts"], result["status_code"]) == (1, 401)


def test_an_unreachable_host_names_the_url_and_the_error(capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = "http://127.0.0.1:{0}/herd-app/rest/buildInfo".format(port)
    result, dummy = run(capsys, {"url": url, "retries": 1, "delay": 0.2, "timeout": 2})
    assert result["failed"] is True
    assert result["msg"].startswith("Could not reach HERD at {0}: ".format(url))
    assert re.search(r"Connection refused \(2 attempts over 0 s\)$", result["msg"]), result["msg"]
    assert "object at 0x" not in result["msg"]


def test_a_body_that_is_not_build_info_is_shown_with_its_status(capsys, herd):
    herd.state.bad_body = "<html><body>Welcome to the maintenance page</body></html>"
    result, dummy = run(capsys, {"url": rest(herd), "username": USER, "password": PASSWORD, "retries": 3, "delay": 0.01})
    assert result["failed"] is True and result["attempts"] == 1
    assert "answered 200 with a body that is not buildInfo" in result["msg"]
    assert "Welcome to the maintenance page" in result["msg"]


# --- TLS -------------------------------------------------------------------------------------
def test_https_with_the_stack_ca(capsys, herd_tls, certificates):
    result, dummy = run(capsys, {"url": rest(herd_tls), "username": USER, "password": PASSWORD, "ca_path": certificates[0]})
    assert not result.get("failed") and result["build_number"] == "0.170.0"


def test_https_without_the_ca_fails_with_what_to_do(capsys, herd_tls):
    result, dummy = run(capsys, {"url": rest(herd_tls), "username": USER, "password": PASSWORD, "retries": 3, "delay": 0.01})
    assert result["failed"] is True and result["attempts"] == 1
    assert result["msg"].startswith("Could not verify the TLS certificate of HERD at {0}: ".format(rest(herd_tls)))
    assert result["msg"].endswith("Set ca_path to the CA bundle that signed it, or validate_certs: false to skip verification")


def test_https_without_verification(capsys, herd_tls):
    result, dummy = run(capsys, {"url": rest(herd_tls), "username": USER, "password": PASSWORD, "validate_certs": False})
    assert not result.get("failed") and result["build_number"] == "0.170.0"


# --- AWS: credentials from SSM and discovery -------------------------------------------------
def put_credentials(password=PASSWORD):
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/app/MDL/mdl/DEV/LDAP/User/HerdAdminUsername", Value=USER, Type="String")
    ssm.put_parameter(Name="/app/MDL/mdl/DEV/LDAP/Password/HerdAdminPassword", Value=password, Type="SecureString")


@mock_aws
def test_credentials_from_ssm_are_used_and_never_shown(capsys, herd):
    put_credentials()
    args = dict(AWS, url=rest(herd), mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True)
    result, out = run(capsys, args)
    assert not result.get("failed") and result["build_number"] == "0.170.0"
    assert PASSWORD not in out
    # A body that quotes the password is masked in the failure too.
    herd.state.bad_body = "<html>debug: password={0}</html>".format(PASSWORD)
    result, out = run(capsys, args)
    assert result["failed"] is True and "debug: password=" in result["msg"]
    assert PASSWORD not in out


@mock_aws
def test_missing_ssm_credentials_name_the_parameter(capsys, herd):
    args = dict(AWS, url=rest(herd), mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True)
    result, dummy = run(capsys, args)
    assert result["failed"] is True
    assert "The SSM parameter /app/MDL/mdl/DEV/LDAP/User/HerdAdminUsername" in result["msg"]
    assert herd.state.requests == []


TEMPLATE = {
    "Parameters": {"MDLInstanceName": {"Type": "String"}, "Environment": {"Type": "String"}, "HerdURL": {"Type": "String"}},
    "Resources": {
        "Marker": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": {"Fn::Sub": "/test/${AWS::StackName}"}, "Type": "String", "Value": "herd"}}
    },
    "Outputs": {"HerdLoadBalancerURL": {"Value": {"Ref": "HerdURL"}}},
}


def create_herd_stack(name, instance, environment, url):
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name,
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[
            {"ParameterKey": "MDLInstanceName", "ParameterValue": instance},
            {"ParameterKey": "Environment", "ParameterValue": environment},
            {"ParameterKey": "HerdURL", "ParameterValue": url},
        ],
    )


@mock_aws
def test_discovery_through_cloudformation_with_ssm_credentials(capsys, herd):
    put_credentials()
    create_herd_stack("mdl-QA-Herd", "mdl", "QA", "http://127.0.0.1:1")
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, expected_version="0.170.0")
    result, out = run(capsys, args)
    assert not result.get("failed"), result
    assert (result["cloudformation_stack_name"], result["url"], result["matches"]) == ("mdl-DEV-Herd", rest(herd), True)
    assert PASSWORD not in out


@mock_aws
def test_discovery_that_finds_nothing_says_what_to_check(capsys):
    result, dummy = run(capsys, dict(AWS, mdl_instance_name="nope", mdl_environment="DEV"))
    assert result["failed"] is True
    assert result["msg"].startswith("No CloudFormation stack in this region has the parameters Environment=DEV, MDLInstanceName=nope")


@mock_aws
def test_several_candidates_are_named(capsys):
    create_herd_stack("mdl-DEV-Herd-a", "mdl", "DEV", "https://a.example.com")
    create_herd_stack("mdl-DEV-Herd-b", "mdl", "DEV", "https://b.example.com")
    result, dummy = run(capsys, dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV"))
    assert result["failed"] is True
    assert "mdl-DEV-Herd-a (https://a.example.com), mdl-DEV-Herd-b (https://b.example.com)" in result["msg"]


# --- bad input fails before any AWS call or HTTP request -------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        ({"url": "herd.example.com"}, "url must be an http:// or https:// URL"),
        ({"url": "https://u:p@herd.example.com"}, "url must not hold credentials"),
        ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "expected_version": "0.176 .0"}, "expected_version must be a HERD version"),
        ({"mdl_instance_name": "md l", "mdl_environment": "DEV"}, "mdl_instance_name must be made of letters"),
        ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "retries": -1}, "retries must be 0 or more"),
        ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "delay": -1}, "delay must be more than 0 seconds"),
        ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "retries": 3, "delay": 0}, "delay must be more than 0 seconds when retries"),
        ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "timeout": 0}, "timeout must be more than 0 seconds"),
        ({"mdl_instance_name": "mdl", "mdl_environment": "DEV", "ca_path": "/nonexistent/ca.pem"}, "ca_path must be a readable PEM file"),
        (
            {"mdl_instance_name": "mdl", "mdl_environment": "DEV", "credentials_from_ssm": True, "username": "u", "password": "pw-9"},
            "give either username and password, or credentials_from_ssm: true, not both",
        ),
        ({"credentials_from_ssm": True, "url": "https://h"}, "credentials_from_ssm is True but all of the following are missing"),
        ({"format": "html"}, "one of the following is required: url, mdl_instance_name"),
        ({"mdl_instance_name": "mdl"}, "parameters are required together: mdl_instance_name, mdl_environment"),
        ({"url": "https://h", "username": "u"}, "parameters are required together: username, password"),
        ({"url": "https://h", "format": "yaml"}, "value of format must be one of: auto, json, xml, html"),
    ],
)
def test_bad_input_fails_before_any_call(capsys, monkeypatch, args, message):
    def no_aws(*args, **kwargs):
        raise AssertionError("no AWS client may be created for bad input")

    monkeypatch.setattr(herd_buildinfo_check._aws, "client", no_aws)
    result, dummy = run(capsys, dict(AWS, **args))
    assert result["failed"] is True
    assert message in result["msg"]


def throttle_moto(monkeypatch, response_class, method, times, code):
    """The first ``times`` calls of a moto API answer ``code`` (a throttling error); returns the call counter."""
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.core.exceptions import JsonRESTError

    class XmlThrottled(CloudFormationError):  # CloudFormation answers in XML
        pass

    XmlThrottled.code = code
    original = getattr(response_class, method)
    calls = {"count": 0}

    def throttled(self):
        calls["count"] += 1
        if calls["count"] <= times:
            if "cloudformation" in response_class.__module__:
                raise XmlThrottled("Rate exceeded")
            raise JsonRESTError(code, "Rate exceeded")
        return original(self)

    monkeypatch.setattr(response_class, method, throttled)
    return calls


THROTTLED = 7


@pytest.mark.parametrize("cloudformation_code", ["Throttling", "ThrottlingException"])
@mock_aws
def test_discovery_survives_throttled_cloudformation_and_ssm_reads(capsys, herd, monkeypatch, cloudformation_code):
    """The stack's HERD is found although the first DescribeStacks and GetParameter calls are throttled."""
    import time

    from moto.cloudformation.responses import CloudFormationResponse
    from moto.ssm.responses import SimpleSystemManagerResponse

    put_credentials()
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)  # the backoff, without waiting
    # more refusals than botocore's own retries take (5 attempts): the collection's backoff (_aws.read_retry) must ask again
    describe = throttle_moto(monkeypatch, CloudFormationResponse, "describe_stacks", THROTTLED, cloudformation_code)
    get = throttle_moto(monkeypatch, SimpleSystemManagerResponse, "get_parameter", THROTTLED, "ThrottlingException")
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, expected_version="0.170.0")
    result, out = run(capsys, args)
    assert not result.get("failed"), result
    assert (result["cloudformation_stack_name"], result["matches"]) == ("mdl-DEV-Herd", True)
    # each throttled read was asked again until answered: the stacks once, the user and the password once each
    assert describe["count"] == THROTTLED + 1
    assert get["count"] == THROTTLED + 2
    assert len([s for s in sleeps if s > 0]) >= 2 * THROTTLED
    assert PASSWORD not in out


def codedeploy_group(instance="mdl", environment="DEV"):
    """The stack's CodeDeploy application and group, named as MDL names them, in moto."""
    from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack

    stack = MdlStack(instance, environment)
    client = boto3.client("codedeploy", region_name=REGION)
    client.create_application(applicationName=stack.codedeploy_application, computePlatform="Server")
    client.create_deployment_group(applicationName=stack.codedeploy_application, deploymentGroupName=stack.deployment_group,
                                   serviceRoleArn="arn:aws:iam::123456789012:role/CodeDeploy")
    return client, stack


@mock_aws
def test_report_active_deployment_none_under_way(capsys, herd):
    put_credentials()
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    codedeploy_group()
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, expected_version="0.170.0",
                on_mismatch="report", report_active_deployment=True)
    result, dummy = run(capsys, args)
    assert not result.get("failed"), result
    assert result["matches"] is True and result["active_deployment"] is None


@mock_aws
def test_report_active_deployment_names_the_one_under_way(capsys, herd):
    put_credentials()
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    client, stack = codedeploy_group()
    deployment_id = client.create_deployment(
        applicationName=stack.codedeploy_application, deploymentGroupName=stack.deployment_group,
        revision={"revisionType": "S3", "s3Location": {"bucket": "b", "key": "herd.zip", "bundleType": "zip"}})["deploymentId"]
    status = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"]
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, report_active_deployment=True)
    result, dummy = run(capsys, args)
    assert not result.get("failed"), result
    assert (result["active_deployment"]["deployment_id"], result["active_deployment"]["status"]) == (deployment_id, status)
    assert result["active_deployment"]["create_time"]


@mock_aws
def test_report_upgrade_request_says_what_the_next_instance_installs(capsys, herd):
    put_credentials()
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    ssm = boto3.client("ssm", region_name=REGION)
    from ansible_collections.mdl.herd.plugins.module_utils._stack import MdlStack

    stack = MdlStack("mdl", "DEV")
    for name, value in (("HERD/DeploymentInvoked", "true"), ("HERD/RequestedVersion", "0.176.0"), ("HERD/CurrentVersion", "0.170.0")):
        ssm.put_parameter(Name=stack.parameter(name), Value=value, Type="String")
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, report_upgrade_request=True)
    result, dummy = run(capsys, args)
    assert not result.get("failed"), result
    assert result["upgrade_request"] == {"deployment_invoked": True, "requested_version": "0.176.0", "current_version": "0.170.0"}
    assert "upgrade_request" not in run(capsys, dict(args, report_upgrade_request=False))[0]


@mock_aws
def test_report_upgrade_request_without_the_permission_warns_and_keeps_the_version_served(capsys, herd, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(ssm, stack):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetParameters")

    monkeypatch.setattr(herd_buildinfo_check, "upgrade_request", denied)
    put_credentials()
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, report_upgrade_request=True)
    result, out = run(capsys, args)
    assert not result.get("failed"), result
    assert result["upgrade_request"] is None and result["build_number"]
    assert "may not read the upgrade parameters of stack mdl/DEV (ssm:GetParameters" in out, out


@mock_aws
def test_report_active_deployment_of_a_stack_without_its_group_fails_naming_it(capsys, herd, monkeypatch):
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.core.exceptions import JsonRESTError

    def no_application(self):  # what CodeDeploy answers (moto lists nothing instead)
        raise JsonRESTError("ApplicationDoesNotExistException", "No application found for name: mdl-Herd")

    monkeypatch.setattr(CodeDeployResponse, "list_deployments", no_application)
    put_credentials()
    create_herd_stack("mdl-DEV-Herd", "mdl", "DEV", herd.url)
    args = dict(AWS, mdl_instance_name="mdl", mdl_environment="DEV", credentials_from_ssm=True, report_active_deployment=True)
    result, dummy = run(capsys, args)
    assert result["failed"] is True
    assert "The CodeDeploy deployment group" in result["msg"] and "of stack mdl/DEV does not exist" in result["msg"], result["msg"]
