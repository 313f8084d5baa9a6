# The state of temporary credentials (mpaws.credentials.CertificateCredentials) and what
# is checked about them once: the endpoint and the names the request carries; whether
# they are fresh, or marked as run out (the methods CertificateCredentials reaches through
# its __getattr__); and an AWS reply that says they ran out. Loaded for one of these steps
# and forgotten after it (mpaws.transient). The fetch over mutual TLS is
# mpaws.credentials_fetch's, and its reply is checked and taken in by
# mpaws.credentials_reply.
from mpaws import sigv4

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# What AWS answers a request signed with credentials that ran out (or were revoked early):
# refresh, then send the request once more. One str, each code between spaces; const():
# mpy-cross writes it into the bytecode, as a name it would stay in the heap for good.
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


def fresh(credentials):
    """credentials.fresh(): see mpaws.credentials.CertificateCredentials."""
    return credentials.access_key is not None and credentials.now() < credentials._refresh_at


def expire(credentials):
    """credentials.expire(): see there."""
    credentials._refresh_at = 0  # due: the device's clock (now()) is never below 0


def renews(credentials, error):
    """credentials.renews(error): see there."""
    if " %s " % error.code in _RENEW_CODES:
        expire(credentials)
        return True
    return False
