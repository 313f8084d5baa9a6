"""SNS Publish and IoT Core publish from the device: mpaws.sns / mpaws.iot through
mpaws.client.connect(service "sns" / "iotdata"), run by the firmware under MicroPython and
CPython.

Two servers: moto behind TLS with signature checking (moto_tls.py) for the services'
behaviour, and aws_server.py (which only emulates Lambda) for the requests themselves:
its routes answer like SNS and IoT while botocore checks the signature over the raw body.
moto checks a form body's signature against the body re-encoded from its parsed fields
(a space as '+'), not against the bytes sent, so messages sent to moto have no spaces;
the firmware's %20 is checked against aws_server."""
import json
import ssl
import uuid
from urllib.parse import parse_qsl

import pytest

from aws_fixtures import aws_server_factory  # noqa: F401
from device import assert_error, device, runtime  # noqa: F401
from moto_tls import MotoTLS
from tls_server import shared_ca


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """One moto for the module (it takes a while to start); tests look at what they added."""
    folder = tmp_path_factory.mktemp("moto")
    ca = shared_ca()
    ca_pem, ca_der = folder / "ca.pem", folder / "ca.der"
    ca.cert_pem.write_to_path(str(ca_pem))
    ca_der.write_bytes(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    server = MotoTLS(str(ca_pem), str(ca_der)).start()
    yield server
    server.stop()


def use_moto(device, moto, **keys):
    config = dict(CONFIG_AWS_ACCESS_KEY=moto.access_key, CONFIG_AWS_SECRET_KEY=moto.secret_key,
                  CONFIG_AWS_REGION=moto.region, CONFIG_AWS_LAMBDA_FUNCTION="notify",
                  CONFIG_AWS_SNS_TOPIC_ARN=moto.topic_arn, CONFIG_AWS_HOST="localhost:%d" % moto.port,
                  CONFIG_TLS_CA=moto.ca_der)
    config.update(keys)
    device.write_config(**config)


def test_notify_through_moto_lambda(device, moto):
    """app.notify() against moto's Lambda (signatures checked with the IAM user's key):
    moto's docker-free backend answers with the payload it was sent."""
    use_moto(device, moto, CONFIG_AWS_LAMBDA_FUNCTION=moto.function_arn)
    run = device.run([{"op": "notify", "subject": "door_open", "body": "Temp\u00e9rature_21.5"}])
    result = run.result
    assert result["ok"] and result["status"] == 200 and result["attempts"] == 1, run
    expected = {"topic": moto.topic_arn, "subject": "door_open", "body": "Temp\u00e9rature_21.5"}
    echoed = json.loads(result["payload"])
    assert {key: echoed.get(key) for key in expected} == expected  # the app may add fields (an id)


def test_notify_through_moto_with_a_wrong_secret(device, moto):
    use_moto(device, moto, CONFIG_AWS_SECRET_KEY=moto.secret_key[:-4] + "Xx9Z")
    result = device.run([{"op": "notify", "subject": "s", "body": "b"}]).result
    assert_error(result, "InvalidSignature")
    assert result["status"] == 403 and result["attempts"] == 1


def test_sns_publish(device, moto):
    use_moto(device, moto)
    before = len(moto.sns_messages())
    message = "Température_21.5°C&rising=alert+100%\nline_2_\"quoted\"/~*'"
    run = device.run([
        {"op": "sns_publish", "topic_arn": moto.topic_arn, "message": message, "subject": "door-open!"},
        {"op": "sns_publish", "topic_arn": moto.topic_arn, "message": "with_attributes",
         "attributes": [["device", "esp32-01"], ["level", "warn✓"]]},
    ])
    first, second = run.results
    assert first["ok"] and second["ok"], run
    assert first["attempts"] == 1 and second["attempts"] == 1
    sent = moto.sns_messages()[before:]
    assert [(m[0], m[1], m[2]) for m in sent] == [(first["message_id"], message, "door-open!"),
                                                 (second["message_id"], "with_attributes", None)]
    assert sent[1][3] == {"device": {"Type": "String", "Value": "esp32-01"},
                          "level": {"Type": "String", "Value": "warn✓"}}


def test_sns_publish_to_an_unknown_topic(device, moto):
    """SNS answers in XML: the error is read from <Code> and <Message>."""
    use_moto(device, moto)
    topic = moto.topic_arn + "-missing"
    result = device.run([{"op": "sns_publish", "topic_arn": topic, "message": "x"}]).result
    assert_error(result, "NotFound", "does not exist")
    assert result["status"] == 404 and result["code"] == "NotFound" and result["attempts"] == 1


def test_sns_publish_with_a_wrong_secret(device, moto):
    use_moto(device, moto, CONFIG_AWS_SECRET_KEY=moto.secret_key[:-4] + "Xx9Z")
    before = len(moto.sns_messages())
    result = device.run([{"op": "sns_publish", "topic_arn": moto.topic_arn, "message": "x"}]).result
    assert_error(result, "InvalidSignature")
    assert result["status"] == 403 and result["code"] == "SignatureDoesNotMatch" and result["attempts"] == 1
    assert len(moto.sns_messages()) == before


@pytest.mark.parametrize("topic, qos", [("devices/esp32-01/state", 1), ("alerts", 0)])
def test_iot_publish(device, moto, topic, qos):
    use_moto(device, moto)
    before = len(moto.iot_messages())
    payload = '{"t": 21.5, "unit": "°C"}'
    result = device.run([{"op": "iot_publish", "topic": topic, "payload": payload, "qos": qos}]).result
    assert result["ok"] and result["attempts"] == 1, result
    assert moto.iot_messages()[before:] == [(topic, payload.encode())]


def test_iot_publish_with_a_wrong_secret(device, moto):
    use_moto(device, moto, CONFIG_AWS_SECRET_KEY=moto.secret_key[:-4] + "Xx9Z")
    before = len(moto.iot_messages())
    result = device.run([{"op": "iot_publish", "topic": "t", "payload": "x"}]).result
    assert_error(result, "InvalidSignature")
    assert result["status"] == 403 and result["attempts"] == 1
    assert len(moto.iot_messages()) == before


# -- the requests, checked by aws_server.py (botocore over the raw body) ----------------------


def sns_reply(request):
    message_id = str(uuid.uuid4())
    body = ('<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s'
            '</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
            '</PublishResponse>' % (message_id, uuid.uuid4()))
    return 200, [("Content-Type", "text/xml")], body


def iot_reply(request):
    return 200, [], {"message": "OK", "traceId": str(uuid.uuid4())}


@pytest.fixture
def any_service_server(aws_server_factory):
    """aws_server.py answering SNS Publish (POST /) and IoT publish (POST /topics/...): it
    scopes its 403s to Lambda, so it does not refuse; request.signature is botocore's verdict."""
    server = aws_server_factory(verify_signatures=False)
    server.route("POST", "/", sns_reply)
    for topic in ("devices%2Fesp32-01%2Fstate", "alerts%20%26%20more"):
        server.route("POST", "/topics/" + topic, iot_reply)
    return server


def test_sns_request_is_signed_over_the_raw_form_body(device, any_service_server):
    server = any_service_server
    device.use_server(server)
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    message = "Température 21.5 °C & rising = alert + 100%\nline 2 \"quoted\" /~*'"
    run = device.run([
        {"op": "sns_publish", "topic_arn": topic, "message": message, "subject": "door open (front)",
         "attributes": [["device", "esp32 01"], ["level", "warn ✓"]]},
    ])
    assert run.result["ok"] and len(run.result["message_id"]) == 36, run
    [request] = server.requests
    assert request.signature == "ok" and request.header("Authorization").split("/")[3] == "sns"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert b"+" not in request.body.replace(b"%2B", b"")  # spaces as %20, '+' as %2B
    assert parse_qsl(request.body.decode(), strict_parsing=True) == [
        ("Action", "Publish"), ("Version", "2010-03-31"), ("TopicArn", topic), ("Message", message),
        ("Subject", "door open (front)"),
        ("MessageAttributes.entry.1.Name", "device"), ("MessageAttributes.entry.1.Value.DataType", "String"),
        ("MessageAttributes.entry.1.Value.StringValue", "esp32 01"),
        ("MessageAttributes.entry.2.Name", "level"), ("MessageAttributes.entry.2.Value.DataType", "String"),
        ("MessageAttributes.entry.2.Value.StringValue", "warn ✓"),
    ]


@pytest.mark.parametrize("topic, path", [("devices/esp32-01/state", "/topics/devices%2Fesp32-01%2Fstate"),
                                         ("alerts & more", "/topics/alerts%20%26%20more")])
def test_iot_request_is_signed(device, any_service_server, topic, path):
    server = any_service_server
    device.use_server(server)
    payload = '{"t": 21.5, "unit": "°C"}'
    result = device.run([{"op": "iot_publish", "topic": topic, "payload": payload}]).result
    assert result["ok"] and json.loads(result["body"])["message"] == "OK", result
    [request] = server.requests
    assert request.signature == "ok" and request.header("Authorization").split("/")[3] == "iotdata"
    assert request.path == path and request.query == [("qos", "1")]
    assert request.body == payload.encode()


# -- what SNS accepts, checked on the device (direct SNS) ---------------------------------


def _lambda_function():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("lambda_function", REPO + "/cloud/lambda_function.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MESSAGE_ID = "esp32-240ac4123456.0a1b2c3d-17"
ROOM = 262144 - len("mpaws-id") - len("String") - len(MESSAGE_ID)  # bytes left for the body
SNS_CASES = [(subject, "b") for subject in (
    "Door open", "x" * 100, "x" * 101, "", " leading space", "trailing space ", "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
    "Tür", "tab\there", "line\nbreak", "del\x7f", "emoji 🚪",
)] + [("s", body) for body in (
    "", "x", "x" * ROOM, "x" * (ROOM + 1), "é" * (ROOM // 2), "é" * (ROOM // 2) + "xx", "🚪" * (ROOM // 4),
    "🚪" * (ROOM // 4) + "x", "x" * (ROOM // 4), "€" * (ROOM // 3) + "x" * (ROOM % 3), "€" * (ROOM // 3 + 1),
)]


def test_sns_check_agrees_with_the_function(device):
    """mpaws.sns.check (what app.notify checks in direct-SNS mode) refuses exactly what
    cloud/lambda_function.py refuses, with the id attribute counted, under both runtimes."""
    function = _lambda_function()
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    results, batch = [], []
    for i, (subject, body) in enumerate(SNS_CASES):  # a few large bodies per run: the heap holds the steps
        batch.append({"op": "sns_check", "subject": subject, "body": body, "attributes": [["mpaws-id", MESSAGE_ID]]})
        if sum(len(step["body"]) for step in batch) > 300000 or i == len(SNS_CASES) - 1:
            results += device.run(batch).results
            batch = []
    assert len(results) == len(SNS_CASES)
    for (subject, body), result in zip(SNS_CASES, results):
        try:
            function._validated({"topic": topic, "subject": subject, "body": body, "id": MESSAGE_ID})
            expected = None
        except ValueError as e:
            expected = str(e).split(":")[0]  # the field the function names
        label = (subject[:20], len(body))
        if expected is None:
            assert result.get("ok"), (label, result)
        else:
            assert result.get("error") == "ValueError" and result["message"].startswith(expected + ":"), (label,
                                                                                                         result)


# -- error text from JSON replies ----------------------------------------------------------


def _random_text(rng):
    pools = [(0x20, 0x7E), (0x00, 0x1F), (0xA0, 0x2FF), (0x4E00, 0x4FFF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(rng.randrange(0, 40)):
        low, high = rng.choice(pools)
        out.append(chr(rng.randint(low, high)) if rng.random() < 0.8 else rng.choice('"\\/'))
    return "".join(out)


def test_json_field_matches_json_loads():
    """failures.json_field (the error message of a JSON reply) against Python's json on
    generated strings: escapes of every kind, surrogate pairs, \\/ and upper-case hex."""
    import random
    import re

    from mpaws import failures

    rng = random.Random(20240611)
    for _ in range(2000):
        text = _random_text(rng)
        encoded = json.dumps(text, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.3:
            encoded = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), encoded.replace("/", "\\/"))
        body = '{"__type": "X", "message" :\n %s, "other": "y"}' % encoded
        assert json.loads(body)["message"] == text
        assert failures.json_field(body, "message") == text, (encoded, text)


def test_json_field_on_broken_text():
    from mpaws import failures

    # A lone surrogate is no character: U+FFFD. Text cut short: what there is.
    assert failures.json_field('{"message": "a\\ud83d b \\udc00"}', "message") == "a\ufffd b \ufffd"
    assert failures.json_field('{"message": "cut \\u00fc and \\u00', "message") == "cut ü and u00"
    assert failures.json_field('{"message": "bad \\uZZZZ"}', "message") == "bad uZZZZ"
    assert failures.json_field('{"code": 5}', "message", "code") is None
