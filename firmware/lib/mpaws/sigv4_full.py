# AWS Signature Version 4: everything beyond the device core (mpaws.sigv4), on top of it.
#
# A device signs with mpaws.sigv4 alone. This module adds what the host tools, the tests
# and the occasional device that needs it use: presigned URLs (query-string signing); the
# steps as text -- canonical request, string to sign, signature -- to print when AWS
# answers "The request signature we calculated does not match"; query-string parsing;
# dot-segment and '//' normalisation; S3 (paths signed as sent, X-Amz-Content-SHA256);
# stream bodies; a session token added after signing. Its Signer is the core's, with
# these added: the canonical request and the signature come from the same code.
import hashlib
from binascii import hexlify

from mpaws import sigv4, sigv4_key, sigv4_plan

# Re-exported, so that one import gives the whole signer.
from mpaws.sigv4 import ALGORITHM, UNSIGNED_PAYLOAD, amz_date, check_amz_date, check_header, query_string, uri_encode

MAX_EXPIRES = 604800  # presigned URLs live at most 7 days (AWS's limit)
READ_CHUNK = 512  # bytes hashed at a time from a stream body


def hmac_sha256(key, message):
    """HMAC-SHA256 of message (bytes or str) under key (bytes)."""
    return sigv4_key.hmac(sigv4, sigv4_key.pads(sigv4, key), message.encode() if isinstance(message, str) else message)


def _is_stream(body):
    return hasattr(body, "readinto") or hasattr(body, "read")


def payload_hash(body):
    """Hex SHA-256 of a request body: what mpaws.sigv4.payload_hash takes, or a stream
    with readinto() or read(), hashed READ_CHUNK bytes at a time (never held whole), then
    rewound when it can seek (the transport reads it again to send it)."""
    return _stream_hash(body) if _is_stream(body) else sigv4.payload_hash(body)


