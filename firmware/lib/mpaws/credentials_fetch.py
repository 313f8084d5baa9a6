# One fetch of temporary credentials from the AWS IoT credentials provider, for
# mpaws.credentials: the TLS context with the device certificate and key, the GET over
# mutual TLS, the JSON reply checked field by field. Loaded for a fetch and forgotten
# after it (mpaws.transient).
#
# The private key is read from its file into the TLS context and let go at once; it and
# the secret never appear in a message, a log line or a repr (a bad value is described
# by its kind, never quoted).
import gc
import json
import sys

from mpaws import clock, errors, http, sigv4

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_CPYTHON = sys.implementation.name != "micropython"
# Constants made const(): mpy-cross writes them into the bytecode, as names they would stay
# in the heap for good.
_MAX_REPLY = const(16384)  # bytes; a reply is ~1.5 KB (the session token is most of it)
_MAX_LIFETIME_S = const(43200)  # AWS issues credentials for 12 hours at most
_TOKEN_CHARS = const("-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LABEL_CHARS = const(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")  # a PEM label: "EC PRIVATE KEY", "CERTIFICATE"


def _read(path, key):
    # The file's bytes, or the bytes given as path.
    if isinstance(path, (bytes, bytearray)):
        return bytes(path)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise errors.ConfigError("%s: no such file on this device (copy it with `make provision`)" % key)
    except TypeError:
        raise errors.ConfigError("%s: give the path of the file" % key)


def pem_block(data, name, key):
    """The DER bytes of the first PEM block whose label ends with name ("CERTIFICATE",
    "PRIVATE KEY"), or data itself when it is not PEM. DER everywhere: the MicroPython
    unix port's mbedTLS has no PEM parser. Raises errors.ConfigError naming key."""
    import binascii

    i = data.find(b"-----BEGIN ")
    while i >= 0:
        j = data.find(b"-----", i + 11)
        if j < 0:
            break
        label = data[i + 11 : j]
        if not 0 < len(label) <= 64 or label.strip(_LABEL_CHARS):
            # A BEGIN line without its closing dashes: the "label" would run into the
            # key's base64, which no message may show.
            raise errors.ConfigError("%s: a PEM BEGIN line is malformed (its label is not closed by -----): give "
                                     "the file as written (`tools/cloud.py deploy --cert-auth`), or DER" % key)
        start = j + 5
        end = data.find(b"-----END " + label + b"-----", start)
        if end < 0:
            raise errors.ConfigError("%s: the PEM block %s is not closed (file cut short?)" % (key, label.decode()))
        if label.endswith(name):
            text = data[start:end]
            if b"ENCRYPTED" in label or b"Proc-Type" in text:
                raise errors.ConfigError("%s: the key is encrypted; give it without a pass phrase "
                                         "(openssl pkey -in KEY -out KEY.der -outform DER)" % key)
            try:
                return binascii.a2b_base64(text.replace(b"\r", b"").replace(b"\n", b""))
            except ValueError:
                raise errors.ConfigError("%s: the PEM block is not valid base64" % key)
        i = data.find(b"-----BEGIN ", end)
    if data[:1] == b"\x30":  # DER: an ASN.1 SEQUENCE
        return data
    raise errors.ConfigError("%s: neither DER nor a PEM %s" % (key, name.decode()))


def context(credentials):
    """The ssl.SSLContext for the credentials endpoint: its server verified as
    client.connect() does (CONFIG_TLS_CA), and the device certificate and key."""
    from mpaws import certs, transient

    try:
        ctx = certs.context(credentials.ca, credentials.verify)
    finally:
        transient.forget("certs")
    cert = pem_block(_read(credentials.cert, "CONFIG_TLS_CERT"), b"CERTIFICATE", "CONFIG_TLS_CERT")
    key = pem_block(_read(credentials.key, "CONFIG_TLS_KEY"), b"PRIVATE KEY", "CONFIG_TLS_KEY")
    try:
        if _CPYTHON:
            from mpaws import pem_files  # host runs only

            pem_files.load_cert_chain(ctx, cert, key)
        else:
            ctx.load_cert_chain(cert, key)
    except (ValueError, OSError) as e:
        # mbedTLS's and OpenSSL's reasons name the problem, never the key's bytes.
        raise errors.ConfigError("CONFIG_TLS_CERT / CONFIG_TLS_KEY: not a certificate and its private key (%s): "
                                 "give the files `tools/cloud.py deploy --cert-auth` wrote (DER or PEM; RSA or EC "
                                 "keys, PKCS#1, PKCS#8 or SEC1)" % (e.args[-1] if e.args else type(e).__name__))
    finally:
        key = None  # the context keeps its parsed copy
    return ctx


