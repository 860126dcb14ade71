# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from ansible_collections.mdl.herd.plugins.module_utils._herd_http import (
    BuildInfoCheck,
    BuildInfoParseError,
    HerdAuthError,
    HerdClient,
    HerdResponseError,
    HerdThrottledError,
    HerdTlsError,
    HerdUnavailableError,
    buildinfo_failure_message,
    describe_exception,
    detect_format,
    locate,
    parse_html,
    parse_json,
    parse_xml,
    retry_after,
)
from ansible_collections.mdl.herd.plugins.module_utils._waiter import Waiter

BASE = "https://herd.dev.example.com"
REST = BASE + "/herd-app/rest/buildInfo"
PAGE = BASE + "/herd-app/displayBuildInfo"

# The shapes HERD serves (see the collection's domain notes).
XML_BODY = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b"<buildInformation><buildUser>jenkins</buildUser><buildDate>2024-03-05 14:21:07</buildDate>"
    b"<buildNumber>0.176.0</buildNumber></buildInformation>"
)
JSON_BODY = b'{"buildUser": "jenkins", "buildDate": "2024-03-05 14:21:07", "buildNumber": "0.176.0"}'
HTML_BODY = (
    b"<!DOCTYPE html>\n<html>\n<head><title>Herd Build Information</title></head>\n<body>\n"
    b"<h2>Build Information</h2>\n<p>\nBuild Number: 0.176.0<br/>\nBuild User: jenkins<br/>\n"
    b"Build Time: 2024-03-05 14:21:07<br/>\n</p>\n</body>\n</html>\n"
)
EXPECTED_FIELDS = ("0.176.0", "jenkins", "2024-03-05 14:21:07")


# --- locate ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, fmt, expected_url, kind",
    [
        (REST, "auto", REST, "rest"),
        (REST + "/", "auto", REST, "rest"),
        (PAGE, "auto", PAGE, "html"),
        (BASE, "auto", REST, "rest"),
        (BASE + "/", "auto", REST, "rest"),
        (BASE + "/herd-app", "auto", REST, "rest"),
        ("HTTPS://herd.dev.example.com:8443", "auto", "https://herd.dev.example.com:8443/herd-app/rest/buildInfo", "rest"),
        (BASE + "/proxy", "auto", BASE + "/proxy/herd-app/rest/buildInfo", "rest"),
        (BASE, "html", PAGE, "html"),
        (REST, "html", PAGE, "html"),
        (PAGE, "json", REST, "rest"),
        (PAGE, "xml", REST, "rest"),
        ("http://10.0.0.1/herd-app/rest/buildInfo?x=1#top", "auto", "http://10.0.0.1/herd-app/rest/buildInfo?x=1", "rest"),
    ],
)
def test_locate_accepts_the_three_forms_of_url(url, fmt, expected_url, kind):
    location = locate(url, fmt)
    assert (location.url, location.kind) == (expected_url, kind)


@pytest.mark.parametrize(
    "url, message",
    [
        ("herd.dev.example.com", "url must be an http:// or https:// URL"),
        ("ftp://herd.dev.example.com", "url must be an http:// or https:// URL"),
        ("https://", "url must be an http:// or https:// URL"),
        ("", "url must be HERD's REST buildInfo URL"),
        ("https://admin:secret@herd.dev.example.com", "url must not hold credentials"),
        ("https://herd.dev.example.com:99999", "url is not a valid URL"),
    ],
)
def test_locate_refuses_what_cannot_be_herd_naming_the_option(url, message):
    with pytest.raises(ValueError, match=message) as caught:
        locate(url)
    assert "secret" not in str(caught.value)


def test_locate_names_the_option_it_is_given():
    with pytest.raises(ValueError, match="^the output HerdLoadBalancerURL of s must be"):
        locate("not a url", option="the output HerdLoadBalancerURL of s")


def test_locate_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="format must be one of auto, json, xml, html"):
        locate(REST, "yaml")


