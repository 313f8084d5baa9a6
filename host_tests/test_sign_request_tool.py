"""tools/sign_request.py as a command: the same bytes on stdout and stderr under CPython
and under the MicroPython unix port, usage errors that say what is wrong, and the secret
key printed nowhere."""
import base64
import hashlib
import os
import random
import re
import subprocess
import sys

import pytest

from conftest import REPO, TOOLS, run_micropython

from test_sigv4_vectors import ACCESS_KEY, CASE_NAMES, CASES, SECRET_KEY, case_opts

TOOL = os.path.join(TOOLS, "sign_request.py")
SEED_BODY = (
    b'{"topic": "arn:aws:sns:ap-southeast-1:773510983687:FT900SNStopic", "subject": "subject", '
    b'"body": "body of message"}'
)
SEED_HEAD = (
    "POST /2015-03-31/functions/FT900LambdaToSNS/invocations HTTP/1.1\r\n"
    "Host:lambda.ap-southeast-1.amazonaws.com\r\n"
    "Content-Type:application/json\r\n"
    "X-Amz-Date:20190611T055819Z\r\n"
    "Content-Length:%d\r\n"
    "\r\n"
)
SEED_OPTS = ["--region", "ap-southeast-1", "--service", "lambda", "--date", "20190611T055819Z"]
MODES = {
    "plain": [],
    "sign-body": ["--sign-body"],
    "presign": ["--presign", "3600"],
    "session-token": ["--session-token", "X"],
    "token-after": ["--session-token", "X", "--token-after"],
    "no-normalize": ["--no-normalize"],
    "crlf": ["--crlf"],
}
# Cases that between them exercise folded and duplicate headers, UTF-8 paths and queries,
# query ordering, path normalisation, a body, and a token header already in the request.
REPRESENTATIVE = (
    "get-header-value-multiline",
    "get-header-key-duplicate",
    "get-utf8",
    "get-vanilla-utf8-query",
    "get-vanilla-query-order-encoded",
    "normalize-path/get-slash-dot-slash",
    "normalize-path/get-space",
    "post-sts-token/post-sts-header-before",
    "post-x-www-form-urlencoded-parameters",
)
# The MicroPython unix port interns each command-line argument as a qstr, which may be
# at most 255 bytes: a longer argument aborts the interpreter ("FATAL: uncaught NLR")
# before the script runs. The suite's STS token (and any real one) is longer, so such a
# token goes through --session-token-file.
MAX_ARGUMENT = 255


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "seed.req"
    path.write_bytes((SEED_HEAD % len(SEED_BODY)).encode() + SEED_BODY)
    assert len(SEED_BODY) == 115
    return str(path)


def run_cpython(args):
    return subprocess.run([sys.executable, TOOL] + args, cwd=REPO, capture_output=True, timeout=60)


def run_mpy(micropython, args):
    return subprocess.run([micropython, TOOL] + args, cwd=REPO, capture_output=True, timeout=60)


def assert_no_secret(*procs):
    for proc in procs:
        for stream in (proc.stdout, proc.stderr):
            assert SECRET_KEY.encode() not in stream
            # Nor a recognisable part of it (e.g. a truncated or escaped copy).
            assert SECRET_KEY[:16].encode() not in stream and SECRET_KEY[-16:].encode() not in stream


def run_both(micropython, args):
    """Runs the tool under both interpreters; asserts identical exit code, stdout and stderr."""
    cp = run_cpython(args)
    mp = run_mpy(micropython, args)
    assert_no_secret(cp, mp)
    assert mp.returncode == cp.returncode, (cp.stderr, mp.stderr)
    assert mp.stderr == cp.stderr
    assert mp.stdout == cp.stdout
    return cp


