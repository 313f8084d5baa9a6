"""mpaws.credentials (temporary credentials from the AWS IoT credentials provider), unit
level: the reply parser on good, truncated and hostile input (CPython, and MicroPython from
.mpy, which must agree); the expiry arithmetic against Python's datetime, with the device
clock on the 1970 and the 2000 epoch; refresh timing on a fake clock; signatures with the
temporary credentials against botocore; the PEM/DER handling of the certificate and key.
The whole chain over mutual TLS is in test_credentials_e2e.py."""
import datetime
import email.utils
import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import REPO, run_micropython
from mpaws import certs, clock, credentials, credentials_fetch, credentials_reply, credentials_state, errors

from test_sigv4_botocore import boto_sign
from test_sigv4_micropython import compiled_lib  # noqa: F401  (fixture)

RUNNER = os.path.join(REPO, "host_tests", "mpy", "run_credentials.py")
ACCESS_KEY = "ASIAMPAWSTEMPORARY01"
SECRET = "tempSecret/DoNotLeak+abcdefghijklmnopqrstu"
TOKEN = "IQoJb3JpZ2luX2VjEDoaCXVzLWVhc3QtMSJHMEUCIQ+temporaryTokenDoNotLeak/" + "A" * 600 + "=="
EPOCH_2000 = 946684800  # seconds from 1970-01-01 to 2000-01-01: the ESP32's epoch


def reply(expiration="2026-12-03T10:00:00Z", **fields):
    creds = {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET, "sessionToken": TOKEN, "expiration": expiration}
    creds.update(fields)
    creds = {k: v for k, v in creds.items() if v is not None}
    return json.dumps({"credentials": creds}).encode()


def oracle_lifetime(expiration, date):
    """Python's datetime: the independent way to the same number."""
    expires = datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    return int((expires - email.utils.parsedate_to_datetime(date)).total_seconds())


def assert_no_secret(text):
    assert SECRET not in text and TOKEN[:40] not in text


# -- the parser ----------------------------------------------------------------------------

GOOD = [
    ("2026-12-03T10:00:00Z", "Thu, 03 Dec 2026 09:00:00 GMT"),
    ("2026-12-03T10:00:00.123Z", "Thu, 03 Dec 2026 09:59:40 GMT"),  # a test's 20 s
    ("2027-01-01T00:30:00+00:00", "Thu, 31 Dec 2026 23:45:00 GMT"),  # over the new year
    ("2028-03-01T00:00:00Z", "Tue, 29 Feb 2028 12:00:00 GMT"),  # leap day
]


@pytest.mark.parametrize("expiration, date", GOOD)
def test_parse_good_reply(expiration, date):
    access_key, secret, token, lifetime = credentials_reply.parse(reply(expiration), date)
    assert (access_key, secret, token) == (ACCESS_KEY, SECRET, TOKEN)
    assert lifetime == oracle_lifetime(expiration, date)


@pytest.mark.parametrize("expiration, date", GOOD)
def test_parse_takes_the_date_read_already_as_seconds(expiration, date):
    """A fetch reads the reply's Date (mpaws.http_date) before the reply's code loads, and
    hands over its seconds since 1970: the same lifetime as from the header itself."""
    seconds = int(email.utils.parsedate_to_datetime(date).timestamp())
    assert credentials_reply.parse(reply(expiration), seconds)[3] == oracle_lifetime(expiration, date)


def test_lifetime_is_capped_at_twelve_hours():
    lifetime = credentials_reply.parse(reply("2027-12-03T10:00:00Z"), "Thu, 03 Dec 2026 09:00:00 GMT")[3]
    assert lifetime == 43200


HOSTILE = [
    b"",
    b"null",
    b"[]",
    b'"credentials"',
    b"{}",
    b'{"credentials": []}',
    b'{"credentials": "x"}',
    b"[" * 5000 + b"]" * 5000,  # nested too deep
    b'{"credentials": {"accessKeyId": 12345678901234567}}',
    b"\xff\xfe{}",
    b'{"message": "Access Denied"}',
    reply(accessKeyId=None),
    reply(secretAccessKey=None),
    reply(sessionToken=None),
    reply(expiration=None),
    reply(accessKeyId="asia-lower-case-key"),
    reply(accessKeyId="ASIA"),
    reply(secretAccessKey=""),
    reply(secretAccessKey=SECRET + " spaced"),
    reply(sessionToken=TOKEN + "\r\nX-Injected: 1"),
    reply(sessionToken=TOKEN + "é"),
    reply(sessionToken="T" * 5000),
    reply(expiration="tomorrow"),
    reply(expiration="2026-13-03T10:00:00Z"),
    reply(expiration="2026-12-03T10:00:00+02:00"),
    reply(expiration=1796292000),
    reply(expiration="2026-12-03T08:00:00Z"),  # expired an hour before the Date
]


