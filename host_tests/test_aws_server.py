"""The local AWS stand-in (aws_server.py) proves itself: boto3 as the client for the
Lambda API, raw sockets for the HTTP/TLS behaviour, MicroPython for its TLS settings."""
import base64
import datetime
import http.client
import json
import re
import socket
import ssl
import time

import boto3
import botocore.auth
import botocore.config
import botocore.retries.standard
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ReadTimeoutError

from aws_fixtures import aws_server, aws_server_factory, plain_http_server, wrong_host_server  # noqa: F401
from conftest import run_micropython

INVOKE = "/2015-03-31/functions/notify/invocations"


def lambda_client(server, secret_key=None, access_key=None, **config):
    config.setdefault("retries", {"total_max_attempts": 1})  # no retries (max_attempts=1 means one retry)
    return boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        verify=server.ca_pem,
        region_name=server.region,
        aws_access_key_id=access_key or server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        config=botocore.config.Config(**config),
    )


def error_of(excinfo):
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def signed(server, body=b"{}", path=INVOKE, headers=()):
    """Headers for a POST signed with botocore."""
    request = AWSRequest(method="POST", url="https://localhost:%d%s" % (server.port, path), data=body,
                         headers=dict(headers))
    SigV4Auth(Credentials(server.access_key, server.secret_key), "lambda", server.region).add_auth(request)
    return dict(request.headers.items())


def tls_socket(server, hostname="localhost"):
    ctx = ssl.create_default_context(cafile=server.ca_pem)
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=5), server_hostname=hostname)


