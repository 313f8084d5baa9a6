"""End to end: the firmware's app.notify() under MicroPython and CPython -> TLS -> the local
AWS stand-in (tools/localaws/local_aws.py: moto with its signature check, plus AWS's clock and
keep-alive behaviour) -> the Lambda function cloud/lambda_function.py -> moto's SNS.

Every outcome is read back from moto's SNS topic (what was really published) and from the
requests the stand-in recorded. One stand-in serves the whole module; each test marks
where its requests start and sends bodies with a token of its own. A device of another
clock is a stand-in whose clock is shifted the other way (the offset between the two is
what the device sees and must learn).
"""
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote

import pytest

from conftest import REPO
from device import FAST, assert_error, device, notify, runtime  # noqa: F401
from local_aws_fixtures import aws, stand_in  # noqa: F401


def use(device, aws, direct_sns=False, **keys):
    device.write_config(**aws.device_config(direct_sns, CONFIG_TIMEOUT=15, **keys))


def token():
    return uuid.uuid4().hex[:12]


def delivered(aws, body):
    return [m for m in aws.sns_messages() if m["message"] == body]


def invokes(aws, since):
    return [r for r in aws.client_requests(since) if r.is_invoke]


def test_happy_path(device, stand_in):
    aws = stand_in
    use(device, aws)
    subject = "Door open (%s)" % token()
    body = "Température intérieure 21.5 °C ✓ — ünïcödé 门开了 🚪\nline 2 \"quoted\" \\ %s" % token()
    mark = len(aws.requests)
    result = device.run([notify(subject, body)]).result
    assert result.get("ok") and result["status"] == 200, result
    sent = delivered(aws, body)
    assert [(m["topic"], m["subject"]) for m in sent] == [(aws.topic_arn, subject)]
    assert json.loads(result["payload"])["messageId"] == sent[0]["message_id"]
    [request] = invokes(aws, mark)
    assert request.status == 200 and request.path == "/2015-03-31/functions/%s/invocations" % aws.function_name
    event = json.loads(request.body)
    assert (event["topic"], event["subject"], event["body"]) == (aws.topic_arn, subject, body)
    assert request.raw.endswith(request.body) and request.header("Authorization").startswith("AWS4-HMAC-SHA256 ")


def test_wrong_secret_is_an_invalid_signature(device, stand_in):
    aws = stand_in
    use(device, aws, CONFIG_AWS_SECRET_KEY=aws.secret_key[::-1])  # same length and alphabet
    body = "never sent " + token()
    mark = len(aws.requests)
    result = device.run([notify("s", body)]).result
    assert_error(result, "InvalidSignature", "signature we calculated does not match")
    assert result["status"] == 403 and result["attempts"] == 1
    assert [r.status for r in invokes(aws, mark)] == [403]
    assert delivered(aws, body) == [] and aws.requests[mark:] == aws.client_requests(mark)  # the function never ran


@pytest.mark.parametrize("device_clock", [3600, -3600], ids=["1h-fast", "1h-slow"])
def test_device_clock_off_by_an_hour(device, stand_in, device_clock):
    aws = stand_in
    aws.clock_offset = -device_clock
    use(device, aws)
    body = "clock %+d %s" % (device_clock, token())
    mark = len(aws.requests)
    result = device.run([notify("clock", body)]).result
    assert result.get("ok"), result
    assert abs(result["offset"] + device_clock) <= 5  # learnt from the Date header
    first, second = invokes(aws, mark)
    words = b"Signature not yet current" if device_clock > 0 else b"Signature expired"
    assert first.status == 403 and words in first.reply and b"\r\nDate: " in first.reply
    assert second.status == 200
    assert len(delivered(aws, body)) == 1


def test_throttled_three_times_then_delivered_once(device, stand_in):
    aws = stand_in
    use(device, aws)
    aws.throttle_next(3)
    body = "throttled " + token()
    mark = len(aws.requests)
    run = device.run([FAST, notify("throttled", body)])
    result = run.results[1]
    assert result["ok"] and result["attempts"] == 4, run
    assert [r.status for r in invokes(aws, mark)] == [429, 429, 429, 200]
    assert len(delivered(aws, body)) == 1


