"""One fetch of temporary credentials (mpaws.credentials_fetch) when something is wrong, in
this process: the device's certificate and key files, the expiration's edges, and the
endpoint (a real TLS server on 127.0.0.1 asking for the device's certificate,
scripted_server.py) refusing it or answering. Each case is the one error a user reads.
The device-level cases (through app.notify, under MicroPython too) are in
test_failure_paths.py."""
import json
import ssl
import time
from types import SimpleNamespace

import pytest
import trustme

from mpaws import certs, credentials, credentials_failures, credentials_fetch, credentials_reply, errors
from scripted_server import ScriptedServer, reply
from test_credentials import ACCESS_KEY, SECRET, TOKEN
from test_credentials import reply as credentials_body

DATE = "Thu, 03 Dec 2026 09:00:00 GMT"


@pytest.fixture(scope="module")
def device_ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def device_files(device_ca, tmp_path_factory):
    """{"cert", "key"}: PEM files of a device certificate from device_ca."""
    folder = tmp_path_factory.mktemp("device")
    issued = device_ca.issue_cert("thing1.example")
    issued.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    issued.private_key_pem.write_to_path(str(folder / "key.pem"))
    return {"cert": str(folder / "cert.pem"), "key": str(folder / "key.pem")}


@pytest.fixture
def endpoint(device_ca):
    """A credentials endpoint: mutual TLS, trusting device_ca's certificates only."""
    with ScriptedServer() as server:
        server._ssl.verify_mode = ssl.CERT_REQUIRED
        server._ssl.load_verify_locations(cadata=device_ca.cert_pem.bytes().decode())
        yield server


def certificate_credentials(server, files, **kwargs):
    return credentials.CertificateCredentials("localhost:%d" % server.port, "mpaws-role", "thing1", files["cert"],
                                              files["key"], ca=[server.ca_der_bytes], timeout=3, **kwargs)


# -- the files -----------------------------------------------------------------------------------


def test_key_file_gone_after_the_config_was_read_is_a_config_error(device_files, tmp_path):
    # The config was checked, then the file went (a user's `mpremote rm`) before the fetch.
    creds = SimpleNamespace(ca=None, verify=False, cert=device_files["cert"], key=str(tmp_path / "gone.pem"))
    with pytest.raises(errors.ConfigError, match="CONFIG_TLS_KEY: no such file on this device .*make provision"):
        credentials_fetch.context(creds)


def test_key_that_is_not_a_path_is_a_config_error(device_files):
    creds = SimpleNamespace(ca=None, verify=False, cert=device_files["cert"], key=None)
    with pytest.raises(errors.ConfigError, match="CONFIG_TLS_KEY: give the path of the file"):
        credentials_fetch.context(creds)


def test_certificate_and_key_given_as_bytes_make_a_context(device_files):
    with open(device_files["cert"], "rb") as f:
        cert = f.read()
    with open(device_files["key"], "rb") as f:
        key = f.read()
    creds = SimpleNamespace(ca=None, verify=False, cert=bytearray(cert), key=key)
    assert isinstance(credentials_fetch.context(creds), ssl.SSLContext)


@pytest.mark.parametrize("data,words", [(b"-----BEGIN CERTIFICATE", "neither DER nor a PEM CERTIFICATE"),
                                        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "is not closed"),
                                        (b"-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n",
                                         "not valid base64"),
                                        (b"", "neither DER nor a PEM CERTIFICATE"),
                                        (b"text with -----dashes----- but no PEM block", "neither DER nor a PEM")])
def test_certificate_file_that_is_no_certificate_is_a_config_error(data, words):
    with pytest.raises(errors.ConfigError, match="CONFIG_TLS_CERT: .*" + words):
        certs.pem_block(data, b"CERTIFICATE", "CONFIG_TLS_CERT")


