# The credentials endpoint's JSON reply checked field by field and taken into an
# mpaws.credentials.CertificateCredentials, with when the new credentials are due for
# refreshing. Loaded by a fetch (mpaws.credentials_fetch) once its connection is closed,
# and forgotten after it (mpaws.transient): the checks made once (mpaws.credentials_state)
# are not in the heap beside the reply.
#
# The secret never appears in a message, a log line or a repr (a bad value is described
# by its kind, never quoted).
import json

from mpaws import clock, errors, sigv4

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# Constants made const(): mpy-cross writes them into the bytecode, as names they would stay
# in the heap for good.
_REFRESH_BEFORE_S = const(300)  # fetch new credentials this long before the old ones run out
_MAX_LIFETIME_S = const(43200)  # AWS issues credentials for 12 hours at most


def take(credentials, access_key, secret, session_token, seconds):
    """Takes the credentials a fetch returned into credentials, valid for seconds from now
    and due for refreshing a few minutes before they run out, counted on the device's own
    clock (credentials.now): a board whose clock is still at its power-on value (2000) or
    whose epoch is 2000 gets it right alike. (Parameter names that are interned already:
    each new one would stay in the heap for good.)"""
    credentials.access_key, credentials._secret, credentials.session_token = access_key, secret, session_token
    # Short-lived ones (a test's 20 s) at three quarters of their life.
    credentials._refresh_at = credentials.now() + seconds - min(_REFRESH_BEFORE_S, seconds // 4)
    credentials.fetches += 1
    if credentials.log:
        credentials.log("mpaws: temporary credentials %s for thing %s, valid %d s" % (access_key,
                                                                                   credentials.thing_name, seconds))


def _iso_seconds(text):
    """Seconds since 1970 of 'YYYY-MM-DDTHH:MM:SS[.fff]Z' (or +00:00), or None."""
    # Its separators by slices: text[i] interns the character it makes, a slice does not (a
    # hostile reply's characters would stay in the heap for good).
    if not isinstance(text, str) or len(text) < 20 or text[4:5] != "-" or text[7:8] != "-" or text[10:11] != "T" \
            or text[13:14] != ":" or text[16:17] != ":":
        return None
    rest = text[19:]
    if rest[:1] == ".":
        rest = rest[1:].lstrip(sigv4.DIGITS)
    if rest not in ("Z", "+00:00"):
        return None
    try:
        t = [int(text[a:b]) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))]
    except ValueError:
        return None
    for value, low, high in zip(t[1:], (1, 1, 0, 0, 0), (12, 31, 23, 59, 60)):
        if not low <= value <= high:
            return None
    return clock.unix_seconds(t)


def _field(data, name, allowed=None):
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 4096 or allowed is not None and value.strip(allowed):
        # The value is not quoted: it may be a secret.
        raise errors.ProtocolError("credentials reply: %s is missing or malformed" % name)
    if any(b <= 32 or b > 126 for b in value.encode()):  # bytes: a loop over the str would intern its characters
        raise errors.ProtocolError("credentials reply: %s holds a space or control character" % name)
    return value


def parse(body, date=None, now=None):
    """(access key, secret, session token, lifetime in seconds) from the endpoint's JSON
    reply {"credentials": {"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}}.
    date: the reply's Date header, or its seconds since 1970 (a fetch reads it before this
    module loads): the lifetime is expiration - date, both AWS's clock; without one,
    expiration - now (seconds, the port's epoch, as clock.now()). Raises
    errors.ProtocolError for a reply that is not that, never quoting a secret."""
    try:
        document = json.loads(bytes(body).decode())
    except (ValueError, UnicodeError, RuntimeError):  # RuntimeError: nested too deep
        raise errors.ProtocolError("credentials reply is not JSON (%d bytes)" % len(body))
    fields = document.get("credentials") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise errors.ProtocolError("credentials reply has no \"credentials\" object")
    access_key = _field(fields, "accessKeyId", sigv4.UPPER + sigv4.DIGITS)
    if not 16 <= len(access_key) <= 128:
        raise errors.ProtocolError("credentials reply: accessKeyId is not 16 to 128 characters")
    secret = _field(fields, "secretAccessKey")
    token = _field(fields, "sessionToken")
    expiration = fields.get("expiration")
    expires = _iso_seconds(expiration)
    if expires is None:
        # Described by its length or type, not quoted (it may be huge, or a secret in the
        # wrong field).
        raise errors.ProtocolError("credentials reply: expiration is not an ISO 8601 UTC time: it has %s"
                                   % ("%d characters" % len(expiration) if isinstance(expiration, str)
                                      else "a value of type %s" % type(expiration).__name__))
    issued = date if isinstance(date, int) else None
    if isinstance(date, str) and date:
        from mpaws import http_date

        issued = http_date.parse(date)
    if issued is None:
        import time

        issued = clock.unix_seconds(time.gmtime(now if now is not None else clock.now()))
    lifetime = expires - issued
    if lifetime <= 0:
        raise errors.ProtocolError("credentials reply: the credentials expired %d s ago (%s)"
                                   % (-lifetime, expiration[:40]))
    return access_key, secret, token, min(lifetime, _MAX_LIFETIME_S)