# --- bodies ----------------------------------------------------------------------------------
def test_parse_json():
    assert parse_json(JSON_BODY) == EXPECTED_FIELDS
    assert parse_json('{"buildNumber": "0.176.0"}') == ("0.176.0", None, None)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "not JSON"),
        (b"<html/>", "not JSON"),
        (b'["0.176.0"]', "not an object"),
        (b'{"buildUser": "jenkins"}', "has no buildNumber"),
        (b'{"buildNumber": "  "}', "has no buildNumber"),
        (b'{"buildNumber": {"v": 1}}', "buildNumber in the JSON body is not a string"),
    ],
)
def test_parse_json_refuses_bodies_without_a_build_number(body, message):
    with pytest.raises(BuildInfoParseError, match=message):
        parse_json(body)


def test_parse_xml():
    assert parse_xml(XML_BODY) == EXPECTED_FIELDS


def test_parse_xml_ignores_namespaces_and_whitespace():
    body = (
        '<?xml version="1.0"?>\n<ns2:buildInformation xmlns:ns2="http://herd.finra.org">\n'
        "  <ns2:buildNumber>\n 0.176.0\n </ns2:buildNumber>\n  <ns2:buildUser>jenkins</ns2:buildUser>\n"
        "</ns2:buildInformation>"
    )
    assert parse_xml(body) == ("0.176.0", "jenkins", None)


def test_parse_xml_reads_other_encodings():
    body = '<?xml version="1.0" encoding="UTF-16"?><buildInformation><buildNumber>0.176.0</buildNumber></buildInformation>'
    assert parse_xml(body.encode("utf-16"))[0] == "0.176.0"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<buildInformation><buildNumber>&lol3;</buildNumber></buildInformation>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<buildInformation><buildNumber>&xxe;</buildNumber></buildInformation>"
)
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE b SYSTEM "http://127.0.0.1:1/evil.dtd"><buildInformation/>'


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, BILLION_LAUGHS.decode().replace("UTF-8", "UTF-16").encode("utf-16")],
)
def test_parse_xml_refuses_document_types_and_entities(body):
    with pytest.raises(BuildInfoParseError, match="declares a document type or entities"):
        parse_xml(body)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"<buildInformation><buildNumber>0.1", "not XML"),
        (b"<error><buildNumber>0.1</buildNumber></error>", r"<error>, not <buildInformation>"),
        (b"<buildInformation><buildUser>x</buildUser></buildInformation>", "has no buildNumber"),
        (b"<buildInformation><x><buildNumber>0.1</buildNumber></x></buildInformation>", "has no buildNumber"),
        (b"", "not XML"),
    ],
)
def test_parse_xml_refuses_bodies_without_a_build_number(body, message):
    with pytest.raises(BuildInfoParseError, match=message):
        parse_xml(body)


def test_parse_html():
    assert parse_html(HTML_BODY) == EXPECTED_FIELDS


def test_parse_html_copes_with_tables_entities_and_scripts():
    body = (
        "<html><script>var s = 'Build Number: 9.9.9';</script><table>"
        "<tr><td>Build&nbsp;Number: 0.176.0-SNAPSHOT</td></tr><tr><td>Build User: j&amp;k</td></tr></table></html>"
    )
    assert parse_html(body) == ("0.176.0-SNAPSHOT", "j&k", None)


def test_parse_html_refuses_a_page_without_a_build_number():
    with pytest.raises(BuildInfoParseError, match="no 'Build Number:' line"):
        parse_html(b"<html><body><h1>503 Service Unavailable</h1></body></html>")


@pytest.mark.parametrize(
    "content_type, body, expected",
    [
        ("application/json;charset=UTF-8", b"", "json"),
        ("application/xml", b"", "xml"),
        ("text/xml; charset=utf-8", b"", "xml"),
        ("text/html;charset=UTF-8", b"", "html"),
        ("application/xhtml+xml", b"", "html"),
        (None, JSON_BODY, "json"),
        ("text/plain", b"  " + XML_BODY, "xml"),
        ("application/octet-stream", HTML_BODY, "html"),
        (None, b"Build Number: 1", None),
    ],
)
def test_detect_format(content_type, body, expected):
    assert detect_format(content_type, body) == expected


