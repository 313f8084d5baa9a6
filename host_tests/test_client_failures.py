"""The device client when things go wrong: TLS that must not be trusted, names that do not
resolve, ports that refuse, functions that fail, keys that are wrong. Each failure is one
exception from mpaws.errors with a message a user can act on, and nothing is delivered.
Runs the firmware under MicroPython (the unix port) and CPython against aws_server.py."""
import json
import shutil
import socket
import ssl

import pytest
import trustme

from aws_fixtures import aws_server, aws_server_factory, plain_http_server, wrong_host_server  # noqa: F401
from device import FAST, assert_error, device, notify, runtime  # noqa: F401

WARNING = "WARNING: TLS certificate verification is OFF (CONFIG_TLS_VERIFY = False)"


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A CA the server's certificate does not come from (DER, as on a board)."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("other_ca") / "other_ca.der"
    path.write_bytes(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    return str(path)


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# -- TLS ---------------------------------------------------------------------------------


def test_server_signed_by_another_ca_is_refused(device, aws_server, other_ca):
    device.use_server(aws_server, CONFIG_TLS_CA=other_ca)
    run = device.run([FAST, notify()])
    result = run.results[1]
    assert_error(result, "TLSError", "localhost:%d" % aws_server.port)
    words = {"cpython": "certificate verify failed", "micropython": "not correctly signed by the trusted CA"}
    assert words[device.runtime] in result["message"]
    assert result["attempts"] == 1 and result["retryable"] is False  # a TLS error is not retried
    assert aws_server.requests == [] and aws_server.handshakes == 0
    assert "notify failed: TLSError" in run.log


def test_bundled_amazon_roots_do_not_trust_the_test_server(device, aws_server):
    """No CONFIG_TLS_CA: the bundled Amazon roots are used, so verification is on by default."""
    device.use_server(aws_server, CONFIG_TLS_CA=None)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "TLSError", "localhost:%d" % aws_server.port)
    assert aws_server.requests == []


def test_certificate_for_another_host_name_is_refused(device, wrong_host_server):
    device.use_server(wrong_host_server)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "TLSError", "localhost:%d" % wrong_host_server.port)
    words = {"cpython": "Hostname mismatch", "micropython": "Common Name (CN) does not match"}
    assert words[device.runtime] in result["message"]
    assert result["attempts"] == 1
    assert wrong_host_server.requests == [] and wrong_host_server.handshakes == 0


def test_plain_http_port_is_a_tls_error(device, plain_http_server):
    device.use_server(plain_http_server)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "TLSError", "localhost:%d" % plain_http_server.port)
    hints = {"cpython": "WRONG_VERSION_NUMBER", "micropython": "is this a TLS port?"}
    assert hints[device.runtime] in result["message"]
    assert result["attempts"] == 1 and plain_http_server.requests == []


def test_ca_folder(device, aws_server, tmp_path, other_ca):
    """CONFIG_TLS_CA may name a folder: every .der file in it is trusted (the server's CA
    is loaded first, another after it: loading one does not replace the others)."""
    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copy(aws_server.ca_der, str(folder / "a_test_ca.der"))
    shutil.copy(other_ca, str(folder / "b_other_ca.der"))
    (folder / "README.txt").write_text("not a certificate")
    device.use_server(aws_server, CONFIG_TLS_CA=str(folder))
    assert device.run([notify()]).result["ok"]
    assert len(aws_server.invocations("notify")) == 1


def test_pem_ca_file(device, aws_server):
    """A PEM CONFIG_TLS_CA works on both runtimes (the MicroPython unix port's mbedTLS has
    no PEM parser: the firmware converts PEM to DER)."""
    device.use_server(aws_server, CONFIG_TLS_CA=aws_server.ca_pem)
    result = device.run([notify()]).result
    assert result.get("ok"), result
    assert len(aws_server.invocations("notify")) == 1


