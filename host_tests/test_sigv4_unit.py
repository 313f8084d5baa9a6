"""Behaviour of mpaws.sigv4 (the device core) and mpaws.sigv4_full (what builds on it)
under CPython, checked against independent oracles where there is one: Python's hmac and
hashlib, time.strftime, urllib.parse.quote, botocore's path normalisation."""
import hashlib
import hmac
import io
import re
import time
from urllib.parse import quote, unquote

import pytest
from botocore.utils import normalize_url_path
from hypothesis import given, settings
from hypothesis import strategies as st

from mpaws import sigv4, sigv4_full

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
SERVICE = "service"
DATE = "20150830T123600Z"
HOST = ("Host", "example.amazonaws.com")
ESP32_EPOCH = 946684800  # 2000-01-01T00:00:00Z in unix seconds


def make_signer(core=False, **kw):
    """A sigv4_full.Signer (the whole API), or with core=True the device core's Signer."""
    args = dict(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION, service=SERVICE)
    args.update(kw)
    return (sigv4.Signer if core else sigv4_full.Signer)(**args)


def sign(signer, headers=(HOST,), method="GET", path="/", query=None, **kw):
    kw.setdefault("date", DATE)
    return signer.sign(method, path, query, list(headers), **kw)


def creq_of(signer, headers=(HOST,), method="GET", path="/", query=None, **kw):
    kw.setdefault("date", DATE)
    return signer.canonical_request(method, path, query, list(headers), **kw)


def authz_fields(added):
    value = dict(added)["Authorization"]
    algorithm, rest = value.split(" ", 1)
    assert algorithm == "AWS4-HMAC-SHA256"
    return dict(part.split("=", 1) for part in rest.split(", "))


def oracle_signature(secret, date, region, service, string_to_sign):
    """SigV4's signature, by Python's hmac module."""
    key = ("AWS4" + secret).encode()
    for part in (date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


# -- HMAC-SHA256 ------------------------------------------------------------------------


@pytest.mark.parametrize("key_len", [0, 1, 63, 64, 65, 200])
@pytest.mark.parametrize("message", [b"", b"abc", "h\u00e9llo w\u00f6rld \u2603", bytes(range(256)) * 5],
                         ids=["empty", "abc", "str-utf8", "1280-bytes"])
def test_hmac_sha256_matches_hmac_module(key_len, message):
    key = bytes((i * 7 + 3) % 256 for i in range(key_len))
    data = message.encode() if isinstance(message, str) else message
    assert sigv4_full.hmac_sha256(key, message) == hmac.new(key, data, hashlib.sha256).digest()


@settings(max_examples=200)
@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmac_sha256_any_key_and_message(key, message):
    assert sigv4_full.hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).digest()


def test_signing_key_matches_hmac_chain():
    signer = make_signer()
    key = ("AWS4" + SECRET_KEY).encode()
    for part in ("20150830", REGION, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert signer.signing_key("20150830") == key


# -- payload hash -------------------------------------------------------------------------

MB = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: not a whole number of chunks


class ReadOnly:
    """A stream with read() only: no readinto, tell or seek."""

    def __init__(self, data):
        self._data = data
        self._pos = 0

    def read(self, n):
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


class Trickle(io.BytesIO):
    """readinto() that returns fewer bytes than asked for (as a socket may)."""

    def readinto(self, buf):
        view = memoryview(buf)
        return super().readinto(view[: min(len(view), 100)])


class Unseekable(io.RawIOBase):
    """An io stream that cannot seek (a pipe, a socket's makefile()): it has tell() and
    seek(), but they raise io.UnsupportedOperation."""

    def __init__(self, data):
        self._data = data
        self._pos = 0

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), len(self._data) - self._pos)
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize(
    "body,expected",
    [
        (None, b""),
        (b"", b""),
        ("", b""),
        (b"abc", b"abc"),
        (bytearray(b"abc\x00\xff"), b"abc\x00\xff"),
        (memoryview(b"xxpayloadxx")[2:-2], b"payload"),
        ("h\u00e9llo \u2603", "h\u00e9llo \u2603".encode()),
        ([b"ab", "c\u00e9", bytearray(b"d"), memoryview(b"e")], b"abc\xc3\xa9de"),
        ((b"ab", b"", b"cd"), b"abcd"),
        ([], b""),
        (MB, MB),
    ],
    ids=["none", "empty-bytes", "empty-str", "bytes", "bytearray", "memoryview", "str", "list", "tuple",
         "empty-list", "1MB"],
)
def test_payload_hash(body, expected):
    assert sigv4.payload_hash(body) == hashlib.sha256(expected).hexdigest()
    assert sigv4_full.payload_hash(body) == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize("data", [b"", b"abc", MB[:512], MB[:513], MB], ids=["0", "3", "512", "513", "1MB"])
