"""Never lose, never storm, never wedge: app.notify() and app.flush() against a hostile
Lambda endpoint (hostile_server.py, TLS on 127.0.0.1), a full or read-only flash (a small
tmpfs as the outbox's directory), a damaged outbox and a broken config.py.

Every case runs under CPython (the source tree) and under MicroPython from the .mpy build
(compiled as `make build` does; the driver compiled too) with `-X heapsize=128k`, and
asserts what the server
received (requests per message id: "deliveries"), what the outbox holds afterwards, the
exception class, how long the call took (CONFIG_TIMEOUT = 3: a call returns or raises
within 4 x CONFIG_TIMEOUT, plus a little slack for the runtime) and that no output,
exception text, last_error or file holds the secret key.

The contract:
- a malformed reply (not HTTP, negative sizes, 101 then close, 3xx, a 1xx other than 100,
  endless 100 Continue) is errors.ProtocolError: retryable, the message stays in the
  outbox (never a bare ValueError, never "refused");
- a stalled or dripping server is errors.Timeout within 4 x CONFIG_TIMEOUT; message kept;
- an absurd Date on a clock-skew reply is a retryable AWSError (ClockSkew or
  ProtocolError) and the clock offset is left alone; message kept;
- a 2xx reply means AWS accepted the message: it leaves the outbox even when its body is
  not UTF-8 or too large to read (then errors.ResponseTooLarge or errors.OutOfMemory,
  never a raw MemoryError);
- when the outbox can't be rewritten after a send (flash full, read-only), a message is
  delivered at most once per process and at most twice in all; no storm;
- 429/503 storms: bounded attempts, message kept;
- bad certificates, plain HTTP: errors.TLSError, nothing delivered, message kept;
- a damaged outbox header heals: old messages kept, new ones queue and send;
- a broken config.py is errors.ConfigError naming config.py and the line; no config
  error quotes a secret.

The heap: the firmware alone sends a notify at about 80 KB and fails one cleanly (retries,
the error's code) at about 86 KB of the 64-bit unix port's heap; the test driver and its
results take the rest of the 128 KB. On an ESP32 the modules take ~0.72 of that, and TLS
comes from the IDF heap, not this one.

The helpers (fault_device, run_fault) are also for tools/bench: run_fault() runs one fault
mode once and returns (deliveries per id, seconds the notify took, the driver's Run).
"""
import contextlib
import os
import re
import subprocess
import tempfile

import pytest

from device import ACCESS_KEY, FAST, SECRET_KEY, Device, mpy_build, notify
from hostile_server import ABSURD_DATES, HostileServer

CONFIG_TIMEOUT = 3  # seconds: CONFIG_TIMEOUT of every case
BOUND_S = 4 * CONFIG_TIMEOUT  # the longest a notify (or one flush) may take
SLACK_S = 2.0  # for the runtime itself (scheduling, a slow shared machine)
KILL_S = BOUND_S + 10  # a driver run still going after this is killed (the call wedged)
MAX_ATTEMPTS = 4  # the client's default attempts: the most requests one notify may make
HEAPSIZE = "128k"  # the firmware and this driver, on the 64-bit unix port (see above)
RUNTIMES = ("cpython", "micropython")  # micropython: the .mpy build, -X heapsize=HEAPSIZE

OUTBOX, STATUS, LAST_ERROR = {"op": "outbox"}, {"op": "status"}, {"op": "last_error"}
FLUSH = {"op": "flush"}

# -- helpers (also for the bench) -----------------------------------------------------------


def fault_device(runtime, directory, server, micropython=None, firmware=None, heapsize=HEAPSIZE, **keys):
    """A Device (device.py) in directory, configured for a HostileServer: CONFIG_TIMEOUT = 3,
    the outbox in directory (CONFIG_OUTBOX_PATH), the server's CA; keys override. Under
    micropython, firmware (a mpy_build() directory) and heapsize apply."""
    dev = Device(runtime, directory, micropython, firmware=firmware, heapsize=heapsize)
    dev.server = server
    config = dict(CONFIG_AWS_HOST="localhost:%d" % server.port, CONFIG_TLS_CA=server.ca_der,
                  CONFIG_TIMEOUT=CONFIG_TIMEOUT, CONFIG_OUTBOX_PATH=os.path.join(str(directory), "outbox.txt"),
                  CONFIG_AWS_LAMBDA_FUNCTION="notify")
    config.update(keys)
    dev.write_config(**config)
    return dev


