"""The stand-in's API Gateway (tools/localaws/local_apigw.py) on its own, with botocore-signed and
hand-made requests as clients: the proxy events the function gets, API Gateway's error
replies, what moto's models say (routes, keys, usage plans), ALPN, and the program's
--api option and control port."""
import http.client
import json
import os
import ssl
import stat
import subprocess
import sys
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REPO, STAND_IN
from local_aws_fixtures import aws, stand_in  # noqa: F401


def post(aws, endpoint, path, body, headers=None, alpn=None):
    context = ssl.create_default_context(cafile=aws.ca_pem)
    if alpn:
        context.set_alpn_protocols(alpn)
    connection = http.client.HTTPSConnection("localhost", endpoint.port, context=context, timeout=15)
    try:
        connection.request("POST", path, body, headers or {})
        reply = connection.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        connection.close()


def signed_headers(aws, endpoint, path, body, access_key=None, secret_key=None, service="execute-api"):
    request = AWSRequest(method="POST", url="https://localhost:%d%s" % (endpoint.port, path), data=body,
                         headers={"content-type": "application/json"})
    SigV4Auth(Credentials(access_key or aws.gateway.access_key, secret_key or aws.gateway.secret_key), service,
              aws.region).add_auth(request)
    return dict(request.headers)


def notify_body(aws, body="hello"):
    return json.dumps({"topic": aws.topic_arn, "subject": "s", "body": body}).encode()


def test_http_api_event_is_payload_format_2(stand_in, monkeypatch):
    aws = stand_in
    api = aws.gateway.http_api
    seen = []
    handler = aws.runtime._handler()
    monkeypatch.setattr(aws.runtime, "_handler", lambda: lambda event, context: seen.append(event) or
                        handler(event, context))
    body = notify_body(aws, "event 2.0")
    status, headers, reply = post(aws, api, "/prod/notify?x=1", body, signed_headers(aws, api, "/prod/notify?x=1",
                                                                                     body))
    assert status == 200 and "messageId" in json.loads(reply) and headers["apigw-requestid"]
    [event] = seen
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0", "POST /notify", "/prod/notify", "x=1")
    context = event["requestContext"]
    assert (context["stage"], context["apiId"], context["http"]["method"]) == ("prod", api.api_id, "POST")
    assert context["authorizer"]["iam"]["accessKey"] == aws.gateway.access_key
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"x": "1"} and event["headers"]["content-type"] == "application/json"


def test_rest_api_event_is_payload_format_1(stand_in, monkeypatch):
    aws = stand_in
    api = aws.gateway.rest_api
    seen = []
    handler = aws.runtime._handler()
    monkeypatch.setattr(aws.runtime, "_handler", lambda: lambda event, context: seen.append(event) or
                        handler(event, context))
    status, headers, _ = post(aws, api, "/v1/notify", b"\x00\xffbinary", {"x-api-key": aws.gateway.api_key,
                                                                          "content-type": "application/octet-stream"})
    assert status == 400 and headers["x-amzn-requestid"]  # the function refuses it: not JSON
    [event] = seen
    assert (event["httpMethod"], event["resource"], event["path"]) == ("POST", "/notify", "/notify")
    assert (event["requestContext"]["stage"], event["requestContext"]["path"]) == ("v1", "/v1/notify")
    assert event["isBase64Encoded"] is True and event["requestContext"]["identity"]["apiKey"] == aws.gateway.api_key


@pytest.mark.parametrize("case, status, error_type, message", [
    ("no signature", 403, "ForbiddenException", "Forbidden"),
    ("wrong service", 403, "InvalidSignatureException", "Credential should be scoped to correct service"),
    ("wrong secret", 403, "InvalidSignatureException", "signature we calculated does not match"),
    ("unknown key", 403, "UnrecognizedClientException", "security token included in the request is invalid"),
    ("not allowed", 403, "AccessDeniedException", "is not authorized to perform: execute-api:Invoke"),
    ("wrong stage", 404, None, "Not Found"),
    ("wrong route", 404, None, "Not Found"),
])
def test_http_api_error_replies(stand_in, case, status, error_type, message):
    aws = stand_in
    api = aws.gateway.http_api
    path = {"wrong stage": "/dev/notify", "wrong route": "/prod/other"}.get(case, "/prod/notify")
    body = notify_body(aws)
    headers = {
        "no signature": lambda: {},
        "wrong service": lambda: signed_headers(aws, api, path, body, service="lambda"),
        "wrong secret": lambda: signed_headers(aws, api, path, body, secret_key="x" * 40),
        "unknown key": lambda: signed_headers(aws, api, path, body, access_key="AKIAUNKNOWNUNKNOWN00"),
        "not allowed": lambda: signed_headers(aws, api, path, body, aws.access_key, aws.secret_key),  # Lambda's
    }.get(case, lambda: signed_headers(aws, api, path, body))()
    got, reply_headers, reply = post(aws, api, path, body, headers)
    assert got == status and reply_headers.get("x-amzn-errortype") == error_type
    assert message in reply.decode()


