"""A guard on what one notify leaves in the device's heap, so that a new feature cannot push
it back over the edge unnoticed: the .mpy build (as `make build` compiles it) under the
MicroPython unix port imports app and sends one notify to the local test server
(host_tests/aws_server.py, Lambda mode, the test CA), then

- the interned names (qstrs) that the import and the notify added: they are never freed, and
  their tables double (py/qstr.c): past a table's end, MicroPython allocates the next one, 7 KB
  at about 620 names, in the middle of whatever runs then (in the past, just before the
  3 KB SSL context, which then found no block: +24 KB of heap for one notify);
- the heap still held after gc.collect() (the modules' code, the names, the settings, the
  client and its TLS connection, the outbox);
- and the notify must succeed in a heap of NOTIFY_HEAP_BUDGET, its message kept in the
  outbox while it is sent (not sent without a copy for want of heap).

`make bench` measures the same (notify group: heap_held_by_imports, heap_held_after_notify,
names_after_notify, names_to_next_table, heap_notify over several folder layouts).
"""
import os
import shutil
import subprocess

import pytest

from aws_fixtures import aws_server, aws_server_factory  # noqa: F401
from device import Device, mpy_build

# -- the budgets ---------------------------------------------------------------------------------
# Each is the figure measured on the unix port (64-bit) plus a small margin (the names vary
# by a few from run to run where random text is interned). When a change makes the device
# leaner, lower them to the new figures plus the same margins; a change that needs more must
# say why it is worth it.
#
# Measured after a notify that succeeded was left holding only the sending code (no config
# module, no error kind but AWSError and OutOfMemory, the calendar loaded on use, the API
# URL's parsing without mpaws.apigateway, Lambda's code loaded for the reply and let go of)
# and each module's source name (mpy-cross -s, for tracebacks) was its module name, and
# sigv4 made its ASCII classes when asked for: 539 names, 51,872 bytes held (this test's
# probe, which keeps the notify's InvokeResult, and so mpaws.lambda_reply's code; 540 and
# 52,448 while sigv4 held the classes, 554 and 53,952 before the source names, 558 and
# 55,616 before that);
# one notify with its outbox copy in Lambda mode in 70,992 bytes (make bench
# heap_notify_kept, median over folder layouts; 71,248 before; a notify that may send
# without a copy 62,576, 64,912 and 65,936 before, 108,784 before the notify heap was first
# cut down). Certificate auth stays below 620 names after a notify (about 585).
RESIDENT_NAMES_BUDGET = 539 + 12  # names interned by `import app` and one notify
HELD_HEAP_BUDGET = 51872 + 1024  # bytes of gc heap held after them (gc.collect(); gc.mem_alloc())
NOTIFY_HEAP_BUDGET = 70992 + 4096  # `micropython -X heapsize=` in which one notify succeeds, its copy kept

_PROBE = """\
import gc
import micropython
gc.threshold(12288)  # the program's own setting: notify() collects more often, then puts it back
gc.collect()
start = gc.mem_alloc()
micropython.qstr_info()
import app
during = []
app_log = app.log
app.log = lambda line: during.append(gc.threshold()) or app_log(line)  # notify() logs as it sends
result = app.notify("subject", "body of message")
gc.collect()
print("HELD", result.status, gc.mem_alloc() - start)
print("KEPT", app.last_error is None)  # stored in the outbox first, taken out after: not sent without a copy
micropython.qstr_info()
print("THRESHOLD", gc.threshold(), "DURING", during)
import sys
print("LOADED", " ".join(sorted(name for name in sys.modules if name not in ("__main__", "heap_probe"))))
if gc.mem_free() > 100000:  # the large heap's run: the board's keys' check (settings_board) loads 7 KB more
    app.config().check_board()  # config.py, let go of after the notify's check, is read again
    print("BOARD", "config" in sys.modules, app.config().led_pin)
"""


@pytest.fixture(scope="module")
def mpy_firmware(mpy_cross, tmp_path_factory):
    return mpy_build(mpy_cross, tmp_path_factory.mktemp("mpy") / "firmware")


@pytest.fixture
def probe(micropython, mpy_cross, mpy_firmware, aws_server, tmp_path):  # noqa: F811
    """run(heapsize) -> the probe's CompletedProcess: the .mpy firmware, a config.py for
    aws_server (source, as on a board) and the probe (compiled: it is not measured)."""
    return _runner(micropython, mpy_cross, mpy_firmware, aws_server, tmp_path, _PROBE)