# --- HTTP ------------------------------------------------------------------------------------
class FakeResponse(object):
    def __init__(self, status_code, body=b"", content_type=None, reason=None, headers=None):
        self.status_code = status_code
        self.content = body
        self.headers = CaseInsensitiveDict({"Content-Type": content_type} if content_type else {})
        self.headers.update(headers or {})
        self.reason = reason or {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
                                 503: "Service Unavailable"}.get(status_code, "")
        self.closed = False

    def close(self):
        self.closed = True


class FakeSession(object):
    """Answers GETs from a list of responses (or exceptions to raise); records what it was asked."""

    def __init__(self, *answers, clock=None, seconds_per_request=0.0):
        self.answers = list(answers)
        self.calls = []
        self.clock = clock
        self.seconds_per_request = seconds_per_request
        self.closed = False

    def get(self, url, **kwargs):
        self.calls.append(dict(kwargs, url=url))
        if self.clock is not None:
            self.clock.now += self.seconds_per_request
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self):
        self.closed = True


def client(session, url=REST, fmt="auto", username="admin", password="s3cr3t-pw", **kwargs):
    return HerdClient(locate(url, fmt), fmt, username, password, session=session, **kwargs)


def json_answer(version="0.176.0"):
    return FakeResponse(200, JSON_BODY.replace(b"0.176.0", version.encode()), "application/json")


def test_read_asks_for_json_with_auth_timeout_and_verification():
    session = FakeSession(json_answer())
    info = client(session, timeout=7, verify="/ca.pem").read()
    assert (info.build_number, info.build_user, info.build_date) == EXPECTED_FIELDS
    assert (info.url, info.format, info.status_code) == (REST, "json", 200)
    call = session.calls[0]
    assert call["url"] == REST
    assert call["headers"]["Accept"].startswith("application/json")
    assert call["auth"] == ("admin", "s3cr3t-pw")
    assert (call["timeout"], call["verify"]) == (7, "/ca.pem")


def test_read_without_username_sends_no_auth():
    session = FakeSession(json_answer())
    client(session, username=None, password=None).read()
    assert session.calls[0]["auth"] is None


def test_auto_understands_an_xml_answer():
    info = client(FakeSession(FakeResponse(200, XML_BODY, "application/xml"))).read()
    assert (info.build_number, info.format) == ("0.176.0", "xml")


@pytest.mark.parametrize("fmt, accept", [("xml", "application/xml"), ("json", "application/json")])
def test_an_explicit_format_is_asked_for(fmt, accept):
    body = XML_BODY if fmt == "xml" else JSON_BODY
    session = FakeSession(FakeResponse(200, body, "application/" + fmt))
    assert client(session, fmt=fmt).read().format == fmt
    assert session.calls[0]["headers"]["Accept"].startswith(accept)


def test_html_reads_the_page():
    session = FakeSession(FakeResponse(200, HTML_BODY, "text/html;charset=UTF-8"))
    info = client(session, url=BASE, fmt="html").read()
    assert (info.url, info.format, info.build_number) == (PAGE, "html", "0.176.0")
    assert session.calls[0]["headers"]["Accept"].startswith("text/html")


def test_a_body_that_is_not_build_info_shows_its_status_and_first_200_characters():
    body = b"<html><body>" + b"x" * 500 + b"</body></html>"
    with pytest.raises(HerdResponseError) as caught:
        client(FakeSession(FakeResponse(200, body, "text/html"))).read()
    message = str(caught.value)
    assert message.startswith("HERD at {0} answered 200 with a body that is not buildInfo: the HTML page has no 'Build Number:' line.".format(REST))
    assert "'<html><body>" + "x" * 188 + "...'" in message
    assert "x" * 189 not in message
    assert not caught.value.transient


