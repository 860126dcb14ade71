"""HerdWeb through real HTTP(S) on 127.0.0.1, driven with requests."""

import json
import re
import socket
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from mdl_sandbox.herd_web import BUILD_INFO_PATH, DISPLAY_BUILD_INFO_PATH, HerdWeb
from mdl_sandbox.tls import CertificateAuthority

USER, PASSWORD = "herd-admin", "s3cret:with colon"
TIMEOUT = 5  # per request, seconds


def wait_for(condition, deadline_seconds=5.0, interval=0.02):
    """Poll condition() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("condition not met within %.1f s" % deadline_seconds)
        time.sleep(interval)  # polling interval, not synchronisation


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server_cert(ca, tmp_path_factory):
    return ca.issue_server_cert(tmp_path_factory.mktemp("certs"), name="mdl-DEV")


@pytest.fixture
def make_web():
    started = []

    def make(**kwargs):
        kwargs.setdefault("version", "0.170.0")
        kwargs.setdefault("username", USER)
        kwargs.setdefault("password", PASSWORD)
        web = HerdWeb(**kwargs)
        web.start()
        started.append(web)
        return web

    yield make
    for web in started:
        web.stop()


@pytest.fixture
def web(make_web):
    return make_web()


def build_info(web, base=None, auth=(USER, PASSWORD), **kwargs):
    base = base or web.http_base_url
    return requests.get(base + BUILD_INFO_PATH, auth=auth, timeout=TIMEOUT, **kwargs)


def served_version(web):
    return ET.fromstring(build_info(web).content).findtext("buildNumber")


# -- buildInfo REST --------------------------------------------------------------------------
def test_build_info_is_xml_by_default(web):
    response = build_info(web)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    root = ET.fromstring(response.content)
    assert root.tag == "buildInformation"
    assert [child.tag for child in root] == ["buildUser", "buildDate", "buildNumber"]
    assert root.findtext("buildNumber") == "0.170.0"
    assert root.findtext("buildUser") == "herd-build"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", root.findtext("buildDate"))


def test_build_info_is_json_when_accept_asks_for_it(make_web):
    web = make_web(build_user="jenkins", build_date="2024-01-02T03:04:05Z")
    response = build_info(web, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"buildUser": "jenkins", "buildDate": "2024-01-02T03:04:05Z",
                               "buildNumber": "0.170.0"}


@pytest.mark.parametrize("accept, expected", [
    ("application/json", "application/json"),
    ("application/json, */*;q=0.5", "application/json"),
    ("application/xml;q=0.5, application/json", "application/json"),
    ("*/*", "application/xml"),
    ("application/json;q=0.5, application/xml", "application/xml"),
    ("application/json, application/xml", "application/xml"),
    ("text/html", "application/xml"),
])
def test_accept_negotiation(web, accept, expected):
    response = build_info(web, headers={"Accept": accept})
    assert response.headers["Content-Type"] == expected


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("someone", PASSWORD), (USER, "")])
def test_build_info_refuses_missing_or_wrong_credentials(web, auth):
    response = build_info(web, auth=auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="')
    assert "buildNumber" not in response.text


def test_malformed_authorization_header_is_refused(web):
    for value in ("Basic not-base64!", "Bearer abc", "Basic " + "dXNlcg=="):  # no colon
        response = requests.get(web.http_base_url + BUILD_INFO_PATH,
                                headers={"Authorization": value}, timeout=TIMEOUT)
        assert response.status_code == 401, value


def test_auth_can_be_off(make_web):
    web = make_web(username=None, password=None)
    assert build_info(web, auth=None).status_code == 200


# -- displayBuildInfo page -------------------------------------------------------------------
def test_display_build_info_is_html_without_auth(make_web):
    web = make_web(build_user="jenkins", build_date="2024-01-02T03:04:05Z")
    response = requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    text = re.sub(r"<[^>]+>", "\n", response.text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert "Build Number: 0.170.0" in lines
    assert "Build User: jenkins" in lines
    assert "Build Time: 2024-01-02T03:04:05Z" in lines


def test_values_are_escaped(make_web):
    web = make_web(build_user="a<b>&c")
    assert ET.fromstring(build_info(web).content).findtext("buildUser") == "a<b>&c"
    page = requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT).text
    assert "Build User: a&lt;b&gt;&amp;c" in page


# -- other paths and methods -----------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/herd-app", "/herd-app/rest/buildInfo/x", "/nope"])
def test_other_paths_are_404(web, path):
    response = requests.get(web.http_base_url + path, auth=(USER, PASSWORD), timeout=TIMEOUT)
    assert response.status_code == 404


def test_query_string_is_ignored(web):
    response = requests.get(web.http_base_url + BUILD_INFO_PATH + "?x=1", auth=(USER, PASSWORD),
                            timeout=TIMEOUT)
    assert response.status_code == 200


def test_head_sends_headers_only(web):
    get = requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT)
    head = requests.head(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content))
    assert requests.head(web.http_base_url + BUILD_INFO_PATH, timeout=TIMEOUT).status_code == 401
    assert requests.head(web.http_base_url + "/nope", timeout=TIMEOUT).status_code == 404


def test_post_is_not_allowed(web):
    response = requests.post(web.http_base_url + BUILD_INFO_PATH, data=b"x" * 100,
                             auth=(USER, PASSWORD), timeout=TIMEOUT)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert requests.post(web.http_base_url + "/nope", timeout=TIMEOUT).status_code == 404


def test_requests_are_counted_by_path(web):
    build_info(web)
    build_info(web, auth=None)
    requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH + "?a=b", timeout=TIMEOUT)
    counts = web.requests
    assert counts[BUILD_INFO_PATH] == 2
    assert counts[DISPLAY_BUILD_INFO_PATH] == 1
    assert counts["/never"] == 0


def test_requests_with_the_right_credentials_are_counted_apart(web, make_web):
    build_info(web)
    build_info(web, auth=None)
    build_info(web, auth=(USER, "wrong"))
    requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, auth=(USER, PASSWORD), timeout=TIMEOUT)
    requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT)
    assert web.requests[BUILD_INFO_PATH] == 3
    assert web.authenticated_requests == {BUILD_INFO_PATH: 1, DISPLAY_BUILD_INFO_PATH: 1}
    open_web = make_web(username=None, password=None)
    build_info(open_web)
    assert open_web.authenticated_requests == {}  # no auth, nothing to carry


def test_keep_alive_session(web):
    with requests.Session() as session:
        session.auth = (USER, PASSWORD)
        for _ in range(5):
            assert session.get(web.http_base_url + BUILD_INFO_PATH, timeout=TIMEOUT).ok
    assert web.requests[BUILD_INFO_PATH] == 5



def test_answers_leave_without_waiting_for_the_clients_ack(web):
    # TCP_NODELAY on every connection: the headers and the body are two writes, and with Nagle's algorithm the body would
    # wait for the client's delayed acknowledgement of the headers (about 40 ms a read, which no real server adds)
    with requests.Session() as session:
        session.auth = (USER, PASSWORD)
        assert session.get(web.http_base_url + BUILD_INFO_PATH, timeout=TIMEOUT).ok
        connections = [sock for server in web._servers for sock in list(server._connections)]
        assert connections
        assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in connections)

# -- version switches ------------------------------------------------------------------------
def test_version_switch_now(web):
    web.set_version("0.176.0")
    assert web.version == "0.176.0"
    assert served_version(web) == "0.176.0"
    page = requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT).text
    assert "Build Number: 0.176.0" in page


def test_version_switch_after_delay(web):
    delay = 0.5
    before = time.monotonic()
    web.set_version("0.176.0", after_seconds=delay)
    observations = []

    def switched():
        version = served_version(web)
        observations.append((time.monotonic(), version))
        return version == "0.176.0"

    wait_for(switched, deadline_seconds=5)
    switched_at = observations[-1][0]
    assert switched_at - before >= delay
    # Every answer received before the delay could have passed still showed the old version.
    early = [version for (t, version) in observations if t < before + delay]
    assert early and set(early) == {"0.170.0"}
    assert web.version == "0.176.0"


def test_version_rejects_bad_input(web):
    with pytest.raises(ValueError):
        web.set_version("")
    with pytest.raises(ValueError):
        web.set_version("0.176.0", after_seconds=-1)
    assert web.version == "0.170.0"


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_switch_schedule_last_call_decides():
    clock = FakeClock()
    web = HerdWeb(version="1", username="u", password="p", clock=clock)  # never started
    web.set_version("2", after_seconds=10)
    web.set_version("3", after_seconds=20)   # later: both happen, in order
    clock.now += 10
    assert web.version == "2"
    clock.now += 10
    assert web.version == "3"

    web.set_version("4", after_seconds=10)
    web.set_version("5")                      # immediate: cancels the pending switch
    clock.now += 60
    assert web.version == "5"

    web.set_version("6", after_seconds=30)
    web.set_version("7", after_seconds=5)     # earlier but newer: cancels the later one
    clock.now += 5
    assert web.version == "7"
    clock.now += 60
    assert web.version == "7"


# -- unavailability --------------------------------------------------------------------------
def test_unavailable_window_then_recovery(web):
    window = 0.5
    before = time.monotonic()
    web.unavailable_for(window)
    for path in (BUILD_INFO_PATH, DISPLAY_BUILD_INFO_PATH, "/nope"):
        response = requests.get(web.http_base_url + path, auth=(USER, PASSWORD), timeout=TIMEOUT)
        if time.monotonic() < before + window:
            assert response.status_code == 503, path
            assert response.headers["Content-Type"].startswith("text/html")
            assert int(response.headers["Retry-After"]) >= 1
    assert web.unavailable or time.monotonic() >= before + window

    wait_for(lambda: build_info(web).status_code == 200, deadline_seconds=5)
    assert time.monotonic() - before >= window
    assert served_version(web) == "0.170.0"
    assert not web.unavailable


def test_unavailable_for_zero_ends_the_window(web):
    web.unavailable_for(60)
    assert build_info(web).status_code == 503
    web.unavailable_for(0)
    assert build_info(web).status_code == 200


# -- refused connections ---------------------------------------------------------------------
HOST_OF_TESTS = "127.0.0.1"


def connect(url):
    """'connected', or the error a TCP connect to the URL's port gets."""
    port = int(url.rsplit(":", 1)[1])
    try:
        socket.create_connection((HOST_OF_TESTS, port), timeout=TIMEOUT).close()
        return "connected"
    except OSError as error:
        return type(error).__name__