def test_payload_hash_stream_is_rewound(data):
    stream = io.BytesIO(b"skip" + data)
    stream.seek(4)
    assert sigv4_full.payload_hash(stream) == hashlib.sha256(data).hexdigest()
    assert stream.tell() == 4  # where the transport will read the body from
    assert stream.read() == data


def test_payload_hash_read_only_stream():
    assert sigv4_full.payload_hash(ReadOnly(MB)) == hashlib.sha256(MB).hexdigest()


def test_payload_hash_short_reads():
    stream = Trickle(MB[:5000])
    assert sigv4_full.payload_hash(stream) == hashlib.sha256(MB[:5000]).hexdigest()
    assert stream.tell() == 0


def test_payload_hash_unseekable_stream():
    assert sigv4_full.payload_hash(Unseekable(MB[:5000])) == hashlib.sha256(MB[:5000]).hexdigest()


def test_payload_hash_rejects_other_types():
    with pytest.raises(ValueError, match="body"):
        sigv4.payload_hash(12345)
    with pytest.raises(ValueError, match="body"):
        sigv4_full.payload_hash(12345)


def test_core_refuses_a_stream_body():
    # Streams are sigv4_full's; the core says so rather than hashing something else.
    with pytest.raises(ValueError, match="body"):
        sign(make_signer(core=True), method="POST", body=io.BytesIO(b"abc"))


def test_stream_body_signs_like_bytes():
    stream = io.BytesIO(MB)
    signer = make_signer()
    assert sign(signer, method="POST", body=stream) == sign(signer, method="POST", body=MB)
    assert stream.tell() == 0


def test_payload_hash_argument():
    signer = make_signer()
    digest = hashlib.sha256(b"abc").hexdigest()
    assert sign(signer, method="POST", payload_hash=digest) == sign(signer, method="POST", body=b"abc")
    creq = creq_of(signer, method="POST", payload_hash=sigv4.UNSIGNED_PAYLOAD)
    assert creq.endswith("\nUNSIGNED-PAYLOAD")
    for bad in ("ABC", digest.upper(), digest[:-1], digest + "0"):
        with pytest.raises(ValueError, match="payload_hash"):
            sign(signer, method="POST", payload_hash=bad)


# -- input validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\r\n", "\r\n b", "a\x00b", "a\x1bb", "a\x7f", "a\x0bb"],
    ids=["crlf-injection", "lf", "cr", "trailing-crlf", "leading-fold", "nul", "esc", "del", "vt"],
)
def test_bad_header_value(value):
    with pytest.raises(ValueError, match="'X-Test'"):
        sign(make_signer(), headers=[HOST, ("X-Test", value)])
    with pytest.raises(ValueError, match="'X-Test'"):
        sigv4.check_header("X-Test", value)
    with pytest.raises(ValueError, match="'X-Test'"):
        sign(make_signer(core=True), headers=[HOST, ("X-Test", value)])


@pytest.mark.parametrize("name", ["Bad Header", "Bad:Name", "X-Test\r\n", "X(1)", "Caf\u00e9", "", None])
def test_bad_header_name(name):
    with pytest.raises(ValueError, match="header name " + re.escape(repr(name))):
        sign(make_signer(), headers=[HOST, (name, "x")])


def test_non_string_header_value():
    with pytest.raises(ValueError, match="'X-Test'"):
        sign(make_signer(), headers=[HOST, ("X-Test", 5)])


@pytest.mark.parametrize("value", ["a\r\n b", "a\n\tb", "a\r\n  \t b"])
def test_folded_header_value_is_accepted(value):
    signer = make_signer()
    assert "\nx-test:a b\n" in creq_of(signer, headers=[HOST, ("X-Test", value)])
    assert sign(signer, headers=[HOST, ("X-Test", value)]) == sign(signer, headers=[HOST, ("X-Test", "a b")])


@pytest.mark.parametrize(
    "date",
    ["20150830T1236Z", "2015-08-30T12:36:00Z", "20151330T123600Z", "20150800T123600Z", "20150832T123600Z",
     "20150830T243600Z", "20150830T126000Z", "20150830T123600", "20150830t123600z", "2015083OT123600Z", "",
     20150830, 1440938160, b"20150830T123600Z", ["20150830T123600Z"], 1440938160.0],
)
def test_bad_date(date):
    with pytest.raises(ValueError, match="date"):
        sigv4.check_amz_date(date)
    with pytest.raises(ValueError, match="date"):
        sign(make_signer(), date=date)
    with pytest.raises(ValueError, match="date"):
        make_signer().presign("GET", "/", None, [HOST], 60, date=date)