def _runner(micropython, mpy_cross, mpy_firmware, aws_server, tmp_path, probe_source):  # noqa: F811
    # Paths relative to the folder, as short as a board's (/lib/mpaws/http.mpy): each imported
    # .mpy interns its path, so that the figures do not move with the temporary folder's name.
    os.symlink(mpy_firmware, tmp_path / "fw")
    shutil.copyfile(aws_server.ca_der, tmp_path / "ca.der")
    Device("micropython", tmp_path, micropython).use_server(aws_server, CONFIG_TLS_CA="ca.der")  # outbox.txt here
    source = tmp_path / "probe_source.py"
    source.write_text(probe_source)
    subprocess.run([mpy_cross, "-s", "heap_probe.py", "-o", str(tmp_path / "heap_probe.mpy"), str(source)], check=True)
    env = dict(os.environ, MICROPYPATH=".frozen::fw:fw/lib")

    def run(heapsize):
        for name in os.listdir(tmp_path):
            if name.startswith("outbox"):
                os.remove(tmp_path / name)
        return subprocess.run([micropython, "-X", "heapsize=%d" % heapsize, "-m", "heap_probe"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)

    return run


def _names(line):
    """n_qstr of a micropython.qstr_info() line."""
    return int(line.split("n_qstr=")[1].split(",")[0])


def test_resident_names_and_held_heap_after_a_notify_stay_within_their_budgets(probe, aws_server):  # noqa: F811
    proc = probe(512 * 1024)
    lines = proc.stdout.splitlines()
    held = [line.split() for line in lines if line.startswith("HELD ")]
    pools = [line for line in lines if line.startswith("qstr pool:")]
    assert proc.returncode == 0 and held and held[0][1] == "200" and len(pools) == 2, proc.stdout + proc.stderr
    assert len(aws_server.invocations("notify")) == 1
    names = _names(pools[1]) - _names(pools[0])
    held_bytes = int(held[0][2])
    assert names <= RESIDENT_NAMES_BUDGET, (
        "importing app and one notify intern %d names, over the budget of %d: names are never freed, and past "
        "a table's end the next (twice as large) is allocated in the middle of a notify" % (names,
                                                                                       RESIDENT_NAMES_BUDGET))
    assert held_bytes <= HELD_HEAP_BUDGET, (
        "the device holds %d bytes of heap after one notify, over the budget of %d" % (held_bytes, HELD_HEAP_BUDGET))
    # While it sends, notify() collects every app._COLLECT_EVERY bytes (2 KB: this heap has
    # room); then the program's gc.threshold() is as it was.
    assert "THRESHOLD 12288 DURING [2048]" in lines, proc.stdout


_THRESHOLD_PROBE = """\
import gc
gc.threshold(12288)  # the program's own setting
import app
during = []
app_log = app.log
app.log = lambda line: during.append(gc.threshold()) or app_log(line)  # notify() logs as it sends
for subject in ("first", "second", "third"):
    app.notify(subject, "body of message")
    print("THRESHOLD", gc.threshold(), "DURING", sorted(set(during)))  # a log line or two (a copy not kept)
    during.clear()
"""


@pytest.mark.parametrize("heap_kb, first", [(72, 256), (256, 2048)], ids=["tight", "roomy"])
def test_a_session_is_set_up_collecting_more_often_in_a_tight_heap(micropython, mpy_cross, mpy_firmware,
                                                                   aws_server, tmp_path, heap_kb, first):  # noqa: F811
    """A session's first notify (its client made, its modules loaded) collects the heap
    every 256 bytes allocated when less than 64 KB is free at its start, every 2 KB in a
    heap with room; the next ones, once the session has sent, every 2 KB; after each, the
    program's own gc.threshold() is back."""
    run = _runner(micropython, mpy_cross, mpy_firmware, aws_server, tmp_path, _THRESHOLD_PROBE)
    proc = run(heap_kb * 1024)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("THRESHOLD")]
    assert proc.returncode == 0 and lines == ["THRESHOLD 12288 DURING [%d]" % first, "THRESHOLD 12288 DURING [2048]",
                                              "THRESHOLD 12288 DURING [2048]"], proc.stdout + proc.stderr
    assert len(aws_server.invocations("notify")) == 3


# What a notify that succeeded holds: the application, its client, transport, signer and
# outbox, never the code loaded for one step (the checks, the session's set-up, the outbox
# file's code, the Invoke's reply: mpaws.awslambda) nor any failure's (the error kinds, the
# reply and socket errors), nor the config module, whose values the settings hold.
HELD_MODULES = ("app mpaws mpaws.client mpaws.clock mpaws.error_base mpaws.errors mpaws.http "
                "mpaws.json_pieces mpaws.outbox mpaws.settings mpaws.sigv4 mpaws.transient")


