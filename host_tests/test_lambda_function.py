"""cloud/lambda_function.py with boto3 against moto (mock_aws).

What the function published is read back through an SQS queue subscribed to the topic
(moto delivers the SNS envelope with Subject, Message and MessageAttributes), so every
check goes through moto's SNS, not through the function's own code.
"""
import json
import os
import sys

import boto3
import pytest
from moto import mock_aws

CLOUD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cloud")
if CLOUD not in sys.path:
    sys.path.insert(0, CLOUD)

import lambda_function  # noqa: E402

REGION = "eu-west-1"


class Topic:
    """An SNS topic with an SQS queue subscribed to it; messages() reads what arrived."""

    def __init__(self, name):
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.arn = self.sns.create_topic(Name=name)["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=name + "-inbox")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn)

    def messages(self):
        reply = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in reply.get("Messages", [])]


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # The module keeps its client between invocations; each test starts without one.
    monkeypatch.setattr(lambda_function, "_sns", None)
    with mock_aws():
        yield


@pytest.fixture
def topic(aws, monkeypatch):
    t = Topic("alerts")
    monkeypatch.setenv("ALLOWED_TOPIC_ARNS", t.arn)
    return t


def event(topic, subject="Door", body="opened", **extra):
    return dict(topic=topic.arn, subject=subject, body=body, **extra)


def test_publishes_subject_and_body_to_the_topic(topic):
    result = lambda_function.lambda_handler(event(topic, "Door 3", "opened at 07:15"), None)
    [message] = topic.messages()
    assert message["Subject"] == "Door 3"
    assert message["Message"] == "opened at 07:15"
    assert message["TopicArn"] == topic.arn
    assert result == {"messageId": message["MessageId"]}
    assert "MessageAttributes" not in message or "mpaws-id" not in message["MessageAttributes"]


def test_non_ascii_body_arrives_unchanged(topic):
    body = "Température: 21,5 °C — Küche ✓ 🌡️"
    lambda_function.lambda_handler(event(topic, body=body), None)
    [message] = topic.messages()
    assert message["Message"] == body


def test_id_travels_as_message_attribute_and_is_returned(topic):
    result = lambda_function.lambda_handler(event(topic, id="dev-7:000042"), None)
    [message] = topic.messages()
    assert message["MessageAttributes"]["mpaws-id"] == {"Type": "String", "Value": "dev-7:000042"}
    assert result == {"messageId": message["MessageId"], "id": "dev-7:000042"}