def test_refused_connections_on_both_ports_then_the_same_addresses_serve_again(make_web, server_cert, ca):
    web = make_web(tls_cert=server_cert)
    urls = (web.http_base_url, web.https_base_url)
    web.refuse_connections_for(60)
    assert web.refusing
    assert [connect(url) for url in urls] == ["ConnectionRefusedError"] * 2
    with pytest.raises(requests.exceptions.ConnectionError) as error:
        build_info(web)
    assert "Connection refused" in str(error.value)
    web.refuse_connections_for(0)
    assert not web.refusing
    assert (web.http_base_url, web.https_base_url) == urls
    assert served_version(web) == "0.170.0"
    assert build_info(web, base=web.https_base_url, verify=ca.ca_path).status_code == 200


def test_a_refusal_cuts_open_keep_alive_connections(web):
    with requests.Session() as session:
        assert session.get(web.http_base_url + BUILD_INFO_PATH, auth=(USER, PASSWORD), timeout=TIMEOUT).ok
        web.refuse_connections_for(60)
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(web.http_base_url + BUILD_INFO_PATH, auth=(USER, PASSWORD), timeout=TIMEOUT)
        web.refuse_connections_for(0)
        assert session.get(web.http_base_url + BUILD_INFO_PATH, auth=(USER, PASSWORD), timeout=TIMEOUT).ok


