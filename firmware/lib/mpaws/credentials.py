# Temporary credentials from the AWS IoT credentials provider: no long-term secret on the
# flash. The device proves who it is with its X.509 certificate over mutual TLS
# (GET /role-aliases/<alias>/credentials, header x-amzn-iot-thingname) and receives an
# access key, a secret, a session token and their expiry (1 hour by default, 12 at most)
# for the IAM role behind the role alias. A stolen board then yields a certificate its
# owner revokes in one call, and keys that run out within the hour.
#
# The credentials live in RAM only. They are fetched before the first request, again a
# few minutes before they run out (_REFRESH_BEFORE_S), and at once when AWS answers a
# request with ExpiredToken or InvalidClientTokenId (mpaws.client then sends that request
# once more). The fetch itself (TLS, HTTP, JSON) is in mpaws.credentials_fetch, loaded for
# each fetch and forgotten after it: an hourly task does not hold its code in the heap.
#
# Expiry: the reply's expiration (UTC, ISO 8601) minus the reply's Date header (both as
# seconds since 1970, mpaws.clock) is the credentials' lifetime; it is counted on the
# device's own clock from the moment they arrived, so a board whose clock is still at its
# power-on value (2000) or whose epoch is 2000 gets it right alike.
from mpaws import clock, sigv4

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# Constants made const(): mpy-cross writes them into the bytecode, as names they would stay
# in the heap for good.
_REFRESH_BEFORE_S = const(300)  # fetch new credentials this long before the old ones run out
# What AWS answers a request signed with credentials that ran out (or were revoked early):
# refresh, then send the request once more. One str, each code between spaces: a tuple of
# five would hold five more objects in the heap.
_RENEW_CODES = const(" ExpiredToken ExpiredTokenException InvalidClientTokenId UnrecognizedClientException "
                     "TokenRefreshRequired ")


def _is_name(text, allowed):
    if not isinstance(text, str) or not 1 <= len(text) <= 128:
        return False
    return sigv4.made_of(text, sigv4.LETTERS + sigv4.DIGITS + allowed)  # ASCII, as on MicroPython


class CertificateCredentials:
    """Temporary credentials for the IAM role behind `role_alias`, fetched from the
    account's credentials endpoint ("xxxx.credentials.iot.REGION.amazonaws.com", may carry
    :port) with the device certificate. cert, key: paths of the certificate and its
    private key (DER or PEM; PKCS#1, PKCS#8 or SEC1 EC keys), or their bytes; ca: as for
    client.connect() (path, list of certificate bytes, None for the bundled Amazon roots).
    now: the clock (seconds, the port's epoch; default mpaws.clock.now), for tests.

    access_key and session_token are readable; the secret is never shown (repr, logs).
    fetches, handshakes, bytes_sent, bytes_received: what the credentials calls cost."""

    def __init__(self, endpoint, role_alias, thing_name, cert, key, ca=None, verify=True, timeout=10, log=None,
                 now=None):
        host, _, port = endpoint.partition(":")
        if not host or port and not sigv4.made_of(port, sigv4.DIGITS):
            raise ValueError("credentials endpoint: a host name, optionally :port")
        if not _is_name(role_alias, "=,@-_"):
            raise ValueError("role alias: 1 to 128 letters, digits or =,@-_")
        if not _is_name(thing_name, ":_-"):
            raise ValueError("thing name: 1 to 128 letters, digits or :_-")
        self.host = host
        self.port = int(port) if port else 443
        self.role_alias = role_alias
        self.thing_name = thing_name
        self.cert = cert
        self.key = key
        self.ca = ca
        self.verify = verify
        self.timeout = timeout
        self.log = log
        self.now = now or clock.now
        self.access_key = None
        self.session_token = None
        self._secret = None
        self._refresh_at = 0  # on the device's clock (self.now); 0: none yet
        self.generation = 0  # counts fetches; a signer made for an older one is made again
        self.fetches = 0
        self.handshakes = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    def __repr__(self):
        return "<CertificateCredentials %s for thing %s via %s, key %s>" % (self.role_alias, self.thing_name,
                                                                          self.host, self.access_key)

    def fresh(self):
        """Whether credentials are held and not due for refreshing."""
        return self.access_key is not None and self.now() < self._refresh_at

    def expire(self):
        """Marks the credentials as run out: the next request fetches new ones."""
        self._refresh_at = 0

    def refresh(self):
        """Fetches new credentials now. Raises errors.AccessDenied when the endpoint refuses
        the certificate or the thing, another errors.AWSError when it cannot be reached or
        answers nonsense (the old credentials are then kept, expired)."""
        access_key, secret, token, lifetime = self._fetch()
        self.access_key, self._secret, self.session_token = access_key, secret, token
        # Refresh a few minutes before they run out; short-lived ones (a test's 20 s) at
        # three quarters of their life.
        self._refresh_at = self.now() + lifetime - min(_REFRESH_BEFORE_S, lifetime // 4)
        self.generation += 1
        self.fetches += 1
        if self.log:
            self.log("mpaws: temporary credentials %s for thing %s, valid %d s" % (access_key, self.thing_name,
                                                                                lifetime))

    def _fetch(self):
        # (access key, secret, session token, lifetime in seconds), by mpaws.credentials_fetch.
        from mpaws import credentials_fetch, transient

        try:
            return credentials_fetch.fetch(self)
        finally:
            transient.forget("credentials_fetch")

    def ensure(self):
        """Fetches credentials unless fresh ones are held."""
        if not self.fresh():
            self.refresh()

    def signer(self, region, service, connection=None):
        """A signer for client.Client that signs with these credentials (token included),
        fetching or refreshing them first when needed. connection: the client's, closed
        before a fetch: only one TLS session is open at a time, which is what a board's
        heap holds."""
        return Signer(self, region, service, connection)


class Signer:
    """What client.Client signs with: sigv4.Signer's sign(), on the current credentials
    (see CertificateCredentials.signer)."""

    def __init__(self, credentials, region, service, connection=None):
        self.credentials = credentials
        self.region = region
        self.service = service
        self.connection = connection
        # The sigv4.Signer and the credentials' generation it was made for; names the
        # credentials' own (interned once, they are never freed).
        self.signer = None
        self.generation = -1

    def renews(self, error):
        """Whether error (an errors.AWSError reply) says the credentials ran out or are no
        longer valid (ExpiredToken, InvalidClientTokenId): if so, the next sign() fetches
        new ones, and client.Client sends the request once more."""
        if " %s " % error.code in _RENEW_CODES:
            self.credentials.expire()
            return True
        return False

    def sign(self, method, path, query=None, headers=(), body=None, payload_hash=None, date=None):
        c = self.credentials
        if not c.fresh():
            if self.connection is not None:
                self.connection.close()
            self.signer = None  # the old secret's HMAC pads go before the fetch
            c.refresh()
        if self.generation != c.generation or self.signer is None:
            self.signer = sigv4.Signer(c.access_key, c._secret, self.region, self.service,
                                        session_token=c.session_token)
            self.generation = c.generation
        return self.signer.sign(method, path, query, headers, body, payload_hash, date)
