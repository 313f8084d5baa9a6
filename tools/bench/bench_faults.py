"""The `faults` group of `make bench`: what the fault suite (host_tests/test_faults.py)
promises, as figures. The firmware runs as in the suite: under MicroPython from the .mpy
build (compiled as `make build` does) with `-X heapsize=100k`, and under CPython where it
is cheap, against host_tests/hostile_server.py (TLS on 127.0.0.1), CONFIG_TIMEOUT = 3.

    python tools/bench/bench.py --only faults [--quick]

Figures:
  invokes     requests received per message id (the hostile server's count: a request
              counts once its body is read, before any reply, what AWS would have
              received), worst over the fault modes, one notify each (bounded by the
              client's attempts, 4); the worst among requests answered 2xx (AWS accepted:
              the function ran, the SMS went out), and the worst over the processes of a
              removal failure (the message sent, then the outbox file can't be rewritten:
              a full and a read-only 16 KB tmpfs as the flash, root only) — the storm the
              outbox must not start (target 2). Also: the cases where notify() or flush()
              raised something other than an errors.AWSError (target 0).
  deadline    the longest notify() against a stalled or dripping server (stall after
              the request, stall in the TLS handshake, a reply 2 bytes a second, a header
              line 1 byte a second): target 4 x CONFIG_TIMEOUT = 12 s.
  edges       issue 19's cases under MicroPython: credentials endpoint errors (400, 413, 5xx),
              a function's TypeError/ValueError, a 2xx with an over-long header line (3
              flushes), an 18 KB message stored at 256k read back at the work heap, an
              outbox folder that does not exist, pasted secrets as role alias or key path,
              a PEM BEGIN line without its dashes: messages lost that nothing refused
              (target 0), requests per id after the 2xx (target 1), outputs showing a
              secret (target 0), non-AWSError failures (target 0); the note lists each
              case's requests per id and the outbox before -> after.
  heap        at -X heapsize=100k under MicroPython: the largest message (characters of
              its body) that a new process opens and sends with flush(), the largest
              that queue() stores (above it: errors.InvalidMessage, naming the limit),
              both for a body of plain ASCII and for one JSON escapes (a line break every
              27 characters), and their difference, queued_but_unsendable_chars (target
              0: every message queue() stores can be sent from the same heap, by a new
              process too); the most short messages in an outbox that a new process opens and flushes
              (CONFIG_OUTBOX_LIMIT's maximum, 1000, is the cap). The smallest heap in which
              the fault driver runs one notify is given too, for scale.

The device driver (host_tests/drivers/device_driver.py) runs as .mpy too under
MicroPython (device.mpy_build() compiles it beside the firmware, as for the suite). The
issue's heap is 100k, as test_faults.HEAPSIZE. When a plain notify, or a flush after a restart
of a 1000-character message, does not run at 100k, every MicroPython figure is measured at the smallest heap above it, in
steps of 4 KB, where both do; the figures' notes name that heap and why 100k failed.
"""
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
HOST_TESTS = os.path.join(REPO, "host_tests")
DRIVERS = os.path.join(HOST_TESTS, "drivers")

CONFIG_TIMEOUT = 3  # as in the fault suite
DEADLINE_S = 4 * CONFIG_TIMEOUT
HEAPSIZE = "100k"
INVOKES_TARGET = 2
OUTBOX_CAP = 1000  # CONFIG_OUTBOX_LIMIT's maximum
BODY_CAP = 64000  # below mpaws.intake._PLAIN_BODY_CHARS (65000), the longest body SNS takes through the function

# Fault modes of the hostile server, each one notify: (label, mode, params, server args).
FAST_CASES = [
    ("not-http", "garbage", {}, {}),
    ("negative-chunk-size", "negative_chunk", {}, {}),
    ("negative-content-length-200", "negative_length", {"status": 200}, {}),
    ("negative-content-length-503", "negative_length", {"status": 503}, {}),
    ("101-then-close", "switching", {}, {}),
    ("301", "redirect", {"status": 301}, {}),
    ("102-then-close", "informational", {"status": 102}, {}),
    ("skew-date-2100", "skew", {"date": "Fri, 01 Jan 2100 00:00:00 GMT"}, {}),
    ("skew-date-garbage", "skew", {"date": "yesterday, around noon"}, {}),
    ("200-not-utf8", "not_utf8", {}, {}),
    ("200-huge-body", "huge_body", {}, {}),
    ("reset-once", "reset", {"count": 1}, {}),
    ("reset-always", "reset", {}, {}),
    ("429-storm", "throttle", {}, {}),
    ("503-storm", "unavailable", {}, {}),
    ("rogue-ca", "normal", {}, {"cert": "rogue_ca"}),
    ("plain-http", "normal", {}, {"tls": False}),
]
SLOW_CASES = [
    ("stall-after-request", "stall", {}, {}),
    ("stall-in-handshake", "stall_handshake", {}, {}),
    ("reply-2-bytes-per-s", "drip_reply", {}, {}),
    ("header-line-1-byte-per-s", "drip_header", {}, {}),
]
SLOW_EXTRA = [("endless-100-continue", "continue_forever", {}, {})]  # invokes only: not a stall or a drip
QUICK_FAST = ("not-http", "negative-content-length-200", "200-huge-body", "reset-once", "503-storm")

