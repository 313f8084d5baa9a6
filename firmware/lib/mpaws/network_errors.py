# How a socket or TLS error (an OSError) becomes the mpaws exception a user can act on.
# Imported by mpaws.http on the first failure only: a device whose requests succeed never
# holds this code in its heap. It imports only mpaws.errors (http -> network_errors -> errors).
import socket
import sys

from mpaws import errors

_CPYTHON = sys.implementation.name != "micropython"

TLS_HINT_NOT_TRUSTED = " (certificate not trusted or issued for another host name: check CONFIG_TLS_CA and CONFIG_AWS_HOST)"


def is_timeout(e):
    """Whether an OSError from a socket is its timeout (errno ETIMEDOUT or EAGAIN)."""
    return (_CPYTHON and isinstance(e, socket.timeout)) or bool(e.args and e.args[0] in (110, 116, 11))


def tls_hint(code):
    if code in (-17040, -0x7F00, -0x10):
        return " (mbedTLS ran out of memory: free heap before connecting, e.g. gc.collect())"
    if code == -0x2700:
        return TLS_HINT_NOT_TRUSTED
    if code in (-0x7200, -0x7280, -0x7780):
        return " (is this a TLS port? check the port in CONFIG_AWS_HOST)"
    return ""


def network_error(e, host, port, during):
    """Maps an OSError from the socket or TLS layer to the mpaws exception a user can act on."""
    if isinstance(e, errors.AWSError):
        return e
    where = "%s:%d" % (host, port)
    code = e.args[0] if e.args and isinstance(e.args[0], int) else None
    text = str(e)
    if _CPYTHON:
        import ssl  # CPython's only: a firmware may have `tls` and no `ssl`

        if isinstance(e, ssl.SSLError):
            return errors.TLSError("TLS handshake with %s failed: %s" % (where, e.args[-1] if e.args else e))
        if isinstance(e, socket.timeout):
            return errors.Timeout("no answer from %s within the timeout, %s" % (where, during))
    if code is not None and code < 0 or "MBEDTLS" in text or "SSL" in text:
        return errors.TLSError("TLS with %s failed %s: %s%s" % (where, during, text, tls_hint(code)))
    if is_timeout(e) or "timed out" in text or "ETIMEDOUT" in text:
        return errors.Timeout("no answer from %s within the timeout, %s" % (where, during))
    if code in (111, 61, 10061):
        return errors.NetworkError("connection to %s refused: is the host and port right?" % where)
    if code in (104, 32, 54, 103):
        return errors.NetworkError("connection to %s reset or broken %s" % (where, during))
    if code in (113, 101, 118):
        return errors.NetworkError("%s unreachable: is the network up?" % where)
    return errors.NetworkError("network error with %s %s: %s" % (where, during, text))