def _stream_hash(body):
    h = hashlib.sha256()
    start = None
    if hasattr(body, "tell") and hasattr(body, "seek"):
        try:
            start = body.tell()
        except (OSError, ValueError):
            start = None  # a stream that cannot seek is hashed without a rewind
    if hasattr(body, "readinto"):
        # One small buffer, refilled.
        buf = bytearray(READ_CHUNK)
        view = memoryview(buf)
        while True:
            n = body.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    else:
        while True:
            chunk = body.read(READ_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    if start is not None:
        body.seek(start)
    return hexlify(h.digest()).decode()


def _is_hex(b):
    return 48 <= b <= 57 or 65 <= b <= 70 or 97 <= b <= 102


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
    """RFC 3986 dot-segment removal, plus the collapse of empty segments ('//') that AWS
    services other than S3 apply before signing."""
    if not path:
        return "/"
    if path[0] == "/" and "//" not in path and "/." not in path:
        return path  # nothing to normalise
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


def _text(payload):
    return payload if isinstance(payload, str) else bytes(payload).decode()


class Signer(sigv4.Signer):
    """mpaws.sigv4.Signer, plus: S3 (service 's3' signs the path as sent, not normalised,
    and X-Amz-Content-SHA256; other S3-style services ask for it with normalize_path=False,
    double_encode=False, content_sha256=True); dot segments and '//' normalised (the
    default for every service but S3); stream bodies; sign_session_token=False, which
    adds the token after signing, unsigned (some services want that; for presign() it
    follows X-Amz-Signature); presign(); explain() and the steps it is made of."""

    def __init__(self, access_key, secret_key, region, service, session_token=None, sign_session_token=True,
                 normalize_path=None, double_encode=None):
        sigv4.Signer.__init__(self, access_key, secret_key, region, service, session_token)
        self._token_after = None
        if not sign_session_token and session_token is not None:
            # The core signs self.session_token; this one is only added.
            self._token_after = session_token
            self.session_token = None
        s3 = service == "s3"
        self._s3 = s3
        self.normalize_path = not s3 if normalize_path is None else normalize_path
        self.double_encode = not s3 if double_encode is None else double_encode

    def __repr__(self):
        return "<Signer %s %s/%s>" % (self.access_key, self.region, self.service)

    # -- signing ------------------------------------------------------------------------

    def sign(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None,
             content_sha256=False):
        """As mpaws.sigv4.Signer.sign, plus X-Amz-Content-SHA256 before Authorization when
        asked for (or S3), and the unsigned token last with sign_session_token=False."""
        headers, payload_hash, content = self._headers_to_sign(headers, body, payload_hash, content_sha256)
        added = sigv4.Signer.sign(self, method, path, query, headers, body, payload_hash, date)
        if content:
            added.insert(len(added) - 1, content)
        if self._token_after:
            added.append(("X-Amz-Security-Token", self._token_after))  # AWS's post-sts-header-after
        return added

    def presign(self, method, path, query=None, headers=(), expires=3600, date=None, payload_hash=None, body=None):
        """Query-string signing (presigned URL). Returns the (key, value) query pairs to
        append to the request's own query: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
        X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Security-Token (if any, signed),
        X-Amz-Signature; with sign_session_token=False the token comes last, unsigned (AWS
        IoT's MQTT-over-WebSocket URLs). S3 signs UNSIGNED-PAYLOAD unless payload_hash is
        given, whatever the body (a presigned URL knows nothing of the payload)."""
        auth, steps = self._presign(method, path, query, headers, expires, date, payload_hash, body)
        auth.append(("X-Amz-Signature", steps[2]))
        if self._token_after:
            auth.append(("X-Amz-Security-Token", self._token_after))
        return auth

    # -- the steps as text ----------------------------------------------------------------

    def explain(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None,
                content_sha256=False):
        """(canonical request, string to sign, signature) of what sign() signs, as text."""
        creq, date = self._canonical(method, path, query, headers, body, payload_hash, date, content_sha256)
        sts = self.string_to_sign(creq, date)
        return creq, sts, self.signature(sts, date)

    def canonical_request(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None,
                          content_sha256=False):
        return self._canonical(method, path, query, headers, body, payload_hash, date, content_sha256)[0]

    def credential_scope(self, date):
        self._use_date(date)
        return self._scope

    def string_to_sign(self, canonical_request, date):
        """The string to sign for a canonical request given as text."""
        digest = hashlib.sha256(canonical_request.encode()).digest()
        return "\n".join([ALGORITHM, date, self.credential_scope(date), hexlify(digest).decode()])

    def signature(self, string_to_sign, date):
        """Hex HMAC of a string to sign under the day's signing key."""
        self._use_date(date)
        return hexlify(hmac_sha256(self.signing_key(date[:8]), string_to_sign)).decode()

    def presign_explain(self, method, path, query=None, headers=(), expires=3600, date=None, payload_hash=None,
                        body=None):
        """(canonical request, string to sign, signature) of a presigned request."""
        return self._presign(method, path, query, headers, expires, date, payload_hash, body)[1]

    # -- internals ------------------------------------------------------------------------

    def _uri(self, path):
        if self.normalize_path:
            path = remove_dot_segments(path)
        # S3 signs the path as sent: only what is not encoded yet is encoded.
        return uri_encode(path, "/" if self.double_encode else "/%")

    def _payload(self, body, payload_hash):
        if payload_hash is None and _is_stream(body):
            payload_hash = _stream_hash(body)
        return sigv4.Signer._payload(self, body, payload_hash)

    def _headers_to_sign(self, headers, body, payload_hash, content_sha256):
        """(headers to sign, payload_hash, X-Amz-Content-SHA256 header or None): that header
        set to the payload hash when asked for (or S3), replacing a given one; a given
        token header left out when the token is added after signing."""
        content = content_sha256 or self._s3
        drop = []
        if content:
            drop.append("x-amz-content-sha256")
        if self._token_after:
            drop.append("x-amz-security-token")
        headers = [(n, v) for n, v in headers if not (isinstance(n, str) and n.lower() in drop)]
        if not content:
            return headers, payload_hash, None
        if payload_hash is None:
            payload_hash = _text(self._payload(body, None))  # a stream is read here, once
        content = ("X-Amz-Content-SHA256", payload_hash)
        headers.append(content)
        return headers, payload_hash, content

    def _canonical(self, method, path, query, headers, body, payload_hash, date, content_sha256):
        headers, payload_hash, _ = self._headers_to_sign(headers, body, payload_hash, content_sha256)
        payload = _text(self._payload(body, payload_hash))
        date = self._use_date(date)
        return self._plan_text(self._plan(method, path, query or (), headers), headers, date, payload), date

    def _plan_text(self, plan, headers, date, payload):
        head, tail, _ = plan
        token = self.session_token
        values = [sigv4._trim(value) for _, value in headers] + [token and sigv4._trim(token), date, payload]
        return head.decode() + "".join([values[slot] + text.decode() for slot, text in tail])

    def _presign(self, method, path, query, headers, expires, date, payload_hash, body):
        if not isinstance(expires, int) or isinstance(expires, bool) or not 1 <= expires <= MAX_EXPIRES:
            raise ValueError("expires: whole seconds from 1 to %d (7 days), got %r" % (MAX_EXPIRES, expires))
        date = self._use_date(date)
        if payload_hash is None and self._s3:
            payload_hash = UNSIGNED_PAYLOAD  # and the body is not read: botocore's S3SigV4QueryAuth
        payload = _text(self._payload(body, payload_hash))
        for name, value in headers:
            check_header(name, value)
        names = set([name.lower() for name, _ in headers])
        auth = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", self.access_key + "/" + self._scope),
            ("X-Amz-Date", date),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", ";".join(sorted([n for n in names if " %s " % n not in sigv4_plan.UNSIGNED]))),
        ]
        if self.session_token is not None:
            auth.append(("X-Amz-Security-Token", self.session_token))
        plan = self._plan(method, path, list(query or ()) + auth, headers, presign=True)
        creq = self._plan_text(plan, headers, date, payload)
        sts = self.string_to_sign(creq, date)
        return auth, (creq, sts, self.signature(sts, date))


