"""AWS's SigV4 test suite (host_tests/vectors/aws4_testsuite), every case, under CPython.

Each case is signed through the request-file tool's code (sign_request.parse_request and
sign_request.sign, which use the firmware's mpaws.sigv4_full) and through its Signer
directly; the canonical request, string to sign and Authorization value must equal AWS's
.creq, .sts and .authz byte for byte, and the tool's printed request must equal the .sreq.
The device core, mpaws.sigv4.Signer, must give the same Authorization for every case it
takes, and refuse the others (dot segments, '//') with a ValueError naming the path.
"""
import os
import subprocess
import sys

import pytest

from conftest import REPO, TOOLS, VECTORS

import sign_request
from mpaws import sigv4, sigv4_full
# The suite's key, scope, date and session token: one copy, in the MicroPython runner.
from mpy.run_vectors import ACCESS_KEY, DATE, REGION, SECRET_KEY, SERVICE, VANILLA_SESSION_TOKEN

EXPECTED_CASES = 34
# Cases botocore's own copy of the suite skips; the firmware signer must pass them.
BOTOCORE_SKIPS = (
    "get-vanilla-query-order-key",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-order-value",
    "normalize-path/get-space",
)
# AWS's get-vanilla-with-session-token.sreq carries get-vanilla's signature; its .authz
# is right. That case's .sreq is checked with the Authorization line of its .authz.
SREQ_WRONG_SIGNATURE = "get-vanilla-with-session-token"


def discover(root):
    """{name: directory}: every directory d below root holding d/<basename>.req."""
    cases = {}
    for directory, _, files in os.walk(root):
        base = os.path.basename(directory)
        if base + ".req" in files:
            cases[os.path.relpath(directory, root).replace(os.sep, "/")] = directory
    return cases


CASES = discover(VECTORS)
CASE_NAMES = sorted(CASES)


def sts_example_token():
    with open(os.path.join(VECTORS, "post-sts-token", "readme.txt")) as f:
        return [line.strip() for line in f if line.strip()][-1]


def case_opts(name):
    """The tool options the suite signs case `name` with."""
    opts = {
        "--access-key": ACCESS_KEY,
        "--secret-key": SECRET_KEY,
        "--region": REGION,
        "--service": SERVICE,
        "--date": DATE,
    }
    base = name.rsplit("/", 1)[-1]
    if base == "get-vanilla-with-session-token":
        opts["--session-token"] = VANILLA_SESSION_TOKEN
    elif base == "post-sts-header-after":
        opts["--session-token"] = sts_example_token()
        opts["--token-after"] = True
    # post-sts-header-before: its .req carries the token header, signed as given.
    return opts


def case_file(name, ext):
    with open(os.path.join(CASES[name], name.rsplit("/", 1)[-1] + ext), "rb") as f:
        return f.read()


def test_every_case_is_present():
    assert len(CASE_NAMES) == EXPECTED_CASES, CASE_NAMES
    for name in CASE_NAMES:
        for ext in (".req", ".creq", ".sts", ".authz", ".sreq"):
            assert os.path.isfile(os.path.join(CASES[name], name.rsplit("/", 1)[-1] + ext)), (name, ext)


def test_cases_botocore_skips_are_included():
    for name in BOTOCORE_SKIPS:
        assert name in CASES, name


