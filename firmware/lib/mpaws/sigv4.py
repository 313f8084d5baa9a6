# AWS Signature Version 4: the device core, for ESP32 MicroPython, the MicroPython unix
# port and CPython. Pure computation, no I/O; imports only what the ESP32 firmware has.
#
# What a device needs to sign header-authenticated requests, kept small since the ESP32
# holds it in RAM next to TLS. mpaws.sigv4_full builds on it: presigned URLs, the steps
# as text for debugging (canonical request, string to sign), query-string parsing, S3
# (single-encoded paths, X-Amz-Content-SHA256), dot-segment normalisation, stream bodies
# and a session token added after signing.
#
# Speed and memory: a Signer turns a request into a "plan" once -- its canonical request
# as bytes around the values that may change from one signature to the next: X-Amz-Date,
# the payload hash and each header value -- and keeps it while requests come with the
# same method, path, query and header names, as a device's do. A signature then checks
# and trims only the header values that changed (a new Content-Length), and hashes the
# plan's bytes and the values, with the signing key's HMAC pads cached per day.
import gc
import hashlib
import sys
import time
from binascii import hexlify

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# RFC 7230 token characters, ordered so that slices of it are the other sets used here.
_TOKEN = "-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ._~!#$%&'*+^`|"


def __getattr__(name):
    # DIGITS, LOWER, UPPER, LETTERS, PRINTABLE: ASCII classes, spelt out (str.isalpha() and
    # isdigit() take any Unicode letter or digit on CPython and ASCII only on MicroPython: a
    # check must say the same on both; and a loop over a str's characters interns each one,
    # for good, on MicroPython). Made when asked for, by the checks that load for a moment:
    # as this module's names, their five str objects would be held for the whole session
    # (measured: 0.2 to 0.7 KB more heap for a notify).
    if name == "DIGITS":
        return _TOKEN[27:37]
    if name == "LOWER":
        return _TOKEN[1:27]
    if name == "UPPER":
        return _TOKEN[37:63]
    if name == "LETTERS":
        return _TOKEN[1:27] + _TOKEN[37:63]
    if name == "PRINTABLE":  # ' ' to '~', made from numbers: as a literal it would be held all the same
        return bytes(range(32, 127)).decode()
    raise AttributeError(name)


_ONE_PIECE = (str, bytes, bytearray, memoryview)  # a body that is not one of these is iterated
_ON_A_DEVICE = sys.implementation.name == "micropython"  # CPython keeps what it loads

try:
    # CPython: a hash state is copied rather than its prefix hashed again.
    _resume = type(hashlib.sha256()).copy
except AttributeError:
    # MicroPython's sha256 has no copy(): a "state" is the bytes hashed so far.
    _resume = hashlib.sha256
    _start = bytes

    def _utf8(text):
        # MicroPython hashes a str's UTF-8 in place: no encoded copy. Not str(text), which
        # copies it: a session token of 1 KB or more would be held twice.
        return text

    def _hex(buf, digest, i=0):
        # Hex into a reused buffer: hexlify() would allocate 128 bytes each time.
        digits = b"0123456789abcdef"
        for b in digest:
            buf[i] = digits[b >> 4]
            buf[i + 1] = digits[b & 15]
            i += 2
        return buf

else:
    _start = hashlib.sha256
    _utf8 = str.encode  # CPython's hashlib takes bytes only

    def _hex(buf, digest, i=0):
        buf[i : i + 64] = hexlify(digest)
        return buf


def _once(name, step, *args):
    # mpaws.sigv4_<name>.<step>(sigv4, *args): code a Signer runs once (when it is made, on
    # a new request shape, on a new day), loaded for the call and, on a device, let go of
    # after it: its heap is not held while requests are only signed. Collected at once, so
    # that what is made next fills its place instead of splitting the free heap above it.
    name = "sigv4_" + name
    try:
        return getattr(getattr(__import__("mpaws." + name), name), step)(sys.modules[__name__], *args)
    finally:
        if _ON_A_DEVICE:
            from mpaws import transient

            transient.forget(name)
            gc.collect()


def uri_encode(text, safe=""):
    """Percent-encodes text as AWS asks: all but the RFC 3986 unreserved characters and
    those in safe, as UTF-8, upper-case hex. Returns text itself when nothing needs it."""
    safe = _TOKEN[:66] + safe  # RFC 3986's unreserved characters: never percent-encoded
    if not text.strip(safe):
        return text
    # Byte by byte into bytes: chr(b), or a loop over the str, would intern each character.
    safe = safe.encode()
    out = bytearray()
    for b in text.encode():
        if b in safe:
            out.append(b)
        else:
            out += b"%%%02X" % b
    return out.decode()


def query_string(pairs):
    """Encodes (key, value) pairs for the wire, the way the signer encodes them."""
    return "&".join([uri_encode(k) + "=" + uri_encode(v) for k, v in pairs])