def test_second_pem_block_is_found_after_one_of_another_kind():
    data = (b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
            b"-----BEGIN PRIVATE KEY-----\nMAEC\n-----END PRIVATE KEY-----\n")
    assert certs.pem_block(data, b"PRIVATE KEY", "CONFIG_TLS_KEY") == b"\x30\x01\x02"


# -- the expiration ------------------------------------------------------------------------------


@pytest.mark.parametrize("expiration,lifetime", [("2026-12-03T10:00:00.05Z", 3600), ("2026-12-03T09:00:01Z", 1),
                                                 ("2026-12-31T09:00:00Z", 43200),
                                                 ("2026-12-03T10:00:00.000+00:00", 3600),
                                                 ("2026-12-03T09:59:59Z", 3599), ("2026-12-03T23:59:60Z", 43200),
                                                 ("2026-12-03T23:00:00Z", 43200), ("2026-12-03T10:00:00.9Z", 3600)])
def test_expiration_at_its_edges_is_read(expiration, lifetime):
    assert credentials_reply.parse(credentials_body(expiration), DATE)[3] == lifetime


@pytest.mark.parametrize("expiration", ["2026-12-03T09:00:00Z", "2026-00-10T10:00:00Z", "2026-12-00T10:00:00Z",
                                        "2026-12-32T10:00:00Z", "2026-12-03T-1:00:00Z", "2026-12-03T24:00:00Z",
                                        "2026-12-03T10:60:00Z", "2026-12-03T10:00:61Z", "2026-12-03 10:00:00Z",
                                        "2026-12-03T10:00:00.Z5", "2026-12-03T10:00Z", "2026-12-03T10:00:00.123",
                                        "2026-1a-03T10:00:00Z", "2026-12-03T10:-1:00Z", "2026-12-03T10:00",
                                        "2026-12-03T10x00:00Z", "2026-12-03T10:00x00Z", "2026-12-03T10:00:00.aZ",
                                        "2026x12-03T10:00:00Z", "2026-12x03T10:00:00Z", "2026-12-03T10:00:-1Z"])
def test_expiration_now_or_not_a_time_is_a_protocol_error(expiration):
    with pytest.raises(errors.ProtocolError, match="expiration|expired 0 s ago"):
        credentials_reply.parse(credentials_body(expiration), DATE)


# -- the endpoint ----------------------------------------------------------------------------------


def test_endpoint_answering_credentials_gives_them(endpoint, device_files):
    endpoint.script(reply(200, "OK", [("Content-Type", "application/json"), ("Date", DATE)],
                          credentials_body("2026-12-03T10:00:00Z")))
    creds = certificate_credentials(endpoint, device_files)
    assert credentials_fetch.fetch(creds) == (ACCESS_KEY, SECRET, TOKEN, 3600)
    [request] = endpoint.requests
    assert (request.method, request.path) == ("GET", "/role-aliases/mpaws-role/credentials")
    assert request.header("x-amzn-iot-thingname") == "thing1"
    assert request.header("host") == "localhost:%d" % endpoint.port
    assert creds.handshakes == 1 and creds.bytes_sent > 0 and creds.bytes_received > len(TOKEN)


def test_endpoint_answering_without_a_date_is_timed_on_the_device_clock(endpoint, device_files):
    """No Date header: the credentials' lifetime is their expiration less the device's own
    clock (the unix port's, 1970 epoch), not a Date parsed from nothing."""
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    endpoint.script(reply(200, "OK", [("Content-Type", "application/json")], credentials_body(expiration)))
    lifetime = credentials_fetch.fetch(certificate_credentials(endpoint, device_files))[3]
    assert 3590 <= lifetime <= 3600, lifetime


@pytest.mark.parametrize("status,error,hint", [(404, errors.NotFound, "check CONFIG_AWS_ROLE_ALIAS"),
                                               (403, errors.AccessDenied, "is the certificate ACTIVE in AWS IoT")])
