"""The local AWS stand-in (tools/localaws/local_aws.py) on its own, with boto3 and hand-made requests
as clients: moto's signature check and IAM, what is added to moto (request time, payload
hash, keep-alive, raw records, the function run in-process, faults, restart), and the
program with its control port."""
import base64
import datetime
import hashlib
import http.client
import json
import os
import shlex
import signal
import socket
import ssl
import stat
import subprocess
import sys
import urllib.request

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, HTTPClientError, ReadTimeoutError

from conftest import STAND_IN
from local_aws_fixtures import aws, stand_in  # noqa: F401

PROGRAM = os.path.join(STAND_IN, "local_aws.py")


def event(aws, subject="s", body="b", **fields):
    return json.dumps(dict({"topic": aws.topic_arn, "subject": subject, "body": body}, **fields))


def invoke(aws, payload, **kwargs):
    return aws.client("lambda", **kwargs).invoke(FunctionName=aws.function_name, Payload=payload)


def error_of(excinfo):
    """(HTTP status, error code) of a ClientError; moto answers its auth errors in IAM's
    XML, which boto3 does not parse for a JSON service, so the raw message is searched."""
    response = excinfo.value.response
    code = response["Error"].get("Code")
    for name in ("SignatureDoesNotMatch", "AccessDenied", "InvalidClientTokenId"):
        if name in response["Error"].get("Message", ""):
            code = name
    return response["ResponseMetadata"]["HTTPStatusCode"], code


def signed(aws, body, extra_headers=()):
    """A signed Invoke request as raw bytes (botocore's SigV4), for sending by hand."""
    headers = [("Host", "localhost:%d" % aws.port), ("Content-Type", "application/json")] + list(extra_headers)
    request = AWSRequest("POST", "%s/2015-03-31/functions/%s/invocations" % (aws.endpoint, aws.function_name),
                         data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(Credentials(aws.access_key, aws.secret_key), "lambda", aws.region).add_auth(request)
    head = "POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\n" % aws.function_name
    head += "".join("%s: %s\r\n" % (n, v) for n, v in request.headers.items())
    head += "Content-Length: %d\r\n\r\n" % len(body)
    return head.encode() + body


class Connection:
    """A TLS connection to the stand-in that sends raw bytes and reads replies."""

    def __init__(self, aws):
        ctx = ssl.create_default_context(cafile=aws.ca_pem)
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", aws.port), timeout=10),
                                    server_hostname="localhost")

    def exchange(self, data):
        self.sock.sendall(data)
        reply = http.client.HTTPResponse(self.sock)
        reply.begin()
        return reply, reply.read()

    def close(self):
        self.sock.close()


# -- moto: the function, SNS, IAM, the signature ---------------------------------------------


def test_invoke_runs_the_function_and_the_message_lands_in_sns(stand_in):
    aws = stand_in
    mark = len(aws.requests)
    reply = invoke(aws, event(aws, "Door", "Tür offen ✓"))
    result = json.loads(reply["Payload"].read())
    assert reply["StatusCode"] == 200 and "FunctionError" not in reply and reply["ExecutedVersion"] == "$LATEST"
    message = [m for m in aws.sns_messages() if m["message_id"] == result["messageId"]]
    assert [(m["topic"], m["subject"], m["message"]) for m in message] == [(aws.topic_arn, "Door", "Tür offen ✓")]
    # the function's own Publish went through the same endpoint, signed with its role's session
    [publish] = [r for r in aws.requests[mark:] if r.source == "function"]
    assert publish.service == "sns" and publish.status == 200 and publish.header("X-Amz-Security-Token")
    assert publish.access_key == aws.function_access_key != aws.access_key