def _plausible_date(text):
    # The oracle: ASCII digits, 'T' and 'Z' in place, each field within its range.
    m = re.fullmatch(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z", text)
    if not m:
        return False
    _, month, day, hour, minute, second = (int(g) for g in m.groups())
    return 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60


@pytest.mark.parametrize("date", ["-0150830T123600Z", "2015-830T123600Z", "20150830T-13600Z", "20150830T12-100Z",
                                  "20150830T1236-1Z", "2015+830T123600Z", "2015 830T123600Z", "20150830T123600Z ",
                                  "2015\u0663830T123600Z", "20150830T12360\u0669Z", "2015_830T123600Z",
                                  "20150830X123600Z", "20150830T123600z", "20150830T123600ZZ"])
def test_bad_date_signs_and_spaces(date):
    with pytest.raises(ValueError, match="date"):
        sigv4.check_amz_date(date)


@settings(max_examples=500)
@given(st.one_of(
    st.text(alphabet="0123456789TZ-+ _\u0663", min_size=14, max_size=18),
    st.builds(lambda y, mo, d, h, mi, s: "%04d%02d%02dT%02d%02d%02dZ" % (y, mo, d, h, mi, s),
              st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
              st.integers(0, 61))))
def test_check_amz_date_agrees_with_a_regex(date):
    if _plausible_date(date):
        sigv4.check_amz_date(date)
    else:
        with pytest.raises(ValueError, match="date"):
            sigv4.check_amz_date(date)


@pytest.mark.parametrize(
    "field,value",
    [
        ("region", ""), ("service", ""), ("access_key", ""), ("secret_key", ""),
        ("region", None), ("service", None), ("access_key", None), ("secret_key", None),
        ("region", "US-EAST-1"), ("region", "us east 1"), ("region", "us-east-1\n"), ("service", "Lambda"),
        ("access_key", "AKID EXAMPLE"), ("access_key", '"AKIDEXAMPLE"'), ("access_key", "AKIDEXAMPLE\n"),
        ("access_key", "AKID-EXAMPLE"), ("access_key", "AKID\u00c9XAMPLE"),
        ("secret_key", b"bytes-secret"),
    ],
)
def test_bad_credentials_and_scope(field, value):
    with pytest.raises(ValueError, match=field):
        make_signer(**{field: value})


@pytest.mark.parametrize("token", ["", "a\r\nX-Evil: 1", "a\x00", 123])
def test_bad_session_token(token):
    with pytest.raises(ValueError, match="(?i)session_token|security-token"):
        make_signer(session_token=token)


@pytest.mark.parametrize("expires", [0, 604801, -1, "3600", True, False, 3600.0, None])
def test_bad_presign_expires(expires):
    with pytest.raises(ValueError, match="expires"):
        make_signer().presign("GET", "/", None, [HOST], expires, date=DATE)


@pytest.mark.parametrize("expires", [1, 604800])
def test_presign_expires_limits_accepted(expires):
    query = dict(make_signer().presign("GET", "/", None, [HOST], expires, date=DATE))
    assert query["X-Amz-Expires"] == str(expires)


@pytest.mark.parametrize("headers", [[], [("X-Amz-Date", DATE)], [("Hostname", "h")]])
def test_missing_host(headers):
    with pytest.raises(ValueError, match="Host"):
        sign(make_signer(), headers=headers)
    with pytest.raises(ValueError, match="Host"):
        make_signer().presign("GET", "/", None, headers, 60, date=DATE)


def test_host_any_case():
    signer = make_signer()
    assert sign(signer, headers=[("host", HOST[1])]) == sign(signer, headers=[("HOST", HOST[1])])


@pytest.mark.parametrize("method", ["", "get", "GET ", "G\nET", None])
def test_bad_method(method):
    with pytest.raises(ValueError, match="method"):
        sign(make_signer(), method=method)


@pytest.mark.parametrize("path", ["", "example", "/a\r\nX-Evil: 1", "/a\x00", None])
def test_bad_path(path):
    with pytest.raises(ValueError, match="path"):
        sign(make_signer(), path=path)


# -- the secret key stays secret ------------------------------------------------------------


def assert_secret_absent(text):
    assert SECRET_KEY not in text
    assert SECRET_KEY[:16] not in text and SECRET_KEY[-16:] not in text


def test_secret_not_in_repr_or_str():
    signer = make_signer(session_token="tok")
    assert_secret_absent(repr(signer))
    assert_secret_absent(str(signer))
    assert ACCESS_KEY in repr(signer)


def leaks(value, secret=SECRET_KEY):
    """Whether value holds the secret as plain text (as str, or bytes in any container)."""
    if isinstance(value, str):
        return secret in value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return secret.encode() in bytes(value)
    if isinstance(value, (list, tuple, set)):
        return any(leaks(v, secret) for v in value)
    if isinstance(value, dict):
        return any(leaks(k, secret) or leaks(v, secret) for k, v in value.items())
    return secret in repr(value)


def test_leaks_helper_finds_the_secret():
    assert leaks(("x", [b"AWS4" + SECRET_KEY.encode()]))
    assert leaks({"k": bytearray(SECRET_KEY.encode())})
    assert not leaks((bytearray(b"x"), "y", None))


@pytest.mark.parametrize("core", [True, False], ids=["core", "full"])
def test_secret_not_in_attributes(core):
    signer = make_signer(core=core)
    sign(signer)
    for name, value in vars(signer).items():
        assert not leaks(value), name


def error_text(e):
    return " ".join([str(e), repr(e)] + [repr(a) for a in e.args])


@pytest.mark.parametrize("core", [True, False], ids=["core", "full"])
def test_secret_not_in_error_messages(core):
    signer = make_signer(session_token="tok", core=core)
    bad_calls = [
        lambda: make_signer(region=""),
        lambda: make_signer(region="Us-East-1"),
        lambda: make_signer(service="S 3"),
        lambda: make_signer(access_key="AKID EXAMPLE"),
        lambda: make_signer(access_key=SECRET_KEY),  # secret given for the access key
        lambda: make_signer(session_token=SECRET_KEY + "\n"),
        lambda: make_signer(session_token="a\r\nb"),
        lambda: sign(signer, headers=[HOST, ("X-Test", "a\r\nX-Evil: 1")]),
        lambda: sign(signer, headers=[HOST, ("Bad Header", "x")]),
        lambda: sign(signer, headers=[]),
        lambda: sign(signer, date="2015-08-30T12:36:00Z"),
        lambda: sign(signer, method="get"),
        lambda: sign(signer, path="x"),
        lambda: sign(signer, query=[("a", 1)]),
        lambda: sign(signer, body=object()),
        lambda: sign(signer, payload_hash="xyz"),
        lambda: sign(signer, payload_hash=5),
    ]
    if not core:
        bad_calls += [
            lambda: signer.presign("GET", "/", None, [HOST], 0, date=DATE),
            lambda: signer.presign("GET", "/", None, [], 60, date=DATE),
            lambda: signer.explain("GET", "/", None, [HOST, ("X", "\x01")], date=DATE),
        ]
    for call in bad_calls:
        with pytest.raises(ValueError) as info:
            call()
        assert_secret_absent(error_text(info.value))


@pytest.mark.parametrize("swapped", [dict(region=SECRET_KEY, secret_key=REGION),
                                     dict(service=SECRET_KEY, secret_key=SERVICE)],
                         ids=["secret-as-region", "secret-as-service"])
def test_secret_not_echoed_when_arguments_are_swapped(swapped):
    with pytest.raises(ValueError) as info:
        make_signer(**swapped)
    assert_secret_absent(error_text(info.value))


# -- signing key cache ----------------------------------------------------------------------


@pytest.fixture
def key_calls(monkeypatch):
    calls = []
    original = sigv4.Signer.signing_key

    def counting(self, date8):
        calls.append(date8)
        return original(self, date8)

    monkeypatch.setattr(sigv4.Signer, "signing_key", counting)
    return calls


def test_signing_key_cached_within_a_day(key_calls):
    signer = make_signer(core=True)
    first = sign(signer, date="20150830T000000Z")
    second = sign(signer, date="20150830T235959Z")
    assert key_calls == ["20150830"]
    assert first == sign(make_signer(), date="20150830T000000Z")
    assert second == sign(make_signer(), date="20150830T235959Z")


def test_signing_key_recomputed_for_a_new_day(key_calls):
    signer = make_signer(core=True)
    first = sign(signer, date="20150830T235959Z")
    second = sign(signer, date="20150831T000000Z")
    assert key_calls == ["20150830", "20150831"]
    del key_calls[:]
    assert first == sign(make_signer(), date="20150830T235959Z")
    assert second == sign(make_signer(), date="20150831T000000Z")
    assert first != second


def test_cached_key_gives_oracle_signature():
    signer = make_signer()
    for date in ("20150830T123600Z", "20150830T123601Z", "20160229T000000Z", "20150830T123600Z"):
        creq, sts, signature = signer.explain("GET", "/", None, [HOST], date=date)
        assert signature == oracle_signature(SECRET_KEY, date, REGION, SERVICE, sts)
        assert authz_fields(sign(signer, date=date))["Signature"] == signature


# -- dates ------------------------------------------------------------------------------------

INSTANTS = [0, 1, 86399, ESP32_EPOCH, ESP32_EPOCH + 1, 951782400, 1440938160, 1700000000, 2147483647,
            4102444799]


@pytest.mark.parametrize("t", INSTANTS)
def test_amz_date_matches_strftime(t):
    assert sigv4.amz_date(t) == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
    sigv4.check_amz_date(sigv4.amz_date(t))


def test_amz_date_now():
    before = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    now = sigv4.amz_date()
    after = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    assert before <= now <= after


class Esp32Time:
    """time as on the ESP32: seconds count from 2000-01-01, gmtime() returns an 8-tuple."""

    def time(self):
        return int(time.time()) - ESP32_EPOCH

    def gmtime(self, seconds=None):
        if seconds is None:
            seconds = self.time()
        return tuple(time.gmtime(seconds + ESP32_EPOCH))[:8]


@pytest.mark.parametrize("t", [i for i in INSTANTS if i >= ESP32_EPOCH])
def test_amz_date_with_2000_epoch(monkeypatch, t):
    expected = sigv4.amz_date(t)
    monkeypatch.setattr(sigv4, "time", Esp32Time())
    assert sigv4.amz_date(t - ESP32_EPOCH) == expected


def test_amz_date_now_with_2000_epoch(monkeypatch):
    before = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    monkeypatch.setattr(sigv4, "time", Esp32Time())
    now = sigv4.amz_date()
    after = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    assert before <= now <= after


def test_sign_without_date_uses_now():
    added = dict(make_signer().sign("GET", "/", None, [HOST]))
    sigv4.check_amz_date(added["X-Amz-Date"])
    assert abs(time.mktime(time.strptime(added["X-Amz-Date"], "%Y%m%dT%H%M%SZ")) - time.mktime(time.gmtime())) < 5


# -- URI encoding and paths ------------------------------------------------------------------

TEXT = st.text(
    st.one_of(st.sampled_from("/%~-_.+=&?# \t\u00e9\u2603"), st.characters(blacklist_categories=("Cs",))),
    max_size=40,
)


@settings(max_examples=300)
@given(TEXT)
def test_uri_encode_matches_quote(text):
    assert sigv4.uri_encode(text) == quote(text, safe="-_.~")
    assert sigv4.uri_encode(text, "/") == quote(text, safe="/-_.~")
    assert sigv4.uri_encode(text, "%") == quote(text, safe="%-_.~")
    assert sigv4.uri_encode(text, "/%") == quote(text, safe="/%-_.~")


def test_uri_encode_returns_its_argument_when_nothing_to_encode():
    text = "".join(["abcXYZ", "0123456789", "-_.~"])  # built at run time: not a shared constant
    assert sigv4.uri_encode(text) is text
    path = "".join(["/functions/", "my-fn", "/invocations"])
    assert sigv4.uri_encode(path, "/") is path
    assert sigv4.uri_encode(path) is not path


SEGMENT_PATHS = st.lists(st.sampled_from(["", ".", "..", "a", "b%2F", "c d"]), max_size=10).map(
    lambda segments: "/" + "/".join(segments)
)


@settings(max_examples=300)
@given(SEGMENT_PATHS)
def test_remove_dot_segments_matches_botocore(path):
    assert sigv4_full.remove_dot_segments(path) == normalize_url_path(path)


def test_remove_dot_segments_empty():
    assert sigv4_full.remove_dot_segments("") == normalize_url_path("") == "/"


def test_lambda_arn_is_double_encoded():
    path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/invocations"
    headers = [("Host", "lambda.us-east-1.amazonaws.com")]
    line = creq_of(make_signer(service="lambda"), headers=headers, method="POST", path=path).split("\n")[1]
    assert line == path.replace("%", "%25")
    assert "%253A" in line
    line = creq_of(make_signer(service="s3"), headers=headers, method="POST", path=path).split("\n")[1]
    assert line == path
    assert "%3A" in line and "%253A" not in line


def test_s3_path_is_not_normalised():
    headers = [("Host", "bucket.s3.amazonaws.com")]
    path = "/my-object//example//photo.user"
    assert creq_of(make_signer(service="s3"), headers=headers, path=path).split("\n")[1] == path
    assert creq_of(make_signer(), headers=headers, path=path).split("\n")[1] == "/my-object/example/photo.user"
    assert creq_of(make_signer(normalize_path=False), headers=headers, path=path).split("\n")[1] == path


# -- query strings ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["%+4", "% 9", "%-0", "%+A"])
def test_parse_query_leaves_malformed_escapes(raw):
    assert sigv4_full.parse_query("a=" + raw) == [("a", unquote(raw))]


# Query text from well-formed pieces only: every '%' starts a valid escape of UTF-8.
QUERY_PIECES = st.lists(
    st.sampled_from(["a", "Z", "0", "=", "&", "+", " ", "-", ".", "_", "~", "/", "%2F", "%41", "%20", "%3D",
                     "%26", "%25", "%2B", "%c3%a9", "%E2%98%83", "%zz"]),
    max_size=12,
).map("".join)


@settings(max_examples=200)
@given(QUERY_PIECES)
def test_parse_query_matches_unquote(query):
    expected = []
    if query:
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            expected.append((unquote(key, errors="strict"), unquote(value, errors="strict")))
    assert sigv4_full.parse_query(query) == expected


# -- session tokens and the headers sign() sets ------------------------------------------------

TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN/+="


def test_token_signed_before_authorization():
    added = sign(make_signer(session_token=TOKEN))
    names = [name for name, _ in added]
    assert names == ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
    assert authz_fields(added)["SignedHeaders"] == "host;x-amz-date;x-amz-security-token"


def test_token_after_is_unsigned_and_after_authorization():
    signer = make_signer(session_token=TOKEN, sign_session_token=False)
    added = sign(signer)
    names = [name for name, _ in added]
    assert names.index("X-Amz-Security-Token") > names.index("Authorization")
    assert dict(added)["X-Amz-Security-Token"] == TOKEN
    assert "x-amz-security-token" not in authz_fields(added)["SignedHeaders"].split(";")
    assert "x-amz-security-token" not in creq_of(signer)
    # Signed exactly as without a token.
    assert dict(added)["Authorization"] == dict(sign(make_signer()))["Authorization"]


def test_given_date_header_is_replaced_not_signed_twice():
    signer = make_signer()
    added = sign(signer, headers=[HOST, ("X-Amz-Date", "20000101T000000Z")])
    assert added == sign(signer)
    creq = creq_of(signer, headers=[HOST, ("x-amz-date", "20000101T000000Z")])
    assert creq.count("x-amz-date:") == 1 and "\nx-amz-date:" + DATE + "\n" in creq
    assert authz_fields(added)["SignedHeaders"] == "host;x-amz-date"


def test_given_token_header_is_replaced_not_signed_twice():
    signer = make_signer(session_token=TOKEN)
    added = sign(signer, headers=[HOST, ("X-Amz-Security-Token", "old-token")])
    assert added == sign(signer)
    creq = creq_of(signer, headers=[HOST, ("X-Amz-Security-Token", "old-token")])
    assert creq.count("x-amz-security-token:") == 1 and "old-token" not in creq
    assert authz_fields(added)["SignedHeaders"] == "host;x-amz-date;x-amz-security-token"


def test_given_token_header_is_signed_without_a_signer_token():
    # AWS's post-sts-header-before: the request already carries the token.
    added = sign(make_signer(), headers=[HOST, ("X-Amz-Security-Token", TOKEN)])
    assert authz_fields(added)["SignedHeaders"] == "host;x-amz-date;x-amz-security-token"
    assert added == sign(make_signer(session_token=TOKEN))[:1] + sign(make_signer(session_token=TOKEN))[2:]


def test_given_content_sha256_header_is_replaced():
    signer = make_signer()
    added = sign(signer, headers=[HOST, ("X-Amz-Content-SHA256", "0" * 64)], body=b"abc", content_sha256=True)
    assert added == sign(signer, body=b"abc", content_sha256=True)
    assert dict(added)["X-Amz-Content-SHA256"] == hashlib.sha256(b"abc").hexdigest()
    assert authz_fields(added)["SignedHeaders"] == "host;x-amz-content-sha256;x-amz-date"


def test_s3_always_sends_content_sha256():
    added = dict(sign(make_signer(service="s3"), headers=[("Host", "b.s3.amazonaws.com")]))
    assert added["X-Amz-Content-SHA256"] == hashlib.sha256(b"").hexdigest()


def test_unsigned_headers_are_not_signed():
    signer = make_signer()
    headers = [HOST, ("User-Agent", "x"), ("Expect", "100-continue"), ("Authorization", "old"),
               ("Transfer-Encoding", "chunked"), ("X-Amzn-Trace-Id", "Root=1")]
    assert sign(signer, headers=headers) == sign(signer)


# -- the streamed signature against the oracle --------------------------------------------------

HEADER_NAMES = st.sampled_from(["Content-Type", "X-Amz-Target", "my-header", "MY-HEADER", "X-A", "x-z"])
HEADER_VALUES = st.text(st.sampled_from("ab Z09 \t:;,/=\u00e9"), max_size=12)
QUERY_TEXT = st.text(st.sampled_from("ab=&/ %+~\u00e9"), max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5),
    query=st.lists(st.tuples(QUERY_TEXT, QUERY_TEXT), max_size=4),
    body=st.binary(max_size=100),
    segments=st.lists(st.sampled_from(["a", "..", ".", "", "b c", "%3A", "\u00e9"]), max_size=4),
    token=st.sampled_from([None, TOKEN]),
    content_sha256=st.booleans(),
)
def test_signature_matches_oracle(headers, query, body, segments, token, content_sha256):
    signer = make_signer(session_token=token)
    path = sigv4.uri_encode("/" + "/".join(segments), "/%")
    request = ("POST", path, query, [HOST] + headers)
    creq, sts, signature = signer.explain(*request, body=body, date=DATE, content_sha256=content_sha256)
    scope = "20150830/%s/%s/aws4_request" % (REGION, SERVICE)
    assert sts == "\n".join(["AWS4-HMAC-SHA256", DATE, scope, hashlib.sha256(creq.encode()).hexdigest()])
    assert signature == oracle_signature(SECRET_KEY, DATE, REGION, SERVICE, sts)
    added = signer.sign(*request, body=body, date=DATE, content_sha256=content_sha256)
    fields = authz_fields(added)
    assert fields["Credential"] == ACCESS_KEY + "/" + scope
    assert fields["Signature"] == signature
    assert fields["SignedHeaders"] == creq.split("\n")[-2]
    assert creq.split("\n")[-1] == hashlib.sha256(body).hexdigest()


