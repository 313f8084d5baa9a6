"""The `device_app` group of `make bench`: what the device application (main.py's loop:
mpaws.device, app, outbox, wifi, button, board) costs in RAM under the MicroPython unix
port, on the simulated board of host_tests/sim.

    python tools/bench/bench.py --only device_app

Figures (from the .mpy firmware, as `make build` compiles it; 64-bit unix port, so about
1.5-2 times what the 32-bit ESP32 needs):
  library_heap   gc.mem_alloc() after importing the client library (client, awslambda,
                 settings, clock, errors, http, sigv4)
  app_heap       what importing app and mpaws.device adds on top (code and module state)
  idle_alloc     bytes allocated per turn of the main loop with nothing to do (WiFi up,
                 clock set, outbox empty, button idle; GC off while counting): the loop
                 should allocate nothing
  press_alloc    bytes allocated by one button press recognised and written to the
                 outbox (no sending: the WiFi is kept down)
"""
import json
import os
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
SIM = os.path.join(REPO, "host_tests", "sim")
TURNS = 500

_CONFIG = """\
CONFIG_AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
CONFIG_AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONFIG_AWS_REGION = "us-east-1"
CONFIG_AWS_LAMBDA_FUNCTION = "notify"
CONFIG_AWS_SNS_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:topic"
CONFIG_WIFI_SSID = "lab"
CONFIG_WIFI_PASSWORD = "password"
CONFIG_BUTTON_PIN = 0
CONFIG_LED_PIN = 2
CONFIG_BUTTON_MIN_INTERVAL_S = 0
"""

_PROBE = """\
import gc, json, sys
sys.path[:] = [%(sim)r, %(config)r, %(root)r, %(root)r + "/lib", ".frozen"]
import simboard, machine, network, ntptime, esp32
world = simboard.world
gc.collect(); start = gc.mem_alloc()
from mpaws import client, awslambda, settings, clock, errors, http, sigv4
gc.collect(); library = gc.mem_alloc()
import app
from mpaws import device
gc.collect(); application = gc.mem_alloc()
app.log = lambda message: None
d = device.Device(app, simboard.clock)

def turns(n):
    for _ in range(n):
        d.step()
        world.advance(device.LOOP_MS)

turns(100)  # connected, clock set, nothing to send
gc.collect(); gc.disable()
before = gc.mem_alloc()
turns(%(turns)d)
idle = (gc.mem_alloc() - before) / %(turns)d
gc.enable()
world.apply((0, "wifi", False))  # the link drops (not just the flag): the press stays in the outbox
turns(50)  # the loss noticed, the first reconnect failed; the next is 2 s away
gc.collect(); gc.disable()
before = gc.mem_alloc()
world.set_pin(0, 0)
turns(10)
world.set_pin(0, 1)
turns(10)
press = gc.mem_alloc() - before - 20 * idle
gc.enable()
print(json.dumps({"library": library - start, "app": application - library, "idle": idle, "press": press,
                  "queued": len(app.outbox())}))
"""


def json_probe(bench, name, config, probe_text, run_micropython, timeout=60):
    """Writes config (as config.py) and the probe probe_text(folder) makes into a new folder
    under bench.tmp; returns run(*args): the probe's last output line, parsed as JSON (a
    RuntimeError with its output when it fails; name says which probe)."""
    work = tempfile.mkdtemp(prefix="bench_%s_" % name, dir=bench.tmp)
    with open(os.path.join(work, "config.py"), "w") as f:
        f.write(config)
    probe = os.path.join(work, "probe.py")
    with open(probe, "w") as f:
        f.write(probe_text(work))

    def run(*args):
        proc = run_micropython([probe] + list(args), cwd=work, timeout=timeout)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise RuntimeError("the %s probe failed (exit %d):\n%s%s" % (name, proc.returncode, proc.stdout[-2000:],
                                                                         proc.stderr[-2000:]))
        return json.loads(lines[-1])

    return run


def device_figures(bench, root, run_micropython):
    """Runs the probe on the compiled firmware tree `root` (app.mpy, lib/mpaws/...)."""
    run = json_probe(bench, "device", _CONFIG,
                     lambda work: _PROBE % {"sim": SIM, "config": work, "root": root, "turns": TURNS},
                     run_micropython, timeout=120)
    figures = run()
    if figures["queued"] != 1:
        raise RuntimeError("the device probe's press was not queued: %r" % figures)
    return figures


def make_group(mpy_lib, run_micropython):
    """The group function for bench.py's GROUPS (its helpers passed in, to avoid a cycle)."""

    def group_device_app(bench):
        g = "device_app"
        fig = device_figures(bench, os.path.dirname(mpy_lib(bench)), run_micropython)
        bench.add(g, "library_heap", "heap after importing the client library", fig["library"], "bytes",
                  note="gc.mem_alloc(), .mpy, unix port (64-bit)")
        bench.add(g, "app_heap", "  + app and the device loop", fig["app"], "bytes",
                  note="app, device, outbox, wifi, button, board")
        bench.add(g, "idle_alloc", "alloc per idle loop turn", fig["idle"], "bytes", ("<=", 0),
                  note="mean of %d turns, GC off" % TURNS)
        bench.add(g, "press_alloc", "alloc per button press into the outbox", fig["press"], "bytes",
                  note="debounce, rate limit, outbox file rewrite; no sending")

    return group_device_app