def test_stand_in_restarted_between_two_notifies(device, stand_in, tmp_path):
    aws = stand_in
    use(device, aws)
    first_body, second_body = "before restart " + token(), "after restart " + token()
    mark = len(aws.requests)
    runs = []
    restarted, waiting = tmp_path / "restarted", tmp_path / "waiting"
    steps = [notify("restart", first_body), {"op": "wait_for_file", "path": str(restarted), "signal": str(waiting)},
             notify("restart", second_body)]
    thread = threading.Thread(target=lambda: runs.append(device.run(steps, timeout=60)))
    thread.start()
    deadline = time.monotonic() + 30
    # Once the first notify is done, its reply read: the stand-in has the reply before it
    # is written, and restarting then would cut it (the device then sends it again).
    while not waiting.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    aws.restart()  # while the device waits with its connection open
    restarted.write_text("go")
    thread.join(90)
    first, waited, second = runs[0].results
    assert waited["ok"], waited
    assert first["ok"] and second["ok"], runs[0]
    assert second["handshakes"] == 2  # it noticed the closed connection and connected again
    requests = invokes(aws, mark)
    assert [r.status for r in requests] == [200, 200] and requests[0].connection != requests[1].connection
    assert len(delivered(aws, first_body)) == 1 and len(delivered(aws, second_body)) == 1


@pytest.mark.parametrize("form", ["arn:alias", "name:version"])
def test_function_with_a_qualifier(device, stand_in, form):
    aws = stand_in
    function = aws.function_arn + ":" + aws.function_alias if form == "arn:alias" else aws.function_name + ":1"
    use(device, aws, CONFIG_AWS_LAMBDA_FUNCTION=function)
    body = "qualified " + token()
    mark = len(aws.requests)
    result = device.run([notify("qualified", body)]).result
    assert result["ok"] and result["executed_version"] == "1", result
    [request] = invokes(aws, mark)
    assert request.path == "/2015-03-31/functions/%s/invocations" % quote(function, safe="")
    assert len(delivered(aws, body)) == 1


# SNS's largest messages: the outbox stores a message only when the free heap can send it
# (about 3 bytes per character, beside the driver's copies); a heap larger than the unix
# port's default 2 MB keeps these tests about SNS's limits, not the heap's.
BIG_HEAP = "8M"


def test_body_of_200_kb(device, stand_in):
    aws = stand_in
    use(device, aws)
    device.heapsize = BIG_HEAP if device.runtime == "micropython" else None
    body = (token() + " ") + ("0123456789abcdeé" * 13000)[:200 * 1024 - 14]
    assert len(body) == 200 * 1024 - 1
    result = device.run([notify("large", body)]).result
    assert result["ok"], {k: v for k, v in result.items() if k != "payload"}
    assert len(delivered(aws, body)) == 1


def test_topic_outside_the_allow_list(device, stand_in):
    from moto.sns.models import sns_backends

    aws = stand_in
    other = sns_backends[aws.account_id][aws.region].create_topic("mpaws-elsewhere").arn  # exists, not allowed
    use(device, aws, CONFIG_AWS_SNS_TOPIC_ARN=other)
    body = "not allowed " + token()
    result = device.run([notify("elsewhere", body)]).result
    assert_error(result, "FunctionError", other, "kept in the outbox as host.")  # until the allow-list has it
    assert result["kind"] == "Unhandled" and result["status"] == 200
    error = json.loads(result["payload"])
    assert other in error["errorMessage"] and error["errorType"] and isinstance(error["stackTrace"], list)
    assert delivered(aws, body) == [] and aws.sns_messages(other) == []


def test_burst_of_50_notifies_on_one_connection(device, stand_in):
    aws = stand_in
    use(device, aws)
    tag = token()
    bodies = ["burst %s #%d" % (tag, i) for i in range(50)]
    mark = len(aws.requests)
    run = device.run([notify("burst", body) for body in bodies], timeout=180)
    assert all(r["ok"] for r in run.results), run
    assert run.results[-1]["handshakes"] == 1
    requests = invokes(aws, mark)
    assert len(requests) == 50 and len({r.connection for r in requests}) == 1
    messages = [m["message"] for m in aws.sns_messages() if tag in m["message"]]
    assert sorted(messages) == sorted(bodies)


# -- the function's error text on the device ----------------------------------------------


@pytest.mark.parametrize("subject, found", [("Tür offen", "ü"), ("Door 🚪", "🚪")], ids=["latin", "emoji"])
def test_function_error_message_arrives_decoded(device, stand_in, subject, found):
    """The function refuses a subject SNS would refuse (sent by Lambda.invoke: app.notify
    refuses it before sending); its error reply escapes the character (\\u00fc, or a
    surrogate pair): the device's message shows it as it was."""
    aws = stand_in
    use(device, aws)
    event = {"topic": aws.topic_arn, "subject": subject, "body": "body " + token()}
    result = device.run([{"op": "invoke", "payload": json.dumps(event, ensure_ascii=False)}]).result
    assert_error(result, "FunctionError", "found %r" % found)
    error_message = json.loads(result["payload"])["errorMessage"]  # the oracle: Python's json
    assert "\\u" in result["payload"] and error_message in result["message"]