def test_presign_matches_oracle():
    signer = make_signer(session_token=TOKEN)
    query = [("Action", "ListUsers"), ("Version", "2010-05-08")]
    added = signer.presign("GET", "/", query, [HOST], 900, date=DATE)
    assert [k for k, _ in added] == ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                     "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"]
    creq, sts, signature = signer.presign_explain("GET", "/", query, [HOST], 900, date=DATE)
    assert dict(added)["X-Amz-Signature"] == signature == oracle_signature(SECRET_KEY, DATE, REGION, SERVICE, sts)
    canonical_query = creq.split("\n")[2]
    assert canonical_query == "&".join(sorted(sigv4_full.query_string([p]) for p in query + added[:-1]))
    assert "X-Amz-Signature" not in canonical_query


REQUEST = st.fixed_dictionaries({
    "kind": st.sampled_from(["sign", "sign", "explain", "presign"]),
    "headers": st.lists(st.tuples(HEADER_NAMES, st.sampled_from(["v", "w w"])), max_size=3),
    "date": st.sampled_from([DATE, "20150830T235959Z", "20150831T000000Z"]),
    "content_sha256": st.booleans(),
    "body": st.sampled_from([b"", b"abc"]),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(REQUEST, min_size=2, max_size=8), st.sampled_from([None, TOKEN]))
def test_reused_signer_matches_fresh_signers(requests, token):
    """Whatever a signer caches between requests (signing key, header lists), a signer
    used for a run of different requests answers each as a fresh one would."""
    reused = make_signer(session_token=token)
    for r in requests:
        headers = [HOST] + r["headers"]
        results = []
        for signer in (reused, make_signer(session_token=token)):
            if r["kind"] == "sign":
                results.append(signer.sign("POST", "/", None, headers, body=r["body"], date=r["date"],
                                           content_sha256=r["content_sha256"]))
            elif r["kind"] == "explain":
                results.append(signer.explain("POST", "/", None, headers, body=r["body"], date=r["date"],
                                              content_sha256=r["content_sha256"]))
            else:
                results.append(signer.presign("POST", "/", None, headers, 60, date=r["date"], body=r["body"]))
        assert results[0] == results[1], r


CORE_REQUEST = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST"]),
    "path": st.sampled_from(["/", "/a", "/2015-03-31/functions/f/invocations", "/b%20c"]),
    "query": st.sampled_from([None, [], [("qos", "1")], [("a", "1"), ("a", "0")]]),
    "headers": st.lists(st.tuples(HEADER_NAMES, st.sampled_from(["v", "w w", ""])), max_size=3),
    "date": st.sampled_from([DATE, "20150830T235959Z", "20150831T000000Z"]),
    "body": st.sampled_from([b"", b"abc", [b"a", "bc"]]),
    "as_tuple": st.booleans(),
})


