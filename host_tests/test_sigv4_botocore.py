"""Property tests: mpaws.sigv4_full against botocore's SigV4 signers, an independent oracle,
and the device core, mpaws.sigv4, against both wherever it takes the request (every
header-signed request but S3, X-Amz-Content-SHA256, stream bodies and paths with '.' or
'//' segments, which it refuses).

For random requests (methods, regions, services, wire paths, decoded query pairs, headers
with odd whitespace and duplicates, bodies in every form mpaws accepts, session tokens,
dates) both must give the same canonical request, string to sign and signature, and the
same Authorization header or presigned query string.

botocore is driven deterministically: the timestamp goes into request.context and its
signing steps (_modify_request_before_signing, canonical_request, string_to_sign,
signature, _inject_signature_to_request) are called one by one, as add_auth() calls them;
test_add_auth_authorization_header checks that against add_auth() itself with a frozen clock.

Examples per property: MPAWS_FUZZ_EXAMPLES (default 300; `make fuzz` sets 20000). With CI
set, the examples are derandomized so a CI run is reproducible; a failure prints the
reproduction blob (@reproduce_failure).

Inputs where the two differ on purpose are left out of the generators, each with a note:
  * Unicode whitespace in header values (U+00A0, U+2000.., U+3000, U+0085 ...): botocore
    collapses it with str.split(); mpaws follows AWS's Trimall, which is about spaces and
    tabs (and folds) only.
  * A `Date` header: botocore then signs with Date instead of X-Amz-Date and adds no
    X-Amz-Date; mpaws always signs X-Amz-Date and treats Date as an ordinary header.
  * A caller's own X-Amz-Content-SHA256 header (non-S3): botocore takes its value as the
    payload hash, mpaws hashes the body (payload_hash= is how mpaws is told). Generated
    only with the value of the payload actually signed.
  * S3 wire paths with raw (unencoded) sub-delimiters or non-ASCII: botocore's S3 signer
    trusts the caller's encoding and signs the path as given; mpaws encodes what the
    wire path left unencoded (as S3 does when it canonicalises). Clients always send S3
    keys encoded, so S3 raw paths are drawn from unreserved characters, '/' and '%'.
  * Presign: botocore merges the query through a dict (duplicate keys are lost), moves a
    body into the query, drops a `content-type: application/x-www-form-urlencoded;
    charset=utf-8`, and signs an Authorization header; so presign queries have unique
    keys, the body is given to botocore after that step, and neither header is drawn.
  * Controls (< 0x20, 0x7f) in header values: mpaws rejects them (header injection).
    In query pairs both signers percent-encode and sign them.

Also checked against botocore: S3 presigned URLs against its S3 client's
generate_presigned_url (GET and PUT, with and without a token: UNSIGNED-PAYLOAD whatever
the body); a payload hash given to presign() or sign() (botocore takes it as an
X-Amz-Content-SHA256 header); UNSIGNED-PAYLOAD; single-encoded paths for services other
than S3 (botocore with its path escaping off); AWS IoT's MQTT-over-WebSocket URL (signed
without the token by SigV4QueryAuth, the token appended).

Divergences these properties found are pinned at the end as plain tests (hop-by-hop
headers, trimming of the session token, explain() for S3, presign_explain() of a stream).
"""

import datetime
import hashlib
import io
import os
import random
import string
import types
from unittest import mock
from urllib.parse import quote

import pytest
from botocore import auth as botoauth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from mpaws import sigv4, sigv4_full

# -- settings -----------------------------------------------------------------------------

EXAMPLES = int(os.environ.get("MPAWS_FUZZ_EXAMPLES", "300"))
_CI = bool(os.environ.get("CI"))
_profile = dict(
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    derandomize=_CI,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
if _CI:
    _profile["database"] = None
# Registered but never loaded globally: only the tests below use it.
settings.register_profile("mpaws-botocore", **_profile)
FUZZ = settings(settings.get_profile("mpaws-botocore"))
# The 1 MB body test: a few examples are enough (the body is the same code path each time).
FUZZ_BIG = settings(FUZZ, max_examples=max(3, min(EXAMPLES // 30, 100)))

# -- characters ---------------------------------------------------------------------------

UNRESERVED = string.ascii_letters + string.digits + "-._~"
SUB_DELIMS = "!$&'()*+,;="
HEXDIG = string.digits + "ABCDEFabcdef"
TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# Every character str.split() splits on (all are <= U+3000).
UNICODE_WS = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
PRINTABLE_NO_WS = "".join(chr(c) for c in range(0x21, 0x7F))

# Anything but surrogates: a path segment is percent-encoded before it reaches the wire.
ANY_CHAR = st.one_of(
    st.sampled_from(list(" +%/?#[]:@" + SUB_DELIMS + "~._-")),
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
)
# Query keys and values: anything but surrogates, controls included (they are encoded).
QUERY_CHAR = st.one_of(
    st.sampled_from(list(" +=&%/?#;,:@$!*'()~._-\t\r\n\x00\x7f")),
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
)
# Header value "words": printable ASCII and Unicode that is not whitespace to str.split().
VALUE_CHAR = st.one_of(
    st.sampled_from(list(PRINTABLE_NO_WS)),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters=UNICODE_WS),
)

# -- requests -----------------------------------------------------------------------------

METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
REGIONS = st.one_of(
    st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"]),
    st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=16),
)
SERVICES = st.one_of(
    st.sampled_from(["lambda", "sns", "iotdata", "execute-api", "sts", "sqs"]),
    st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12),
).filter(lambda s: s != "s3")  # 's3' selects S3's rules in mpaws: see the S3 tests
ACCESS_KEYS = st.one_of(
    st.just("AKIDEXAMPLE"), st.text(string.ascii_letters + string.digits, min_size=1, max_size=24)
)
SECRETS = st.one_of(
    st.just("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=48),
)
# Session tokens: printable words (real STS tokens are base64), sometimes with blanks around
# or between them: as a header the token is trimmed like any value, in a query it is not.
TOKENS = st.builds(
    lambda lead, words, sep, trail: lead + sep.join(words) + trail,
    st.sampled_from(["", "", "", " ", "\t"]),
    st.lists(st.text(PRINTABLE_NO_WS, min_size=1, max_size=40), min_size=1, max_size=3),
    st.sampled_from([" ", " ", "  ", "\t", " \t "]),
    st.sampled_from(["", "", "", " ", "  "]),
)
DATES = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2099, 12, 31, 23, 59, 59)
).map(lambda d: d.strftime("%Y%m%dT%H%M%SZ"))
EXPIRES = st.one_of(st.sampled_from([1, 60, 3600, 604800]), st.integers(1, sigv4_full.MAX_EXPIRES))
HOSTS = st.one_of(
    st.sampled_from(
        [
            "lambda.us-east-1.amazonaws.com",
            "abc123.iot.eu-west-1.amazonaws.com",
            "example.execute-api.us-east-1.amazonaws.com",
            "bucket.s3.amazonaws.com",
            "localhost",
            "127.0.0.1",
        ]
    ),
    st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10), min_size=1, max_size=4).map(
        ".".join
    ),
)
PORTS = st.one_of(st.none(), st.sampled_from([80, 443, 4566, 8443]), st.integers(1, 65535))

