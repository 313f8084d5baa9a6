"""The device client end to end: app.notify() and mpaws.awslambda.Lambda.invoke() from the
firmware, run under MicroPython (the unix port) and CPython, against the local AWS
stand-in (aws_server.py), which checks every request's SigV4 signature with botocore.

Each scenario counts what the server received: a notification is delivered exactly once,
retries happen only where they should, and the TLS connection is kept alive."""
import os
import base64
import json
import re
import subprocess
import time
from urllib.parse import quote

import pytest

from aws_fixtures import aws_server, aws_server_factory  # noqa: F401
from conftest import FIRMWARE
from device import FAST, assert_error, device, notify, runtime  # noqa: F401

INVOKE = "/2015-03-31/functions/%s/invocations"


def event_for(dev, subject, body):
    return {"topic": dev.config["CONFIG_AWS_SNS_TOPIC_ARN"], "subject": subject, "body": body}


MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def sent(event):
    """An event as app.notify() sent it, without its message id (which is checked)."""
    event = dict(event)
    assert MESSAGE_ID.match(event.pop("id")), event
    return event


def all_signed(server):
    return [r.signature for r in server.requests] == ["ok"] * len(server.requests)


# -- delivery ---------------------------------------------------------------------------


def test_notify_delivers_the_payload_once(device, aws_server):
    device.use_server(aws_server)
    result = device.run([notify("subject", "body")]).result
    expected = event_for(device, "subject", "body")
    assert result["ok"] and result["status"] == 200, result
    assert sent(json.loads(result["payload"])) == expected  # the echo function returns its event
    assert result["executed_version"] == "$LATEST"
    assert result["attempts"] == 1 and result["handshakes"] == 1
    assert [sent(e) for e in aws_server.invocations("notify")] == [expected]
    assert len(aws_server.requests) == 1 and all_signed(aws_server)
    request = aws_server.requests[0]
    assert request.path == INVOKE % "notify" and request.query == []
    assert request.header("Host") == "localhost:%d" % aws_server.port
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Amz-Invocation-Type") is None
    assert aws_server.handshakes == 1


TEXTS = [
    ("Température \"haute\" 🌡", "ligne 1\nligne 2\r\n\ttabulée \\ fin"),
    ("", ""),
    ("quote \" backslash \\ slash / control \x01\x1f", "日本語のテキスト, emoji 🎉, nul \x00 end"),
    ("x" * 300, "long body " * 200),  # over the 512-byte write buffer
]


# What notify() sends: TEXTS' odd characters in the body; subjects SNS accepts (printable
# ASCII, 1 to 100 characters), with the characters JSON escapes.
NOTIFIED = [("Temperature \"haute\" \\ /", s + "\n" + b) for s, b in TEXTS]


def test_text_arrives_intact(device, aws_server):
    """Non-ASCII, quotes, backslashes, newlines and control characters survive the
    device's own JSON encoding and the signed body, byte for byte."""
    device.use_server(aws_server)
    run = device.run([notify(s, b) for s, b in NOTIFIED])
    for (subject, body), result in zip(NOTIFIED, run.results):
        assert result["ok"], result
        assert sent(json.loads(result["payload"])) == event_for(device, subject, body)
    assert [sent(e) for e in aws_server.invocations("notify")] == [event_for(device, s, b) for s, b in NOTIFIED]
    assert len(aws_server.requests) == len(NOTIFIED) and all_signed(aws_server)
    # The body on the wire is the device's encoding: UTF-8, not \\u escapes.
    assert "Température".encode() in aws_server.requests[0].body


def test_payload_matches_pythons_json(device):
    """app.payload() is formatted like json.dumps (non-ASCII kept as UTF-8) on both runtimes."""
    device.write_config()
    run = device.run([{"op": "payload", "subject": s, "body": b} for s, b in TEXTS])
    for (subject, body), result in zip(TEXTS, run.results):
        expected = json.dumps(event_for(device, subject, body), ensure_ascii=False)
        assert result["payload"] == expected