# -- direct SNS: no function, the device publishes itself ----------------------------------


def published(aws, body):
    return [m for m in aws.sns_messages(aws.topic_arn) if m["message"] == body]


def test_direct_sns_notify(device, stand_in):
    aws = stand_in
    use(device, aws, direct_sns=True)
    subject = "Door open (%s) & 100%% = +1 ~/*'" % token()
    body = "Température 21.5 °C ✓ 门开了 🚪\nline 2 \"quoted\" a+b=c&d %% ~ " + token()
    mark = len(aws.requests)
    result = device.run([notify(subject, body)]).result
    assert result.get("ok") and result["attempts"] == 1, result
    [sent] = published(aws, body)
    assert (sent["subject"], sent["message_id"]) == (subject, result["message_id"])
    [request] = aws.client_requests(mark)  # straight to SNS: no Invoke, no function
    assert (request.service, request.method, request.path, request.status) == ("sns", "POST", "/", 200)
    assert request.access_key == aws.sns_access_key and b"%20" in request.body
    # The id as the function sends it: the String message attribute mpaws-id.
    message_id = sent["attributes"]["mpaws-id"]["Value"]
    assert sent["attributes"] == {"mpaws-id": {"Type": "String", "Value": message_id}}
    assert message_id.startswith("host.")


def test_direct_sns_and_the_function_give_the_same_message(runtime, tmp_path_factory, stand_in, request):
    """The same notify in both modes: moto's topic holds the same subject, body and id
    attribute (the function's message being the reference)."""
    from device import Device

    aws = stand_in
    micropython = request.getfixturevalue("micropython") if runtime == "micropython" else None
    body = "same " + token()
    for direct in (False, True):
        dev = Device(runtime, tmp_path_factory.mktemp("direct" if direct else "function"), micropython)
        use(dev, aws, direct_sns=direct)
        assert dev.run([notify("Same", body)]).result["ok"]
    through_function, direct = published(aws, body)
    for message in (through_function, direct):
        assert message["subject"] == "Same" and list(message["attributes"]) == ["mpaws-id"]
        assert message["attributes"]["mpaws-id"]["Type"] == "String"
        assert message["attributes"]["mpaws-id"]["Value"].startswith("host.")


def test_direct_sns_body_near_the_limit(device, stand_in):
    aws = stand_in
    use(device, aws, direct_sns=True)
    device.heapsize = BIG_HEAP if device.runtime == "micropython" else None
    body = (token() + ("0123456789abcdef" * 16384))[:250 * 1024]
    result = device.run([notify("large", body)]).result
    assert result.get("ok"), {k: v for k, v in result.items() if k != "message"}
    assert len(published(aws, body)) == 1


REFUSED = [
    ("Tür offen", "b", "subject: SNS allows only printable ASCII"),
    (" leading space", "b", "not a space"),
    ("x" * 101, "b", "1 to 100 characters"),
    ("", "b", "1 to 100 characters"),
    ("line\nbreak", "b", "printable ASCII"),
    ("empty body", "", "body: must be a non-empty string"),
    ("too large", "é" * 131073, "body: too large for SNS"),
]


@pytest.mark.parametrize("direct_sns", [True, False], ids=["direct-sns", "lambda"])
def test_refuses_what_sns_never_accepts_up_front(device, stand_in, direct_sns):
    """Refused with a ValueError before the outbox, in both modes (the function checks what
    SNS checks): such a message could never leave it."""
    from mpaws import outbox

    aws = stand_in
    use(device, aws, direct_sns=direct_sns)
    mark = len(aws.requests)
    run = device.run([notify(subject, body) for subject, body, _ in REFUSED])
    for (_, _, words), result in zip(REFUSED, run.results):
        assert_error(result, "InvalidMessage", words)
    assert aws.client_requests(mark) == []
    path = os.path.join(device.dir, "outbox.txt")
    assert not os.path.exists(path) or list(outbox.Outbox(path, 50, "host").messages()) == []