def test_sts_example_token_is_read():
    token = sts_example_token()
    assert token.startswith("AQoDYXdzEPT") and token.endswith("==") and len(token) > 300


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_through_tool(name):
    raw = sign_request.parse_request(case_file(name, ".req"))
    lines, (creq, sts, signature) = sign_request.sign(raw, case_opts(name), sigv4_full)
    assert creq == case_file(name, ".creq").decode()
    assert sts == case_file(name, ".sts").decode()
    authz = [line[len("Authorization: "):] for line in lines if line.startswith("Authorization: ")]
    expected = case_file(name, ".authz").decode()
    assert authz == [expected]
    # The streamed signature (sign) and the step-by-step one (explain) agree.
    assert expected.endswith(", Signature=" + signature)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_through_signer(name):
    raw = sign_request.parse_request(case_file(name, ".req"))
    opts = case_opts(name)
    signer = sigv4_full.Signer(ACCESS_KEY, SECRET_KEY, REGION, SERVICE, session_token=opts.get("--session-token"),
                               sign_session_token=not opts.get("--token-after"))
    headers = [(h[0], h[1]) for h in raw.headers]
    query = sigv4_full.parse_query(raw.query_string)
    creq = signer.canonical_request(raw.method, raw.path, query, headers, body=raw.body, date=DATE)
    assert creq == case_file(name, ".creq").decode()
    sts = signer.string_to_sign(creq, DATE)
    assert sts == case_file(name, ".sts").decode()
    added = dict(signer.sign(raw.method, raw.path, query, headers, body=raw.body, date=DATE))
    assert added["Authorization"] == case_file(name, ".authz").decode()
    assert added["Authorization"].endswith("Signature=" + signer.signature(sts, DATE))
    assert added["X-Amz-Date"] == DATE


# The cases the device core refuses: their paths hold '.' or '//' segments.
CORE_REFUSES = ["normalize-path/" + n for n in ("get-relative", "get-relative-relative", "get-slash",
                                                 "get-slash-dot-slash", "get-slash-pointless-dot", "get-slashes")]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case_through_core_signer(name):
    raw = sign_request.parse_request(case_file(name, ".req"))
    opts = case_opts(name)
    headers = [(h[0], h[1]) for h in raw.headers]
    query = sigv4_full.parse_query(raw.query_string)
    if opts.get("--token-after"):
        # The core signs the token it is given; "after" is sigv4_full's: here it is unsigned.
        signer = sigv4.Signer(ACCESS_KEY, SECRET_KEY, REGION, SERVICE)
    else:
        signer = sigv4.Signer(ACCESS_KEY, SECRET_KEY, REGION, SERVICE, session_token=opts.get("--session-token"))
    if name in CORE_REFUSES:
        with pytest.raises(ValueError, match="path"):
            signer.sign(raw.method, raw.path, query, headers, body=raw.body, date=DATE)
        return
    # Twice: the second signature comes from the cached plan and key.
    for _ in range(2):
        added = dict(signer.sign(raw.method, raw.path, query, headers, body=raw.body, date=DATE))
        assert added["Authorization"] == case_file(name, ".authz").decode()


def test_core_refuses_only_dot_segment_paths():
    for name in CORE_REFUSES:
        path = sign_request.parse_request(case_file(name, ".req")).path
        assert "//" in path or "/." in path, (name, path)


def expected_sreq(name):
    sreq = case_file(name, ".sreq")
    if name == SREQ_WRONG_SIGNATURE:
        # The known AWS bug, pinned: the .sreq holds get-vanilla's signature...
        wrong = b"Signature=" + case_file("get-vanilla", ".authz").rsplit(b"Signature=", 1)[1]
        right = b"Signature=" + case_file(name, ".authz").rsplit(b"Signature=", 1)[1]
        assert wrong in sreq and right not in sreq
        # ... so compare against the .sreq carrying the .authz's (right) signature.
        sreq = sreq.replace(wrong, right)
    return sreq


def tool_args(name, opts):
    args = [os.path.join(CASES[name], name.rsplit("/", 1)[-1] + ".req")]
    for key, value in opts.items():
        args += [key] if value is True else [key, value]
    return args


SREQ_XFAIL = {}  # case name -> reason, for a printed request known to differ from its .sreq


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.xfail(reason=SREQ_XFAIL[n], strict=True)) if n in SREQ_XFAIL else n
     for n in CASE_NAMES],
)
def test_printed_request_is_sreq(name):
    proc = subprocess.run(
        [sys.executable, os.path.join(TOOLS, "sign_request.py")] + tool_args(name, case_opts(name)),
        cwd=REPO, capture_output=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert SECRET_KEY.encode() not in proc.stdout
    assert proc.stdout.rstrip(b"\n") == expected_sreq(name).rstrip(b"\n")