ARNS = st.builds(
    "arn:aws:lambda:{}:{}:function:{}{}".format,
    st.sampled_from(["us-east-1", "eu-central-1"]),
    st.text(string.digits, min_size=12, max_size=12),
    st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=20),
    st.one_of(st.just(""), st.sampled_from([":prod", ":$LATEST", ":1", ":live"]),
              st.text(string.ascii_letters + string.digits, min_size=1, max_size=8).map(":".__add__)),
)
SEGMENTS = st.one_of(
    st.sampled_from(["", ".", "..", "a", "my-fn", "with space", "a+b", "100%", "x:y@z", "!$&'()*+,;="]),
    st.text(ANY_CHAR, min_size=1, max_size=12),
    ARNS,
    ARNS.map(lambda arn: arn.split(":", 4)[4]),  # partial ARN: 123456789012:function:name
)


def _encode_segments(segments, trailing):
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    return path + "/" if trailing and segments else path


# Wire paths as the service clients build them: each segment percent-encoded.
ENCODED_PATHS = st.builds(_encode_segments, st.lists(SEGMENTS, max_size=6), st.booleans())
SERVICE_PATHS = st.one_of(
    st.builds("/2015-03-31/functions/{}/invocations".format, st.one_of(ARNS, SEGMENTS).map(lambda f: quote(f, safe=""))),
    st.builds("/topics/{}".format, st.text(ANY_CHAR, max_size=20).map(lambda t: quote(t, safe=""))),
    st.builds("/things/{}/shadow".format, st.text(ANY_CHAR, min_size=1, max_size=12).map(lambda t: quote(t, safe=""))),
    st.builds("/prod/items/{}".format, st.text(ANY_CHAR, max_size=12).map(lambda t: quote(t, safe=""))),
)
_ESCAPES = st.builds(lambda a, b: "%" + a + b, st.sampled_from(HEXDIG), st.sampled_from(HEXDIG))
# Raw wire paths, as a caller might write them by hand: sub-delimiters, ':' and '@' left
# unencoded, escapes in either case, and a literal '%' that starts no escape (not valid on
# the wire, but both signers must still agree on it: each encodes it once more as '%25').
RAW_PATHS = st.lists(
    st.one_of(st.sampled_from(list(UNRESERVED + SUB_DELIMS + ":@%/")), _ESCAPES, st.sampled_from(["/./", "/../", "//"])),
    max_size=16,
).map(lambda parts: "/" + "".join(parts))
RAW_S3_PATHS = st.lists(
    st.one_of(st.sampled_from(list(UNRESERVED + "%/")), _ESCAPES, st.sampled_from(["/./", "/../", "//"])), max_size=16
).map(lambda parts: "/" + "".join(parts))

PATHS = st.one_of(ENCODED_PATHS, ENCODED_PATHS, SERVICE_PATHS, RAW_PATHS)
S3_PATHS = st.one_of(ENCODED_PATHS, ENCODED_PATHS, RAW_S3_PATHS)

QUERY_TEXT = st.one_of(
    st.sampled_from(["", "a", "A", "a b", "x+y", "k=v", "&", "%41", "~", "*"]), st.text(QUERY_CHAR, max_size=10)
)
# Decoded pairs; drawing from a few fixed strings makes duplicate keys (and values) common.
QUERIES = st.lists(st.tuples(QUERY_TEXT, QUERY_TEXT), max_size=6)
UNIQUE_QUERIES = st.lists(
    st.tuples(QUERY_TEXT.filter(lambda k: not k.lower().startswith("x-amz-")), QUERY_TEXT),
    max_size=6,
    unique_by=lambda kv: kv[0],
)

# Header names botocore never signs (hop-by-hop and others proxies change): mpaws must not either.
UNSIGNED_NAMES = list(botoauth.SIGNED_HEADERS_BLACKLIST)
COMMON_NAMES = [
    "Content-Type",
    "Content-Length",
    "Content-MD5",
    "Accept",
    "X-Amz-Target",
    "X-Amz-Meta-Owner",
    "X-Amz-Invocation-Type",
    "x-amz-client-context",
    "If-Match",
    "Range",
    "X-Custom",
]


@st.composite
def header_names(draw, extra=()):
    name = draw(st.one_of(st.sampled_from(COMMON_NAMES + UNSIGNED_NAMES + list(extra)), st.text(TOKEN, min_size=1, max_size=14)))
    # Random case: both lower-case names before signing.
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.swapcase() if f else c for c, f in zip(name, flips))


@st.composite
def header_values(draw):
    """Values with leading/trailing blanks, runs of spaces and tabs, and (rarely) obs-folds,
    which both signers collapse to one space."""
    words = draw(st.lists(st.text(VALUE_CHAR, min_size=1, max_size=8), max_size=4))
    blank = st.text(" \t", min_size=1, max_size=4)
    out = draw(st.one_of(st.just(""), blank))
    for i, word in enumerate(words):
        if i:
            out += draw(st.one_of(st.just(" "), blank, st.sampled_from(["\r\n ", "\r\n\t", "\n ", " \r\n  "])))
        out += word
    return out + draw(st.one_of(st.just(""), blank))