@pytest.mark.parametrize("comment_bytes", [0, 1000])
def test_pem_bundle(device, aws_server, other_ca, tmp_path, comment_bytes):
    """A PEM bundle like certifi's cacert.pem: comment lines, then several certificates;
    the server's CA is the last one."""
    with open(other_ca, "rb") as f:
        other = ssl.DER_cert_to_PEM_cert(f.read())
    with open(aws_server.ca_pem) as f:
        ours = f.read()
    comment = "".join("# Issuer: CN=comment line %d\n" % i for i in range(comment_bytes // 30))
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(comment + "\n# one\n" + other + "\n# two\n" + ours)
    device.use_server(aws_server, CONFIG_TLS_CA=str(bundle))
    result = device.run([notify()]).result
    assert result.get("ok"), result


@pytest.mark.parametrize("files, words", [
    ({"README.txt": b"not a certificate"}, "no .der or .pem certificate in"),
    ({"garbage.der": b"not a certificate"}, "CA certificate not readable as DER or PEM"),
    ({"empty.pem": b"# a PEM file with comments only\n"}, "CA certificate not readable as DER or PEM"),
    ({"broken.pem": b"-----BEGIN CERTIFICATE-----\n" + b"A" * 64 + b"\n-----END CERTIFICATE-----\n"},
     "CA certificate not readable as DER or PEM"),
])
def test_unusable_ca_folder_is_a_config_error(device, aws_server, tmp_path, files, words):
    """CONFIG_TLS_CA names a folder without a usable certificate: errors.ConfigError that
    names the key, before any connection (a board must not fall back to trusting anyone)."""
    folder = tmp_path / "certs"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    device.use_server(aws_server, CONFIG_TLS_CA=str(folder))
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "ConfigError", words, "CONFIG_TLS_CA")
    assert aws_server.connections == 0


def test_tls_verify_off_warns_on_every_connection(device, wrong_host_server):
    """CONFIG_TLS_VERIFY = False (no CA needed, any certificate accepted): one warning
    for each new connection, none for a request on a kept-alive one."""
    device.use_server(wrong_host_server, CONFIG_TLS_VERIFY=False, CONFIG_TLS_CA=None)
    wrong_host_server.close_after_next()
    run = device.run([notify("first", "b"), notify("second", "b"), notify("third", "b")])
    assert [r["ok"] for r in run.results] == [True] * 3, run
    assert [r["handshakes"] for r in run.results] == [1, 2, 2]
    assert run.log.count(WARNING) == 2 == wrong_host_server.handshakes
    lines = run.log.splitlines()
    assert lines[0].startswith(WARNING) and lines[2].startswith(WARNING)  # before each connection
    assert len(wrong_host_server.invocations("notify")) == 3


def test_tls_verify_on_prints_no_warning(device, aws_server):
    device.use_server(aws_server)
    run = device.run([notify()])
    assert run.result["ok"] and "WARNING" not in run.log


# -- the network ---------------------------------------------------------------------------


def test_host_name_that_does_not_resolve(device, aws_server):
    device.use_server(aws_server, CONFIG_AWS_HOST="nonexistent.invalid")
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "DNSError", "cannot resolve host name nonexistent.invalid", "CONFIG_AWS_HOST")
    assert result["classes"][:2] == ["DNSError", "NetworkError"]


def test_connection_refused(device, aws_server):
    port = closed_port()
    device.use_server(aws_server, CONFIG_AWS_HOST="localhost:%d" % port)
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "NetworkError", "connection to localhost:%d refused" % port, "gave up after 4 attempts")
    assert result["attempts"] == 4


# -- what the server says --------------------------------------------------------------------


def test_unknown_function_is_not_found(device, aws_server):
    device.use_server(aws_server, CONFIG_AWS_LAMBDA_FUNCTION="nope")
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "NotFound", "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope")
    assert result["status"] == 404 and result["code"] == "ResourceNotFoundException"
    assert result["attempts"] == 1 and len(aws_server.requests) == 1
    assert aws_server.requests[0].signature_ok


class InvalidMessage(ValueError):
    """What cloud/lambda_function.py raises for a message it can never publish."""


@pytest.mark.parametrize("style, exception", [("Unhandled", InvalidMessage), ("Handled", InvalidMessage),
                                              ("Unhandled", ValueError), ("Unhandled", RuntimeError)])
