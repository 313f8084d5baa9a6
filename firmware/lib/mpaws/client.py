# A signed AWS request with retries: the layer between the signer/transport and the
# service modules (awslambda, sns, iot).
#
# Retries: network errors, malformed replies, throttling (429) and 500/502/503/504, with
# exponential backoff and full jitter, bounded by max_attempts and a total time budget;
# never other 4xx. Every attempt has a deadline (the connection's timeout, and never past
# the budget): a request returns or raises within budget_ms.
# Clock: a "Signature expired / not yet current" reply sets clock.offset from the reply's
# Date header (when it is a plausible date), and the request is signed again and sent once
# more.
import gc
import random

from mpaws import clock, errors, http, sigv4, transient

_ticks_ms = http.ticks_ms
_ticks_diff = http.ticks_diff
_sleep_ms = http.sleep_ms


def backoff_ms(attempt, base_ms, cap_ms):
    """Full jitter: a random delay in [0, min(cap, base * 2**attempt)] milliseconds."""
    ceiling = min(cap_ms, base_ms << min(attempt, 16))
    return (random.getrandbits(16) * ceiling) >> 16


class Client:
    """Sends signed requests to one AWS endpoint over one kept-alive TLS connection.
    budget_ms: the most one request() may take, retries and their pauses included (by
    default 4 times the connection's timeout). feed: when set, called before every attempt
    and pause (a board's watchdog: fed while the request makes progress)."""

    def __init__(self, signer, connection, max_attempts=4, budget_ms=None, base_delay_ms=200, max_delay_ms=5000,
                 log=None):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if budget_ms is None:
            budget_ms = int(connection.timeout * 4000)
        self.feed = None
        self.signer = signer
        self.connection = connection
        self.max_attempts = max_attempts
        self.budget_ms = budget_ms
        self.base_delay_ms = base_delay_ms
        self.max_delay_ms = max_delay_ms
        self.log = log
        host = connection.host
        self.host_header = host if connection.port == 443 else "%s:%d" % (host, connection.port)
        self.attempts = 0  # attempts made by the last request (for logs and tests)

    def close(self):
        self.connection.close()

    def request(self, method, path, query=None, headers=(), body=None, max_body=None):
        """Signs and sends a request; returns the http.Response of a 2xx reply, raises the
        matching errors.AWSError otherwise. path: as on the wire (see sigv4.uri_encode);
        query: decoded (key, value) pairs; headers: (lower-case name, value) pairs;
        body: bytes, str, or an iterable of pieces (a list, or json_pieces.JsonPieces: hashed
        and sent piece by piece)."""
        target = path + "?" + sigv4.query_string(query) if query else path
        base = [("host", self.host_header)]
        for header in headers:
            base.append(header)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            base.append(("content-length", str(0 if body is None else http.body_length(body))))
        payload = sigv4.payload_hash(body)  # once, not on every retry
        started = _ticks_ms()
        deadline = http.ticks_add(started, self.budget_ms)
        attempt = 0
        corrected = False
        renewed = False  # temporary credentials (mpaws.credentials) fetched again after an expired-token reply
        while True:
            attempt += 1
            self.attempts = attempt
            if self.feed is not None:
                self.feed()
            signed = self.signer.sign(method, path, query, base, payload_hash=payload, date=clock.amz_date())
            try:
                response = self.connection.request(method, target, base + signed, body, max_body, deadline)
            except errors.NetworkError as e:
                error = e
                retry_after = None
            else:
                if response.status < 300:
                    if attempt > 1 or corrected or renewed:
                        # The failed attempts' code (mpaws.failures, network_errors: 8 KB and more,
                        # loaded for them) is let go of: a request that succeeded does not hold it.
                        # Not between attempts: loaded again for each failure of a storm, it would
                        # leave the heap in pieces.
                        transient.forget("failures", "network_errors")
                    return response
                retry_after = response.header("retry-after")
                # What the reply means, in mpaws.failures (loaded for it): the error, and
                # whether the request goes again at once, which is not a retry (1: the clock
                # was set from AWS's reply; 2: new temporary credentials were fetched).
                gc.collect()  # the failure path only; its garbage goes first (see http._failures)
                from mpaws import failures

                error, again = failures.reply_error(self, response, corrected, renewed)
                if again:
                    corrected = corrected or again == 1
                    renewed = renewed or again == 2
                    attempt -= 1
                    continue
            if not error.retryable or attempt >= self.max_attempts:
                if attempt > 1 and error.retryable:
                    error.message = "%s (gave up after %d attempts)" % (error.message, attempt)
                raise error
            delay = backoff_ms(attempt - 1, self.base_delay_ms, self.max_delay_ms)
            if retry_after is not None:
                try:
                    delay = max(delay, min(int(retry_after) * 1000, self.max_delay_ms))
                except ValueError:
                    pass
            if _ticks_diff(_ticks_ms(), started) + delay > self.budget_ms:
                error.message = "%s (gave up: retry budget of %d ms spent)" % (error.message, self.budget_ms)
                raise error
            if self.log:
                self.log("mpaws: %s; retry %d of %d in %d ms" % (error, attempt, self.max_attempts - 1, delay))
            if self.feed is not None:
                self.feed()
            _sleep_ms(delay)
            gc.collect()  # the failed attempt's garbage (its socket, its reply): one heap for the next


def connect(service, region, access_key, secret_key, host, port=443, session_token=None, ca=None, verify=True,
            timeout=10, max_attempts=4, budget_ms=None, log=None, credentials=None):
    """A Client for one service endpoint. ca: path of a CA file or folder (default: the
    bundled Amazon roots) or a list of certificate bytes; verify=False: no TLS
    verification (a warning is logged on every connection). timeout: seconds one attempt
    may take; budget_ms: the whole request with its retries (default 4 x timeout).
    credentials: an mpaws.credentials.CertificateCredentials to sign with instead of the
    fixed keys (access_key, secret_key and session_token are then None)."""
    if credentials is None:
        signer = sigv4.Signer(access_key, secret_key, region, service, session_token=session_token)
    else:
        signer = (credentials, region, service)  # made by open_client (credentials.signer)
    return open_client(signer, host, port, ca, verify, timeout, max_attempts, budget_ms, log)


def open_client(signer, host, port=443, ca=None, verify=True, timeout=10, max_attempts=4, budget_ms=None, log=None):
    """A Client for one endpoint with a given signer: a sigv4.Signer, or any object whose
    sign(method, path, query, headers, payload_hash=, date=) returns the headers to add
    (mpaws.api_key.KeyAuth: an API key, no signature), or (credentials, region, service) for temporary
    credentials (mpaws.credentials)."""
    temporary = isinstance(signer, tuple)
    if temporary:
        # Fetched (unless fresh ones are held) and the signer made before this client's TLS
        # context exists: the fetch's own context and code are garbage by then.
        signer = signer[0].signer(signer[1], signer[2])
    # What loading and checking left behind goes now: the TLS context (its mbedTLS state
    # wants 3 KB in one block) and the connection, kept for the whole session, then sit
    # low in the heap, not above garbage that would split the free space into holes too
    # small for what the handshake and the request need.
    gc.collect()
    # mpaws.certs reads the CA files and makes the context once per session, then is
    # forgotten: its code is free again before the handshake.
    from mpaws import certs

    try:
        context = certs.context(ca, verify)
    finally:
        transient.forget("certs")
    connection = http.Connection(host, port, context, timeout=timeout, log=log, verify=verify)
    if temporary:
        signer.connection = connection  # closed before a fetch
    return Client(signer, connection, max_attempts=max_attempts, budget_ms=budget_ms, log=log)
