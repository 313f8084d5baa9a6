"""Runs the device firmware against a server and reports what happened, one JSON line per
step. The same script runs under MicroPython (the unix port) and CPython.

    micropython device_driver.py CONFIG_DIR FIRMWARE_DIR STEPS_FILE [SIM_DIR]

CONFIG_DIR holds the config.py written for the test; FIRMWARE_DIR is firmware/ (app.py),
with the mpaws package in FIRMWARE_DIR/lib. STEPS_FILE is a JSON list of steps, each a
dict with "op" and its arguments (see STEPS below). Every step prints one line
`RESULT {...}`: {"ok": true, ...} or {"error": "ClassName", "message": ..., ...}.
Anything else on stdout is the firmware's own log. With SIM_DIR (host_tests/sim), the
simulated board modules come first on sys.path and its steps (board_steps.py) are added.
"""
import gc
import sys

_CPYTHON = sys.implementation.name != "micropython"


def _set_path(config_dir, firmware, sim=None):
    # The driver's own folder (sys.path's first entry when it started) comes last:
    # service_steps is loaded from it.
    paths = ([sim] if sim else []) + [config_dir, firmware, firmware + "/lib"]
    if _CPYTHON:
        here = sys.path[0]
        sys.path[:] = paths + [p for p in sys.path if p != here] + [here]
    else:  # .frozen: ssl, and the rest of the frozen stdlib; MICROPYPATH's folders (the driver's .mpy)
        sys.path[:] = paths + [".frozen"] + [p for p in sys.path if p not in ("", ".frozen")]


def _text(data):
    if data is None:
        return None
    try:
        return bytes(data).decode()
    except UnicodeError:
        return repr(bytes(data))


def _classes(e):
    # The exception's class and its bases, up to Exception, for checks like isinstance.
    names = []
    cls = type(e)
    while cls is not None and cls is not object:
        names.append(cls.__name__)
        bases = getattr(cls, "__bases__", ())
        cls = bases[0] if bases else None
    return names


def _error(e):
    out = {"error": type(e).__name__, "message": str(e), "classes": _classes(e)}
    for name in ("status", "code", "kind", "retryable", "error_type", "error_message"):
        value = getattr(e, name, None)
        if value is not None:
            out[name] = value
    if hasattr(e, "payload"):
        out["payload"] = _text(e.payload)
    if getattr(e, "log_tail", None) is not None:
        out["log_tail"] = e.log_tail
    return out


_last = {}  # "client": the Client the last step used


def _client_stats(out):
    from mpaws import clock

    out["offset"] = clock.offset
    c = _last.get("client")
    if c is not None:
        out["attempts"] = c.attempts
        out["handshakes"] = c.connection.handshakes
    creds = getattr(sys.modules.get("app"), "_temporary", None)  # certificate auth
    if creds is not None:
        out["credentials_fetches"] = creds.fetches
        out["credentials_handshakes"] = creds.handshakes
        out["credentials_bytes"] = [creds.bytes_sent, creds.bytes_received]
    return out


def _app_client():
    # The app's client: Lambda's, or SNS's in direct-SNS mode.
    import app

    c = _last["client"] = app._client()
    return c


def _result(result):
    return {"ok": True, "status": result.status, "payload": _text(result.payload),
            "executed_version": result.executed_version, "log_tail": result.log_tail,
            "request_id": result.request_id}


def op_tune(step):
    """Client knobs of the app's client (fast retries for the tests)."""
    c = _app_client()
    for name in ("base_delay_ms", "max_delay_ms", "max_attempts", "budget_ms"):
        if name in step:
            setattr(c, name, step[name])
    return {"ok": True}


def op_notify(step):
    import app

    try:
        result = app.notify(step["subject"], step["body"])
    finally:  # the client notify made (or had), for the stats; not made here: with certificate auth that
        # fetches credentials, which is notify's to do and to report
        c = app._lambda or app._sns or app._api
        if c is not None:
            _last["client"] = c
    if isinstance(result, str) or result is None:  # direct SNS: the MessageId
        return {"ok": True, "message_id": result}
    if hasattr(result, "body"):  # API Gateway: the route's reply
        return {"ok": True, "status": result.status, "payload": _text(result.body),
                "request_id": result.header("x-amzn-requestid") or result.header("apigw-requestid")}
    return _result(result)


def op_app(step):
    """The app's calls whose result the step reports as it is: one function for them all,
    not one each (each function takes heap that the firmware is measured in)."""
    import app

    op = step["op"]
    if op == "queue":
        return {"ok": True, "id": app.queue(step["subject"], step["body"])}
    if op == "flush":
        return {"ok": True, "sent": app.flush()}
    if op == "status":
        return dict(app.status(), ok=True)
    if op == "outbox":
        return {"ok": True, "outbox": [list(m) for m in app.outbox().messages()]}
    return {"ok": True, "last_error": app.last_error}


STEPS = {
    "queue": op_app,
    "flush": op_app,
    "status": op_app,
    "outbox": op_app,
    "last_error": op_app,
    "tune": op_tune,
    "notify": op_notify,
}  # and those of service_steps (sleep, reset, modules, ...), loaded for the first of them


def _ms():
    import time

    return int(time.monotonic() * 1000) if _CPYTHON else time.ticks_ms()


def _since(started):
    # Milliseconds a step took (each result's "elapsed_ms").
    import time

    return _ms() - started if _CPYTHON else time.ticks_diff(time.ticks_ms(), started)


def _impose_shapes(config_dir):
    # Older MicroPython API shapes a test imposes (host_tests/compat/): each compat_*.py
    # next to config.py, imported before the firmware.
    import os

    for name in sorted(os.listdir(config_dir)):
        if name.startswith("compat_") and name.endswith(".py"):
            __import__(name[:-3])


def main(argv):
    import json

    config_dir, firmware, steps_file = argv[1], argv[2], argv[3]
    sim = argv[4] if len(argv) > 4 else None
    _set_path(config_dir, firmware, sim)
    _impose_shapes(config_dir)
    if sim:
        import board_steps

        STEPS.update(board_steps.STEPS)
    with open(steps_file) as f:
        steps = json.loads(f.read())
    for step in steps:
        _last.clear()
        started = _ms()
        try:
            op = STEPS.get(step["op"])
            if op is None:  # a step of service_steps: its code is loaded for the first one
                import service_steps

                service_steps.use(_last, _result, _text)
                STEPS.update(service_steps.STEPS)
                op = STEPS[step["op"]]
            out = op(step)
        except Exception as e:  # every failure is reported, the next step still runs
            gc.collect()  # the failed step's garbage first: a small heap must still hold the report
            out = _error(e)
        out["elapsed_ms"] = _since(started)
        if "mpaws.clock" in sys.modules:
            _client_stats(out)
        out["op"] = step["op"]
        # Written as it is encoded, not joined into one string first: a small heap.
        sys.stdout.write("RESULT ")
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")


main(sys.argv)
