"""Never lose, never storm, never wedge: app.notify() and app.flush() against a hostile
Lambda endpoint (hostile_server.py, TLS on 127.0.0.1), a full or read-only flash (a small
tmpfs as the outbox's directory), a damaged outbox and a broken config.py.

Every case runs under CPython (the source tree) and under MicroPython from the .mpy build
(compiled as `make build` does; the driver compiled too) with `-X heapsize=100k`, and
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
  error quotes a secret;
- certificate auth: whatever the credentials endpoint answers (400, 413, a wrong
  endpoint's error, 5xx), every message stays; its errors name the credentials endpoint
  (no API Gateway hint on an endpoint that is not API Gateway);
- only the function's own content check (its InvalidMessage naming a field) takes a
  message out; a TypeError or ValueError of a broken deploy keeps it;
- a 2xx reply whose header line is over the limit: delivered, never sent again;
- a message stored while the heap was larger is set aside (kept, counted by status()),
  the others are sent, and a process with more heap sends it;
- an outbox folder that does not exist is a ConfigError at load; config values (role
  alias, thing name, certificate and key paths, the outbox path) and a credentials
  reply's expiration are described, never quoted; a malformed PEM BEGIN line never shows
  the key.

The heap (64-bit unix port, -X heapsize=HEAPSIZE): the firmware runs by a short relative
path, as on a board (fw/lib/mpaws/http.mpy; each imported .mpy interns its path for good),
so that the figures do not move with the temporary folder's name. After a failed notify (a
503 storm, a skew reply) the heap holds the outbox, mpaws.error_kinds (kept: errors caches
its classes) and the names of the failure's code (about 85), which take the name table past
620 names, so that it allocates its next block (7 KB). The rest of what a failure loads is
let go of after it (mpaws.failures before mpaws.undelivered loads to handle it;
network_errors, http_date, gateway_errors) and status() does not load network_errors: a
flush or status() after a failed notify peaks within the rest. At 100k every case passes
with the temporary folder's name 5 to 90 characters long (and at 98k); at 96k three cases
end in errors.OutOfMemory, the message kept, rather than the error they assert. On an ESP32 the modules take ~0.72 of that, and TLS comes from the IDF
heap, not this one.

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
from hostile_server import ABSURD_DATES, CREDENTIALS_SECRET, HostileServer

CONFIG_TIMEOUT = 3  # seconds: CONFIG_TIMEOUT of every case
BOUND_S = 4 * CONFIG_TIMEOUT  # the longest a notify (or one flush) may take
SLACK_S = 2.0  # for the runtime itself (scheduling, a slow shared machine)
KILL_S = BOUND_S + 10  # a driver run still going after this is killed (the call wedged)
MAX_ATTEMPTS = 4  # the client's default attempts: the most requests one notify may make
HEAPSIZE = "100k"  # the firmware and this driver, on the 64-bit unix port (see above)
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
    """make(server, heapsize=HEAPSIZE, **config keys) -> a Device for the test's runtime in
    tmp_path (heapsize: micropython's)."""
    micropython = request.getfixturevalue("micropython") if runtime == "micropython" else None

    def make(server, heapsize=HEAPSIZE, **keys):
        return fault_device(runtime, tmp_path, server, micropython, mpy_firmware, heapsize, **keys)

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


@pytest.mark.parametrize("mode", ["not_utf8", "huge_body", "long_header"])
def test_accepted_message_leaves_the_outbox_whatever_the_reply_body(dev, server, mode):
    """long_header: a 200 whose header line (8 KB) is over the heap-based limit (issue 19, 4):
    the status line said 2xx, so AWS accepted; the message is not sent again."""
    server.set_mode(mode)
    r = run(dev, [FAST, notify("fault", "a body"), OUTBOX, STATUS], server=server)
    result, box = r.results[1], r.results[2]
    if mode == "not_utf8":  # a reply read whole: notify returns it, its bytes as they came
        assert result.get("ok") and result["status"] == 200, result
    else:  # a body too large to read: notify returns None (accepted, the reply unread), and logs why
        assert result == dict(result, ok=True, message_id=None), result
        # Why it could not be read: ResponseTooLarge, or OutOfMemory where the heap ran out
        # first (micropython, a long header line); either way the message was delivered.
        assert "accepted; its reply could not be read: " in r.log, r.log
    assert box["outbox"] == [], box
    deliveries = server.deliveries()
    assert list(deliveries.values()) == [1], deliveries
    r = run(dev, [FAST, FLUSH, OUTBOX])  # nothing left to send again
    assert r.results[1] == dict(r.results[1], ok=True, sent=0), r
    assert server.deliveries() == deliveries


def test_2xx_with_a_header_line_over_the_limit_is_delivered_once_not_resent(make_dev, server):
    """Issue 19, 4: a queued message, then three flushes against a 200 whose header line
    (10 KB) is over the limit (8192 bytes, or a third of the free heap): one request, the
    message out of the outbox (was: 4 requests per flush, the message kept and sent again on
    every flush: 12 requests). In a heap where the line can be gathered up to the limit: at
    HEAPSIZE gathering it may run out of heap first, an OutOfMemory after a 2xx, which
    already counted as delivered."""
    dev = make_dev(server, "%dk" % (int(HEAPSIZE[:-1]) + 64))
    message_id = run(dev, [{"op": "queue", "subject": "q", "body": "b"}]).result["id"]
    server.set_mode("long_header", size=10240)
    r = run(dev, [FAST, FLUSH, FLUSH, FLUSH, OUTBOX, STATUS], server=server)
    first = r.results[1]
    if not first.get("ok"):
        assert_failed(first, "ResponseTooLarge", "OutOfMemory")
    assert r.results[2:4] == [dict(r.results[i], ok=True, sent=0) for i in (2, 3)], r
    assert r.results[4]["outbox"] == [] and r.results[5]["refused"] == 0, r
    assert server.deliveries() == {message_id: 1} and len(server.requests) == 1, server.deliveries()


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
    restart). In MicroPython's HEAPSIZE heap the message is refused before it is stored, its
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