def run(dev, steps, timeout=KILL_S, server=None):
    """dev.run(steps), failing clearly (instead of with a TimeoutExpired) when the process
    had to be killed: a call that never returned (with what the server got meanwhile)."""
    try:
        return dev.run(steps, timeout=timeout)
    except subprocess.TimeoutExpired:
        got = ""
        if server is not None:
            got = "; the server got %d requests, at most %d with one id" % (len(server.requests),
                                                                          server.max_deliveries())
        pytest.fail("%s: the driver was still running after %d s (killed): a call wedged%s"
                    % (dev.runtime, timeout, got))


def run_fault(runtime, mode, directory, micropython=None, firmware=None, count=None, server_args=None, **params):
    """Runs one notify against a HostileServer in `mode` (for `count` requests, else for
    all); returns (deliveries per id, seconds the notify took, Run). For the bench."""
    with HostileServer(**(server_args or {})) as server:
        server.set_mode(mode, count=count, **params)
        dev = fault_device(runtime, directory, server, micropython, firmware)
        try:
            result = dev.run([FAST, notify("fault", mode), OUTBOX], timeout=KILL_S)
        except subprocess.TimeoutExpired:
            return server.deliveries(), None, None
        return server.deliveries(), result.results[1]["elapsed_ms"] / 1000.0, result


def secret_files(dev, *directories):
    """Files (under dev.dir and directories) that hold one of dev.secrets; config.py, which
    holds them by design, is left out."""
    found = []
    for top in (dev.dir,) + directories:
        for root, _, files in os.walk(top):
            for name in files:
                path = os.path.join(root, name)
                if os.path.abspath(path) == os.path.abspath(os.path.join(dev.dir, "config.py")):
                    continue
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if any(s.encode() in data for s in dev.secrets):
                    found.append(path)
    return found


def kept_id(outbox_result):
    """The one message id the outbox step lists."""
    ids = [m[0] for m in outbox_result["outbox"]]
    assert len(ids) == 1, outbox_result
    return ids[0]


def assert_failed(result, *names):
    """A failed step whose exception is an errors.AWSError subclass (one of names, if given)."""
    assert "error" in result and (not names or result["error"] in names), result
    assert "AWSError" in result["classes"], result
    assert "ValueError" not in result["classes"] and "MemoryError" not in result["classes"], result


def assert_within(result, bound_s=BOUND_S):
    assert result["elapsed_ms"] <= (bound_s + SLACK_S) * 1000, (
        "took %.1f s, over %d s" % (result["elapsed_ms"] / 1000.0, bound_s), result)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mpy_firmware(mpy_cross, tmp_path_factory):
    """firmware/ compiled as `make build` compiles it (mpy-cross -X no-source-lines)."""
    return mpy_build(mpy_cross, tmp_path_factory.mktemp("mpy") / "firmware")


@pytest.fixture(params=RUNTIMES)
def runtime(request):
    return request.param