def test_function_error_is_lambdas_unhandled_error(stand_in):
    aws = stand_in
    before = len(aws.sns_messages())
    reply = aws.client("lambda").invoke(FunctionName=aws.function_name, Payload=json.dumps({"topic": aws.topic_arn}),
                                        LogType="Tail")
    assert reply["StatusCode"] == 200 and reply["FunctionError"] == "Unhandled"
    error = json.loads(reply["Payload"].read())
    assert sorted(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorType"] == "InvalidMessage" and "subject" in error["errorMessage"]
    assert any("lambda_function.py" in line for line in error["stackTrace"])
    log = base64.b64decode(reply["LogResult"]).decode()
    assert log.startswith("START RequestId: %s" % error["requestId"]) and "[ERROR] InvalidMessage" in log
    assert len(aws.sns_messages()) == before


def test_qualifiers_and_unknown_functions(stand_in):
    aws = stand_in
    lam = aws.client("lambda")
    for name in (aws.function_arn + ":" + aws.function_alias, aws.function_name + ":1"):
        reply = lam.invoke(FunctionName=name, Payload=event(aws))
        assert reply["StatusCode"] == 200 and reply["ExecutedVersion"] == "1", name
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert error_of(excinfo) == (404, "ResourceNotFoundException")


def test_the_device_key_may_only_invoke(stand_in):
    with pytest.raises(ClientError) as excinfo:
        stand_in.client("sns").publish(TopicArn=stand_in.topic_arn, Message="x")
    assert error_of(excinfo) == (403, "AccessDenied")


def test_moto_checks_the_signature(stand_in):
    aws = stand_in
    with pytest.raises(ClientError) as excinfo:
        invoke(aws, event(aws), secret_key=aws.secret_key[::-1])
    assert error_of(excinfo) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as excinfo:
        invoke(aws, event(aws), access_key="AKIAUNKNOWNKEY000000")
    assert error_of(excinfo) == (403, "InvalidClientTokenId")


# -- what is added to moto -------------------------------------------------------------------


@pytest.mark.parametrize("minutes, words", [(-6, "Signature expired"), (6, "Signature not yet current"),
                                            (-4, None), (4, None)])
def test_request_time_is_checked(stand_in, monkeypatch, minutes, words):
    aws = stand_in
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: when)
    if words is None:
        assert invoke(aws, event(aws))["StatusCode"] == 200
        return
    with pytest.raises(ClientError) as excinfo:
        invoke(aws, event(aws))
    response = excinfo.value.response
    assert error_of(excinfo) == (403, "InvalidSignatureException") and words in response["Error"]["Message"]
    server_date = datetime.datetime.strptime(response["ResponseMetadata"]["HTTPHeaders"]["date"],
                                             "%a, %d %b %Y %H:%M:%S GMT")
    assert abs((server_date - when).total_seconds() + minutes * 60) < 60


def test_server_clock_offset_is_in_the_date_header_and_the_check(stand_in):
    aws = stand_in
    aws.clock_offset = -3600
    with pytest.raises(ClientError) as excinfo:
        invoke(aws, event(aws))
    assert "Signature not yet current" in excinfo.value.response["Error"]["Message"]
    date = excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["date"]
    server = datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - server).total_seconds() - 3600) < 60


def test_payload_hash_must_be_the_bodys(stand_in):
    aws = stand_in
    body = event(aws).encode()
    conn = Connection(aws)
    try:
        other = hashlib.sha256(body + b" ").hexdigest()
        reply, data = conn.exchange(signed(aws, body, extra_headers=[("X-Amz-Content-SHA256", other)]))
        assert reply.status == 403 and b"x-amz-content-sha256" in data
        assert reply.getheader("x-amzn-ErrorType") == "InvalidSignatureException"
        right = hashlib.sha256(body).hexdigest()
        reply, data = conn.exchange(signed(aws, body, extra_headers=[("X-Amz-Content-SHA256", right)]))
        assert reply.status == 200 and b"messageId" in data
    finally:
        conn.close()


def test_keep_alive_and_raw_records(stand_in):
    aws = stand_in
    warm_up = Connection(aws)  # opens the function's own (kept) connection to SNS, whichever test runs first
    try:
        warm_up.exchange(signed(aws, event(aws, body="zero").encode()))
    finally:
        warm_up.close()
    handshakes, mark = aws.handshakes, len(aws.requests)
    conn = Connection(aws)
    sent = [signed(aws, event(aws, body="one").encode()), signed(aws, event(aws, body="two é").encode())]
    try:
        for data in sent:
            reply, body = conn.exchange(data)
            assert reply.status == 200 and reply.getheader("Connection") == "keep-alive", body
    finally:
        conn.close()
    requests = aws.client_requests(mark)
    assert [r.raw for r in requests] == sent  # byte for byte, as received
    assert [r.index for r in requests] == [0, 1] and requests[0].connection == requests[1].connection
    assert aws.handshakes == handshakes + 1
    assert requests[1].reply.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nDate: " in requests[1].reply


