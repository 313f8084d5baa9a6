# AWS Signature Version 4, for ESP32 MicroPython, the MicroPython unix port and CPython.
#
# Pure computation: no I/O. Imports only what the ESP32 firmware has. Every step of the
# algorithm is its own method (canonical_request, string_to_sign, signature) so a
# "signature does not match" can be debugged by printing the steps; the signing path
# itself streams each step straight into SHA-256 instead of building the strings.
import hashlib
import time

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_EXPIRES = 604800  # presigned URLs live at most 7 days (AWS's limit)
READ_CHUNK = 512  # bytes hashed at a time from a stream body

# Hop-by-hop headers and others that proxies and HTTP stacks may add, change or drop are
# never signed (the same list as botocore), nor the Authorization header itself.
_UNSIGNED_HEADERS = ("authorization", "connection", "expect", "keep-alive", "proxy-authenticate",
                     "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
                     "x-amzn-trace-id")
_HEX = "0123456789ABCDEF"
_HEX_LOWER = b"0123456789abcdef"
# RFC 7230 "tchar": what a header name may contain besides letters and digits.
_TOKEN_PUNCT = "!#$%&'*+-.^_`|~"


try:
    hashlib.sha256().update("")
    # MicroPython hashes a str's UTF-8 buffer in place: no encoded copy per piece.
    _sha256 = hashlib.sha256
except TypeError:

    class _sha256:  # CPython's hashlib takes bytes only.
        def __init__(self, data=b""):
            self._h = hashlib.sha256(data.encode() if isinstance(data, str) else data)

        def update(self, data):
            self._h.update(data.encode() if isinstance(data, str) else data)

        def digest(self):
            return self._h.digest()


class _Text:
    """Collects what would be hashed, as text: used to print a step for debugging."""

    def __init__(self):
        self.parts = []

    def update(self, piece):
        self.parts.append(piece)

    def text(self):
        return "".join(self.parts)


def _is_unreserved(c):
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c in "-._~"


def uri_encode(text, keep_slash=False, keep_percent=False):
    """Percent-encodes text as AWS asks: all but the RFC 3986 unreserved set, as UTF-8,
    upper-case hex. Returns text itself (no allocation) when nothing needs encoding."""
    for c in text:
        if not (_is_unreserved(c) or (keep_slash and c == "/") or (keep_percent and c == "%")):
            break
    else:
        return text
    out = []
    for b in text.encode():
        c = chr(b)
        if b < 128 and (_is_unreserved(c) or (keep_slash and c == "/") or (keep_percent and c == "%")):
            out.append(c)
        else:
            out.append("%" + _HEX[b >> 4] + _HEX[b & 15])
    return "".join(out)