@settings(max_examples=100, deadline=None)
@given(st.lists(CORE_REQUEST, min_size=2, max_size=8), st.sampled_from([None, TOKEN]))
def test_core_reuses_its_plan_correctly(requests, token):
    """The device core keeps one plan (canonical request around the date and payload
    hash) and one signing key: a run of requests, repeated or not, signs each as a fresh
    core signer and as sigv4_full do."""
    reused = make_signer(core=True, session_token=token)
    for r in requests:
        headers = [HOST] + r["headers"]
        if r["as_tuple"]:
            headers = tuple(headers)
        args = (r["method"], r["path"], r["query"], headers)
        got = reused.sign(*args, body=r["body"], date=r["date"])
        assert got == make_signer(core=True, session_token=token).sign(*args, body=r["body"], date=r["date"])
        assert got == make_signer(session_token=token).sign(*args, body=r["body"], date=r["date"])


def test_core_plan_does_not_follow_a_changed_list():
    """Header pairs given as lists and changed after signing make a new plan: the signer
    keeps copies, not the caller's objects."""
    signer = make_signer(core=True)
    headers = [["Host", "example.amazonaws.com"], ["X-A", "1"]]
    first = sign(signer, headers=headers)
    headers[1][1] = "2"
    assert sign(signer, headers=headers) == sign(make_signer(core=True), headers=[HOST, ("X-A", "2")])
    assert sign(signer, headers=headers) != first