def test_faults_apply_to_the_next_client_requests(stand_in):
    aws = stand_in
    aws.fail_next(429, count=2)
    aws.fail_next(503)
    for status, code in ((429, "TooManyRequestsException"), (429, "TooManyRequestsException"),
                         (503, "ServiceException")):
        with pytest.raises(ClientError) as excinfo:
            invoke(aws, event(aws))
        assert error_of(excinfo) == (status, code)
    assert invoke(aws, event(aws))["StatusCode"] == 200
    with pytest.raises(ValueError):
        aws.fail_next(404)


def test_drop_and_delay(stand_in):
    aws = stand_in
    mark = len(aws.requests)
    aws.drop_next()
    with pytest.raises(HTTPClientError):
        invoke(aws, b"{}")
    aws.delay_next(2)
    with pytest.raises(ReadTimeoutError):
        invoke(aws, b"{}", read_timeout=0.3)
    aws.wait_for_requests(mark + 2)
    dropped, delayed = aws.client_requests(mark)
    assert dropped.fault.drop and dropped.reply is None and delayed.fault.delay == 2


def test_restart_keeps_the_port_and_the_state(stand_in):
    aws = stand_in
    lam = aws.client("lambda")
    mark, port = len(aws.requests), aws.port
    first = json.loads(lam.invoke(FunctionName=aws.function_name, Payload=event(aws))["Payload"].read())
    aws.restart()
    second = json.loads(lam.invoke(FunctionName=aws.function_name, Payload=event(aws))["Payload"].read())
    before, after = aws.client_requests(mark)
    assert aws.port == port and before.connection != after.connection
    ids = {m["message_id"] for m in aws.sns_messages()}
    assert first["messageId"] in ids and second["messageId"] in ids


# -- the program and its control port ---------------------------------------------------------