def test_an_explicit_format_refuses_another_format():
    with pytest.raises(HerdResponseError, match="answered 200 with a body that is not buildInfo: the body is not JSON"):
        client(FakeSession(FakeResponse(200, XML_BODY, "application/xml")), fmt="json").read()


def test_refused_credentials_name_the_user_and_url_never_the_password():
    for status in (401, 403):
        with pytest.raises(HerdAuthError) as caught:
            client(FakeSession(FakeResponse(status, b"<html>denied</html>", "text/html"))).read()
        message = str(caught.value)
        assert "HERD at {0} refused the credentials of user 'admin' ({1} ".format(REST, status) in message
        assert "s3cr3t-pw" not in message
        assert not caught.value.transient
        assert caught.value.status_code == status


def test_missing_credentials_say_how_to_give_them():
    with pytest.raises(HerdAuthError, match="requires HTTP basic auth. Give username and password, or credentials_from_ssm: true"):
        client(FakeSession(FakeResponse(401)), username=None, password=None).read()


def test_5xx_is_transient():
    with pytest.raises(HerdUnavailableError) as caught:
        client(FakeSession(FakeResponse(503, b"busy", "text/html"))).read()
    assert str(caught.value) == "HERD at {0} answered 503 Service Unavailable".format(REST)
    assert caught.value.transient and caught.value.status_code == 503


def test_429_is_transient_and_says_herd_is_throttling_with_its_retry_after():
    with pytest.raises(HerdThrottledError) as caught:
        client(FakeSession(FakeResponse(429, b"<h1>429</h1>", "text/html", headers={"Retry-After": "2"}))).read()
    assert str(caught.value) == "HERD at {0} answered 429 Too Many Requests (Retry-After: 2 s): it is throttling requests".format(REST)
    assert caught.value.transient and isinstance(caught.value, HerdUnavailableError)
    assert (caught.value.status_code, caught.value.retry_after) == (429, 2.0)


def test_429_without_retry_after_is_transient_too():
    with pytest.raises(HerdThrottledError) as caught:
        client(FakeSession(FakeResponse(429))).read()
    assert str(caught.value) == "HERD at {0} answered 429 Too Many Requests: it is throttling requests".format(REST)
    assert caught.value.transient and caught.value.retry_after is None


def test_503_with_retry_after_says_so():
    with pytest.raises(HerdUnavailableError) as caught:
        client(FakeSession(FakeResponse(503, headers={"Retry-After": "30"}))).read()
    assert str(caught.value) == "HERD at {0} answered 503 Service Unavailable (Retry-After: 30 s)".format(REST)
    assert caught.value.transient and caught.value.retry_after == 30.0
    assert not isinstance(caught.value, HerdThrottledError)


@pytest.mark.parametrize("value,expected", [
    ("2", 2.0),
    (" 120 ", 120.0),
    ("0", 0.0),
    ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # an HTTP date, 30 s after "now" below
    ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no wait
    ("-5", None),
    ("1.5", None),
    ("soon", None),
    ("", None),
    (None, None),
])
def test_retry_after_reads_seconds_and_http_dates(value, expected):
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after(value, now=now) == expected


def test_other_4xx_stay_permanent():
    for status in (400, 405, 410, 418):
        with pytest.raises(HerdResponseError) as caught:
            client(FakeSession(FakeResponse(status))).read()
        assert not caught.value.transient


def test_404_says_what_the_url_should_be():
    with pytest.raises(HerdResponseError, match="answered 404 Not Found: check that url is HERD's REST buildInfo URL"):
        client(FakeSession(FakeResponse(404))).read()


def test_other_statuses_show_the_body():
    with pytest.raises(HerdResponseError, match=r"answered 302 where buildInfo was expected. The body starts with: 'moved'"):
        client(FakeSession(FakeResponse(302, b"moved"))).read()


def test_tls_errors_say_to_set_ca_path_or_validate_certs():
    error = requests.exceptions.SSLError("HTTPSConnectionPool(host='h', port=443): certificate verify failed: self-signed certificate")
    with pytest.raises(HerdTlsError) as caught:
        client(FakeSession(error)).read()
    message = str(caught.value)
    assert message.startswith("Could not verify the TLS certificate of HERD at {0}: ".format(REST))
    assert "certificate verify failed" in message
    assert message.endswith("Set ca_path to the CA bundle that signed it, or validate_certs: false to skip verification")
    assert not caught.value.transient


