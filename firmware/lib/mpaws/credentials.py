# Temporary credentials from the AWS IoT credentials provider: no long-term secret on the
# flash. The device proves who it is with its X.509 certificate over mutual TLS
# (GET /role-aliases/<alias>/credentials, header x-amzn-iot-thingname) and receives an
# access key, a secret, a session token and their expiry (1 hour by default, 12 at most)
# for the IAM role behind the role alias. A stolen board then yields a certificate its
# owner revokes in one call, and keys that run out within the hour.
#
# The credentials live in RAM only. They are fetched before the first request, again a
# few minutes before they run out, and at once when AWS answers a request with
# ExpiredToken or InvalidClientTokenId (mpaws.client then sends that request once more).
# This module holds what every request needs: whether they are fresh, and the signing.
# The rest (the names checked, the fetch over TLS, the reply and its expiry) is in
# mpaws.credentials_fetch, loaded for a check or a fetch and forgotten after it: an
# hourly task does not hold its code in the heap through the session's requests.
from mpaws import clock, sigv4

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# What AWS answers a request signed with credentials that ran out (or were revoked early):
# refresh, then send the request once more. One str, each code between spaces: a tuple of
# five would hold five more objects in the heap; const(): written into the bytecode, not
# kept as a name in the heap.
_RENEW_CODES = const(" ExpiredToken ExpiredTokenException InvalidClientTokenId UnrecognizedClientException "
                     "TokenRefreshRequired ")


def _call(step, *args):
    # mpaws.credentials_fetch.<step>(*args): the checks and the fetch, loaded for the call
    # and forgotten after it. What stays for the session is this module: the signing.
    # Named as app._call: a name of its own would be one more interned for good.
    from mpaws import credentials_fetch, transient

    try:
        return getattr(credentials_fetch, step)(*args)
    finally:
        transient.forget("credentials_fetch")


class CertificateCredentials:
    """Temporary credentials for the IAM role behind `role_alias`, fetched from the
    account's credentials endpoint ("xxxx.credentials.iot.REGION.amazonaws.com", may carry
    :port) with the device certificate. cert, key: paths of the certificate and its
    private key (DER or PEM; PKCS#1, PKCS#8 or SEC1 EC keys), or their bytes; ca: as for
    client.connect() (path, list of certificate bytes, None for the bundled Amazon roots).
    now: the clock (seconds, the port's epoch; default mpaws.clock.now), for tests. Raises
    ValueError for an endpoint, role alias or thing name the request cannot carry.

    access_key and session_token are readable; the secret is never shown (logs; repr()
    is the default one: a __repr__'s code would be held for the session).
    fetches, handshakes, bytes_sent, bytes_received: what the credentials calls cost."""

    def __init__(self, endpoint, role_alias, thing_name, cert, key, ca=None, verify=True, timeout=10, log=None,
                 now=None):
        self.host, self.port = _call("endpoint", endpoint, role_alias, thing_name)
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
        self.fetches = 0  # a signer made before the last fetch is made again
        self.handshakes = 0
        self.bytes_sent = 0
        self.bytes_received = 0

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
        _call("refresh", self)

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
        # The sigv4.Signer and the credentials' fetches when it was made; names the
        # credentials' own (interned once, they are never freed).
        self.signer = None
        self.fetches = -1

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
        if self.fetches != c.fetches or self.signer is None:
            self.signer = sigv4.Signer(c.access_key, c._secret, self.region, self.service,
                                        session_token=c.session_token)
            self.fetches = c.fetches
        return self.signer.sign(method, path, query, headers, body, payload_hash, date)