class _Setup:
    """The .mpy firmware and driver, and the fault suite's helpers (host_tests on sys.path)."""

    def __init__(self, bench):
        self.tools = sys.modules[type(bench).__module__]  # tools/bench/bench.py: its helpers and BenchError
        self.bench = bench
        if HOST_TESTS not in sys.path:
            sys.path.insert(0, HOST_TESTS)
        import device  # pyright: ignore[reportMissingImports]  (host_tests, on sys.path in _Setup)
        import test_faults  # pyright: ignore[reportMissingImports]  (host_tests, on sys.path in _Setup)

        self.device = device
        self.faults = test_faults
        self.micropython = self.tools.tool("micropython")
        self.root = os.path.join(bench.tmp, "faults")
        os.makedirs(self.root, exist_ok=True)
        self.firmware = device.mpy_build(self.tools.tool("mpy-cross"), os.path.join(self.root, "firmware"))
        self.heapsize = HEAPSIZE  # the heap every MicroPython run gets (see work_heap())
        self._dirs = 0
        self._lock = threading.Lock()

    def new_dir(self, prefix):
        with self._lock:
            self._dirs += 1
            path = os.path.join(self.root, "%s_%d" % (prefix, self._dirs))
        os.makedirs(path)
        return path

    def dev(self, runtime, directory, server, heapsize=None, **keys):
        return self.faults.fault_device(runtime, directory, server, self.micropython, self.firmware,
                                        heapsize=heapsize or self.heapsize, **keys)


# -- invokes per id and the deadline ----------------------------------------------------------


class _Case:
    """One notify against a HostileServer in one fault mode: what the server got, how long
    the notify took, how it ended."""

    def __init__(self, label, runtime):
        self.label = label
        self.runtime = runtime
        self.per_id = {}  # id: requests received
        self.accepted_per_id = {}  # id: requests answered 2xx (normal, not_utf8, huge_body)
        self.seconds: "float | None" = None
        self.error: "str | None" = None  # the notify's exception class, or None
        self.failure: "str | None" = None  # why the run gave no figure (wedged, the driver crashed)
        self.raw: "str | None" = None  # the text of an exception that is not an errors.AWSError (a broken contract)


ACCEPTED_MODES = ("normal", "not_utf8", "huge_body")


def _count(server, case):
    for request in list(server.requests):
        if request.id is None:
            continue
        case.per_id[request.id] = case.per_id.get(request.id, 0) + 1
        if request.mode in ACCEPTED_MODES:
            case.accepted_per_id[request.id] = case.accepted_per_id.get(request.id, 0) + 1


def _run_case(setup, runtime, label, mode, params, server_args):
    from hostile_server import HostileServer  # pyright: ignore[reportMissingImports]  (host_tests: see _Setup)

    case = _Case(label, runtime)
    params = dict(params)
    count = params.pop("count", None)
    with HostileServer(**server_args) as server:
        server.set_mode(mode, count=count, **params)
        dev = setup.dev(runtime, setup.new_dir("case"), server)
        try:
            run = dev.run([setup.device.FAST, setup.device.notify("fault", label), {"op": "outbox"}],
                          timeout=setup.faults.KILL_S)
        except subprocess.TimeoutExpired:
            case.failure = "still running after %d s (killed)" % setup.faults.KILL_S
        except AssertionError as e:
            case.failure = "the driver failed: %s" % str(e)[-300:]
        else:
            result = run.results[1]
            case.seconds = result["elapsed_ms"] / 1000.0
            case.error = result.get("error")
            if case.error and "AWSError" not in result.get("classes", ()):
                case.raw = "%s: %s" % (case.error, result.get("message"))
        _count(server, case)
    return case


