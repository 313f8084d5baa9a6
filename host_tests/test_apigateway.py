"""mpaws.apigateway: the requests it sends to API Gateway, checked against botocore's
SigV4Auth for service execute-api (the oracle: what API Gateway itself verifies), its URL
parsing, API-key mode, and how API Gateway's error replies map to mpaws errors.

The property test drives the real Api and Client (retries, headers) over a recording
connection: the request as it would go on the wire (method, target, headers, body) is
given to botocore, which signs it from its URL as API Gateway sees it; both Authorization
headers must be equal.
"""
import datetime
import json
import string
from unittest import mock

import pytest
from botocore import auth as botoauth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from mpaws import apigateway, client, errors, failures, http
from test_sigv4_botocore import DATES, FUZZ

ACCESS_KEY = "AKIAAPIGATEWAYTEST01"
SECRET_KEY = "apiGatewaySecret/NotToBeLogged+0123456789"
API_KEY = "k3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3yK3y1"


class RecordingConnection:
    """Stands in for http.Connection: records each request, answers 200 (or the given
    replies in turn)."""

    def __init__(self, host, port, replies=()):
        self.host = host
        self.port = port
        self.sent = []
        self.replies = list(replies)
        self.handshakes = 0
        self.timeout = 10
        self.reply_status = None

    def request(self, method, target, headers, body=None, max_body=None, deadline=None):
        if isinstance(body, (list, tuple)):
            body = "".join(p if isinstance(p, str) else bytes(p).decode() for p in body)
        self.sent.append((method, target, list(headers), body))
        if self.replies:
            status, reply = self.replies.pop(0)
            return http.Response(status, "", [("content-type", "application/json")], reply.encode())
        return http.Response(200, "OK", [("content-type", "application/json")], b'{"ok": true}')

    def close(self):
        pass


def recorded(api, replies=()):
    api.client = client.Client(api.signer, RecordingConnection(api.host, api.port, replies), base_delay_ms=1,
                               max_delay_ms=2)
    return api.client.connection


# -- the signature, against botocore ----------------------------------------------------------

SEGMENT_CHARS = st.one_of(
    st.sampled_from(list(string.ascii_letters + string.digits + "-._~ +%:@!$&'()*,;=")),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
)
# A segment starting with '.' is refused by Api.path (see test_dot_and_empty_segments_are_refused).
SEGMENTS = st.text(SEGMENT_CHARS, min_size=1, max_size=10).filter(lambda s: not s.startswith(".") and "/" not in s)
QUERY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
STAGES = st.one_of(st.sampled_from(["prod", "dev", "v1", "$default", "test-stage", "Stage_2"]),
                   st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=12))