@st.composite
def headers_with_host(draw, netloc, exclude=(), extra=()):
    """(name, value) pairs, duplicates included, with one Host header somewhere."""
    excluded = set(exclude) | {"date", "host"}
    name_strategy = header_names(extra=extra).filter(lambda n: n.lower() not in excluded)
    pairs = draw(st.lists(st.tuples(name_strategy, header_values()), max_size=6))
    if pairs and draw(st.booleans()):
        # Repeat an existing name (in another case), so its values are combined with ','.
        name = draw(st.sampled_from(pairs))[0]
        pairs.insert(draw(st.integers(0, len(pairs))), (name.swapcase(), draw(header_values())))
    host = (draw(st.sampled_from(["Host", "host", "HOST", "hOsT"])), netloc)
    pairs.insert(draw(st.integers(0, len(pairs))), host)
    return pairs


BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.text(max_size=80),  # a str body is signed as its UTF-8
    st.sampled_from([b'{"key": "value"}', "Action=Publish&Message=hello", b"\x00" * 64]),
)


class _ReadOnly:
    """A stream with read() only (no readinto, no seek)."""

    def __init__(self, data):
        self._io = io.BytesIO(data)

    def read(self, n=-1):
        return self._io.read(n)


@st.composite
def body_forms(draw, body, forms=("as-is", "bytes", "bytearray", "memoryview", "pieces", "bytesio", "read-only")):
    """A maker of body in one of the forms mpaws accepts, equal in content: each call
    gives a fresh object (a stream that cannot seek is read once)."""
    raw = body.encode() if isinstance(body, str) else body
    form = draw(st.sampled_from(forms))
    if form == "as-is":
        return lambda: body
    if form == "bytes":
        return lambda: raw
    if form == "bytearray":
        return lambda: bytearray(raw)
    if form == "memoryview":
        return lambda: memoryview(raw)
    if form == "pieces":
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        bounds = [0] + cuts + [len(body)]
        return lambda: [body[a:b] for a, b in zip(bounds, bounds[1:])]
    if form == "bytesio":
        return lambda: io.BytesIO(raw)
    return lambda: _ReadOnly(raw)


@st.composite
def endpoints(draw):
    host = draw(HOSTS)
    port = draw(PORTS)
    return host if port is None else "%s:%d" % (host, port)


# -- the oracle ---------------------------------------------------------------------------


def _boto_request(method, netloc, path, query, headers, data=None, context=None):
    request = AWSRequest(method=method, url="https://" + netloc + path, data=data, params=list(query))
    for name, value in headers:
        request.headers[name] = value  # HTTPHeaders: a repeated name is appended, not replaced
    if context:
        request.context.update(context)
    return request


def boto_sign(auth, request, date):
    """botocore's add_auth(), step by step, at a fixed time: (creq, sts, signature)."""
    request.context["timestamp"] = date
    auth._modify_request_before_signing(request)
    creq = auth.canonical_request(request)
    sts = auth.string_to_sign(request, creq)
    signature = auth.signature(sts, request)
    auth._inject_signature_to_request(request, signature)
    return creq, sts, signature


def boto_presign(auth, request, date, body=None):
    """SigV4QueryAuth's add_auth(), step by step. The body is attached after the query
    rewrite, which would otherwise move it into the query string."""
    request.context["timestamp"] = date
    auth._modify_request_before_signing(request)
    if body is not None:
        request.data = body
    creq = auth.canonical_request(request)
    sts = auth.string_to_sign(request, creq)
    signature = auth.signature(sts, request)
    auth._inject_signature_to_request(request, signature)
    return creq, sts, signature


def _show(**parts):
    for key, value in parts.items():
        note("%s = %r" % (key, value))


def _signer(case, **overrides):
    """The firmware's full signer with the case's key pair, scope and session token."""
    return sigv4_full.Signer(case["access_key"], case["secret_key"], case["region"], case["service"],
                             session_token=case["token"], **overrides)


def _credentials(case):
    return Credentials(case["access_key"], case["secret_key"], case["token"])


def _boto_headers(case):
    """The case's headers for botocore: with content_sha256=True ("flag"), the
    X-Amz-Content-SHA256 header mpaws adds is given to botocore as a header."""
    headers = list(case["headers"])
    if case["sha_mode"] == "flag":
        raw = case["body"].encode() if isinstance(case["body"], str) else case["body"]
        headers.append(("X-Amz-Content-SHA256", hashlib.sha256(raw).hexdigest()))
    return headers


def check_core(signer, expected, method, path, query, headers, body, date):
    """The device core's sign() on a request it takes gives `expected` (what sigv4_full
    gave); a path with '.' or '//' segments it refuses, naming the path."""
    if "//" in path or "/." in path:
        with pytest.raises(ValueError, match="path"):
            signer.sign(method, path, query, headers, body=body, date=date)
        return
    assert signer.sign(method, path, query, headers, body=body, date=date) == expected


# -- header signing -----------------------------------------------------------------------


@st.composite
def sigv4_cases(draw):
    netloc = draw(endpoints())
    token = draw(st.one_of(st.none(), TOKENS))
    body = draw(BODIES)
    raw = body.encode() if isinstance(body, str) else body
    # X-Amz-Content-SHA256: not at all, mpaws's content_sha256=True, or given as a header
    # whose value is the payload hash (botocore signs it and uses it as the payload hash).
    sha_mode = draw(st.sampled_from(["none", "none", "flag", "header"]))
    extra = ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
    headers = draw(headers_with_host(netloc, exclude=["x-amz-content-sha256"], extra=extra))
    if sha_mode == "header":
        headers.append(("X-Amz-Content-SHA256", hashlib.sha256(raw).hexdigest()))
    return dict(
        access_key=draw(ACCESS_KEYS),
        secret_key=draw(SECRETS),
        region=draw(REGIONS),
        service=draw(SERVICES),
        token=token,
        method=draw(METHODS),
        netloc=netloc,
        path=draw(PATHS),
        query=draw(QUERIES),
        headers=headers,
        body=body,
        mp_body=draw(body_forms(body)),
        sha_mode=sha_mode,
        date=draw(DATES),
    )


@FUZZ
@given(sigv4_cases())
def test_sigv4_header_signing_matches_botocore(case):
    _show(**case)
    signer = _signer(case)
    args = (case["method"], case["path"], case["query"], case["headers"])
    kwargs = dict(date=case["date"], content_sha256=case["sha_mode"] == "flag")
    creq, sts, sig = signer.explain(*args, body=case["mp_body"](), **kwargs)
    added = signer.sign(*args, body=case["mp_body"](), **kwargs)

    headers = _boto_headers(case)
    auth = botoauth.SigV4Auth(_credentials(case), case["service"], case["region"])
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], headers, data=case["body"])
    b_creq, b_sts, b_sig = boto_sign(auth, request, case["date"])

    assert creq == b_creq
    assert sts == b_sts
    assert sig == b_sig
    # What sign() returns: the same signature in the same Authorization header, and the
    # headers botocore set on the request, with the same values.
    assert dict(added)["Authorization"] == request.headers["Authorization"]
    for name, value in added:
        assert request.headers.get_all(name) == [value], name
    if case["sha_mode"] != "flag":
        core = sigv4.Signer(case["access_key"], case["secret_key"], case["region"], case["service"],
                            session_token=case["token"])
        check_core(core, added, *args, body=case["body"], date=case["date"])


