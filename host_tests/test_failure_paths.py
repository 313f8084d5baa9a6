"""What a user of the device gets when a failure path runs: app.notify(), queue() and
flush() under CPython (the source tree) and under MicroPython from the .mpy build
(-X heapsize=128k), against a real TLS server on 127.0.0.1 that answers as a test scripts
(scripted_server.py), with a real full flash (a tmpfs; root only, as CI runs) and real
certificate files. Each case asserts one outcome: what the server received (requests per
message id), what the outbox holds, and the error a user reads."""
import json
import os
import ssl

import pytest
import trustme

from device import FAST
from scripted_server import ScriptedServer, ok_reply, reply
from test_faults import (FLUSH, HEAPSIZE, LAST_ERROR, MAX_ATTEMPTS, OUTBOX, STATUS, assert_failed, assert_within,  # noqa: F401
                         fault_device, fill, kept_id, make_dev, mpy_firmware, notify_once, run, runtime, small_flash)


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


def queue(subject, body="b"):
    return {"op": "queue", "subject": subject, "body": body}


def notify(subject="s", body="b"):
    return {"op": "notify", "subject": subject, "body": body}


def line_bytes(message_id, subject, body):
    """Bytes of a message's line in the outbox file (compact JSON, as the firmware writes it)."""
    return len(json.dumps([message_id, subject, body], separators=(", ", ": "), ensure_ascii=False).encode()) + 1


# -- the outbox's byte limit (CONFIG_OUTBOX_BYTES) ---------------------------------------------

OUTBOX_BYTES = 1024  # the smallest CONFIG_OUTBOX_BYTES
BODY = "r" * 300  # a message line of ~340 bytes: three fit in 1024 bytes, not four


def test_outbox_over_its_byte_limit_drops_the_oldest_and_sends_the_newest(make_dev, server):
    dev = make_dev(server, CONFIG_OUTBOX_BYTES=OUTBOX_BYTES)
    queued = run(dev, [queue("m%d" % i, BODY) for i in range(6)] + [OUTBOX, STATUS])
    ids = [r["id"] for r in queued.results[:6]]
    box, status = queued.results[6:]
    kept = [m[0] for m in box["outbox"]]
    assert kept == ids[-len(kept):] and 1 <= len(kept) < 6, (ids, kept)  # the newest, in order
    assert sum(line_bytes(*m) for m in box["outbox"]) <= OUTBOX_BYTES
    assert sum(line_bytes(*m) for m in box["outbox"]) + line_bytes(ids[-len(kept) - 1], "m0", BODY) > OUTBOX_BYTES
    assert status["outbox"] == len(kept)
    assert "CONFIG_OUTBOX_BYTES" in queued.log and "dropped the oldest" in queued.log, queued.log
    flushed = run(dev, [FAST, FLUSH, OUTBOX])
    assert flushed.results[1] == dict(flushed.results[1], ok=True, sent=len(kept))
    assert server.deliveries() == dict((i, 1) for i in kept)


@pytest.mark.parametrize("op", ["queue", "notify"])
def test_message_over_the_outbox_byte_limit_is_refused_naming_the_limit(make_dev, server, op):
    dev = make_dev(server, CONFIG_OUTBOX_BYTES=OUTBOX_BYTES)
    r = run(dev, [queue("old"), FAST, {"op": op, "subject": "big", "body": "x" * OUTBOX_BYTES}, OUTBOX])
    old_id, refused, box = r.results[0]["id"], r.results[2], r.results[3]
    assert_failed(refused, "InvalidMessage")
    assert "CONFIG_OUTBOX_BYTES" in refused["message"] and str(OUTBOX_BYTES) in refused["message"], refused
    assert [m[0] for m in box["outbox"]] == [old_id]  # nothing stored, nothing lost
    assert server.requests == []  # nor sent


# -- a full flash --------------------------------------------------------------------------------


