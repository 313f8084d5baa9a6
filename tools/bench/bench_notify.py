"""The `notify` group of `make bench`: one app.notify() over TLS, end to end, against the
test server host_tests/aws_server.py (TLS 1.2 on 127.0.0.1, every signature checked with
botocore, Lambda emulated; lighter than make demo's moto stand-in, so the figures are the
device's, not the server's).

    python tools/bench/bench.py --only notify

Figures:
  heap        smallest `micropython -X heapsize=N` (bisection) that runs one notify() from
              the .mpy firmware (as `make build` compiles it), with the test CA only and
              with the five bundled Amazon roots loaded as well (the board's default):
              the median over folders of different name lengths (tools/bench.py,
              notify_heap), target 64 KB each, the roots within 4 KB of one root;
              the same for the library alone (client.connect + Lambda.invoke, no app);
              as baselines, the interpreter alone and a bare ssl handshake plus a tiny
              request with no mpaws code, so that mpaws's own share shows; what the
              imported modules hold (gc.mem_alloc) against what a notify adds, and how
              much of it is interned strings (qstr pools, micropython.qstr_info()).
  names       the interned names (qstrs) after a notify, and how many more fit before
              MicroPython allocates its next name table (twice the last, never freed):
              a table allocated in the middle of a notify can leave no block for TLS.
  wire        bytes per notify: HTTP (request and reply, as the client counts them) and
              TCP (TLS records, counted by a proxy in front of the server) for the first
              notify (with the handshake) and for each later one; boto3 for comparison.
  handshakes  TLS handshakes the server saw for a burst of 50 notifies (target 1).
  speed       ms per call on loopback, kept-alive connection, against the same server in
              this run: app.notify and Lambda.invoke under micropython and CPython, and
              boto3 `lambda.invoke`; the target compares invoke with invoke (app.notify
              also writes its outbox file).

What the heap figure means for an ESP32: the unix port's mbedTLS allocates with libc
calloc, not from the MicroPython heap (MICROPY_MBEDTLS_CONFIG_BARE_METAL is off for the
unix port; a handshake whose 16 KB input record buffer cannot fit in a 12 KB heap
succeeds there), so the figure is what the firmware needs in the GC heap. On the ESP32
mbedTLS allocates from the ESP-IDF heap (CONFIG_MBEDTLS_DEFAULT_MEM_ALLOC), outside the
GC heap: a 16 KB input and a 4 KB output record buffer
(CONFIG_MBEDTLS_ASYMMETRIC_CONTENT_LEN) and the handshake state, 25-40 KB in all, must be
free there on top of this figure. Objects on the 64-bit unix port are about 1.5-2 times
their size on the 32-bit ESP32, so the figure is an upper bound for the board.
"""
import gc
import json
import os
import shutil
import socket
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
HOST_TESTS = os.path.join(REPO, "host_tests")
FIRMWARE = os.path.join(REPO, "firmware")
CERTS = os.path.join(FIRMWARE, "certs")

BURST = 50
SUBJECT = "subject"
BODY = "body of message"
HEAP_TARGET = 64 * 1024  # each mode's smallest heap for one notify (median over layouts)
ROOTS_EXTRA = 4 * 1024  # the five bundled roots against one root

# One notify from the .mpy firmware; app.py logs to stdout, the last line is the verdict.
_NOTIFY_PROBE = """\
import app
result = app.notify(%(subject)r, %(body)r)
print("ok" if result.status == 200 else "status %%d" %% result.status)
"""

# The same notify, counted only when its message was kept in the outbox while it was sent
# (stored first, taken out after): a notify whose free heap was below the outbox's store
# limit sends without a copy, logs why and sets app.last_error.
_KEPT_PROBE = """\
import app
result = app.notify(%(subject)r, %(body)r)
print("ok" if result.status == 200 and app.last_error is None else "not kept: %%s" %% app.last_error)
"""

