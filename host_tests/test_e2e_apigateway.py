"""End to end through API Gateway: the firmware's app.notify() under MicroPython and CPython
-> TLS -> the stand-in's API Gateway (tools/localaws/local_apigw.py: an HTTP API with IAM
authorization, a REST API with an API key, both from moto's models) -> the Lambda function
cloud/lambda_function.py (proxy event, proxy response) -> moto's SNS.

Every outcome is read from moto's SNS topic and from the requests each API recorded. The
outbox keeps the message on every failure here (wrong key, wrong stage, denied, throttled,
a failed integration); only a message the function refuses for its content leaves it.
"""
import json
import os
import ssl
import socket
import uuid

import pytest

from device import FAST, assert_error, device, notify, runtime  # noqa: F401
from local_aws_fixtures import aws, stand_in  # noqa: F401

MODES = ["iam", "key"]
WIFI = dict(CONFIG_WIFI_SSID="lab", CONFIG_WIFI_PASSWORD="wifi-password-not-to-print")


def use(device, aws, mode, **keys):
    device.write_config(**aws.api_config(mode == "key", CONFIG_TIMEOUT=15, **keys))
    return aws.gateway.rest_api if mode == "key" else aws.gateway.http_api


def token():
    return uuid.uuid4().hex[:12]


def delivered(aws, body):
    return [m for m in aws.sns_messages() if m["message"] == body]


@pytest.mark.parametrize("mode", MODES)
def test_notify_through_api_gateway(device, stand_in, mode):
    aws = stand_in
    api = use(device, aws, mode)
    subject = "Door open (%s)" % token()
    body = "Température 21.5 °C ✓ 门开了 🚪 \"quoted\" \\ %s" % token()
    mark = len(api.requests)
    result = device.run([notify(subject, body)]).result
    assert result.get("ok") and result["status"] == 200, result
    [sent] = delivered(aws, body)
    reply = json.loads(result["payload"])
    assert sent["subject"] == subject and reply["messageId"] == sent["message_id"]
    assert reply["id"].startswith("host.") and sent["attributes"]["mpaws-id"]["Value"] == reply["id"]
    [request] = api.client_requests(mark)
    assert (request.method, request.path, request.status) == ("POST", "/%s/notify" % api.stage, 200)
    event = json.loads(request.body)
    assert (event["topic"], event["subject"], event["body"], event["id"]) == (aws.topic_arn, subject, body,
                                                                            reply["id"])
    if mode == "iam":
        assert "/us-east-1/execute-api/aws4_request" in request.header("Authorization")
        assert request.header("x-api-key") is None
    else:
        assert request.header("x-api-key") == aws.gateway.api_key
        assert request.header("Authorization") is None and request.header("X-Amz-Date") is None
        assert "CONFIG_AWS_ACCESS_KEY = None" in open(os.path.join(device.dir, "config.py")).read()
    assert api.alpn[-1] is None  # the device offered no ALPN; the server offers h2 and http/1.1


def test_the_server_offers_h2_which_the_device_never_asks_for(stand_in):
    api = stand_in.gateway.rest_api
    context = ssl.create_default_context(cafile=stand_in.ca_pem)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", api.port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"


def test_wrong_api_key_is_refused_and_the_message_kept(device, stand_in):
    aws = stand_in
    wrong = "WrongKey" + "x" * 32
    use(device, aws, "key", CONFIG_AWS_API_KEY=wrong)
    body = "wrong key " + token()
    result = device.run([notify("s", body)]).result
    assert_error(result, "AccessDenied", "Forbidden", "CONFIG_AWS_API_KEY", "kept in the outbox as ")
    assert result["status"] == 403 and delivered(aws, body) == []
    assert wrong not in result["message"]  # device.run also checks it shows nowhere in the output


@pytest.mark.parametrize("mode, stage, words", [
    ("key", "v2", ("Missing Authentication Token", "stage")),
    ("iam", "staging", ("Not Found", "stage")),
])
def test_wrong_stage_says_check_the_url(device, stand_in, mode, stage, words):
    aws = stand_in
    api = use(device, aws, mode)
    use(device, aws, mode, CONFIG_AWS_API_URL=api.url.rsplit("/", 1)[0] + "/" + stage)
    body = "wrong stage " + token()
    result = device.run([notify("s", body)]).result
    assert_error(result, "NotFound", "CONFIG_AWS_API_URL", "kept in the outbox as host.", *words)
    assert delivered(aws, body) == []


