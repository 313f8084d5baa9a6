"""The `esp32_memory` group of `make bench`: what `import app` takes of the gc heap, on the
MicroPython unix port (measured) and on an ESP32 (estimated from it).

    python tools/bench/bench.py --only esp32_memory

The firmware as `make build` compiles it (.mpy; on the ESP32 an imported .mpy's bytecode
is in the gc heap as here) with a minimal config.py; gc.mem_alloc() after gc.collect()
before and after `import app`, in a fresh interpreter.

The ESP32's figure is an estimate: the unix figure times ESP32_RATIO, the ratio measured
on an ESP32_GENERIC board (v1.26.1) for the same imports (35.7 KB there against 49.6 KB
on the 64-bit unix port: pointers and object headers are half the size on the 32-bit
chip, bytecode is not). Target: the library and the app leave the room of the gc heap
(about 165 KB free after boot) to the user's code: at most ESP32_TARGET.

Per module (for information): each module's own share (its code and module state, not
its imports), imported one by one in the order `import app` loads them, deepest first.
And, for information, `import app` plus the modules the first notify loads and keeps
(SENDING): the code a device holds once it has sent.
"""
import os

import bench_device

ESP32_RATIO = 0.72  # ESP32 gc heap / unix-port gc heap, for the same imports (measured, see above)
ESP32_TARGET = 28 * 1024  # bytes of the ESP32's gc heap `import app` may take
# The modules the first notify loads and keeps (their imports too: http, sigv4, json_pieces): what
# stays in the heap after it (the code let go after use, such as certs, is not in it).
SENDING = ("mpaws.outbox", "mpaws.clock", "mpaws.client")

_CONFIG = """\
CONFIG_AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
CONFIG_AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONFIG_AWS_REGION = "us-east-1"
CONFIG_AWS_LAMBDA_FUNCTION = "notify"
CONFIG_AWS_SNS_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:topic"
"""

# Run twice in fresh interpreters: "order" traces the modules `import app` loads (each
# when its import completes, so a module's imports come before it); "measure" imports
# them one by one in that order, then app, and gives each one's gc.mem_alloc() delta.
_PROBE = """\
import builtins, gc, json, sys
SENDING = %(sending)r
sys.path[:] = [%(config)r, %(root)r, %(root)r + "/lib", ".frozen"]
mode = sys.argv[1]
if mode == "order":
    order = []
    _import = builtins.__import__

    def _traced(name, *args):
        known = name in sys.modules
        module = _import(name, *args)
        if not known and name not in order:
            order.append(name)
        return module

    builtins.__import__ = _traced
    import app
    builtins.__import__ = _import
    print(json.dumps([m for m in order if m in sys.modules]))
else:
    names = sys.argv[2].split(",")
    ends = [0] * (len(names) + 1)  # made before the count starts: storing small ints allocates nothing
    gc.collect()
    start = gc.mem_alloc()
    for i in range(len(names)):
        __import__(names[i])
        gc.collect()
        ends[i] = gc.mem_alloc()
    import app
    gc.collect()
    ends[-1] = gc.mem_alloc()
    shares = [[names[i], ends[i] - (ends[i - 1] if i else start)] for i in range(len(names))]
    for name in SENDING:
        __import__(name)
    gc.collect()
    print(json.dumps({"total": ends[-1] - start, "shares": shares + [["app", ends[-1] - ends[-2]]],
                      "sending": gc.mem_alloc() - start}))
"""


def app_import_figures(bench, root, run_micropython):
    """Runs the probe on the compiled firmware tree `root` (app.mpy, lib/mpaws/...)."""
    run = bench_device.json_probe(bench, "import", _CONFIG,
                                  lambda work: _PROBE % {"config": work, "root": root, "sending": SENDING},
                                  run_micropython)

    order = [m for m in run("order") if m != "app"]
    return run("measure", ",".join(order))


def make_group(mpy_lib, run_micropython):
    """The group function for bench.py's GROUPS (its helpers passed in, to avoid a cycle)."""

    def group_esp32_memory(bench):
        g = "esp32_memory"
        fig = app_import_figures(bench, os.path.dirname(mpy_lib(bench)), run_micropython)
        total = fig["total"]
        bench.add(g, "app_import_unix", "heap taken by `import app`, unix port", total, "bytes",
                  note="gc.mem_alloc(), .mpy, 64-bit unix port; target %d on the ESP32 is %d here"
                  % (ESP32_TARGET, round(ESP32_TARGET / ESP32_RATIO)))
        bench.add(g, "app_import_esp32_estimate", "heap taken by `import app`, ESP32 (estimate)",
                  round(total * ESP32_RATIO), "bytes", ("<=", ESP32_TARGET),
                  note="ESTIMATE: unix x %.2f (the ratio measured on an ESP32_GENERIC board)" % ESP32_RATIO)
        sending = fig["sending"]
        bench.add(g, "sending_code_unix", "`import app` + what a notify loads and keeps, unix", sending, "bytes",
                  note="%s and their imports; held after the first notify" % ", ".join(SENDING))
        bench.add(g, "sending_code_esp32_estimate", "`import app` + what a notify keeps, ESP32 (estimate)",
                  round(sending * ESP32_RATIO), "bytes", note="ESTIMATE: unix x %.2f" % ESP32_RATIO)
        for name, share in fig["shares"]:
            bench.add(g, "share:" + name, "  of which " + name, share, "bytes",
                      note="unix; ESP32 estimate %d" % round(share * ESP32_RATIO))

    return group_esp32_memory