# Where the heap goes: what the imported modules hold (their code: on the unix port, as on
# a board, an imported .mpy's bytecode lives in the heap), then what a notify adds.
_FOOTPRINT_PROBE = """\
import gc
import micropython
gc.collect()
start = gc.mem_alloc()
import app
gc.collect()
imported = gc.mem_alloc()
micropython.qstr_info()
app.notify(%(subject)r, %(body)r)
gc.collect()
print("FOOTPRINT %%d %%d %%d" %% (start, imported, gc.mem_alloc()))
micropython.qstr_info()
# Then new names, one at a time, each followed by the pools' figures: the line on which
# n_pool grows tells how many names fit before the next table.
print("GROWTH")


class Names:
    pass


names = Names()
for i in range(%(growth_limit)d):
    getattr(names, "grow%%d" %% i, None)
    micropython.qstr_info()
"""
# The interned names live in tables (pools) that are never freed; py/qstr.c allocates a new
# one, twice the size of the last, when the last is full (on this port: 20, 40, ... 640
# names, 1260 in all). The probe interns up to GROWTH_LIMIT names after a notify.
GROWTH_LIMIT = 1400

# The library alone, as boto3's lambda.invoke is used: client.connect + Lambda.invoke with
# the seed's payload, no app (no config validation, no outbox).
_INVOKE_SETUP = """\
import config
from mpaws import awslambda, client

host, port = config.CONFIG_AWS_HOST.split(":")
lam = awslambda.Lambda(client.connect("lambda", config.CONFIG_AWS_REGION, config.CONFIG_AWS_ACCESS_KEY,
                                      config.CONFIG_AWS_SECRET_KEY, host, int(port), ca=config.CONFIG_TLS_CA))
pieces = ((("topic", config.CONFIG_AWS_SNS_TOPIC_ARN), ("subject", %(subject)r), ("body", %(body)r)))


def call():
    return lam.invoke(config.CONFIG_AWS_LAMBDA_FUNCTION, awslambda.json_object(pieces))


def connection():
    return lam.client.connection
"""
_INVOKE_PROBE = _INVOKE_SETUP + """
print("ok" if call().status == 200 else "bad status")
"""

# The baseline: what any TLS request from this interpreter costs, with no mpaws code.
_TLS_PROBE = """\
import socket
import ssl
f = open(%(ca)r, "rb")
ca = f.read()
f.close()
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.verify_mode = ssl.CERT_REQUIRED
context.load_verify_locations(cadata=ca)
del ca
sock = socket.socket()
sock.connect(socket.getaddrinfo("localhost", %(port)d)[0][-1])
sock = context.wrap_socket(sock, server_hostname="localhost")
sock.write(b"GET / HTTP/1.1\\r\\nHost: localhost:%(port)d\\r\\n\\r\\n")
print("ok" if sock.read(12) == b"HTTP/1.1 403" else "bad reply")
"""

# A burst on one connection: timing (ticks_ms) and the client's own counters.
_BURST_NOTIFY = """\
import app

app.log = lambda message: None


def call():
    return app.notify(%(subject)r, %(body)r)


def connection():
    return app._client().connection
"""
_BURST_DRIVER = """\
import json
import sys
import time

count = int(sys.argv[1])
started = time.ticks_ms()
ok = 0
first_ms = None
for i in range(count):
    if call().status == 200:
        ok += 1
    if i == 0:
        first_ms = time.ticks_diff(time.ticks_ms(), started)
        started = time.ticks_ms()
rest_ms = time.ticks_diff(time.ticks_ms(), started)
print("BURST_JSON " + json.dumps({"ok": ok, "first_ms": first_ms, "rest_ms": rest_ms,
                                  "sent": connection().bytes_sent, "received": connection().bytes_received}))
"""


def _bench_module(bench):
    # The module that made `bench` (tools/bench/bench.py, as __main__ or imported): its helpers
    # and its BenchError, so that a failure here is reported like any other group's.
    return sys.modules[type(bench).__module__]