def _iso_seconds(text):
    """Seconds since 1970 of 'YYYY-MM-DDTHH:MM:SS[.fff]Z' (or +00:00), or None."""
    if not isinstance(text, str) or len(text) < 20 or text[4] != "-" or text[7] != "-" or text[10] != "T" \
            or text[13] != ":" or text[16] != ":":
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


def _failed(credentials, response):
    # The endpoint's error reply, with what to check for the status it gave; AWS's words
    # kept. Not API Gateway's hints (failures.from_response(gateway=False)): this is the
    # AWS IoT credentials provider, or another endpoint CONFIG_AWS_CREDENTIALS_ENDPOINT
    # names by mistake.
    from mpaws import failures  # the failure path

    status = response.status
    e = failures.from_response(status, response.header("x-amzn-errortype"), response.body,
                               response.header("x-amzn-requestid"), gateway=False)
    where = "credentials endpoint %s (CONFIG_AWS_CREDENTIALS_ENDPOINT)" % credentials.host
    if response.body and b"ecretAccessKey" in response.body:  # credentials in a refusal: never quoted
        e.message = "a reply holding credentials (not shown)"
    if status in (401, 403):
        e.message = "%s refused the certificate for role alias %r, thing %r: %s (is the certificate ACTIVE in AWS " \
                    "IoT, attached to thing CONFIG_AWS_THING_NAME, and does its policy allow " \
                    "iot:AssumeRoleWithCertificate on the role alias?)" % (where, credentials.role_alias,
                                                                           credentials.thing_name, e.message)
    elif status == 404:
        e.message = "%s has no role alias %r: %s (check CONFIG_AWS_ROLE_ALIAS, and that the endpoint is the " \
                    "account's iot:CredentialProvider one)" % (where, credentials.role_alias, e.message)
    elif status >= 500:
        e.message = "%s failed: %s (AWS IoT's credentials provider; tried again later)" % (where, e.message)
    else:
        e.message = "%s answered HTTP %d: %s (is it the account's credentials endpoint? `aws iot describe-endpoint " \
                    "--endpoint-type iot:CredentialProvider`)" % (where, status, e.message)
    return e


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


def _fetch(credentials):
    gc.collect()  # the handshake's buffers want room in one piece
    connection = http.Connection(credentials.host, credentials.port, context(credentials),
                                 timeout=credentials.timeout, max_body=_MAX_REPLY, log=credentials.log,
                                 verify=credentials.verify)
    host = credentials.host if credentials.port == 443 else "%s:%d" % (credentials.host, credentials.port)
    try:
        response = connection.request("GET", "/role-aliases/%s/credentials" % credentials.role_alias,
                                      (("host", host), ("x-amzn-iot-thingname", credentials.thing_name)))
    except errors.AWSError as e:
        # A handshake that failed after our side trusted the server (a TLS alert, or the
        # connection cut, as mbedTLS sees the alert): the server refused our certificate.
        handshake = type(e).__name__ == "TLSError" or "during the TLS handshake" in e.message
        from mpaws import network_errors  # the failure path

        if handshake and not ("verify failed" in e.message or network_errors.TLS_HINT_NOT_TRUSTED in e.message):
            raise errors.AccessDenied("credentials endpoint %s:%d refused the device certificate in the TLS "
                                      "handshake: %s (is CONFIG_TLS_CERT registered with AWS IoT and ACTIVE, and "
                                      "CONFIG_TLS_KEY its key?)" % (credentials.host, credentials.port, e.message))
        raise
    finally:
        connection.close()
        credentials.handshakes += connection.handshakes
        credentials.bytes_sent += connection.bytes_sent
        credentials.bytes_received += connection.bytes_received
        connection = None  # its buffer and TLS context: garbage before the reply is looked at
    if response.status >= 300:
        gc.collect()  # the failure's code loads into the room the connection left
        raise _failed(credentials, response)
    return parse(response.body, response.header("date"), credentials.now())