HOSTS = st.one_of(
    st.builds("{}.execute-api.{}.amazonaws.com".format, st.text(string.ascii_lowercase + string.digits, min_size=10,
                                                                 max_size=10),
              st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"])),
    st.sampled_from(["api.example.com", "localhost:8443", "iot.example.org:443"]),
)


@st.composite
def api_requests(draw):
    host = draw(HOSTS)
    stage = draw(STAGES)
    # A custom domain may map the API at the root (no base path) or under one.
    base = "" if ":" not in host and "execute-api" not in host and draw(st.booleans()) else "/" + stage
    segments = draw(st.lists(SEGMENTS, min_size=1, max_size=5))
    path = "/" + "/".join(segments) + ("/" if draw(st.booleans()) else "")
    method = draw(st.sampled_from(["GET", "POST"]))
    query = draw(st.lists(st.tuples(QUERY_TEXT, QUERY_TEXT), max_size=4)) if method == "GET" else None
    body = None
    if method == "POST":
        body = json.dumps({"subject": draw(QUERY_TEXT), "body": draw(QUERY_TEXT)}, ensure_ascii=draw(st.booleans()))
    token = draw(st.one_of(st.none(), st.text(string.ascii_letters + string.digits + "/+=", min_size=20,
                                               max_size=60)))
    return dict(url="https://%s%s" % (host, base), path=path, method=method, query=query, body=body,
                date=draw(DATES), token=token, region=draw(st.sampled_from(["us-east-1", "eu-central-1"])))


def botocore_authorization(case, method, target, headers, body, region):
    """botocore's SigV4Auth for execute-api over the request as sent: its URL (the wire
    target), its headers, its body, at the case's time."""
    host = [v for n, v in headers if n == "host"][0]
    request = AWSRequest(method=method, url="https://" + host + target, data=body.encode() if body else None)
    for name, value in headers:
        if name.lower() not in ("authorization", "x-amz-date", "x-amz-security-token"):
            request.headers[name] = value
    creds = Credentials(ACCESS_KEY, SECRET_KEY, case["token"])
    frozen = datetime.datetime.strptime(case["date"], "%Y%m%dT%H%M%SZ")
    with mock.patch.object(botoauth, "get_current_datetime", return_value=frozen):
        botoauth.SigV4Auth(creds, "execute-api", region).add_auth(request)
    return request.headers["Authorization"]


@FUZZ
@given(api_requests())
@example(dict(url="https://localhost:8443/execute-api", path="/0", method="GET", query=[], body=None,
              date="20000101T000000Z", token=None, region="us-east-1"))  # a stage named as AWS's hosts are
def test_iam_requests_are_signed_as_botocore_signs_them(case):
    note(case)
    # By the host: a custom domain's stage may itself be named "execute-api".
    aws_host = ".execute-api." in case["url"].split("/")[2]
    api = apigateway.Api(case["url"], access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=case["token"],
                         region=None if aws_host else case["region"])
    connection = recorded(api)
    with mock.patch("mpaws.clock.amz_date", return_value=case["date"]):
        reply = api.request(case["method"], case["path"], case["query"], case["body"],
                            "application/json" if case["body"] else None)
    assert reply.status == 200 and reply.json() == {"ok": True}
    [(method, target, headers, body)] = connection.sent
    assert target.startswith(api.base + "/")
    region = api.region
    if aws_host:
        assert region == case["url"].split(".")[2]  # from the host name
    expected = botocore_authorization(case, method, target, headers, body, region)
    assert dict(headers)["Authorization"] == expected
    assert "/execute-api/aws4_request" in expected


def test_stage_and_nested_unicode_path_on_the_wire():
    api = apigateway.Api("https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod", access_key=ACCESS_KEY,
                         secret_key=SECRET_KEY)
    connection = recorded(api)
    api.get("/items/Tür offen/🚪", [("q", "a b"), ("lang", "dé")])
    [(method, target, headers, _)] = connection.sent
    assert target == "/prod/items/T%C3%BCr%20offen/%F0%9F%9A%AA?q=a%20b&lang=d%C3%A9"
    assert dict(headers)["host"] == "abc123defg.execute-api.eu-west-1.amazonaws.com"
    assert "/eu-west-1/execute-api/aws4_request" in dict(headers)["Authorization"]


@pytest.mark.parametrize("path", ["/a//b", "/.well-known", "/a/../b", "/a/./b"])
def test_dot_and_empty_segments_are_refused(path):
    api = apigateway.Api("https://api.example.com/v1", api_key=API_KEY)
    with pytest.raises(ValueError, match="segment"):
        api.post(path, "{}")


# -- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url, expected", [
    ("https://abc123.execute-api.us-west-2.amazonaws.com/prod", ("abc123.execute-api.us-west-2.amazonaws.com", 443,
                                                                  "/prod", "us-west-2")),
    ("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/v1/", ("abc123.execute-api.cn-north-1.amazonaws.com.cn",
                                                                     443, "/v1", "cn-north-1")),
    ("https://api.example.com", ("api.example.com", 443, "", None)),
    ("https://api.example.com/devices/v2", ("api.example.com", 443, "/devices/v2", None)),
    ("https://localhost:8443/prod", ("localhost", 8443, "/prod", None)),
    ("https://localhost:1/prod", ("localhost", 1, "/prod", None)),  # the ports at either end
    ("https://localhost:65535/prod", ("localhost", 65535, "/prod", None)),
    # Every printable character but space, '?' and '#' is a path's: '!' is the first after space.
    ("https://api.example.com/!$&'()*+,;=:@-_~", ("api.example.com", 443, "/!$&'()*+,;=:@-_~", None)),
    # An execute-api name outside amazonaws.com (a private DNS name): no region taken from it.
    ("https://abc123.execute-api.us-west-2.amazonaws/prod", ("abc123.execute-api.us-west-2.amazonaws", 443, "/prod",
                                                             None)),
])
def test_parse_url(url, expected):
    assert apigateway.parse_url(url) == expected