@pytest.mark.parametrize("function, qualifier, version", [
    ("notify", None, "$LATEST"),
    ("notify:live", "live", "2"),
    ("notify:1", "1", "1"),
    ("arn:aws:lambda:us-east-1:123456789012:function:notify", None, "$LATEST"),
    ("arn:aws:lambda:us-east-1:123456789012:function:notify:live", "live", "2"),
])
def test_function_name_forms(device, aws_server, function, qualifier, version):
    """CONFIG_AWS_LAMBDA_FUNCTION as a name, name:qualifier or ARN: the path carries it
    URI-encoded (':' as %3A), the server decodes it and runs the right version."""
    aws_server.register_function("notify", lambda e: e, versions=("$LATEST", "1", "2"), aliases={"live": "2"})
    device.use_server(aws_server, CONFIG_AWS_LAMBDA_FUNCTION=function)
    result = device.run([notify()]).result
    assert result["ok"] and result["executed_version"] == version, result
    request = aws_server.requests[0]
    assert request.path == INVOKE % quote(function, safe="")
    assert ("%3A" in request.path) == (":" in function)
    assert len(aws_server.requests) == 1 and all_signed(aws_server)
    [invocation] = aws_server.invocation_log
    assert (invocation.function, invocation.qualifier, invocation.version) == ("notify", qualifier, version)


def test_invoke_options(device, aws_server):
    """Lambda().invoke: Qualifier query, Event (202) and DryRun (204), log tail (a header
    line longer than the read buffer, decoded), client context."""

    def logger(event, context):
        context.log("héllo from the function")
        context.log("x" * 3500)  # the tail is the last 4 KB: ~5.5 KB of base64 in one header
        return {"event": event, "client_context": context.client_context}

    aws_server.register_function("logger", logger, versions=("$LATEST", "1"))
    device.use_server(aws_server, CONFIG_AWS_LAMBDA_FUNCTION="logger")
    client_context = {"custom": {"device": "esp32 ✓"}, "env": {"platform": "micropython"}}
    run = device.run([
        {"op": "invoke", "payload": '{"n": 1}', "qualifier": "1"},
        {"op": "invoke", "payload": '{"n": 2}', "invocation_type": "Event"},
        {"op": "invoke", "payload": '{"n": 3}', "invocation_type": "DryRun"},
        {"op": "invoke", "payload": '{"n": 4}', "log_tail": True},
        {"op": "invoke", "payload": '{"n": 5}', "client_context": client_context},
        {"op": "invoke"},  # no payload: an empty body
    ])
    qualified, event, dry_run, tail, with_context, empty = run.results
    assert qualified["status"] == 200 and qualified["executed_version"] == "1", qualified
    assert json.loads(qualified["payload"])["event"] == {"n": 1}
    assert event["status"] == 202 and event["payload"] == "", event
    assert dry_run["status"] == 204 and dry_run["payload"] == "", dry_run
    assert tail["status"] == 200 and tail["log_tail"] is not None, tail
    assert "héllo from the function\n" + "x" * 3500 + "\n" in tail["log_tail"]
    assert tail["log_tail"].startswith("START RequestId: ") or "END RequestId: " in tail["log_tail"]
    assert with_context["status"] == 200 and qualified["log_tail"] is None
    assert json.loads(with_context["payload"])["client_context"] == client_context
    assert empty["status"] == 200 and json.loads(empty["payload"])["event"] == {}

    requests = aws_server.requests
    assert len(requests) == 6 and all_signed(aws_server)
    assert requests[0].query == [("Qualifier", "1")] and requests[0].target == INVOKE % "logger" + "?Qualifier=1"
    assert requests[1].header("X-Amz-Invocation-Type") == "Event"
    assert requests[2].header("X-Amz-Invocation-Type") == "DryRun"
    assert requests[3].header("X-Amz-Log-Type") == "Tail"
    assert json.loads(base64.b64decode(requests[4].header("X-Amz-Client-Context"))) == client_context
    assert requests[5].body == b"" and requests[5].header("Content-Length") == "0"
    # DryRun runs nothing; the others ran once each.
    assert aws_server.invocations("logger") == [{"n": 1}, {"n": 2}, {"n": 4}, {"n": 5}, {}]
    assert [i.invocation_type for i in aws_server.invocation_log] == ["RequestResponse", "Event",
                                                                      "RequestResponse", "RequestResponse",
                                                                      "RequestResponse"]
    assert aws_server.handshakes == 1


