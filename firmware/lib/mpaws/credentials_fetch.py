# One fetch of temporary credentials from the AWS IoT credentials provider, for
# mpaws.credentials: the TLS context with the device certificate and key, the GET over
# mutual TLS. Loaded for a fetch and forgotten after it (mpaws.transient). Its reply is
# read by mpaws.credentials_reply, a failure explained by mpaws.credentials_failures:
# both are loaded once the connection is closed, not held during the handshake.
#
# The private key is read from its file into the TLS context and let go at once; it and
# the secret never appear in a message, a log line or a repr (a bad value is described
# by its kind, never quoted).
import gc
import sys

from mpaws import errors, http, transient

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_CPYTHON = sys.implementation.name != "micropython"
# Constants made const(): mpy-cross writes them into the bytecode, as names they would stay
# in the heap for good.
_MAX_REPLY = const(16384)  # bytes; a reply is ~1.5 KB (the session token is most of it)
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
    from mpaws import certs

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
        # What reading the reply loaded (http_date for its Date) is not needed for an hour.
        transient.forget("credentials_reply", "credentials_failures", "http_date")


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
    gc.collect()  # the reply's or the failure's code loads into the room the connection left
    if error is not None or response.status >= 300:
        from mpaws import credentials_failures

        raise credentials_failures.error(credentials, response, error)
    from mpaws import credentials_reply

    return credentials_reply.parse(response.body, response.header("date"), credentials.now())
