"""moto behind TLS with signature checking (moto_tls.py): what works, and what moto
does not check, with boto3 and the firmware's signer as clients."""
import datetime
import http.client
import json
import ssl
import urllib.parse

import botocore.auth
import pytest
from botocore.exceptions import ClientError

from moto_tls import moto_tls  # noqa: F401


def code_of(excinfo):
    """The error code: moto answers Lambda and IoT Data auth errors in IAM's XML, which
    boto3 does not parse for these JSON services, so look in the raw message too."""
    error = excinfo.value.response["Error"]
    for code in ("SignatureDoesNotMatch", "InvalidClientTokenId"):
        if code in error.get("Message", "") or error.get("Code") == code:
            return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"], code
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"], error.get("Code")


def test_lambda_invoke(moto_tls):
    reply = moto_tls.client("lambda").invoke(FunctionName="notify", Payload=json.dumps({"msg": "hi"}))
    assert reply["StatusCode"] == 200
    assert json.loads(reply["Payload"].read()) == {"msg": "hi"}  # the docker-free backend echoes the payload
    reply = moto_tls.client("lambda").invoke(FunctionName=moto_tls.function_arn, Payload=b"[1]")
    assert reply["Payload"].read() == b"[1]"
    moto_tls.queue_lambda_results('{"ok": true}')
    reply = moto_tls.client("lambda").invoke(FunctionName="notify", Payload=b"{}")
    assert json.loads(reply["Payload"].read()) == {"ok": True}


def test_sns_publish(moto_tls):
    message_id = moto_tls.client("sns").publish(TopicArn=moto_tls.topic_arn, Message="door open",
                                                Subject="alert")["MessageId"]
    assert [(m[0], m[1], m[2]) for m in moto_tls.sns_messages()] == [(message_id, "door open", "alert")]


def test_iot_data_publish(moto_tls):
    reply = moto_tls.client("iot-data").publish(topic="devices/esp32/state", qos=1, payload=b'{"t": 21.5}')
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert moto_tls.iot_messages() == [("devices/esp32/state", b'{"t": 21.5}')]
    assert moto_tls.iot_endpoint.endswith("-ats.iot.us-east-1.amazonaws.com")


@pytest.mark.parametrize("service", ["lambda", "sns", "iot-data"])
def test_wrong_secret_and_unknown_key_are_rejected(moto_tls, service):
    def call(client):
        if service == "lambda":
            return client.invoke(FunctionName="notify", Payload=b"{}")
        if service == "sns":
            return client.publish(TopicArn=moto_tls.topic_arn, Message="x")
        return client.publish(topic="t", qos=1, payload=b"x")

    assert moto_tls.secret_key[::-1] != moto_tls.secret_key
    with pytest.raises(ClientError) as excinfo:
        call(moto_tls.client(service, secret_key=moto_tls.secret_key[::-1]))  # same length and letters
    assert code_of(excinfo) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as excinfo:
        call(moto_tls.client(service, access_key="AKIAUNKNOWNKEY000000"))
    assert code_of(excinfo) == (403, "InvalidClientTokenId")
    call(moto_tls.client(service))  # and the right key still works
    assert moto_tls.sns_messages() if service == "sns" else True


def test_firmware_signer_against_moto(moto_tls):
    from mpaws.sigv4 import Signer

    body = urllib.parse.urlencode({"Action": "Publish", "Version": "2010-03-31", "TopicArn": moto_tls.topic_arn,
                                   "Message": "from firmware"}).encode()
    host = "localhost:%d" % moto_tls.port
    headers = [("Host", host), ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
    headers += Signer(moto_tls.access_key, moto_tls.secret_key, "us-east-1", "sns").sign("POST", "/", headers=headers,
                                                                                         body=body)
    conn = http.client.HTTPSConnection("localhost", moto_tls.port,
                                       context=ssl.create_default_context(cafile=moto_tls.ca_pem))
    conn.request("POST", "/", body=body, headers=dict(headers))
    reply = conn.getresponse()
    assert reply.status == 200, reply.read()
    assert b"<MessageId>" in reply.read()
    assert moto_tls.sns_messages()[0][1] == "from firmware"


# -- what moto does NOT check (use aws_server.AwsServer for these) -----------------------


def test_moto_ignores_clock_skew(moto_tls, monkeypatch):
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: an_hour_ago)
    assert moto_tls.client("lambda").invoke(FunctionName="notify", Payload=b"{}")["StatusCode"] == 200


def test_moto_lambda_simple_backend_invokes_unknown_functions(moto_tls):
    reply = moto_tls.client("lambda").invoke(FunctionName="no-such-function", Payload=b'{"x": 1}')
    assert (reply["StatusCode"], reply["Payload"].read()) == (200, b'{"x": 1}')