def raw_request(server, body=b"{}", path=INVOKE, extra=()):
    """The bytes of a signed request, with extra (name, value) headers after signing."""
    headers = signed(server, body, path, headers=[("Host", "localhost:%d" % server.port)])
    lines = ["POST %s HTTP/1.1" % path] + ["%s: %s" % kv for kv in list(headers.items()) + list(extra)]
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_reply(sock):
    """(status, headers dict, body) of one reply read from a socket (Content-Length framing)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed after %r" % data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


# -- Lambda Invoke through boto3 ---------------------------------------------------------


def test_invoke_echoes_the_event_and_verifies_the_signature(aws_server):
    reply = lambda_client(aws_server).invoke(FunctionName="notify", Payload=json.dumps({"msg": "hi", "n": 1}))
    assert reply["StatusCode"] == 200
    assert json.loads(reply["Payload"].read()) == {"msg": "hi", "n": 1}
    assert reply["ExecutedVersion"] == "$LATEST"
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-requestid"] and headers["date"].endswith(" GMT")
    assert aws_server.invocations("notify") == [{"msg": "hi", "n": 1}]
    (request,) = aws_server.requests
    assert request.signature == "ok" and request.status == 200 and request.method == "POST"
    assert request.path == INVOKE and request.header("host") == "localhost:%d" % aws_server.port
    assert request.canonical_request.startswith("POST\n" + INVOKE + "\n")


def test_function_name_forms_and_qualifiers(aws_server):
    aws_server.register_function("f", lambda event: event["x"] * 2, versions=("$LATEST", "3"), aliases={"prod": "3"})
    client = lambda_client(aws_server)
    for name, qualifier, version in [
        ("f", None, "$LATEST"),
        ("f:prod", None, "3"),
        ("f", "3", "3"),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", "prod", "3"),
        ("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST", None, "$LATEST"),
        ("123456789012:function:f:3", None, "3"),
    ]:
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        reply = lambda_client(aws_server).invoke(FunctionName=name, Payload=b'{"x": 21}', **kwargs)
        assert (json.loads(reply["Payload"].read()), reply["ExecutedVersion"]) == (42, version), name
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="f:prod", Qualifier="3", Payload=b"{}")
    assert error_of(excinfo)[:2] == (400, "InvalidParameterValueException")
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="f:7", Payload=b"{}")
    assert error_of(excinfo) == (404, "ResourceNotFoundException",
                                 "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f:7")


def test_unknown_function_is_resource_not_found(aws_server):
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server).invoke(FunctionName="nope", Payload=b"{}")
    assert error_of(excinfo) == (404, "ResourceNotFoundException",
                                 "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope")
    assert excinfo.value.response["Type"] == "User"
    assert aws_server.requests[0].error_type == "ResourceNotFoundException"


def test_event_and_dry_run_invocations(aws_server):
    client = lambda_client(aws_server)
    reply = client.invoke(FunctionName="notify", InvocationType="Event", Payload=b'{"e": 1}')
    assert reply["StatusCode"] == 202 and reply["Payload"].read() == b""
    reply = client.invoke(FunctionName="notify", InvocationType="DryRun", Payload=b'{"d": 1}')
    assert reply["StatusCode"] == 204
    assert aws_server.invocations("notify") == [{"e": 1}]
    assert aws_server.invocation_log[0].invocation_type == "Event"


def test_log_tail_client_context_and_context_object(aws_server):
    def fn(event, context):
        context.log("got %s from %s" % (event, context.client_context["custom"]["device"]))
        return {"arn": context.invoked_function_arn}

    aws_server.register_function("ctx", fn)
    client_context = base64.b64encode(json.dumps({"custom": {"device": "esp32-1"}}).encode()).decode()
    reply = lambda_client(aws_server).invoke(FunctionName="ctx", Payload=b"[1]", LogType="Tail",
                                              ClientContext=client_context)
    assert json.loads(reply["Payload"].read()) == {"arn": "arn:aws:lambda:us-east-1:123456789012:function:ctx"}
    log = base64.b64decode(reply["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "got [1] from esp32-1\n" in log and "\nREPORT RequestId: " in log
    assert aws_server.invocation_log[0].client_context == {"custom": {"device": "esp32-1"}}


def test_function_errors(aws_server):
    def boom(event):
        raise ValueError("bad input %s" % event["v"])

    aws_server.register_function("boom", boom)
    aws_server.register_function("handled", boom, error_style="Handled")
    aws_server.register_function("unmarshalable", lambda event: {1, 2})
    client = lambda_client(aws_server)
    reply = client.invoke(FunctionName="boom", Payload=b'{"v": 7}')
    assert reply["StatusCode"] == 200 and reply["FunctionError"] == "Unhandled"
    body = json.loads(reply["Payload"].read())
    assert (body["errorMessage"], body["errorType"]) == ("bad input 7", "ValueError")
    assert body["requestId"] and body["stackTrace"]
    assert client.invoke(FunctionName="handled", Payload=b'{"v": 1}')["FunctionError"] == "Handled"
    reply = client.invoke(FunctionName="unmarshalable", Payload=b"{}")
    assert json.loads(reply["Payload"].read())["errorType"] == "Runtime.MarshalError"
    assert aws_server.invocations("boom") == [{"v": 7}]


def test_invalid_json_and_too_large_payloads(aws_server_factory):
    server = aws_server_factory(max_payload=1000)
    client = lambda_client(server)
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="notify", Payload=b"{not json")
    assert error_of(excinfo)[:2] == (400, "InvalidRequestContentException")
    assert error_of(excinfo)[2].startswith("Could not parse request body into json")
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="notify", Payload=json.dumps({"x": "y" * 1000}))
    assert error_of(excinfo) == (413, "RequestEntityTooLargeException",
                                 "Request must be smaller than 1000 bytes for the InvokeFunction operation")
    assert server.invocations("notify") == []


def test_six_megabyte_limit(aws_server):
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server).invoke(FunctionName="notify", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert error_of(excinfo)[:2] == (413, "RequestEntityTooLargeException")


# -- signatures and clocks ---------------------------------------------------------------


def test_wrong_secret_is_invalid_signature(aws_server):
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server, secret_key="x" * 40).invoke(FunctionName="notify", Payload=b"{}")
    status, code, message = error_of(excinfo)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "InvalidSignatureException"
    assert aws_server.requests[0].signature == "mismatch" and aws_server.invocations("notify") == []


def test_unknown_access_key_is_unrecognized_client(aws_server):
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server, access_key="AKIAUNKNOWNKEY000000").invoke(FunctionName="notify", Payload=b"{}")
    assert error_of(excinfo) == (403, "UnrecognizedClientException",
                                 "The security token included in the request is invalid.")


def test_session_token_must_match(aws_server):
    secret = aws_server.add_credentials("ASIATEMPORARYKEY0000", session_token="token/123+abc==")
    ok = boto3.client("lambda", endpoint_url=aws_server.endpoint, verify=aws_server.ca_pem, region_name="us-east-1",
                      aws_access_key_id="ASIATEMPORARYKEY0000", aws_secret_access_key=secret,
                      aws_session_token="token/123+abc==")
    assert ok.invoke(FunctionName="notify", Payload=b"{}")["StatusCode"] == 200
    bad = boto3.client("lambda", endpoint_url=aws_server.endpoint, verify=aws_server.ca_pem, region_name="us-east-1",
                       aws_access_key_id="ASIATEMPORARYKEY0000", aws_secret_access_key=secret,
                       aws_session_token="other", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        bad.invoke(FunctionName="notify", Payload=b"{}")
    assert error_of(excinfo)[:2] == (403, "UnrecognizedClientException")


def test_wrong_region_in_scope(aws_server):
    client = boto3.client("lambda", endpoint_url=aws_server.endpoint, verify=aws_server.ca_pem,
                          region_name="eu-west-1", aws_access_key_id=aws_server.access_key,
                          aws_secret_access_key=aws_server.secret_key,
                          config=botocore.config.Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="notify", Payload=b"{}")
    assert error_of(excinfo) == (403, "InvalidSignatureException", "Credential should be scoped to a valid region. ")
    assert aws_server.requests[0].signature == "ok"  # the signature itself was right, for eu-west-1


@pytest.mark.parametrize("offset, start", [(3600, "Signature expired: "), (-3600, "Signature not yet current: ")])
def test_server_clock_offset(aws_server, offset, start):
    aws_server.clock_offset = offset
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server).invoke(FunctionName="notify", Payload=b"{}")
    status, code, message = error_of(excinfo)
    assert (status, code) == (403, "InvalidSignatureException") and message.startswith(start)
    date = excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["date"]
    server_time = datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT")
    real_time = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((server_time - real_time).total_seconds() - offset) < 5


def test_client_clock_an_hour_behind_is_signature_expired(aws_server, monkeypatch):
    an_hour_ago = datetime.datetime(2019, 6, 11, 5, 18, 19)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: an_hour_ago)
    aws_server.clock_offset = datetime.datetime(2019, 6, 11, 6, 18, 19, tzinfo=datetime.timezone.utc).timestamp() \
        - time.time()
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server).invoke(FunctionName="notify", Payload=b"{}")
    status, code, message = error_of(excinfo)
    assert (status, code) == (403, "InvalidSignatureException")
    # the server clock moves on while the test runs: the seconds may differ
    assert re.match(r"Signature expired: 20190611T051819Z is now earlier than 20190611T0613\d\dZ "
                    r"\(20190611T0618\d\dZ - 5 min\.\)$", message), message


def test_firmware_signer_is_accepted(aws_server):
    from mpaws.sigv4 import Signer

    body = b'{"from": "firmware"}'
    host = "localhost:%d" % aws_server.port
    signer = Signer(aws_server.access_key, aws_server.secret_key, "us-east-1", "lambda")
    path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Anotify/invocations"
    headers = [("Host", host), ("Content-Type", "application/json"), ("X-Amz-Invocation-Type", "RequestResponse")]
    headers += signer.sign("POST", path, query=[("Qualifier", "$LATEST")], headers=headers, body=body)
    conn = http.client.HTTPSConnection("localhost", aws_server.port, context=ssl.create_default_context(
        cafile=aws_server.ca_pem))
    conn.request("POST", path + "?Qualifier=%24LATEST", body=body, headers=dict(headers))
    reply = conn.getresponse()
    assert (reply.status, json.loads(reply.read())) == (200, {"from": "firmware"})
    assert aws_server.requests[0].signature == "ok"


def test_tampered_body_is_rejected(aws_server):
    data = raw_request(aws_server, body=b'{"a": 1}').replace(b'{"a": 1}', b'{"a": 2}')
    with tls_socket(aws_server) as sock:
        sock.sendall(data)
        status, headers, body = read_reply(sock)
    assert (status, headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    assert "does not match" in json.loads(body)["message"]


def test_missing_and_malformed_authorization(aws_server):
    with tls_socket(aws_server) as sock:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}" % INVOKE.encode())
        status, headers, body = read_reply(sock)
        assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: AWS4-HMAC-SHA256 Signature=00\r\n"
                     b"Content-Length: 0\r\n\r\n" % INVOKE.encode())
        status, headers, body = read_reply(sock)
        assert (status, headers["x-amzn-errortype"]) == (403, "IncompleteSignatureException")
        assert "requires 'Credential' parameter" in json.loads(body)["message"]
    assert [r.signature for r in aws_server.requests] == ["missing", "malformed"]


# -- HTTP behaviour and fault injection --------------------------------------------------


def test_keep_alive_one_handshake_for_five_invokes(aws_server):
    client = lambda_client(aws_server)
    for i in range(5):
        assert json.loads(client.invoke(FunctionName="notify", Payload=json.dumps([i]))["Payload"].read()) == [i]
    assert aws_server.handshakes == 1 and aws_server.connections == 1
    assert [(r.connection, r.index) for r in aws_server.requests] == [(1, i) for i in range(5)]


def test_throttling_surfaces_as_too_many_requests(aws_server):
    aws_server.throttle_next()
    client = lambda_client(aws_server)
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="notify", Payload=b"{}")
    assert error_of(excinfo) == (429, "TooManyRequestsException", "Rate exceeded")
    assert excinfo.value.response["Reason"] == "CallerRateLimitExceeded"
    assert client.invoke(FunctionName="notify", Payload=b"{}")["StatusCode"] == 200  # only the next one
    assert [r.status for r in aws_server.requests] == [429, 200]
    assert aws_server.invocations("notify") == [{}]


@pytest.mark.parametrize("status, code", [(500, "ServiceException"), (503, "ServiceException"), (502, "502"),
                                          (504, "504")])
def test_server_errors(aws_server, status, code):
    aws_server.fail_next(status)
    with pytest.raises(ClientError) as excinfo:
        lambda_client(aws_server).invoke(FunctionName="notify", Payload=b"{}")
    assert error_of(excinfo)[:2] == (status, code)


def test_fail_next_with_error_type_and_count(aws_server, monkeypatch):
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    aws_server.fail_next(503, "ServiceUnavailableException", "Try later", count=2)
    client = lambda_client(aws_server, retries={"total_max_attempts": 3, "mode": "standard"})
    assert client.invoke(FunctionName="notify", Payload=b"{}")["StatusCode"] == 200  # boto3 retried twice
    assert [r.status for r in aws_server.requests] == [503, 503, 200]
    assert aws_server.requests[0].error_type == "ServiceUnavailableException"


def test_chunked_reply_parses(aws_server):
    aws_server.chunk_next(sizes=[1, 2, 3])
    reply = lambda_client(aws_server).invoke(FunctionName="notify", Payload=json.dumps({"k": "v" * 50}))
    assert reply["ResponseMetadata"]["HTTPHeaders"]["transfer-encoding"] == "chunked"
    assert json.loads(reply["Payload"].read()) == {"k": "v" * 50}


def test_chunked_reply_on_the_wire(aws_server):
    aws_server.chunk_next(sizes=[4])
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server, body=b'"abcdef"', extra=[("Connection", "close")]))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head and b"Content-Length" not in head
    assert body == b"4\r\n\"abc\r\n4\r\ndef\"\r\n0\r\n\r\n"


def test_slow_reply_times_out_the_client(aws_server):
    aws_server.delay_next(3.0)  # stop() cuts the wait short
    client = lambda_client(aws_server, read_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.invoke(FunctionName="notify", Payload=b"{}")
    assert time.monotonic() - started < 2.5
    assert aws_server.requests[0].fault.delay == 3.0


def test_connection_close_is_honoured_and_announced(aws_server):
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server, extra=[("Connection", "close")]))
        status, headers, _ = read_reply(sock)
        assert (status, headers["connection"]) == (200, "close")
        assert sock.recv(10) == b""  # the server closed (after a TLS close_notify)


def test_close_after_next_reply_silently(aws_server):
    aws_server.close_after_next()
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server))
        status, headers, _ = read_reply(sock)
        assert (status, headers["connection"]) == (200, "keep-alive")  # but it closes anyway
        assert sock.recv(10) == b""
    client = lambda_client(aws_server)
    aws_server.close_after_next(announce=True)
    client.invoke(FunctionName="notify", Payload=b"{}")
    client.invoke(FunctionName="notify", Payload=b"{}")
    assert aws_server.handshakes == 3


def test_idle_connections_are_closed(aws_server):
    aws_server.idle_timeout = 0.2
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server))
        assert read_reply(sock)[0] == 200
        started = time.monotonic()
        assert sock.recv(10) == b""
        assert 0.1 < time.monotonic() - started < 2


def test_drop_without_reply(aws_server):
    aws_server.drop_next()
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server))
        with pytest.raises((EOFError, ssl.SSLError, ConnectionError)):
            read_reply(sock)
    aws_server.drop_next(reset=True)
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server))
        with pytest.raises((EOFError, ssl.SSLError, ConnectionError)):
            read_reply(sock)
    assert [r.status for r in aws_server.requests] == [None, None]
    assert aws_server.invocations("notify") == []


def test_eof_delimited_reply(aws_server):
    aws_server.inject(eof=True)
    conn = http.client.HTTPSConnection("localhost", aws_server.port,
                                       context=ssl.create_default_context(cafile=aws_server.ca_pem))
    body = b'{"x": 1}'
    conn.request("POST", INVOKE, body=body, headers=signed(aws_server, body, headers=[
        ("Host", "localhost:%d" % aws_server.port)]))
    reply = conn.getresponse()
    assert reply.getheader("Content-Length") is None and reply.getheader("Connection") == "close"
    assert json.loads(reply.read()) == {"x": 1}


def test_chunked_request_body_is_refused(aws_server):
    with tls_socket(aws_server) as sock:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
                     % INVOKE.encode())
        status, headers, _ = read_reply(sock)
        assert (status, headers["connection"]) == (411, "close")


def test_plain_http_listener(plain_http_server):
    client = lambda_client(plain_http_server)
    assert client.invoke(FunctionName="notify", Payload=b"{}")["StatusCode"] == 200
    assert plain_http_server.endpoint.startswith("http://")
    raw = socket.create_connection(("127.0.0.1", plain_http_server.port), timeout=5)
    ctx = ssl.create_default_context(cafile=plain_http_server.ca_pem)
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="localhost")
    raw.close()


def test_wrong_hostname_certificate(wrong_host_server):
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        tls_socket(wrong_host_server)
    with tls_socket(wrong_host_server, hostname="wrong.example") as sock:
        sock.sendall(raw_request(wrong_host_server))
        assert read_reply(sock)[0] == 200


def test_tls_is_1_2_with_ecdhe_rsa_aes128_gcm(aws_server):
    with tls_socket(aws_server) as sock:
        assert sock.version() == "TLSv1.2"
        assert sock.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"
    with open(aws_server.ca_der, "rb") as f:
        assert f.read() == aws_server.ca_der_bytes
    with open(aws_server.ca_pem) as f:
        assert ssl.PEM_cert_to_DER_cert(f.read()) == aws_server.ca_der_bytes


def test_a_stalled_handshake_is_the_listeners(aws_server):
    """The TLS listener every server shares (tools/localaws/tls_server.py) can accept a
    connection and never answer its ClientHello; the next connection is served."""
    aws_server.stall_next_handshakes(1)
    ctx = ssl.create_default_context(cafile=aws_server.ca_pem)
    with socket.create_connection(("127.0.0.1", aws_server.port), timeout=0.5) as raw:
        with pytest.raises(socket.timeout):
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert aws_server.handshakes == 0 and aws_server.connections == 1
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server))
        assert read_reply(sock)[0] == 200
    assert aws_server.handshakes == 1


def test_one_ca_for_the_test_servers_and_the_stand_in(aws_server):
    """One CA cache: the stand-in made without a CA presents a certificate of the same CA."""
    from local_aws import LocalAWS

    stand_in = LocalAWS(function_source=None)  # not started: its CA files are written at once
    try:
        with open(stand_in.ca_der, "rb") as f:
            assert f.read() == aws_server.ca_der_bytes
    finally:
        stand_in.stop()


# -- MicroPython's TLS (mbedTLS) against the server --------------------------------------

MPY_GET = """
import socket, ssl
with open(%(ca)r, "rb") as f:
    ca = f.read()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cadata=ca)