def _removal_failure(setup, runtime, fault):
    """The fault suite's full or read-only flash: 3 messages queued, the flash then filled
    (or remounted read-only), two flushes in one process, one more in a new process.
    Returns a _Case (per_id over the three flushes), or a str: why it was skipped."""
    import pytest
    from hostile_server import HostileServer  # pyright: ignore[reportMissingImports]  (host_tests: see _Setup)

    case = _Case("removal-failure-%s" % fault, runtime)
    try:
        with HostileServer() as server, setup.faults.small_flash() as flash:
            outbox = os.path.join(flash, "outbox.txt")
            dev = setup.dev(runtime, setup.new_dir("flash"), server, CONFIG_OUTBOX_PATH=outbox)
            dev.run([{"op": "queue", "subject": "s%d" % i, "body": "b"} for i in range(3)])
            if fault == "full":
                setup.faults.fill(flash)
            else:
                proc = subprocess.run(["mount", "-o", "remount,ro", flash], capture_output=True, text=True, timeout=30)
                if proc.returncode != 0:
                    return "cannot remount read-only: %s" % proc.stderr.strip()
            flush = {"op": "flush"}
            try:
                results = dev.run([setup.device.FAST, flush, flush], timeout=setup.faults.KILL_S).results[1:]
                results += dev.run([setup.device.FAST, flush], timeout=setup.faults.KILL_S).results[1:]
                raw = [r for r in results if r.get("error") and "AWSError" not in r.get("classes", ())]
                if raw:
                    case.raw = "%s: %s" % (raw[0]["error"], raw[0].get("message"))
            except subprocess.TimeoutExpired:
                case.failure = "a flush wedged (killed after %d s)" % setup.faults.KILL_S
            except AssertionError as e:
                case.failure = "the driver failed: %s" % str(e)[-300:]
            _count(server, case)
    except pytest.skip.Exception as e:
        return str(e)
    return case


def _worst(cases, attribute):
    """(worst count, 'label (runtime)') over the cases' per-id dicts."""
    worst, where = 0, "none"
    for case in cases:
        for n in getattr(case, attribute).values():
            if n > worst:
                worst, where = n, "%s, %s" % (case.label, case.runtime)
    return worst, where


def invoke_figures(setup):
    quick = setup.bench.quick
    fast = [c for c in FAST_CASES if not quick or c[0] in QUICK_FAST]
    jobs = [("micropython",) + c for c in fast + SLOW_CASES + ([] if quick else SLOW_EXTRA)]
    jobs += [("cpython",) + c for c in (fast if quick else fast + SLOW_CASES)]
    # The slow cases mostly wait for a deadline: they start first and run side by side with
    # the others (jobs: runtime, label, mode, params, server args).
    slow = [c[0] for c in SLOW_CASES + SLOW_EXTRA]
    with ThreadPoolExecutor(max_workers=3 if quick else 4) as pool:
        futures = [pool.submit(_run_case, setup, *job) for job in sorted(jobs, key=lambda j: j[1] not in slow)]
        cases = [f.result() for f in futures]
    removal = []
    skipped = None
    for runtime in ("micropython", "cpython"):
        for fault in ("full", "read-only"):
            got = _removal_failure(setup, runtime, fault)
            if isinstance(got, str):
                skipped = got
                break
            removal.append(got)
        if skipped:
            break
    return {"cases": cases, "removal": removal, "removal_skipped": skipped}


# -- the edges of certificate auth, the outbox and the config (issue 19) --------------------------
# Each case under MicroPython (the .mpy build): what the receiver got per message id, and
# what the outbox held before and after. Certificate auth runs 32 KB above the work heap
# (its two TLS contexts come from this heap on the unix port; an ESP32's IDF heap holds them).

PASTED = "mpawsPastedSecret0DoNotShow9"  # a secret pasted under the wrong key


class _Edge:
    """One edge case: requests per id at the receiver, the outbox before and after (its
    messages, or None when it was not opened), what left it unsent without a refusal, raw
    (non-AWSError) failures, and outputs that showed a secret."""

    def __init__(self, label):
        self.label = label
        self.per_id = {}
        self.before = self.after = None
        self.lost = 0  # messages out of the outbox that AWS neither accepted nor refused
        self.raw = []
        self.leaks = 0
        self.failure = None

    def note(self):
        per_id = ", ".join("%d" % n for _, n in sorted(self.per_id.items())) or "none"
        return "%s: requests per id %s; outbox %s -> %s" % (self.label, per_id, self.before, self.after)