def test_each_device_key_is_denied_the_other_mode(device, stand_in):
    """The Lambda-mode key may not publish to SNS itself, nor the direct-SNS key invoke the
    function (moto's IAM enforcement in the stand-in)."""
    aws = stand_in
    body = "denied " + token()
    use(device, aws, CONFIG_AWS_LAMBDA_FUNCTION=None)  # the Lambda-mode key, publishing directly
    publish = device.run([notify("denied", body)]).result
    assert_error(publish, "AccessDenied", "kept in the outbox")
    assert publish["status"] == 403 and publish["attempts"] == 1
    use(device, aws, direct_sns=True, CONFIG_AWS_LAMBDA_FUNCTION=aws.function_name)  # the SNS key, invoking
    invoke = device.run([{"op": "reset"}, notify("denied", body)]).results[1]
    assert_error(invoke, "AccessDenied")
    assert invoke["status"] == 403 and delivered(aws, body) == []


# -- a message the function refuses for good leaves the outbox (flush, on the simulated board) --

WIFI = dict(CONFIG_WIFI_SSID="lab", CONFIG_WIFI_PASSWORD="wifi-password-not-to-print")


@pytest.mark.parametrize("direct_sns", [False, True], ids=["lambda", "direct-sns"])
def test_flush_drops_a_refused_message_and_delivers_the_next_ones(device, stand_in, direct_sns):
    """A message stored by a firmware that did not check it (a subject SNS refuses) is
    first in the outbox: the function refuses it (Lambda mode; the device's own check in
    direct-SNS mode), flush() drops it with a log line and delivers the two after it, once."""
    from mpaws import outbox

    aws = stand_in
    device.sim = True  # the REPL's flush, status and outbox steps
    device.secrets.append(WIFI["CONFIG_WIFI_PASSWORD"])
    use(device, aws, direct_sns=direct_sns, **WIFI)
    tag = token()
    poison = outbox.Outbox(os.path.join(device.dir, "outbox.txt"), 50, "old").add("Tür offen", "poison " + tag)
    mark = len(aws.requests)
    steps = [{"op": "queue", "subject": "good", "body": "good %d %s" % (i, tag)} for i in (1, 2)]
    run = device.run(steps + [{"op": "flush"}, {"op": "status"}, {"op": "outbox"}], timeout=60)
    flushed, status, left = run.results[2:]
    assert flushed["sent"] == 2 and status["refused"] == 1 and left["outbox"] == [], run
    reason = "refused before sending: subject: SNS allows only printable ASCII" if direct_sns else (
        "refused by the function: InvalidMessage: subject: SNS allows only printable ASCII")
    [line] = [line for line in run.log.splitlines() if line.startswith("mpaws: dropped %s " % poison)]
    assert reason in line and status["last_error"] == line[len("mpaws: "):], line
    assert sorted(m["message"] for m in aws.sns_messages() if tag in m["message"]) == [
        "good 1 " + tag, "good 2 " + tag]
    sent = aws.client_requests(mark)
    assert len(sent) == (2 if direct_sns else 3) and all(r.status == 200 for r in sent)


# -- make demo ---------------------------------------------------------------------------


def run_demo(*args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("DEVICE", "SUBJECT", "BODY"):
        env.pop(name, None)
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "demo.py")] + list(args), cwd=REPO, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_demo(runtime):
    subject, body = "Demo " + token(), "Body ✓ " + token()
    proc = run_demo("--device", runtime, "--subject", subject, "--body", body)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    request = out.index("POST /2015-03-31/functions/mpaws-notify/invocations HTTP/1.1\n")
    reply = out.index("HTTP/1.1 200 OK\n", request)
    message = out.index("Subject:    %s\nMessage:    %s\n" % (subject, body), reply)
    assert out.index("Authorization: AWS4-HMAC-SHA256 Credential=", request) < reply
    assert out.index('"messageId": ', reply) < message and "OK: delivered once" in out


def test_demo_fails_when_nothing_arrives():
    proc = run_demo("--device", "cpython", "--fail-with", "503")  # the stand-in answers every request with a 503
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("notify failed: ServiceError: ") == 1 and "kept in the outbox as host." in out, out
    assert "gave up after 4 attempts" in out and "FAILED" in out and "0 matching message(s)" in out


def test_demo_refuses_what_the_function_would_refuse():
    proc = run_demo("--device", "cpython", "--subject", "Tür offen")  # SNS subjects are printable ASCII
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.count("notify failed: InvalidMessage: subject: SNS allows only printable ASCII") == 1, out
    assert "POST /2015-03-31/functions" not in out and "FAILED" in out