def test_notify_on_a_full_flash_sends_without_keeping_a_copy(make_dev, server):
    with small_flash() as flash:
        fill(flash)
        dev = make_dev(server, CONFIG_OUTBOX_PATH=os.path.join(flash, "outbox.txt"))
        r = run(dev, [FAST, notify("full", "flash"), LAST_ERROR, OUTBOX], server=server)
        sent, last_error, box = r.results[1:]
        assert sent.get("ok") and sent["status"] == 200, sent
        assert "sending without keeping a copy" in last_error["last_error"], last_error
        assert box["outbox"] == []
        assert len(server.requests) == 1 and server.requests[0].event["subject"] == "full"


def test_queue_on_a_full_flash_is_an_outbox_error_and_stores_nothing(make_dev, server):
    with small_flash() as flash:
        dev = make_dev(server, CONFIG_OUTBOX_PATH=os.path.join(flash, "outbox.txt"))
        old = run(dev, [queue("old")]).results[0]["id"]
        fill(flash)
        r = run(dev, [queue("new", "n" * 200), OUTBOX])
        assert_failed(r.results[0], "OutboxError")
        assert "flash full" in r.results[0]["message"], r.results[0]
        assert [m[0] for m in r.results[1]["outbox"]] == [old]
        assert server.requests == []


# -- replies the transport refuses: kept, and sent by the next flush ----------------------------

BROKEN_REPLIES = [
    pytest.param(reply(503, "Unavailable", [("X-Note", "caf\xe9")]), "not valid UTF-8", id="header-not-utf8"),
    pytest.param(reply(503, "Unavailable", [("X-H%d" % i, "v") for i in range(64)], b"{}"), "too many header lines",
                 id="65-headers"),
    pytest.param(reply(200, "OK", [("Transfer-Encoding", "chunked")], b"5\r\nhelloX\r\n0\r\n\r\n", length=False),
                 "not followed by CRLF", id="chunk-without-crlf"),
]


@pytest.mark.parametrize("data,words", BROKEN_REPLIES)
def test_broken_reply_is_a_protocol_error_and_the_message_is_kept(make_dev, server, data, words):
    # 32k over the suite's heap: 65 header lines and the failure code beside the test driver
    # run out of heap at HEAPSIZE (OutOfMemory, the message kept), before the header check.
    dev = make_dev(server, heapsize="%dk" % (int(HEAPSIZE[:-1]) + 32))
    server.script(data)
    result, box, status = notify_once(dev)
    assert_failed(result, "ProtocolError")
    assert words in result["message"] and result["retryable"] is True, result
    assert_within(result)
    message_id = kept_id(box)
    assert server.deliveries() == {message_id: MAX_ATTEMPTS}
    server.script(ok_reply())
    flushed = run(dev, [FAST, FLUSH, OUTBOX])
    assert flushed.results[1] == dict(flushed.results[1], ok=True, sent=1) and flushed.results[2]["outbox"] == []
    assert server.deliveries() == {message_id: MAX_ATTEMPTS + 1}


def test_too_many_header_lines_after_a_2xx_mean_delivered_and_nothing_is_sent_again(make_dev, server):
    # The status line said 200: AWS accepted the message, whatever follows it (as with a
    # header line too long for the heap). 32k over the suite's heap, as above.
    dev = make_dev(server, heapsize="%dk" % (int(HEAPSIZE[:-1]) + 32))
    server.script(reply(200, "OK", [("X-H%d" % i, "v") for i in range(64)], b"{}"))
    r = run(dev, [FAST, notify("fault", "a body"), OUTBOX], server=server)
    result, box = r.results[1:]
    assert result == dict(result, ok=True, message_id=None), result
    assert "accepted; its reply could not be read: ResponseTooLarge" in r.log, r.log
    assert box["outbox"] == [] and list(server.deliveries().values()) == [1]
    flushed = run(dev, [FAST, FLUSH])
    assert flushed.results[1] == dict(flushed.results[1], ok=True, sent=0)
    assert list(server.deliveries().values()) == [1]


