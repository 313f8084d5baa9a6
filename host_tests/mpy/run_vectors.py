"""Runs AWS's SigV4 test suite through the firmware's own signer, under MicroPython.

    micropython host_tests/mpy/run_vectors.py VECTORS_DIR LIB_DIR [TOOLS_DIR]

LIB_DIR holds the package mpaws: firmware/lib (the source) or a directory of .mpy files
compiled by mpy-cross. It alone (with TOOLS_DIR, for the request-file parser of
tools/sign_request.py) is put on sys.path, so the signer can come from nowhere else.

Each case is signed by mpaws.sigv4_full.Signer (explain() and sign()) and by the device
core, mpaws.sigv4.Signer, which must give the same Authorization, or refuse a path with
'.' or '//' segments (the normalize-path cases that have them) with a ValueError.

Prints `MODULE <file of mpaws.sigv4>` and `MODULE <file of mpaws.sigv4_full>`, then one
line per case, `PASS name` or `FAIL name <what differs: creq,sts,authz,core, or error
...>`, then a summary line `SUMMARY <passed> passed <failed> failed`. Exits 1 if any case
fails.

Uses only what the MicroPython unix port has (os.listdir, os.stat; no os.walk, no
pathlib); runs under CPython as well.
"""
import gc
import os
import sys

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
SERVICE = "service"
DATE = "20150830T123600Z"
# The session token the suite signs get-vanilla-with-session-token with (it is not in
# the case's .req: the signer adds it).
VANILLA_SESSION_TOKEN = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
S_IFDIR = 0x4000


def is_dir(path):
    try:
        return os.stat(path)[0] & 0xF000 == S_IFDIR
    except OSError:
        return False


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def discover(root, prefix=""):
    """[(name, directory)] of every case below root, sorted by name: a case is a
    directory d holding d/<basename of d>.req. name is the path relative to root."""
    cases = []
    for entry in sorted(os.listdir(root)):
        path = root + "/" + entry
        if not is_dir(path):
            continue
        name = prefix + entry
        if exists(path + "/" + entry + ".req"):
            cases.append((name, path))
        cases.extend(discover(path, name + "/"))
    cases.sort()
    return cases


def read(path):
    with open(path, "rb") as f:
        return f.read()


def sts_token(vectors):
    """The example token of post-sts-token/readme.txt: its last non-empty line."""
    lines = [line.strip() for line in read(vectors + "/post-sts-token/readme.txt").decode().split("\n")]
    return [line for line in lines if line][-1]


def case_options(name, sts_example_token):
    """(session_token, sign_session_token) the suite signs case `name` with."""
    base = name.rsplit("/", 1)[-1]
    if base == "get-vanilla-with-session-token":
        return VANILLA_SESSION_TOKEN, True
    if base == "post-sts-header-after":
        return sts_example_token, False
    # post-sts-header-before carries its token header in the .req: signed as given.
    return None, True


def core_authorization(sigv4, raw, query, headers, token, sign_token):
    """The device core's Authorization for the case, or None if it refuses the path."""
    signer = sigv4.Signer(ACCESS_KEY, SECRET_KEY, REGION, SERVICE, session_token=token if sign_token else None)
    try:
        added = signer.sign(raw.method, raw.path, query, headers, body=raw.body, date=DATE)
    except ValueError as e:
        if "path" in str(e) and ("//" in raw.path or "/." in raw.path):
            return None
        raise
    return [value for key, value in added if key == "Authorization"]


def run_case(sigv4, sigv4_full, parse_request, name, directory, sts_example_token):
    """Returns the list of parts that differ from AWS's files ([] when the case passes)."""
    base = name.rsplit("/", 1)[-1]
    stem = directory + "/" + base
    raw = parse_request(read(stem + ".req"))
    token, sign_token = case_options(name, sts_example_token)
    signer = sigv4_full.Signer(ACCESS_KEY, SECRET_KEY, REGION, SERVICE, session_token=token,
                               sign_session_token=sign_token)
    headers = [(h[0], h[1]) for h in raw.headers]
    query = sigv4_full.parse_query(raw.query_string)
    creq, sts, signature = signer.explain(raw.method, raw.path, query, headers, body=raw.body, date=DATE)
    added = signer.sign(raw.method, raw.path, query, headers, body=raw.body, date=DATE)
    authz = [value for key, value in added if key == "Authorization"]
    core = core_authorization(sigv4, raw, query, headers, token, sign_token)
    bad = []
    if creq != read(stem + ".creq").decode():
        bad.append("creq")
    if sts != read(stem + ".sts").decode():
        bad.append("sts")
    expected_authz = read(stem + ".authz").decode()
    if authz != [expected_authz] or not expected_authz.endswith("Signature=" + signature):
        bad.append("authz")
    if core is not None and core != [expected_authz]:
        bad.append("core")
    return bad


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: run_vectors.py VECTORS_DIR LIB_DIR [TOOLS_DIR]\n")
        return 2
    vectors = argv[0].rstrip("/")
    lib = argv[1].rstrip("/")
    if len(argv) > 2:
        tools = argv[2].rstrip("/")
    else:
        script = sys.argv[0]
        here = script.rsplit("/", 1)[0] if "/" in script else "."
        tools = here + "/../../tools"
    # Only these two (and, under CPython, its standard library): a signer found anywhere
    # else (a stale copy, the current directory) cannot sneak in.
    if sys.implementation.name == "micropython":
        sys.path[:] = [lib, tools]
    else:
        here = sys.path[0]
        sys.path[:] = [lib, tools] + [p for p in sys.path if p and p != "." and p != here]
    from mpaws import sigv4, sigv4_full
    from sign_request import parse_request

    print("MODULE %s" % sigv4.__file__)
    print("MODULE %s" % sigv4_full.__file__)
    token = sts_token(vectors)
    gc.collect()
    passed = 0
    failed = 0
    for name, directory in discover(vectors):
        try:
            bad = run_case(sigv4, sigv4_full, parse_request, name, directory, token)
        except Exception as e:  # one broken case must not hide the others
            bad = ["error %s: %s" % (type(e).__name__, e)]
        if bad:
            failed += 1
            print("FAIL %s %s" % (name, ",".join(bad)))
        else:
            passed += 1
            print("PASS %s" % name)
        gc.collect()
    print("SUMMARY %d passed %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