def test_iam_key_without_execute_api_invoke_is_denied(device, stand_in):
    """The Lambda-mode device's key (lambda:InvokeFunction only) signs correctly but may not
    invoke the route: moto's policy engine says no."""
    aws = stand_in
    use(device, aws, "iam", CONFIG_AWS_ACCESS_KEY=aws.access_key, CONFIG_AWS_SECRET_KEY=aws.secret_key)
    body = "denied " + token()
    result = device.run([notify("s", body)]).result
    assert_error(result, "AccessDenied", "is not authorized to perform: execute-api:Invoke", "kept in the outbox")
    assert delivered(aws, body) == []


def test_wrong_secret_is_an_invalid_signature(device, stand_in):
    aws = stand_in
    use(device, aws, "iam", CONFIG_AWS_SECRET_KEY="x" * 40)
    result = device.run([notify("s", "bad secret " + token())]).result
    assert_error(result, "InvalidSignature", "signature", "kept in the outbox")


def test_device_clock_off_is_corrected_from_the_reply(device, stand_in):
    aws = stand_in
    api = use(device, aws, "iam")
    aws.clock_offset = 3600.0  # the device is an hour behind
    body = "clock " + token()
    mark = len(api.requests)
    result = device.run([notify("s", body)]).result
    assert result.get("ok"), result
    assert [r.status for r in api.client_requests(mark)] == [403, 200]
    assert len(delivered(aws, body)) == 1


@pytest.mark.parametrize("mode", MODES)
def test_throttled_twice_then_delivered_once(device, stand_in, mode):
    aws = stand_in
    api = use(device, aws, mode)
    api.throttle_next(2)
    body = "throttled " + token()
    mark = len(api.requests)
    run = device.run([FAST, notify("s", body)])
    assert run.results[1].get("ok") and run.results[1]["attempts"] == 3, run
    assert [r.status for r in api.client_requests(mark)] == [429, 429, 200]
    assert len(delivered(aws, body)) == 1


def test_usage_plan_rate_limit_keeps_the_message_until_flush(device, stand_in):
    """A usage plan of one request per 20 s: the second notify is throttled through every
    retry and stays in the outbox; a flush once the rate allows delivers it."""
    aws = stand_in
    device.sim = True
    device.secrets.append(WIFI["CONFIG_WIFI_PASSWORD"])
    api = use(device, aws, "key", **WIFI)
    aws.gateway.set_usage_plan_throttle(0.05, 1)
    first, second = "rate 1 " + token(), "rate 2 " + token()
    mark = len(api.requests)
    run = device.run([FAST, notify("s", first), notify("s", second)])
    assert run.results[1].get("ok"), run
    assert_error(run.results[2], "Throttled", "Too Many Requests", "rate limit", "kept in the outbox as ")
    assert [r.status for r in api.client_requests(mark)] == [200, 429, 429, 429, 429]
    assert delivered(aws, second) == []
    aws.gateway.set_usage_plan_throttle(100, 200)
    run = device.run([{"op": "flush"}, {"op": "outbox"}])
    assert run.results[0]["sent"] == 1 and run.results[1]["outbox"] == [], run
    assert len(delivered(aws, first)) == 1 and len(delivered(aws, second)) == 1


@pytest.mark.parametrize("mode, status", [("key", 502), ("iam", 500)])
def test_integration_failure_is_retried_then_kept(device, stand_in, mode, status):
    aws = stand_in
    device.sim = True
    device.secrets.append(WIFI["CONFIG_WIFI_PASSWORD"])
    api = use(device, aws, mode, **WIFI)
    api.fail_integration_next(4)
    body = "integration " + token()
    run = device.run([FAST, notify("s", body)])
    assert_error(run.results[1], "ServiceError", "integration behind the route failed", "function's logs",
                 "gave up after 4 attempts", "kept in the outbox as ")
    assert run.results[1]["status"] == status and delivered(aws, body) == []
    run = device.run([{"op": "flush"}, {"op": "outbox"}])
    assert run.results[0]["sent"] == 1 and run.results[1]["outbox"] == [] and len(delivered(aws, body)) == 1