s = socket.socket()
s.connect(socket.getaddrinfo("127.0.0.1", %(port)d)[0][-1])
try:
    t = ctx.wrap_socket(s, server_hostname=%(hostname)r)
except Exception as e:
    print("TLS-ERROR", repr(e))
    raise SystemExit(3)
t.write(b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
data = b""
while True:
    chunk = t.read(512)
    if not chunk:
        break
    data += chunk
t.close()
print(data.split(b"\\r\\n")[0].decode())
"""


def run_mpy_get(micropython, server, hostname):
    code = MPY_GET % {"ca": server.ca_der, "port": server.port, "hostname": hostname}
    return run_micropython(micropython, ["-c", code], timeout=30)


def test_micropython_handshake(micropython, aws_server):
    result = run_mpy_get(micropython, aws_server, "localhost")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "HTTP/1.1 403 Forbidden"  # unsigned: MissingAuthenticationToken
    assert aws_server.handshakes == 1 and aws_server.requests[0].signature == "missing"


def test_micropython_rejects_another_hostname(micropython, aws_server, wrong_host_server):
    result = run_mpy_get(micropython, aws_server, "other.example")
    assert result.returncode == 3 and "TLS-ERROR" in result.stdout, result.stdout + result.stderr
    assert "Common Name (CN) does not match" in result.stdout
    result = run_mpy_get(micropython, wrong_host_server, "localhost")
    assert result.returncode == 3 and "does not match" in result.stdout, result.stdout + result.stderr
    assert aws_server.requests == [] and wrong_host_server.requests == []


def test_micropython_tls_to_plain_http_port_fails(micropython, plain_http_server):
    result = run_mpy_get(micropython, plain_http_server, "localhost")
    assert result.returncode == 3 and "TLS-ERROR" in result.stdout, result.stdout + result.stderr


# -- options -----------------------------------------------------------------------------


def test_custom_route_and_expect_continue(aws_server):
    aws_server.route("POST", "/echo", lambda request: (201, [("X-Seen", request.header("X-Thing"))], request.body))
    body = b"0123456789"
    with tls_socket(aws_server) as sock:
        sock.sendall(raw_request(aws_server, body=body, path="/echo", extra=[("Expect", "100-continue"),
                                                                             ("X-Thing", "t")])[:-len(body)])
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, headers, reply = read_reply(sock)
    assert (status, headers["x-seen"], reply) == (201, "t", body)
    assert aws_server.requests[0].signature == "ok"


def test_hostile_mode_is_a_behaviour_of_the_server_then_aws_handling_again(aws_server):
    aws_server.set_mode("unavailable", count=1)
    client = lambda_client(aws_server)
    with pytest.raises(ClientError) as excinfo:
        client.invoke(FunctionName="notify", Payload=b'{"id": "m-1"}')
    assert error_of(excinfo)[:2] == (503, "ServiceException")
    assert json.loads(client.invoke(FunctionName="notify", Payload=b'{"id": "m-1"}')["Payload"].read()) == {"id": "m-1"}
    assert [(r.mode, r.signature) for r in aws_server.requests] == [("unavailable", "missing"), ("normal", "ok")]
    assert aws_server.deliveries() == {"m-1": 2} and aws_server.invocations("notify") == [{"id": "m-1"}]


def test_unchecked_signatures_are_still_recorded(aws_server_factory):
    server = aws_server_factory(verify_signatures=False)
    assert lambda_client(server, secret_key="y" * 40).invoke(FunctionName="notify", Payload=b"{}")["StatusCode"] == 200
    assert server.requests[0].signature == "mismatch" and server.requests[0].status == 200


def test_explained_mismatch_and_coral_error_type(aws_server_factory):
    server = aws_server_factory(explain_signature_errors=True, coral_error_type=True)
    with pytest.raises(ClientError) as excinfo:
        lambda_client(server, secret_key="z" * 40).invoke(FunctionName="notify", Payload=b"{}")
    status, code, message = error_of(excinfo)
    assert (status, code) == (403, "InvalidSignatureException")  # botocore drops the ':http://...' suffix
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].startswith(
        "InvalidSignatureException:http://internal.amazon.com/coral/")
    assert "\n\nThe Canonical String for this request should have been\n'POST\n" + INVOKE + "\n" in message
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in message