@pytest.mark.parametrize("path", ["/a/./b", "/a/../b", "//a", "/a//b", "/.", "/a/.."])
def test_core_refuses_dot_segments(path):
    with pytest.raises(ValueError, match="path"):
        sign(make_signer(core=True), path=path)
    # sigv4_full normalises them (the test above against botocore's normalisation).
    assert sign(make_signer(), path=path) == sign(make_signer(), path=sigv4_full.remove_dot_segments(path))


def test_core_and_full_sign_alike():
    """The same request, the same headers back from both (sigv4_full.Signer only adds)."""
    request = ("POST", "/2015-03-31/functions/f/invocations", [("Qualifier", "$LATEST")],
               [HOST, ("Content-Type", "application/json")])
    for token in (None, TOKEN):
        core = make_signer(core=True, session_token=token).sign(*request, body=b"{}", date=DATE)
        assert core == make_signer(session_token=token).sign(*request, body=b"{}", date=DATE)
        assert [name for name, _ in core] == ["X-Amz-Date"] + ["X-Amz-Security-Token"] * bool(token) + ["Authorization"]


def test_core_checks_a_changed_value_with_a_kept_plan():
    """Same header names, a new value: the plan is kept, but the value is checked (CR/LF
    refused) and signed, as a fresh signer signs it."""
    signer = make_signer(core=True)
    sign(signer, headers=[HOST, ("Content-Length", "115")])
    with pytest.raises(ValueError, match="'Content-Length'"):
        sign(signer, headers=[HOST, ("Content-Length", "1\r\nX-Evil: 1")])
    for value in ("116", "  7  ", "115"):
        expected = sign(make_signer(core=True), headers=[HOST, ("Content-Length", value)])
        assert sign(signer, headers=[HOST, ("Content-Length", value)]) == expected