def _edge_run(edge, dev, steps):
    """dev.run(steps) (None when it failed: edge.failure says why); raw failures and leaked
    secrets counted."""
    try:
        run = dev.run(steps, timeout=60, check_secrets=False)
    except (AssertionError, subprocess.TimeoutExpired) as e:
        edge.failure = _why(e)
        return None
    for result in run.results:
        if result.get("error") and "AWSError" not in result.get("classes", ()):
            edge.raw.append("%s: %s" % (result["error"], result.get("message")))
    text = run.log + run.stderr + repr(run.results)
    edge.leaks += sum(1 for secret in dev.secrets if secret in text)
    return run


def _edge_ids(server):
    per_id = {}
    for request in list(server.requests):
        if request.id is not None:
            per_id[request.id] = per_id.get(request.id, 0) + 1
    return per_id


def _edge_credentials(setup, server, edge, reply, cert):
    heap = "%dk" % (int(setup.heapsize[:-1]) + 32)
    directory = setup.new_dir("edge")
    dev = setup.faults.cert_dev(lambda s, _heap, **keys: setup.dev("micropython", directory, s, heap, **keys),
                                server, cert)
    queued = _edge_run(edge, dev, [{"op": "queue", "subject": "q%d" % i, "body": "b"} for i in range(2)])
    if queued is None:
        return
    edge.before = "2 queued + 1 notify"
    server.set_mode("reply", **reply)
    run = _edge_run(edge, dev, [setup.device.notify("n", "b"), {"op": "flush"}, {"op": "status"}])
    if run is not None:
        edge.after = run.results[2].get("outbox")
        edge.lost = max(0, 3 - (edge.after or 0))
        if any("API Gateway" in r.get("message", "") for r in run.results[:2]):
            edge.raw.append("an API Gateway hint for the credentials endpoint")


def _edge_function(setup, server, edge, error_type):
    # 32k more than the suite's heap: status() after a function error must open the outbox
    # beside the failure code and the driver, or the outbox could not be counted.
    dev = setup.dev("micropython", setup.new_dir("edge"), server, heapsize="%dk" % (int(setup.heapsize[:-1]) + 32))
    if _edge_run(edge, dev, [{"op": "queue", "subject": "q%d" % i, "body": "b"} for i in range(2)]) is None:
        return
    edge.before = 2
    server.set_mode("function_error", error_type=error_type, message="subject: looks like a field")
    run = _edge_run(edge, dev, [setup.device.FAST, {"op": "flush"}, {"op": "status"}])
    if run is not None:
        edge.after = run.results[2].get("outbox")
        edge.lost = max(0, 2 - (edge.after or 0))


def _edge_long_header(setup, server, edge):
    dev = setup.dev("micropython", setup.new_dir("edge"), server, heapsize="%dk" % (int(setup.heapsize[:-1]) + 64))
    if _edge_run(edge, dev, [{"op": "queue", "subject": "q", "body": "b"}]) is None:
        return
    edge.before = 1
    server.set_mode("long_header")
    flush = {"op": "flush"}
    run = _edge_run(edge, dev, [setup.device.FAST, flush, flush, flush, {"op": "status"}])
    if run is not None:
        edge.after = run.results[4].get("outbox")


def _edge_set_aside(setup, server, edge):
    directory = setup.new_dir("edge")
    large = setup.dev("micropython", directory, server, heapsize="256k")
    steps = [{"op": "queue", "subject": s, "body": "x" * 18000 if s == "big" else "b"} for s in ("a", "big", "c")]
    if _edge_run(edge, large, steps) is None:
        return
    edge.before = 3
    run = _edge_run(edge, setup.dev("micropython", directory, server), [setup.device.FAST, {"op": "flush"},
                                                                          {"op": "status"}])
    if run is not None:
        status = run.results[2]
        if status.get("ok"):
            edge.after = "%s (set aside %s)" % (status["outbox"], status.get("set_aside"))
            edge.lost = max(0, 3 - len(_edge_ids(server)) - status["outbox"])
        else:
            edge.after = "not opened (%s)" % status.get("error")


def _edge_config(setup, server, edge, cert, key, value):
    directory = setup.new_dir("edge")
    heap = "%dk" % (int(setup.heapsize[:-1]) + 32)
    make = lambda s, _heap, **keys: setup.dev("micropython", directory, s, heap, **keys)  # noqa: E731
    dev = setup.faults.cert_dev(make, server, cert, **{key: value}) if key != "CONFIG_OUTBOX_PATH" else \
        setup.dev("micropython", directory, server, **{key: value})
    dev.secrets.append(PASTED)
    edge.before = 0
    run = _edge_run(edge, dev, [setup.device.notify("n", "b"), {"op": "status"}])
    if run is not None:
        status = run.results[1]
        edge.after = status["outbox"] if status.get("ok") else "not opened (%s)" % status.get("error")
        if status.get("ok") and status["outbox"] != 1:
            edge.lost += 1