def test_endpoint_refusing_the_role_alias_says_what_to_check(endpoint, device_files, status, error, hint):
    endpoint.script(reply(status, "Refused", [("Content-Type", "application/json")],
                          json.dumps({"message": "Access Denied"}).encode()))
    with pytest.raises(error) as caught:
        credentials_fetch.fetch(certificate_credentials(endpoint, device_files))
    message = caught.value.message
    assert hint in message and "Access Denied" in message and "'mpaws-role'" in message
    assert ("'thing1'" in message) == (status == 403), message  # the thing matters to a refused certificate


@pytest.mark.parametrize("status, error_type", [(413, None), (400, "InvalidParameterValue")],
                         ids=["413", "400-invalid-parameter"])
def test_what_the_credentials_endpoint_refuses_never_drops_a_message(endpoint, device_files, status, error_type):
    """From AWS itself these replies refuse the message's content (errors.refusal: it leaves
    the outbox); from the credentials endpoint no message was sent: it stays."""
    headers = [("Content-Type", "application/json")] + ([("x-amzn-ErrorType", error_type)] if error_type else [])
    endpoint.script(reply(status, "Refused", headers, json.dumps({"message": "the message is too large"}).encode()))
    with pytest.raises(errors.AWSError) as caught:
        credentials_fetch.fetch(certificate_credentials(endpoint, device_files))
    assert "credentials endpoint" in caught.value.message and errors.refusal(caught.value) is None


def test_certificate_the_endpoint_does_not_trust_is_access_denied(endpoint, tmp_path):
    stranger = trustme.CA().issue_cert("thing1.example")
    files = {"cert": str(tmp_path / "cert.pem"), "key": str(tmp_path / "key.pem")}
    stranger.cert_chain_pems[0].write_to_path(files["cert"])
    stranger.private_key_pem.write_to_path(files["key"])
    with pytest.raises(errors.AccessDenied, match="refused the device certificate in the TLS handshake"):
        credentials_fetch.fetch(certificate_credentials(endpoint, files))
    assert endpoint.requests == []


def test_endpoint_the_device_does_not_trust_stays_a_tls_error(endpoint, device_files):
    creds = certificate_credentials(endpoint, device_files)
    creds.ca = [ssl.PEM_cert_to_DER_cert(trustme.CA().cert_pem.bytes().decode())]
    with pytest.raises(errors.TLSError) as caught:
        credentials_fetch.fetch(creds)
    assert not isinstance(caught.value, errors.AccessDenied)
    assert endpoint.requests == []


# -- the reply's fields ------------------------------------------------------------------------------


@pytest.mark.parametrize("key,accepted", [("ASIA" + "A" * 12, True), ("ASIA" + "A" * 11, False),
                                          ("ASIA" + "A" * 124, True), ("ASIA" + "A" * 125, False)])
def test_access_key_of_16_to_128_characters_is_taken(key, accepted):
    body = credentials_body("2026-12-03T10:00:00Z", accessKeyId=key)
    if accepted:
        assert credentials_reply.parse(body, DATE)[0] == key
    else:
        with pytest.raises(errors.ProtocolError, match="accessKeyId is not 16 to 128 characters"):
            credentials_reply.parse(body, DATE)


@pytest.mark.parametrize("secret,accepted", [("tilde~and!punctuation{}", True), ("del\x7f", False),
                                             ("space inside", False), ("tab\tinside", False)])
def test_secret_may_hold_any_printable_ascii_but_no_space_or_control(secret, accepted):
    body = credentials_body("2026-12-03T10:00:00Z", secretAccessKey=secret)
    if accepted:
        assert credentials_reply.parse(body, DATE)[1] == secret
    else:
        with pytest.raises(errors.ProtocolError, match="secretAccessKey holds a space or control character") as caught:
            credentials_reply.parse(body, DATE)
        assert secret not in caught.value.message


def test_expiration_that_is_not_text_is_named_by_its_type():
    with pytest.raises(errors.ProtocolError, match="expiration is not an ISO 8601 UTC time: it has a value of type int"):
        credentials_reply.parse(credentials_body(1796292000), DATE)