def test_topic_outside_the_allow_list_is_kept(device, stand_in):
    """The function's 403 TopicNotAllowed (a proxy response) is a FunctionError about the
    configuration, not the message: kept."""
    aws = stand_in
    other = "arn:aws:sns:%s:%s:elsewhere" % (aws.region, aws.account_id)
    use(device, aws, "key", CONFIG_AWS_SNS_TOPIC_ARN=other)
    result = device.run([notify("s", "elsewhere " + token())]).result
    assert_error(result, "FunctionError", "TopicNotAllowed", other, "kept in the outbox as ")
    assert result["status"] == 403 and result["error_type"] == "TopicNotAllowed"


@pytest.mark.parametrize("mode", MODES)
def test_flush_drops_a_message_the_function_refuses_and_delivers_the_next(device, stand_in, mode):
    """A message stored by a firmware that did not check it (a subject SNS refuses): the
    function's proxy response refuses it (400 ValueError), flush() drops it with a log line
    and delivers the one after it."""
    from mpaws import outbox

    aws = stand_in
    device.sim = True
    device.secrets.append(WIFI["CONFIG_WIFI_PASSWORD"])
    use(device, aws, mode, **WIFI)
    tag = token()
    poison = outbox.Outbox(os.path.join(device.dir, "outbox.txt"), 50, "old").add("Tür offen", "poison " + tag)
    run = device.run([{"op": "queue", "subject": "good", "body": "good " + tag}, {"op": "flush"},
                      {"op": "status"}, {"op": "outbox"}])
    flushed, status, left = run.results[1:]
    assert flushed["sent"] == 1 and status["refused"] == 1 and left["outbox"] == [], run
    [line] = [line for line in run.log.splitlines() if line.startswith("mpaws: dropped %s " % poison)]
    assert "refused by the function: InvalidMessage: subject: SNS allows only printable ASCII" in line
    assert [m["message"] for m in aws.sns_messages() if tag in m["message"]] == ["good " + tag]


@pytest.mark.parametrize("mode", MODES)
def test_burst_of_50_notifies_on_one_connection(device, stand_in, mode):
    aws = stand_in
    api = use(device, aws, mode)
    tag = token()
    bodies = ["burst %s #%d" % (tag, i) for i in range(50)]
    mark, handshakes = len(api.requests), api.handshakes
    run = device.run([notify("burst", body) for body in bodies], timeout=180)
    assert all(r["ok"] for r in run.results), run
    assert run.results[-1]["handshakes"] == 1 and api.handshakes == handshakes + 1
    requests = api.client_requests(mark)
    assert len(requests) == 50 and len({r.connection for r in requests}) == 1
    assert sorted(m["message"] for m in aws.sns_messages() if tag in m["message"]) == sorted(bodies)


# -- make demo MODE=api / api-iam ----------------------------------------------------------------


@pytest.mark.parametrize("runtime, mode, request_line, auth", [  # one runtime each: the demo takes seconds
    ("micropython", "api", "POST /v1/notify HTTP/1.1\n", "x-api-key: (40 characters, not shown)\n"),
    ("cpython", "api-iam", "POST /prod/notify HTTP/1.1\n", "/us-east-1/execute-api/aws4_request"),
])
def test_demo_through_api_gateway(runtime, mode, request_line, auth):
    import subprocess
    import sys

    from conftest import REPO

    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("DEVICE", "SUBJECT", "BODY", "MODE"):
        env.pop(name, None)
    subject, body = "Demo " + token(), "Body ✓ " + token()
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "demo.py"), "--device", runtime, "--mode", mode,
                           "--subject", subject, "--body", body], cwd=REPO, env=env, capture_output=True, text=True,
                          encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    request = out.index(request_line)
    reply = out.index("--- the API Gateway reply", request)
    assert request < out.index(auth, request) < reply
    assert out.index("Subject:    %s\nMessage:    %s\n" % (subject, body), reply) and "OK: delivered once" in out