def _percent_decode(text):
    """Decodes %XX escapes (not '+': AWS query strings keep a literal '+')."""
    if "%" not in text:
        return text
    raw = text.encode()
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        b = raw[i]
        if b == 37 and i + 2 < n and _is_hex(raw[i + 1]) and _is_hex(raw[i + 2]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(b)
        i += 1
    return bytes(out).decode()


def _is_hex(b):
    return 48 <= b <= 57 or 65 <= b <= 70 or 97 <= b <= 102


def parse_query(query_string):
    """Splits a raw query string ('a=1&b=%20') into decoded (key, value) pairs."""
    pairs = []
    if query_string:
        for pair in query_string.split("&"):
            i = pair.find("=")
            if i < 0:
                pairs.append((_percent_decode(pair), ""))
            else:
                pairs.append((_percent_decode(pair[:i]), _percent_decode(pair[i + 1 :])))
    return pairs


def remove_dot_segments(path):
    """RFC 3986 dot-segment removal, plus the collapse of empty segments ('//')
    that AWS services other than S3 apply before signing."""
    if not path:
        return "/"
    if path[0] == "/" and "//" not in path and "/." not in path:
        return path  # nothing to normalise: no allocation
    out = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    result = "/" + "/".join(out) if path[0] == "/" else "/".join(out)
    if path[-1] == "/" and out:
        result += "/"
    return result


def amz_date(seconds=None):
    """'YYYYMMDDTHHMMSSZ' from time.gmtime(): correct with the ESP32's 2000 epoch and
    the unix 1970 epoch alike, since gmtime() itself knows its port's epoch."""
    t = time.gmtime() if seconds is None else time.gmtime(seconds)
    return "%04d%02d%02dT%02d%02d%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])


def _digits(text, start, end):
    # The number written in text[start:end], or -1: no slice, no allocation.
    n = 0
    for i in range(start, end):
        d = ord(text[i]) - 48
        if not 0 <= d <= 9:
            return -1
        n = n * 10 + d
    return n


def check_amz_date(date):
    """Raises ValueError unless date is a plausible 'YYYYMMDDTHHMMSSZ'."""
    if not (
        isinstance(date, str) and len(date) == 16 and date[8] == "T" and date[15] == "Z"
        and _digits(date, 0, 4) >= 0 and 1 <= _digits(date, 4, 6) <= 12 and 1 <= _digits(date, 6, 8) <= 31
        and 0 <= _digits(date, 9, 11) <= 23 and 0 <= _digits(date, 11, 13) <= 59 and 0 <= _digits(date, 13, 15) <= 60
    ):
        raise ValueError("date: expected YYYYMMDDTHHMMSSZ (UTC), e.g. 20150830T123600Z, got %r" % (date,))


def check_header(name, value):
    """Raises ValueError naming the header if its name is not an HTTP token, or its value
    holds CR/LF (header injection) or other control characters. A folded value
    (a line break followed by a space or tab) is accepted: it is whitespace."""
    if not isinstance(name, str) or not name:
        raise ValueError("header name must be a non-empty string")
    for c in name:
        if not (("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c in _TOKEN_PUNCT):
            raise ValueError("header %r: name may hold only letters, digits and %s" % (name, _TOKEN_PUNCT))
    if not isinstance(value, str):
        raise ValueError("header %r: value must be a string" % name)
    i = 0
    n = len(value)
    for c in value:
        if c == "\r" or c == "\n":
            j = i + 1
            if c == "\r" and j < n and value[j] == "\n":
                j += 1
            if j >= n or value[j] not in " \t" or i == 0:
                raise ValueError("header %r: value contains CR/LF (header injection)" % name)
        elif (c < " " and c != "\t") or c == "\x7f":
            raise ValueError("header %r: value contains a control character" % name)
        i += 1


def _trimall(value):
    """AWS 'Trimall': strip, and collapse each run of spaces, tabs and folds into one
    space. Returns value itself (no allocation) when it is already trim."""
    if not (
        "  " in value or "\t" in value or "\n" in value or "\r" in value or value.startswith(" ") or value.endswith(" ")
    ):
        return value
    value = value.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return " ".join([w for w in value.split(" ") if w])


def _lower(name):
    """name in lower case; name itself when it already is (no allocation)."""
    for c in name:
        if "A" <= c <= "Z":
            return name.lower()
    return name


def _hex_into(buf, digest, i=0):
    # Lower-case hex into a reused buffer (from index i): no new object per digest.
    for b in digest:
        buf[i] = _HEX_LOWER[b >> 4]
        buf[i + 1] = _HEX_LOWER[b & 15]
        i += 2
    return buf


_HEX_SCRATCH = bytearray(64)


def _hex(digest):
    # Hex digits into a scratch buffer, then one str: hexlify().decode() makes two objects.
    return str(_hex_into(_HEX_SCRATCH, digest), "ascii")


def _hmac_pads(key):
    """The inner and outer pads of an HMAC-SHA256 key (RFC 2104): the ESP32 has no hmac."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    inner = bytearray(64)
    outer = bytearray(64)
    for i in range(64):
        b = key[i] if i < len(key) else 0
        inner[i] = b ^ 0x36
        outer[i] = b ^ 0x5C
    return inner, outer


def _hmac_finish(outer_pad, inner):
    outer = hashlib.sha256(outer_pad)
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256(key, message):
    """HMAC-SHA256 of message (bytes or str) under key (bytes)."""
    inner_pad, outer_pad = _hmac_pads(key)
    inner = _sha256(inner_pad)
    inner.update(message)
    return _hmac_finish(outer_pad, inner)


_BUFFER_TYPES = (str, bytes, bytearray, memoryview)  # a tuple of globals is built per call
_PIECES_TYPES = (list, tuple)


def _payload_hash(body, buf=None):
    if body is None:
        return EMPTY_SHA256
    h = _sha256()
    if isinstance(body, _BUFFER_TYPES):
        if not len(body):
            return EMPTY_SHA256
        h.update(body)
    elif isinstance(body, _PIECES_TYPES):
        # A body given as pieces is hashed piece by piece, never joined.
        for piece in body:
            h.update(piece)
    elif hasattr(body, "readinto") or hasattr(body, "read"):
        _hash_stream(h, body)
    else:
        raise ValueError("body: expected bytes, str, a list of pieces, or a stream with readinto()/read()")
    if buf is not None:
        return _hex_into(buf, h.digest())  # hashed as is, never made a str
    return _hex(h.digest())


def _hash_stream(h, stream):
    start = None
    if hasattr(stream, "tell") and hasattr(stream, "seek"):
        try:
            start = stream.tell()
        except (OSError, ValueError):
            start = None  # a stream that cannot seek is hashed without a rewind
    if hasattr(stream, "readinto"):
        # One small buffer, refilled: a large body is never held in memory.
        buf = bytearray(READ_CHUNK)
        view = memoryview(buf)
        while True:
            n = stream.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    else:
        while True:
            chunk = stream.read(READ_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    if start is not None:
        stream.seek(start)  # the transport reads the body again to send it


def payload_hash(body):
    """Hex SHA-256 of a request body: None or empty, bytes, bytearray, memoryview, str
    (as UTF-8), a list or tuple of such pieces, or a stream with readinto() or read()
    (hashed READ_CHUNK bytes at a time, then rewound when it can seek)."""
    return _payload_hash(body)


def _check_name(field, value, allowed_punct):
    if not isinstance(value, str) or not value:
        raise ValueError("%s must be a non-empty string" % field)
    for c in value:
        if not (("a" <= c <= "z") or ("0" <= c <= "9") or c in allowed_punct or ("A" <= c <= "Z" and field == "access_key")):
            # The value is not echoed: a secret key passed in the wrong place must not be printed.
            raise ValueError("%s: only lower-case letters, digits and %r are allowed" % (field, allowed_punct))


class Signer:
    """Signs requests for one set of credentials, region and service.

    Requests are given as: method; path as it goes on the wire (already percent-encoded,
    e.g. with uri_encode()); query as decoded (key, value) pairs; headers as (name, value)
    pairs including Host. For every service but S3 the path is encoded once more in the
    canonical request (so an ARN's ':' sent as '%3A' is signed as '%253A') and dot
    segments and '//' are normalised; S3 signs the path as it is.
    """

    def __init__(
        self,
        access_key,
        secret_key,
        region,
        service,
        session_token=None,
        sign_session_token=True,
        normalize_path=None,
        double_encode=None,
    ):
        if not isinstance(access_key, str) or not access_key:
            raise ValueError("access_key must be a non-empty string")
        for c in access_key:
            if not (("A" <= c <= "Z") or ("a" <= c <= "z") or ("0" <= c <= "9")):
                raise ValueError("access_key: only letters and digits are allowed (check for spaces or quotes)")
        if not isinstance(secret_key, str) or not secret_key:
            raise ValueError("secret_key must be a non-empty string")
        _check_name("region", region, "-")
        _check_name("service", service, "-")
        if session_token is not None:
            if not isinstance(session_token, str) or not session_token:
                raise ValueError("session_token must be a non-empty string or None")
            check_header("X-Amz-Security-Token", session_token)
        s3 = service == "s3"
        self.access_key = access_key
        self.region = region
        self.service = service
        self.session_token = session_token
        self.sign_session_token = sign_session_token
        self.normalize_path = not s3 if normalize_path is None else normalize_path
        self.double_encode = not s3 if double_encode is None else double_encode
        # Only the HMAC pads of "AWS4" + secret are kept (never the text); __repr__ and errors
        # never show it.
        self._secret_pads = _hmac_pads(("AWS4" + secret_key).encode())
        self._key_date = None  # date of the cached signing key
        self._key_pads = None  # its HMAC pads: a cached-key signature costs one HMAC
        self._scope = None
        self._hex = bytearray(64)  # scratch for hex digests, reused by every signature
        self._phex = bytearray(64)  # the payload hash, when no header carries it
        self._signed = None  # the last signed-headers list, and the Authorization prefix made
        self._auth_prefix = None  # from it: a device sends the same headers every time
        self._lnames_given = None  # see _lnames()
        self._checked = []  # see _write_canonical_request()
        self._uri = None  # see _write_canonical_uri()

    def __repr__(self):
        return "<Signer %s %s/%s>" % (self.access_key, self.region, self.service)

    # -- the named steps ------------------------------------------------------------

    def signing_key(self, date8):
        """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
        inner = _sha256(self._secret_pads[0])
        inner.update(date8)
        key = _hmac_finish(self._secret_pads[1], inner)
        key = hmac_sha256(key, self.region)
        key = hmac_sha256(key, self.service)
        return hmac_sha256(key, "aws4_request")

    def _pads_for(self, date):
        # date: YYYYMMDD... ; startswith() compares without slicing out a new string.
        if self._key_date is None or not date.startswith(self._key_date):
            date8 = date[:8]
            self._key_pads = _hmac_pads(self.signing_key(date8))
            self._scope = "%s/%s/%s/aws4_request" % (date8, self.region, self.service)
            self._key_date = date8
            self._auth_prefix = None
        return self._key_pads

    def credential_scope(self, date):
        self._pads_for(date)
        return self._scope

    def canonical_request(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None,
                          content_sha256=False):
        """The canonical request, as text (for debugging; signing streams it)."""
        date = self._date(date)
        out = _Text()
        self._write_canonical_request(out, method, path, query, headers, self._payload(body, payload_hash), date,
                                      content_sha256, None)
        return out.text()

    def string_to_sign(self, canonical_request, date):
        """The string to sign for a canonical request given as text."""
        out = _Text()
        h = _sha256()
        h.update(canonical_request)
        self._write_string_to_sign(out, date, h.digest())
        return out.text()

    def signature(self, string_to_sign, date):
        """Hex HMAC of a string to sign under the (cached) signing key."""
        inner_pad, outer_pad = self._pads_for(date)
        inner = _sha256(inner_pad)
        inner.update(string_to_sign)
        return _hex(_hmac_finish(outer_pad, inner))

    def explain(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None,
                content_sha256=False):
        """(canonical request, string to sign, signature) as text: what to print when AWS
        answers 'The request signature we calculated does not match'."""
        date = self._date(date)
        content_sha256 = content_sha256 or self.service == "s3"  # as sign() does
        creq = self.canonical_request(method, path, query, headers, body, payload_hash, date, content_sha256)
        sts = self.string_to_sign(creq, date)
        return creq, sts, self.signature(sts, date)

    # -- signing ----------------------------------------------------------------------

    def sign(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None,
             content_sha256=False):
        """Signs a request. Returns the headers to add, in order: X-Amz-Date,
        X-Amz-Security-Token (if any), X-Amz-Content-SHA256 (if asked for, or S3),
        Authorization. Headers given with those names are replaced, not repeated.
        body: see payload_hash(); or give payload_hash (hex, or UNSIGNED_PAYLOAD)."""
        date = self._date(date)
        content_sha256 = content_sha256 or self.service == "s3"
        # The payload hash is needed as text only when a header carries it.
        payload = self._payload(body, payload_hash, None if content_sha256 else self._phex)
        digest, signed_headers = self._sign(method, path, query, headers, payload, date, content_sha256, None)
        added = [("X-Amz-Date", date)]
        if self.session_token is not None and self.sign_session_token:
            added.append(("X-Amz-Security-Token", self.session_token))
        if content_sha256:
            added.append(("X-Amz-Content-SHA256", payload))
        if self._auth_prefix is None:
            # The header in a buffer, kept with the signed headers and scope: only the
            # signature's hex changes, and one str is made from it.
            prefix = "%s Credential=%s/%s, SignedHeaders=%s, Signature=" % (
                ALGORITHM, self.access_key, self._scope, signed_headers)
            self._auth_prefix = bytearray(prefix.encode() + bytes(64))
        buf = self._auth_prefix
        added.append(("Authorization", _hex_into(buf, digest, len(buf) - 64).decode()))
        if self.session_token is not None and not self.sign_session_token:
            # Some services want the token added after signing (AWS's post-sts-header-after).
            added.append(("X-Amz-Security-Token", self.session_token))
        return added

    def presign(self, method, path, query=None, headers=(), expires=3600, date=None, payload_hash=None, body=None):
        """Query-string signing (presigned URL). Returns the (key, value) query pairs to
        append to the request's own query: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
        X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Security-Token (if any), X-Amz-Signature.
        S3 signs UNSIGNED-PAYLOAD unless payload_hash is given."""
        if not isinstance(expires, int) or isinstance(expires, bool) or not 1 <= expires <= MAX_EXPIRES:
            raise ValueError("expires: whole seconds from 1 to %d (7 days), got %r" % (MAX_EXPIRES, expires))
        date = self._date(date)
        if payload_hash is None and body is None and self.service == "s3":
            payload_hash = UNSIGNED_PAYLOAD
        payload = self._payload(body, payload_hash)
        self._pads_for(date)
        auth = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", self.access_key + "/" + self._scope),
            ("X-Amz-Date", date),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", self._signed_headers(self._lnames(headers), (), False, auth_query=())),
        ]
        if self.session_token is not None:
            auth.append(("X-Amz-Security-Token", self.session_token))
        digest, _ = self._sign(method, path, query, headers, payload, date, False, auth)
        auth.append(("X-Amz-Signature", _hex(digest)))
        return auth

    def presign_explain(self, method, path, query=None, headers=(), expires=3600, date=None, payload_hash=None,
                        body=None):
        """(canonical request, string to sign, signature) of a presigned request."""
        date = self._date(date)
        if payload_hash is None and body is None and self.service == "s3":
            payload_hash = UNSIGNED_PAYLOAD
        payload = self._payload(body, payload_hash)  # a stream body is read once
        auth = self.presign(method, path, query, headers, expires, date, payload)[:-1]
        out = _Text()
        self._write_canonical_request(out, method, path, query, headers, payload, date, False, auth)
        creq = out.text()
        sts = self.string_to_sign(creq, date)
        return creq, sts, self.signature(sts, date)

    # -- internals ----------------------------------------------------------------------

    def _date(self, date):
        if date is None:
            return amz_date()
        check_amz_date(date)
        return date

    def _payload(self, body, payload_hash, buf=None):
        if payload_hash is None:
            return _payload_hash(body, buf)
        if payload_hash != UNSIGNED_PAYLOAD:
            if len(payload_hash) != 64 or not all(c in "0123456789abcdef" for c in payload_hash):
                raise ValueError("payload_hash: 64 lower-case hex digits or UNSIGNED_PAYLOAD")
        return payload_hash

    def _sign(self, method, path, query, headers, payload, date, content_sha256, auth_query):
        inner_pad, outer_pad = self._pads_for(date)
        h = _sha256()
        signed_headers = self._write_canonical_request(h, method, path, query, headers, payload, date,
                                                       content_sha256, auth_query)
        # The string to sign goes straight into the HMAC: it is never built as a string.
        inner = _sha256(inner_pad)
        self._write_string_to_sign(inner, date, h.digest())
        return _hmac_finish(outer_pad, inner), signed_headers

    def _write_string_to_sign(self, out, date, canonical_digest):
        self._pads_for(date)
        out.update(ALGORITHM)
        out.update("\n")
        out.update(date)
        out.update("\n")
        out.update(self._scope)
        out.update("\n")
        hexed = _hex_into(self._hex, canonical_digest)
        out.update(hexed if not isinstance(out, _Text) else bytes(hexed).decode())

    def _signs_given(self, lname, content_sha256, auth_query):
        """Whether a header given by the caller is signed: not one proxies may change, and
        (header signing) not one the signer sets itself, which replaces it."""
        if lname in _UNSIGNED_HEADERS:
            return False
        if auth_query is not None:
            return True
        if lname == "x-amz-date":
            return False
        if lname == "x-amz-security-token":
            return self.session_token is None
        return lname != "x-amz-content-sha256" or not content_sha256

    def _added(self, date, payload, content_sha256, auth_query):
        # The headers the signer adds, as one small tuple: no dict per request.
        if auth_query is not None:
            return ()
        token = self.session_token if self.sign_session_token else None
        if token is not None and content_sha256:
            return (("x-amz-content-sha256", payload), ("x-amz-date", date), ("x-amz-security-token", token))
        if token is not None:
            return (("x-amz-date", date), ("x-amz-security-token", token))
        if content_sha256:
            return (("x-amz-content-sha256", payload), ("x-amz-date", date))
        return (("x-amz-date", date),)

    def _lnames(self, headers):
        # The given names in lower case, kept while requests carry the same names in the
        # same order (as a device's do): lower() is not called, nor a list made, again.
        given = self._lnames_given
        if given is not None:
            i = 0
            for name, _ in headers:
                if i == len(given) or name != given[i]:
                    break
                i += 1
            else:
                if i == len(given):
                    return self._lnames_lower
        self._lnames_given = [name for name, _ in headers]
        self._lnames_lower = [_lower(name) for name in self._lnames_given]
        return self._lnames_lower

    def _next_name(self, lnames, added, after, content_sha256, auth_query):
        # The smallest signed lower-case header name greater than `after`. Picking names one
        # at a time (there are few) sorts without building a sorted copy of the headers.
        best = None
        for lname in lnames:
            if lname > after and (best is None or lname < best) and self._signs_given(lname, content_sha256,
                                                                                      auth_query):
                best = lname
        for lname, _ in added:
            if lname > after and (best is None or lname < best):
                best = lname
        return best

    def _same_signed_headers(self, lnames, added, content_sha256, auth_query):
        # Whether the names to sign are the cached list, compared in place (no new string).
        cached = self._signed
        if cached is None or auth_query is not None:
            return False
        pos = 0
        name = ""
        while True:
            name = self._next_name(lnames, added, name, content_sha256, auth_query)
            if name is None:
                return pos == len(cached) + 1
            if not cached.startswith(name, pos) or (pos + len(name) < len(cached) and cached[pos + len(name)] != ";"):
                return False
            pos += len(name) + 1

    def _signed_headers(self, lnames, added, content_sha256, auth_query):
        names = []
        name = ""
        while True:
            name = self._next_name(lnames, added, name, content_sha256, auth_query)
            if name is None:
                return ";".join(names)
            names.append(name)

    def _write_canonical_request(self, out, method, path, query, headers, payload, date, content_sha256, auth_query):
        _check_method(method)
        out.update(method)
        out.update("\n")
        self._write_canonical_uri(out, path)
        out.update("\n")
        _write_canonical_query(out, query, auth_query)
        out.update("\n")
        added = self._added(date, payload, content_sha256, auth_query)
        # Canonical headers: lower-case names in order, duplicate values joined by ',' in
        # the order given, each value trimmed.
        # Headers equal to the last request's, at the same place, were checked then.
        checked = self._checked  # [name, value, name, value, ...]
        i = 0
        for name, value in headers:
            if i + 1 >= len(checked) or value != checked[i + 1] or name != checked[i]:
                check_header(name, value)
            i += 2
        if len(checked) != i:
            checked = self._checked = [None] * i
        i = 0
        for name, value in headers:
            checked[i] = name
            checked[i + 1] = value
            i += 2
        lnames = self._lnames(headers)
        if "host" not in lnames:
            raise ValueError("header 'Host' is required (the endpoint's host name, with :port if not 443)")
        name = ""
        while True:
            name = self._next_name(lnames, added, name, content_sha256, auth_query)
            if name is None:
                break
            out.update(name)
            out.update(":")
            first = True
            i = 0
            for _, value in headers:
                i += 1
                if lnames[i - 1] == name and self._signs_given(name, content_sha256, auth_query):
                    if not first:
                        out.update(",")
                    out.update(_trimall(value))
                    first = False
            for given, value in added:
                if given == name:
                    out.update(_trimall(value))
            out.update("\n")
        out.update("\n")
        signed_headers = self._signed
        if not self._same_signed_headers(lnames, added, content_sha256, auth_query):
            signed_headers = self._signed_headers(lnames, added, content_sha256, auth_query)
            if auth_query is None:
                self._signed = signed_headers
                self._auth_prefix = None
        out.update(signed_headers)
        out.update("\n")
        out.update(payload)
        return signed_headers

    def _write_canonical_uri(self, out, path):
        if self._uri is not None and path == self._uri_path:
            out.update(self._uri)  # the last path again: checked and encoded already
            return
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("path must be a string starting with '/', got %r" % (path,))
        for c in path:
            if c < " " or c == "\x7f":
                raise ValueError("path contains a control character (CR/LF injection?)")
        given = path
        if self.normalize_path:
            path = remove_dot_segments(path)
        # Everything but S3 encodes the wire path once more: '%' itself becomes '%25'.
        uri = uri_encode(path, keep_slash=True, keep_percent=not self.double_encode)
        self._uri_path = given
        self._uri = uri
        out.update(uri)


def _check_method(method):
    if not isinstance(method, str) or not method:
        raise ValueError("method must be a non-empty string such as 'POST'")
    for c in method:
        if not ("A" <= c <= "Z"):
            raise ValueError("method %r: upper-case letters only" % (method,))


def _write_canonical_query(out, query, auth_query):
    if not query and not auth_query:
        return
    pairs = []
    for source in (query or (), auth_query or ()):
        for key, value in source:
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError("query: keys and values must be strings, got %r=%r" % (key, value))
            # No character check: every query character is percent-encoded, so none can inject.
            pairs.append((uri_encode(key), uri_encode(value)))
    pairs.sort()  # by encoded key, then encoded value: duplicates keep both
    first = True
    for key, value in pairs:
        if not first:
            out.update("&")
        out.update(key)
        out.update("=")
        out.update(value)
        first = False


def query_string(pairs):
    """Encodes (key, value) pairs for the wire, the way the signer encoded them."""
    return "&".join([uri_encode(k) + "=" + uri_encode(v) for k, v in pairs])