def test_headers_after_100_continue_are_skipped_and_the_message_delivered(make_dev, server):
    dev = make_dev(server)
    server.script(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" + ok_reply(b'{"real": 1}'))
    result, box, status = notify_once(dev)
    assert result.get("ok") and result["status"] == 200 and result["payload"] == '{"real": 1}', result
    assert box["outbox"] == [] and list(server.deliveries().values()) == [1]


def test_connection_closed_while_idle_costs_a_new_connection_not_a_retry(make_dev, server):
    dev = make_dev(server)
    server.script(ok_reply(), then="close", count=1)  # the server's idle timeout, after the first reply
    r = run(dev, [FAST, notify("first"), {"op": "sleep", "seconds": 0.3}, notify("second"), OUTBOX])
    first, second, box = r.results[1], r.results[3], r.results[4]
    assert first.get("ok") and second.get("ok"), r
    assert second["attempts"] == 1 and second["handshakes"] == 2, second  # reopened, sent once, no retry pause
    assert box["outbox"] == []
    assert sorted(server.deliveries().values()) == [1, 1]


# -- the client: Retry-After, the clock ----------------------------------------------------------


def throttle(retry_after):
    return reply(429, "Too Many Requests", [("Content-Type", "application/json"),
                                            ("x-amzn-ErrorType", "TooManyRequestsException"),
                                            ("Retry-After", retry_after)], b'{"message": "Rate exceeded"}')


@pytest.mark.parametrize("retry_after", ["86400", "Wed, 21 Oct 2099 07:28:00 GMT"], ids=["a-day", "http-date"])
def test_retry_after_never_ends_the_retries_early(make_dev, server, retry_after):
    """Retry-After: a day is capped by the client's max delay (20 ms here), an HTTP date is
    not a number of seconds: every attempt is made, then the message is kept."""
    dev = make_dev(server)
    server.script(throttle(retry_after))
    result, box, status = notify_once(dev)
    assert_failed(result, "Throttled")
    assert "gave up after %d attempts" % MAX_ATTEMPTS in result["message"], result
    assert result["attempts"] == MAX_ATTEMPTS and result["elapsed_ms"] < 3000, result
    assert server.deliveries() == {kept_id(box): MAX_ATTEMPTS}


def test_clock_skew_reply_without_a_date_leaves_the_clock_and_keeps_the_message(make_dev, server):
    dev = make_dev(server)
    server.script(reply(403, "Forbidden", [("Content-Type", "application/json"),
                                           ("x-amzn-ErrorType", "InvalidSignatureException")],
                        b'{"message": "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z"}'))
    result, box, status = notify_once(dev)
    assert_failed(result, "ProtocolError")
    assert "no plausible Date header (none)" in result["message"], result
    assert result["offset"] == 0 and status["offset"] == 0, (result, status)
    assert server.deliveries() == {kept_id(box): MAX_ATTEMPTS}


# -- an AWS error reply's text is read without interning its characters ------------------------

_READ_REPLY = """\
import micropython
from mpaws import failures
with open("reply.json", encoding="utf-8") as f:
    text = f.read()
failures.json_field('{"message": "a\\\\u00e9"}', "message")
micropython.qstr_info()
field = failures.json_field(text, "message")
micropython.qstr_info()
print("FIELD", field)
"""


def test_an_error_replys_message_is_read_without_interning_its_characters(micropython, mpy_firmware, tmp_path):
    """failures.json_field under MicroPython from the .mpy build: the message of an error
    reply (escapes, a surrogate pair, letters no name uses) is decoded as json.loads does,
    and no name is interned for it (one per character before: names are never freed, and a
    failure's names took the name table past its next doubling, 7 KB)."""
    import subprocess

    message = 'Rate exceeded for QXZJ vkwy 0123: \u00e9 \U0001f600 "quoted" back\\slash\nsecond line'
    (tmp_path / "reply.json").write_text(json.dumps({"__type": "Throttling", "message": message}), encoding="utf-8")
    proc = subprocess.run([micropython, "-c", _READ_REPLY], cwd=tmp_path, capture_output=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH=".frozen:%s/lib" % mpy_firmware))
    out = proc.stdout.decode("utf-8")
    pools = [line for line in out.splitlines() if line.startswith("qstr pool:")]
    assert proc.returncode == 0 and len(pools) == 2, out + proc.stderr.decode("utf-8", "replace")
    assert out.split("FIELD ", 1)[1] == message + "\n", out
    assert pools[0] == pools[1], pools  # n_qstr, the names' bytes: unchanged


