"""Which failures take a message out of the outbox (errors.refusal) and what notify() and
flush() do then, under MicroPython (the unix port) and CPython.

A message AWS or the function refuses for good (its content: the function's InvalidMessage,
413, a 400 about the message) leaves the outbox with a log line and does not hold back
the messages after it; every other failure (network, 429, 5xx, keys, a missing function,
a topic the function does not allow) keeps it for later. The Lambda function here is
cloud/lambda_function.py's own check of the event (no SNS behind it), run by the TLS
stand-in host_tests/aws_server.py, whose fault injection gives AWS's refusals."""
import json
import os
import subprocess
import sys

import pytest

from aws_fixtures import aws_server, aws_server_factory  # noqa: F401
from conftest import FIRMWARE, FIRMWARE_LIB, REPO, run_micropython
from device import assert_error, device, notify, runtime  # noqa: F401
from mpaws import outbox, outbox_file

CLOUD = os.path.join(REPO, "cloud")
if CLOUD not in sys.path:
    sys.path.insert(0, CLOUD)
import lambda_function  # noqa: E402

WIFI = dict(CONFIG_WIFI_SSID="lab", CONFIG_WIFI_PASSWORD="wifi-password-not-to-print")
ONE_ATTEMPT = {"op": "tune", "max_attempts": 1}  # the outbox retries, not the client
NOT_ASCII = "Tür offen"  # SNS subjects are printable ASCII: the function refuses it


def the_function(event):
    """cloud/lambda_function.py up to the SNS call: its event check and its allow-list."""
    topic, _, _, message_id = lambda_function._validated(event)
    lambda_function._check_allowed(topic)
    return {"messageId": "sns-" + message_id, "id": message_id}


@pytest.fixture
def board(device, tmp_path, aws_server, monkeypatch):
    """A Device on the simulated board (the REPL's queue, flush, status, outbox steps),
    configured for aws_server, whose function "notify" is the_function."""
    dev = device
    dev.sim = True
    dev.secrets.append(WIFI["CONFIG_WIFI_PASSWORD"])
    dev.server = aws_server
    dev.use_server(aws_server, **WIFI)
    monkeypatch.setenv(lambda_function.ALLOWED_TOPICS_VARIABLE, dev.config["CONFIG_AWS_SNS_TOPIC_ARN"])
    aws_server.register_function("notify", the_function)
    dev.outbox_path = str(tmp_path / "outbox.txt")
    return dev


def delivered(server):
    """(subject, body) of every invocation the function accepted, in order; no id twice."""
    accepted = [i.event for i in server.invocation_log if i.error is None]
    ids = [e["id"] for e in accepted]
    assert len(set(ids)) == len(ids), ids
    return [(e["subject"], e["body"]) for e in accepted]


def stored(dev):
    return [m[1:] for m in outbox.Outbox(dev.outbox_path, 50, "host").messages()]


def store(dev, subject, body):
    """A message in the outbox as a firmware that did not check it could have left it."""
    return outbox.Outbox(dev.outbox_path, 50, "esp32-240ac4123456").add(subject, body)


def queue(subject, body="b"):
    return {"op": "queue", "subject": subject, "body": body}


FLUSH, STATUS, OUTBOX = {"op": "flush"}, {"op": "status"}, {"op": "outbox"}


# -- the rule, on both runtimes ---------------------------------------------------------------