def test_parse_truncated_and_hostile_replies():
    good = reply()
    date = "Thu, 03 Dec 2026 09:00:00 GMT"
    for body in [good[:n] for n in range(len(good))] + HOSTILE:
        with pytest.raises(errors.ProtocolError) as caught:
            credentials_reply.parse(body, date)
        assert_no_secret(str(caught.value))
        assert caught.value.retryable  # a garbled reply may come out right next time


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["credentials", "accessKeyId", "secretAccessKey", "sessionToken", "expiration", "x"]),
        inner, max_size=5), max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_parse_anything_gives_credentials_or_a_protocol_error(body):
    try:
        access_key, secret, token, lifetime = credentials_reply.parse(body, "Thu, 03 Dec 2026 09:00:00 GMT")
    except errors.ProtocolError:
        return
    assert 0 < lifetime <= 43200 and access_key and secret and token


def _cases():
    date = "Thu, 03 Dec 2026 09:00:00 GMT"
    good = reply()
    cases = [{"body": reply(e).hex(), "date": d, "now": None} for e, d in GOOD]
    cases += [{"body": good[:n].hex(), "date": date, "now": None} for n in range(0, len(good), 37)]
    cases += [{"body": b.hex(), "date": date, "now": None} for b in HOSTILE]
    # No Date header: the device's clock (the unix port's epoch is 1970).
    now = int(datetime.datetime(2026, 12, 3, 9, 30, tzinfo=datetime.timezone.utc).timestamp())
    cases.append({"body": good.hex(), "date": None, "now": now})
    return cases


def test_micropython_parser_agrees_with_cpython(micropython, compiled_lib, tmp_path):  # noqa: F811
    cases = _cases()
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    proc = run_micropython(micropython, [RUNNER, compiled_lib, str(path)])
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    assert_no_secret(proc.stdout)
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    cpython = subprocess.run([sys.executable, RUNNER, os.path.join(REPO, "firmware", "lib"),
                              str(path)], capture_output=True, text=True, timeout=60)
    expected = [json.loads(line) for line in cpython.stdout.splitlines()]
    assert len(results) == len(cases) == len(expected)
    for case, got, want in zip(cases, results, expected):
        assert not got.get("error", "").startswith("UNEXPECTED"), (case, got)
        assert ("ok" in got) == ("ok" in want) and got.get("ok") == want.get("ok"), (case, got, want)
        assert got.get("error") == want.get("error"), (case, got, want)
    # The oracle for the good ones, and the device-clock case: 30 minutes left.
    for (expiration, date), got in zip(GOOD, results):
        assert got["ok"][:2] == [ACCESS_KEY, oracle_lifetime(expiration, date)]
    assert results[-1]["ok"][1] == 1800


# -- expiry across epochs ---------------------------------------------------------------------


@pytest.fixture
def clock_2000(monkeypatch):
    """The device's clock on the ESP32's epoch: time.time() counts from 2000-01-01 and
    time.gmtime() knows it, as on the board."""
    real_time, real_gmtime = time.time, time.gmtime
    monkeypatch.setattr(time, "time", lambda: real_time() - EPOCH_2000)
    monkeypatch.setattr(time, "gmtime", lambda s=None: real_gmtime((real_time() - EPOCH_2000 if s is None else s)
                                                                   + EPOCH_2000))
    monkeypatch.setattr(clock, "offset", 0)
    return real_time


