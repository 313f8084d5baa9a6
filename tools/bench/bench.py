"""Benchmarks for mpaws: `make bench` runs `python tools/bench/bench.py`.

    python tools/bench/bench.py [--only GROUP[,GROUP...]] [--quick] [--json PATH] [--strict] [--list]

Prints a table (group, name, value, unit, target, met?) and writes bench/latest.json:
  {"schema": 1, "environment": {date, python, micropython, botocore, mpy_cross, cpu,
   loadavg_start, loadavg_end, git_commit, ...}, "seed_request": {...},
   "reference_signature": ..., "groups_run": [...], "groups_failed": [...],
   "results": [{"group", "key", "name", "value", "unit",
                "target": {"op": "<=" or ">=", "value"} or null, "met": true/false/null,
                "note"?, "layouts"?}, ...]}
A notify's smallest heap is the median over folders of different name lengths; "layouts"
holds each one's figure: [{"path_chars", "value"}, ...].
Compare runs by (group, key); name is only what the table shows.

Each benchmark group is one function below, listed in GROUPS: it takes the Bench and
adds figures with bench.add(group, key, name, value, unit, target). A new group (say,
TLS notify heap, or ms per notify against boto3) is one more function and one more
GROUPS entry; its figures land in the same table and the same JSON list. A group raises
BenchError when a measurement cannot be made or gives a wrong answer: the other groups
still run, and the exit status is 2.

Timing is wall-clock on a machine that may be busy: the load average at the start and
the end of the run is printed and recorded with the figures.

Groups:
  sigv4_cpython       us per signature of the seed request on CPython: mpaws's device core,
                      mpaws.sigv4 (cold and cached key, new time + Content-Length) and
                      botocore's SigV4Auth.add_auth; ratios.
  sigv4_micropython   us and bytes allocated per signature inside the MicroPython unix
                      port (tools/bench/bench_micropython.py) in a 128 KB heap, as on an ESP32
                      (and the cached case in the port's default 2 MB heap); ratio against
                      botocore on CPython.
  sigv4_heap          smallest `micropython -X heapsize=N` that imports the signer's core
                      from .mpy and signs the seed request (binary search).
  mpy_size            .mpy size of sigv4 (the core) and of every firmware module.
  notify              one app.notify() over TLS against host_tests/aws_server.py: smallest
                      heap (one root, the five bundled roots), the interned names after it
                      and how many more fit before the next name table, bytes on the wire,
                      handshakes per burst, ms vs boto3 (tools/bench/bench_notify.py).
  demo                make demo's chain against the local AWS stand-in (tools/localaws/local_aws.py):
                      demo wall time, notify step, 50-notify burst rate vs boto3
                      (tools/bench/bench_demo.py).
  cert                certificate auth against static keys: smallest heap for the first
                      notify, ms to its reply, the credentials call's bytes
                      (tools/bench/bench_cert.py).
  device_app          heap of the client library and of the device application (main
                      loop, outbox, triggers), bytes allocated per idle loop turn and per
                      button press (tools/bench/bench_device.py).
  apigateway          Lambda mode vs API Gateway (IAM, API key) on the local AWS stand-in:
                      ms per notify under micropython and CPython and for a host client
                      (boto3, urllib3 + botocore-signed), smallest heap for one notify per
                      mode and with direct SNS (tools/bench/bench_apigw.py).
  faults              the fault suite's promises at -X heapsize=100k (tools/bench/bench_faults.py):
                      worst requests per message id across the hostile server's fault modes
                      and a full or read-only flash, longest notify under a stalled or
                      dripping server (CONFIG_TIMEOUT = 3), largest message and outbox a new
                      process opens and flushes.

Every mode's smallest heap for one notify (notify, apigateway, cert) is the median over
three folder layouts (notify_heap below), with a target of 64 KB.

--strict exits 1 when a figure misses its target (by default only a failed measurement,
such as a wrong signature, makes the exit status non-zero).
"""
import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
TOOLS = os.path.join(REPO, "tools")
BENCH = os.path.join(TOOLS, "bench")
STAND_IN = os.path.join(TOOLS, "localaws")
FIRMWARE = os.path.join(REPO, "firmware")
FIRMWARE_LIB = os.path.join(FIRMWARE, "lib")
VENV_BIN = os.path.join(REPO, ".venv", "bin")
DEFAULT_JSON = os.path.join(REPO, "bench", "latest.json")
SCHEMA = 1