class _CountingProxy:
    """A TCP forwarder on 127.0.0.1 that counts the bytes each way (TLS records and all)."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.up = 0  # client to server
        self.down = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self._lock:
            self.up = self.down = 0

    def _accept(self):
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _pump(self, source, sink, direction):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    setattr(self, direction, getattr(self, direction) + len(data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wait_quiet(self, seconds=0.05):
        """Waits until no byte has moved for `seconds` (the pumps have caught up)."""
        last = None
        while True:
            time.sleep(seconds)
            with self._lock:
                now = (self.up, self.down)
            if now == last:
                return now
            last = now

    def stop(self):
        self._stopping.set()
        self._listener.close()


class _Setup:
    """The server, the compiled firmware and probes, config modules for each case."""

    def __init__(self, bench):
        tools = _bench_module(bench)
        self.tools = tools
        self.bench = bench
        if HOST_TESTS not in sys.path:
            sys.path.insert(0, HOST_TESTS)
        from aws_server import AwsServer

        self.server = AwsServer().start()
        self.server.register_function("notify", lambda event: event)
        self.proxy = _CountingProxy(self.server.port)
        self.root = os.path.join(bench.tmp, "notify")
        os.makedirs(self.root, exist_ok=True)
        lib = tools._mpy_lib(bench)  # <mpy>/lib; app.mpy is in <mpy>
        self.mpy = os.path.dirname(lib)
        self.lib = lib
        # The board's default trust store, plus the test CA (the server is not an AWS one).
        self.roots = os.path.join(self.root, "roots")
        os.makedirs(self.roots, exist_ok=True)
        for name in os.listdir(CERTS):
            if name.endswith(".der"):
                shutil.copy(os.path.join(CERTS, name), self.roots)
        shutil.copy(self.server.ca_der, os.path.join(self.roots, "zz_test_ca.der"))

    def stop(self):
        self.proxy.stop()
        self.server.stop()

    def config_source(self, folder, port=None, ca=None):
        keys = {
            "CONFIG_AWS_ACCESS_KEY": self.server.access_key,
            "CONFIG_AWS_SECRET_KEY": self.server.secret_key,
            "CONFIG_AWS_REGION": self.server.region,
            "CONFIG_AWS_LAMBDA_FUNCTION": "notify",
            "CONFIG_AWS_SNS_TOPIC_ARN": "arn:aws:sns:%s:%s:mpaws-topic" % (self.server.region,
                                                                          self.server.account_id),
            "CONFIG_AWS_HOST": "localhost:%d" % (port or self.server.port),
            "CONFIG_TLS_CA": ca or self.server.ca_der,
            "CONFIG_TIMEOUT": 10,
            "CONFIG_OUTBOX_PATH": os.path.join(folder, "outbox.txt"),  # app.notify keeps a copy there
        }
        return "".join("%s = %r\n" % item for item in keys.items())

    def case_dir(self, name, modules, port=None, ca=None):
        """A directory with config and each {module name: source} compiled to .mpy
        (nothing is compiled in the heap being measured)."""
        folder = os.path.join(self.root, name)
        self.tools.compile_modules(folder, dict(modules, config=self.config_source(folder, port, ca)))
        return folder

    def micropython_path(self, folder):
        # MICROPYPATH replaces the default path, .frozen (where ssl lives) included.
        return ".frozen:%s:%s:%s" % (folder, self.mpy, self.lib)

    def run(self, folder, args, heapsize=None, timeout=60):
        # Each run starts with an empty outbox: a run cut short by MemoryError leaves one.
        for name in os.listdir(folder):
            if name.startswith("outbox"):
                os.remove(os.path.join(folder, name))
        return self.tools.run_micropython(args, heapsize=heapsize, env={"MICROPYPATH": self.micropython_path(folder)},
                                          cwd=folder, timeout=timeout)


# -- heap ----------------------------------------------------------------------------------


def _smallest_heap(setup, folder, module):
    tools = setup.tools

    def ok(heapsize):
        proc = setup.run(folder, ["-m", module], heapsize=heapsize, timeout=30)
        lines = proc.stdout.strip().splitlines()
        return proc.returncode == 0 and bool(lines) and lines[-1] == "ok"

    heap, runs = tools.smallest_heap(ok, 2048, 512 * 1024)
    if heap is None:
        proc = setup.run(folder, ["-m", module], heapsize=512 * 1024)
        raise tools.BenchError("%s fails even with heapsize=512K:\n%s%s" % (module, proc.stdout[-2000:],
                                                                               proc.stderr[-2000:]))
    return heap, runs


def heap_figures(setup):
    texts = {"subject": SUBJECT, "body": BODY}

    def notify(ca=None):
        return lambda folder: {"config": setup.config_source(folder, ca=ca), "notify_probe": _NOTIFY_PROBE % texts}

    out = {}
    out["runs"] = 0
    for key, ca in (("notify", None), ("notify_roots", setup.roots)):
        out[key] = setup.tools.notify_heap(setup.bench, "heap_" + key, notify(ca))
    out["notify_kept"] = setup.tools.notify_heap(setup.bench, "heap_notify_kept", lambda folder: {
        "config": setup.config_source(folder), "notify_probe": _KEPT_PROBE % texts})
    cases = {
        "invoke": (setup.case_dir("heap_invoke", {"invoke_probe": _INVOKE_PROBE % texts}), "invoke_probe"),
        "tls": (setup.case_dir("heap_tls", {"tls_probe": _TLS_PROBE % {"ca": setup.server.ca_der,
                                                                       "port": setup.server.port}}), "tls_probe"),
    }
    for key, (folder, module) in cases.items():
        out[key], runs = _smallest_heap(setup, folder, module)
        out["runs"] += runs
    folder = setup.case_dir("footprint", {"footprint_probe": _FOOTPRINT_PROBE % dict(texts, growth_limit=GROWTH_LIMIT)})
    proc = setup.run(folder, ["-m", "footprint_probe"], heapsize=512 * 1024)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("FOOTPRINT ")]
    if not lines:
        raise setup.tools.BenchError("the footprint probe failed:\n%s%s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
    start, imported, after = (int(x) for x in lines[0].split()[1:])
    out["imports"], out["notify_data"] = imported - start, after - imported
    before_growth, _, growth = proc.stdout.partition("\nGROWTH\n")
    out["qstrs"] = _qstr_pools(before_growth)  # after the import, after the notify
    out["growth"] = _next_table(setup.tools, out["qstrs"][-1], _qstr_pools(growth))
    return out


def _qstr_pools(text):
    """micropython.qstr_info()'s lines in text as dicts of ints: "qstr pool: n_pool=5,
    n_qstr=371, n_str_data_bytes=3453, n_total_bytes=10589" (the interned names and short
    strings: their tables, n_pool of them, and their text)."""
    pools = [line for line in text.splitlines() if line.startswith("qstr pool:")]
    return [{key.strip(): int(value) for key, value in (item.split("=") for item in line.split(":", 1)[1].split(","))}
            for line in pools]


def _next_table(tools, after_notify, growth):
    """How many more names fit before the next table, and that table's bytes, from the
    figures after each name the probe interned (growth) following those after a notify."""
    previous = after_notify
    for count, pools in enumerate(growth):
        if pools["n_pool"] > previous["n_pool"]:
            table = (pools["n_total_bytes"] - pools["n_str_data_bytes"]) - (
                previous["n_total_bytes"] - previous["n_str_data_bytes"])
            return {"names_left": count, "table_bytes": table}
        previous = pools
    raise tools.BenchError("no new name table after %d more names (%d in the last figures)"
                           % (len(growth), previous["n_qstr"]))


# -- bytes, handshakes and ms under micropython ------------------------------------------------


def _burst(setup, folder, count):
    proc = setup.run(folder, [os.path.join(folder, "burst.py"), str(count)], timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith("BURST_JSON "):
            result = json.loads(line[len("BURST_JSON "):])
            if result["ok"] != count:
                raise setup.tools.BenchError("%d of %d notifies failed under micropython" % (count - result["ok"],
                                                                                             count))
            return result
    raise setup.tools.BenchError("the micropython burst gave no figures (exit %d):\n%s%s"
                                 % (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))


def _burst_dir(setup, name, port, setup_source):
    folder = setup.case_dir(name, {}, port=port)
    with open(os.path.join(folder, "burst.py"), "w") as f:
        f.write((setup_source + _BURST_DRIVER) % {"subject": SUBJECT, "body": BODY})
    return folder


def micropython_figures(setup):
    server, proxy = setup.server, setup.proxy
    proxied = _burst_dir(setup, "burst_proxy", proxy.port, _BURST_NOTIFY)
    out = {}
    proxy.reset()
    out["one"] = _burst(setup, proxied, 1)
    out["one_tcp"] = proxy.wait_quiet()
    proxy.reset()
    handshakes = server.handshakes
    out["burst"] = _burst(setup, proxied, BURST)
    out["burst_tcp"] = proxy.wait_quiet()
    out["burst_handshakes"] = server.handshakes - handshakes
    count = 40 if setup.bench.quick else 200
    out["timed_count"] = count
    out["timed"] = _burst(setup, _burst_dir(setup, "burst_notify", None, _BURST_NOTIFY), count)
    out["timed_invoke"] = _burst(setup, _burst_dir(setup, "burst_invoke", None, _INVOKE_SETUP), count)
    return out


# -- CPython: mpaws in this process, and boto3 ---------------------------------------------------


def _cpython_app(setup):
    """firmware/app.py imported here, configured for the server (its log silenced)."""
    folder = os.path.join(setup.root, "cpython_config")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.py"), "w") as f:
        f.write(setup.config_source(folder))
    for path in (os.path.join(FIRMWARE, "lib"), FIRMWARE, folder):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    sys.modules.pop("config", None)
    import app  # pyright: ignore[reportMissingImports]  (firmware/, on sys.path above)

    app.reset()
    app.log = lambda message: None
    return app


def _boto3_client(setup, endpoint):
    import boto3
    import botocore.config

    server = setup.server
    return boto3.client("lambda", endpoint_url=endpoint, region_name=server.region,
                        aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
                        verify=server.ca_pem,
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def _boto3_invoke(client):
    payload = json.dumps({"topic": "arn:aws:sns:us-east-1:123456789012:mpaws-topic", "subject": SUBJECT,
                          "body": BODY})
    reply = client.invoke(FunctionName="notify", Payload=payload)
    reply["Payload"].read()
    return reply["StatusCode"]


def _cpython_invoke(app):
    """Lambda.invoke through the library alone (what boto3's lambda.invoke does)."""
    from mpaws import awslambda, client  # pyright: ignore[reportMissingImports]

    s = app.config()
    lam = awslambda.Lambda(client.connect("lambda", s.region, s.access_key, s.secret_key, s.host, s.port, ca=s.ca))
    pieces = (("topic", s.topic_arn), ("subject", SUBJECT), ("body", BODY))
    return lambda: lam.invoke(s.function, awslambda.json_object(pieces))


def cpython_figures(setup):
    tools = setup.tools
    app = _cpython_app(setup)
    invoke = _cpython_invoke(app)
    boto = _boto3_client(setup, setup.server.endpoint)
    # A first call each: the handshake (and boto3's model loading) stays out of the timing.
    if app.notify(SUBJECT, BODY).status != 200 or invoke().status != 200 or _boto3_invoke(boto) != 200:
        raise tools.BenchError("a first notify/invoke on CPython failed")
    handshakes = setup.server.handshakes

    def runner(call):
        def run(n):
            def loop():
                for _ in range(n):
                    call()

            gc.collect()
            start = time.perf_counter()
            loop()
            return time.perf_counter() - start

        return run

    timed = tools.per_call_us({"notify": runner(lambda: app.notify(SUBJECT, BODY)), "invoke": runner(invoke),
                               "boto3": runner(lambda: _boto3_invoke(boto))}, setup.bench.quick)
    if setup.server.handshakes != handshakes:
        raise tools.BenchError("a connection was re-opened while timing on CPython")
    # boto3's bytes on the wire, through the counting proxy: one invoke on a warm connection.
    proxied = _boto3_client(setup, "https://localhost:%d" % setup.proxy.port)
    _boto3_invoke(proxied)
    setup.proxy.wait_quiet()
    setup.proxy.reset()
    _boto3_invoke(proxied)
    boto3_tcp = setup.proxy.wait_quiet()
    app.reset()
    return {"us": timed, "boto3_tcp": boto3_tcp}


# -- the group -------------------------------------------------------------------------------


def group_notify(bench):
    g = "notify"
    tools = _bench_module(bench)
    setup = _Setup(bench)
    try:
        heap = heap_figures(setup)
        mpy = micropython_figures(setup)
        cpy = cpython_figures(setup)
    finally:
        setup.stop()

    startup = bench.once("heap", tools.heap_figures)["startup"]
    where = "unix port, 64-bit; mbedTLS's buffers are outside this heap (libc here, the IDF heap on an ESP32)"
    tools.add_notify_heap(bench, g, "heap_notify", "min heapsize, one app.notify() over TLS", heap["notify"],
                          ("<=", HEAP_TARGET), note=".mpy firmware, test CA only; " + where)
    tools.add_notify_heap(bench, g, "heap_notify_roots", "min heapsize, notify, + 5 bundled roots",
                          heap["notify_roots"], ("<=", HEAP_TARGET),
                          note="CONFIG_TLS_CA = a folder of the five Amazon roots and the test CA (the board's default)")
    tools.add_notify_heap(bench, g, "heap_notify_kept", "  min heapsize, notify with its outbox copy",
                          heap["notify_kept"], note="the message stored before it is sent and taken out after "
                          "(below this, notify sends without a copy: the outbox's store limit, SEND_RESERVE)")
    notify, roots = heap["notify"]["median"], heap["notify_roots"]["median"]
    bench.add(g, "heap_roots_extra", "  5 bundled roots - one root", roots - notify, "bytes", ("<=", ROOTS_EXTRA),
              note="the difference of the two medians")
    bench.add(g, "heap_invoke", "min heapsize, client.connect + Lambda.invoke", heap["invoke"], "bytes",
              note="the library alone: no app, config validation or outbox")
    bench.add(g, "heap_tls_baseline", "min heapsize, bare ssl handshake + request", heap["tls"], "bytes",
              note="no mpaws code: socket, ssl, one DER CA, a GET and 12 bytes of the reply")
    bench.add(g, "heap_mpaws_share", "  notify - bare TLS (mpaws and the app)", notify - heap["tls"], "bytes")
    bench.add(g, "heap_library_share", "  invoke - bare TLS (the library)", heap["invoke"] - heap["tls"], "bytes")
    bench.add(g, "heap_held_by_imports", "  held after `import app` (modules' code)", heap["imports"], "bytes",
              note="gc.mem_alloc() after gc.collect(); frozen into a firmware image, this code would be in flash")
    bench.add(g, "heap_held_after_notify", "  held after a notify, beyond the imports", heap["notify_data"], "bytes",
              note="config, client, SSL context and socket, outbox")
    imported, sent = heap["qstrs"]
    bench.add(g, "heap_qstr_bytes", "  of the heap held, interned strings (qstrs)", sent["n_total_bytes"],
              "bytes", note="after a notify: %s qstrs, %s bytes of text, the rest the pools' tables (each new "
              "pool twice the last); %s bytes after `import app`" % (sent["n_qstr"], sent["n_str_data_bytes"],
                                                                      imported["n_total_bytes"]))
    growth = heap["growth"]
    bench.add(g, "names_after_notify", "interned names (qstrs) after a notify", sent["n_qstr"], "names",
              note="micropython.qstr_info() after import app, one notify and gc.collect(); %d tables (pools)"
              % sent["n_pool"])
    bench.add(g, "names_to_next_table", "  names left before the next name table", growth["names_left"], "names",
              note="names interned one by one after the notify until a new table came: it takes %d bytes "
              "(tables double and are never freed)" % growth["table_bytes"])
    if startup is not None:
        bench.add(g, "heap_tls_over_startup", "  bare TLS - interpreter start", heap["tls"] - startup, "bytes")

    one, burst = mpy["one"], mpy["burst"]
    (up1, down1), (up50, down50) = mpy["one_tcp"], mpy["burst_tcp"]
    per = BURST - 1
    bench.add(g, "http_request_bytes", "HTTP request bytes per notify", one["sent"], "bytes",
              note="headers + JSON body, as written by the client")
    bench.add(g, "http_reply_bytes", "HTTP reply bytes per notify", one["received"], "bytes")
    bench.add(g, "tcp_first_up", "TCP bytes up, first notify (with handshake)", up1, "bytes",
              note="TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256, counted by a proxy")
    bench.add(g, "tcp_first_down", "TCP bytes down, first notify (with handshake)", down1, "bytes",
              note="includes the server's certificate")
    bench.add(g, "tcp_next_up", "TCP bytes up per later notify", (up50 - up1) / per, "bytes",
              note="(burst of %d - burst of 1) / %d" % (BURST, per))
    bench.add(g, "tcp_next_down", "TCP bytes down per later notify", (down50 - down1) / per, "bytes")
    bench.add(g, "boto3_tcp_up", "boto3: TCP bytes up per invoke", cpy["boto3_tcp"][0], "bytes",
              note="same payload, warm connection")
    bench.add(g, "boto3_tcp_down", "boto3: TCP bytes down per invoke", cpy["boto3_tcp"][1], "bytes")
    bench.add(g, "burst_handshakes", "TLS handshakes for a burst of %d notifies" % BURST, mpy["burst_handshakes"],
              "handshakes", ("<=", 1), note="counted by the server; micropython, .mpy firmware")
    if burst["ok"] != BURST:
        raise tools.BenchError("burst: %d of %d delivered" % (burst["ok"], BURST))

    later = mpy["timed_count"] - 1
    mpy_notify_ms = mpy["timed"]["rest_ms"] / later
    mpy_invoke_ms = mpy["timed_invoke"]["rest_ms"] / later
    us = cpy["us"]
    notify_us, n, rounds = us["notify"]
    invoke_us, boto_us = us["invoke"][0], us["boto3"][0]
    bench.add(g, "micropython_first_ms", "micropython: first notify (handshake)", float(mpy["timed"]["first_ms"]),
              "ms")
    bench.add(g, "micropython_notify_ms", "micropython: ms per app.notify", mpy_notify_ms, "ms",
              note="kept-alive connection; %d notifies, ticks_ms; includes the outbox's file writes" % later)
    bench.add(g, "micropython_invoke_ms", "micropython: ms per Lambda.invoke", mpy_invoke_ms, "ms")
    bench.add(g, "cpython_notify_ms", "CPython: ms per app.notify", notify_us / 1000, "ms",
              note="in-process; median of %d rounds of %d" % (rounds, n))
    bench.add(g, "cpython_invoke_ms", "CPython: ms per Lambda.invoke", invoke_us / 1000, "ms")
    bench.add(g, "boto3_ms", "boto3 lambda.invoke: ms per call", boto_us / 1000, "ms",
              note="same server, same payload, rounds interleaved with mpaws")
    bench.add(g, "boto3_over_cpython_invoke", "boto3 / mpaws CPython (invoke)", boto_us / invoke_us, "x",
              (">=", 1.0), note=">= 1: mpaws on CPython no slower than boto3, call for call")
    bench.add(g, "boto3_over_cpython_notify", "boto3 / mpaws CPython (app.notify)", boto_us / notify_us, "x",
              note="app.notify also writes the outbox (a durable copy) before and after sending")
    bench.add(g, "boto3_over_micropython_invoke", "boto3(CPython) / mpaws micropython (invoke)",
              boto_us / 1000 / mpy_invoke_ms, "x")
