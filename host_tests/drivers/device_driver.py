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
    paths = ([sim] if sim else []) + [config_dir, firmware, firmware + "/lib"]
    if _CPYTHON:
        here = sys.path[0]
        sys.path[:] = paths + [p for p in sys.path if p != here]
    else:
        sys.path[:] = paths + [".frozen"]  # .frozen: ssl, and the rest of the frozen stdlib


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


class _Config:
    pass


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
        c = app._lambda.client if app._lambda is not None else app._sns or app._api
        if c is not None:
            _last["client"] = c
    if isinstance(result, str) or result is None:  # direct SNS: the MessageId
        return {"ok": True, "message_id": result}
    if hasattr(result, "body"):  # API Gateway: the route's reply
        return {"ok": True, "status": result.status, "payload": _text(result.body),
                "request_id": result.header("x-amzn-requestid") or result.header("apigw-requestid")}
    return _result(result)


def op_invoke(step):
    import app
    from mpaws import session

    lam = session.function(app)
    _last["client"] = lam.client
    kwargs = {}
    for name in ("qualifier", "invocation_type", "log_tail", "client_context"):
        if name in step:
            kwargs[name] = step[name]
    function = step.get("function") or app.config().function
    return _result(lam.invoke(function, step.get("payload"), **kwargs))


def op_payload(step):
    import app

    joined = bytearray()
    for piece in app.payload(step["subject"], step["body"]):  # str, and bytes-like slices
        joined.extend(piece.encode() if isinstance(piece, str) else piece)
    return {"ok": True, "payload": str(joined, "utf-8")}


def op_settings(step):
    """Loads settings from the given keys (not from config.py); returns repr and fields."""
    from mpaws import settings

    module = _Config()
    for key, value in step["config"].items():
        setattr(module, key, value)
    s = settings.load(module)
    return {"ok": True, "repr": repr(s), "host": s.host, "port": s.port, "region": s.region,
            "function": s.function, "verify_tls": s.verify_tls, "timeout": s.timeout}


def op_config(step):
    """Loads config.py through the app."""
    import app

    s = app.config()
    return {"ok": True, "repr": repr(s), "host": s.host, "port": s.port}


def op_sleep(step):
    import time

    time.sleep(step["seconds"])
    return {"ok": True}


def op_wait_for_file(step):
    # Lets a test act at a known point of a run (e.g. restart the server between two
    # notifies) instead of guessing with a sleep.
    import os
    import time

    deadline = time.time() + step.get("timeout", 60)
    while time.time() < deadline:
        try:
            os.stat(step["path"])
            return {"ok": True}
        except OSError:
            time.sleep(0.01)
    return {"ok": False, "error": "Timeout", "message": "no file " + step["path"]}


def op_reset(step):
    import app

    app.reset()
    return {"ok": True}


def _service_client(step):
    import app
    from mpaws import client

    s = app.config()
    c = client.connect(step["service"], s.region, s.access_key, s.secret_key, step.get("host", s.host),
                       step.get("port", s.port), s.session_token, step.get("ca", s.ca), s.verify_tls, s.timeout,
                       max_attempts=step.get("max_attempts", 4), log=app.log)
    c.base_delay_ms = step.get("base_delay_ms", 10)
    _last["client"] = c
    return c


def op_sns_publish(step):
    from mpaws import sns

    c = _service_client(dict(step, service="sns"))
    try:
        message_id = sns.publish(c, step["topic_arn"], step["message"], step.get("subject"),
                                 step.get("attributes"))
        return {"ok": True, "message_id": message_id}
    finally:
        c.close()


def op_sns_check(step):
    """mpaws.sns.check: whether SNS would accept the message (ValueError if not)."""
    from mpaws import sns

    sns.check(step["body"], step.get("subject"), step.get("attributes"))
    return {"ok": True}


def op_iot_publish(step):
    from mpaws import iot

    c = _service_client(dict(step, service="iotdata"))
    try:
        body = iot.publish(c, step["topic"], step["payload"], step.get("qos", 1))
        return {"ok": True, "body": _text(body)}
    finally:
        c.close()


def op_connect(step):
    """A bare client.connect + request (e.g. a Lambda Invoke with custom retry knobs)."""
    import app
    from mpaws import awslambda, client

    s = app.config()
    c = client.connect("lambda", s.region, s.access_key, s.secret_key, s.host, s.port, s.session_token, s.ca,
                       s.verify_tls, step.get("timeout", s.timeout), max_attempts=step.get("max_attempts", 1),
                       budget_ms=step.get("budget_ms", 30000), log=app.log)
    c.base_delay_ms = step.get("base_delay_ms", 10)
    _last["client"] = c
    try:
        return _result(awslambda.Lambda(c).invoke(step.get("function") or s.function, step.get("payload")))
    finally:
        c.close()


def op_queue(step):
    import app

    return {"ok": True, "id": app.queue(step["subject"], step["body"])}


def op_flush(step):
    import app

    return {"ok": True, "sent": app.flush()}


def op_status(step):
    import app

    return dict(app.status(), ok=True)


def op_outbox(step):
    import app

    return {"ok": True, "outbox": [list(m) for m in app.outbox().messages()]}


def op_last_error(step):
    import app

    return {"ok": True, "last_error": app.last_error}


def op_modules(step):
    """Where the named modules were loaded from (their __file__)."""
    for name in step["names"]:
        __import__(name)
    return {"ok": True, "files": dict((name, getattr(sys.modules[name], "__file__", None)) for name in step["names"])}


STEPS = {
    "modules": op_modules,
    "queue": op_queue,
    "flush": op_flush,
    "status": op_status,
    "outbox": op_outbox,
    "last_error": op_last_error,
    "tune": op_tune,
    "notify": op_notify,
    "invoke": op_invoke,
    "payload": op_payload,
    "settings": op_settings,
    "config": op_config,
    "reset": op_reset,
    "sleep": op_sleep,
    "wait_for_file": op_wait_for_file,
    "sns_publish": op_sns_publish,
    "sns_check": op_sns_check,
    "iot_publish": op_iot_publish,
    "connect": op_connect,
    "compat": lambda step: _compat_report(),
}


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


def _compat_report():
    # What the imposed shapes (host_tests/compat/) saw: that the firmware went through them.
    import compat

    out = {"ok": True, "imposed": compat.imposed, "tls_sockets": len(compat.wrapped)}
    out.update(compat.report)
    return out


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
            out = STEPS[step["op"]](step)
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