def test_an_unreachable_host_is_transient_and_named_with_the_last_error():
    error = requests.exceptions.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")
    with pytest.raises(HerdUnavailableError) as caught:
        client(FakeSession(error)).read()
    assert str(caught.value) == "Could not reach HERD at {0}: Failed to establish a new connection: [Errno 111] Connection refused".format(REST)
    assert caught.value.transient


def test_a_timeout_is_transient():
    with pytest.raises(HerdUnavailableError, match="did not answer within 3 s"):
        client(FakeSession(requests.exceptions.ReadTimeout("read timed out")), timeout=3).read()


def test_describe_exception_keeps_the_innermost_reason_without_object_addresses():
    class Inner(Exception):
        pass

    class Outer(Exception):
        def __init__(self, reason):
            super(Outer, self).__init__("pool: max retries exceeded")
            self.reason = reason

    inner = Inner("<urllib3.connection.HTTPConnection object at 0x7f00deadbeef>: Failed to establish a new connection")
    assert describe_exception(requests.exceptions.ConnectionError(Outer(inner))) == "Failed to establish a new connection"


def test_responses_are_closed():
    answer = json_answer()
    client(FakeSession(answer)).read()
    assert answer.closed


# --- waiting for a version -------------------------------------------------------------------
class FakeClock(object):
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def wait(session, clock, expected="0.176.0", compare="equal", retries=12, delay=5.0):
    check = BuildInfoCheck(client(session), expected, compare)
    waiter = Waiter(timeout=retries * delay, interval=delay, clock=clock, sleep=clock.sleep)
    return check, waiter.wait(check)


def test_keeps_asking_across_503s_and_refused_connections_until_the_version_switches():
    clock = FakeClock()
    refused = requests.exceptions.ConnectionError("Connection refused")
    session = FakeSession(json_answer("0.170.0"), FakeResponse(503), refused, FakeResponse(502), json_answer("0.176.0"), clock=clock)
    check, result = wait(session, clock)
    assert result.ok and check.attempts == 5 == len(session.calls)
    assert result.elapsed == 20.0
    assert check.result(result.elapsed) == {
        "url": REST,
        "attempts": 5,
        "elapsed_seconds": 20.0,
        "build_number": "0.176.0",
        "build_user": "jenkins",
        "build_date": "2024-03-05 14:21:07",
        "format": "json",
        "status_code": 200,
        "matches": True,
    }


def test_keeps_asking_across_throttling_answers_until_the_version_is_served():
    clock = FakeClock()
    session = FakeSession(FakeResponse(429, headers={"Retry-After": "1"}), FakeResponse(503, headers={"Retry-After": "1"}),
                          FakeResponse(429), json_answer("0.176.0"), clock=clock)
    check, result = wait(session, clock, delay=1.0)
    assert result.ok and check.attempts == 4 == len(session.calls)
    assert check.result(result.elapsed)["status_code"] == 200 and check.last_error is None


def test_the_first_read_without_an_expected_version_waits_out_throttling():
    clock = FakeClock()
    session = FakeSession(FakeResponse(429), FakeResponse(429), FakeResponse(429), json_answer("0.170.0"), clock=clock)
    check, result = wait(session, clock, expected=None, delay=1.0)
    assert result.ok and check.attempts == 4
    assert check.last_info.build_number == "0.170.0"


def test_when_herd_keeps_throttling_the_message_says_so():
    clock = FakeClock()
    session = FakeSession(FakeResponse(429, headers={"Retry-After": "60"}), clock=clock)
    check, result = wait(session, clock, retries=2, delay=5.0)
    assert not result.ok
    assert buildinfo_failure_message(check, result.elapsed) == (
        "HERD at {0} answered 429 Too Many Requests (Retry-After: 60 s): it is throttling requests, expected 0.176.0 "
        "(3 attempts over 10 s)".format(REST))
    assert check.result(result.elapsed)["status_code"] == 429