def test_function_that_raises(device, aws_server, style, exception):
    """The function's error document is read into FunctionError (errorType, errorMessage).
    An InvalidMessage naming a field (the function refusing the message, as
    cloud/lambda_function.py does) is refused for good: the message is not kept; another
    error (a ValueError of a library or a broken deploy included) keeps it for later."""
    def boom(event):
        raise exception('subject: sensor "on fire": %s' % event["subject"])

    aws_server.register_function("boom", boom, error_style=style)
    device.use_server(aws_server, CONFIG_AWS_LAMBDA_FUNCTION="boom")
    run = device.run([FAST, notify("hot", "b")])
    result = run.results[1]
    assert_error(result, "FunctionError", 'function boom failed (%s): subject: sensor "on fire": hot' % style)
    assert result["kind"] == style and result["code"] == style and result["status"] == 200
    payload = json.loads(result["payload"])
    assert (payload["errorType"], payload["errorMessage"]) == (exception.__name__, 'subject: sensor "on fire": hot')
    assert (result["error_type"], result["error_message"]) == (payload["errorType"], payload["errorMessage"])
    assert result["attempts"] == 1 and len(aws_server.requests) == 1  # the function ran once
    assert len(aws_server.invocation_log) == 1
    assert "notify failed: FunctionError" in run.log
    kept = "kept in the outbox as host." in result["message"]
    assert kept == (exception is not InvalidMessage) == ("not kept" not in result["message"]), result["message"]


def test_wrong_secret_is_invalid_signature(device, aws_server):
    wrong = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzWRONGKEY"
    device.use_server(aws_server, CONFIG_AWS_SECRET_KEY=wrong)
    run = device.run([FAST, notify()])
    result = run.results[1]
    assert_error(result, "InvalidSignature", "signature we calculated does not match")
    assert result["status"] == 403 and result["code"] == "InvalidSignatureException"
    assert result["attempts"] == 1
    assert [r.signature for r in aws_server.requests] == ["mismatch"]
    assert aws_server.invocation_log == []
    assert wrong not in run.log and aws_server.secret_key not in run.log


def test_unknown_access_key_is_access_denied(device, aws_server):
    device.use_server(aws_server, CONFIG_AWS_ACCESS_KEY="AKIAUNKNOWNKEY000000")
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "AccessDenied", "security token included in the request is invalid")
    assert result["code"] == "UnrecognizedClientException" and result["attempts"] == 1
    assert aws_server.invocation_log == []


def test_bad_config_stops_notify_before_any_request(device, aws_server):
    device.use_server(aws_server, CONFIG_AWS_REGION="ap-southeast1")
    result = device.run([notify()]).result
    assert_error(result, "ConfigError", "CONFIG_AWS_REGION", "is not an AWS region name")
    assert aws_server.requests == [] and aws_server.connections == 0


def test_no_config_module(device):
    result = device.run([notify()], write_default=False).result
    assert_error(result, "ConfigError", "no config.py", "config_template.py")


TOKEN = "FQoGZXIvYXdzEMPAWSTESTSESSIONTOKEN0123456789abcdef+/="


def test_session_token(device, aws_server_factory):
    """Temporary credentials: X-Amz-Security-Token is sent and signed; it never shows in the output."""
    server = aws_server_factory(session_token=TOKEN)
    device.use_server(server, CONFIG_AWS_SESSION_TOKEN=TOKEN)
    assert TOKEN in device.secrets
    run = device.run([notify(), notify()])
    assert [r["ok"] for r in run.results] == [True, True]
    assert [r.signature for r in server.requests] == ["ok", "ok"]
    assert server.requests[0].header("X-Amz-Security-Token") == TOKEN
    assert "x-amz-security-token" in server.requests[0].header("Authorization")


def test_wrong_session_token_is_access_denied(device, aws_server_factory):
    server = aws_server_factory(session_token=TOKEN)
    device.use_server(server, CONFIG_AWS_SESSION_TOKEN=TOKEN[:-6] + "WRONG=")
    result = device.run([FAST, notify()]).results[1]
    assert_error(result, "AccessDenied", "security token included in the request is invalid")
    assert result["attempts"] == 1 and server.invocation_log == []