def credentials():
    return ["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]


def vector_args(name, mode, tmp_dir):
    """The case's request file and options (its own session token unless the mode sets one;
    a token too long for a micropython argument goes in a file in tmp_dir)."""
    opts = case_opts(name)
    if "--session-token" in MODES[mode]:
        opts.pop("--session-token", None)
        opts.pop("--token-after", None)
    token = opts.get("--session-token")
    if token is not None and len(token) > MAX_ARGUMENT:
        path = os.path.join(str(tmp_dir), "token.txt")
        with open(path, "w") as f:
            f.write(token + "\n")
        opts["--session-token-file"] = path
        del opts["--session-token"]
    args = [os.path.join(CASES[name], name.rsplit("/", 1)[-1] + ".req")]
    for key, value in opts.items():
        args += [key] if value is True else [key, value]
    return args + MODES[mode] + ["--explain"]


def vector_params():
    params = [pytest.param(name, "plain", id="plain-" + name) for name in CASE_NAMES]
    for mode in MODES:
        if mode != "plain":
            params += [pytest.param(name, mode, id=mode + "-" + name) for name in REPRESENTATIVE]
    return params


def test_sts_case_token_needs_the_file():
    # What makes the file necessary: the suite's STS token is over the argument limit.
    assert len(case_opts("post-sts-token/post-sts-header-after")["--session-token"]) > MAX_ARGUMENT


@pytest.mark.parametrize("name,mode", vector_params())
def test_same_output_on_vectors(micropython, tmp_path, name, mode):
    cp = run_both(micropython, vector_args(name, mode, tmp_path))
    assert cp.returncode == 0, cp.stderr
    assert b"--- canonical request\n" in cp.stderr and b"--- signature\n" in cp.stderr


@pytest.mark.parametrize("mode", sorted(MODES))
def test_same_output_on_seed(micropython, seed, mode):
    cp = run_both(micropython, [seed] + credentials() + SEED_OPTS + MODES[mode] + ["--explain"])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.endswith(b"\r\n\r\n" + SEED_BODY)
    creq = cp.stderr.decode().split("--- canonical request\n", 1)[1].split("\n--- string to sign\n")[0]
    assert creq.split("\n")[1] == "/2015-03-31/functions/FT900LambdaToSNS/invocations"
    assert "\ncontent-length:115\n" in creq


def test_crlf_output(micropython, tmp_path):
    name = "post-x-www-form-urlencoded"
    cp = run_both(micropython, vector_args(name, "crlf", tmp_path))
    head, body = cp.stdout.split(b"\r\n\r\n", 1)
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert head.count(b"\r\n") == 4  # request line, 3 headers, Authorization
    assert body == b"Param1=value1"


def test_token_after_prints_an_unsigned_token(micropython, tmp_path):
    cp = run_both(micropython, vector_args("get-vanilla", "token-after", tmp_path))
    out = cp.stdout.decode()
    assert "\nX-Amz-Security-Token:X\n" in out
    assert "SignedHeaders=host;x-amz-date," in out


@pytest.mark.parametrize("interpreter", ["cpython", "micropython"])
def test_presign(micropython, seed, interpreter):
    args = [seed] + credentials() + SEED_OPTS + ["--presign", "3600"]
    proc = run_cpython(args) if interpreter == "cpython" else run_mpy(micropython, args)
    assert_no_secret(proc)
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.split(b"\r\n\r\n", 1)[0].decode()
    request_line, headers = head.split("\r\n", 1)
    method, target, version = request_line.split(" ")
    assert (method, version) == ("POST", "HTTP/1.1")
    path, query = target.split("?", 1)
    assert path == "/2015-03-31/functions/FT900LambdaToSNS/invocations"
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Credential"] == ACCESS_KEY + "%2F20190611%2Fap-southeast-1%2Flambda%2Faws4_request"
    assert params["X-Amz-Date"] == "20190611T055819Z"
    assert params["X-Amz-Expires"] == "3600"
    assert params["X-Amz-SignedHeaders"] == "content-length%3Bcontent-type%3Bhost%3Bx-amz-date"
    assert re.fullmatch("[0-9a-f]{64}", params["X-Amz-Signature"])
    assert list(params)[-1] == "X-Amz-Signature"
    assert "authorization" not in headers.lower()
    assert "X-Amz-Security-Token" not in params


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def usage_error(micropython, args):
    """Runs a failing command under both interpreters: same output, exit status 2, and the
    message (on stderr, nothing on stdout); returns the message."""
    cp = run_both(micropython, args)
    assert cp.returncode == 2
    assert cp.stdout == b""
    return cp.stderr.decode()


def test_missing_region(micropython, seed):
    err = usage_error(micropython, [seed] + credentials() + ["--service", "lambda", "--date", "20190611T055819Z"])
    assert "error: --region is required" in err


def test_wrong_content_length(micropython, tmp_path):
    path = write(tmp_path, "seed.req", (SEED_HEAD % (len(SEED_BODY) + 1)).encode() + SEED_BODY)
    err = usage_error(micropython, [path] + credentials() + SEED_OPTS)
    assert "error: Content-Length is 116 but the body has 115 bytes" in err


def test_invalid_header_name(micropython, tmp_path):
    path = write(tmp_path, "bad.req", b"GET / HTTP/1.1\nHost:example.amazonaws.com\nBad Header:x\n")
    err = usage_error(micropython, [path] + credentials() + SEED_OPTS)
    assert err.startswith("error: ") and "'Bad Header'" in err


@pytest.mark.parametrize("value", [b"a\rX-Injected: 1", b"a\x00b", b"a\x1bb"], ids=["bare-cr", "nul", "esc"])
def test_header_value_injection(micropython, tmp_path, value):
    # In a file with LF line ends a bare CR stays in the value: the signer must refuse it.
    path = write(tmp_path, "bad.req", b"GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header:" + value + b"\n")
    err = usage_error(micropython, [path] + credentials() + SEED_OPTS)
    assert "'My-Header'" in err


def test_folded_header_is_accepted(micropython, tmp_path):
    path = write(tmp_path, "folded.req", b"GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header:a\n  b\n")
    cp = run_both(micropython, [path] + credentials() + SEED_OPTS + ["--explain"])
    assert cp.returncode == 0
    assert b"\nmy-header:a b\n" in cp.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--presign", "0"], "expires"),
        (["--presign", "604801"], "expires"),
        (["--presign", "soon"], "--presign"),
        (["--date", "2019-06-11T05:58:19Z"], "date"),
        (["--region", "Ap Southeast 1"], "region"),
        (["--access-key", "AKID EXAMPLE"], "access_key"),
        (["--bogus"], "unknown option --bogus"),
        (["--date"], "--date needs a value"),
    ],
    ids=["presign-0", "presign-too-long", "presign-text", "date", "region", "access-key", "unknown", "no-value"],
)
def test_bad_options(micropython, seed, args, message):
    # The last of a repeated option wins, so these override the good ones.
    err = usage_error(micropython, [seed] + credentials() + SEED_OPTS + args)
    assert message in err


