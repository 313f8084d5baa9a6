"""Driver steps (see host_tests/drivers/device_driver.py) that run the device application
on the simulated board. Loaded by the driver when the sim directory is on sys.path.

    {"op": "board", "events": [...], "run_ms": 60000, "wake": "ext0" | "timer",
     "pins": {gpio: level}, "temperature": 20.0, "adc": {gpio: microvolts},
     "client": {"max_attempts": 1, "base_delay_ms": 5}}

runs one boot of main.py's device.main(app) on virtual time until run_ms, a reset, a
deep sleep or a Ctrl-C, and reports what the board did: {"outcome": "end" | "reset" |
"deepsleep" | "interrupted" (a Ctrl-C: the REPL) | "returned", "cause", "sleep_ms",
"time_ms", "ntp": [[t, host, answered]], "feeds", "wdt_timeout" (None: no watchdog
started), "connects", "ext0", "led", "outbox": [[id, subject, body]], "last_error"}.

{"op": "repl_idle", "ms": 200000} then lets the REPL sit for ms after an interrupted
board step: {"outcome": "end" or "reset", "cause": "watchdog" when the watchdog that was
started before the Ctrl-C restarted the board, "time_ms"}.

The REPL's functions as steps: queue, flush, status, outbox (notify is the driver's),
with `world` to set the scene for them: {"op": "world", "wifi_up": false, "connect_ms":
300, "wifi_fail": [count, status], "ntp_fail": [hosts], "unset_clock": true} (the WiFi is
down at first, as after a soft reset; unset_clock: the clock at its power-on value, year
2000) reports {"connects", "ntp", "link", "time_ms"}.
"""
import os

import app  # the firmware's app.py: the driver has put it on sys.path
import simboard
from simboard import world

app.ticks = simboard.clock  # what the REPL's calls wait on (WiFi on demand) runs on virtual time


def _outcome(out, run):
    try:
        run()
        out["outcome"] = "returned"
    except simboard.EndOfRun:
        out["outcome"] = "end"
        try:
            os.remove(simboard.STATE_FILE)  # the end of a run is a power cut: RTC memory is lost
        except OSError:
            pass
    except simboard.Reset as e:
        out["outcome"] = "reset"
        out["cause"] = e.cause
    except simboard.DeepSleep as e:
        out["outcome"] = "deepsleep"
        out["sleep_ms"] = e.ms
    except KeyboardInterrupt:  # main.py stopped: the REPL (on the board: what mpremote talks to)
        out["outcome"] = "interrupted"


def op_board(step):
    from mpaws import device

    world.boot(step.get("wake"))
    for gpio, level in step.get("pins", {}).items():
        world.pins[int(gpio)] = level
    for gpio, uv in step.get("adc", {}).items():
        world.adc_uv[int(gpio)] = uv
    world.temperature = step.get("temperature", world.temperature)
    world.wifi_up = step.get("wifi_up", True)
    world.connect_ms = step.get("connect_ms", world.connect_ms)
    world.schedule(step.get("events", []))
    world.advance(0)  # what is scripted at time 0 is there from the start
    world.end_ms = step.get("run_ms", 10000)
    knobs = step.get("client")
    if knobs:
        c = app._client()
        for name, value in knobs.items():
            setattr(c, name, value)
    out = {"ok": True}
    _outcome(out, lambda: device.main(app, simboard.clock))
    world.end_ms = None  # the scripted run is over: what the next steps do (the REPL's) is not cut
    out.update({
        "time_ms": world.now, "ntp": world.ntp_calls, "feeds": world.feeds, "wdt_timeout": world.wdt_timeout,
        "connects": world.connects, "ext0": world.ext0, "led": world.led, "last_error": app.last_error,
        "reset_cause": world.reset_cause, "wake_reason": world.wake_reason,
    })
    try:
        out["outbox"] = [list(m) for m in app.outbox().messages()]
    except Exception as e:  # a bad config.py: no outbox
        out["outbox"] = None
        out["outbox_error"] = str(e)
    return out


STEPS = {"board": op_board}


def op_repl_idle(step):
    """The REPL waits (main.py stopped): only a watchdog left running can restart the board."""
    world.end_ms = None
    out = {"ok": True, "outcome": "end"}
    try:
        world.advance(step["ms"])
    except simboard.Reset as e:
        out["outcome"] = "reset"
        out["cause"] = e.cause
    out["time_ms"] = world.now
    return out


STEPS["repl_idle"] = op_repl_idle


def op_queue(step):
    return {"ok": True, "id": app.queue(step["subject"], step["body"])}


def op_flush(step):
    return {"ok": True, "sent": app.flush()}


def op_status(step):
    return dict(app.status(), ok=True)


def op_outbox(step):
    return {"ok": True, "outbox": [list(m) for m in app.outbox().messages()]}


def op_world(step):
    import time

    from mpaws import clock

    world.wifi_up = step.get("wifi_up", world.wifi_up)
    world.connect_ms = step.get("connect_ms", world.connect_ms)
    world.ntp_fail = step.get("ntp_fail", world.ntp_fail)
    world.idf_heap = step.get("idf_heap", world.idf_heap)
    if "wifi_fail" in step:  # [count, status]: the next `count` connects fail so
        world.wifi_fail, world.wifi_fail_status = step["wifi_fail"]
    if step.get("unset_clock"):
        clock.offset = 946684800 - int(time.time())  # 2000-01-01 (both host runtimes count from 1970)
    return {"ok": True, "connects": world.connects, "ntp": world.ntp_calls, "link": world.link, "time_ms": world.now}


STEPS.update({"queue": op_queue, "flush": op_flush, "status": op_status, "outbox": op_outbox, "world": op_world})