@pytest.mark.parametrize("url, words", [
    ("http://abc.execute-api.us-east-1.amazonaws.com/prod", "https://"),
    ("https://api.example.com/prod?x=1", "query"),
    ("https://api.example.com/a//b", "segment"),
    ("https://api.example.com:99999/prod", "port"),
    ("https://api.example.com:65536/prod", "port"),
    ("https://api.example.com:0/prod", "port"),
    ("https://api_example.com/prod", "host"),
    ("https:///prod", "host"),
    ("https://:8443/prod", "host"),
    ("https://api.example.com/pr od", "spaces"),
])
def test_bad_urls_are_refused(url, words):
    with pytest.raises(ValueError, match=words):
        apigateway.parse_url(url)


def test_custom_domain_needs_a_region_for_iam():
    with pytest.raises(ValueError, match="region"):
        apigateway.Api("https://api.example.com/v1", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    api = apigateway.Api("https://api.example.com/v1", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                         region="eu-west-1")
    assert api.region == "eu-west-1"


# -- API key ----------------------------------------------------------------------------------


def test_api_key_mode_sends_the_key_and_no_signature():
    api = apigateway.Api("https://api.example.com/v1", api_key=API_KEY)
    connection = recorded(api)
    reply = api.post("/notify", {"subject": "s", "body": "b"})
    assert reply.status == 200
    [(method, target, headers, body)] = connection.sent
    names = [n.lower() for n, _ in headers]
    assert (method, target) == ("POST", "/v1/notify") and json.loads(body) == {"subject": "s", "body": "b"}
    assert dict(headers)["x-api-key"] == API_KEY
    assert "authorization" not in names and "x-amz-date" not in names
    assert API_KEY not in repr(api) and API_KEY not in repr(api.signer)


@pytest.mark.parametrize("key", ["", "with space in the key 0123", "line\r\nbreak0123456789", "ü" * 30])
def test_bad_api_key_is_refused_without_quoting_it(key):
    with pytest.raises(ValueError) as raised:
        apigateway.KeyAuth(key)
    assert not key or key not in str(raised.value)


# -- API Gateway's replies ------------------------------------------------------------------

GATEWAY_REPLIES = [
    # (status, body, x-amzn-ErrorType, expected class, words in the message, retryable)
    (403, '{"message":"Missing Authentication Token"}', "MissingAuthenticationTokenException", "NotFound",
     ("stage", "CONFIG_AWS_API_URL"), False),
    (403, '{"message":"Forbidden"}', "ForbiddenException", "AccessDenied", ("CONFIG_AWS_API_KEY", "usage plan",
                                                                            "execute-api:Invoke"), False),
    (404, '{"message":"Not Found"}', None, "NotFound", ("stage",), False),
    (429, '{"message":"Too Many Requests"}', "TooManyRequestsException", "Throttled", ("rate limit",), True),
    (429, '{"message":"Limit Exceeded"}', "LimitExceededException", "Throttled", ("quota",), True),
    (502, '{"message": "Internal server error"}', "InternalServerErrorException", "ServiceError",
     ("function's logs",), True),
    (500, '{"message":"Internal Server Error"}', None, "ServiceError", ("function's logs",), True),
    (504, '{"message": "Endpoint request timed out"}', None, "ServiceError", ("29 s",), True),
    (403, '{"message":"The request signature we calculated does not match the signature you provided."}',
     "InvalidSignatureException", "InvalidSignature", ("signature",), False),
    (403, '{"Message":"User: arn:aws:iam::123456789012:user/d is not authorized to perform: execute-api:Invoke on '
          'resource: arn:aws:execute-api:us-east-1:123456789012:abc/prod/POST/other"}', "AccessDeniedException",
     "AccessDenied", ("not authorized",), False),
    (403, '{"message":"Signature expired: 20240101T000000Z is now earlier than 20240101T000100Z"}',
     "InvalidSignatureException", "ClockSkew", ("Signature expired",), False),
]


@pytest.mark.parametrize("status, body, error_type, name, words, retryable", GATEWAY_REPLIES)
def test_gateway_replies_say_what_to_check(status, body, error_type, name, words, retryable):
    error = failures.from_response(status, error_type, body.encode(), "req-1")
    assert type(error).__name__ == name, error
    assert error.retryable == retryable and error.status == status
    for word in words:
        assert word in str(error)
    assert errors.refusal(error) is None  # none of these is about the message: it stays in the outbox


@pytest.mark.parametrize("error_type, refused", [("InvalidMessage", True), ("ValueError", False),
                                                 ("TypeError", False), ("TopicNotAllowed", False)])
def test_the_functions_proxy_refusal_is_a_function_error(error_type, refused):
    body = json.dumps({"errorType": error_type, "errorMessage": "subject: must be 1 to 100 characters"})
    error = failures.from_response(400 if refused else 403, None, body.encode())
    assert isinstance(error, errors.FunctionError) and error.error_type == error_type
    assert "subject: must be" in str(error)
    assert (errors.refusal(error) is not None) == refused


def test_throttled_then_accepted_through_the_client_retries():
    api = apigateway.Api("https://api.example.com/v1", api_key=API_KEY)
    connection = recorded(api, [(429, '{"message":"Too Many Requests"}'), (502, '{"message": "Internal server '
                                                                                 'error"}')])
    assert api.post("/notify", "{}").status == 200
    assert len(connection.sent) == 3 and api.client.attempts == 3


def test_errors_never_show_the_api_key():
    api = apigateway.Api("https://api.example.com/v1", api_key=API_KEY)
    recorded(api, [(403, '{"message":"Forbidden"}')])
    with pytest.raises(errors.AccessDenied) as raised:
        api.post("/notify", "{}")
    assert API_KEY not in str(raised.value) and API_KEY not in repr(raised.value)


# -- the same under MicroPython ---------------------------------------------------------------

_MICROPYTHON_SIGNER = """
import json, sys
sys.path.insert(0, sys.argv[2])
from mpaws import apigateway, client, clock, http

class Recording:
    def __init__(self, host, port):
        self.host, self.port, self.sent, self.timeout = host, port, [], 10
    def request(self, method, target, headers, body=None, max_body=None, deadline=None):
        self.sent.append((method, target, headers))
        return http.Response(200, "OK", [], b"{}")
    def close(self):
        pass

out = []
for case in json.load(open(sys.argv[1])):
    api = apigateway.Api(case["url"], access_key=case["access_key"], secret_key=case["secret_key"],
                         session_token=case["token"], region=case["region"])
    api.client = client.Client(api.signer, Recording(api.host, api.port))
    clock.amz_date = lambda: case["date"]
    query = [tuple(p) for p in case["query"]] if case["query"] is not None else None
    api.request(case["method"], case["path"], query, case["body"], "application/json" if case["body"] else None)
    method, target, headers = api.client.connection.sent[0]
    out.append([method, target, [list(h) for h in headers]])
print(json.dumps(out))
"""


@settings(FUZZ, max_examples=2, suppress_health_check=list(HealthCheck))  # 2 runs of 60 requests each
@given(st.lists(api_requests(), min_size=60, max_size=60))
def test_micropython_signs_execute_api_requests_as_botocore(micropython, tmp_path_factory, cases):
    """Random requests (stages, nested Unicode paths, queries, tokens), signed by the firmware
    under MicroPython, against botocore over the request as sent."""
    from conftest import FIRMWARE_LIB, run_micropython

    tmp_path = tmp_path_factory.mktemp("mp")
    for case in cases:
        case.update(access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                    region=None if ".execute-api." in case["url"].split("/")[2] else case["region"])
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    script = tmp_path / "sign.py"
    script.write_text(_MICROPYTHON_SIGNER)
    proc = run_micropython(micropython, [str(script), str(path), FIRMWARE_LIB], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for case, (method, target, headers) in zip(cases, json.loads(proc.stdout)):
        region = apigateway.parse_url(case["url"])[3] or case["region"]
        body = case["body"]
        assert dict(headers)["Authorization"] == botocore_authorization(case, method, target, headers, body, region)
