# How a socket or TLS error (an OSError) becomes the mpaws exception a user can act on.
# Imported by mpaws.http on the first failure only: a device whose requests succeed never
# holds this code in its heap. It imports only mpaws.errors (http -> network_errors -> errors).
import socket
import sys

from mpaws import errors

_CPYTHON = sys.implementation.name != "micropython"

# On an ESP32, mbedTLS allocates a connection from the ESP-IDF heap, outside the gc heap:
# about 26 KB, with its 16 KB input record buffer in one block. From MicroPython v1.26 the
# gc heap grows into the ESP-IDF heap when it fills, and what it took stays while its data
# lives: a handshake then fails, or times out, for want of that block.
IDF_TLS_BYTES = 26 * 1024
IDF_TLS_BLOCK = 17 * 1024

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


def idf_heap_hint():
    """Why a TLS handshake failed when the ESP-IDF heap cannot hold a connection; else ""."""
    from mpaws import idf_heap, transient  # read for this hint only

    try:
        heap = idf_heap.free()
    finally:
        transient.forget("idf_heap")
    if heap is None or heap[0] >= IDF_TLS_BYTES and heap[1] >= IDF_TLS_BLOCK:
        return ""
    return (" (the ESP-IDF heap, where mbedTLS allocates the connection, has %d bytes free, largest block %d; a TLS "
            "connection needs about %d with one block of %d: data in the gc heap may be holding it, since the gc "
            "heap grows into the ESP-IDF heap when it fills: free some, gc.collect(), or restart)"
            % (heap[0], heap[1], IDF_TLS_BYTES, IDF_TLS_BLOCK))


# The texts of mpaws.http's failures, by its numbers (http._TIMEOUT ...): the exception's
# class in mpaws.errors and its text, filled with the values http gives.
HTTP_ERRORS = (
    ("Timeout", "%s did not finish its reply within %s s (CONFIG_TIMEOUT), %s"),
    ("DNSError", "cannot resolve host name %s (%s): check CONFIG_AWS_HOST and the network's DNS"),
    ("DNSError", "host name %s resolves to no address"),
    ("ProtocolError", "%s closed the connection in the middle of a reply"),
    ("ProtocolError", "reply header line from %s is not valid UTF-8"),
    ("ProtocolError", "reply line from %s longer than %d bytes"),
    ("ResponseTooLarge", "reply body from %s of %s bytes is over the limit of %d (max_body, or a third of the free heap)"),
    ("ProtocolError", "not an HTTP/1.1 reply from %s: %r"),
    ("ProtocolError", "unexpected HTTP %d from %s: not an AWS reply (a proxy?)"),
    ("ProtocolError", "more than %d interim replies from %s"),
    ("ProtocolError", "bad or too many header lines in the reply from %s"),
    ("ProtocolError", "bad Content-Length %r from %s"),
    ("InvalidMessage", "header value with CR/LF refused (header injection)"),
    ("NetworkError", "no reply from %s"),
    ("NetworkError", "%s closed the connection without replying"),
    ("TLSError", "TLS with %s failed: %s" + TLS_HINT_NOT_TRUSTED),
)


def http_error(number, values):
    """The exception of mpaws.http's failure `number` (see HTTP_ERRORS), values (a tuple)
    in the order of its text."""
    kind, text = HTTP_ERRORS[number]
    if number in (5, 10):  # a line too long, bad headers: values[-1] is the reply's status (None: before it)
        status = values[-1]
        text = text % values[:-1]
        if status is not None and 200 <= status < 300:
            return errors.ResponseTooLarge(text + " after HTTP %d: AWS accepted the request" % status)
        return errors.ProtocolError(text)
    return getattr(errors, kind)(text % values)


def network_error(e, host, port, during):
    """Maps an OSError from the socket or TLS layer to the mpaws exception a user can act on."""
    if isinstance(e, errors.AWSError):
        return e
    where = "%s:%d" % (host, port)
    code = e.args[0] if e.args and isinstance(e.args[0], int) else None
    text = str(e)
    heap = idf_heap_hint() if "TLS" in during else ""
    if _CPYTHON:
        import ssl  # CPython's only: a firmware may have `tls` and no `ssl`

        if isinstance(e, ssl.SSLError):
            return errors.TLSError("TLS handshake with %s failed: %s%s" % (where, e.args[-1] if e.args else e, heap))
        if isinstance(e, socket.timeout):
            return errors.Timeout("no answer from %s within the timeout, %s%s" % (where, during, heap))
    if code is not None and code < 0 or "MBEDTLS" in text or "SSL" in text:
        return errors.TLSError("TLS with %s failed %s: %s%s" % (where, during, text, heap or tls_hint(code)))
    if is_timeout(e) or "timed out" in text or "ETIMEDOUT" in text:
        return errors.Timeout("no answer from %s within the timeout, %s%s" % (where, during, heap))
    if code in (111, 61, 10061):
        return errors.NetworkError("connection to %s refused: is the host and port right?" % where)
    if code in (104, 32, 54, 103):
        return errors.NetworkError("connection to %s reset or broken %s" % (where, during))
    if code in (113, 101, 118):
        return errors.NetworkError("%s unreachable: is the network up?" % where)
    return errors.NetworkError("network error with %s %s: %s" % (where, during, text))