def test_missing_file(micropython, tmp_path):
    # The OSError's own text differs between the interpreters; the tool's part does not.
    path = str(tmp_path / "nope.req")
    args = [path] + credentials() + SEED_OPTS
    for proc in (run_cpython(args), run_mpy(micropython, args)):
        assert_no_secret(proc)
        assert proc.returncode == 2 and proc.stdout == b""
        assert proc.stderr.decode().startswith("error: cannot read %s: " % path)


def test_help(micropython):
    cp = run_both(micropython, ["--help"])
    assert cp.returncode == 0
    assert cp.stderr.startswith(b"usage: sign_request.py")
    assert b"--session-token-file PATH" in cp.stderr


def sts_like_token(length=800):
    """A token shaped like an STS session token: base64 text of about 800 characters."""
    raw = random.Random(length).randbytes(length * 3 // 4)
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"], ids=["no-newline", "lf", "crlf"])
@pytest.mark.parametrize("mode", ["signed", "token-after", "presign"])
def test_session_token_file(micropython, seed, tmp_path, ending, mode):
    """A real-length token from a file: the same output under both interpreters, and the
    same as the token given on the CPython command line (its trailing line break dropped)."""
    token = sts_like_token()
    assert len(token) == 800 and len(token) > MAX_ARGUMENT
    path = write(tmp_path, "token.txt", (token + ending).encode())
    extra = {"signed": [], "token-after": ["--token-after"], "presign": ["--presign", "900"]}[mode]
    base = [seed] + credentials() + SEED_OPTS + extra + ["--explain"]
    cp = run_both(micropython, base + ["--session-token-file", path])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == run_cpython(base + ["--session-token", token]).stdout
    if mode == "presign":
        assert b"X-Amz-Security-Token=" + token.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D").encode() \
            in cp.stdout
    else:
        assert b"\r\nX-Amz-Security-Token:" + token.encode() + b"\r\n" in cp.stdout
        assert (b"x-amz-security-token:" + token.encode() in cp.stderr) == (mode == "signed")


def test_session_token_file_and_argument_together(micropython, seed, tmp_path):
    path = write(tmp_path, "token.txt", b"X\n")
    err = usage_error(micropython, [seed] + credentials() + SEED_OPTS + ["--session-token", "X",
                                                                          "--session-token-file", path])
    assert "error: give --session-token or --session-token-file, not both" in err


def test_session_token_file_missing(micropython, seed, tmp_path):
    path = str(tmp_path / "nope.txt")
    args = [seed] + credentials() + SEED_OPTS + ["--session-token-file", path]
    for proc in (run_cpython(args), run_mpy(micropython, args)):
        assert_no_secret(proc)
        assert proc.returncode == 2 and proc.stdout == b""
        assert proc.stderr.decode().startswith("error: cannot read %s: " % path)


def test_session_token_file_with_a_line_break_inside(micropython, seed, tmp_path):
    # Only the trailing line break is dropped: one inside would be header injection.
    path = write(tmp_path, "token.txt", b"AAAA\nX-Evil: 1\n")
    err = usage_error(micropython, [seed] + credentials() + SEED_OPTS + ["--session-token-file", path])
    assert "X-Amz-Security-Token" in err


def test_micropython_argv_limit_is_the_port_not_the_tool(micropython):
    """Pins why --session-token-file exists (plain-post-sts-header-after uses it): any argument of
    256 bytes or more, with any script. A real STS session token is longer than that."""
    ok = run_micropython(micropython, ["-c", "print('ok')", "A" * 255])
    assert ok.returncode == 0 and ok.stdout == "ok\n"
    bad = run_micropython(micropython, ["-c", "print('ok')", "A" * 256])
    assert bad.returncode != 0 and "ok" not in bad.stdout


# -- binary bodies, payload options, single encoding, S3 and IoT presigning -----------------
# Each output is the same under both interpreters (run_both) and is checked against botocore.

DATE = "20240101T000000Z"
BINARY_BODY = b"\x00\xff\xfe\r\n\r\nnot text\n\n\r\n\x80"


def signed_head(cp):
    """(request line, {header name: value}) of the tool's output, whatever its line ends."""
    ending = b"\r\n" if cp.stdout.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    lines = cp.stdout.split(ending + ending, 1)[0].decode().split(ending.decode())
    return lines[0], dict(line.split(":", 1) for line in lines[1:])


def boto_authorization(service, region, method, url, headers, body=b"", token=None, context=None, cls=None):
    from botocore import auth as botoauth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value
    request.context.update(context or {})
    request.context["timestamp"] = DATE
    auth = (cls or botoauth.SigV4Auth)(Credentials(ACCESS_KEY, SECRET_KEY, token), service, region)
    auth._modify_request_before_signing(request)
    creq = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, creq), request)
    auth._inject_signature_to_request(request, signature)
    return request.headers["Authorization"], creq


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_binary_body_with_line_breaks(micropython, tmp_path, ending):
    """The line endings come from the request line alone: a binary body holding the other
    kind (or both, or bytes that are not UTF-8) is signed and printed back untouched."""
    head = [b"PUT /2015-03-31/functions/f/invocations HTTP/1.1", b"Host:lambda.us-east-1.amazonaws.com",
            b"Content-Type:application/octet-stream", b"Content-Length:%d" % len(BINARY_BODY)]
    path = write(tmp_path, "binary.req", ending.join(head) + ending + ending + BINARY_BODY)
    cp = run_both(micropython, [path] + credentials() + ["--region", "us-east-1", "--service", "lambda",
                                                         "--date", DATE, "--explain"])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.endswith(ending + ending + BINARY_BODY)
    assert cp.stdout.count(ending + ending) >= 1 and cp.stdout.split(ending + ending, 1)[1] == BINARY_BODY
    _, headers = signed_head(cp)
    expected, creq = boto_authorization("lambda", "us-east-1", "PUT",
                                        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations",
                                        [(n.decode(), v.decode()) for n, v in (h.split(b":", 1) for h in head[1:])],
                                        BINARY_BODY)
    assert headers["Authorization"].strip() == expected
    assert hashlib.sha256(BINARY_BODY).hexdigest().encode() in cp.stderr