# -- S3 -----------------------------------------------------------------------------------


@st.composite
def s3_cases(draw):
    netloc = draw(endpoints())
    body = draw(BODIES)
    extra = ["X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256", "Authorization", "x-amz-acl",
             "x-amz-checksum-crc32", "x-amz-storage-class"]
    return dict(
        access_key=draw(ACCESS_KEYS),
        secret_key=draw(SECRETS),
        region=draw(REGIONS),
        # 's3' itself, or another S3-style service signed with mpaws's explicit
        # normalize_path=False, double_encode=False, content_sha256=True.
        service=draw(st.one_of(st.just("s3"), st.just("s3"), st.sampled_from(["s3-outposts", "s3-object-lambda"]))),
        token=draw(st.one_of(st.none(), TOKENS)),
        method=draw(METHODS),
        netloc=netloc,
        path=draw(S3_PATHS),
        query=draw(QUERIES),
        headers=draw(headers_with_host(netloc, extra=extra)),
        body=body,
        mp_body=draw(body_forms(body)),
        unsigned=draw(st.booleans()),
        date=draw(DATES),
    )


def _s3_signer(case):
    overrides = {} if case["service"] == "s3" else dict(normalize_path=False, double_encode=False)
    return _signer(case, **overrides)


@FUZZ
@given(s3_cases())
def test_s3_header_signing_matches_s3sigv4auth(case):
    _show(**case)
    signer = _s3_signer(case)
    args = (case["method"], case["path"], case["query"], case["headers"])

    def payload():
        if case["unsigned"]:
            return dict(payload_hash=sigv4_full.UNSIGNED_PAYLOAD, date=case["date"])
        return dict(body=case["mp_body"](), date=case["date"])

    # 's3' signs X-Amz-Content-SHA256 by default (in explain() as in sign()); the others are asked to.
    content_sha256 = case["service"] != "s3"
    creq, sts, sig = signer.explain(*args, content_sha256=content_sha256, **payload())
    added = signer.sign(*args, content_sha256=content_sha256, **payload())

    context = {}
    if case["unsigned"]:
        # S3SigV4Auth signs the payload unless the client's S3 config says not to.
        context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
    auth = botoauth.S3SigV4Auth(_credentials(case), case["service"], case["region"])
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], case["headers"],
                            data=case["body"], context=context)
    b_creq, b_sts, b_sig = boto_sign(auth, request, case["date"])

    assert creq == b_creq
    assert sts == b_sts
    assert sig == b_sig
    assert dict(added)["Authorization"] == request.headers["Authorization"]
    for name, value in added:
        assert request.headers.get_all(name) == [value], name


# -- presigned URLs -----------------------------------------------------------------------


@st.composite
def presign_cases(draw):
    s3 = draw(st.booleans())
    netloc = draw(endpoints())
    # Not drawn: Authorization (botocore's query signer signs it, mpaws never does),
    # X-Amz-Content-SHA256 (botocore would take it as the payload hash); see the module doc.
    headers = draw(headers_with_host(netloc, exclude=["authorization", "x-amz-content-sha256"],
                                     extra=["X-Amz-Date", "X-Amz-Security-Token"]))
    # Payload: S3 always signs UNSIGNED-PAYLOAD; otherwise a body's hash or UNSIGNED-PAYLOAD.
    payload = "s3" if s3 else draw(st.sampled_from(["body", "body", "unsigned"]))
    body = draw(BODIES) if payload == "body" else b""
    return dict(
        s3=s3,
        access_key=draw(ACCESS_KEYS),
        secret_key=draw(SECRETS),
        region=draw(REGIONS),
        service="s3" if s3 else draw(SERVICES),
        token=draw(st.one_of(st.none(), TOKENS)),
        method=draw(METHODS),
        netloc=netloc,
        path=draw(S3_PATHS if s3 else PATHS),
        query=draw(UNIQUE_QUERIES),
        headers=headers,
        payload=payload,
        body=body,
        mp_body=draw(body_forms(body)),
        expires=draw(EXPIRES),
        date=draw(DATES),
    )


@FUZZ
@given(presign_cases())
def test_presign_matches_sigv4queryauth(case):
    _show(**case)
    signer = _signer(case)
    args = (case["method"], case["path"], case["query"], case["headers"])

    def payload():
        kwargs = dict(expires=case["expires"], date=case["date"])
        if case["payload"] == "unsigned":
            kwargs["payload_hash"] = sigv4_full.UNSIGNED_PAYLOAD
        elif case["payload"] == "body":
            kwargs["body"] = case["mp_body"]()
        return kwargs

    creq, sts, sig = signer.presign_explain(*args, **payload())
    pairs = signer.presign(*args, **payload())

    cls = botoauth.S3SigV4QueryAuth if case["s3"] else botoauth.SigV4QueryAuth
    auth = cls(_credentials(case), case["service"], case["region"], expires=case["expires"])
    context = {"payload_signing_enabled": False} if case["payload"] == "unsigned" else {}
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], case["headers"], context=context)
    b_creq, b_sts, b_sig = boto_presign(auth, request, case["date"], body=case["body"] if case["payload"] == "body" else None)

    assert creq == b_creq
    assert sts == b_sts
    assert sig == b_sig
    assert dict(pairs)["X-Amz-Signature"] == b_sig
    # The whole presigned URL: the request's own query, then the auth parameters, in the
    # same order and with the same encoding.
    url = "https://%s%s?%s" % (case["netloc"], case["path"], sigv4_full.query_string(list(case["query"]) + pairs))
    assert url == request.url


# -- session tokens -------------------------------------------------------------------------