IOT_SERVICE = "iotdevicegateway"  # the signing name of AWS IoT Core's MQTT over WebSocket


def _credentials(credentials):
    # (access_key, secret_key[, session_token]), or an object with access_key, secret_key
    # and session_token (or token, as botocore's) attributes. No value is ever echoed.
    if isinstance(credentials, (tuple, list)):
        if not 2 <= len(credentials) <= 3:
            raise ValueError("bad credentials: want (access_key, secret_key[, session_token])")
        token = credentials[2] if len(credentials) == 3 else None
        return credentials[0], credentials[1], token
    token = getattr(credentials, "session_token", None)
    if token is None:
        token = getattr(credentials, "token", None)
    try:
        return credentials.access_key, credentials.secret_key, token
    except AttributeError:
        raise ValueError("bad credentials: want (access_key, secret_key[, session_token])")


def iot_websocket_url(endpoint, region, credentials, expires=3600, date=None):
    """The presigned wss://ENDPOINT/mqtt URL for AWS IoT Core's MQTT over WebSocket
    (endpoint: the account's ATS endpoint, e.g. 'abc123-ats.iot.eu-west-1.amazonaws.com').
    Signed as GET /mqtt with Host only, service 'iotdevicegateway'; a session token is
    left out of the signature and appended after X-Amz-Signature, as IoT asks.
    credentials: see _credentials(); expires: seconds (1 to MAX_EXPIRES); date:
    'YYYYMMDDTHHMMSSZ' (default: now)."""
    if not isinstance(endpoint, str) or not endpoint or "/" in endpoint or endpoint.strip(sigv4._TOKEN[:66] + ":"):
        raise ValueError("bad endpoint: want a host name, e.g. abc123-ats.iot.eu-west-1.amazonaws.com")
    access_key, secret_key, token = _credentials(credentials)
    signer = Signer(access_key, secret_key, region, IOT_SERVICE, session_token=token or None,
                    sign_session_token=False)
    pairs = signer.presign("GET", "/mqtt", (), [("Host", endpoint)], expires, date=date)
    return "wss://%s/mqtt?%s" % (endpoint, query_string(pairs))