def test_a_mismatch_says_what_is_served_and_what_was_expected():
    clock = FakeClock()
    session = FakeSession(json_answer("0.170.0"), clock=clock)
    check, result = wait(session, clock, retries=12, delay=5.0)
    assert not result.ok
    assert check.attempts == 13
    assert buildinfo_failure_message(check, result.elapsed) == "HERD at {0} reports 0.170.0; expected 0.176.0 (13 attempts over 60 s)".format(REST)
    assert check.result(result.elapsed)["matches"] is False


def test_slow_answers_leave_room_for_fewer_attempts_within_retries_times_delay():
    clock = FakeClock()
    session = FakeSession(json_answer("0.170.0"), clock=clock, seconds_per_request=0.45)
    check, result = wait(session, clock, retries=12, delay=5.0)
    assert check.attempts == 12
    assert buildinfo_failure_message(check, result.elapsed) == "HERD at {0} reports 0.170.0; expected 0.176.0 (12 attempts over 60 s)".format(REST)


def test_at_least_accepts_a_later_version_and_says_so_when_it_fails():
    clock = FakeClock()
    check, result = wait(FakeSession(json_answer("0.177.0")), clock, compare="at_least")
    assert result.ok and check.attempts == 1
    check, result = wait(FakeSession(json_answer("0.176.0-SNAPSHOT")), clock, compare="at_least", retries=1, delay=2)
    assert not result.ok
    assert buildinfo_failure_message(check, result.elapsed).endswith("reports 0.176.0-SNAPSHOT; expected at least 0.176.0 (2 attempts over 2 s)")


def test_without_an_expected_version_the_first_answer_is_enough():
    clock = FakeClock()
    check, result = wait(FakeSession(FakeResponse(503), json_answer("0.170.0")), clock, expected=None)
    assert result.ok and check.attempts == 2
    assert "matches" not in check.result(result.elapsed)


def test_refused_credentials_stop_the_wait_at_once():
    clock = FakeClock()
    session = FakeSession(FakeResponse(503), FakeResponse(401), json_answer())
    with pytest.raises(HerdAuthError):
        wait(session, clock)
    assert len(session.calls) == 2


def test_tls_errors_stop_the_wait_at_once():
    clock = FakeClock()
    session = FakeSession(requests.exceptions.SSLError("certificate verify failed"), json_answer())
    check = BuildInfoCheck(client(session), "0.176.0")
    with pytest.raises(HerdTlsError):
        Waiter(timeout=60, interval=5, clock=clock, sleep=clock.sleep).wait(check)
    assert check.attempts == 1 and clock.sleeps == []
    assert check.result(0)["status_code"] is None


def test_when_herd_stays_unavailable_the_message_gives_the_last_error_and_version():
    clock = FakeClock()
    session = FakeSession(json_answer("0.170.0"), FakeResponse(503), clock=clock)
    check, result = wait(session, clock, retries=2, delay=5.0)
    assert not result.ok
    assert buildinfo_failure_message(check, result.elapsed) == (
        "HERD at {0} answered 503 Service Unavailable; it last reported 0.170.0, expected 0.176.0 (3 attempts over 10 s)".format(REST)
    )
    assert check.result(result.elapsed)["status_code"] == 503


def test_when_herd_is_never_reached_the_message_names_the_url_and_last_error():
    clock = FakeClock()
    session = FakeSession(requests.exceptions.ConnectionError("Connection refused"), clock=clock)
    check, result = wait(session, clock, expected=None, retries=1, delay=1.0)
    assert not result.ok
    assert buildinfo_failure_message(check, result.elapsed) == "Could not reach HERD at {0}: Connection refused (2 attempts over 1 s)".format(REST)
    assert check.result(result.elapsed) == {"url": REST, "attempts": 2, "elapsed_seconds": 1.0, "status_code": None}