@st.composite
def token_cases(draw):
    netloc = draw(endpoints())
    return dict(
        service=draw(st.one_of(SERVICES, st.just("s3"))),
        region=draw(REGIONS),
        token=draw(st.one_of(st.none(), TOKENS)),
        sign_token=draw(st.booleans()),
        method=draw(METHODS),
        netloc=netloc,
        path=draw(ENCODED_PATHS),
        query=draw(QUERIES),
        # No caller X-Amz-Security-Token: with sign_session_token=False mpaws leaves it
        # unsigned on purpose (its own token header replaces it after signing).
        headers=draw(headers_with_host(netloc, exclude=["x-amz-security-token", "x-amz-content-sha256"])),
        body=draw(st.binary(max_size=64)),
        date=draw(DATES),
    )


@FUZZ
@given(token_cases())
def test_session_token_on_off(case):
    """With a token, X-Amz-Security-Token is signed (as botocore signs it); with
    sign_session_token=False it is added after signing: the signature is then botocore's
    signature without a token, and the token header comes after Authorization."""
    _show(**case)
    s3 = case["service"] == "s3"
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", case["region"], case["service"], session_token=case["token"],
                          sign_session_token=case["sign_token"])
    added = signer.sign(case["method"], case["path"], case["query"], case["headers"], body=case["body"], date=case["date"])

    signed_token = case["token"] if case["sign_token"] else None
    cls = botoauth.S3SigV4Auth if s3 else botoauth.SigV4Auth
    auth = cls(Credentials("AKIDEXAMPLE", "secret", signed_token), case["service"], case["region"])
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], case["headers"], data=case["body"])
    boto_sign(auth, request, case["date"])

    assert dict(added)["Authorization"] == request.headers["Authorization"]
    names = [name for name, _ in added]
    if case["token"] is None:
        assert "X-Amz-Security-Token" not in names
    else:
        assert dict(added)["X-Amz-Security-Token"] == case["token"]
        signed = "x-amz-security-token" in dict(added)["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
        assert signed == case["sign_token"]
        after = names.index("X-Amz-Security-Token") > names.index("Authorization")
        assert after == (not case["sign_token"])
    if not s3 and (case["sign_token"] or case["token"] is None):
        core = sigv4.Signer("AKIDEXAMPLE", "secret", case["region"], case["service"], session_token=case["token"])
        check_core(core, added, case["method"], case["path"], case["query"], case["headers"], case["body"], case["date"])


# -- unsigned payload -----------------------------------------------------------------------


@st.composite
def unsigned_cases(draw):
    netloc = draw(endpoints())
    return dict(
        service=draw(SERVICES),
        region=draw(REGIONS),
        token=draw(st.one_of(st.none(), TOKENS)),
        method=draw(METHODS),
        netloc=netloc,
        path=draw(PATHS),
        query=draw(QUERIES),
        headers=draw(headers_with_host(netloc, exclude=["x-amz-content-sha256"], extra=["X-Amz-Date"])),
        body=draw(BODIES),
        date=draw(DATES),
    )


@FUZZ
@given(unsigned_cases())
def test_unsigned_payload_matches_botocore(case):
    """botocore with payload signing disabled on https (the 'payload_signing_enabled'
    request context) signs X-Amz-Content-SHA256: UNSIGNED-PAYLOAD and that payload line:
    mpaws's payload_hash=UNSIGNED_PAYLOAD with content_sha256=True."""
    _show(**case)
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", case["region"], case["service"], session_token=case["token"])
    args = (case["method"], case["path"], case["query"], case["headers"])
    kwargs = dict(payload_hash=sigv4_full.UNSIGNED_PAYLOAD, date=case["date"], content_sha256=True)
    creq, sts, sig = signer.explain(*args, **kwargs)
    added = signer.sign(*args, **kwargs)

    auth = botoauth.SigV4Auth(Credentials("AKIDEXAMPLE", "secret", case["token"]), case["service"], case["region"])
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], case["headers"],
                            data=case["body"], context={"payload_signing_enabled": False})
    b_creq, b_sts, b_sig = boto_sign(auth, request, case["date"])

    assert creq.endswith("\n" + sigv4_full.UNSIGNED_PAYLOAD)
    assert (creq, sts, sig) == (b_creq, b_sts, b_sig)
    assert dict(added)["X-Amz-Content-SHA256"] == request.headers["X-Amz-Content-SHA256"] == sigv4_full.UNSIGNED_PAYLOAD
    assert dict(added)["Authorization"] == request.headers["Authorization"]


# -- add_auth() itself ----------------------------------------------------------------------


@FUZZ
@given(sigv4_cases(), st.booleans())
def test_add_auth_authorization_header(case, s3):
    """The Authorization header mpaws returns equals the one botocore's own add_auth() puts
    on the request (clock frozen at the case's date): this also checks that the step-by-step
    driving used by the other tests is what add_auth() does."""
    if s3:
        case = dict(case, service="s3", headers=[h for h in case["headers"] if h[0].lower() != "x-amz-content-sha256"],
                    sha_mode="none")
        # Raw sub-delimiters in an S3 path: see the module doc.
        if any(c not in UNRESERVED + "%/" for c in case["path"]):
            case["path"] = _encode_segments(case["path"].split("/")[1:], False)
    _show(**case)
    signer = _signer(case)
    added = signer.sign(case["method"], case["path"], case["query"], case["headers"], body=case["mp_body"](),
                        date=case["date"], content_sha256=case["sha_mode"] == "flag")

    headers = _boto_headers(case)
    cls = botoauth.S3SigV4Auth if s3 else botoauth.SigV4Auth
    auth = cls(_credentials(case), case["service"], case["region"])
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], headers, data=case["body"])
    frozen = datetime.datetime.strptime(case["date"], "%Y%m%dT%H%M%SZ")
    with mock.patch.object(botoauth, "get_current_datetime", return_value=frozen):
        auth.add_auth(request)

    assert dict(added)["Authorization"] == request.headers["Authorization"]
    assert dict(added)["X-Amz-Date"] == request.headers["X-Amz-Date"] == case["date"]


# -- one signer, many requests --------------------------------------------------------------