def test_a_refusal_ends_by_itself_after_its_seconds(web):
    window = 0.5
    before = time.monotonic()
    web.refuse_connections_for(window)
    refused = connect(web.http_base_url)
    assert refused == "ConnectionRefusedError" or time.monotonic() >= before + window
    wait_for(lambda: connect(web.http_base_url) == "connected", deadline_seconds=5)
    assert time.monotonic() - before >= window
    assert not web.refusing and served_version(web) == "0.170.0"


def test_a_longer_refusal_replaces_a_shorter_one(web):
    web.refuse_connections_for(0.2)
    web.refuse_connections_for(60)
    started = time.monotonic()
    while time.monotonic() - started < 0.6:  # past the first refusal's end: still refused
        assert connect(web.http_base_url) == "ConnectionRefusedError"
    assert web.refusing


def test_stop_during_a_refusal_releases_the_ports(make_web):
    web = make_web()
    port = int(web.http_base_url.rsplit(":", 1)[1])
    web.refuse_connections_for(60)
    web.stop()
    assert not web.refusing and not web.running
    with socket.socket() as probe:  # the port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST_OF_TESTS, port))
    with pytest.raises(RuntimeError):
        web.refuse_connections_for(1)


def test_refusal_rejects_bad_input(web):
    with pytest.raises(ValueError):
        web.refuse_connections_for(-1)
    assert not web.refusing