GET_REQ = b"GET /a%2Fb/c%20d/ HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20240101T000000Z\n\n"
SERVICE_OPTS = ["--region", "us-east-1", "--service", "service", "--date", DATE]
HEX = hashlib.sha256(b"the payload sent later").hexdigest()


@pytest.mark.parametrize("option", ["payload-hash", "unsigned-payload"])
@pytest.mark.parametrize("sign_body", [False, True], ids=["", "sign-body"])
def test_payload_options(micropython, tmp_path, option, sign_body):
    """--payload-hash HEX / --unsigned-payload sign that value instead of the body's hash;
    with --sign-body X-Amz-Content-SHA256 carries it. botocore signs the same when told by
    that header (with payload signing disabled, for UNSIGNED-PAYLOAD)."""
    value = HEX if option == "payload-hash" else "UNSIGNED-PAYLOAD"
    args = ["--payload-hash", HEX] if option == "payload-hash" else ["--unsigned-payload"]
    path = write(tmp_path, "get.req", GET_REQ)
    cp = run_both(micropython, [path] + credentials() + SERVICE_OPTS + args + (["--sign-body"] if sign_body else [])
                  + ["--explain"])
    assert cp.returncode == 0, cp.stderr
    creq = cp.stderr.decode().split("--- canonical request\n", 1)[1].split("\n--- string to sign\n")[0]
    assert creq.endswith("\n" + value)
    _, headers = signed_head(cp)
    assert headers.get("X-Amz-Content-SHA256") == (value if sign_body else None)
    if sign_body:
        boto_headers = [("Host", "example.amazonaws.com")]
        context = {}
        if option == "payload-hash":
            boto_headers.append(("X-Amz-Content-SHA256", HEX))
        else:
            context["payload_signing_enabled"] = False
        expected, b_creq = boto_authorization("service", "us-east-1", "GET", "https://example.amazonaws.com/a%2Fb/c%20d/",
                                              boto_headers, context=context)
        assert headers["Authorization"].strip() == expected and creq == b_creq