@pytest.mark.parametrize("case, status, error_type, message", [
    ("no key", 403, "ForbiddenException", '{"message": "Forbidden"}'),
    ("wrong key", 403, "ForbiddenException", '{"message": "Forbidden"}'),
    ("wrong stage", 403, "MissingAuthenticationTokenException", '{"message": "Missing Authentication Token"}'),
    ("wrong route", 403, "MissingAuthenticationTokenException", '{"message": "Missing Authentication Token"}'),
])
def test_rest_api_error_replies(stand_in, case, status, error_type, message):
    aws = stand_in
    api = aws.gateway.rest_api
    path = {"wrong stage": "/v2/notify", "wrong route": "/v1/other"}.get(case, "/v1/notify")
    key = {"no key": None, "wrong key": "WrongKey" * 5}.get(case, aws.gateway.api_key)
    got, headers, reply = post(aws, api, path, notify_body(aws), {"x-api-key": key} if key else {})
    assert (got, headers["x-amzn-errortype"], reply.decode()) == (status, error_type, message)


def test_a_disabled_key_is_forbidden(stand_in):
    from moto.apigateway.models import apigateway_backends

    aws = stand_in
    [key] = [k for k in apigateway_backends[aws.account_id][aws.region].keys.values() if k.value == aws.gateway.api_key]
    key.enabled = False
    try:
        assert post(aws, aws.gateway.rest_api, "/v1/notify", notify_body(aws), {"x-api-key": key.value})[0] == 403
    finally:
        key.enabled = True


def test_usage_plan_throttle_answers_429(stand_in):
    aws = stand_in
    aws.gateway.set_usage_plan_throttle(0.01, 2)
    headers = {"x-api-key": aws.gateway.api_key}
    statuses = [post(aws, aws.gateway.rest_api, "/v1/notify", notify_body(aws), headers)[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, reply_headers, reply = post(aws, aws.gateway.rest_api, "/v1/notify", notify_body(aws), headers)
    assert (status, reply_headers["x-amzn-errortype"], reply) == (429, "TooManyRequestsException",
                                                                  b'{"message": "Too Many Requests"}')


@pytest.mark.parametrize("kind, status, body", [("rest", 502, b'{"message": "Internal server error"}'),
                                                ("http", 500, b'{"message": "Internal Server Error"}')])
def test_integration_failure(stand_in, kind, status, body):
    aws = stand_in
    api = aws.gateway.rest_api if kind == "rest" else aws.gateway.http_api
    api.fail_integration_next()
    path = "/%s/notify" % api.stage
    payload = notify_body(aws)
    headers = {"x-api-key": aws.gateway.api_key} if kind == "rest" else signed_headers(aws, api, path, payload)
    assert post(aws, api, path, payload, headers)[::2] == (status, body)
    headers = {"x-api-key": aws.gateway.api_key} if kind == "rest" else signed_headers(aws, api, path, payload)
    assert post(aws, api, path, payload, headers)[0] == 200  # the next one goes through


def test_the_function_raising_is_an_integration_failure(stand_in, monkeypatch):
    aws = stand_in

    def broken(event, context):
        raise RuntimeError("SNS is down")

    monkeypatch.setattr(aws.runtime, "_handler", lambda: broken)
    status, _, body = post(aws, aws.gateway.rest_api, "/v1/notify", notify_body(aws),
                           {"x-api-key": aws.gateway.api_key})
    assert (status, body) == (502, b'{"message": "Internal server error"}')


def test_alpn_h2_is_offered_and_http11_spoken(stand_in):
    aws = stand_in
    api = aws.gateway.rest_api
    count = len(api.alpn)
    status, _, _ = post(aws, api, "/v1/notify", notify_body(aws), {"x-api-key": aws.gateway.api_key},
                        alpn=["h2", "http/1.1"])
    assert status == 200 and api.alpn[count] == "h2"  # selected, yet the client spoke HTTP/1.1 and was answered
    post(aws, api, "/v1/notify", notify_body(aws), {"x-api-key": aws.gateway.api_key})
    assert api.alpn[count + 1] is None


def test_program_writes_an_api_key_config_and_never_prints_the_key(tmp_path):
    folder = tmp_path / "aws"
    proc = subprocess.Popen([sys.executable, os.path.join(STAND_IN, "local_aws.py"), "--dir", str(folder),
                             "--api", "key"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.strip() == "ready":
                break
            lines.append(line)
        config = {}
        exec((folder / "config.py").read_text(), config)
        state = json.loads((folder / "state.json").read_text())
        assert stat.S_IMODE(os.stat(folder / "config.py").st_mode) == 0o600
        assert config["CONFIG_AWS_API_URL"] == state["api_gateway"]["rest_api"]["url"]
        assert config["CONFIG_AWS_ACCESS_KEY"] is None and len(config["CONFIG_AWS_API_KEY"]) == 40
        assert config["CONFIG_AWS_API_KEY"] not in "".join(lines) + json.dumps(state)
        assert "API Gateway" in "".join(lines) and "key mode" in "".join(lines)
        import urllib.request

        with urllib.request.urlopen(state["control"] + "/api_requests", timeout=10) as reply:
            assert json.loads(reply.read()) == []
    finally:
        proc.terminate()
        proc.wait(20)