def test_program_with_control_port(tmp_path):
    folder = tmp_path / "aws"
    proc = subprocess.Popen([sys.executable, PROGRAM, "--dir", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = []
        for line in proc.stdout:
            if line.strip() == "ready":
                break
            banner.append(line)
        state = json.loads((folder / "state.json").read_text())
        config = {}
        exec((folder / "config.py").read_text(), config)
        secret = config["CONFIG_AWS_SECRET_KEY"]
        assert stat.S_IMODE(os.stat(folder / "config.py").st_mode) == 0o600
        assert secret not in "".join(banner) and secret not in json.dumps(state)
        assert str(folder / "ca.der") in "".join(banner) and str(folder / "config.py") in "".join(banner)
        assert config["CONFIG_AWS_HOST"] == "localhost:%d" % state["port"]

        def control(method, path, body=None):
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(state["control"] + path, data=data, method=method)
            with urllib.request.urlopen(request, timeout=10) as reply:
                return json.loads(reply.read())

        import boto3

        lam = boto3.client("lambda", endpoint_url=state["endpoint"], region_name=state["region"],
                           verify=state["ca_pem"], aws_access_key_id=config["CONFIG_AWS_ACCESS_KEY"],
                           aws_secret_access_key=secret)
        mark = control("GET", "/state")["requests"]
        assert control("POST", "/faults", {"status": 429, "count": 1}) == {"pending": 1}
        payload = json.dumps({"topic": state["topic_arn"], "subject": "ctl", "body": "via the control port"})
        reply = lam.invoke(FunctionName=state["function_name"], Payload=payload)  # boto3 retries the 429
        message_id = json.loads(reply["Payload"].read())["messageId"]
        assert [m["message_id"] for m in control("GET", "/messages") if m["subject"] == "ctl"] == [message_id]
        client = [r for r in control("GET", "/requests?since=%d" % mark) if r["source"] == "client"]
        assert [r["status"] for r in client] == [429, 200]
        assert base64.b64decode(client[1]["raw"]).endswith(payload.encode())
        assert control("POST", "/clock", {"offset": -3600}) == {"clock_offset": -3600}
        with pytest.raises(ClientError):
            lam.invoke(FunctionName=state["function_name"], Payload=payload)
        assert control("POST", "/restart")["port"] == state["port"]
        assert control("POST", "/stop") == {"stopping": True}
        assert proc.wait(20) == 0
        assert (folder / "config.py").exists()  # --dir is the user's: kept
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _program(*options, cwd):
    """tools/localaws/local_aws.py run from `cwd` (not the repository), temporary files in cwd/tmp."""
    (cwd / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(cwd / "tmp"), PYTHONIOENCODING="utf-8")
    return subprocess.Popen([sys.executable, PROGRAM] + list(options), cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _banner(proc):
    lines = []
    for line in proc.stdout:
        if line.strip() == "ready":
            return "".join(lines)
        lines.append(line)
    raise AssertionError("no ready line: %s %s" % ("".join(lines), proc.stderr.read()))


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "POST /stop"])
def test_program_removes_its_temporary_folder_on_exit(tmp_path, how):
    """Without --dir the folder (with the device's secret key) goes on every way out; the
    banner says how to stop and how to send to it, and its send command works as printed."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _program(cwd=tmp_path)
    try:
        banner = _banner(proc)
        [folder] = list((tmp_path / "tmp").iterdir())
        assert folder.name.startswith("mpaws-local-aws-") and (folder / "config.py").exists()
        state = json.loads((folder / "state.json").read_text())
        assert "Ctrl-C" in banner and "%s is then removed" % folder in banner
        [send] = [line for line in banner.splitlines() if "demo_device.py" in line]
        assert "curl %s/messages" % state["control"] in banner
        if how == "POST /stop":
            # the command as printed, run from another directory: its relative paths (the folder,
            # below where it was printed) made absolute
            words = shlex.split(send)
            command = [str(tmp_path / arg) if (tmp_path / arg).exists() else arg for arg in words]
            sent = subprocess.run(command, cwd=elsewhere, capture_output=True, text=True, timeout=120)
            assert sent.returncode == 0, sent.stdout + sent.stderr
            with urllib.request.urlopen(state["control"] + "/messages", timeout=10) as reply:
                messages = json.loads(reply.read())
            assert [(m["subject"], m["message"]) for m in messages] == [(words[-2], words[-1])]
            request = urllib.request.Request(state["control"] + "/stop", data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert json.loads(reply.read()) == {"stopping": True}
        else:
            proc.send_signal(getattr(signal, how))
        assert proc.wait(30) == 0
        assert proc.stderr.read() == ""  # no traceback
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_program_refuses_a_port_in_use_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for option in ("--port", "--control-port"):
            proc = _program(option, str(port), cwd=tmp_path)
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 1, out + err
            assert err.startswith("error: ") and "port %d is in use" % port in err and option in err, err
            assert "Traceback" not in err and err.count("\n") == 1
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("options, words", [(("--port", "70000"), "argument --port: '70000' is not a port"),
                                            (("--function", "no-such.py"), "--function no-such.py: no such file"),
                                            (("--dir", "config.py/x"), "--dir config.py/x: cannot create it")])
def test_program_names_a_bad_option(tmp_path, options, words):
    (tmp_path / "config.py").write_text("")
    proc = _program(*options, cwd=tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (1, 2) and words in err and "Traceback" not in err, err
    assert list((tmp_path / "tmp").iterdir()) == []


def test_program_without_its_packages_says_how_to_get_them(tmp_path):
    """A Python without trustme (or moto, boto3): the `make setup` hint, not an ImportError."""
    script = ("import runpy, sys; sys.modules['trustme'] = None; sys.argv = [%r]; "
              "runpy.run_path(%r, run_name='__main__')") % ("local_aws.py", PROGRAM)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == "error: local_aws.py needs trustme: run `make setup` and use .venv/bin/python\n"
