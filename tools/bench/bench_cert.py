"""The `cert` group of `make bench`: certificate auth (mpaws.credentials) against static keys,
one app.notify() from the .mpy firmware under micropython, both against the same local AWS
stand-in (tools/localaws/local_aws.py with its credentials provider; moto's echo function, so that
the figures are the device's).

    python tools/bench/bench.py --only cert

Figures:
  heap        smallest `micropython -X heapsize=N` (bisection) for one notify: with a
              certificate (mutual TLS handshake with the credentials endpoint, the
              credentials reply, then the Invoke's handshake and request) and with static
              keys, the same stand-in; the difference is what certificate auth costs in
              the GC heap. mbedTLS's own buffers are outside it, as in the notify group.
              Each is the median over folders of different name lengths (tools/bench.py,
              notify_heap); target 64 KB.
  time        ms from `import app` to the first notify's reply, both ways (micropython,
              loopback; includes the extra handshake and the credentials call).
  wire        the credentials call: HTTP bytes (request, reply, as the device counts
              them) and TCP bytes up and down (TLS handshake with the client certificate
              and all, counted by a proxy in front of the endpoint).
"""
import json
import os
import sys

SUBJECT = "subject"
HEAP_TARGET = 64 * 1024  # the smallest heap for one notify (median over layouts)
BODY = "body of message"

_HEAP_PROBE = """\
import app
result = app.notify(%r, %r)
print("ok" if result.status == 200 else "status %%d" %% result.status)
""" % (SUBJECT, BODY)

_TIME_PROBE = """\
import time
started = time.ticks_ms()
import app
result = app.notify(%r, %r)
ms = time.ticks_diff(time.ticks_ms(), started)
c = app._temporary
print("CERT_JSON", ms, result.status, c.bytes_sent if c else 0, c.bytes_received if c else 0,
      c.handshakes if c else 0)
""" % (SUBJECT, BODY)


def _heap_modules(config):
    """modules(folder) for notify_heap (tools/bench.py): config.py (its outbox in folder) and
    the probes."""

    def modules(folder):
        keys = dict(config, CONFIG_OUTBOX_PATH=os.path.join(folder, "outbox.txt"), CONFIG_TIMEOUT=10)
        return {"config": "".join("%s = %r\n" % kv for kv in keys.items()), "heap_probe": _HEAP_PROBE,
                "time_probe": _TIME_PROBE}

    return modules


def _case(tools, root, name, config):
    """A folder with config.mpy and the probes compiled (nothing compiled in the measured heap)."""
    folder = os.path.join(root, name)
    tools.compile_modules(folder, _heap_modules(config)(folder))
    return folder


def _run(tools, folder, mpy, lib, module, heapsize=None):
    for name in os.listdir(folder):
        if name.startswith("outbox"):
            os.remove(os.path.join(folder, name))
    return tools.run_micropython(["-m", module], heapsize=heapsize, cwd=folder, timeout=60,
                                 env={"MICROPYPATH": ".frozen:%s:%s:%s" % (folder, mpy, lib)})


def group_cert(bench):
    g = "cert"
    tools = sys.modules[type(bench).__module__]
    from bench_notify import _CountingProxy
    from local_aws import LocalAWS

    lib = tools._mpy_lib(bench)
    mpy = os.path.dirname(lib)
    root = os.path.join(bench.tmp, "cert")
    os.makedirs(root, exist_ok=True)
    with LocalAWS(function_source=None, cert_auth=True, ca_dir=os.path.join(root, "aws")) as aws:
        proxy = _CountingProxy(aws.iot.port)
        try:
            certificate = aws.iot.issue(folder=root)
            configs = {
                "keys": aws.device_config(),
                "cert": aws.cert_device_config(certificate,
                                               CONFIG_AWS_CREDENTIALS_ENDPOINT="localhost:%d" % proxy.port),
            }
            cases = {name: _case(tools, root, name, config) for name, config in configs.items()}
            heap, timing = {}, {}
            for name, config in configs.items():
                heap[name] = tools.notify_heap(bench, "cert_" + name, _heap_modules(config), probe="heap_probe")
            for name, folder in cases.items():
                samples = []
                for _ in range(3 if bench.quick else 7):
                    proxy.reset()
                    proc = _run(tools, folder, mpy, lib, "time_probe")
                    line = [x for x in proc.stdout.splitlines() if x.startswith("CERT_JSON ")]
                    if proc.returncode != 0 or not line:
                        raise tools.BenchError("%s timing run failed:\n%s%s" % (name, proc.stdout, proc.stderr))
                    ms, status, sent, received, handshakes = (int(x) for x in line[0].split()[1:])
                    samples.append(ms)
                    timing[name] = {"sent": sent, "received": received, "handshakes": handshakes,
                                    "tcp": proxy.wait_quiet()}
                samples.sort()
                timing[name]["ms"] = samples[len(samples) // 2]
        finally:
            proxy.stop()

    note = "unix port, 64-bit, .mpy firmware; mbedTLS's buffers are outside this heap"
    tools.add_notify_heap(bench, g, "heap_notify_cert", "min heapsize, first notify, certificate auth", heap["cert"],
                          ("<=", HEAP_TARGET), note="mTLS handshake + credentials call + Invoke handshake and request; "
                          + note)
    tools.add_notify_heap(bench, g, "heap_notify_keys", "min heapsize, first notify, static keys", heap["keys"],
                          ("<=", HEAP_TARGET), note="same stand-in and firmware; " + note)
    bench.add(g, "heap_cert_extra", "  certificate auth - static keys", heap["cert"]["median"] - heap["keys"]["median"],
              "bytes", note="the difference of the two medians")
    bench.add(g, "first_notify_cert_ms", "import app to first notify's reply, certificate", timing["cert"]["ms"],
              "ms", note="micropython on loopback against moto; median of %d runs" % (3 if bench.quick else 7))
    bench.add(g, "first_notify_keys_ms", "import app to first notify's reply, static keys", timing["keys"]["ms"],
              "ms")
    cert = timing["cert"]
    bench.add(g, "credentials_http_up", "credentials call: HTTP bytes up", cert["sent"], "bytes",
              note="GET /role-aliases/<alias>/credentials with Host and x-amzn-iot-thingname")
    bench.add(g, "credentials_http_down", "credentials call: HTTP bytes down", cert["received"], "bytes",
              note="headers + JSON (moto's session token is ~360 characters; AWS's ~1 KB)")
    bench.add(g, "credentials_tcp_up", "credentials call: TCP bytes up", cert["tcp"][0], "bytes",
              note="TLS 1.2 with the client certificate (EC P-256), counted by a proxy")
    bench.add(g, "credentials_tcp_down", "credentials call: TCP bytes down", cert["tcp"][1], "bytes",
              note="includes the server's certificate and the certificate request")
    bench.add(g, "credentials_handshakes", "credentials endpoint handshakes, first notify", cert["handshakes"],
              "handshakes", ("<=", 1))