def test_a_notify_that_succeeds_holds_only_the_sending_code(probe, aws_server):  # noqa: F811
    proc = probe(512 * 1024)
    loaded = [line[len("LOADED "):] for line in proc.stdout.splitlines() if line.startswith("LOADED ")]
    assert proc.returncode == 0 and loaded, proc.stdout + proc.stderr
    assert loaded[0] == HELD_MODULES
    # The board's keys are checked later (the device loop's start): config.py is imported again.
    assert "BOARD True None" in proc.stdout


def test_a_notify_succeeds_in_the_heap_budget(probe, aws_server):  # noqa: F811
    proc = probe(NOTIFY_HEAP_BUDGET)
    held = [line.split() for line in proc.stdout.splitlines() if line.startswith("HELD ")]
    assert proc.returncode == 0 and held and held[0][1] == "200" and "KEPT True" in proc.stdout, (
        "one notify, with its outbox copy, fails in -X heapsize=%d:\n%s%s" % (NOTIFY_HEAP_BUDGET, proc.stdout[-3000:],
                                                                              proc.stderr[-3000:]))
    assert len(aws_server.invocations("notify")) == 1


def test_the_device_loop_allocates_nothing_while_idle(micropython, mpy_firmware, tmp_path):
    """A turn of main.py's loop with nothing to do (WiFi up, clock set, outbox empty, button
    idle) allocates no heap: on a board it runs every few milliseconds for months, and every
    allocation is a step towards a collection that fragments the heap. The probe of `make
    bench` device_app, on the simulated board (host_tests/sim), from the .mpy build."""
    import sys
    import types

    bench_folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "bench")
    if bench_folder not in sys.path:
        sys.path.append(bench_folder)
    import bench_device  # pyright: ignore[reportMissingImports]  (tools/bench)

    def run(args, cwd=None, timeout=60):
        return subprocess.run([micropython] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)

    figures = bench_device.device_figures(types.SimpleNamespace(tmp=str(tmp_path)), str(mpy_firmware), run)
    assert figures["idle"] == 0, "each idle turn of the device loop allocates %s bytes" % figures["idle"]


_KEPT_PROBE = """\
import gc
import app
app.log = lambda line: None
app.notify("subject", "first")  # the session's modules and connection, once
gc.collect()
before = gc.mem_alloc()
kept = app.notify("subject", "second")
gc.collect()
print("KEPT", type(kept).__name__, gc.mem_alloc() - before)
"""


def test_a_result_the_caller_keeps_holds_only_the_replys_code(micropython, mpy_cross, mpy_firmware, aws_server,
                                                               tmp_path):  # noqa: F811
    """A notify's InvokeResult kept by its caller (the REPL's `_`, a variable) holds its
    class's module, let go of by app after the reply: mpaws.lambda_reply (1,760 bytes with
    the result, measured), not all of Lambda's code (2.3 KB more), which the next notify
    would load again beside it."""
    proc = _runner(micropython, mpy_cross, mpy_firmware, aws_server, tmp_path, _KEPT_PROBE)(256 * 1024)
    kept = [line.split() for line in proc.stdout.splitlines() if line.startswith("KEPT ")]
    assert proc.returncode == 0 and kept, proc.stdout + proc.stderr
    assert kept[0][1] == "InvokeResult" and int(kept[0][2]) < 2048, kept


_LAZY_NAMES_PROBE = """\
import micropython
from mpaws import clock, errors

clock.local_seconds, errors.NetworkError  # calendar and the error kinds loaded, their names with them
micropython.qstr_info()
clock.unix_seconds, clock.days_from_civil, errors.ProtocolError, errors.Throttled, errors.refusal
micropython.qstr_info()
"""


def test_names_forwarded_by_a_modules_getattr_intern_nothing(micropython, mpy_firmware, tmp_path):  # noqa: F811
    """clock and errors hand the calendar's functions and the error kinds over by a module
    __getattr__ (their code loads on first use). Looking at the name's first character as
    name[0] would intern it, a one-character name held for good for each one asked for."""
    probe = tmp_path / "lazy_names_probe.py"
    probe.write_text(_LAZY_NAMES_PROBE)
    proc = subprocess.run([micropython, str(probe)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH=".frozen:%s/lib" % mpy_firmware))
    counts = [_names(line) for line in proc.stdout.splitlines() if "n_qstr=" in line]
    assert proc.returncode == 0 and len(counts) == 2, proc.stdout + proc.stderr
    assert counts[0] == counts[1], counts