def test_limits_are_accepted(topic):
    # 100 printable ASCII characters and a body of exactly 256 KiB are within SNS's limits.
    subject = "".join(chr(0x21 + i % 94) for i in range(100))
    body = "é" * (262144 // 2)
    lambda_function.lambda_handler(event(topic, subject=subject, body=body), None)
    [message] = topic.messages()
    assert message["Subject"] == subject
    assert message["Message"] == body


def test_client_is_created_once_and_reused(topic):
    lambda_function.lambda_handler(event(topic), None)
    client = lambda_function._sns
    lambda_function.lambda_handler(event(topic, body="second"), None)
    assert lambda_function._sns is client
    assert client.meta.region_name == REGION
    assert sorted(m["Message"] for m in topic.messages()) == ["opened", "second"]


def test_any_topic_of_a_comma_separated_allow_list(aws, monkeypatch):
    first, second = Topic("first"), Topic("second")
    monkeypatch.setenv("ALLOWED_TOPIC_ARNS", " %s , %s ," % (first.arn, second.arn))
    lambda_function.lambda_handler(event(second, body="to second"), None)
    assert [m["Message"] for m in second.messages()] == ["to second"]
    assert first.messages() == []


BAD_EVENTS = [
    # (change to a valid event, the field the error must name)
    (lambda e: "not an object", "event"),
    (lambda e: [e], "event"),
    (lambda e: dict(e, extra="x"), "event"),
    (lambda e: {k: v for k, v in e.items() if k != "topic"}, "topic"),
    (lambda e: {k: v for k, v in e.items() if k != "subject"}, "subject"),
    (lambda e: {k: v for k, v in e.items() if k != "body"}, "body"),
    (lambda e: dict(e, topic=None), "topic"),
    (lambda e: dict(e, topic="alerts"), "topic"),
    (lambda e: dict(e, topic="arn:aws:sqs:eu-west-1:123456789012:alerts"), "topic"),
    (lambda e: dict(e, topic=e["topic"] + "\n"), "topic"),
    (lambda e: dict(e, subject=5), "subject"),
    (lambda e: dict(e, subject=""), "subject"),
    (lambda e: dict(e, subject="x" * 101), "subject"),
    (lambda e: dict(e, subject="two\nlines"), "subject"),
    (lambda e: dict(e, subject="tab\there"), "subject"),
    (lambda e: dict(e, subject="caf\u00e9"), "subject"),
    (lambda e: dict(e, subject=" leading space"), "subject"),
    (lambda e: dict(e, body=""), "body"),
    (lambda e: dict(e, body=b"bytes"), "body"),
    (lambda e: dict(e, body={"nested": 1}), "body"),
    (lambda e: dict(e, body="x" * 262145), "body"),
    (lambda e: dict(e, body="é" * (262144 // 2) + "x"), "body"),
    (lambda e: dict(e, body="\ud800"), "body"),
    (lambda e: dict(e, id=""), "id"),
    (lambda e: dict(e, id=42), "id"),
    (lambda e: dict(e, id="x" * 65), "id"),
    (lambda e: dict(e, id="has space"), "id"),
    (lambda e: dict(e, id="slash/no"), "id"),
    # the id attribute counts towards SNS's 256 KiB
    (lambda e: dict(e, body="x" * 262144, id="a"), "body"),
]


@pytest.mark.parametrize("change, field", BAD_EVENTS)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_published(topic, change, field):
    with pytest.raises(ValueError) as info:
        lambda_function.lambda_handler(change(event(topic)), None)
    assert str(info.value).startswith(field + ":")
    assert topic.messages() == []


def test_unknown_field_is_named(topic):
    with pytest.raises(ValueError, match="unknown field.*priority"):
        lambda_function.lambda_handler(event(topic, priority="high"), None)


def test_topic_outside_the_allow_list_is_refused(aws, monkeypatch):
    allowed, other = Topic("allowed"), Topic("other")
    monkeypatch.setenv("ALLOWED_TOPIC_ARNS", allowed.arn)
    with pytest.raises(PermissionError) as info:
        lambda_function.lambda_handler(event(other), None)
    assert other.arn in str(info.value)
    assert "ALLOWED_TOPIC_ARNS" in str(info.value)
    assert other.messages() == [] and allowed.messages() == []


@pytest.mark.parametrize("value", [None, "", " , "])
def test_without_allow_list_every_topic_is_refused(topic, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("ALLOWED_TOPIC_ARNS")
    else:
        monkeypatch.setenv("ALLOWED_TOPIC_ARNS", value)
    with pytest.raises(lambda_function.TopicNotAllowed, match="ALLOWED_TOPIC_ARNS"):
        lambda_function.lambda_handler(event(topic), None)
    assert topic.messages() == []


def test_sns_failure_propagates(aws, monkeypatch):
    # Allowed and well-formed, but the topic does not exist: SNS's NotFound reaches the caller.
    arn = "arn:aws:sns:%s:123456789012:gone" % REGION
    monkeypatch.setenv("ALLOWED_TOPIC_ARNS", arn)
    client = boto3.client("sns", region_name=REGION)
    with pytest.raises(client.exceptions.NotFoundException):
        lambda_function.lambda_handler({"topic": arn, "subject": "s", "body": "b"}, None)


# -- behind API Gateway: proxy events in, proxy responses out --------------------------------
# The events are shaped as AWS documents them ("Working with AWS Lambda proxy integrations
# for HTTP APIs", payload format 2.0; "... for REST APIs", format 1.0), trimmed of fields
# the function does not read.


def proxy_event_v2(body, base64_encoded=False):
    import base64 as b64

    text = b64.b64encode(body.encode()).decode() if base64_encoded else body
    return {
        "version": "2.0", "routeKey": "POST /notify", "rawPath": "/prod/notify", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc123.execute-api.eu-west-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {"method": "POST", "path": "/prod/notify", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                     "userAgent": "mpaws"},
            "authorizer": {"iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012",
                                   "userArn": "arn:aws:iam::123456789012:user/device"}},
            "requestId": "id", "routeKey": "POST /notify", "stage": "prod", "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "body": text, "isBase64Encoded": base64_encoded,
    }


def proxy_event_v1(body, base64_encoded=False):
    import base64 as b64

    text = b64.b64encode(body.encode()).decode() if base64_encoded else body
    return {
        "resource": "/notify", "path": "/notify", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "x-api-key": "not-read"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "httpMethod": "POST",
                           "identity": {"apiKey": "not-read", "apiKeyId": "kid", "sourceIp": "192.0.2.1"},
                           "path": "/v1/notify", "protocol": "HTTP/1.1", "requestId": "id", "resourcePath": "/notify",
                           "stage": "v1"},
        "body": text, "isBase64Encoded": base64_encoded,
    }


PROXY_EVENTS = [proxy_event_v2, proxy_event_v1]
PROXY_IDS = ["http-api-2.0", "rest-api-1.0"]


@pytest.mark.parametrize("make", PROXY_EVENTS, ids=PROXY_IDS)
@pytest.mark.parametrize("base64_encoded", [False, True], ids=["text", "base64"])
def test_proxy_event_publishes_and_answers_a_proxy_response(topic, make, base64_encoded):
    body = json.dumps(event(topic, subject="Door", body="Tür offen 🚪", id="dev-1.7"), ensure_ascii=False)
    reply = lambda_function.lambda_handler(make(body, base64_encoded), None)
    assert reply["statusCode"] == 200 and reply["isBase64Encoded"] is False
    assert reply["headers"]["content-type"] == "application/json"
    result = json.loads(reply["body"])
    [message] = topic.messages()
    assert result == {"messageId": message["MessageId"], "id": "dev-1.7"}
    assert (message["Subject"], message["Message"]) == ("Door", "Tür offen 🚪")
    assert message["MessageAttributes"]["mpaws-id"]["Value"] == "dev-1.7"


@pytest.mark.parametrize("make", PROXY_EVENTS, ids=PROXY_IDS)
@pytest.mark.parametrize("body, field", [
    ('{"topic": "x"', "body"),  # not JSON
    ("", "body"),
    ('["a list"]', "event"),
    ('{"subject": "s", "body": "b"}', "topic"),
])
def test_proxy_event_refused_is_a_400_naming_the_field(topic, make, body, field):
    reply = lambda_function.lambda_handler(make(body), None)
    assert reply["statusCode"] == 400
    error = json.loads(reply["body"])
    assert error["errorType"] == "InvalidMessage" and error["errorMessage"].startswith(field + ":"), error
    assert topic.messages() == []


@pytest.mark.parametrize("make", PROXY_EVENTS, ids=PROXY_IDS)
def test_proxy_event_with_bad_base64_is_refused(topic, make):
    event_ = make("{}")
    event_.update(body="***not base64***", isBase64Encoded=True)
    reply = lambda_function.lambda_handler(event_, None)
    assert reply["statusCode"] == 400 and "base64" in json.loads(reply["body"])["errorMessage"]


@pytest.mark.parametrize("make", PROXY_EVENTS, ids=PROXY_IDS)
def test_proxy_event_topic_outside_the_allow_list_is_a_403(aws, monkeypatch, make):
    allowed, other = Topic("allowed"), Topic("other")
    monkeypatch.setenv("ALLOWED_TOPIC_ARNS", allowed.arn)
    reply = lambda_function.lambda_handler(make(json.dumps(event(other))), None)
    assert reply["statusCode"] == 403
    error = json.loads(reply["body"])
    assert error["errorType"] == "TopicNotAllowed" and other.arn in error["errorMessage"]
    assert other.messages() == [] and allowed.messages() == []


@pytest.mark.parametrize("make", PROXY_EVENTS, ids=PROXY_IDS)
def test_proxy_event_sns_failure_raises_for_api_gateways_502(aws, monkeypatch, make):
    arn = "arn:aws:sns:%s:123456789012:gone" % REGION
    monkeypatch.setenv("ALLOWED_TOPIC_ARNS", arn)
    client = boto3.client("sns", region_name=REGION)
    with pytest.raises(client.exceptions.NotFoundException):
        lambda_function.lambda_handler(make(json.dumps({"topic": arn, "subject": "s", "body": "b"})), None)


def test_a_direct_event_with_a_request_context_field_is_still_refused(topic):
    # Only an event shaped as API Gateway's is a proxy event: a device's event with an
    # extra field is refused as before.
    with pytest.raises(ValueError, match="unknown field.*requestContext"):
        lambda_function.lambda_handler(event(topic, requestContext="x"), None)


# -- the function and the device agree on what is refused for good --------------------------

def _raised_lines(call):
    """(the exception call() raised or None, the lines of cloud/lambda_function.py where an
    InvalidMessage was raised during it)."""
    lines = set()
    source = os.path.abspath(lambda_function.__file__)

    def trace(frame, event, arg):
        if event == "exception" and os.path.abspath(frame.f_code.co_filename) == source \
                and isinstance(arg[1], lambda_function.InvalidMessage):
            lines.add(frame.f_lineno)
        return trace

    sys.settrace(trace)
    try:
        call()
        error = None
    except Exception as e:  # noqa: BLE001 -- what the function raised, for the device's rule
        error = e
    finally:
        sys.settrace(None)
    return error, lines


def test_every_content_error_of_the_function_is_a_refusal_on_the_device_and_nothing_else(topic):
    """Every `raise InvalidMessage(...)` of cloud/lambda_function.py (each one reached by an
    event below) gives a function error that the device's rule (mpaws.error_kinds.refusal)
    counts as refused for good, through Invoke and through API Gateway's proxy response;
    a TypeError or ValueError from anywhere else (a broken deploy, a library) never is."""
    from mpaws import errors, failures

    with open(lambda_function.__file__) as f:
        sites = {number for number, line in enumerate(f, 1) if "raise InvalidMessage(" in line}
    reached = set()
    for change, field in BAD_EVENTS:  # through Invoke: Lambda's function error document
        error, lines = _raised_lines(lambda: lambda_function.lambda_handler(change(event(topic)), None))
        reached |= lines
        assert isinstance(error, lambda_function.InvalidMessage), error
        failure = errors.FunctionError("function failed", "Unhandled", b"{}", error_type=type(error).__name__,
                                       error_message=str(error))
        assert errors.refusal(failure) is not None, (field, str(error))
    for make in PROXY_EVENTS:  # through API Gateway: the proxy response's 400
        for body, encoded in [("", False), ("***", True), ('{"topic": "x"', False), ('["a list"]', False),
                              (json.dumps(event(topic, subject="")), False)]:
            proxy = make(body, encoded)
            if encoded:
                proxy["body"] = "***not base64***"
            reply, lines = _raised_lines(lambda: lambda_function.lambda_handler(proxy, None))
            reached |= lines
            reply = lambda_function.lambda_handler(proxy, None)
            error = failures.from_response(reply["statusCode"], None, reply["body"].encode())
            assert isinstance(error, errors.FunctionError) and errors.refusal(error) is not None, reply
    assert sites <= reached, "raise InvalidMessage lines no event reached: %s" % sorted(sites - reached)
    assert topic.messages() == []
    for error_type in ("TypeError", "ValueError", "KeyError", "TopicNotAllowed", "Runtime.ImportModuleError"):
        for text in ("subject: looks like a field", "'NoneType' object is not subscriptable", ""):
            failure = errors.FunctionError("function failed", "Unhandled", b"{}", error_type=error_type,
                                           error_message=text)
            assert errors.refusal(failure) is None, (error_type, text)
    # The class's name, with a text that is not the function's (no field first): not a refusal.
    assert errors.refusal(errors.FunctionError("f", "Unhandled", b"{}", error_type="InvalidMessage",
                                               error_message="something else: x")) is None


@pytest.mark.parametrize("make", PROXY_EVENTS, ids=PROXY_IDS)
def test_proxy_event_bug_in_the_function_is_not_a_400(topic, make, monkeypatch):
    """A TypeError or ValueError from outside the function's checks (a broken deploy, a
    library) raises, for API Gateway's 502: the device keeps the message."""
    def broken(event):
        raise ValueError("body: a library's error that happens to start like a field")

    monkeypatch.setattr(lambda_function, "_validated", broken)
    with pytest.raises(ValueError):
        lambda_function.lambda_handler(make(json.dumps(event(topic))), None)
