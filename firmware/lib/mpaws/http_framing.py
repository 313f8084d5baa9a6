# Replies read otherwise than AWS's usual way, loaded by mpaws.http on the first such reply
# (`conn` is its Connection): bodies framed otherwise than by Content-Length, the chunked
# transfer coding and a body that ends where the server closes the connection (AWS sends
# neither; a proxy on the way may); and replies through the TLS sockets of older ports
# (MicroPython v1.22, v1.23), which have no recv().
from mpaws import errors


def read_chunked(conn, max_body):
    """The body of a reply sent with Transfer-Encoding: chunked (trailers ignored)."""
    body = bytearray()
    while True:
        line = conn._readline()
        i = line.find(";")
        size = _hex_size(line if i < 0 else line[:i])
        if size is None:
            raise errors.ProtocolError("bad chunk size line from %s: %r" % (conn._where(), line[:40]))
        if size == 0:
            while conn._readline():  # trailer headers, ignored
                pass
            return body
        if len(body) + size > max_body:
            raise conn._too_large("over %d" % len(body), max_body)
        start = len(body)
        body.extend(bytes(size))  # grow once per chunk, then read into place
        conn._read_exact_into(memoryview(body)[start:])
        if conn._readline():
            raise errors.ProtocolError("chunk not followed by CRLF in the reply from %s" % conn._where())


def read_until_close(conn, max_body):
    """The body of a reply with no Content-Length: what comes until the server closes."""
    body = bytearray()
    while True:
        if conn._start == conn._end:
            try:
                conn._more()
            except errors.ProtocolError:
                return body  # closed: that is where this body ends
        body.extend(conn._view[conn._start : conn._end])
        conn._start = conn._end
        if len(body) > max_body:
            raise conn._too_large("over %d" % max_body, max_body)


def _hex_size(text):
    # A chunk size: hex digits only (int() would take a sign, spaces, "0x" and "_").
    text = text.strip()
    if not text or len(text) > 8 or text.strip("0123456789abcdefABCDEF"):
        return None
    return int(text, 16)


def poll_for(raw):
    """(raw, a poll object waiting for its input): how recv_polled() reads through the TLS
    socket wrapped around the TCP socket raw."""
    import select

    poller = select.poll()
    poller.register(raw, select.POLLIN)
    return raw, poller


def recv_polled(conn, size):
    """What has arrived of the reply, at most size bytes, through a TLS socket without recv()."""
    # Its read(n) and readinto() loop until n bytes came (py/stream.c), so on a blocking
    # socket they would wait out the timeout on a short reply. Non-blocking, read(n) returns
    # what mbedTLS has (None: nothing yet), as MicroPython's asyncio reads TLS streams;
    # poll() on the TCP socket waits for more, until the request's deadline.
    raw, poller = conn._raw
    raw.setblocking(False)
    try:
        while True:
            data = conn.sock.read(size)
            if data is not None:
                return data
            if not poller.poll(conn._left_ms("while waiting for the reply")):
                raise OSError(110)  # ETIMEDOUT, as from a blocking socket's timeout
    finally:
        raw.settimeout(conn.timeout)  # blocking again, with the connection's timeout
        conn._short = False