def _report(chars):
    # A report of lines: JSON escapes a line break and a pair of quotes every 25 characters.
    return "".join('line %05d "of" a report\n' % i for i in range(chars // 25 + 1))[:chars]


def _queue_report(dev, chars):
    """Whether queue() stored a report of `chars` characters in an empty outbox."""
    for path in (dev.config["CONFIG_OUTBOX_PATH"], dev.config["CONFIG_OUTBOX_PATH"] + ".tmp"):
        if os.path.exists(path):
            os.remove(path)
    queued, box = run(dev, [{"op": "queue", "subject": "report", "body": _report(chars)}, OUTBOX]).results
    if not queued.get("ok"):
        assert_failed(queued, "InvalidMessage")
        assert re.search(r"over the limit of \d+", queued["message"]), queued  # the limit, in the text
        assert box["outbox"] == []
    return bool(queued.get("ok"))


def test_escaped_message_at_the_store_limit_is_sent_by_a_new_process_in_the_same_heap(dev, server):
    """The longest report (a body JSON escapes) that queue() stores, within 5%, is flushed
    by a new process at the same -X heapsize: the store limit is what sending costs. One
    5% longer is refused (errors.InvalidMessage, naming the limit), nothing stored. CPython
    has no heap limit: a 12,000-character report."""
    chars = 12000
    if dev.runtime == "micropython":
        stored, refused = 1000, 12000  # bisection: the store limit depends on the heap the body itself takes
        assert _queue_report(dev, stored) and not _queue_report(dev, refused)
        while refused - stored > stored // 20:
            middle = (stored + refused) // 2
            if _queue_report(dev, middle):
                stored = middle
            else:
                refused = middle
        chars = stored
        assert _queue_report(dev, chars)
    else:
        assert _queue_report(dev, chars)
    r = run(dev, [FAST, FLUSH, OUTBOX, STATUS], server=server)
    flushed, box, status = r.results[1:]
    assert flushed == dict(flushed, ok=True, sent=1), r
    assert box["outbox"] == [] and status["outbox"] == 0
    assert list(server.deliveries().values()) == [1]
    assert server.requests[0].event["body"] == _report(chars)


def test_notify_sends_without_a_copy_what_a_restart_could_not_send(dev, server):
    """notify() of a report the free heap could not send again after a restart (queue()
    refuses it): sent now, once, with a log line, and not kept. CPython has no heap limit:
    kept until sent."""
    # Over what queue() stores at HEAPSIZE (under 6,000 characters) and within what one
    # notify can send there beside the test driver (10,000 ran out of heap).
    body = _report(7000)
    r = run(dev, [FAST, notify("report", body), OUTBOX], server=server)
    sent, box = r.results[1:]
    assert sent.get("ok"), r
    assert box["outbox"] == [] and list(server.deliveries().values()) == [1]
    assert server.requests[0].event["body"] == body
    if dev.runtime == "micropython":
        assert "sending it now without keeping a copy" in r.log and "over the limit of" in r.log, r.log
        assert server.requests[0].id is None  # no id: nothing in the outbox to match it to


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


# -- certificate auth: whatever the credentials endpoint answers, no message is refused ------


@pytest.fixture(scope="session")
def device_cert(tmp_path_factory):
    return make_device_cert(tmp_path_factory.mktemp("device_cert"))


def make_device_cert(folder):
    """A device certificate and its key (PEM files in folder, a pathlib.Path) for
    certificate auth against a HostileServer, which takes any client certificate:
    {"cert", "key", "key_base64"}. Also for tools/bench."""
    import trustme

    issued = trustme.CA().issue_cert("mpaws-thing-1")
    files = {"cert": str(folder / "cert.pem"), "key": str(folder / "key.pem")}
    issued.cert_chain_pems[0].write_to_path(files["cert"])
    issued.private_key_pem.write_to_path(files["key"])
    pem = issued.private_key_pem.bytes().decode()
    files["key_base64"] = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return files


# Certificate auth holds two TLS contexts (the credentials endpoint's with the device key,
# then Lambda's); the unix port's mbedTLS takes them from the MicroPython heap, an ESP32's
# from the IDF heap. At HEAPSIZE, with this driver, a notify's credentials fetch can run out
# of heap for its TLS context (errors.OutOfMemory, the message kept), before the endpoint
# says anything. These cases look at what it said.
CERT_HEAPSIZE = "%dk" % (int(HEAPSIZE[:-1]) + 32)


def cert_dev(make_dev, server, device_cert, **keys):
    """A Device with certificate auth (at CERT_HEAPSIZE): the credentials endpoint and
    Lambda both the server. make_dev(server, heapsize, **keys) makes the Device."""
    config = dict(CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                  CONFIG_AWS_CREDENTIALS_ENDPOINT="localhost:%d" % server.port,
                  CONFIG_AWS_ROLE_ALIAS="mpaws-role-alias", CONFIG_AWS_THING_NAME="mpaws-thing-1",
                  CONFIG_TLS_CERT=device_cert["cert"], CONFIG_TLS_KEY=device_cert["key"])
    config.update(keys)
    dev = make_dev(server, CERT_HEAPSIZE, **config)
    dev.secrets.append(CREDENTIALS_SECRET)
    dev.secrets.extend(line for line in device_cert["key_base64"] if len(line) >= 16)
    return dev


CREDENTIALS_REPLIES = [
    pytest.param({"status": 400, "error_type": "InvalidParameterValue", "body": '{"message": "Message too long"}'},
                 id="400-InvalidParameterValue"),
    pytest.param({"status": 413, "body": '{"message": "Request Entity Too Large"}'}, id="413"),
    pytest.param({"status": 400, "body": "<ErrorResponse><Error><Code>ValidationError</Code><Message>1 validation "
                  "error detected</Message></Error></ErrorResponse>"}, id="wrong-endpoint-400-ValidationError"),
    pytest.param({"status": 400, "body": '{"errorType": "InvalidMessage", "errorMessage": "body: refused"}'},
                 id="wrong-endpoint-400-function-error"),
    pytest.param({"status": 500, "body": '{"message":"Internal Server Error"}'}, id="500-Internal-Server-Error"),
]


@pytest.mark.parametrize("reply", CREDENTIALS_REPLIES)
def test_credentials_endpoint_error_never_drops_a_message(make_dev, server, device_cert, reply):
    """Issue 19, 1 and 8: a credentials endpoint answering 400, 413, a wrong endpoint's
    error or a 5xx: no message reached AWS, so every queued one stays (none refused), and
    the error names the credentials endpoint (no API Gateway hint, no "refused role alias"
    for a 5xx). Once the endpoint answers, a flush delivers each message once."""
    dev = cert_dev(make_dev, server, device_cert)
    queued = run(dev, [{"op": "queue", "subject": "queued %d" % i, "body": "b"} for i in range(2)])
    server.set_mode("reply", **reply)
    r = run(dev, [notify("n", "b"), FLUSH, OUTBOX, STATUS], server=server)
    result, flushed, box, status = r.results
    assert not secret_files(dev)
    for failed in (result, flushed):
        assert_failed(failed)
        assert "credentials endpoint" in failed["message"] and "CONFIG_AWS_CREDENTIALS_ENDPOINT" in failed["message"]
        assert "API Gateway" not in failed["message"] and "not kept" not in failed["message"], failed
        if reply["status"] >= 500:
            assert "refused" not in failed["message"] and "role alias" not in failed["message"], failed
    ids = [q["id"] for q in queued.results] + [kept_id_of(box, "n")]
    assert [m[0] for m in box["outbox"]] == ids, box  # 3 before, 3 after
    assert status["refused"] == 0 and status["outbox"] == 3, status
    assert set(server.deliveries()) == {None}, server.deliveries()  # credentials requests only
    server.set_mode("normal")
    r = run(dev, [FLUSH, OUTBOX], server=server)
    assert r.results[0] == dict(r.results[0], ok=True, sent=3), r
    assert r.results[1]["outbox"] == []
    assert all(server.deliveries()[i] == 1 for i in ids), server.deliveries()


def test_expired_token_reply_renews_the_credentials_once_and_delivers_once(make_dev, server, device_cert):
    """An Invoke answered ExpiredTokenException (the hour ran out, or the credentials were
    revoked): the signer's credentials are fetched again (the Lambda connection closed
    first), the same request is signed with the new keys and sent once more, and the
    message leaves the outbox. Never a loop: the server sees two credentials calls and the
    message twice (the refused request, then the accepted one)."""
    dev = cert_dev(make_dev, server, device_cert)
    server.set_mode("normal", count=1)  # the first credentials call
    server.set_mode("reply", count=1, status=403, error_type="ExpiredTokenException",
                    body='{"message": "The security token included in the request is expired"}')
    r = run(dev, [notify("renewed", "b"), OUTBOX, STATUS], server=server)
    result, box, status = r.results
    assert not secret_files(dev)
    assert result["ok"], r
    assert box["outbox"] == [] and status["refused"] == 0, (box, status)
    [message_id] = [i for i in server.deliveries() if i is not None]
    assert server.deliveries() == {None: 2, message_id: 2}, server.deliveries()
    # The Lambda connection was closed before the second fetch: one TLS session at a time.
    invokes = [q for q in server.requests if q.id == message_id]
    assert invokes[0].connection != invokes[1].connection


def kept_id_of(box, subject):
    """The id of the outbox's message with this subject."""
    [message_id] = [m[0] for m in box["outbox"] if m[1] == subject]
    return message_id


def test_lambdas_5xx_gets_no_api_gateway_hint(dev, server):
    """Issue 19, 8: hints match the endpoint that answered: Lambda's 500 with API Gateway's
    text is a ServiceError about Lambda (retried, the message kept), not "API Gateway: ...
    check the function's logs"."""
    server.set_mode("reply", status=500, body='{"message":"Internal Server Error"}')
    result, box, status = notify_once(dev)
    assert_failed(result, "ServiceError")
    assert "API Gateway" not in result["message"] and result["retryable"] is True, result
    assert_kept_and_sent_later(dev, server, box, status)


# -- the function's errors: only its own content checks refuse ---------------------------------

FUNCTION_ERRORS = [
    pytest.param("TypeError", "'NoneType' object is not subscriptable", False, id="TypeError-of-a-broken-deploy"),
    pytest.param("ValueError", "body: a library's error", False, id="ValueError-from-a-library"),
    pytest.param("InvalidMessage", "subject: must be 1 to 100 characters, got 0", True, id="the-functions-check"),
]


@pytest.mark.parametrize("error_type, message, refused", FUNCTION_ERRORS)
def test_only_the_functions_content_check_drops_a_message(dev, server, error_type, message, refused):
    """Issue 19, 2: a TypeError or ValueError from a broken deploy or a library keeps every
    message; only the function's InvalidMessage naming a field takes one out."""
    queued = run(dev, [{"op": "queue", "subject": "queued %d" % i, "body": "b"} for i in range(2)])
    ids = [q["id"] for q in queued.results]
    server.set_mode("function_error", error_type=error_type, message=message)
    r = run(dev, [FAST, FLUSH, OUTBOX, STATUS], server=server)
    flushed, box, status = r.results[1:]
    deliveries = server.deliveries()
    if refused:  # each taken out after one request
        assert flushed == dict(flushed, ok=True, sent=0), flushed
        assert box["outbox"] == [] and status["refused"] == 2, (box, status)
        assert deliveries == {ids[0]: 1, ids[1]: 1}, deliveries
        return
    assert_failed(flushed, "FunctionError")
    assert [m[0] for m in box["outbox"]] == ids and status["refused"] == 0, (box, status)
    assert deliveries == {ids[0]: 1}, deliveries  # the flush stopped at the first; not retried
    server.set_mode("normal")
    r = run(dev, [FAST, FLUSH, OUTBOX])
    assert r.results[1] == dict(r.results[1], ok=True, sent=2) and r.results[2]["outbox"] == [], r
    assert server.deliveries() == {ids[0]: 2, ids[1]: 1}


# -- config values are described, never quoted; the outbox's folder checked at load -------------

TOKEN = "mpawsPastedSecret0DoNotShow9"  # a secret pasted under the wrong key (path-safe)


def test_outbox_in_a_folder_that_does_not_exist_is_refused_at_load(make_dev, server, tmp_path):
    """Issue 19, 3 and 7: CONFIG_OUTBOX_PATH in a folder the device does not have (an ESP32's
    "/flash/outbox.txt"): a ConfigError naming the key, without the value, and nothing sent
    (was: every notify sent without keeping a copy)."""
    dev = make_dev(server, CONFIG_OUTBOX_PATH=str(tmp_path / TOKEN / "outbox.txt"))
    dev.secrets.append(TOKEN)
    r = run(dev, [notify(), LAST_ERROR], server=server)
    assert_failed(r.results[0], "ConfigError")
    assert "CONFIG_OUTBOX_PATH" in r.results[0]["message"] and "folder" in r.results[0]["message"], r
    assert server.requests == [] and not os.path.exists(tmp_path / TOKEN)


def test_an_outbox_that_cannot_be_written_is_not_quoted(make_dev, server, tmp_path):
    """Issue 19, 7: "cannot write the outbox" names the key, not the path."""
    folder = tmp_path / TOKEN
    folder.mkdir()
    (folder / "outbox.txt.tmp").mkdir()  # every rewrite of the outbox fails
    dev = make_dev(server, CONFIG_OUTBOX_PATH=str(folder / "outbox.txt"))
    dev.secrets.append(TOKEN)
    r = run(dev, [notify(), {"op": "queue", "subject": "s", "body": "b"}, STATUS], server=server)
    assert r.results[0].get("ok"), r  # sent without a copy, as before
    assert_failed(r.results[1], "OutboxError")
    assert "CONFIG_OUTBOX_PATH" in r.results[1]["message"] and "CONFIG_OUTBOX_PATH" in r.log, r
    assert list(server.deliveries().values()) == [1]


CERT_VALUES = [
    pytest.param("CONFIG_AWS_ROLE_ALIAS", "wJalrXUtnFEMI/K7MDENG+" + TOKEN, id="role-alias"),
    pytest.param("CONFIG_AWS_THING_NAME", "wJalrXUtnFEMI/K7MDENG+" + TOKEN, id="thing-name"),
    pytest.param("CONFIG_TLS_CERT", "/certs/" + TOKEN + ".pem", id="cert-path"),
    pytest.param("CONFIG_TLS_KEY", "/certs/" + TOKEN + ".key", id="key-path"),
]


@pytest.mark.parametrize("key, value", CERT_VALUES)
def test_certificate_config_values_are_described_not_quoted(make_dev, server, device_cert, key, value):
    """Issue 19, 7: a secret pasted as the role alias, the thing name or a file path: a
    ConfigError naming the key, the value nowhere (was: quoted with %r)."""
    dev = cert_dev(make_dev, server, device_cert, **{key: value})
    dev.secrets.append(TOKEN)
    r = run(dev, [notify(), LAST_ERROR, OUTBOX], server=server)
    assert_failed(r.results[0], "ConfigError")
    assert key in r.results[0]["message"] and "characters" in r.results[0]["message"], r.results[0]
    assert server.requests == []
    assert not secret_files(dev)


def test_pem_key_whose_begin_line_lost_a_dash_is_never_shown(make_dev, server, device_cert, tmp_path_factory):
    """Issue 19, 6: "-----BEGIN EC PRIVATE KEY----" (one dash lost): a ConfigError naming
    CONFIG_TLS_KEY; the key's base64 is in no output, exception, status() or file (was: the
    whole key as the "label" of a PEM block not closed). The message stays."""
    with open(device_cert["key"]) as f:
        pem = f.read()
    broken = tmp_path_factory.mktemp("broken_key") / "key.pem"  # outside the device's folder (secret_files)
    broken.write_text(pem.replace("PRIVATE KEY-----\n", "PRIVATE KEY----\n", 1))
    dev = cert_dev(make_dev, server, device_cert, CONFIG_TLS_KEY=str(broken))
    r = run(dev, [notify(), LAST_ERROR, STATUS, OUTBOX], server=server)
    assert_failed(r.results[0], "ConfigError")
    assert "CONFIG_TLS_KEY" in r.results[0]["message"] and "BEGIN" in r.results[0]["message"], r.results[0]
    assert r.results[2]["outbox"] == 1 and r.results[2]["refused"] == 0, r.results[2]
    assert server.requests == []
    assert not secret_files(dev)


@pytest.mark.parametrize("expiration", ["x" * 12000, "2020-01-01T00:00:00." + "1" * 12000 + "Z"],
                         ids=["not-a-time", "long-and-past"])
def test_huge_expiration_in_a_credentials_reply_is_not_quoted(make_dev, server, device_cert, expiration):
    """Issue 19, 7: a credentials reply whose expiration has 12,000 characters: a
    ProtocolError that says what it is like, not the value; the message stays."""
    import json

    dev = cert_dev(make_dev, server, device_cert)
    body = json.dumps({"credentials": {"accessKeyId": "ASIAHOSTILETEMPORARY", "secretAccessKey": CREDENTIALS_SECRET,
                                       "sessionToken": "hostile-session-token", "expiration": expiration}})
    server.set_mode("reply", status=200, body=body)
    r = run(dev, [notify(), LAST_ERROR, STATUS], server=server)
    # Under micropython the 12 KB reply may not fit beside the TLS context: OutOfMemory.
    assert_failed(r.results[0], "ProtocolError", *(("OutOfMemory",) if dev.runtime == "micropython" else ()))
    assert "expir" in r.results[0]["message"] or r.results[0]["error"] == "OutOfMemory", r.results[0]
    for text in (r.log, r.stderr, repr(r.results)):
        assert expiration[100:200] not in text
    assert r.results[2]["outbox"] == 1 and r.results[2]["refused"] == 0
    assert set(server.deliveries()) == {None}


# -- a message stored while the heap was larger --------------------------------------------------

LARGE_HEAPSIZE = "256k"  # an ESP32's heap grows and shrinks (v1.26+): a message stored when it was large
LARGE_BODY_CHARS = 18000


@pytest.mark.parametrize("damage", [None, "header"])
def test_message_stored_in_a_larger_heap_is_set_aside_not_a_crash(make_dev, server, runtime, damage):
    """Issue 19, 5: an 18 KB message queued at -X heapsize=256k, read back at HEAPSIZE: the
    outbox opens (no raw MemoryError from app.outbox(), no restart loop), the messages before
    and after it are sent, it is set aside (app.status() counts it) and kept in the file,
    and a later process with the larger heap sends it, once. damage="header": the file's
    header damaged too, so that opening it rebuilds the file: the large line is copied in
    pieces, not dropped."""
    big_dev = make_dev(server, LARGE_HEAPSIZE)
    queued = run(big_dev, [{"op": "queue", "subject": subject, "body": "x" * LARGE_BODY_CHARS if subject == "big"
                            else "b"} for subject in ("before", "big", "after")])
    before, big, after = [q["id"] for q in queued.results]
    if damage:
        path = big_dev.config["CONFIG_OUTBOX_PATH"]
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[data.index(b" ", data.index(b" ") + 1) + 1] = ord("/")  # the era: not one
        with open(path, "wb") as f:
            f.write(data)
    dev = make_dev(server)
    r = run(dev, [STATUS, FAST, FLUSH, OUTBOX, STATUS, {"op": "queue", "subject": "new", "body": "b"}, FLUSH, STATUS],
            server=server)
    for result in r.results:
        assert result.get("ok"), result  # nothing raised, MemoryError least of all
    opened, flushed, box, status, _, flushed_new, last = [r.results[i] for i in (0, 2, 3, 4, 5, 6, 7)]
    assert opened["outbox"] == 3, opened  # before: all three
    deliveries = server.deliveries()
    if runtime == "cpython":  # no heap limit: all sent, each once
        assert flushed["sent"] == 3 and flushed_new["sent"] == 1 and last["set_aside"] == 0, r
        assert sorted(deliveries.values()) == [1, 1, 1, 1] and big in deliveries, deliveries
        return
    assert flushed["sent"] == 2 and flushed_new["sent"] == 1, r
    assert [m[0] for m in box["outbox"]] == [], box  # the readable messages: none left
    assert status["outbox"] == 1 and status["set_aside"] == 1 and last["set_aside"] == 1, status  # after: the big one
    assert big not in deliveries and deliveries[before] == deliveries[after] == 1, deliveries
    assert "set aside" in r.log and big in r.log, r.log
    with open(dev.config["CONFIG_OUTBOX_PATH"], "rb") as f:
        assert f.read().count(b'["%s"' % big.encode()) == 1  # kept in the file
    r = run(big_dev, [FAST, FLUSH, OUTBOX, STATUS], server=server)  # a restart with the larger heap
    assert r.results[1] == dict(r.results[1], ok=True, sent=1), r
    assert r.results[2]["outbox"] == [] and r.results[3]["set_aside"] == 0, r
    assert server.deliveries()[big] == 1
    assert server.requests[-1].event["body"] == "x" * LARGE_BODY_CHARS