# -- retries ----------------------------------------------------------------------------


def test_throttled_three_times_then_delivered_once(device, aws_server):
    device.use_server(aws_server)
    aws_server.throttle_next(3)
    run = device.run([FAST, notify()])
    result = run.results[1]
    assert result["ok"] and result["attempts"] == 4, result
    assert [r.status for r in aws_server.requests] == [429, 429, 429, 200]
    assert [sent(e) for e in aws_server.invocations("notify")] == [event_for(device, "subject", "body")]
    assert all_signed(aws_server) and aws_server.handshakes == 1
    assert run.log.count("Rate exceeded (HTTP 429, TooManyRequestsException") == 3
    assert "retry 3 of 3" in run.log


def test_throttled_on_every_attempt_gives_up(device, aws_server):
    device.use_server(aws_server)
    aws_server.throttle_next(4)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "Throttled", "Rate exceeded", "gave up after 4 attempts")
    assert result["status"] == 429 and result["code"] == "TooManyRequestsException"
    assert [r.status for r in aws_server.requests] == [429] * 4
    assert aws_server.invocations("notify") == []


@pytest.mark.parametrize("statuses", [(503, 503, 503), (500,), (502, 504)])
def test_server_errors_then_delivered_once(device, aws_server, statuses):
    """A 5xx burst (JSON ServiceException, or a gateway's HTML page for 502/504) is retried."""
    device.use_server(aws_server)
    for status in statuses:
        aws_server.fail_next(status)
    result = device.run([FAST, notify()]).results[1]
    assert result["ok"] and result["attempts"] == len(statuses) + 1, result
    assert [r.status for r in aws_server.requests] == list(statuses) + [200]
    assert len(aws_server.invocations("notify")) == 1 and all_signed(aws_server)


@pytest.mark.parametrize("status, code, error", [
    (400, "ValidationException", "BadRequest"),
    (403, "AccessDeniedException", "AccessDenied"),
    (404, "ResourceNotFoundException", "NotFound"),
    (413, "RequestEntityTooLargeException", "PayloadTooLarge"),
])
def test_client_errors_are_never_retried(device, aws_server, status, code, error):
    device.use_server(aws_server)
    aws_server.fail_next(status, code, "injected %d" % status)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, error, "injected %d" % status)
    assert result["status"] == status and result["code"] == code and result["attempts"] == 1
    assert len(aws_server.requests) == 1 and aws_server.invocations("notify") == []


def test_dropped_connection_is_retried(device, aws_server):
    """The server reads the request and closes without a reply (nothing ran): retried."""
    device.use_server(aws_server)
    aws_server.drop_next()
    result = device.run([FAST, notify()]).results[1]
    assert result["ok"] and result["attempts"] == 2 and result["handshakes"] == 2, result
    assert len(aws_server.requests) == 2 and len(aws_server.invocations("notify")) == 1


def test_retry_after_beyond_the_budget_gives_up_at_once(device, aws_server):
    """mpaws.client.connect(budget_ms=300): a Retry-After of 1 s cannot fit, so no retry."""
    device.use_server(aws_server)
    aws_server.fail_next(429, headers=[("Retry-After", "1")])
    started = time.monotonic()
    result = device.run([{"op": "connect", "max_attempts": 5, "budget_ms": 300}]).result
    assert_error(result, "Throttled", "retry budget of 300 ms spent")
    assert result["attempts"] == 1 and len(aws_server.requests) == 1
    assert time.monotonic() - started < 1.0  # it did not sleep for the Retry-After


# -- the connection -----------------------------------------------------------------------


def test_ten_notifies_one_handshake(device, aws_server):
    device.use_server(aws_server)
    run = device.run([notify("n%d" % i, "b") for i in range(10)])
    assert [r["ok"] for r in run.results] == [True] * 10
    assert [r["handshakes"] for r in run.results] == [1] * 10
    assert aws_server.handshakes == 1 and aws_server.connections == 1
    assert [e["subject"] for e in aws_server.invocations("notify")] == ["n%d" % i for i in range(10)]
    assert all_signed(aws_server)