def edge_figures(setup):
    """The issue 19 cases, each under MicroPython: a list of _Edge."""
    import pathlib

    from hostile_server import HostileServer  # pyright: ignore[reportMissingImports]  (host_tests: see _Setup)

    cert = setup.faults.make_device_cert(pathlib.Path(setup.new_dir("cert")))
    broken_key = os.path.join(setup.new_dir("broken_key"), "key.pem")
    with open(cert["key"]) as f, open(broken_key, "w") as out:
        out.write(f.read().replace("PRIVATE KEY-----\n", "PRIVATE KEY----\n", 1))
    cases = [
        ("credentials-400-InvalidParameterValue", lambda s, e: _edge_credentials(
            setup, s, e, {"status": 400, "error_type": "InvalidParameterValue", "body": '{"message": "x"}'}, cert)),
        ("credentials-413", lambda s, e: _edge_credentials(setup, s, e, {"status": 413, "body": "{}"}, cert)),
        ("credentials-500-Internal-Server-Error", lambda s, e: _edge_credentials(
            setup, s, e, {"status": 500, "body": '{"message":"Internal Server Error"}'}, cert)),
        ("function-TypeError", lambda s, e: _edge_function(setup, s, e, "TypeError")),
        ("function-ValueError", lambda s, e: _edge_function(setup, s, e, "ValueError")),
        ("200-header-line-10KB-3-flushes", lambda s, e: _edge_long_header(setup, s, e)),
        ("18KB-message-stored-at-256k", lambda s, e: _edge_set_aside(setup, s, e)),
        ("outbox-folder-missing", lambda s, e: _edge_config(setup, s, e, cert, "CONFIG_OUTBOX_PATH",
                                                            os.path.join(setup.root, PASTED, "outbox.txt"))),
        ("role-alias-pasted-secret", lambda s, e: _edge_config(setup, s, e, cert, "CONFIG_AWS_ROLE_ALIAS",
                                                               "wJalr/K7MDENG+" + PASTED)),
        ("key-path-pasted-secret", lambda s, e: _edge_config(setup, s, e, cert, "CONFIG_TLS_KEY", "/" + PASTED)),
        ("pem-begin-line-lost-a-dash", lambda s, e: _edge_config(setup, s, e, cert, "CONFIG_TLS_KEY", broken_key)),
    ]
    edges = []
    for label, case in cases:
        edge = _Edge(label)
        with HostileServer() as server:
            case(server, edge)
            edge.per_id = _edge_ids(server)
        edges.append(edge)
    return edges


# -- the heap: the largest message and outbox a new process opens and flushes ---------------------


def _largest(ok, lo, hi, resolution):
    """The largest n in [lo, hi] with ok(n), by bisection (ok(lo) is checked first;
    ok(hi) too, so that the cap is found at once). Returns (n or None, runs)."""
    runs = 1
    if not ok(lo):
        return None, runs
    runs += 1
    if ok(hi):
        return hi, runs
    while hi - lo > resolution:
        mid = (lo + hi) // 2
        runs += 1
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, runs