# -- certificate auth: the device's certificate and key files -------------------------------------


@pytest.fixture(scope="module")
def device_certs(tmp_path_factory):
    """A device certificate and its key, a key of another certificate (PEM files), and
    their CA (PEM bytes)."""
    folder = tmp_path_factory.mktemp("device_certs")
    ca = trustme.CA()
    cert = ca.issue_cert("thing1.example")
    other = ca.issue_cert("thing2.example")
    paths = {"ca": ca.cert_pem.bytes()}
    for name, blob in (("cert.pem", cert.cert_chain_pems[0]), ("key.pem", cert.private_key_pem),
                       ("other_key.pem", other.private_key_pem)):
        blob.write_to_path(str(folder / name))
        paths[name] = str(folder / name)
    return paths


@pytest.fixture
def make_cert_dev(runtime, tmp_path, request, mpy_firmware):
    """make(server, cert, key) -> a Device with certificate auth (the credentials endpoint
    is the server). Under micropython the .mpy build with the port's default heap: at 128k
    the handshake with a certificate sometimes runs out of heap first (the heap of
    certificate auth is measured by the bench, not here)."""
    micropython = request.getfixturevalue("micropython") if runtime == "micropython" else None

    def make(server, cert, key):
        return fault_device(runtime, tmp_path, server, micropython, mpy_firmware, heapsize=None,
                            CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                            CONFIG_AWS_CREDENTIALS_ENDPOINT="localhost:%d" % server.port,
                            CONFIG_AWS_ROLE_ALIAS="mpaws-role", CONFIG_AWS_THING_NAME="thing1", CONFIG_TLS_CERT=cert,
                            CONFIG_TLS_KEY=key)

    return make


def test_key_of_another_certificate_is_refused_and_nothing_sent(make_cert_dev, server, device_certs, runtime):
    """CPython's TLS checks the pair when it loads it: a ConfigError before any connection.
    MicroPython's mbedTLS loads them unchecked: the endpoint, which asks for the device's
    certificate, refuses the handshake, and the error asks whether CONFIG_TLS_KEY is its key."""
    server._ssl.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as the credentials endpoint
    server._ssl.load_verify_locations(cadata=device_certs["ca"].decode())
    dev = make_cert_dev(server, device_certs["cert.pem"], device_certs["other_key.pem"])
    result, box, status = notify_once(dev)
    if runtime == "cpython":
        assert_failed(result, "ConfigError")
        assert "CONFIG_TLS_CERT / CONFIG_TLS_KEY: not a certificate and its private key" in result["message"], result
        assert server.connections == 0
    else:
        assert_failed(result, "AccessDenied")
        assert "refused the device certificate in the TLS handshake" in result["message"], result
        assert "CONFIG_TLS_KEY its key?" in result["message"], result
        assert server.handshakes == 0
    assert server.requests == []
    kept_id(box)  # kept: sent once the files are fixed


def test_pem_block_that_is_not_base64_is_a_config_error_naming_the_key(make_cert_dev, server, device_certs, tmp_path):
    with open(device_certs["cert.pem"], "rb") as f:
        lines = f.read().splitlines(True)
    lines[1] = lines[1][1:]  # a character less: its base64 no longer decodes (padding)
    bad = tmp_path / "bad_cert.pem"
    bad.write_bytes(b"".join(lines))
    dev = make_cert_dev(server, str(bad), device_certs["key.pem"])
    result, box, status = notify_once(dev)
    assert_failed(result, "ConfigError")
    assert "CONFIG_TLS_CERT: the PEM block is not valid base64" in result["message"], result
    assert server.connections == 0
    kept_id(box)


def test_missing_key_file_is_a_config_error_naming_the_key(make_cert_dev, server, device_certs, tmp_path):
    dev = make_cert_dev(server, device_certs["cert.pem"], str(tmp_path / "no_such_key.pem"))
    r = run(dev, [FAST, notify(), STATUS])
    assert_failed(r.results[1], "ConfigError")
    assert "CONFIG_TLS_KEY: no file" in r.results[1]["message"], r.results[1]
    assert server.connections == 0
