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
# This module holds what every request needs: whether they are fresh, and giving them to
# the signer. The signer is an mpaws.sigv4.Signer on the current credentials that asks
# renew() before each signature. The rest is loaded for its step and forgotten after it:
# the fetch over mutual TLS in mpaws.credentials_fetch; the names checked, and the steps
# no signature takes (fresh(), expire(), renews()), in mpaws.credentials_state; the reply
# and its expiry in mpaws.credentials_reply. An hourly task does not hold its code in the
# heap through the session's requests.
from mpaws import clock, sigv4


def _call(module, step, *args):
    # mpaws.credentials_<module>.<step>(*args): the checks and the state's steps ("state"),
    # the fetch ("fetch"), loaded for the call and forgotten after it. What stays for the
    # session is this module: when to renew. Named as app._call: a name of its own would be
    # one more interned for good.
    name = "credentials_" + module
    try:
        return getattr(getattr(__import__("mpaws." + name), name), step)(*args)
    finally:
        from mpaws import transient

        transient.forget(name)


class CertificateCredentials:
    """Temporary credentials for the IAM role behind `role_alias`, fetched from the
    account's credentials endpoint ("xxxx.credentials.iot.REGION.amazonaws.com", may carry
    :port) with the device certificate. cert, key: paths of the certificate and its
    private key (DER or PEM; PKCS#1, PKCS#8 or SEC1 EC keys), or their bytes; ca: as for
    client.connect() (path, list of certificate bytes, None for the bundled Amazon roots).
    now: the clock (seconds, the port's epoch; default mpaws.clock.now), for tests. Raises
    ValueError for an endpoint, role alias or thing name the request cannot carry.

    fresh(): whether credentials are held and not due for refreshing. expire(): marks them
    as run out (the next request fetches new ones). refresh(): fetches new ones now; raises
    errors.AccessDenied when the endpoint refuses the certificate or the thing, another
    errors.AWSError when it cannot be reached or answers nonsense (the old credentials are
    then kept, expired). renews(error): whether error (an errors.AWSError reply) says they
    ran out or are no longer valid (ExpiredToken, InvalidClientTokenId); if so, the next
    signature fetches new ones, and client.Client sends the request once more.

    access_key and session_token are readable; the secret is never shown (logs; repr()
    is the default one: a __repr__'s code would be held for the session).
    fetches, handshakes, bytes_sent, bytes_received: what the credentials calls cost."""

    now = staticmethod(clock.now)  # the clock the refresh is due by; a test's own, when given

    # The state credentials_state.start() sets (annotations: nothing in the heap).
    host: str
    port: int
    role_alias: str
    thing_name: str
    cert: "str | bytes"
    key: "str | bytes"
    ca: "str | list | None"
    verify: bool
    timeout: "int | float"
    log: object
    access_key: "str | None"
    session_token: "str | None"
    _secret: "str | None"
    _refresh_at: int  # on the device's clock (now()); 0: none yet
    fetches: int  # a signer on the credentials of an earlier fetch takes the new ones
    handshakes: int
    bytes_sent: int
    bytes_received: int

    def __init__(self, endpoint, role_alias, thing_name, cert, key, ca=None, verify=True, timeout=10, log=None,
                 now=None):
        # The names checked and the state set by mpaws.credentials_state: code run once.
        _call("state", "start", self, endpoint, role_alias, thing_name, cert, key, ca, verify, timeout, log, now)

    # fresh(), expire(), refresh() and renews(error) (see the class's docstring) are
    # mpaws.credentials_state's (refresh(): mpaws.credentials_fetch's), reached through
    # __getattr__, loaded for the call and forgotten after it. Kept as methods, their code
    # would be held through every request (measured: 0.3 KB more heap for a notify); only
    # what each signature runs is here.

    def ensure(self, connection=None):
        """Fetches credentials unless fresh ones are held, after closing connection (a
        client's; None: none) if they are fetched: only one TLS session is open at a time,
        which is what a board's heap holds."""
        if self.access_key is None or self.now() >= self._refresh_at:  # not fresh()
            if connection is not None:
                connection.close()
            self.refresh()

    def signer(self, region, service, connection=None):
        """An mpaws.sigv4.Signer for client.Client on these credentials (token included),
        fetched first unless fresh ones are held. Before each signature it asks renew():
        when they are due, new ones are fetched, after closing `connection` (the client's)."""
        self.ensure()
        made = sigv4.Signer(self.access_key, self._secret, region, service, session_token=self.session_token)
        made.credentials = self
        made.connection = connection
        made.fetches = self.fetches
        return made

    def renew(self, signer):
        """Called by signer (see signer()) before each signature: fetches new credentials
        when these are due, and gives the signer the current ones."""
        self.ensure(signer.connection)
        if signer.fetches != self.fetches:
            # New keys in the same signer: the client and its caller hold it.
            sigv4.Signer.__init__(signer, self.access_key, self._secret, signer.region, signer.service,
                                  session_token=self.session_token)
            signer.fetches = self.fetches

    def __getattr__(self, name):
        if name not in ("fresh", "expire", "refresh", "renews"):
            raise AttributeError(name)
        return lambda *args: _call("fetch" if name == "refresh" else "state", name, self, *args)