def test_idle_connection_closed_by_the_server_reconnects(device, aws_server):
    """The server closes a kept-alive connection after 0.2 s idle: the next notify opens a
    new one without an error and is delivered once."""
    aws_server.idle_timeout = 0.2
    device.use_server(aws_server)
    run = device.run([notify("first", "b"), {"op": "sleep", "seconds": 0.5}, notify("second", "b")])
    first, _, second = run.results
    assert first["ok"] and second["ok"], run
    assert (first["handshakes"], second["handshakes"]) == (1, 2)
    assert second["attempts"] == 1  # the reconnect is not a retry
    assert [e["subject"] for e in aws_server.invocations("notify")] == ["first", "second"]
    assert len(aws_server.requests) == 2 and aws_server.handshakes == 2
    assert "failed" not in run.log


@pytest.mark.parametrize("announce", [False, True])
def test_connection_closed_after_a_reply(device, aws_server, announce):
    """Closed silently after the reply (found closed at the next request), or announced
    with Connection: close: either way the next notify reconnects and is delivered once."""
    device.use_server(aws_server)
    aws_server.close_after_next(announce=announce)
    run = device.run([notify("first", "b"), notify("second", "b"), notify("third", "b")])
    assert [r["handshakes"] for r in run.results] == [1, 2, 2]
    assert [r["attempts"] for r in run.results] == [1, 1, 1]
    assert [e["subject"] for e in aws_server.invocations("notify")] == ["first", "second", "third"]
    assert len(aws_server.requests) == 3 and aws_server.handshakes == 2


@pytest.mark.parametrize("sizes", [(1, 7, 64), (700,), (1, 7, 700)])
def test_chunked_reply(device, aws_server, sizes):
    """Transfer-Encoding: chunked replies, small chunks and chunks over the 512-byte buffer."""
    aws_server.register_function("notify", lambda e: {"event": e, "filler": "y" * 3000})
    aws_server.chunk_sizes = sizes
    device.use_server(aws_server)
    run = device.run([notify("first", "b"), notify("second", "b")])
    for subject, result in zip(("first", "second"), run.results):
        assert result["ok"], result
        reply = json.loads(result["payload"])
        assert sent(reply["event"]) == event_for(device, subject, "b") and reply["filler"] == "y" * 3000
    assert aws_server.handshakes == 1 and len(aws_server.requests) == 2


def test_reply_slower_than_the_timeout(device, aws_server):
    """CONFIG_TIMEOUT = 0.5 s, reply after 1.5 s: errors.Timeout (one attempt)."""
    device.use_server(aws_server, CONFIG_TIMEOUT=0.5)
    aws_server.delay_next(1.5)
    started = time.monotonic()
    result = device.run([dict(FAST, max_attempts=1), notify()]).results[1]
    assert_error(result, "Timeout", "no answer from localhost:%d within the timeout" % aws_server.port)
    assert result["classes"][:2] == ["Timeout", "NetworkError"] and result["retryable"] is True
    assert time.monotonic() - started < 1.4
    assert len(aws_server.requests) == 1


def test_slow_reply_within_the_timeout(device, aws_server):
    device.use_server(aws_server, CONFIG_TIMEOUT=2)
    aws_server.delay_next(0.3)
    result = device.run([notify()]).result
    assert result["ok"] and result["attempts"] == 1
    assert len(aws_server.invocations("notify")) == 1


# -- the clock ----------------------------------------------------------------------------


@pytest.mark.parametrize("offset, words", [(3600, "Signature expired"), (-3600, "Signature not yet current")])
def test_clock_off_by_an_hour_is_corrected(device, aws_server_factory, offset, words):
    """The server's clock is an hour ahead of (behind) the device: the first request gets
    403 with a Date header, the device learns the offset, signs again, and is delivered
    once; a second notify needs no correction."""
    server = aws_server_factory(clock_offset=offset)
    device.use_server(server)
    run = device.run([notify("first", "b"), notify("second", "b")])
    first, second = run.results
    assert first["ok"] and second["ok"], run
    assert abs(first["offset"] - offset) <= 2 and second["offset"] == first["offset"]
    assert first["attempts"] == 1 and second["attempts"] == 1
    assert [r.status for r in server.requests] == [403, 200, 200]
    assert server.requests[0].error_type == "InvalidSignatureException"
    assert [e["subject"] for e in server.invocations("notify")] == ["first", "second"]
    assert run.log.count("device clock is off by") == 1 and words in run.log
    assert all_signed(server)