def amz_date(seconds=None):
    """'YYYYMMDDTHHMMSSZ' from time.gmtime(): right with the ESP32's 2000 epoch and the
    unix 1970 epoch alike, since gmtime() knows its port's epoch."""
    t = time.gmtime() if seconds is None else time.gmtime(seconds)
    return "%04d%02d%02dT%02d%02d%02dZ" % t[:6]


def made_of(text, allowed):
    """Whether every character of the str text is one of allowed ("" is)."""
    return not text.strip(allowed)


def check_amz_date(date):
    """Raises ValueError unless date is a plausible 'YYYYMMDDTHHMMSSZ'."""
    # Its two runs of digits as numbers, formatted back, must give it back: that proves its
    # digits, 'T' and 'Z' without a loop over its characters (on a str, it would intern
    # each one); then each field is taken from the numbers.
    try:
        day, time_of_day = int(date[:8]), int(date[9:15])
        ok = day >= 0 and time_of_day >= 0 and "%08dT%06dZ" % (day, time_of_day) == date
    except (TypeError, ValueError):  # not a str, or not digits where numbers go
        ok = False
    if not (ok and 1 <= day // 100 % 100 <= 12 and 1 <= day % 100 <= 31 and time_of_day < 240000
            and time_of_day // 100 % 100 <= 59 and time_of_day % 100 <= 60):
        raise ValueError("bad date: want YYYYMMDDTHHMMSSZ")


def check_header(name, value):
    """Raises ValueError naming the header if its name is not an HTTP token, or its value
    holds CR/LF (header injection) or another control character. A folded value (a line
    break, then a space or tab) is accepted: it is whitespace."""
    if not isinstance(name, str) or not name or name.strip(_TOKEN):
        raise ValueError("bad header name %r" % (name,))
    bad = not isinstance(value, str) or value[:1] in ("\r", "\n")
    # Byte by byte: a loop over the str would intern each character. A line break is a fold
    # only if a space or tab follows (after a CR, an LF may come first).
    need = 0  # 13 after a CR, 10 after an LF, else 0
    for b in b"" if bad else value.encode():
        if (need and b != 32 and b != 9 and not (need == 13 and b == 10)
                or b < 32 and b != 9 and b != 10 and b != 13 or b == 127):
            bad = True
            break
        need = b if b == 13 or b == 10 else 0
    if bad or need:
        raise ValueError("bad header %r: CR/LF or control character" % name)


def _trim(value):
    # AWS's Trimall: strip, and collapse runs of spaces, tabs and folds into one space. A
    # value with nothing to trim is itself: no copies of a session token (1 KB or more).
    if not (value.startswith(" ") or value.endswith(" ") or "  " in value or "\t" in value or "\r" in value
            or "\n" in value):
        return value
    return " ".join([w for w in value.replace("\r", " ").replace("\n", " ").replace("\t", " ").split(" ") if w])


def _payload_hex(body):
    # The body's hash as hex bytes, as sha256 takes it (no str made and encoded again).
    h = hashlib.sha256()
    try:
        if body is None or isinstance(body, _ONE_PIECE):
            if body is not None:  # one piece: no tuple made around it
                h.update(_utf8(body) if isinstance(body, str) else body)
        elif hasattr(body, "read"):  # a stream (sigv4_full's): never hashed line by line
            raise TypeError
        else:
            for piece in body:  # a list, or pieces made anew on each iteration
                h.update(_utf8(piece) if isinstance(piece, str) else piece)
    except TypeError:
        raise ValueError("bad body: want bytes, str or an iterable of them")
    return hexlify(h.digest())


def payload_hash(body):
    """Hex SHA-256 of a request body: None, bytes, bytearray, memoryview, str (as UTF-8),
    or an iterable of such pieces (a list, a tuple, json_pieces.JsonPieces), hashed one by
    one (never joined)."""
    return _payload_hex(body).decode()


def _check(field, value, allowed=""):
    # The value is never echoed: a secret key passed in the wrong place must not be printed.
    if not isinstance(value, str) or not value or allowed and value.strip(allowed):
        raise ValueError("bad " + field)


class Signer:
    """Signs requests for one set of credentials, region and service (not S3: see
    mpaws.sigv4_full). A request is: method; path as it goes on the wire (percent-encoded,
    e.g. with uri_encode()); query as decoded (key, value) pairs; headers as (name,
    value) pairs, Host included. The path is encoded once more in the canonical request
    (an ARN's ':' sent as '%3A' is signed as '%253A'); a path with '.' or '//' segments
    is refused (sigv4_full.Signer normalises it)."""

    # Temporary credentials (mpaws.credentials.CertificateCredentials.signer()) that this
    # signer's keys are, asked to renew() before each signature; None: fixed keys. Then
    # (annotations: nothing in the heap) the client's connection, closed before a fetch,
    # and the credentials' fetches when the keys were taken.
    credentials = None
    connection: object
    fetches: int

    def __init__(self, access_key, secret_key, region, service, session_token=None):
        # Checked; of the secret, only its HMAC pads are kept, never the text (mpaws.sigv4_key).
        self._secret = _once("key", "start", access_key, secret_key, region, service, session_token)
        self.access_key = access_key
        self.region = region
        self.service = service
        self.session_token = session_token
        self._date = None  # the last date checked
        self._shape = (None, None, None)  # method, path and query of the plan
        self._given = []  # the plan's given headers, (name, value) as given
        self._day = "?"  # the day of the cached signing key (no date starts with '?')
        self._chex = bytearray(64)  # hex of the canonical request's hash, reused

    def signing_key(self, day):
        """HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")."""
        return _once("key", "signing_key", self, day)

    def sign(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None):
        """Signs a request; returns the headers to add, in order: X-Amz-Date,
        X-Amz-Security-Token (with a session token), Authorization. Given headers with
        those names are replaced, not signed. body: see payload_hash(); or give
        payload_hash (hex, or UNSIGNED_PAYLOAD). date: 'YYYYMMDDTHHMMSSZ' (default: now)."""
        if self.credentials is not None:
            self.credentials.renew(self)  # fetched again when due, then these keys replaced
        date = self._use_date(date)
        payload = self._payload(body, payload_hash)
        query = query or ()
        shape = self._shape  # compared item by item: a tuple to compare with would be allocated
        if method != shape[0] or path != shape[1] or tuple(query) != shape[2] or not self._same_headers(headers):
            head, self._tail, self._signed = self._plan(method, path, query, headers)
            self._head = _start(head)
            # Copies: pairs that a caller changes later must not match.
            self._shape = (method, path, tuple([(k, v) for k, v in query]))
            self._given = [(n, v) for n, v in headers]
            token = self.session_token
            self._values = [_utf8(_trim(v)) for _, v in headers] + [token and _utf8(_trim(token)), None, None]
            self._auth = None
        if self._auth is None:  # a new plan, or a new day
            self._auth = bytearray(("%s Credential=%s/%s, SignedHeaders=%s, Signature=" % (
                ALGORITHM, self.access_key, self._scope, self._signed)).encode() + bytes(64))  # room for the hex
        values = self._values  # the header values, then the token, the date and the payload hash
        values[-2] = _utf8(date)
        values[-1] = payload
        h = _resume(self._head)
        for slot, text in self._tail:
            h.update(values[slot])
            h.update(text)
        # The string to sign goes straight into the HMAC: it is never built.
        inner = _resume(self._inner)
        inner.update(values[-2])
        inner.update(self._mid)
        inner.update(_hex(self._chex, h.digest()))
        outer = _resume(self._outer)
        outer.update(inner.digest())
        auth = self._auth
        added = [("X-Amz-Date", date), ("Authorization", _hex(auth, outer.digest(), len(auth) - 64).decode())]
        if self.session_token:
            added.insert(1, ("X-Amz-Security-Token", self.session_token))
        return added

    # -- the steps, shared with sigv4_full ----------------------------------------------

    def _use_date(self, date):
        # A new date is checked; a new day derives the signing key (five HMACs).
        if date is None:
            date = amz_date()
        if date != self._date:
            check_amz_date(date)
            if not date.startswith(self._day):
                day = date[:8]
                self._inner, self._outer, self._scope, self._mid = _once("key", "new_day", self, day)
                self._day = day
                self._auth = None  # its Credential holds the day
            self._date = date
        return date

    def _payload(self, body, given):
        # The payload hash's hex, as sha256 takes it: the given one (hex, or
        # UNSIGNED_PAYLOAD), else the body's.
        if given is None:
            return _payload_hex(body)
        if given != UNSIGNED_PAYLOAD:
            _check("payload_hash", given, "0123456789abcdef")
            if len(given) != 64:
                raise ValueError("bad payload_hash")
        return _utf8(given)

    def _same_headers(self, headers):
        # Whether headers have the plan's names, in order. Their values are taken in: a
        # changed one (a device's new Content-Length) is checked and trimmed, no other.
        given = self._given
        i = 0
        for name, value in headers:
            if i == len(given) or name != given[i][0]:
                return False
            if value != given[i][1]:
                check_header(name, value)
                self._values[i] = _utf8(_trim(value))
                given[i] = (name, value)
            i += 1
        return i == len(given)

    def _uri(self, path):
        # The path in the canonical request: encoded once more, '%' itself as '%25'.
        # A device's paths have no dot segments; sigv4_full.Signer removes them.
        if "//" in path or "/." in path:
            raise ValueError("bad path: '.' or '//' segments need sigv4_full")
        return uri_encode(path, "/")

    def _plan(self, method, path, query, headers, presign=False):
        """The canonical request as (head, tail, signed headers): head, its bytes up to the
        first value that may change; tail, (slot, bytes that follow) for each such value:
        slot i >= 0 is the value of headers[i] (trimmed), -3 the session token (trimmed),
        -2 X-Amz-Date, -1 the payload hash. Header signing adds and signs X-Amz-Date (and
        the token), replacing given ones; presign signs the given headers only."""
        # The code is mpaws.sigv4_plan's: a device loads it for a new plan (its session's
        # first request, new credentials) and lets go of it after.
        return _once("plan", "plan", self, method, path, query, headers, presign)