# The groups import the demo (tools/) and the stand-in (tools/localaws/) by their module names.
for _path in (FIRMWARE_LIB, TOOLS, STAND_IN, BENCH):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_micropython import SEED, changed_requests, new_signer, sign, signature_of  # noqa: E402  (the seed request)
from bench_notify import group_notify  # noqa: E402  (one notify over TLS: heap, bytes, handshakes, ms)
from bench_demo import group_demo  # noqa: E402  (make demo's chain: notify step, 50-notify burst vs boto3)
from bench_cert import group_cert  # noqa: E402  (certificate auth vs static keys: heap, first notify, wire)
import bench_device  # noqa: E402  (the device loop's RAM: modules, per turn, per press)
import bench_esp32  # noqa: E402  (what `import app` takes: unix measured, ESP32 estimated)
from bench_apigw import group_apigateway  # noqa: E402  (API Gateway vs Lambda: ms per notify, heap)
from bench_faults import group_faults  # noqa: E402  (invokes per id, deadlines, heap limits under faults)


class BenchError(Exception):
    """A measurement that could not be made or gave a wrong answer."""


# -- results -------------------------------------------------------------------------------


class Bench:
    """Collects results; also caches figures that several groups need (e.g. botocore's us)."""

    def __init__(self, quick=False, tmp=None):
        self.quick = quick
        self.tmp = tmp
        self.results = []
        self.environment = {}
        self._memo = {}

    def add(self, group, key, name, value, unit, target=None, note=None):
        """One figure. key: stable id within the group (compare runs by group + key);
        name: what the table shows; target: None (for information) or (op, bound), op
        '<=' or '>='. Floats are kept to 4 significant digits."""
        met = None
        if target is not None:
            op, bound = target
            met = value <= bound if op == "<=" else value >= bound
        if isinstance(value, float):
            value = float("%.4g" % value)
        entry = {
            "group": group,
            "key": key,
            "name": name,
            "value": value,
            "unit": unit,
            "target": None if target is None else {"op": target[0], "value": target[1]},
            "met": met,
        }
        if note:
            entry["note"] = note
        self.results.append(entry)
        return entry

    def once(self, key, compute):
        """compute() the first time key is asked for, then its stored value."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]


def tool(name):
    local = os.path.join(VENV_BIN, name)
    if os.path.exists(local):
        return local
    found = shutil.which(name)
    if found is None:
        raise BenchError("%s not found: run `make setup`" % name)
    return found


# -- timing on CPython ----------------------------------------------------------------------


def per_call_us(runs, quick, min_repeat_s=0.15):
    """Median us per call of each case. runs maps a case name to run(n), which makes n
    calls and returns the seconds they took (timing only the calls: set-up such as
    building n requests stays outside). Each case's n is doubled until one repeat lasts
    about min_repeat_s; then the cases are timed in interleaved rounds (7, or 5 with
    --quick), so that a change in machine load hits every case alike. The garbage
    collector is off while timing, as in timeit. Returns {case: (us, n, rounds)}."""
    rounds = 5 if quick else 7
    if quick:
        min_repeat_s /= 3
    sizes = {}
    for case, run in runs.items():
        n = 1
        while run(n) < min_repeat_s / 4:
            n *= 2
        sizes[case] = n * 4
    samples = {case: [] for case in runs}
    for _ in range(rounds):
        for case, run in runs.items():
            samples[case].append(run(sizes[case]) / sizes[case] * 1e6)
    return {case: (statistics.median(samples[case]), sizes[case], rounds) for case in runs}


def _timed(loop):
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        loop()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


def reference_signature(bench):
    """The seed request's signature from botocore: the oracle every run is checked against."""
    req = _botocore_request()
    with _frozen_botocore_clock():
        _botocore_auth().add_auth(req)
    return req.headers["Authorization"][-64:]


def _botocore_auth():
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    return SigV4Auth(Credentials(SEED["access_key"], SEED["secret_key"]), SEED["service"], SEED["region"])


def _botocore_request():
    from botocore.awsrequest import AWSRequest

    return AWSRequest(
        method=SEED["method"],
        url="https://%s%s" % (SEED["host"], SEED["path"]),
        data=SEED["body"],
        headers=dict(SEED["headers"]),
    )