@st.composite
def signer_sessions(draw):
    """A Signer's life on a device: one set of credentials, then requests signed one after
    another, mostly with the same headers, on the same day or the next, header signing,
    explain() and presigning interleaved (the signer caches its key and signed-headers list)."""
    s3 = draw(st.booleans())
    netloc = draw(endpoints())
    exclude = ["authorization", "x-amz-content-sha256"]
    base_headers = draw(headers_with_host(netloc, exclude=exclude))
    start = draw(st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2099, 12, 30)))
    later = [start, start + datetime.timedelta(seconds=draw(st.integers(1, 3600))),
             datetime.datetime.combine(start.date(), datetime.time()) + datetime.timedelta(days=1)]
    requests = []
    for _ in range(draw(st.integers(2, 6))):
        headers = draw(st.one_of(st.just(base_headers), st.just(base_headers), headers_with_host(netloc, exclude=exclude)))
        requests.append(dict(
            kind=draw(st.sampled_from(["sign", "sign", "explain", "presign"])),
            method=draw(METHODS),
            path=draw(S3_PATHS if s3 else PATHS),
            query=draw(UNIQUE_QUERIES),
            headers=headers,
            body=b"" if s3 else draw(st.binary(max_size=32)),
            content_sha256=False if s3 else draw(st.booleans()),
            date=draw(st.sampled_from(later)).strftime("%Y%m%dT%H%M%SZ"),
        ))
    return dict(s3=s3, netloc=netloc, service="s3" if s3 else draw(SERVICES), region=draw(REGIONS),
                token=draw(st.one_of(st.none(), TOKENS)), requests=requests)


@FUZZ
@given(signer_sessions())
def test_one_signer_many_requests(session):
    _show(**session)
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", session["region"], session["service"], session_token=session["token"])
    # The device core signs alongside, whatever it takes: its plan cache sees the same run.
    core = None if session["s3"] else sigv4.Signer("AKIDEXAMPLE", "secret", session["region"], session["service"],
                                                   session_token=session["token"])
    credentials = Credentials("AKIDEXAMPLE", "secret", session["token"])
    for r in session["requests"]:
        note("request: %r" % (r,))
        args = (r["method"], r["path"], r["query"], r["headers"])
        if r["kind"] == "presign":
            pairs = signer.presign(*args, date=r["date"], body=None if session["s3"] else r["body"])
            cls = botoauth.S3SigV4QueryAuth if session["s3"] else botoauth.SigV4QueryAuth
            request = _boto_request(r["method"], session["netloc"], r["path"], r["query"], r["headers"])
            boto_presign(cls(credentials, session["service"], session["region"]), request, r["date"],
                         body=None if session["s3"] else r["body"])
            assert "https://%s%s?%s" % (session["netloc"], r["path"], sigv4_full.query_string(r["query"] + pairs)) == request.url
            continue
        headers = list(r["headers"])
        if r["content_sha256"]:
            headers.append(("X-Amz-Content-SHA256", hashlib.sha256(r["body"]).hexdigest()))
        cls = botoauth.S3SigV4Auth if session["s3"] else botoauth.SigV4Auth
        request = _boto_request(r["method"], session["netloc"], r["path"], r["query"], headers, data=r["body"])
        b_creq, b_sts, b_sig = boto_sign(cls(credentials, session["service"], session["region"]), request, r["date"])
        if r["kind"] == "explain":
            assert signer.explain(*args, body=r["body"], date=r["date"], content_sha256=r["content_sha256"]) == (b_creq, b_sts, b_sig)
        else:
            added = signer.sign(*args, body=r["body"], date=r["date"], content_sha256=r["content_sha256"])
            assert dict(added)["Authorization"] == request.headers["Authorization"]
            if core is not None and not r["content_sha256"]:
                check_core(core, added, *args, body=r["body"], date=r["date"])


# -- a 1 MB body ----------------------------------------------------------------------------


@FUZZ_BIG
@given(st.integers(0, 2**32 - 1), st.sampled_from(["bytes", "memoryview", "pieces", "bytesio", "read-only"]),
       st.booleans(), DATES)
def test_one_megabyte_body(seed, form, s3, date):
    """A 1 MB body, hashed by mpaws from each of its forms (streams READ_CHUNK bytes at a
    time), signs as botocore signs it; for S3 also the X-Amz-Content-SHA256 value."""
    body = random.Random(seed).randbytes(1 << 20)
    if form == "memoryview":
        mp_body = memoryview(body)
    elif form == "pieces":
        mp_body = [body[:1000], body[1000:500000], body[500000:]]
    elif form == "bytesio":
        mp_body = io.BytesIO(body)
    elif form == "read-only":
        mp_body = _ReadOnly(body)
    else:
        mp_body = body
    service = "s3" if s3 else "lambda"
    netloc = "bucket.s3.amazonaws.com" if s3 else "lambda.us-east-1.amazonaws.com"
    path = "/big/object.bin" if s3 else "/2015-03-31/functions/" + quote("arn:aws:lambda:us-east-1:123456789012:function:f:prod", safe="") + "/invocations"
    headers = [("Host", netloc), ("Content-Type", "application/octet-stream")]
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", "us-east-1", service)
    added = dict(signer.sign("PUT", path, [], headers, body=mp_body, date=date))
    if hasattr(mp_body, "tell"):
        assert mp_body.tell() == 0  # rewound for the transport to send

    cls = botoauth.S3SigV4Auth if s3 else botoauth.SigV4Auth
    request = _boto_request("PUT", netloc, path, [], headers, data=body)
    boto_sign(cls(Credentials("AKIDEXAMPLE", "secret"), service, "us-east-1"), request, date)
    assert added["Authorization"] == request.headers["Authorization"]
    if s3:
        assert added["X-Amz-Content-SHA256"] == request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()


# -- regressions: divergences these properties found, pinned as plain tests -------------------

HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"]


@pytest.mark.parametrize("name", HOP_BY_HOP)
def test_hop_by_hop_headers_are_not_signed(name):
    """AWS's SigV4 guide says not to sign hop-by-hop headers (connection, keep-alive, te,
    trailer, upgrade, proxy-authenticate, proxy-authorization): a proxy or load balancer
    may drop or rewrite them, and the signature no longer matches. botocore leaves them
    out; MicroPython HTTP clients commonly send `Connection: close`."""
    headers = [("Host", "lambda.us-east-1.amazonaws.com"), (name.title(), "close")]
    date = "20240101T000000Z"
    added = dict(sigv4_full.Signer("AKIDEXAMPLE", "secret", "us-east-1", "lambda").sign("GET", "/", [], headers, date=date))
    request = _boto_request("GET", "lambda.us-east-1.amazonaws.com", "/", [], headers)
    boto_sign(botoauth.SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "lambda", "us-east-1"), request, date)
    assert added["Authorization"] == request.headers["Authorization"]