# -- throttling ------------------------------------------------------------------------------
def test_the_next_requests_are_throttled_with_retry_after_then_served(web):
    web.throttle_next(3, statuses=(429, 503), retry_after=2)
    answers = [build_info(web) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 503, 429]
    assert [a.headers["Retry-After"] for a in answers] == ["2", "2", "2"]
    assert all(a.headers["Content-Type"].startswith("text/html") for a in answers)
    assert build_info(web).status_code == 200
    assert web.throttled == 3


def test_throttling_counts_both_build_info_urls_and_nothing_else(web):
    web.throttle_next(2)
    assert requests.get(web.http_base_url + "/nope", timeout=TIMEOUT).status_code == 404
    assert requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT).status_code == 429
    assert build_info(web).status_code == 429
    assert requests.get(web.http_base_url + DISPLAY_BUILD_INFO_PATH, timeout=TIMEOUT).status_code == 200
    assert web.throttled == 2


def test_503_of_an_unavailable_window_does_not_use_up_the_throttle(web):
    web.throttle_next(1)
    web.unavailable_for(60)
    assert build_info(web).status_code == 503 and web.throttled == 0
    web.unavailable_for(0)
    assert build_info(web).status_code == 429
    assert build_info(web).status_code == 200


def test_throttle_zero_ends_it_and_bad_input_is_refused(web):
    web.throttle_next(5)
    web.throttle_next(0)
    assert build_info(web).status_code == 200
    for bad in ({"count": -1}, {"count": 1, "statuses": (500,)}, {"count": 1, "statuses": ()},
                {"count": 1, "retry_after": 1.5}, {"count": True}):
        with pytest.raises(ValueError):
            web.throttle_next(**bad)
    assert web.throttled == 0