class _frozen_botocore_clock:
    """botocore.auth reads the time through get_current_datetime(): pin it to SEED's date."""

    def __enter__(self):
        import botocore.auth

        fixed = datetime.datetime.strptime(SEED["date"], "%Y%m%dT%H%M%SZ")
        self._saved = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda *args, **kwargs: fixed
        return self

    def __exit__(self, *exc):
        import botocore.auth

        botocore.auth.get_current_datetime = self._saved


def botocore_runner(bench):
    """run(n) for botocore SigV4Auth.add_auth on the seed request. Each call signs a fresh
    AWSRequest built before the timed loop, so request construction is not counted."""
    auth = _botocore_auth()
    expected = bench.once("reference_signature", reference_signature)

    def run(n):
        requests = [_botocore_request() for _ in range(n)]

        def loop():
            for req in requests:
                auth.add_auth(req)

        with _frozen_botocore_clock():
            elapsed = _timed(loop)
        if requests[-1].headers["Authorization"][-64:] != expected:
            raise BenchError("botocore signed the seed request differently from the reference")
        return elapsed

    return run


def botocore_request_runner(bench):
    """run(n) building n AWSRequests for the seed request (not part of add_auth's figure)."""

    def run(n):
        def loop():
            for _ in range(n):
                _botocore_request()

        return _timed(loop)

    return run


def mpaws_runner(bench, case):
    """run(n) for n mpaws signatures of the seed request on CPython. case: 'cached' (same
    Signer, same day), 'cold' (a new Signer each time), 'cold_date' (same Signer, the day
    alternates, so the signing key is derived every time), 'changed' (same Signer and day;
    time, body and Content-Length alternate, as from one device message to the next)."""
    from mpaws import sigv4  # pyright: ignore[reportMissingImports]  (firmware/lib, on sys.path above)

    expected = bench.once("reference_signature", reference_signature)
    if signature_of(sign(new_signer(sigv4), SEED["date"])) != expected:
        raise BenchError("mpaws on CPython signed the seed request differently from botocore")
    signer = new_signer(sigv4)
    date = SEED["date"]
    dates = (date, SEED["other_date"]) if case == "cold_date" else (date, date)
    sign(signer, date)
    # The request's parts as locals: the loop costs what a caller's loop would.
    method, path, headers, body = SEED["method"], SEED["path"], SEED["headers"], SEED["body"]
    credentials = (SEED["access_key"], SEED["secret_key"], SEED["region"], SEED["service"])
    new = sigv4.Signer
    changed = changed_requests()

    def run(n):
        if case == "changed":

            def loop():
                for i in range(n):
                    headers, body, when = changed[i & 1]
                    signer.sign(method, path, None, headers, body=body, date=when)

        elif case == "cold":

            def loop():
                for i in range(n):
                    new(*credentials).sign(method, path, None, headers, body=body, date=dates[i & 1])

        else:

            def loop():
                for i in range(n):
                    signer.sign(method, path, None, headers, body=body, date=dates[i & 1])

        return _timed(loop)

    return run


def cpython_us(bench):
    """{case: (us, n, rounds)} for mpaws and botocore on CPython, timed in the same rounds."""
    runs = {
        "mpaws_cached": mpaws_runner(bench, "cached"),
        "mpaws_cold": mpaws_runner(bench, "cold"),
        "mpaws_cold_date": mpaws_runner(bench, "cold_date"),
        "mpaws_changed": mpaws_runner(bench, "changed"),
        "botocore": botocore_runner(bench),
        "botocore_request": botocore_request_runner(bench),
    }
    return per_call_us(runs, bench.quick)


# -- MicroPython ----------------------------------------------------------------------------


def run_micropython(args, heapsize=None, env=None, cwd=None, timeout=60):
    cmd = [tool("micropython")]
    if heapsize is not None:
        cmd += ["-X", "heapsize=%d" % heapsize]
    full_env = dict(os.environ)
    full_env.pop("MICROPYPATH", None)
    if env:
        full_env.update(env)
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=cwd or REPO)


SIGV4_REL = os.path.join("lib", "mpaws", "sigv4.py")
MPY_FLAGS = ["-X", "no-source-lines"]  # as the Makefile's $(OUT)/%.mpy rule