@pytest.mark.parametrize("token", [" token", "token ", "to  ken", "to\tken"])
def test_session_token_whitespace_is_trimmed(token):
    """X-Amz-Security-Token is a header like any other: its canonical value is trimmed and
    its runs of blanks collapsed (the server sees it so), though it is sent as given."""
    headers = [("Host", "sns.eu-west-1.amazonaws.com")]
    date = "20240101T000000Z"
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", "eu-west-1", "sns", session_token=token)
    added = dict(signer.sign("GET", "/", [], headers, date=date))
    request = _boto_request("GET", "sns.eu-west-1.amazonaws.com", "/", [], headers)
    boto_sign(botoauth.SigV4Auth(Credentials("AKIDEXAMPLE", "secret", token), "sns", "eu-west-1"), request, date)
    assert added["Authorization"] == request.headers["Authorization"]


def test_s3_explain_shows_what_sign_signs():
    """explain() is what to print when AWS says the signature does not match, so it must
    show the request sign() signed: for S3 that includes X-Amz-Content-SHA256, which sign()
    signs by default."""
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", "us-east-1", "s3")
    args = ("GET", "/key", [], [("Host", "bucket.s3.amazonaws.com")])
    date = "20240101T000000Z"
    creq, _, signature = signer.explain(*args, date=date)
    authorization = dict(signer.sign(*args, date=date))["Authorization"]
    assert authorization.endswith("Signature=" + signature)
    assert "x-amz-content-sha256:" in creq


def test_presign_explain_reads_a_stream_once():
    """presign_explain() of a body given as a stream that cannot seek hashes it once: a
    second read would find it spent and show the empty payload's hash."""
    args = ("PUT", "/", [], [("Host", "sns.us-east-1.amazonaws.com")])
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", "us-east-1", "sns")
    date = "20240101T000000Z"
    creq, _, signature = signer.presign_explain(*args, date=date, body=_ReadOnly(b"payload"))
    presigned = dict(signer.presign(*args, date=date, body=_ReadOnly(b"payload")))
    assert creq.endswith("\n" + hashlib.sha256(b"payload").hexdigest())
    assert presigned["X-Amz-Signature"] == signature


# -- S3 presigned URLs: botocore's generate_presigned_url and S3SigV4QueryAuth --------------

S3_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=24).filter(
    lambda k: not k.startswith("/") and "//" not in k and k not in (".", "..") and "/./" not in k and "/../" not in k
    and not k.endswith(("/.", "/..")) and not k.startswith(("./", "../")))


# The checks added for issue-sized features (S3 URLs, payload hashes, single encoding, IoT):
# fewer examples than the core properties by default (`make fuzz` still scales them).
FUZZ_EXTRA = settings(FUZZ, max_examples=max(25, EXAMPLES // 6))
_BOTO_SESSION = []


def _presigned_s3_url(method, bucket, key, region, expires, token, date):
    """botocore's own S3 client presigning get_object / put_object, clock frozen at date."""
    import botocore.session
    from botocore.config import Config

    if not _BOTO_SESSION:
        _BOTO_SESSION.append(botocore.session.get_session())  # its service models load once
    client = _BOTO_SESSION[0].create_client(
        "s3", region_name=region, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
        aws_session_token=token, config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    frozen = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ")
    operation = {"GET": "get_object", "PUT": "put_object"}[method]
    with mock.patch.object(botoauth, "get_current_datetime", return_value=frozen):
        return client.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)


@FUZZ_EXTRA
@given(st.sampled_from(["GET", "PUT"]), S3_KEYS, st.sampled_from(["eu-west-1", "us-west-2", "ap-southeast-1"]),
       st.one_of(st.none(), st.text(PRINTABLE_NO_WS, min_size=1, max_size=60)), EXPIRES, DATES, BODIES)
def test_s3_presigned_url_matches_generate_presigned_url(method, key, region, token, expires, date, body):
    """The URL mpaws presigns for S3 (GET or PUT, with or without a session token) is
    byte for byte the one botocore's S3 client gives: UNSIGNED-PAYLOAD is signed whatever
    body the caller hands to presign() (the body is not even read)."""
    _show(method=method, key=key, region=region, token=token, expires=expires, date=date)
    url = _presigned_s3_url(method, "my-bucket", key, region, expires, token, date)
    host = "my-bucket.s3.%s.amazonaws.com" % region
    path = "/" + quote(key, safe="/~")
    signer = sigv4_full.Signer("AKIDEXAMPLE", "secret", region, "s3", session_token=token)
    stream = _ReadOnly(body.encode() if isinstance(body, str) else body)
    pairs = signer.presign(method, path, [], [("Host", host)], expires, date=date, body=stream)
    assert stream._io.tell() == 0  # not read
    assert "https://%s%s?%s" % (host, path, sigv4_full.query_string(pairs)) == url
    creq = signer.presign_explain(method, path, [], [("Host", host)], expires, date=date, body=body)[0]
    assert creq.endswith("\nhost\n" + sigv4_full.UNSIGNED_PAYLOAD)


HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)


@FUZZ_EXTRA
@given(presign_cases(), HEX64)
def test_presign_with_a_payload_hash_matches_botocore(case, hexdigest):
    """presign(payload_hash=HEX), S3 or not: botocore is told the payload hash the way it
    takes one, an X-Amz-Content-SHA256 header (which both then sign as a header too)."""
    _show(**case)
    headers = case["headers"] + [("X-Amz-Content-SHA256", hexdigest)]
    signer = _signer(case)
    args = (case["method"], case["path"], case["query"], headers)
    kwargs = dict(expires=case["expires"], date=case["date"], payload_hash=hexdigest, body=case["mp_body"]())
    creq, sts, sig = signer.presign_explain(*args, **kwargs)
    kwargs["body"] = case["mp_body"]()
    pairs = signer.presign(*args, **kwargs)

    cls = botoauth.S3SigV4QueryAuth if case["s3"] else botoauth.SigV4QueryAuth
    auth = cls(_credentials(case), case["service"], case["region"], expires=case["expires"])
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], headers)
    assert (creq, sts, sig) == boto_presign(auth, request, case["date"])
    assert creq.endswith("\n" + hexdigest)
    assert "https://%s%s?%s" % (case["netloc"], case["path"], sigv4_full.query_string(case["query"] + pairs)) \
        == request.url


