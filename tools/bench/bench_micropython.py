# pyright: reportAttributeAccessIssue=false, reportMissingImports=false
# (runs under MicroPython: time.ticks_us, gc.mem_alloc; mpaws is found through sys.path)
"""The MicroPython half of `make bench`: times and weighs SigV4 signing of the seed request
inside MicroPython itself.

    micropython tools/bench/bench_micropython.py [LIB_DIR] [--quick]

LIB_DIR holds the mpaws package (.py or .mpy; default: firmware/lib next to this tool).
Prints the figures as one line, `BENCH_JSON {...}`, which tools/bench/bench.py reads:
  us      microseconds per signature (time.ticks_us over many signatures, median of repeats)
  bytes   bytes allocated per signature (gc.mem_alloc() around one signature with the
          GC disabled, median of repeats, after a warm-up signature)
for four cases: cached (same Signer, same day: the signing key is cached), cold (a new
Signer for each signature: key derived), cold_date (same Signer, the day changes on every
signature: key derived, no new Signer), changed (same Signer and day; the time, the body
and so Content-Length change on every signature, as from one device message to the next).

Under CPython this file is only imported, for SEED and sign(): the seed request is defined
here once, for both halves of the benchmark.
"""
import sys

# The seed request: a Lambda invoke as the ESP32 sends it.
SEED = {
    "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "region": "ap-southeast-1",
    "service": "lambda",
    "method": "POST",
    "host": "lambda.ap-southeast-1.amazonaws.com",
    "path": "/2015-03-31/functions/FT900LambdaToSNS/invocations",
    "headers": (
        ("Host", "lambda.ap-southeast-1.amazonaws.com"),
        ("Content-Type", "application/json"),
        ("Content-Length", "115"),
    ),
    "body": b'{"topic": "arn:aws:sns:ap-southeast-1:773510983687:FT900SNStopic", "subject": "subject", "body": "body of message"}',
    "date": "20190611T055819Z",
    # Another day: signing with it forces the signing key to be derived again.
    "other_date": "20190612T055819Z",
}


def changed_requests():
    """The seed request, and the same a second later with a body one byte longer:
    (headers, body, date) twice."""
    longer = SEED["body"] + b" "
    headers = tuple([(n, str(len(longer)) if n == "Content-Length" else v) for n, v in SEED["headers"]])
    return (SEED["headers"], SEED["body"], SEED["date"]), (headers, longer, SEED["date"][:-3] + "20Z")


def new_signer(sigv4):
    return sigv4.Signer(SEED["access_key"], SEED["secret_key"], SEED["region"], SEED["service"])


def sign(signer, date):
    """Signs the seed request; returns the headers to add (the last is Authorization)."""
    return signer.sign(SEED["method"], SEED["path"], None, SEED["headers"], body=SEED["body"], date=date)


def signature_of(added):
    return added[-1][1][-64:]


def _median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _time_us(sigv4, case, n, repeats):
    import gc
    import time

    date = SEED["date"]
    dates = (date, SEED["other_date"]) if case == "cold_date" else (date, date)
    signer = new_signer(sigv4)
    # The request's parts as locals: the loop costs what a caller's loop would.
    method, path, headers, body = SEED["method"], SEED["path"], SEED["headers"], SEED["body"]
    ak, sk, region, service = SEED["access_key"], SEED["secret_key"], SEED["region"], SEED["service"]
    new = sigv4.Signer
    changed = changed_requests()
    results = []
    for _ in range(repeats):
        gc.collect()
        if case == "changed":
            start = time.ticks_us()
            for i in range(n):
                headers, body, when = changed[i & 1]
                signer.sign(method, path, None, headers, body=body, date=when)
            elapsed = time.ticks_diff(time.ticks_us(), start)
        elif case == "cold":
            start = time.ticks_us()
            for i in range(n):
                new(ak, sk, region, service).sign(method, path, None, headers, body=body, date=dates[i & 1])
            elapsed = time.ticks_diff(time.ticks_us(), start)
        else:
            start = time.ticks_us()
            for i in range(n):
                signer.sign(method, path, None, headers, body=body, date=dates[i & 1])
            elapsed = time.ticks_diff(time.ticks_us(), start)
        results.append(elapsed / n)
    return _median(results)


def _alloc_bytes(sigv4, case, repeats):
    import gc

    date = SEED["date"]
    other = SEED["other_date"]
    signer = new_signer(sigv4)
    sign(signer, date)  # warm-up: the first call may intern strings, grow tables...
    changed = changed_requests()
    results = []
    for i in range(repeats):
        when = other if (case == "cold_date" and i % 2 == 0) else date
        headers, body, changed_date = changed[1 - i % 2]
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        if case == "changed":
            signer.sign(SEED["method"], SEED["path"], None, headers, body=body, date=changed_date)
        elif case == "cold":
            sign(new_signer(sigv4), when)
        else:
            sign(signer, when)
        after = gc.mem_alloc()
        gc.enable()
        results.append(after - before)
    return _median(results)


def main(argv):
    import json

    quick = "--quick" in argv
    args = [a for a in argv if not a.startswith("--")]
    if args:
        lib = args[0]
    else:
        here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
        lib = here + "/../firmware/lib"
    sys.path.insert(0, lib)
    from mpaws import sigv4

    repeats = 5 if quick else 9
    scale = 1 if quick else 3
    iterations = {"cached": 400 * scale, "cold": 150 * scale, "cold_date": 200 * scale, "changed": 400 * scale}
    out = {
        "version": sys.version,
        "implementation": "%s %s" % (sys.implementation.name, ".".join([str(v) for v in sys.implementation.version[:3]])),
        "signature": signature_of(sign(new_signer(sigv4), SEED["date"])),
        "signature_other_date": signature_of(sign(new_signer(sigv4), SEED["other_date"])),
        "repeats": repeats,
        "iterations": iterations,
        "us": {},
        "bytes": {},
    }
    for case in ("cached", "cold", "cold_date", "changed"):
        out["us"][case] = _time_us(sigv4, case, iterations[case], repeats)
        out["bytes"][case] = _alloc_bytes(sigv4, case, repeats)
    print("BENCH_JSON " + json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