@pytest.fixture
def servers():
    """make(**HostileServer args) -> a started server; all stopped after the test."""
    started = []

    def make(**kwargs):
        server = HostileServer(**kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_dev(runtime, tmp_path, request, mpy_firmware):
    """make(server, **config keys) -> a Device for the test's runtime in tmp_path."""
    micropython = request.getfixturevalue("micropython") if runtime == "micropython" else None

    def make(server, **keys):
        return fault_device(runtime, tmp_path, server, micropython, mpy_firmware, **keys)

    return make


@pytest.fixture
def server(servers):
    return servers()


@pytest.fixture
def dev(make_dev, server):
    return make_dev(server)


def notify_once(dev, subject="fault", body="a body"):
    """[tune, notify, outbox, status] in one process; returns (notify result, outbox
    result, status result) and checks no file holds a secret."""
    r = run(dev, [FAST, notify(subject, body), OUTBOX, STATUS], server=dev.server)
    assert not secret_files(dev)
    assert r.results[3].get("ok"), r  # status() works after the failure
    return r.results[1], r.results[2], r.results[3]


def assert_kept_and_sent_later(dev, server, outbox_result, status_result):
    """The failed message is still in the outbox, nothing was refused, and a flush with
    the server back to normal delivers it once more."""
    message_id = kept_id(outbox_result)
    assert status_result["refused"] == 0 and status_result["outbox"] == 1, status_result
    assert "refused" not in (status_result["last_error"] or ""), status_result
    before = server.deliveries().get(message_id, 0)
    server.set_mode("normal")
    r = run(dev, [FAST, FLUSH, OUTBOX])
    assert r.results[1] == dict(r.results[1], ok=True, sent=1), r
    assert r.results[2]["outbox"] == [], r
    assert server.deliveries()[message_id] == before + 1
    return message_id


# -- the runtimes ---------------------------------------------------------------------------


def test_micropython_runs_the_mpy_build_with_a_small_heap(make_dev, server, runtime):
    dev = make_dev(server)
    r = run(dev, [{"op": "modules", "names": ["app", "mpaws.http", "mpaws.outbox"]}, notify(), OUTBOX])
    files = r.results[0]["files"]
    suffix = ".mpy" if runtime == "micropython" else ".py"
    assert all(f.endswith(suffix) for f in files.values()), files
    if runtime == "micropython":
        assert dev.heapsize == HEAPSIZE and dev.firmware != dev.dir
    assert r.results[1]["ok"] and r.results[1]["status"] == 200
    assert r.results[2]["outbox"] == []
    assert list(server.deliveries().values()) == [1]


# -- malformed replies: ProtocolError, kept -------------------------------------------------

MALFORMED = [
    pytest.param("garbage", {}, id="not-http"),
    pytest.param("negative_chunk", {}, id="negative-chunk-size"),
    pytest.param("negative_length", {"status": 200}, id="negative-content-length-200"),
    pytest.param("negative_length", {"status": 503}, id="negative-content-length-503"),
    pytest.param("switching", {}, id="101-then-close"),
    pytest.param("redirect", {"status": 301}, id="301"),
    pytest.param("redirect", {"status": 302}, id="302"),
    pytest.param("informational", {"status": 102}, id="102-then-close"),
    pytest.param("continue_forever", {}, id="endless-100-continue", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("mode,params", MALFORMED)
def test_malformed_reply_is_a_protocol_error_and_the_message_is_kept(dev, server, mode, params):
    server.set_mode(mode, **params)
    result, box, status = notify_once(dev)
    assert_failed(result, "ProtocolError")
    assert result.get("retryable") is True, result
    assert "not kept" not in result["message"] and "refused" not in result["message"], result
    assert_within(result)
    message_id = kept_id(box)
    deliveries = server.deliveries()
    assert set(deliveries) == {message_id} and 1 <= deliveries[message_id] <= MAX_ATTEMPTS, deliveries
    assert_kept_and_sent_later(dev, server, box, status)


# -- stalled and dripping servers: Timeout within 4 x CONFIG_TIMEOUT ---------------------------

SLOW = [
    pytest.param("stall", id="stall-after-request"),
    pytest.param("stall_handshake", id="stall-in-handshake"),
    pytest.param("drip_reply", id="reply-2-bytes-per-s"),
    pytest.param("drip_header", id="header-line-1-byte-per-s"),
]


@pytest.mark.slow
@pytest.mark.parametrize("mode", SLOW)
def test_stalled_or_dripping_server_times_out_within_the_deadline(dev, server, mode):
    server.set_mode(mode)
    result, box, status = notify_once(dev)
    assert_failed(result, "Timeout")
    assert_within(result)
    message_id = kept_id(box)
    deliveries = server.deliveries()
    if mode == "stall_handshake":
        assert deliveries == {} and server.handshakes == 0, deliveries
    else:
        assert set(deliveries) == {message_id} and deliveries[message_id] <= MAX_ATTEMPTS, deliveries
    assert_kept_and_sent_later(dev, server, box, status)


# -- the clock: an absurd Date on a skew reply ----------------------------------------------


@pytest.mark.parametrize("date", sorted(ABSURD_DATES))
def test_absurd_date_on_a_clock_skew_reply_leaves_the_clock_alone(dev, server, date):
    server.set_mode("skew", date=ABSURD_DATES[date])
    result, box, status = notify_once(dev)
    assert_failed(result, "ClockSkew", "ProtocolError")
    assert result["offset"] == 0, result  # the clock was not set from the absurd date
    assert status["offset"] == 0 and status["clock_set"] is True, status
    assert_within(result)
    message_id = kept_id(box)
    assert server.deliveries()[message_id] <= MAX_ATTEMPTS
    assert_kept_and_sent_later(dev, server, box, status)


# -- a 2xx reply: delivered, whatever its body ----------------------------------------------


@pytest.mark.parametrize("mode", ["not_utf8", "huge_body"])
def test_accepted_message_leaves_the_outbox_whatever_the_reply_body(dev, server, mode):
    server.set_mode(mode)
    r = run(dev, [FAST, notify("fault", "a body"), OUTBOX, STATUS], server=server)
    result, box = r.results[1], r.results[2]
    if mode == "not_utf8":  # a reply read whole: notify returns it, its bytes as they came
        assert result.get("ok") and result["status"] == 200, result
    else:  # a body too large to read: notify returns None (accepted, the reply unread), and logs why
        assert result == dict(result, ok=True, message_id=None), result
        assert "accepted; its reply could not be read: ResponseTooLarge" in r.log, r.log
    assert box["outbox"] == [], box
    deliveries = server.deliveries()
    assert list(deliveries.values()) == [1], deliveries
    r = run(dev, [FAST, FLUSH, OUTBOX])  # nothing left to send again
    assert r.results[1] == dict(r.results[1], ok=True, sent=0), r
    assert server.deliveries() == deliveries


def test_direct_sns_accepted_message_with_an_undecodable_reply_leaves_the_outbox(make_dev, server):
    dev = make_dev(server, CONFIG_AWS_LAMBDA_FUNCTION=None)
    server.set_mode("not_utf8")
    r = run(dev, [FAST, notify("fault", "a body"), OUTBOX, STATUS], server=server)
    result, box, status = r.results[1:]
    assert result == dict(result, ok=True, message_id=None), result  # accepted; SNS's MessageId unreadable
    assert "accepted; its reply could not be read" in r.log, r.log
    assert box["outbox"] == [] and status["refused"] == 0, (box, status)
    deliveries = server.deliveries()
    assert list(deliveries.values()) == [1] and None not in deliveries, deliveries
    assert server.requests[0].sns


# -- connection reset after the request --------------------------------------------------------


def test_reset_once_after_the_request_then_delivered(dev, server):
    server.set_mode("reset", count=1)
    result, box, _ = notify_once(dev)
    assert result.get("ok") and result["status"] == 200, result
    assert box["outbox"] == []
    assert list(server.deliveries().values()) == [2]  # the reset request, then the retry


def test_reset_every_time_is_a_network_error_and_the_message_is_kept(dev, server):
    server.set_mode("reset")
    result, box, status = notify_once(dev)
    assert_failed(result, "NetworkError")
    assert_within(result)
    message_id = kept_id(box)
    assert 1 <= server.deliveries()[message_id] <= MAX_ATTEMPTS
    assert len(server.requests) <= MAX_ATTEMPTS
    assert_kept_and_sent_later(dev, server, box, status)


# -- 429 / 503 storms ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode,error", [("throttle", "Throttled"), ("unavailable", "ServiceError")])
@pytest.mark.parametrize("retry_after", [None, "1", "86400"])
def test_storm_is_bounded_and_the_message_is_kept(dev, server, mode, error, retry_after):
    server.set_mode(mode, retry_after=retry_after)
    r = run(dev, [FAST, notify("storm", "b"), FLUSH, FLUSH, OUTBOX, STATUS])
    first, flush1, flush2, box, status = r.results[1:]
    for result in (first, flush1, flush2):
        assert_failed(result, error)
        assert_within(result)
    assert not secret_files(dev)
    message_id = kept_id(box)
    assert len(server.requests) <= 3 * MAX_ATTEMPTS, len(server.requests)  # 3 calls, each bounded
    assert server.deliveries()[message_id] == len(server.requests)
    assert_kept_and_sent_later(dev, server, box, status)


# -- certificates and plain HTTP: TLSError, nothing delivered -------------------------------------


@pytest.mark.parametrize("server_args", [{"cert": "rogue_ca"}, {"cert": "wrong_host"}, {"cert": "expired"},
                                         {"tls": False}], ids=["rogue-ca", "wrong-host", "expired", "plain-http"])
def test_untrusted_server_is_a_tls_error_and_nothing_is_delivered(make_dev, servers, server_args):
    server = servers(**server_args)
    dev = make_dev(server)
    result, box, status = notify_once(dev)
    assert_failed(result, "TLSError")
    assert_within(result)
    assert server.requests == [] and server.deliveries() == {}
    if server_args.get("tls", True):
        assert server.handshakes == 0
    kept_id(box)
    assert status["refused"] == 0 and status["outbox"] == 1


# -- a full or read-only flash: the outbox can't be rewritten after a send -------------------------


@contextlib.contextmanager
def small_flash(size="16k"):
    """A tmpfs of `size` mounted on a new directory (root only), unmounted afterwards. Skips
    where it can't mount one, unless MPAWS_REQUIRE_TMPFS=1 (CI, as root): then it fails."""
    # pytest.fail where the run requires these tests (CI), pytest.skip elsewhere (listed by -rs)
    give_up = pytest.fail if os.environ.get("MPAWS_REQUIRE_TMPFS") == "1" else pytest.skip
    if os.geteuid() != 0:
        give_up("full-flash test not run: mounting a tmpfs as a small flash needs root (CI runs as root)")
    directory = tempfile.mkdtemp(prefix="mpaws_flash_")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", directory], capture_output=True,
                          text=True, timeout=30)
    if proc.returncode != 0:
        os.rmdir(directory)
        give_up("full-flash test not run: cannot mount a tmpfs here: %s" % proc.stderr.strip())
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", directory], capture_output=True, timeout=30)
        os.rmdir(directory)


def fill(directory):
    """Fills the file system of directory to the last byte (a filler file)."""
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as f:
        for size in (4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


MESSAGES = 3


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_removal_failure_after_a_send_never_storms(make_dev, server, fault):
    with small_flash() as flash:
        dev = make_dev(server, CONFIG_OUTBOX_PATH=os.path.join(flash, "outbox.txt"))
        queued = run(dev, [{"op": "queue", "subject": "s%d" % i, "body": "b"} for i in range(MESSAGES)])
        ids = [r["id"] for r in queued.results]
        if fault == "full":
            fill(flash)
        else:
            proc = subprocess.run(["mount", "-o", "remount,ro", flash], capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
        first = run(dev, [FAST, FLUSH, FLUSH, OUTBOX, STATUS], server=server)
        # Each flush sends the oldest message not yet sent, can't take it out, and stops
        # there (the next would fare no better), remembering it as sent: once per process.
        for result, message_id in zip(first.results[1:3], ids):
            assert_failed(result, "OutboxError")
            assert "sent %s, but could not take it out" % message_id in result["message"], result
            assert "will not be sent again" in result["message"], result
            assert_within(result)
        assert server.deliveries() == {ids[0]: 1, ids[1]: 1}
        assert [m[0] for m in first.results[3]["outbox"]] == ids  # still there: the file can't change
        assert first.results[4]["sent_not_removed"] == 2, first.results[4]
        # A new process (a power cut: on a host no RTC memory keeps the ids) sends the oldest
        # once more, and stops there again: one extra delivery, no storm.
        second = run(dev, [FAST, FLUSH, OUTBOX], server=server)
        assert_failed(second.results[1], "OutboxError")
        assert "sent %s, but could not take it out" % ids[0] in second.results[1]["message"], second.results[1]
        assert_within(second.results[1])
        assert server.deliveries() == {ids[0]: 2, ids[1]: 1}
        assert not secret_files(dev, flash)


# -- a damaged outbox heals --------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["era-control-byte", "era-not-utf8", "era-punctuation", "counter-letter"])
def test_damaged_outbox_header_heals_and_keeps_the_messages(dev, server, damage):
    queued = run(dev, [{"op": "queue", "subject": "old %d" % i, "body": "b"} for i in range(2)])
    old = [r["id"] for r in queued.results]
    path = dev.config["CONFIG_OUTBOX_PATH"]
    with open(path, "rb") as f:
        data = bytearray(f.read())
    header_end = data.index(b"\n")
    magic, version, era, counter = bytes(data[:header_end]).split(b" ")
    era_at = len(magic) + len(version) + 2
    if damage == "era-control-byte":
        data[era_at] ^= 0x20 if data[era_at] < 0x40 else 0x60  # a digit or a letter becomes a control byte
    elif damage == "era-not-utf8":
        data[era_at] |= 0x80
    elif damage == "era-punctuation":
        data[era_at] = ord("/")
    else:
        data[era_at + len(era) + 1] = ord("x")
    with open(path, "wb") as f:
        f.write(data)
    r = run(dev, [FAST, {"op": "queue", "subject": "new", "body": "b"}, FLUSH, OUTBOX])
    queued_new, flushed, box = r.results[1:]
    assert queued_new.get("ok"), r
    assert flushed == dict(flushed, ok=True, sent=3), r
    assert box["outbox"] == []
    deliveries = server.deliveries()
    assert sorted(deliveries.values()) == [1, 1, 1], deliveries
    assert set(old) < set(deliveries), (old, deliveries)  # the old messages kept their ids
    subjects = [req.event["subject"] for req in server.requests]
    assert subjects == ["old 0", "old 1", "new"], subjects


# -- a big message in the outbox, at -X heapsize=100k --------------------------------------------

BIG_BODY_CHARS = 12000


def test_big_message_is_stored_and_sent_after_a_restart_or_refused_with_the_limit(dev, server, runtime):
    """Queued in one process, sent by a flush in the next (the outbox opened after a
    restart). In MicroPython's 128k heap the message is refused before it is stored, its
    error naming the limit or the free heap."""
    body = "".join("line %05d of a long report\n" % i for i in range(BIG_BODY_CHARS // 26))[:BIG_BODY_CHARS]
    queued = run(dev, [{"op": "queue", "subject": "big", "body": body}, OUTBOX]).results
    if runtime == "micropython":
        assert_failed(queued[0], "InvalidMessage", "OutOfMemory")
        assert re.search(r"\d+ bytes", queued[0]["message"]), queued[0]  # the limit, in the text
        assert queued[1]["outbox"] == []
        assert server.requests == []
        return
    assert queued[0].get("ok"), queued[0]
    r = run(dev, [FAST, FLUSH, OUTBOX, STATUS], server=server)
    flushed, box, status = r.results[1:]
    assert flushed == dict(flushed, ok=True, sent=1), r
    assert box["outbox"] == [] and status["outbox"] == 0
    assert list(server.deliveries().values()) == [1]
    assert server.requests[0].event["body"] == body


# -- config.py -------------------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["syntax", "name"])
def test_broken_config_is_a_config_error_naming_the_file_and_line(dev, broken):
    path = os.path.join(dev.dir, "config.py")
    with open(path) as f:
        lines = f.read().splitlines()
    line = len(lines) + 1
    lines.append("CONFIG_TIMEOUT = (3" if broken == "syntax" else "CONFIG_TIMEOUT = three")
    lines.append("CONFIG_OUTBOX_LIMIT = 50")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run(dev, [notify(), LAST_ERROR])
    result = r.results[0]
    assert_failed(result, "ConfigError")
    assert "config.py" in result["message"], result
    # The line of the mistake; for an unclosed bracket MicroPython names the next line,
    # where it finds the statement does not end.
    lines = (line, line + 1) if broken == "syntax" else (line,)
    assert re.search(r"(line |config\.py:)(%s)\b" % "|".join(map(str, lines)), result["message"]), result
    assert not secret_files(dev)


# Values that pass today's checks but that the signer or the socket layer refuses later
# (a ValueError at send time, which once counted as "refused for good").
LATE_CONFIG = [
    pytest.param("CONFIG_AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEHgaCXVz\nZWFzdC0xIkcwRQIhAOLd", id="token-line-break"),
    pytest.param("CONFIG_AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEHgaCXVz\x07ZWFzdC0xIkcwRQIhAOLd", id="token-control-char"),
    pytest.param("CONFIG_AWS_HOST", "%s.example.com" % ("a" * 64), id="host-label-too-long"),
]


@pytest.mark.parametrize("key,value", LATE_CONFIG)
def test_config_the_signer_or_socket_would_refuse_is_a_config_error_at_load(dev, server, key, value):
    dev.write_config(**dict(dev.config, **{key: value}))
    r = run(dev, [FAST, notify(), STATUS])
    assert_failed(r.results[1], "ConfigError")
    assert key in r.results[1]["message"], r.results[1]
    assert server.requests == []
    assert not secret_files(dev)


def test_swapped_access_key_and_secret_key_never_show_the_secret(dev, server):
    dev.write_config(**dict(dev.config, CONFIG_AWS_ACCESS_KEY=SECRET_KEY, CONFIG_AWS_SECRET_KEY=ACCESS_KEY))
    assert SECRET_KEY in dev.secrets  # dev.run checks the output for it, exception texts included
    r = run(dev, [notify(), LAST_ERROR, STATUS])
    result = r.results[0]
    assert_failed(result, "ConfigError")
    assert "CONFIG_AWS_ACCESS_KEY" in result["message"] or "CONFIG_AWS_SECRET_KEY" in result["message"], result
    assert SECRET_KEY not in (r.results[1].get("last_error") or "")
    assert server.requests == []
    assert not secret_files(dev)