# -- HTTPS -----------------------------------------------------------------------------------
def test_https_verified_with_ca_file(make_web, ca, server_cert):
    web = make_web(tls_cert=server_cert)
    assert web.https_base_url.startswith("https://127.0.0.1:")
    assert web.https_base_url != web.http_base_url.replace("http:", "https:")
    assert web.base_url == web.https_base_url
    response = build_info(web, base=web.https_base_url, verify=ca.ca_path,
                          headers={"Accept": "application/json"})
    assert response.json()["buildNumber"] == "0.170.0"
    page = requests.get("https://localhost:%d%s" % (int(web.https_base_url.rsplit(":", 1)[1]),
                                                    DISPLAY_BUILD_INFO_PATH),
                        verify=ca.ca_path, timeout=TIMEOUT)
    assert "Build Number: 0.170.0" in page.text
    # The plain HTTP server shares the state.
    web.set_version("0.176.0")
    assert served_version(web) == "0.176.0"
    assert build_info(web, base=web.https_base_url, verify=ca.ca_path).text.count("0.176.0") == 1


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_refused_without_ca_file(make_web, server_cert, capfd):
    web = make_web(tls_cert=server_cert)
    with pytest.raises(requests.exceptions.SSLError):
        build_info(web, base=web.https_base_url)
    with pytest.raises(requests.exceptions.SSLError):
        build_info(web, base=web.https_base_url, verify=True)
    # The failed handshakes did not disturb the server, nor write anything.
    assert build_info(web, base=web.https_base_url, verify=False).status_code == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_no_https_without_certificate(web):
    assert web.https_base_url is None
    assert web.base_url == web.http_base_url


# -- several instances, lifecycle ------------------------------------------------------------
def test_two_instances_side_by_side(make_web, server_cert, ca):
    dev = make_web(version="0.170.0", tls_cert=server_cert)
    qa = make_web(version="0.171.0", username="other", password="pw")
    ports = {dev.http_base_url, dev.https_base_url, qa.http_base_url}
    assert len(ports) == 3
    dev.set_version("0.176.0")
    assert served_version(dev) == "0.176.0"
    response = build_info(qa, auth=("other", "pw"))
    assert ET.fromstring(response.content).findtext("buildNumber") == "0.171.0"
    assert build_info(qa).status_code == 401  # dev's credentials are not qa's
    assert qa.requests[BUILD_INFO_PATH] == 2
    assert dev.requests[BUILD_INFO_PATH] == 1


def test_stop_releases_the_ports(ca, server_cert):
    web = HerdWeb(version="0.170.0", username=USER, password=PASSWORD, tls_cert=server_cert)
    web.start()
    with pytest.raises(RuntimeError):
        web.start()
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    assert session.get(web.http_base_url + BUILD_INFO_PATH, timeout=TIMEOUT).ok  # kept alive
    web.stop()
    assert not web.running
    # Nothing answers any more, not even on the kept-alive connection.
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(web.http_base_url + BUILD_INFO_PATH, timeout=TIMEOUT)
    with pytest.raises(requests.exceptions.ConnectionError):
        build_info(web, base=web.https_base_url, verify=ca.ca_path)
    session.close()
    # The ports can be bound again (as a restarted server would, with SO_REUSEADDR).
    for url in (web.http_base_url, web.https_base_url):
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    web.stop()  # a second stop is harmless


def test_context_manager_and_quiet(capfd):
    with HerdWeb(version="1.0.0", username="u", password="p") as web:
        requests.get(web.http_base_url + BUILD_INFO_PATH, timeout=TIMEOUT)
        requests.get(web.http_base_url + "/nope", timeout=TIMEOUT)
        with socket.create_connection(("127.0.0.1", int(web.http_base_url.rsplit(":", 1)[1]))) as s:
            s.sendall(b"garbage\r\n\r\n")
            s.recv(1024)
        assert web.running
    assert not web.running
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_bad_construction():
    with pytest.raises(ValueError):
        HerdWeb(version="")
    with pytest.raises(ValueError):
        HerdWeb(version="1.0", username="u", password=None)


def test_json_body_is_plain_json(web):
    body = build_info(web, headers={"Accept": "application/json"}).content
    assert json.loads(body.decode("utf-8"))["buildNumber"] == "0.170.0"