def source_name(rel):
    """The name a module's .mpy gives its source (tracebacks' "File ..."), as the Makefile's
    $(OUT)/%.mpy rule: its module name ("mpaws.sigv4", "app"), a name its import has interned
    already; a path ("lib/mpaws/sigv4.py") would be one more name held for good."""
    module = rel[:-3].replace(os.sep, ".")
    return module[len("lib."):] if module.startswith("lib.") else module


def compile_firmware(bench):
    """Compiles every .py under firmware/ as `make build` does (mpy-cross MPY_FLAGS -s REL -o OUT),
    into a temporary tree. Returns ({relative .py path: .mpy path}, {relative path: error});
    raises BenchError only if sigv4.py itself does not compile."""
    out_root = os.path.join(bench.tmp, "mpy")
    compiled = {}
    errors = {}
    for root, dirs, files in os.walk(FIRMWARE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, name), FIRMWARE)
            out = os.path.join(out_root, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            proc = subprocess.run([tool("mpy-cross")] + MPY_FLAGS + ["-s", source_name(rel), "-o", out,
                                   os.path.join(FIRMWARE, rel)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                errors[rel] = proc.stderr.strip()
            else:
                compiled[rel] = out
    if SIGV4_REL not in compiled:
        raise BenchError("mpy-cross %s failed: %s" % (SIGV4_REL, errors.get(SIGV4_REL, "not found")))
    return compiled, errors


def _mpy_lib(bench):
    """The directory of compiled .mpy modules that holds mpaws/ (the device's /lib)."""
    compiled, _ = bench.once("mpy", compile_firmware)
    return os.path.dirname(os.path.dirname(compiled[SIGV4_REL]))


# The heap the timings run in: an ESP32 without PSRAM has about 110-130 KB of MicroPython
# heap. The unix port's default (2 MB) costs more time per allocated byte (a larger heap
# to sweep, memory touched once): signing is timed there too, for information.
DEVICE_HEAP = 128 * 1024


def micropython_figures(bench, heapsize=DEVICE_HEAP):
    """Runs tools/bench/bench_micropython.py on the signer compiled to .mpy, in a heap of
    heapsize bytes (None: the unix port's default); returns its figures."""
    lib = _mpy_lib(bench)
    args = [os.path.join(BENCH, "bench_micropython.py"), lib] + (["--quick"] if bench.quick else [])
    proc = run_micropython(args, heapsize=heapsize, timeout=110)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            figures = json.loads(line[len("BENCH_JSON "):])
            break
    else:
        raise BenchError("tools/bench/bench_micropython.py gave no figures (exit %d):\n%s%s"
                         % (proc.returncode, proc.stdout, proc.stderr))
    expected = bench.once("reference_signature", reference_signature)
    if figures["signature"] != expected:
        raise BenchError("MicroPython signed the seed request differently from botocore: %s" % figures["signature"])
    return figures


# The heap-size probes: modules compiled to .mpy and run with `micropython -m`, so that no
# source is compiled in the heap being measured. The start-up probe measures what the
# interpreter itself needs to run a module at all.
_HEAP_DRIVER_SIGNER = """\
from mpaws import sigv4
print(sigv4.Signer(%(access_key)r, %(secret_key)r, %(region)r, %(service)r).sign(
    %(method)r, %(path)r, None, %(headers)r, body=%(body)r, date=%(date)r)[-1][1][-64:])
"""
_HEAP_DRIVER_STARTUP = 'print("ok")\n'


def _heap_probe(bench, name, source):
    """Compiles a driver module into its own directory; returns (driver_dir, module name)."""
    driver_dir = os.path.join(bench.tmp, "driver_" + name)
    os.makedirs(driver_dir, exist_ok=True)
    src = os.path.join(bench.tmp, name + ".py")
    with open(src, "w") as f:
        f.write(source)
    proc = subprocess.run([tool("mpy-cross"), "-s", name + ".py", "-o", os.path.join(driver_dir, name + ".mpy"), src],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError("mpy-cross %s failed:\n%s" % (name, proc.stderr))
    return driver_dir, name


def smallest_heap(ok, lo, hi, check_above=(16, 32, 64, 128, 256, 512, 1024, 2048)):
    """Smallest n in (lo, hi] with ok(n), by bisection, then checked at n + check_above:
    a failure there (the heap's layout can make success non-monotonic near the edge)
    moves the search above it. Returns (n, runs) or (None, runs) if ok(hi) fails."""
    runs = 0
    if not ok(hi):
        return None, 1
    runs += 1
    while True:
        a, b = lo, hi  # ok(a) unknown or false, ok(b) true
        while b - a > 1:
            mid = (a + b) // 2
            runs += 1
            if ok(mid):
                b = mid
            else:
                a = mid
        bad = None
        for step in check_above:
            if b + step >= hi:
                break
            runs += 1
            if not ok(b + step):
                bad = b + step
        if bad is None:
            return b, runs
        lo = bad


# -- the smallest heap of one notify, over several layouts ------------------------------------
# Each imported .mpy interns its full path, so the smallest heap for a notify moves with the
# length of the folder the firmware runs from (a block that no longer fits, a name table
# allocated a little earlier or later): the same code measured 80.2 or 83.5 KB. A notify's
# figure is the median over LAYOUTS, the compiled firmware copied to folders whose names
# differ in length; the first layout's bisection runs over the whole range, the others in
# a bracket of HEAP_BRACKET bytes either side of its result (widened when it misses).
LAYOUTS = ("a", "layout-" + "b" * 17, "layout-" + "c" * 41)
HEAP_BRACKET = 8 * 1024
HEAP_RANGE = (2048, 512 * 1024)


def layout_firmware(bench, index):
    """The compiled firmware (app.mpy, lib/mpaws/...) copied into layout index's folder;
    returns the copy's root (the device's /, with lib/ in it)."""
    root = os.path.join(bench.tmp, LAYOUTS[index], "mpy")
    if not os.path.isdir(root):
        shutil.copytree(os.path.dirname(_mpy_lib(bench)), root)
    return root


def compile_modules(folder, modules):
    """Compiles {module: source} into folder as module.mpy (nothing is compiled in the heap
    being measured); the sources are kept beside, as module.py.src."""
    os.makedirs(folder, exist_ok=True)
    for module, source in modules.items():
        src = os.path.join(folder, module + ".py.src")
        with open(src, "w") as f:
            f.write(source)
        proc = subprocess.run([tool("mpy-cross"), "-s", module + ".py", "-o", os.path.join(folder, module + ".mpy"),
                               src], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError("mpy-cross %s failed:\n%s" % (module, proc.stderr))


def run_in_layout(folder, firmware, args, heapsize=None, timeout=60):
    """micropython args in folder (a case's config and probes), the firmware copy beside;
    each run starts with no outbox (a run cut short by MemoryError leaves one)."""
    for name in os.listdir(folder):
        if name.startswith("outbox"):
            os.remove(os.path.join(folder, name))
    # MICROPYPATH replaces the default path, .frozen (where ssl lives) included.
    path = ".frozen:%s:%s:%s" % (folder, firmware, os.path.join(firmware, "lib"))
    return run_micropython(args, heapsize=heapsize, env={"MICROPYPATH": path}, cwd=folder, timeout=timeout)


def notify_heap(bench, case, modules, probe="notify_probe"):
    """The smallest `-X heapsize=N` in which `micropython -m probe` prints "ok" last, in each
    layout. modules(folder) -> {module: source}: the case's config and probe, written for a
    folder (its outbox goes there). Returns {"median", "layouts": [{"path_chars", "value"}],
    "runs"}; raises BenchError when a layout fails even in the largest heap."""
    values, layouts, runs = [], [], 0
    lo, hi = HEAP_RANGE
    for index in range(len(LAYOUTS)):
        firmware = layout_firmware(bench, index)
        folder = os.path.join(os.path.dirname(firmware), case)
        compile_modules(folder, modules(folder))

        def ok(heapsize, folder=folder, firmware=firmware):
            proc = run_in_layout(folder, firmware, ["-m", probe], heapsize=heapsize, timeout=30)
            lines = proc.stdout.strip().splitlines()
            return proc.returncode == 0 and bool(lines) and lines[-1] == "ok"

        if values:  # a bracket around the first layout's figure
            lo, hi = max(HEAP_RANGE[0], values[0] - HEAP_BRACKET), values[0] + HEAP_BRACKET
            runs += 1
            if ok(lo):
                lo = HEAP_RANGE[0]
        value, n = smallest_heap(ok, lo, hi)
        runs += n
        if value is None and hi < HEAP_RANGE[1]:  # not even at the bracket's top: above it
            value, n = smallest_heap(ok, hi, HEAP_RANGE[1])
            runs += n
        if value is None:
            proc = run_in_layout(folder, firmware, ["-m", probe], heapsize=HEAP_RANGE[1])
            raise BenchError("%s fails even with heapsize=%d:\n%s%s" % (case, HEAP_RANGE[1], proc.stdout[-2000:],
                                                                         proc.stderr[-2000:]))
        values.append(value)
        layouts.append({"path_chars": len(folder), "value": value})
    return {"median": sorted(values)[len(values) // 2], "layouts": layouts, "runs": runs}


def add_notify_heap(bench, group, key, name, figure, target=("<=", 64 * 1024), note=None):
    """Adds a notify_heap() figure: its median, with each layout's value kept in the JSON."""
    per_layout = ", ".join("%d" % layout["value"] for layout in figure["layouts"])
    text = "median of %d layouts (folder names of different lengths: %s); bisection, %d runs" % (
        len(figure["layouts"]), per_layout, figure["runs"])
    entry = bench.add(group, key, name, figure["median"], "bytes", target, note="%s; %s" % (note, text) if note else text)
    entry["layouts"] = figure["layouts"]
    return entry


def heap_figures(bench):
    lib = _mpy_lib(bench)
    expected = bench.once("reference_signature", reference_signature)
    fields = dict(SEED)
    signer_dir, signer_mod = _heap_probe(bench, "heap_signer", _HEAP_DRIVER_SIGNER % fields)
    startup_dir, startup_mod = _heap_probe(bench, "heap_startup", _HEAP_DRIVER_STARTUP)

    def prober(driver_dir, module, want, path):
        def ok(heapsize):
            # cwd is the driver's directory (sys.path[0] is ''); MICROPYPATH is the only
            # other entry: the .mpy tree, or an empty directory for the start-up probe.
            proc = run_micropython(["-m", module], heapsize=heapsize, env={"MICROPYPATH": path},
                                   cwd=driver_dir, timeout=30)
            return proc.returncode == 0 and proc.stdout.strip() == want

        return ok

    empty = os.path.join(bench.tmp, "empty")
    os.makedirs(empty, exist_ok=True)
    lo, hi = 512, 256 * 1024
    startup, startup_runs = smallest_heap(prober(startup_dir, startup_mod, "ok", empty), lo, hi)
    signer, signer_runs = smallest_heap(prober(signer_dir, signer_mod, expected, lib), lo, hi)
    if signer is None:
        raise BenchError("signing the seed request from .mpy fails even with heapsize=%d" % hi)
    return {"startup": startup, "signer": signer, "runs": startup_runs + signer_runs}


# -- the groups ---------------------------------------------------------------------------


def group_sigv4_cpython(bench):
    g = "sigv4_cpython"
    us = bench.once("cpython_us", cpython_us)
    cached, n, rounds = us["mpaws_cached"]
    cold, boto = us["mpaws_cold"][0], us["botocore"][0]
    bench.add(g, "mpaws_cached_us", "mpaws sign, cached key", cached, "us",
              note="same Signer, same day; median of %d rounds of %d" % (rounds, n))
    bench.add(g, "mpaws_cold_us", "mpaws sign, cold key (new Signer)", cold, "us",
              note="Signer() + sign: the key is derived every time")
    bench.add(g, "mpaws_cold_date_us", "mpaws sign, cold key (day change)", us["mpaws_cold_date"][0], "us",
              note="same Signer, the day alternates")
    bench.add(g, "mpaws_changed_us", "mpaws sign, new time + Content-Length", us["mpaws_changed"][0], "us",
              note="same Signer and day; time, body and Content-Length alternate (a device's next message)")
    bench.add(g, "botocore_us", "botocore SigV4Auth.add_auth", boto, "us",
              note="a fresh AWSRequest per call, built outside the timed loop; clock frozen")
    bench.add(g, "botocore_request_us", "botocore AWSRequest construction", us["botocore_request"][0], "us",
              note="not in the add_auth figure")
    bench.add(g, "botocore_over_mpaws_cached", "botocore / mpaws cached", boto / cached, "x", (">=", 7.0))
    bench.add(g, "botocore_over_mpaws_cold", "botocore / mpaws cold (new Signer)", boto / cold, "x",
              note="botocore derives the signing key on every call")


def group_sigv4_micropython(bench):
    g = "sigv4_micropython"
    fig = bench.once("micropython", micropython_figures)
    boto = bench.once("cpython_us", cpython_us)["botocore"][0]
    us, alloc = fig["us"], fig["bytes"]
    bench.add(g, "cached_us", "micropython sign, cached key", us["cached"], "us",
              note="signer from .mpy, heap %d KB (an ESP32's); ticks_us, median of %d runs of %d"
              % (DEVICE_HEAP // 1024, fig["repeats"], fig["iterations"]["cached"]))
    default_heap = bench.once("micropython_default_heap", lambda b: micropython_figures(b, None))
    bench.add(g, "cached_us_default_heap", "micropython sign, cached key, 2 MB heap", default_heap["us"]["cached"],
              "us", note="the unix port's default heap: more GC sweeping per allocated byte")
    bench.add(g, "cold_us", "micropython sign, cold key (new Signer)", us["cold"], "us")
    bench.add(g, "cold_date_us", "micropython sign, cold key (day change)", us["cold_date"], "us")
    bench.add(g, "changed_us", "micropython sign, new time + Content-Length", us["changed"], "us",
              note="same Signer and day; time, body and Content-Length alternate (a device's next message)")
    bench.add(g, "botocore_over_cached", "botocore(CPython) / micropython cached", boto / us["cached"], "x",
              (">=", 1.0), note=">= 1: MicroPython no slower than botocore on CPython")
    bench.add(g, "botocore_over_cold", "botocore(CPython) / micropython cold", boto / us["cold"], "x", (">=", 1.0))
    bench.add(g, "cached_alloc", "micropython alloc per sign, cached key", alloc["cached"], "bytes", ("<=", 1500),
              note="gc.mem_alloc() delta with the GC off; median of %d; unix port (64-bit)" % fig["repeats"])
    bench.add(g, "cold_alloc", "micropython alloc per sign, cold (new Signer)", alloc["cold"], "bytes")
    bench.add(g, "cold_date_alloc", "micropython alloc per sign, cold (day change)", alloc["cold_date"], "bytes")
    bench.add(g, "changed_alloc", "micropython alloc per sign, new time + Content-Length", alloc["changed"],
              "bytes")


def group_sigv4_heap(bench):
    g = "sigv4_heap"
    fig = bench.once("heap", heap_figures)
    if fig["startup"] is not None:
        bench.add(g, "startup_heap", "min heapsize, interpreter start only", fig["startup"], "bytes",
                  note="micropython -X heapsize=N -m <a .mpy printing ok>")
    bench.add(g, "sign_heap", "min heapsize, import sigv4 .mpy + sign", fig["signer"], "bytes", ("<=", 8192),
              note="unix port (64-bit objects); bisection, %d runs" % fig["runs"])
    if fig["startup"] is not None:
        bench.add(g, "sign_heap_over_startup", "  of which the signer (difference)", fig["signer"] - fig["startup"],
                  "bytes")


def group_mpy_size(bench):
    g = "mpy_size"
    compiled, errors = bench.once("mpy", compile_firmware)
    bench.add(g, "lib/mpaws/sigv4.mpy", "lib/mpaws/sigv4.mpy", os.path.getsize(compiled[SIGV4_REL]), "bytes",
              ("<=", 3072), note="the device core; mpy-cross %s -s %s, as make build" % (" ".join(MPY_FLAGS), SIGV4_REL))
    total = 0
    for rel in sorted(compiled):
        size = os.path.getsize(compiled[rel])
        total += size
        if rel != SIGV4_REL:
            mpy = rel[:-3] + ".mpy"
            source = rel in ("boot.py", "main.py")
            bench.add(g, mpy, mpy, size, "bytes", note="ships as .py source" if source else None)
    bench.add(g, "total", "total .mpy, every firmware/*.py", total, "bytes",
              note="%d modules%s" % (len(compiled), "; %d did not compile" % len(errors) if errors else ""))
    if errors:
        raise BenchError("mpy-cross failed on %s" % "; ".join("%s: %s" % item for item in sorted(errors.items())))


GROUPS = [
    ("sigv4_cpython", group_sigv4_cpython),
    ("sigv4_micropython", group_sigv4_micropython),
    ("sigv4_heap", group_sigv4_heap),
    ("mpy_size", group_mpy_size),
    ("notify", group_notify),
    ("demo", group_demo),
    ("cert", group_cert),
    ("device_app", lambda bench: bench_device.make_group(_mpy_lib, run_micropython)(bench)),
    ("esp32_memory", lambda bench: bench_esp32.make_group(_mpy_lib, run_micropython)(bench)),
    ("apigateway", group_apigateway),
    ("faults", group_faults),
]


# -- report -------------------------------------------------------------------------------


def _fmt(value):
    if isinstance(value, float):
        if abs(value) >= 100:
            return "%.0f" % value
        if abs(value) >= 10:
            return "%.1f" % value
        return "%.2f" % value
    return str(value)


def print_table(results, out=sys.stdout):
    rows = [("group", "name", "value", "unit", "target", "met?")]
    for r in results:
        target = "" if r["target"] is None else "%s %s" % (r["target"]["op"], _fmt(r["target"]["value"]))
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        rows.append((r["group"], r["name"], _fmt(r["value"]), r["unit"], target, met))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    align = ["<", "<", ">", "<", "<", "<"]
    for k, row in enumerate(rows):
        out.write("  ".join("%-*s" % (widths[i], c) if align[i] == "<" else "%*s" % (widths[i], c)
                            for i, c in enumerate(row)).rstrip() + "\n")
        if k == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def _version_of(cmd):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (proc.stdout or proc.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment():
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import botocore

        env["botocore"] = botocore.__version__
    except ImportError:
        env["botocore"] = None
    try:
        env["micropython"] = _version_of([tool("micropython"), "-c", "import sys; print(sys.version, "
                                          "'.'.join([str(v) for v in sys.implementation.version]))"])
        env["mpy_cross"] = _version_of([tool("mpy-cross"), "--version"])
    except BenchError:
        pass
    commit = _version_of(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = _version_of(["git", "-C", REPO, "status", "--porcelain", "--", "firmware", "tools"])
    if commit:
        env["git_commit"] = commit + ("+dirty" if dirty else "")
    return env


def main(argv):
    parser = argparse.ArgumentParser(description="mpaws benchmarks", add_help=True)
    parser.add_argument("--only", help="comma-separated groups to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats: a smoke test, not figures to quote")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results (default: bench/latest.json)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    args = parser.parse_args(argv)
    names = [name for name, _ in GROUPS]
    if args.list:
        print("\n".join(names))
        return 0
    chosen = names if not args.only else [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [c for c in chosen if c not in names]
    if unknown:
        parser.error("unknown group(s): %s (groups: %s)" % (", ".join(unknown), ", ".join(names)))

    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="mpaws-bench-")
    bench = Bench(quick=args.quick, tmp=tmp)
    bench.environment = environment()
    failed = []
    try:
        for name, run in GROUPS:
            if name not in chosen:
                continue
            t0 = time.perf_counter()
            try:
                run(bench)
            except BenchError as e:
                failed.append(name)
                sys.stderr.write("bench %s: FAILED: %s\n" % (name, e))
            sys.stderr.write("bench %s: %.1f s\n" % (name, time.perf_counter() - t0))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.perf_counter() - started
    bench.environment["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    print_table(bench.results)
    missed = [r for r in bench.results if r["met"] is False]
    print("\n%d figures, %d with a target, %d missed; %.1f s%s; load average %.2f at start, %.2f at end (%s CPUs)"
          % (len(bench.results), sum(r["met"] is not None for r in bench.results), len(missed), elapsed,
             " (--quick)" if args.quick else "", bench.environment["loadavg_start"][0],
             bench.environment["loadavg_end"][0], bench.environment["cpus"]))

    report = {
        "schema": SCHEMA,
        "environment": bench.environment,
        "seed_request": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in SEED.items()},
        "reference_signature": bench._memo.get("reference_signature"),
        "quick": args.quick,
        "groups_run": [n for n in names if n in chosen],
        "groups_failed": failed,
        "elapsed_s": round(elapsed, 1),
        "results": bench.results,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print("wrote %s" % os.path.relpath(args.json, os.getcwd()))
    if failed:
        return 2
    if args.strict and missed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