SKEW = "Signature expired: 20200101T000000Z is now earlier than 20200101T000500Z (20200101T001000Z - 5 min.)"


@pytest.mark.parametrize("date", ["not a date", "Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT",
                                  "Sat, 31 Feb 2027 10:00:00 GMT", "Mon, 01 Jan 99999 00:00:00 GMT",
                                  "Thu, 03 Dec 2026 25:61:00 GMT"])
def test_clock_skew_without_a_plausible_date_is_retried_and_the_clock_left_alone(device, aws_server, date):
    """No plausible Date to learn from (not a date, before the firmware's year, decades
    ahead, not a real day or time): a retryable errors.ProtocolError that names the skew;
    the clock is not touched (no gmtime of an absurd number) and the message is kept."""
    device.use_server(aws_server)
    aws_server.fail_next(403, "InvalidSignatureException", SKEW, headers=[("Date", date)], count=4)
    run = device.run([FAST, notify(), {"op": "status"}] if device.sim else [FAST, notify()])
    result = run.results[1]
    assert_error(result, "ProtocolError", "Signature expired", "clock left unchanged", "kept in the outbox")
    assert result["attempts"] == 4 and result["offset"] == 0 and len(aws_server.requests) == 4


def test_clock_is_corrected_only_once_per_request(device, aws_server):
    """A second skew reply after the correction is raised, not corrected again (no loop)."""
    device.use_server(aws_server)
    aws_server.fail_next(403, "InvalidSignatureException", SKEW, count=2)
    run = device.run([FAST, notify(), notify()])
    assert_error(run.results[1], "ClockSkew", "Signature expired")
    assert run.results[2]["ok"]
    assert [r.status for r in aws_server.requests] == [403, 403, 200]
    assert run.log.count("corrected, signing again") == 1


# -- replies ------------------------------------------------------------------------------


def test_reply_delimited_by_the_connection_closing(device, aws_server):
    """No Content-Length and no chunking: the body ends where the server closes."""
    device.use_server(aws_server)
    aws_server.inject(eof=True)
    run = device.run([notify("first", "b"), notify("second", "b")])
    first, second = run.results
    assert sent(json.loads(first["payload"])) == event_for(device, "first", "b")
    assert second["ok"] and (first["handshakes"], second["handshakes"]) == (1, 2)
    assert len(aws_server.invocations("notify")) == 2


def test_reply_over_the_body_limit(device, aws_server):
    """A 70 KB reply is over the 64 KB limit: to Lambda.invoke, errors.ResponseTooLarge,
    not retried, and the connection is not reused for the next request. To notify(), the
    200 said AWS accepted the message: delivered once, out of the outbox, with a log line."""
    aws_server.register_function("big", lambda e: {"filler": "y" * 70000})
    device.use_server(aws_server, CONFIG_AWS_LAMBDA_FUNCTION="big")
    run = device.run([FAST, {"op": "invoke", "function": "big", "payload": "{}"},
                      {"op": "invoke", "function": "notify", "payload": "{}"}, notify()])
    assert_error(run.results[1], "ResponseTooLarge", "of 70014 bytes is over the limit of 65536")
    assert run.results[1]["attempts"] == 1
    assert run.results[2]["ok"] and run.results[2]["handshakes"] == 2
    assert run.results[3]["ok"] and run.results[3]["attempts"] == 1
    assert "accepted; its reply could not be read: ResponseTooLarge" in run.log
    assert len(aws_server.invocation_log) == 3
    assert not os.path.exists(os.path.join(device.dir, "outbox.txt")) or "host." not in open(
        os.path.join(device.dir, "outbox.txt")).read()