@pytest.mark.parametrize("epoch", ["1970", "2000"])
def test_expiry_without_a_date_header_on_either_epoch(request, epoch):
    real_time = request.getfixturevalue("clock_2000") if epoch == "2000" else time.time
    now_unix = int(real_time())
    expiration = datetime.datetime.fromtimestamp(now_unix + 3600, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    lifetime = credentials_reply.parse(reply(expiration), None)[3]
    assert 3598 <= lifetime <= 3600
    assert clock.now() < 10 ** 9 if epoch == "2000" else clock.now() > 10 ** 9  # the fixture did shift the clock


def test_refresh_is_due_on_the_device_clock_not_the_calendar(clock_2000):
    """A board on the 2000 epoch: refresh at expiry - 5 min of its own clock."""
    creds = FakeFetch(lifetime=3600)
    creds.ensure()
    start = clock.now()
    assert creds._refresh_at - start in (3300, 3299)


# -- refresh timing on a fake clock -------------------------------------------------------------


class FakeFetch(credentials.CertificateCredentials):
    """The fetch replaced by fixed answers (the real one is in the end-to-end tests)."""

    def __init__(self, lifetime=3600, now=None, **kw):
        super().__init__("abc.credentials.iot.us-east-1.amazonaws.com", "mpaws-role-alias", "thing-1", b"", b"",
                         now=now, **kw)
        self.lifetime = lifetime
        self.answers = []

    def refresh(self):
        n = len(self.answers) + 1
        answer = ("ASIAMPAWSTEMPORARY%02d" % n, SECRET + str(n), TOKEN + str(n), self.lifetime)
        self.answers.append(answer)
        credentials_reply.take(self, *answer)


class FakeClock:
    def __init__(self, t=1000):
        self.t = t

    def __call__(self):
        return self.t


@pytest.mark.parametrize("lifetime, due", [(3600, 3300), (900, 675), (20, 15), (43200, 42900)])
def test_refresh_a_few_minutes_before_expiry(lifetime, due):
    now = FakeClock()
    creds = FakeFetch(lifetime, now)
    assert not creds.fresh()
    creds.ensure()
    assert creds.fetches == 1
    now.t += due - 1
    creds.ensure()
    assert creds.fetches == 1 and creds.fresh()
    now.t += 1
    assert not creds.fresh()
    creds.ensure()
    assert creds.fetches == 2 and creds.access_key == "ASIAMPAWSTEMPORARY02"


def test_what_no_signature_runs_is_loaded_for_the_call_and_let_go_of():
    """fresh(), expire() and renews() are mpaws.credentials_state's, reached through the
    class's __getattr__ and forgotten after the call (refresh(), the fetch's, is reached the
    same way by ensure() in the end-to-end tests); any other missing attribute is an
    AttributeError, as without the __getattr__."""
    now = FakeClock()
    creds = FakeFetch(3600, now)
    assert not creds.fresh()
    creds.ensure()
    assert creds.fresh() and creds.fetches == 1
    creds.expire()
    assert not creds.fresh() and "mpaws.credentials_state" not in sys.modules
    assert not creds.renews(errors.AWSError("no", 403, "AccessDeniedException"))
    assert not hasattr(creds, "fresh_") and not hasattr(creds, "secret")
    with pytest.raises(AttributeError, match="renew_"):
        creds.renew_  # noqa: B018


def test_expired_credentials_are_due_even_at_the_clocks_start():
    """A board's clock reads 0 at power-on (the 2000 epoch) until NTP sets it: expire()
    makes the credentials due then too."""
    now = FakeClock(0)
    creds = FakeFetch(3600, now)
    creds.ensure()
    assert creds.fresh()
    creds.expire()
    assert not creds.fresh()
    creds.ensure()
    assert creds.fetches == 2 and creds.fresh()


def test_expired_token_reply_refreshes_at_once():
    now = FakeClock()
    creds = FakeFetch(3600, now)
    signer = creds.signer("us-east-1", "lambda")
    signer.sign("GET", "/", headers=[("host", "h")], date="20261203T090000Z")
    assert creds.fetches == 1
    for code in ("ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId", "UnrecognizedClientException"):
        assert creds.renews(errors.AWSError("expired", 403, code))
        signer.sign("GET", "/", headers=[("host", "h")], date="20261203T090000Z")
    assert creds.fetches == 5
    for code in ("AccessDeniedException", "InvalidSignatureException", None):
        assert not creds.renews(errors.AWSError("no", 403, code))
    signer.sign("GET", "/", headers=[("host", "h")], date="20261203T090000Z")
    assert creds.fetches == 5


def test_a_fetch_closes_the_clients_connection_first():
    class Connection:
        closed = 0

        def close(self):
            self.closed += 1

    now = FakeClock()
    creds = FakeFetch(3600, now)
    signer = creds.signer("us-east-1", "lambda", Connection())
    assert creds.fetches == 1 and signer.connection.closed == 0  # fetched for the signer, before its connection
    for _ in range(3):
        signer.sign("GET", "/", headers=[("host", "h")], date="20261203T090000Z")
    assert signer.connection.closed == 0 and creds.fetches == 1
    now.t += 3600
    signer.sign("GET", "/", headers=[("host", "h")], date="20261203T090000Z")
    assert signer.connection.closed == 1 and creds.fetches == 2


def test_signature_with_the_temporary_credentials_matches_botocore():
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    now = FakeClock()
    creds = FakeFetch(3600, now)
    signer = creds.signer("us-east-1", "lambda")
    body = b'{"subject": "s"}'
    headers = [("host", "lambda.us-east-1.amazonaws.com"), ("content-type", "application/json"),
               ("content-length", str(len(body)))]
    for round in (1, 2):  # after a refresh too: the new key, secret and token
        if round == 2:
            now.t += 3600
        added = dict(signer.sign("POST", "/2015-03-31/functions/f/invocations", None, headers, body,
                                 date="20261203T090000Z"))
        key, secret, token, _ = creds.answers[-1]
        request = AWSRequest("POST", "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations",
                             data=body, headers={n: v for n, v in headers if n != "host"})
        boto_sign(SigV4Auth(Credentials(key, secret, token), "lambda", "us-east-1"), request, "20261203T090000Z")
        assert added["X-Amz-Security-Token"] == token == request.headers["X-Amz-Security-Token"]
        assert added["Authorization"] == request.headers["Authorization"]
        assert ("Credential=%s/" % key) in added["Authorization"]


_HELD_PROBE = """\
import gc, sys
sys.path[:] = [sys.argv[1], ".frozen"]
from mpaws import credentials, credentials_reply


def held(token_chars):
    gc.collect()
    start = gc.mem_alloc()
    c = credentials.CertificateCredentials("c.credentials.iot.us-east-1.amazonaws.com", "alias", "thing", b"", b"")
    credentials_reply.take(c, "ASIAMPAWSTEMPORARY01", "s" * 40, "T" * token_chars, 3600)
    signer = c.signer("us-east-1", "lambda")
    signer.sign("GET", "/", headers=[("host", "h")], date="20261203T090000Z")
    gc.collect()
    return gc.mem_alloc() - start, signer


held(40)  # the modules' first load
small, kept = held(40)
kept = None
large, kept = held(4040)
print("HELD", small, large)
"""


def test_the_session_token_is_held_once_under_micropython(micropython, compiled_lib, tmp_path):  # noqa: F811
    """A signer on temporary credentials keeps their session token (1 KB and more from
    AWS) once: 4,000 characters more of it hold 4,000 bytes more of heap, not twice that
    (str(token) on MicroPython is a copy)."""
    probe = tmp_path / "held_probe.py"
    probe.write_text(_HELD_PROBE)
    proc = run_micropython(micropython, [str(probe), compiled_lib])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    small, large = (int(n) for n in proc.stdout.split("HELD")[1].split())
    assert 4000 <= large - small < 4000 + 512, (small, large)


_INTERN_PROBE = """\
import sys, micropython
sys.path[:] = [sys.argv[1], ".frozen"]
from mpaws import credentials_reply, errors


def parse(expiration):
    body = ('{"credentials": {"accessKeyId": "ASIAMPAWSTEMPORARY01", "secretAccessKey": "s3cr3t/' + 'x' * 30
            + '", "sessionToken": "token", "expiration": "' + expiration + '"}}')
    try:
        credentials_reply.parse(body.encode(), "Thu, 03 Dec 2026 09:00:00 GMT")
    except errors.ProtocolError:
        pass


parse("2026-12-03T10:00:00Z")  # the code's own names, once, and the failure's
parse("2026-12-03T10:00:00X")
micropython.qstr_info()
for expiration in ("2026%12%03%10%00%00Z", "2026~12~03~10~00~00Z", "2026^12^03^10^00^00Z",
                   "2026-12-03|10:00:00Z", "2026-12-03T10}00:00Z", "2026-12-03T10:00{00Z"):
    parse(expiration)
micropython.qstr_info()
"""


def test_a_hostile_expiration_interns_none_of_its_characters(micropython, compiled_lib, tmp_path):  # noqa: F811
    """The expiration's separators are checked by slices: text[i] on MicroPython interns
    the character it makes, a name held for good, one for each odd character a reply sends."""
    probe = tmp_path / "intern_probe.py"
    probe.write_text(_INTERN_PROBE)
    proc = run_micropython(micropython, [str(probe), compiled_lib])
    counts = [line.split("n_qstr=")[1].split(",")[0] for line in proc.stdout.splitlines() if "n_qstr=" in line]
    assert proc.returncode == 0 and len(counts) == 2, proc.stdout + proc.stderr
    assert counts[0] == counts[1], counts


def test_repr_and_log_never_show_the_secret():
    logged = []
    creds = FakeFetch(3600, FakeClock(), log=logged.append)
    creds.ensure()
    text = repr(creds) + repr(creds.signer("us-east-1", "lambda")) + "\n".join(logged)
    assert "ASIAMPAWSTEMPORARY01" in text
    assert SECRET not in text and TOKEN[:40] not in text


@pytest.mark.parametrize("port, host_is_the_configs", [(443, True), (8443, False)])
def test_the_session_makes_the_credentials_from_the_config(port, host_is_the_configs):
    """mpaws.session: the config's endpoint, role alias, thing, files and TLS settings; on
    port 443 the credentials' host is the config's own str (no copy held for the session)."""
    from types import SimpleNamespace

    from mpaws import session

    endpoint = "".join(["c2abcdefgh.credentials.iot", ".us-east-1.amazonaws.com"])  # not an interned constant
    s = SimpleNamespace(thing_name="thing-1", credentials_endpoint=endpoint, credentials_port=port,
                        role_alias="mpaws-role-alias", tls_cert="cert.der", tls_key="key.der", ca="ca.der",
                        verify_tls=True, timeout=7)
    app = SimpleNamespace(config=lambda: s, _temporary=None, log=print)
    creds = session.credentials(app)
    assert app._temporary is creds and session.credentials(app) is creds  # made once
    assert (creds.host, creds.port, creds.role_alias, creds.thing_name) == (endpoint, port, "mpaws-role-alias",
                                                                            "thing-1")
    assert (creds.cert, creds.key, creds.ca, creds.verify, creds.timeout, creds.log) == (
        "cert.der", "key.der", "ca.der", True, 7, print)
    assert (creds.host is endpoint) == host_is_the_configs
    assert creds.access_key is None and not creds.fresh()  # made, not fetched
    assert (creds.fetches, creds.handshakes, creds.bytes_sent, creds.bytes_received) == (0, 0, 0, 0)


def test_names_of_1_and_of_128_characters_are_taken():
    for alias, thing in (("a", "t" * 128), ("a" * 128, "t")):
        creds = credentials.CertificateCredentials("host", alias, thing, "cert", "key")
        assert (creds.role_alias, creds.thing_name) == (alias, thing)
    assert not credentials_state.is_name("", ":_-") and not credentials_state.is_name("t" * 129, ":_-")


@pytest.mark.parametrize("endpoint, alias, thing", [
    ("", "alias", "thing"), ("host:x", "alias", "thing"), ("host", "al/ias", "thing"), ("host", "alias", "th ing"),
    ("host", "alias", "t" * 129), ("host", "", "thing"), ("host", "alias", "thing\r\n"),
])
def test_bad_names_are_refused(endpoint, alias, thing):
    with pytest.raises(ValueError):
        credentials.CertificateCredentials(endpoint, alias, thing, "cert", "key")


# -- the certificate and key files ------------------------------------------------------------


def _key_forms():
    import trustme
    from cryptography.hazmat.primitives import serialization as s

    out = []
    for kind in (trustme.KeyType.RSA, trustme.KeyType.ECDSA):
        key = s.load_pem_private_key(trustme.CA(key_type=kind).issue_cert("t", key_type=kind)
                                     .private_key_pem.bytes(), None)
        for fmt in (s.PrivateFormat.PKCS8, s.PrivateFormat.TraditionalOpenSSL):
            der = key.private_bytes(s.Encoding.DER, fmt, s.NoEncryption())
            pem = key.private_bytes(s.Encoding.PEM, fmt, s.NoEncryption())
            out.append((der, pem))
    return out


def test_pem_and_der_keys_become_der():
    for der, pem in _key_forms():
        assert certs.pem_block(der, b"PRIVATE KEY", "CONFIG_TLS_KEY") == der
        assert certs.pem_block(pem, b"PRIVATE KEY", "CONFIG_TLS_KEY") == der
        # openssl's EC keys may come with an EC PARAMETERS block first
        params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        assert certs.pem_block(params + pem, b"PRIVATE KEY", "CONFIG_TLS_KEY") == der


def test_bad_key_files_name_the_key_and_never_quote_it():
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    encrypted = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(b"pass"))
    plain = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    for data, words in ((encrypted, "encrypted"), (plain[:-30], "not closed"), (b"hello", "neither DER nor")):
        with pytest.raises(errors.ConfigError) as caught:
            certs.pem_block(data, b"PRIVATE KEY", "CONFIG_TLS_KEY")
        assert "CONFIG_TLS_KEY" in str(caught.value) and words in str(caught.value)
        assert plain[40:80].decode() not in str(caught.value)