def test_reply_over_16_kb_is_too_large(endpoint, device_files):
    endpoint.script(reply(200, "OK", [("Content-Type", "application/json")], b" " * 16385))
    with pytest.raises(errors.ResponseTooLarge, match="limit of 16384"):
        credentials_fetch.fetch(certificate_credentials(endpoint, device_files))


def test_key_of_another_certificate_is_a_config_error_with_the_tls_layers_reason(device_files, tmp_path):
    other = trustme.CA().issue_cert("thing2.example")
    other.private_key_pem.write_to_path(str(tmp_path / "other.pem"))
    creds = SimpleNamespace(ca=None, verify=False, cert=device_files["cert"], key=str(tmp_path / "other.pem"))
    with pytest.raises(errors.ConfigError, match=r"not a certificate and its private key \(KEY_VALUES_MISMATCH\)"):
        credentials_fetch.context(creds)


def test_endpoint_on_port_443_is_named_without_its_port(endpoint, device_files, monkeypatch):
    # The endpoint's default port, 443, reaches the test server's port instead.
    real = credentials_fetch.http.socket.getaddrinfo
    monkeypatch.setattr(credentials_fetch.http.socket, "getaddrinfo",
                        lambda host, port, *args: real(host, endpoint.port if port == 443 else port, *args))
    endpoint.script(reply(200, "OK", [("Date", DATE)], credentials_body("2026-12-03T10:00:00Z")))
    creds = credentials.CertificateCredentials("localhost", "mpaws-role", "thing1", device_files["cert"],
                                               device_files["key"], ca=[endpoint.ca_der_bytes], timeout=3)
    assert credentials_fetch.fetch(creds)[0] == ACCESS_KEY
    assert endpoint.requests[0].header("host") == "localhost"


def test_expired_credentials_say_how_long_ago():
    with pytest.raises(errors.ProtocolError, match="the credentials expired 3600 s ago"):
        credentials_reply.parse(credentials_body("2026-12-03T08:00:00Z"), DATE)


@pytest.mark.parametrize("status", [300, 302])
def test_endpoint_reply_of_3xx_is_no_credentials(endpoint, device_files, status):
    endpoint.script(reply(status, "Elsewhere", [("Content-Type", "application/json")],
                          credentials_body("2026-12-03T10:00:00Z")))
    with pytest.raises(errors.AWSError) as caught:
        credentials_fetch.fetch(certificate_credentials(endpoint, device_files))
    message = caught.value.message
    assert "credentials endpoint localhost (CONFIG_AWS_CREDENTIALS_ENDPOINT) answered HTTP %d" % status in message
    assert SECRET not in message and "DoNotLeak" not in message, message  # the reply held credentials


def test_endpoint_reply_of_299_is_a_success(endpoint, device_files):
    endpoint.script(reply(299, "Fine", [("Date", DATE)], credentials_body("2026-12-03T10:00:00Z")))
    assert credentials_fetch.fetch(certificate_credentials(endpoint, device_files))[3] == 3600


def test_expiration_in_an_error_is_described_not_quoted():
    expiration = "2026-12-03T10:00:00" + "X" * 80
    with pytest.raises(errors.ProtocolError) as caught:
        credentials_reply.parse(credentials_body(expiration), DATE)
    assert "it has 99 characters" in caught.value.message and "XXXX" not in caught.value.message


@pytest.mark.parametrize("length,accepted", [(4096, True), (4097, False)])
def test_session_token_of_at_most_4096_characters_is_taken(length, accepted):
    body = credentials_body("2026-12-03T10:00:00Z", sessionToken="T" * length)
    if accepted:
        assert len(credentials_reply.parse(body, DATE)[2]) == length
    else:
        with pytest.raises(errors.ProtocolError, match="sessionToken is missing or malformed"):
            credentials_reply.parse(body, DATE)