@FUZZ_EXTRA
@given(sigv4_cases(), HEX64, st.booleans())
def test_sign_with_a_payload_hash_matches_botocore(case, hexdigest, unsigned):
    """sign(payload_hash=HEX or UNSIGNED-PAYLOAD, content_sha256=True): X-Amz-Content-SHA256
    carries that value and the canonical request ends with it, as botocore signs a request
    that carries the header (UNSIGNED-PAYLOAD: payload signing disabled)."""
    value = sigv4_full.UNSIGNED_PAYLOAD if unsigned else hexdigest
    headers = [h for h in case["headers"] if h[0].lower() != "x-amz-content-sha256"]
    _show(value=value, **case)
    signer = _signer(case)
    args = (case["method"], case["path"], case["query"], headers)
    kwargs = dict(date=case["date"], payload_hash=value, content_sha256=True)
    explained = signer.explain(*args, body=case["mp_body"](), **kwargs)
    added = signer.sign(*args, body=case["mp_body"](), **kwargs)

    auth = botoauth.SigV4Auth(_credentials(case), case["service"], case["region"])
    context = {"payload_signing_enabled": False} if unsigned else {}
    boto_headers = headers if unsigned else headers + [("X-Amz-Content-SHA256", hexdigest)]
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], boto_headers,
                            data=case["body"], context=context)
    assert explained == boto_sign(auth, request, case["date"])
    assert explained[0].endswith("\n" + value)
    assert dict(added)["X-Amz-Content-SHA256"] == request.headers["X-Amz-Content-SHA256"] == value
    assert dict(added)["Authorization"] == request.headers["Authorization"]


class _SingleEncodedSigV4Auth(botoauth.SigV4Auth):
    """botocore's SigV4Auth with path escaping off: the path normalised (or, with
    normalize=False, as S3SigV4Auth takes it) but not percent-encoded once more."""

    normalize = True

    def _normalize_url_path(self, path):
        from botocore.utils import normalize_url_path
        return normalize_url_path(path) if self.normalize else path


@FUZZ_EXTRA
@given(sigv4_cases(), S3_PATHS, st.booleans())
def test_single_encoded_path_matches_botocore(case, path, normalize):
    """double_encode=False (sign_request.py --single-encode) for a service other than S3:
    the wire path signed as sent (dot segments removed unless normalize_path=False), as
    botocore signs when its path escaping is turned off. Paths are drawn already encoded
    (see the module doc on S3 paths)."""
    case = dict(case, path=path)
    _show(normalize=normalize, **case)
    signer = _signer(case, double_encode=False, normalize_path=normalize)
    args = (case["method"], case["path"], case["query"], case["headers"])
    kwargs = dict(date=case["date"], content_sha256=case["sha_mode"] == "flag")
    explained = signer.explain(*args, body=case["mp_body"](), **kwargs)
    added = signer.sign(*args, body=case["mp_body"](), **kwargs)

    auth = _SingleEncodedSigV4Auth(_credentials(case), case["service"], case["region"])
    auth.normalize = normalize
    request = _boto_request(case["method"], case["netloc"], case["path"], case["query"], _boto_headers(case),
                            data=case["body"])
    assert explained == boto_sign(auth, request, case["date"])
    assert dict(added)["Authorization"] == request.headers["Authorization"]


# -- AWS IoT: MQTT over WebSocket -------------------------------------------------------------

IOT_ENDPOINTS = st.builds("{}-ats.iot.{}.amazonaws.com".format,
                          st.text(string.ascii_lowercase + string.digits, min_size=8, max_size=14),
                          st.sampled_from(["eu-west-1", "us-east-1", "ap-southeast-1"]))


@FUZZ_EXTRA
@given(IOT_ENDPOINTS, st.one_of(st.none(), st.text(PRINTABLE_NO_WS, min_size=1, max_size=900)), EXPIRES, DATES,
       st.sampled_from(["tuple", "attributes", "botocore"]))
def test_iot_websocket_url_matches_botocore(endpoint, token, expires, date, form):
    """iot_websocket_url(): botocore's SigV4QueryAuth for service iotdevicegateway on
    GET wss://ENDPOINT/mqtt, signed WITHOUT the session token, then
    &X-Amz-Security-Token=<token, percent-encoded> appended -- the URL AWS IoT wants."""
    region = endpoint.split(".")[2]
    _show(endpoint=endpoint, token=token, expires=expires, date=date, form=form)
    if form == "tuple":
        credentials = ("AKIDEXAMPLE", "secret") + (() if token is None else (token,))
    elif form == "attributes":
        credentials = types.SimpleNamespace(access_key="AKIDEXAMPLE", secret_key="secret", session_token=token)
    else:
        credentials = Credentials("AKIDEXAMPLE", "secret", token)
    url = sigv4_full.iot_websocket_url(endpoint, region, credentials, expires, date=date)

    auth = botoauth.SigV4QueryAuth(Credentials("AKIDEXAMPLE", "secret"), "iotdevicegateway", region, expires=expires)
    request = _boto_request("GET", endpoint, "/mqtt", [], [("Host", endpoint)])
    boto_presign(auth, request, date)
    expected = "wss" + request.url[len("https"):]
    if token is not None:
        expected += "&X-Amz-Security-Token=" + quote(token, safe="-_.~")
    assert url == expected


def test_iot_websocket_url_refuses_bad_input_without_echoing_the_secret():
    date = "20240101T000000Z"
    for endpoint in ("", "wss://x.iot.eu-west-1.amazonaws.com", "host/mqtt", "a b", None):
        with pytest.raises(ValueError, match="endpoint"):
            sigv4_full.iot_websocket_url(endpoint, "eu-west-1", ("AKIDEXAMPLE", "secret"), date=date)
    for credentials in (("AKIDEXAMPLE",), ("a", "b", "c", "d"), object()):
        with pytest.raises(ValueError, match="credentials") as e:
            sigv4_full.iot_websocket_url("x.iot.eu-west-1.amazonaws.com", "eu-west-1", credentials, date=date)
    with pytest.raises(ValueError) as e:
        sigv4_full.iot_websocket_url("x.iot.eu-west-1.amazonaws.com", "eu-west-1", ("AKID", "s3cr3t-value", "a\nb"),
                                     date=date)
    assert "s3cr3t" not in str(e.value) and "a\nb" not in str(e.value)
    with pytest.raises(ValueError, match="expires"):
        sigv4_full.iot_websocket_url("x.iot.eu-west-1.amazonaws.com", "eu-west-1", ("AKID", "secret"), 0, date=date)
