# One fetch of temporary credentials from the AWS IoT credentials provider, for
# mpaws.credentials: the GET over mutual TLS. Loaded for a fetch and forgotten after it
# (mpaws.transient); what it needs at the handshake is only this. The TLS context with the
# device certificate and key is made by mpaws.certs, forgotten before the handshake; the
# reply's Date is read by mpaws.http_date, then the reply is checked and taken in by
# mpaws.credentials_reply, each loaded once the connection is closed and forgotten before
# the next; a failure is explained by mpaws.credentials_failures, loaded on a failure only.
import gc

from mpaws import errors, http, transient

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_MAX_REPLY = const(16384)  # bytes; a reply is ~1.5 KB (the session token is most of it)


def refresh(credentials):
    """Fetches new credentials into credentials (an mpaws.credentials.CertificateCredentials):
    see its refresh()."""
    try:
        key, secret, token, seconds = fetch(credentials)
        # Made while the reply filled the heap's low holes, the three strings lie in the
        # free room above, which the next TLS context and handshake want in one piece:
        # copied once the reply is garbage, they go low (measured: 0.55 KB less heap for
        # a notify). On CPython a slice is the same str.
        gc.collect()
        key, secret, token = key[:], secret[:], token[:]
        from mpaws import credentials_reply  # loaded by the fetch for the reply

        credentials_reply.take(credentials, key, secret, token, seconds)
    finally:
        transient.forget("credentials_reply")


def context(credentials):
    """The ssl.SSLContext for the credentials endpoint: its server verified as
    client.connect() does (CONFIG_TLS_CA), and the device certificate and key."""
    from mpaws import certs

    try:
        return certs.context(credentials.ca, credentials.verify, credentials.cert, credentials.key)
    finally:
        transient.forget("certs")


def fetch(credentials):
    """New credentials for credentials (an mpaws.credentials.CertificateCredentials): (access key,
    secret, session token, lifetime in seconds). Every errors.AWSError it raises has
    endpoint = "credentials": whatever the endpoint answered, no message reached AWS, so
    none is refused for its content (errors.refusal)."""
    try:
        return _fetch(credentials)
    except errors.AWSError as e:
        e.endpoint = "credentials"
        raise
    finally:
        # What the reply loaded (http_date for its Date, calendar for the expiry; the
        # failure's words) is not needed for an hour.
        transient.forget("credentials_failures", "http_date", "calendar")


def _fetch(credentials):
    gc.collect()  # the handshake's buffers want room in one piece
    connection = http.Connection(credentials.host, credentials.port, context(credentials),
                                 timeout=credentials.timeout, max_body=_MAX_REPLY, log=credentials.log,
                                 verify=credentials.verify)
    host = credentials.host if credentials.port == 443 else "%s:%d" % (credentials.host, credentials.port)
    response = error = None
    try:
        response = connection.request("GET", "/role-aliases/%s/credentials" % credentials.role_alias,
                                      (("host", host), ("x-amzn-iot-thingname", credentials.thing_name)))
    except errors.AWSError as e:
        error = e  # explained below, once the connection's heap is free
    finally:
        connection.close()
        credentials.handshakes += connection.handshakes
        credentials.bytes_sent += connection.bytes_sent
        credentials.bytes_received += connection.bytes_received
        connection = None  # its buffer and TLS context: garbage before the reply is looked at
    gc.collect()  # http_date or the failure's words load into the room the connection left
    if error is not None or response.status >= 300:
        from mpaws import credentials_failures

        raise credentials_failures.error(credentials, response, error)
    date = response.header("date")
    if date:
        # Read before the reply's code loads, and let go of: http_date and
        # mpaws.credentials_reply are never in the heap together.
        from mpaws import http_date

        date = http_date.parse(date)  # seconds since 1970, or None: not a date
        transient.forget("http_date")
        gc.collect()
    from mpaws import credentials_reply

    return credentials_reply.parse(response.body, date, credentials.now())