def test_timeout_mid_reply_is_retried_so_the_function_can_run_twice(device, aws_server):
    """At-least-once, like the AWS SDKs: a reply that stalls past CONFIG_TIMEOUT after the
    request was sent is a Timeout, which is retried; the function had already run, so it
    runs again. notify() reports one success; the function saw the event twice."""
    device.use_server(aws_server, CONFIG_TIMEOUT=0.3)
    aws_server.chunk_next(sizes=(5,), chunk_delay=0.5)
    run = device.run([FAST, notify()])
    result = run.results[1]
    assert result["ok"] and result["attempts"] == 2 and result["handshakes"] == 2, result
    assert "no answer from localhost:%d within the timeout" % aws_server.port in run.log
    assert len(aws_server.invocations("notify")) == 2


# -- a reply cut inside a UTF-8 character (for a log line or an error message) ---------------


def test_notify_log_preview_cut_inside_a_character(device, aws_server):
    """app.notify logs the first 200 bytes of the reply: a character cut there must not
    turn a delivered notification into an exception."""
    # '{"msg": "' is 9 bytes, then 2-byte characters: byte 199 starts one.
    aws_server.register_function("notify", lambda e: ('{"msg": "' + "é" * 150 + '"}').encode())
    device.use_server(aws_server)
    result = device.run([notify()]).result
    assert len(aws_server.invocation_log) == 1
    assert result.get("ok"), result


def test_function_error_payload_cut_inside_a_character(device, aws_server):
    """The message of errors.FunctionError comes from the first 4096 bytes of the payload."""
    body = ('{"errorMessage":  "' + "é" * 3000 + '"}').encode()  # 19 bytes, then 2-byte characters
    aws_server.fail_next(200, body=body, headers=[("X-Amz-Function-Error", "Unhandled")])
    device.use_server(aws_server)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "FunctionError", "function notify failed (Unhandled): éé")
    assert result["payload"] == body.decode()


def test_error_message_kept_when_the_body_is_cut_inside_a_character(device, aws_server):
    """failures.from_response reads AWS's message from the first 4096 bytes of the body."""
    body = '{"message": "' + "é" * 3000 + '"}'  # 13 bytes, then 2-byte characters: byte 4095 starts one
    aws_server.fail_next(400, body=body, headers=[("x-amzn-ErrorType", "ValidationException")])
    device.use_server(aws_server)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "BadRequest", "éééé")


# -- what a successful notify keeps in the heap ------------------------------------------------

LOADED_MODULES = """
import sys
sys.path[:0] = [%(config)r, %(firmware)r, %(firmware)r + "/lib"]
import app
app.log = lambda message: None
try:
    app.notify("subject", "body")
    print("sent")
except Exception as e:
    print(type(e).__name__)
print(" ".join(sorted(name for name in sys.modules if name.startswith("mpaws"))))
"""


@pytest.mark.parametrize("function, outcome", [("notify", "sent"), ("nope", "NotFound")])
def test_failure_code_is_loaded_only_on_a_failure(device, aws_server, function, outcome):
    """The failure code (mpaws.failures: AWS's error replies; mpaws.network_errors: socket
    errors; mpaws.undelivered: what becomes of the message; mpaws.error_kinds: the
    exception classes) stays out of the heap of a device whose requests succeed. After a
    failure only the exception classes stay: the rest is let go of once it was handled."""
    device.use_server(aws_server, CONFIG_AWS_LAMBDA_FUNCTION=function)
    script = LOADED_MODULES % {"config": device.dir, "firmware": FIRMWARE}
    proc = subprocess.run([device.executable, "-c", script], cwd=device.dir, capture_output=True, text=True,
                          timeout=30)
    device.check_no_secret(proc.stdout + proc.stderr)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[0] == outcome, proc.stdout + proc.stderr
    modules = lines[1].split()
    assert "mpaws.http" in modules and "mpaws.client" in modules
    assert ("mpaws.error_kinds" in modules) == (outcome != "sent")
    for name in ("mpaws.failures", "mpaws.network_errors", "mpaws.undelivered", "mpaws.awslambda"):
        assert name not in modules, modules
