# -*- coding: utf-8 -*-
# Copyright: contributors to the mdl.herd collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that talks HTTP to HERD: reading the version a stack serves.

HERD tells its version in two places (see the collection's domain notes):

* ``GET {base}/herd-app/rest/buildInfo``: XML by default, JSON when asked with
  ``Accept: application/json``; HTTP basic auth when the stack has SSL and auth enabled.
* ``GET {base}/herd-app/displayBuildInfo``: an HTML page with the lines ``Build Number: X``,
  ``Build User: Y``, ``Build Time: Z``, open without auth (the load balancer's health check).

:func:`locate` turns what a user gives (either URL, or the stack's base URL) into the URL to
read; :class:`HerdClient` reads it with one ``requests`` session and a timeout on every call,
and turns every failure into a :class:`HerdError` whose message is a sentence a person can
act on, marked ``transient`` when asking again later may help (connection errors, 5xx, 429
Too Many Requests; with the ``Retry-After`` HERD gave, if any);
:class:`BuildInfoCheck` is the question a ``_waiter.Waiter`` asks until HERD serves the
expected version.

XML is parsed with the standard library's expat, refusing any document type declaration, so
no entity can be declared, expanded or fetched.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import re
import time
import warnings
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit
from xml.parsers import expat

try:
    import requests
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    requests = None
    HAS_REQUESTS = False
    _REQUEST_ERRORS = (Exception,)
else:
    HAS_REQUESTS = True
    _REQUEST_ERRORS = (requests.exceptions.RequestException,)
REQUEST_ERRORS = _REQUEST_ERRORS  # what requests raises when a request gets no answer

from ansible_collections.mdl.herd.plugins.module_utils import _version

REST_PATH = "/herd-app/rest/buildInfo"
HTML_PATH = "/herd-app/displayBuildInfo"
APP_PATH = "/herd-app"

FORMATS = ("auto", "json", "xml", "html")
BODY_EXCERPT = 200
USER_AGENT = "mdl.herd"  # every read of HERD and of the artifact repository

ACCEPT = {
    "auto": "application/json, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1",
    "json": "application/json",
    "xml": "application/xml, text/xml;q=0.9",
    "html": "text/html, application/xhtml+xml;q=0.9",
}

URL_FORMS = (
    "HERD's REST buildInfo URL (https://host/herd-app/rest/buildInfo), its HTML page "
    "(https://host/herd-app/displayBuildInfo) or the stack's base URL (https://host)"
)


class HerdError(Exception):
    """A failure to read buildInfo; ``transient`` when asking again later may succeed.

    ``retry_after``: the seconds HERD asked the client to wait (its ``Retry-After``), or None.
    """

    transient = False

    def __init__(self, message, url=None, status_code=None, retry_after=None):
        super(HerdError, self).__init__(message)
        self.message = message
        self.url = url
        self.status_code = status_code
        self.retry_after = retry_after

    def __str__(self):
        return self.message


class HerdUnavailableError(HerdError):
    """HERD could not be reached, timed out or answered 5xx: traffic may be being rerouted."""

    transient = True


class HerdThrottledError(HerdUnavailableError):
    """429 Too Many Requests: HERD (or what is in front of it) is throttling; asking again later will do."""


class HerdAuthError(HerdError):
    """401 or 403: the credentials were refused. Asking again will not help."""


class HerdTlsError(HerdError):
    """The TLS certificate could not be verified. Asking again will not help."""


class HerdResponseError(HerdError):
    """An answer that is not buildInfo (4xx other than 401/403, or a body that does not parse)."""


class BuildInfoParseError(ValueError):
    """A body that does not hold a build number in the expected format."""


# --- URLs ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Location:
    """Where to read buildInfo: ``url`` and the ``kind`` of answer it gives (``rest`` or ``html``)."""

    url: str
    kind: str


def locate(url, fmt="auto", option="url"):
    """The buildInfo :class:`Location` for ``url`` and ``fmt``; ValueError naming ``option`` when it cannot be one.

    ``url`` may be the REST URL, the HTML page or a base URL (the REST path is then added, as
    under any other path prefix). ``fmt='html'`` reads the HTML page, ``json`` and ``xml`` the
    REST URL, ``auto`` whichever ``url`` names.
    """
    if fmt not in FORMATS:
        raise ValueError("format must be one of {0}; got {1!r}".format(", ".join(FORMATS), fmt))
    if not isinstance(url, str) or not url.strip():
        raise ValueError("{0} must be {1}; got {2!r}".format(option, URL_FORMS, url))
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # pylint: disable=pointless-statement  # raises ValueError on a bad port
    except ValueError as e:
        raise ValueError("{0} is not a valid URL ({1}): it must be {2}".format(option, e, URL_FORMS))
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("{0} must be an http:// or https:// URL: {1}; got {2!r}".format(option, URL_FORMS, text))
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "{0} must not hold credentials (user:password@host): give them as username and password, "
            "or set credentials_from_ssm: true".format(option)
        )
    path = parts.path.rstrip("/")
    if path.endswith(REST_PATH):
        root, kind = path[: -len(REST_PATH)], "rest"
    elif path.endswith(HTML_PATH):
        root, kind = path[: -len(HTML_PATH)], "html"
    elif path.endswith(APP_PATH):
        root, kind = path[: -len(APP_PATH)], "rest"
    else:
        root, kind = path, "rest"
    if fmt == "html":
        kind = "html"
    elif fmt in ("json", "xml"):
        kind = "rest"
    full_path = root + (HTML_PATH if kind == "html" else REST_PATH)
    return Location(urlunsplit((parts.scheme.lower(), parts.netloc, full_path, parts.query, "")), kind)


# --- bodies --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BuildInfo:
    """What HERD said: ``build_number`` (the HERD version), ``build_user``, ``build_date`` and how it said it."""

    build_number: str
    build_user: str | None = None
    build_date: str | None = None
    url: str | None = None
    format: str | None = None  # the format the body was read as: json, xml or html
    status_code: int | None = None

    def as_dict(self):
        """The fields, as the module returns them."""
        return dataclasses.asdict(self)


def _clean(value):
    if value is None:
        return None
    value = " ".join(str(value).split())
    return value or None


def _fields(build_number, build_user, build_date, fmt):
    build_number = _clean(build_number)
    if not build_number:
        raise BuildInfoParseError("the {0} body has no buildNumber".format(fmt))
    return build_number, _clean(build_user), _clean(build_date)


def parse_json(body):
    """(build_number, build_user, build_date) from ``{"buildNumber": ..., "buildUser": ..., "buildDate": ...}``."""
    if isinstance(body, bytes):
        body = body.decode("utf-8-sig", errors="replace")
    try:
        data = json.loads(body)
    except ValueError as e:
        raise BuildInfoParseError("the body is not JSON ({0})".format(e))
    if not isinstance(data, dict):
        raise BuildInfoParseError("the JSON body is not an object")
    for key in ("buildNumber", "buildUser", "buildDate"):
        if data.get(key) is not None and not isinstance(data[key], (str, int, float)):
            raise BuildInfoParseError("{0} in the JSON body is not a string".format(key))
    return _fields(data.get("buildNumber"), data.get("buildUser"), data.get("buildDate"), "JSON")


class _Refused(Exception):
    pass


def parse_xml(body):
    """(build_number, build_user, build_date) from ``<buildInformation>`` XML.

    Parsed by expat with every document type declaration refused: no entity can be declared,
    so none is expanded and nothing external is fetched. Namespaces are ignored (local names).
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    path = []
    texts = {}
    root = []

    def refuse(*args):
        raise _Refused("the XML body declares a document type or entities, which buildInfo never does")

    def start(name, attributes):
        local = name.rsplit(" ", 1)[-1]
        if not path:
            root.append(local)
        path.append(local)

    def end(name):
        path.pop()

    def data(text):
        if len(path) == 2 and root and root[0] == "buildInformation":
            texts[path[1]] = texts.get(path[1], "") + text

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(body, True)
    except _Refused as e:
        raise BuildInfoParseError(str(e))
    except expat.ExpatError as e:
        raise BuildInfoParseError("the body is not XML ({0})".format(expat.ErrorString(e.code)))
    if root != ["buildInformation"]:
        raise BuildInfoParseError("the XML body is <{0}>, not <buildInformation>".format(root[0] if root else ""))
    return _fields(texts.get("buildNumber"), texts.get("buildUser"), texts.get("buildDate"), "XML")


class _TextExtractor(HTMLParser):
    """The text of an HTML page, one line per line break or block element; scripts and styles skipped."""

    BREAKS = frozenset(("br", "p", "div", "li", "tr", "td", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "dt", "dd"))

    def __init__(self):
        super(_TextExtractor, self).__init__(convert_charrefs=True)
        self.parts = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    def text(self):
        return "".join(self.parts)


_HTML_FIELD = r"^[ \t]*{0}[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$"
_HTML_NUMBER = re.compile(_HTML_FIELD.format(r"Build[ \t]+Number"), re.IGNORECASE | re.MULTILINE)
_HTML_USER = re.compile(_HTML_FIELD.format(r"Build[ \t]+User"), re.IGNORECASE | re.MULTILINE)
_HTML_TIME = re.compile(_HTML_FIELD.format(r"Build[ \t]+(?:Time|Date)"), re.IGNORECASE | re.MULTILINE)


def parse_html(body):
    """(build_number, build_user, build_date) from the displayBuildInfo page (``Build Number: X`` lines)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    extractor = _TextExtractor()
    try:
        extractor.feed(body)
        extractor.close()
    except Exception as e:  # HTMLParser is lenient; be safe against anything it raises
        raise BuildInfoParseError("the body is not HTML ({0})".format(e))
    text = extractor.text().replace("\r", "\n").replace("\xa0", " ")
    found = [regex.search(text) for regex in (_HTML_NUMBER, _HTML_USER, _HTML_TIME)]
    if not found[0]:
        raise BuildInfoParseError("the HTML page has no 'Build Number:' line")
    values = [match.group(1) if match else None for match in found]
    return _fields(values[0], values[1], values[2], "HTML")


PARSERS = {"json": parse_json, "xml": parse_xml, "html": parse_html}


def detect_format(content_type, body):
    """The format of a body: from its Content-Type, else from its first characters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media in ("application/xml", "text/xml") or (media.endswith("+xml") and media != "application/xhtml+xml"):
        return "xml"
    if media in ("text/html", "application/xhtml+xml"):
        return "html"
    start = body.lstrip()[:64] if isinstance(body, bytes) else body.lstrip()[:64].encode("utf-8", "replace")
    start = start.lstrip(b"\xef\xbb\xbf").lower()
    if start[:1] in (b"{", b"["):
        return "json"
    if start.startswith(b"<?xml") or start.startswith(b"<buildinformation"):
        return "xml"
    if start.startswith(b"<"):
        return "html"
    return None


def excerpt(body, limit=BODY_EXCERPT):
    """The first ``limit`` characters of a body, as text, for an error message."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    body = body or ""
    return body[:limit] + ("..." if len(body) > limit else "")


def parse_body(body, content_type, fmt, url, status_code):
    """A :class:`BuildInfo` from an HTTP answer; HerdResponseError with its status and first 200 characters if it is not one."""
    chosen = fmt if fmt != "auto" else detect_format(content_type, body)
    try:
        if chosen is None:
            raise BuildInfoParseError("its format (Content-Type {0!r}) is neither JSON, XML nor HTML".format(content_type or ""))
        build_number, build_user, build_date = PARSERS[chosen](body)
    except BuildInfoParseError as e:
        raise HerdResponseError(
            "HERD at {0} answered {1} with a body that is not buildInfo: {2}. The body starts with: {3!r}".format(
                url, status_code, e, excerpt(body)
            ),
            url=url,
            status_code=status_code,
        )
    return BuildInfo(build_number, build_user, build_date, url=url, format=chosen, status_code=status_code)


# --- HTTP ----------------------------------------------------------------------------------
def describe_exception(exception):
    """The innermost, readable reason of a requests/urllib3 exception (no object addresses)."""
    reason = exception
    seen = set()
    while id(reason) not in seen:
        seen.add(id(reason))
        nested = getattr(reason, "reason", None)
        if nested is None and reason.args and isinstance(reason.args[0], BaseException):
            nested = reason.args[0]
        if not isinstance(nested, BaseException):
            break
        reason = nested
    text = str(reason) or type(reason).__name__
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*", "", text)
    return " ".join(text.split())


def retry_after(value, now=None):
    """The seconds a ``Retry-After`` header asks for (delay-seconds or an HTTP date), or None when it says nothing usable."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, round(moment.timestamp() - (time.time() if now is None else now), 3))


def _retry_after_phrase(seconds):
    if seconds is None:
        return ""
    return " (Retry-After: {0:g} s)".format(seconds)


def _status_phrase(response):
    reason = getattr(response, "reason", None) or ""
    return "{0} {1}".format(response.status_code, reason).strip()


def new_session():
    """A ``requests`` session as the collection reads HTTP with: its User-Agent set."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def head(url, auth=None, timeout=10, session=None):
    """One HEAD of ``url`` (redirects followed), for example a war in the artifact repository: the response.

    ``session`` may be given (tests, or reuse); otherwise one is made for this request and closed.
    requests' own exceptions (``REQUEST_ERRORS``) are raised as they come: :func:`describe_exception` words them.
    """
    own = session is None
    session = new_session() if own else session
    try:
        return session.head(url, auth=auth, timeout=timeout, allow_redirects=True)
    finally:
        if own:
            session.close()


class HerdClient(object):
    """Reads buildInfo from one :class:`Location` with one ``requests`` session.

    ``verify`` is True (the system's CAs), False (no verification) or the path of a CA bundle.
    ``session`` may be given (tests); otherwise one is created on first use.
    """

    def __init__(self, location, fmt="auto", username=None, password=None, timeout=10, verify=True, session=None):
        if session is None and not HAS_REQUESTS:
            raise RuntimeError("the requests library is required to read buildInfo")
        self.location = location
        self.format = fmt
        self.username = username
        self._auth = (username, password) if username is not None else None
        self.timeout = timeout
        self.verify = verify
        self._session = session

    @property
    def url(self):
        return self.location.url

    @property
    def session(self):
        if self._session is None:
            self._session = new_session()
        return self._session

    def close(self):
        if self._session is not None:
            self._session.close()

    def read(self):
        """One GET of buildInfo: a :class:`BuildInfo`, or a :class:`HerdError` raised."""
        url = self.url
        headers = {"Accept": ACCEPT[self.format if self.location.kind == "rest" else "html"]}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning when verify is False
                response = self.session.get(
                    url, headers=headers, auth=self._auth, timeout=self.timeout, verify=self.verify, allow_redirects=True
                )
        except _REQUEST_ERRORS as e:
            raise self._connection_error(e)
        try:
            return self._answer(response)
        finally:
            response.close()

    def _connection_error(self, exception):
        reason = describe_exception(exception)
        if (requests is not None and isinstance(exception, requests.exceptions.SSLError)) or _looks_like_tls(exception):
            return HerdTlsError(
                "Could not verify the TLS certificate of HERD at {0}: {1}. Set ca_path to the CA bundle that signed "
                "it, or validate_certs: false to skip verification".format(self.url, reason),
                url=self.url,
            )
        if requests is not None and isinstance(exception, requests.exceptions.Timeout):
            return HerdUnavailableError(
                "HERD at {0} did not answer within {1} s (timeout): {2}".format(self.url, self.timeout, reason), url=self.url
            )
        if requests is not None and isinstance(exception, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return HerdResponseError("Could not request {0}: {1}".format(self.url, reason), url=self.url)
        return HerdUnavailableError("Could not reach HERD at {0}: {1}".format(self.url, reason), url=self.url)

    def _answer(self, response):
        url = self.url
        status = response.status_code
        if status in (401, 403):
            if self.username is None:
                message = (
                    "HERD at {0} answered {1}: it requires HTTP basic auth. Give username and password, "
                    "or credentials_from_ssm: true with mdl_instance_name and mdl_environment".format(url, _status_phrase(response))
                )
            else:
                message = (
                    "HERD at {0} refused the credentials of user {1!r} ({2}): check the user and its password "
                    "(the admin credentials of the stack are in SSM; credentials_from_ssm: true reads them)".format(
                        url, self.username, _status_phrase(response)
                    )
                )
            raise HerdAuthError(message, url=url, status_code=status)
        if status == 429 or status >= 500:
            wait = retry_after(response.headers.get("Retry-After"))
            if status == 429:
                raise HerdThrottledError(
                    "HERD at {0} answered {1}{2}: it is throttling requests".format(
                        url, _status_phrase(response), _retry_after_phrase(wait)),
                    url=url, status_code=status, retry_after=wait,
                )
            raise HerdUnavailableError(
                "HERD at {0} answered {1}{2}".format(url, _status_phrase(response), _retry_after_phrase(wait)),
                url=url, status_code=status, retry_after=wait,
            )
        if status == 404:
            raise HerdResponseError(
                "HERD at {0} answered {1}: check that url is {2}".format(url, _status_phrase(response), URL_FORMS),
                url=url,
                status_code=status,
            )
        if status != 200:
            raise HerdResponseError(
                "HERD at {0} answered {1} where buildInfo was expected. The body starts with: {2!r}".format(
                    url, _status_phrase(response), excerpt(response.content)
                ),
                url=url,
                status_code=status,
            )
        return parse_body(response.content, response.headers.get("Content-Type"), self._format_for_body(), url, status)

    def _format_for_body(self):
        if self.location.kind == "html":
            return "html"
        return self.format


def _looks_like_tls(exception):
    """True for TLS failures that arrive wrapped in something other than requests' SSLError."""
    reason = exception
    for dummy in range(8):
        if reason is None:
            break
        name = type(reason).__name__
        if name in ("SSLError", "SSLCertVerificationError", "CertificateError"):
            return True
        reason = getattr(reason, "reason", None) or (reason.args[0] if reason.args and isinstance(reason.args[0], BaseException) else None)
    return False


# --- waiting for a version -----------------------------------------------------------------
class BuildInfoCheck(object):
    """The question a ``Waiter`` asks: does HERD serve the expected version yet?

    Call it: one read, returning ``(done, state)``. Transient errors (HERD unreachable, 5xx,
    429 Too Many Requests) are remembered and asked again; others (bad credentials, TLS, a body that is not
    buildInfo) are raised at once. Without an expected version, any answer is done; so is any
    with ``wait_for_match=False`` (the comparison is then only reported).
    """

    def __init__(self, client, expected_version=None, compare="equal", wait_for_match=True):
        self.client = client
        self.expected_version = expected_version
        self.compare = compare
        self.wait_for_match = wait_for_match
        self.attempts = 0
        self.last_info = None  # the last BuildInfo read, if any
        self.last_error = None  # the error of the last attempt, if it failed

    def matches(self, info):
        if self.expected_version is None:
            return None
        return _version.satisfies(info.build_number, self.expected_version, self.compare)

    def __call__(self):
        self.attempts += 1
        try:
            info = self.client.read()
        except HerdError as e:
            self.last_error = e
            if not e.transient:
                raise
            return False, e
        self.last_error = None
        self.last_info = info
        matched = self.matches(info)
        return matched is not False or not self.wait_for_match, info

    def result(self, elapsed):
        """What the module returns: the last buildInfo read, the attempts and the seconds they took."""
        out = {"url": self.client.url, "attempts": self.attempts, "elapsed_seconds": round(max(0.0, elapsed), 3)}
        if self.last_info is not None:
            out.update(self.last_info.as_dict())
            if self.expected_version is not None:
                out["matches"] = self.matches(self.last_info)
        if self.last_error is not None:
            out["status_code"] = self.last_error.status_code
        return out

    def expectation(self):
        if self.compare == "at_least":
            return "expected at least {0}".format(self.expected_version)
        return "expected {0}".format(self.expected_version)


def attempts_phrase(attempts, elapsed):
    return "({0} attempt{1} over {2:.0f} s)".format(attempts, "" if attempts == 1 else "s", elapsed)


def buildinfo_failure_message(check, elapsed):
    """Why a wait ended without the expected answer, as one sentence."""
    tail = attempts_phrase(check.attempts, elapsed)
    if check.last_error is not None:
        message = check.last_error.message
        if check.last_info is not None:
            message += "; it last reported {0}".format(check.last_info.build_number)
        if check.expected_version is not None:
            message += ", {0}".format(check.expectation())
        return "{0} {1}".format(message, tail)
    return "HERD at {0} reports {1}; {2} {3}".format(check.client.url, check.last_info.build_number, check.expectation(), tail)