# -- presigning: S3's payload, the token after signing --------------------------------------


class _NoRead(io.BytesIO):
    def read(self, *args):
        raise AssertionError("an S3 presign must not read the body")

    readinto = read


@pytest.mark.parametrize("body", [None, b"", b"data", _NoRead(b"data")], ids=["none", "empty", "bytes", "stream"])
def test_s3_presign_signs_unsigned_payload_whatever_the_body(body):
    signer = make_signer(service="s3")
    creq = signer.presign_explain("PUT", "/key", [], [HOST], 60, date=DATE, body=body)[0]
    assert creq.endswith("\n" + sigv4_full.UNSIGNED_PAYLOAD)
    given = hashlib.sha256(b"data").hexdigest()
    assert signer.presign_explain("PUT", "/key", [], [HOST], 60, date=DATE, body=body,
                                  payload_hash=given)[0].endswith("\n" + given)


def test_presign_other_services_sign_the_body_hash():
    creq = make_signer().presign_explain("PUT", "/", [], [HOST], 60, date=DATE, body=b"data")[0]
    assert creq.endswith("\n" + hashlib.sha256(b"data").hexdigest())


def test_presign_token_signed_or_after():
    signed = make_signer(session_token="tok").presign("GET", "/", [], [HOST], 60, date=DATE)
    after = make_signer(session_token="tok", sign_session_token=False).presign("GET", "/", [], [HOST], 60, date=DATE)
    without = make_signer().presign("GET", "/", [], [HOST], 60, date=DATE)
    assert [k for k, _ in signed][-2:] == ["X-Amz-Security-Token", "X-Amz-Signature"]
    assert [k for k, _ in after][-2:] == ["X-Amz-Signature", "X-Amz-Security-Token"]
    # Added after signing: the signature is the one without a token.
    assert after[:-1] == without and after[-1] == ("X-Amz-Security-Token", "tok")
    assert dict(signed)["X-Amz-Signature"] != dict(without)["X-Amz-Signature"]