@pytest.mark.parametrize("key", ["ASIAMPAWSTEMPORARz", "ASIAMPAWSTEMPORAR-", "ASIAMPAWSTEMPORAR0"])
def test_access_key_is_upper_case_letters_and_digits(key):
    body = credentials_body("2026-12-03T10:00:00Z", accessKeyId=key)
    if key[-1] == "0":
        assert credentials_reply.parse(body, DATE)[0] == key
    else:
        with pytest.raises(errors.ProtocolError, match="accessKeyId is missing or malformed"):
            credentials_reply.parse(body, DATE)


def test_reply_of_exactly_16_kb_is_read(endpoint, device_files):
    body = credentials_body("2026-12-03T10:00:00Z")
    body += b" " * (16384 - len(body))
    endpoint.script(reply(200, "OK", [("Date", DATE)], body))
    assert credentials_fetch.fetch(certificate_credentials(endpoint, device_files))[0] == ACCESS_KEY


# -- make mutate's survivors of credentials_fetch: the edges of its checks and hints ---------

def _refusal(status, body=b'{"message": "Forbidden"}'):
    """credentials_failures.error() for a reply of status from the credentials endpoint."""
    headers = {"x-amzn-errortype": None, "x-amzn-requestid": "req-1"}
    response = SimpleNamespace(status=status, body=body, header=lambda name: headers.get(name))
    who = SimpleNamespace(host="c.credentials.iot.eu-west-1.amazonaws.com", role_alias="alias", thing_name="thing")
    return credentials_failures.error(who, response)


@pytest.mark.parametrize("status,words", [(400, "answered HTTP 400"), (401, "refused the certificate"),
                                          (402, "answered HTTP 402"), (403, "refused the certificate"),
                                          (404, "has no role alias"), (499, "answered HTTP 499"),
                                          (500, "tried again later"), (501, "tried again later")])
def test_each_status_of_the_credentials_endpoint_gets_its_own_hint(status, words):
    e = _refusal(status)
    assert words in e.message, e.message
    # Not API Gateway's words: a "Forbidden" here is the credentials provider's, not a route's.
    assert "CONFIG_AWS_API_KEY" not in e.message and "route" not in e.message, e.message


def _pem(label):
    return b"-----BEGIN " + label + b"-----\nMAEC\n-----END " + label + b"-----\n"


@pytest.mark.parametrize("length", [1, 64])
def test_pem_labels_of_1_to_64_characters_are_read(length):
    label = b"X" * (length - len(b"CERTIFICATE")) + b"CERTIFICATE" if length >= 11 else b"Y" * length
    data = _pem(label) + _pem(b"CERTIFICATE")  # the first block's label is only checked, not taken
    assert certs.pem_block(data, b"CERTIFICATE", "CONFIG_TLS_CERT") == b"\x30\x01\x02"


@pytest.mark.parametrize("label", [b"", b"X" * 54 + b"CERTIFICATE", b"CERTaIFICATE"])
def test_pem_label_empty_too_long_or_with_a_stray_character_is_a_malformed_begin_line(label):
    # Empty, 65 characters, or with a character no label has (a lower-case letter).
    data = _pem(label)
    with pytest.raises(errors.ConfigError, match="CONFIG_TLS_CERT: a PEM BEGIN line is malformed"):
        certs.pem_block(data, b"CERTIFICATE", "CONFIG_TLS_CERT")


def test_expired_credentials_name_the_first_40_characters_of_their_expiration():
    expiration = "2020-01-01T00:00:00." + "1234567890" * 3 + "Z"  # 51 characters
    body = json.dumps({"credentials": {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET,
                                       "sessionToken": TOKEN, "expiration": expiration}}).encode()
    with pytest.raises(errors.ProtocolError, match="expired") as raised:
        credentials_reply.parse(body, None, 1700000000)
    assert "(%s)" % expiration[:40] in raised.value.message, raised.value.message