_XML = "<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error></ErrorResponse>"
# (what failed, whether the message is refused for good). "response": an AWS error reply
# through failures.from_response; "function": a function error of that errorType; "raise":
# an exception the transport raises; "value": the device's own check of the message
# (errors.InvalidMessage); "bare": a Python exception from anywhere else, never a refusal.
RULE_CASES = [
    (("function", "InvalidMessage"), True),
    (("function", "InvalidMessage", "no field named"), False),
    (("function", "ValueError"), False),  # a broken deploy or a library, not the function's check
    (("function", "TypeError"), False),
    (("function", "TopicNotAllowed"), False),  # the function's allow-list: config
    (("function", "Runtime.ExitError"), False),
    (("function", "Sandbox.Timedout"), False),
    (("function", "ClientError"), False),  # SNS failed behind the function
    (("function", None), False),
    (("response", 413, "RequestEntityTooLargeException", '{"message": "Request must be smaller"}'), True),
    (("response", 413, None, ""), True),
    (("response", 400, "InvalidRequestContentException", '{"message": "Could not parse request body"}'), True),
    (("response", 400, None, _XML % ("InvalidParameter", "Invalid parameter: Subject")), True),
    (("response", 400, None, _XML % ("InvalidParameterValue", "Message too long")), True),
    (("response", 400, None, _XML % ("ValidationError", "Value null at 'message' failed")), True),
    (("response", 400, None, _XML % ("InvalidParameter", "Invalid parameter: TopicArn")), False),
    (("response", 400, None, _XML % ("InvalidParameter", "FIFO topics need a MessageGroupId")), False),
    (("response", 400, "ValidationException", '{"message": "functionName failed to satisfy"}'), False),
    (("response", 400, "InvalidParameterValueException", '{"message": "qualifier does not match"}'), False),
    (("response", 415, "UnsupportedMediaTypeException", '{"message": "media type"}'), False),
    (("response", 409, "ResourceConflictException", '{"message": "function is Pending"}'), False),
    (("response", 429, "TooManyRequestsException", '{"message": "Rate exceeded"}'), False),
    (("response", 500, "ServiceException", '{"message": "internal"}'), False),
    (("response", 503, None, "<html>503</html>"), False),
    (("response", 403, "AccessDeniedException", '{"message": "not authorized"}'), False),
    (("response", 403, "InvalidSignatureException", '{"message": "signature does not match"}'), False),
    (("response", 403, "InvalidSignatureException", '{"message": "Signature expired: 20240101T000000Z"}'), False),
    (("response", 403, "ExpiredTokenException", '{"message": "token expired"}'), False),
    (("response", 404, "ResourceNotFoundException", '{"message": "Function not found"}'), False),
    (("response", 404, None, _XML % ("NotFound", "Topic does not exist")), False),
    (("raise", "NetworkError"), False),
    (("raise", "DNSError"), False),
    (("raise", "Timeout"), False),
    (("raise", "TLSError"), False),
    (("raise", "ProtocolError"), False),
    (("raise", "ResponseTooLarge"), False),
    (("raise", "OutOfMemory"), False),
    (("raise", "OutboxError"), False),
    (("raise", "ConfigError"), False),
    (("bare", "ValueError"), False),  # a malformed reply, a signer's refusal: not the message's fault
    (("bare", "UnicodeError"), False),
    (("bare", "MemoryError"), False),
    (("value", "subject: SNS allows only printable ASCII"), True),
    # The credentials endpoint's replies (mpaws.credentials_fetch marks them): no message
    # reached AWS, whatever they say.
    (("credentials", 413, None, ""), False),
    (("credentials", 400, "InvalidParameterValue", '{"message": "Message too long"}'), False),
    (("credentials", 400, None, _XML % ("ValidationError", "Value null at 'message' failed")), False),
    (("credentials", 400, None, '{"errorType": "InvalidMessage", "errorMessage": "body: x"}'), False),
]

# Runs in both runtimes: sys.argv[1] is the firmware library, stdin the cases (JSON).
_RULE_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from mpaws import errors, failures

def failure(case):
    kind = case[0]
    if kind == "function":
        text = case[2] if len(case) > 2 else "subject: why"
        return errors.FunctionError("function notify failed (Unhandled): why", "Unhandled", b"{}",
                                    error_type=case[1], error_message=text)
    if kind == "response":
        return failures.from_response(case[1], case[2], case[3].encode())
    if kind == "credentials":
        e = failures.from_response(case[1], case[2], case[3].encode(), gateway=False)
        e.endpoint = "credentials"
        return e
    if kind == "raise":
        return getattr(errors, case[1])("no answer")
    if kind == "bare":
        return {"ValueError": ValueError, "UnicodeError": UnicodeError, "MemoryError": MemoryError}[case[1]]("x")
    return errors.InvalidMessage(case[1])

