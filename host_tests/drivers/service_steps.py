"""Driver steps (see host_tests/drivers/device_driver.py) that call the library, a service
or the config check directly, not through app.notify/queue/flush, and the steps few runs
need (sleep, wait_for_file, reset, modules): loaded by the driver for the first such step,
so that the runs that only notify (the fault suite, in a small heap) do not hold their code. The driver gives its helpers with use() before the first step.
"""
_last = _result = _text = None


def use(last, result, text):
    """The driver's dict of the last step's client, its InvokeResult report and its text()."""
    global _last, _result, _text
    _last, _result, _text = last, result, text


class _Config:
    pass


def op_invoke(step):
    import app
    from mpaws import awslambda, session

    lam = awslambda.Lambda(session.function(app))  # the library's Invoke, on the session's client
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


def _compat_report():
    # What the imposed shapes (host_tests/compat/) saw: that the firmware went through them.
    import compat

    out = {"ok": True, "imposed": compat.imposed, "tls_sockets": len(compat.wrapped)}
    out.update(compat.report)
    return out


def op_sleep(step):
    import time

    time.sleep(step["seconds"])
    return {"ok": True}


def op_wait_for_file(step):
    # Lets a test act at a known point of a run (e.g. restart the server between two
    # notifies) instead of guessing with a sleep. "signal": a file made first, telling the
    # test that the steps before this one are done.
    import os
    import time

    if "signal" in step:
        open(step["signal"], "w").close()

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


def op_modules(step):
    """Where the named modules were loaded from (their __file__)."""
    import sys

    for name in step["names"]:
        __import__(name)
    return {"ok": True, "files": dict((name, getattr(sys.modules[name], "__file__", None)) for name in step["names"])}


STEPS = {
    "invoke": op_invoke,
    "payload": op_payload,
    "settings": op_settings,
    "config": op_config,
    "sns_publish": op_sns_publish,
    "sns_check": op_sns_check,
    "iot_publish": op_iot_publish,
    "connect": op_connect,
    "compat": lambda step: _compat_report(),
    "sleep": op_sleep,
    "wait_for_file": op_wait_for_file,
    "reset": op_reset,
    "modules": op_modules,
}