def _body(chars, escaped=False):
    # Printable ASCII, nothing JSON escapes: one byte stored per character; escaped: a
    # report of lines, a line break (stored as \n) every 27 characters.
    if escaped:
        text = "".join("line %05d of a long report\n" % i for i in range(chars // 27 + 1))
    else:
        text = "".join("line %05d of a long report. " % i for i in range(chars // 28 + 1))
    return text[:chars]


def _message_line_bytes(path):
    """Bytes of the message lines of an outbox file (without its header and end line)."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return sum(len(line) + 1 for line in lines[1:] if line.startswith(b'["'))


def _why(e):
    """What a driver run that failed (AssertionError from Device.run) logged last."""
    if isinstance(e, subprocess.TimeoutExpired):
        return "still running after %s s (killed)" % e.timeout
    text = str(e)
    log = text.split("\nlog:\n", 1)[-1].split("\nstderr:", 1)[0].strip().splitlines()
    mpaws = [line for line in log if line.startswith("mpaws:")]
    return "the driver failed (%s)%s" % (log[-1] if log else "no output", "; " + mpaws[-1] if mpaws else "")


class _HeapProbe:
    """A normal-mode HostileServer as the receiver; outboxes filled under CPython (no
    heap limit there) or queued under MicroPython; flushed by a new MicroPython process."""

    KEYS = dict(CONFIG_OUTBOX_LIMIT=OUTBOX_CAP, CONFIG_OUTBOX_BYTES=1048576)

    def __init__(self, setup, server):
        self.setup = setup
        self.server = server
        self.notes = []
        self.stored = None  # bytes of the last message body_queues() stored
        self.refusal = None  # the last InvalidMessage's text
        self.why = None  # why the last run failed

    def _devs(self, prefix, heapsize=None):
        directory = self.setup.new_dir(prefix)
        make = self.setup.dev
        return (make("cpython", directory, self.server, **self.KEYS),
                make("micropython", directory, self.server, heapsize=heapsize, **self.KEYS))

    def flush_ok(self, steps_to_fill, expect, heapsize=None):
        """Fills an outbox under CPython with steps_to_fill, then flushes it in a new
        MicroPython process; whether every message was sent and received as queued."""
        cpython, micropython = self._devs("flush", heapsize)
        queued = cpython.run(steps_to_fill, timeout=120)
        ids = [r["id"] for r in queued.results]
        before = len(self.server.requests)
        try:
            run = micropython.run([self.setup.device.FAST, {"op": "flush"}, {"op": "status"}], timeout=300)
        except (AssertionError, subprocess.TimeoutExpired) as e:
            self.why = _why(e)
            return False
        flushed, status = run.results[1], run.results[2]
        self.why = flushed.get("message") or "sent %s, outbox %s" % (flushed.get("sent"), status.get("outbox"))
        got = self.server.requests[before:]
        return bool(flushed.get("ok") and flushed["sent"] == len(ids) and status.get("outbox") == 0
                    and [r.id for r in got] == ids and expect(got))

    def body_flushes(self, chars, escaped=False):
        body = _body(chars, escaped)
        return self.flush_ok([{"op": "queue", "subject": "big", "body": body}],
                             lambda got: got[0].event["body"] == body)

    def outbox_flushes(self, count):
        steps = [{"op": "queue", "subject": "s", "body": "message %d" % i} for i in range(count)]
        return self.flush_ok(steps, lambda got: True)

    def body_queues(self, chars, escaped=False):
        """Whether queue() under MicroPython stores a `chars`-character body (the driver
        reads it from its steps file: that copy is in the heap too)."""
        _, micropython = self._devs("queue")
        try:
            run = micropython.run([{"op": "queue", "subject": "big", "body": _body(chars, escaped)}], timeout=60)
        except AssertionError:
            return False
        result = run.results[0]
        if result.get("ok"):
            self.stored = _message_line_bytes(micropython.config["CONFIG_OUTBOX_PATH"])
            return True
        if result.get("error") != "InvalidMessage":
            self.notes.append("queue of %d characters: %s" % (chars, result.get("error")))
        else:
            self.refusal = result["message"]
        return False

    def notify_ok(self, heapsize):
        _, micropython = self._devs("notify", heapsize)
        try:
            run = micropython.run([self.setup.device.FAST, self.setup.device.notify()], timeout=60)
        except AssertionError as e:
            self.why = _why(e)
            return False
        self.why = run.results[1].get("message")
        return bool(run.results[1].get("ok"))


def work_heap(setup):
    """The heap for every MicroPython run: 100k if a plain notify and a flush (in a new
    process) of one 1000-character message both run there, else the smallest heap above
    it, in steps of 4 KB, where they do. Also the smallest heap (1 KB steps) where the
    driver runs one notify, for scale."""
    from hostile_server import HostileServer  # pyright: ignore[reportMissingImports]  (host_tests: see _Setup)

    with HostileServer() as server:
        probe = _HeapProbe(setup, server)
        failed = []

        def works(heapsize):
            if not probe.notify_ok(heapsize):
                failed.append("%s: notify: %s" % (heapsize, probe.why))
                return False
            body = _body(1000)
            if not probe.flush_ok([{"op": "queue", "subject": "s", "body": body}],
                                  lambda got: got[0].event["body"] == body, heapsize):
                failed.append("%s: flush of a 1000-character message: %s" % (heapsize, probe.why))
                return False
            return True

        for kb in range(100, 201, 4):
            if works("%dk" % kb):
                setup.heapsize = "%dk" % kb
                break
        else:
            raise setup.tools.BenchError("no plain notify and flush under micropython -X heapsize=100k..200k: %s"
                                         % "; ".join(failed))
        smallest, runs = _largest(lambda kb: probe.notify_ok("%dk" % -kb), -200, -40, 2 if setup.bench.quick else 1)
    return {"heap": setup.heapsize, "notify_heap_kb": None if smallest is None else -smallest, "runs": runs,
            "failed": failed}


def heap_figures(setup):
    from hostile_server import HostileServer  # pyright: ignore[reportMissingImports]  (host_tests: see _Setup)

    quick = setup.bench.quick
    out = {}
    with HostileServer() as server:
        probe = _HeapProbe(setup, server)
        resolution = 2048 if quick else 256
        out["flush_body"], runs_heap = _largest(probe.body_flushes, 1000, BODY_CAP, resolution)
        out["queue_body"], runs = _largest(probe.body_queues, 1, BODY_CAP, resolution)
        runs_heap += runs
        out["queue_refusal"] = probe.refusal
        out["queue_stored"] = None
        if out["queue_body"]:
            probe.body_queues(out["queue_body"])  # its stored size
            out["queue_stored"] = probe.stored
            runs_heap += 1
        # The same with a body JSON escapes (a line break every 27 characters): the escaping
        # must not make a stored message unsendable.
        out["flush_escaped"], runs = _largest(lambda n: probe.body_flushes(n, True), 1000, BODY_CAP, resolution)
        runs_heap += runs
        out["queue_escaped"], runs = _largest(lambda n: probe.body_queues(n, True), 1, BODY_CAP, resolution)
        runs_heap += runs
        out["queue_escaped_refusal"] = probe.refusal
        cap = 200 if quick else OUTBOX_CAP  # a flush of 1000 messages takes about 40 s
        out["outbox_cap"] = cap
        out["outbox_count"], runs = _largest(probe.outbox_flushes, 10, cap, 50 if quick else 10)
        runs_heap += runs
        out["runs"] = runs_heap
        out["notes"] = probe.notes
    return out


# -- the group -------------------------------------------------------------------------------


def group_faults(bench):
    g = "faults"
    setup = _Setup(bench)
    tools = setup.tools
    base = work_heap(setup)
    inv = invoke_figures(setup)
    heap = heap_figures(setup)
    cases, removal = inv["cases"], inv["removal"]
    where_heap = "micropython at -X heapsize=%s, CPython" % base["heap"]
    problems = ["%s (%s): %s" % (c.label, c.runtime, c.failure) for c in cases + removal if c.failure]

    raw = ["%s (%s) %s" % (c.label, c.runtime, c.raw) for c in cases + removal if c.raw]
    bench.add(g, "raw_exceptions", "fault cases raising a non-AWSError", len(raw), "cases", ("<=", 0),
              note="; ".join(raw) or "every failure of notify() and flush() an errors.AWSError; %d cases"
              % len(cases + removal))
    worst, where = _worst(cases, "per_id")
    bench.add(g, "invokes_per_id", "worst requests per id, one notify, any reply", worst, "requests",
              ("<=", setup.faults.MAX_ATTEMPTS),
              note="%s; %d runs (fault modes x runtimes); a request counts once its body is read (the client's "
              "attempts: at-least-once, the id lets a receiver drop duplicates); %s" % (where, len(cases), where_heap))
    worst, where = _worst(cases, "accepted_per_id")
    bench.add(g, "accepted_invokes_per_id", "worst requests per id answered 2xx", worst, "requests",
              ("<=", INVOKES_TARGET), note="%s: accepted by AWS (the function ran)" % where)
    if removal:
        worst, where = _worst(removal, "per_id")
        bench.add(g, "removal_failure_invokes_per_id", "worst requests per id, sent but not removable", worst,
                  "requests", ("<=", INVOKES_TARGET),
                  note="%s; full and read-only 16 KB tmpfs as the flash, 3 messages, 2 flushes then 1 in a new "
                  "process" % where)
    else:
        bench.add(g, "removal_failure_skipped", "removal failure (full flash): skipped", 0, "cases",
                  note=inv["removal_skipped"])

    slow = [c for c in cases if c.label in [s[0] for s in SLOW_CASES] and c.seconds is not None]
    if slow:
        longest = max(slow, key=lambda c: c.seconds)
        bench.add(g, "longest_notify_s", "longest notify, stalled or dripping server", longest.seconds, "s",
                  ("<=", DEADLINE_S), note="%s, %s (%s); CONFIG_TIMEOUT = %d; %d runs"
                  % (longest.label, longest.runtime, longest.error, CONFIG_TIMEOUT, len(slow)))
        for c in sorted(slow, key=lambda c: c.label):
            if c.runtime == "micropython":
                bench.add(g, "notify_s_" + c.label, "  micropython, " + c.label, c.seconds, "s",
                          note=c.error)

    kb = base["heap"]
    bench.add(g, "work_heap", "heapsize of every micropython run", int(kb[:-1]), "KB", ("<=", 100),
              note="100k (the issue's heap, and the fault suite's) if a plain notify and a flush of a "
              "1000-character message after a restart run there, else the smallest heap above it, in 4 KB steps, where they do%s"
              % ("; failed: " + "; ".join(base["failed"]) if base["failed"] else ""))
    if base["notify_heap_kb"] is not None:
        bench.add(g, "driver_notify_heap", "  min heapsize, fault driver + one notify", base["notify_heap_kb"], "KB",
                  note=".mpy firmware and driver; bisection in 1 KB steps (%d runs): the edge is not "
                  "monotonic, heap layout decides" % base["runs"])
    if heap["flush_body"] is not None:
        bench.add(g, "flush_message_chars", "largest message a new process flushes (%s)" % kb, heap["flush_body"],
                  "chars", note="body of printable ASCII (stored: 1 byte per character, plus about 30 for the id, "
                  "subject and JSON), queued under CPython, "
                  "flushed (sent, received intact, taken out) by micropython -X heapsize=%s" % kb)
    else:
        problems.append("no message of 1000 characters could be flushed at %s" % kb)
    if heap["queue_body"] is not None:
        bench.add(g, "queue_message_chars", "largest message queue() stores (%s)" % kb, heap["queue_body"], "chars",
                  note="%s bytes as stored; above it errors.InvalidMessage: %s"
                  % (heap["queue_stored"], heap["queue_refusal"]))
    bench.add(g, "flush_escaped_chars", "largest escaped message a new process flushes (%s)" % kb,
              heap["flush_escaped"] or 0, "chars", note="a line break (JSON: \\n) every 27 characters, queued under "
              "CPython, flushed by micropython -X heapsize=%s; 0: not even 1000 characters" % kb)
    bench.add(g, "queue_escaped_chars", "largest escaped message queue() stores (%s)" % kb, heap["queue_escaped"] or 0,
              "chars", note="the same body; above it errors.InvalidMessage: %s" % heap["queue_escaped_refusal"])
    unsendable = [(heap[queued] or 0) - (heap[flushed] or 0) for queued, flushed in
                  (("queue_body", "flush_body"), ("queue_escaped", "flush_escaped"))]
    bench.add(g, "queued_but_unsendable_chars", "  stored but too large to flush", max([0] + unsendable), "chars",
              ("<=", 0), note="queue() limit - flush limit, same heap, worst of the plain (%d) and the escaped (%d) "
              "body; > 0: a message stored that a new process can't send" % tuple(unsendable))
    if heap["outbox_count"] is not None:
        bench.add(g, "flush_outbox_messages", "largest outbox a new process flushes (%s)" % kb,
                  heap["outbox_count"], "messages", note="short messages, the cap %d (CONFIG_OUTBOX_LIMIT's maximum is "
                  "%d); all sent and taken out by one flush(); %d heap runs in all" % (heap["outbox_cap"], OUTBOX_CAP,
                                                                                       heap["runs"]))
    edges = edge_figures(setup)
    problems += ["%s: %s" % (e.label, e.failure) for e in edges if e.failure]
    bench.add(g, "edge_lost_messages", "messages lost, never refused (issue 19 cases)", sum(e.lost for e in edges),
              "messages", ("<=", 0), note="micropython (.mpy); " + "; ".join(e.note() for e in edges))
    resent = max([n for e in edges if e.label.startswith("200-") for n in e.per_id.values()] or [0])
    bench.add(g, "edge_2xx_resent", "  requests per id, 2xx with a 10 KB header, 3 flushes", resent, "requests",
              ("<=", 1), note="was 12: the message kept and sent again on every flush")
    bench.add(g, "edge_secrets_shown", "  outputs showing a secret or a pasted value", sum(e.leaks for e in edges),
              "runs", ("<=", 0), note="the key's base64 (a PEM BEGIN line without its dashes), a value pasted "
              "as role alias, key path or outbox folder, the temporary secret")
    raw = ["%s: %s" % (e.label, r) for e in edges for r in e.raw]
    bench.add(g, "edge_raw_errors", "  non-AWSError failures or wrong-endpoint hints", len(raw), "cases",
              ("<=", 0), note="; ".join(raw) or "none in %d cases" % len(edges))
    problems += heap["notes"]
    if problems:
        raise tools.BenchError("; ".join(problems))