print(json.dumps([errors.refusal(failure(case)) for case in json.loads(sys.stdin.read())]))
"""


def test_the_rule_on_both_runtimes(micropython):
    cases = json.dumps([case for case, _ in RULE_CASES])
    answers = {}
    for name, executable in (("micropython", micropython), ("cpython", sys.executable)):
        if name == "micropython":
            proc = run_micropython(micropython, ["-c", _RULE_SCRIPT, FIRMWARE_LIB], input=cases)
        else:
            proc = subprocess.run([executable, "-c", _RULE_SCRIPT, FIRMWARE_LIB], input=cases, capture_output=True,
                                  text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        answers[name] = json.loads(proc.stdout)
    assert answers["micropython"] == answers["cpython"]
    for (case, refused), reason in zip(RULE_CASES, answers["cpython"]):
        assert (reason is not None) == refused, (case, reason)
        if case[0] == "function" and refused:
            assert reason == "refused by the function: %s: subject: why" % case[1]
        elif case[0] == "response" and refused:
            assert reason.startswith("refused by AWS: ") and "HTTP %d" % case[1] in reason, reason
        elif case[0] == "value":
            assert reason == "refused before sending: " + case[1]


# -- flush: a message refused for good leaves, the next ones go -------------------------------


def _refuse_first_request(kind, server):
    if kind == "413":
        server.fail_next(413, "RequestEntityTooLargeException",
                         "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    elif kind == "400":
        server.fail_next(400, "InvalidRequestContentException", "Could not parse request body into json")


@pytest.mark.parametrize("kind", ["function", "413", "400"])
def test_flush_drops_a_refused_message_and_sends_the_next_ones(board, kind):
    """A poison message first in the outbox: the function refuses its subject (stored by a
    firmware that did not check it), or AWS answers 413 / 400 to it. flush() takes it out
    with a log line and delivers the two after it, each once."""
    poison = store(board, NOT_ASCII if kind == "function" else "poison", "first")
    _refuse_first_request(kind, board.server)
    run = board.run([queue("good 1"), queue("good 2"), ONE_ATTEMPT, FLUSH, STATUS, OUTBOX, FLUSH])
    flushed, status, left, again = run.results[3:]
    assert flushed == dict(flushed, ok=True, sent=2), run
    assert delivered(board.server) == [("good 1", "b"), ("good 2", "b")]
    assert len(board.server.requests) == 3  # the poison was sent once, not retried
    reason = {"function": "refused by the function: InvalidMessage: subject: SNS allows only printable ASCII",
              "413": "refused by AWS: Request must be smaller than 6291456 bytes",
              "400": "refused by AWS: Could not parse request body into json"}[kind]
    [line] = [line for line in run.log.splitlines() if line.startswith("mpaws: dropped ")]
    subject = "'T\\xfcr offen'" if kind == "function" and board.runtime == "micropython" else repr(
        NOT_ASCII if kind == "function" else "poison")  # MicroPython's repr() escapes non-ASCII
    assert line.startswith("mpaws: dropped %s %s: %s" % (poison, subject, reason)), line
    assert status["refused"] == 1 and status["last_error"] == line[len("mpaws: "):]
    assert status["outbox"] == 0 and left["outbox"] == [] and again["sent"] == 0


def test_flush_drops_every_refused_message_in_a_row(board):
    first, second = store(board, NOT_ASCII, "1"), store(board, "x" * 101, "2")
    run = board.run([queue("good"), FLUSH, STATUS])
    flushed, status = run.results[1:]
    assert flushed["sent"] == 1 and status["refused"] == 2 and status["outbox"] == 0, run
    assert "dropped %s" % first in run.log and "dropped %s" % second in run.log
    assert delivered(board.server) == [("good", "b")]


def test_the_main_loop_is_not_held_back(board):
    """main.py's loop on the simulated board, a refused message first in the outbox after a
    restart: dropped, and the message after it delivered."""
    poison = store(board, NOT_ASCII, "old")
    store(board, "good", "b")
    run = board.run([{"op": "board", "run_ms": 5000, "client": {"max_attempts": 1}}], timeout=60)
    assert run.result["outcome"] == "end" and run.result["outbox"] == [], run
    assert "mpaws: dropped %s " % poison in run.log and "sending again" not in run.log
    assert delivered(board.server) == [("good", "b")]


@pytest.mark.parametrize("fault, error", [
    ("429", "Throttled"), ("503", "ServiceError"), ("drop", "NetworkError"),
    ("403", "AccessDenied"), ("404", "NotFound"), ("topic", "FunctionError"),
])
def test_flush_keeps_a_message_that_may_pass_later(board, fault, error, monkeypatch):
    """Throttling, AWS failures, no answer, a refused key, a missing function, a topic the
    function does not allow: the message stays first in the outbox, nothing after it is
    sent, and a later flush delivers them all, each once."""
    server = board.server
    if fault == "drop":
        server.drop_next()
    elif fault == "403":
        server.fail_next(403, "AccessDeniedException", "User is not authorized to perform: lambda:InvokeFunction")
    elif fault == "404":
        server.fail_next(404, "ResourceNotFoundException", "Function not found: notify")
    elif fault == "topic":
        monkeypatch.setenv(lambda_function.ALLOWED_TOPICS_VARIABLE, "arn:aws:sns:us-east-1:123456789012:other")
    else:
        server.fail_next(int(fault))
    run = board.run([queue("m1"), queue("m2"), ONE_ATTEMPT, FLUSH, STATUS, OUTBOX])
    failed, status, left = run.results[3:]
    assert_error(failed, error, "flush: 0 sent, 2 still in the outbox")
    assert [m[1] for m in left["outbox"]] == ["m1", "m2"] and status["refused"] == 0
    assert "dropped" not in run.log and delivered(server) == []
    monkeypatch.setenv(lambda_function.ALLOWED_TOPICS_VARIABLE, board.config["CONFIG_AWS_SNS_TOPIC_ARN"])
    later = board.run([FLUSH, OUTBOX])
    assert later.results[0]["sent"] == 2 and later.results[1]["outbox"] == []
    assert delivered(server) == [("m1", "b"), ("m2", "b")]


# -- notify: its own message refused for good ----------------------------------------------------

FUNCTION_REFUSAL = {"errorMessage": "body: refused by the function", "errorType": "InvalidMessage",
                    "stackTrace": ["  File \"/var/task/lambda_function.py\", line 1, in lambda_handler\n"]}


@pytest.mark.parametrize("kind", ["function", "413"])
def test_notify_of_a_refused_message_says_it_was_not_kept(board, kind):
    """A message kept from an earlier failure stays; the refused one is not kept, and the
    error says so."""
    server = board.server
    server.fail_next(503)
    if kind == "function":  # the function's error reply as Lambda sends it
        server.fail_next(200, body=FUNCTION_REFUSAL, headers=[("X-Amz-Function-Error", "Unhandled")])
    else:
        server.fail_next(413, "RequestEntityTooLargeException", "Request must be smaller than 6291456 bytes")
    run = board.run([ONE_ATTEMPT, notify("kept"), notify("refused"), STATUS, OUTBOX])
    kept, refused, status, box = run.results[1:]
    assert_error(kept, "ServiceError", "kept in the outbox as ")
    assert_error(refused, "FunctionError" if kind == "function" else "PayloadTooLarge",
                 "body: refused by the function" if kind == "function" else "Request must be smaller",
                 "(not kept in the outbox: the message itself is refused, sending it again cannot succeed)")
    assert "kept in the outbox as" not in refused["message"]
    assert [m[1] for m in box["outbox"]] == ["kept"] and status["refused"] == 1
    assert "mpaws: notify failed: %s: %s" % (refused["error"], refused["message"]) in run.log


# -- the function's rules, checked on the device before the outbox (Lambda mode) ----------------

LONGEST_ID = "x" * outbox_file.MAX_ID  # the id does not exist before the check: the longest is counted
ROOM = 262144 - len("mpaws-id") - len("String") - len(LONGEST_ID)  # bytes of UTF-8 left for the body
CHECK_CASES = [(subject, "b") for subject in (
    "Door open", "x" * 100, "x" * 101, "", " leading space", "trailing space ", "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
    NOT_ASCII, "tab\there", "line\nbreak", "del\x7f", "emoji 🚪", "\x1f",
)] + [("s", body) for body in (
    "", "x", "x" * ROOM, "x" * (ROOM + 1), "é" * (ROOM // 2), "é" * (ROOM // 2) + "x", "🚪" * (ROOM // 4),
    "🚪" * (ROOM // 4) + "xxx", "€" * (ROOM // 3) + "x" * (ROOM % 3), "€" * (ROOM // 3 + 1),
    "🚪" * 65000, "🚪" * 65001,  # where the device stops recognising a message as plainly acceptable
)] + [("x" * 100, "🚪" * 65000)]


def refused_field(topic, subject, body):
    """The field cloud/lambda_function.py names when it refuses the message (with the
    longest id), or None when it accepts it."""
    try:
        lambda_function._validated({"topic": topic, "subject": subject, "body": body, "id": LONGEST_ID})
    except ValueError as e:
        return str(e).split(":")[0]
    return None


def test_lambda_mode_refuses_up_front_what_the_function_refuses(board):
    """notify() in Lambda mode, against cloud/lambda_function.py's check as the oracle: a
    message it refuses is an InvalidMessage naming the same field, never stored nor sent; one
    it accepts is sent, and the function accepts it."""
    if board.runtime == "micropython":
        # SNS's largest messages, a few per run: a heap larger than the default 2 MB keeps
        # this test about SNS's limits, not the heap's (the outbox's own test).
        board.heapsize = "8M"
    results, batch = [], []
    for i, (subject, body) in enumerate(CHECK_CASES):  # a few large bodies per run: the heap holds the steps
        batch.append(notify(subject, body))
        if sum(len(step["body"].encode()) for step in batch) > 300000 or i == len(CHECK_CASES) - 1:
            results += board.run(batch, timeout=60).results
            batch = []
    topic = board.config["CONFIG_AWS_SNS_TOPIC_ARN"]
    labels = [(subject[:20], len(body)) for subject, body in CHECK_CASES]
    expected = [refused_field(topic, subject, body) for subject, body in CHECK_CASES]
    answers = [None if r.get("ok") else r.get("error") == "InvalidMessage" and r["message"].split(":")[0]
               for r in results]
    assert list(zip(labels, answers)) == list(zip(labels, expected)), results
    accepted = [case for case, field in zip(CHECK_CASES, expected) if field is None]
    assert 0 < len(accepted) < len(CHECK_CASES)
    assert delivered(board.server) == accepted and len(board.server.requests) == len(accepted)
    assert stored(board) == []


_MODULES_AFTER_NOTIFY = """
import sys
sys.path[:0] = [%(config)r, %(firmware)r, %(firmware)r + "/lib"]
import app
app.log = lambda message: None
app.notify("Door open", %(body)s)
print(" ".join(sorted(name for name in sys.modules if name.startswith("mpaws"))))
"""


@pytest.mark.parametrize("body", ['"body"', '"x" * 70000'], ids=["usual", "long"])
def test_the_check_leaves_nothing_in_the_heap(device, aws_server, body):
    """In Lambda mode a delivered notify holds neither mpaws.sns (the check of an unusual
    message loads it, then lets it go) nor the failure code (mpaws.error_kinds); nor
    mpaws.awslambda (loaded for the reply, let go of after it)."""
    dev = device
    dev.use_server(aws_server)
    aws_server.register_function("notify", lambda event: {"id": event["id"]})
    script = _MODULES_AFTER_NOTIFY % {"config": dev.dir, "firmware": FIRMWARE, "body": body}
    proc = subprocess.run([dev.executable, "-c", script], cwd=dev.dir, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    modules = proc.stdout.split()
    assert "mpaws.client" in modules and len(aws_server.invocation_log) == 1
    assert "mpaws.sns" not in modules and "mpaws.error_kinds" not in modules, modules
    assert "mpaws.awslambda" not in modules, modules