@pytest.mark.parametrize("args,message", [
    (["--payload-hash", "ABC"], "--payload-hash: want a SHA-256 as 64 lower-case hex digits, got 3 characters"),
    (["--payload-hash", HEX.upper()], "--payload-hash: want a SHA-256"),
    (["--payload-hash", HEX, "--unsigned-payload"], "give --payload-hash or --unsigned-payload, not both"),
    (["--presign", "60", "--sign-body"], "--sign-body is for header signing"),
], ids=["short", "upper-case", "both", "presign-sign-body"])
def test_payload_option_errors(micropython, seed, args, message):
    assert message in usage_error(micropython, [seed] + credentials() + SEED_OPTS + args)


def test_single_encode(micropython, tmp_path):
    """--single-encode signs the path as sent (already encoded), not encoded once more:
    what botocore signs with S3's path handling (S3SigV4Auth's, here for another service)."""
    from botocore import auth as botoauth

    class SingleEncoded(botoauth.SigV4Auth):
        _normalize_url_path = botoauth.S3SigV4Auth._normalize_url_path

    path = write(tmp_path, "get.req", GET_REQ)
    double = run_both(micropython, [path] + credentials() + SERVICE_OPTS + ["--explain"])
    single = run_both(micropython, [path] + credentials() + SERVICE_OPTS + ["--single-encode", "--explain"])
    assert b"\n/a%252Fb/c%2520d/\n" in double.stderr
    assert b"\n/a%2Fb/c%20d/\n" in single.stderr
    expected, _ = boto_authorization("service", "us-east-1", "GET", "https://example.amazonaws.com/a%2Fb/c%20d/",
                                     [("Host", "example.amazonaws.com")], cls=SingleEncoded)
    assert signed_head(single)[1]["Authorization"].strip() == expected


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEJr//////////wEaDO+/token="], ids=["", "token"])
def test_s3_presign_is_generate_presigned_url(micropython, tmp_path, method, token):
    """--service s3 --presign: the request line's target is what botocore's S3 client's
    generate_presigned_url gives (UNSIGNED-PAYLOAD, even with a body in the file)."""
    import datetime
    from unittest import mock

    import botocore.session
    from botocore import auth as botoauth
    from botocore.config import Config

    body = b"object data" if method == "PUT" else b""
    host = "my-bucket.s3.eu-west-1.amazonaws.com"
    req = "%s /photos/2024/a%%20b.jpg HTTP/1.1\nHost:%s\n" % (method, host)
    path = write(tmp_path, "s3.req", req.encode() + b"\n" + body)
    args = [path] + credentials() + ["--region", "eu-west-1", "--service", "s3", "--date", DATE, "--presign", "900"]
    cp = run_both(micropython, args + (["--session-token", token] if token else []))
    assert cp.returncode == 0, cp.stderr
    request_line, _ = signed_head(cp)
    client = botocore.session.get_session().create_client(
        "s3", region_name="eu-west-1", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        aws_session_token=token, config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    with mock.patch.object(botoauth, "get_current_datetime", return_value=datetime.datetime(2024, 1, 1)):
        url = client.generate_presigned_url({"GET": "get_object", "PUT": "put_object"}[method],
                                            Params={"Bucket": "my-bucket", "Key": "photos/2024/a b.jpg"},
                                            ExpiresIn=900)
    assert request_line == "%s %s HTTP/1.1" % (method, url[len("https://" + host):])
    assert cp.stdout.endswith(b"\n\n" + body)


def test_token_after_presign_is_the_iot_websocket_url(micropython, tmp_path):
    """--presign --token-after for service iotdevicegateway: the query of
    sigv4_full.iot_websocket_url() (token unsigned, after X-Amz-Signature)."""
    from mpaws import sigv4_full
    token = sts_like_token(200)
    endpoint = "abc123example-ats.iot.eu-west-1.amazonaws.com"
    path = write(tmp_path, "mqtt.req", ("GET /mqtt HTTP/1.1\nHost:%s\n\n" % endpoint).encode())
    cp = run_both(micropython, [path] + credentials() + ["--region", "eu-west-1", "--service", "iotdevicegateway",
                                                         "--date", DATE, "--presign", "3600", "--session-token", token,
                                                         "--token-after"])
    assert cp.returncode == 0, cp.stderr
    request_line, _ = signed_head(cp)
    url = sigv4_full.iot_websocket_url(endpoint, "eu-west-1", (ACCESS_KEY, SECRET_KEY, token), 3600, date=DATE)
    assert request_line == "GET %s HTTP/1.1" % url[len("wss://" + endpoint):]
    query = request_line.split("?", 1)[1].split(" ")[0]
    assert query.split("&")[-2].startswith("X-Amz-Signature=")
    assert query.split("&")[-1].startswith("X-Amz-Security-Token=")


def test_help_documents_the_new_options(micropython):
    cp = run_both(micropython, ["--help"])
    for option in (b"--payload-hash HEX", b"--unsigned-payload", b"--single-encode", b"--token-after",
                   b"UNSIGNED-PAYLOAD unless --payload-hash"):
        assert option in cp.stderr, option
