# The state of temporary credentials (mpaws.credentials.CertificateCredentials) and what
# is checked about them: the endpoint and the names the request carries, checked once;
# the credentials endpoint's JSON reply checked field by field, taken in, and when the new
# credentials are due for refreshing; an AWS reply that says they ran out. Loaded for one
# of these steps and forgotten after it (mpaws.transient). The fetch over mutual TLS is
# mpaws.credentials_fetch's.
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
_TOKEN_CHARS = const("-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# What AWS answers a request signed with credentials that ran out (or were revoked early):
# refresh, then send the request once more. One str, each code between spaces.
_RENEW_CODES = const(" ExpiredToken ExpiredTokenException InvalidClientTokenId UnrecognizedClientException "
                     "TokenRefreshRequired ")


def is_name(text, allowed):
    """Whether text is 1 to 128 ASCII letters, digits or allowed characters: a role alias
    (allowed "=,@-_"; it goes into the request's path) or a thing name (":_-"; a header)."""
    if not isinstance(text, str) or not 1 <= len(text) <= 128:
        return False
    return sigv4.made_of(text, sigv4.LETTERS + sigv4.DIGITS + allowed)  # ASCII, as on MicroPython


def endpoint(text, role_alias, thing_name):
    """(host, port) of a credentials endpoint "host" or "host:port" (port 443 by default).
    Raises ValueError for it, or for a role alias or thing name the request cannot carry."""
    host, _, port = text.partition(":")
    if not host or port and not sigv4.made_of(port, sigv4.DIGITS):
        raise ValueError("credentials endpoint: a host name, optionally :port")
    if not is_name(role_alias, "=,@-_"):
        raise ValueError("role alias: 1 to 128 letters, digits or =,@-_")
    if not is_name(thing_name, ":_-"):
        raise ValueError("thing name: 1 to 128 letters, digits or :_-")
    return host, int(port) if port else 443


def start(credentials, text, role_alias, thing_name, cert, key, ca, verify, timeout, log, now):
    """The state of a new mpaws.credentials.CertificateCredentials (see its arguments), its
    endpoint and names checked. (Parameter names that are interned already: each new one
    would stay in the heap for good.)"""
    credentials.host, credentials.port = endpoint(text, role_alias, thing_name)
    credentials.role_alias = role_alias
    credentials.thing_name = thing_name
    credentials.cert = cert
    credentials.key = key
    credentials.ca = ca
    credentials.verify = verify
    credentials.timeout = timeout
    credentials.log = log
    if now is not None:  # else the class's: the device's clock
        credentials.now = now
    credentials.access_key = None
    credentials.session_token = None
    credentials._secret = None
    credentials._refresh_at = 0
    credentials.fetches = 0
    credentials.handshakes = 0
    credentials.bytes_sent = 0
    credentials.bytes_received = 0


def renews(credentials, error):
    """credentials.renews(error): see there."""
    if " %s " % error.code in _RENEW_CODES:
        credentials.expire()
        return True
    return False


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
    date: the reply's Date header (the lifetime is expiration - date, both AWS's clock);
    without one, expiration - now (seconds, the port's epoch, as clock.now()). Raises
    errors.ProtocolError for a reply that is not that, never quoting a secret."""
    try:
        document = json.loads(bytes(body).decode())
    except (ValueError, UnicodeError, RuntimeError):  # RuntimeError: nested too deep
        raise errors.ProtocolError("credentials reply is not JSON (%d bytes)" % len(body))
    fields = document.get("credentials") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise errors.ProtocolError("credentials reply has no \"credentials\" object")
    access_key = _field(fields, "accessKeyId", _TOKEN_CHARS[27:])
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
    if date:
        from mpaws import http_date

        issued = http_date.parse(date)
    else:
        issued = None
    if issued is None:
        import time

        issued = clock.unix_seconds(time.gmtime(now if now is not None else clock.now()))
    lifetime = expires - issued
    if lifetime <= 0:
        raise errors.ProtocolError("credentials reply: the credentials expired %d s ago (%s)"
                                   % (-lifetime, expiration[:40]))
    return access_key, secret, token, min(lifetime, _MAX_LIFETIME_S)
