# HTTP/1.1 over verified TLS, for ESP32 MicroPython, the unix port and CPython.
#
# One small buffer per connection does all the work: a request is written through it in
# pieces (never built as one string) and a reply is parsed from it incrementally. The
# TLS connection is kept alive between requests; a connection the server closed while it
# was idle is re-opened and the request sent again, but only when no byte of a reply had
# arrived (so a request is never sent twice because of this).
import socket
import sys

from mpaws import errors

BUFFER_SIZE = 512  # bytes: the request write buffer and the reply read buffer
RECV_SIZE = 256  # most bytes asked of one recv(): each is a new bytes object, in one free block
MAX_LINE = 8192  # longest status or header line accepted (a Lambda log tail is ~5.5 KB)
MAX_HEADERS = 64  # most header lines accepted in a reply
DEFAULT_MAX_BODY = 65536  # bytes of reply body accepted unless the caller says otherwise
TLS_HINT_NOT_TRUSTED = " (certificate not trusted or issued for another host name: check CONFIG_TLS_CA and CONFIG_AWS_HOST)"

_CPYTHON = sys.implementation.name != "micropython"

if _CPYTHON:

    def _bytes_of(piece):
        return piece.encode() if isinstance(piece, str) else piece

else:

    def _bytes_of(piece):
        # A memoryview of a str is its UTF-8 bytes: no encoded copy.
        return memoryview(piece) if isinstance(piece, str) else piece


def byte_length(piece):
    """Length in bytes of a body piece (str counts as UTF-8)."""
    return len(_bytes_of(piece))


class Response:
    """A reply: status, reason, headers as (lower-case name, value) pairs, body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        """First value of a header, by lower-case name."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def __repr__(self):
        return "<Response %d %s, %d bytes>" % (self.status, self.reason, len(self.body))


class _Stale(Exception):
    """A kept-alive connection turned out closed before any byte of the reply came."""


def network_error(e, host, port, during):
    """Maps an OSError from the socket or TLS layer to the mpaws exception a user can act on."""
    from mpaws import failures  # loaded on the first failure only

    return failures.network_error(e, host, port, during)


class Connection:
    """A kept-alive HTTPS (or, with context=None, plain HTTP) connection to one host."""

    def __init__(self, host, port=443, context=None, timeout=10, max_body=DEFAULT_MAX_BODY, log=None,
                 verify=True):
        self.host = host
        self.port = port
        self.context = context
        self.timeout = timeout
        self.max_body = max_body
        self.log = log
        self.verify = verify
        self.handshakes = 0  # TLS handshakes (new connections) so far
        self.bytes_sent = 0
        self.bytes_received = 0
        self.sock = None
        self._raw = None  # (TCP socket, its poll object) under a TLS socket that has no recv() (see _recv)
        self._buf = bytearray(BUFFER_SIZE)
        self._view = memoryview(self._buf)
        self._fill = 0  # write: bytes waiting in the buffer
        self._start = 0  # read: unread bytes are _buf[_start:_end]
        self._end = 0
        self._got_reply_byte = False

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def connect(self):
        self.close()
        if not self.verify and self.log:
            self.log("WARNING: TLS certificate verification is OFF (CONFIG_TLS_VERIFY = False): "
                     "anyone on the network path can read and change this traffic")
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
        except OSError as e:
            raise errors.DNSError("cannot resolve host name %r (%s): check CONFIG_AWS_HOST and the network's DNS"
                                  % (self.host, e))
        if not infos:
            raise errors.DNSError("host name %r resolves to no address" % self.host)
        error = None
        for info in infos:
            sock = socket.socket(info[0], socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                _no_delay(sock)
                sock.connect(info[-1])
            except OSError as e:
                sock.close()
                error = e
                continue
            try:
                if self.context is not None:
                    raw = sock
                    sock = self.context.wrap_socket(sock, server_hostname=self.host)
                    # Older ports' TLS sockets (MicroPython v1.22, v1.23) have no recv(): detected once here.
                    self._raw = None if _CPYTHON or hasattr(sock, "recv") else _poll_for(raw)
            except (OSError, ValueError) as e:
                sock.close()
                if isinstance(e, ValueError):
                    raise errors.TLSError("TLS with %s:%d failed: %s%s" % (self.host, self.port, str(e).strip(),
                                                                           TLS_HINT_NOT_TRUSTED))
                raise network_error(e, self.host, self.port, "during the TLS handshake")
            self.sock = sock
            self.handshakes += 1
            return
        raise network_error(error, self.host, self.port, "while connecting")

    # -- writing ---------------------------------------------------------------------

    def _send_all(self, data):
        sock = self.sock
        if _CPYTHON:
            sock.sendall(data)
        else:
            view = memoryview(data)
            while len(view):
                n = sock.write(view)
                if n is None:
                    continue
                view = view[n:]
        self.bytes_sent += len(data)

    def _flush(self):
        if self._fill:
            self._send_all(self._view[: self._fill])
            self._fill = 0

    def _put(self, piece):
        data = _bytes_of(piece)
        n = len(data)
        if self._fill + n > BUFFER_SIZE:
            self._flush()
            if n > BUFFER_SIZE:
                self._send_all(data)  # a large piece goes straight out: no copy
                return
        self._view[self._fill : self._fill + n] = data
        self._fill += n

    def _write_request(self, method, target, headers, body):
        # Pieces through one small buffer: fewer TLS records than a write per piece,
        # and no whole-request string.
        self._fill = 0
        self._put(method)
        self._put(" ")
        self._put(target)
        self._put(" HTTP/1.1\r\n")
        for name, value in headers:
            self._put(name)
            self._put(": ")
            self._put(value)
            self._put("\r\n")
        self._put("\r\n")
        if body is not None:
            if isinstance(body, (list, tuple)):
                for piece in body:
                    self._put(piece)
            else:
                self._put(body)
        self._flush()

    # -- reading ---------------------------------------------------------------------

    def _more(self):
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == BUFFER_SIZE:
            # Move the unread tail to the front to make room.
            tail = self._end - self._start
            self._buf[0:tail] = self._buf[self._start : self._end]
            self._start = 0
            self._end = tail
        if _CPYTHON:
            n = self.sock.recv_into(self._view[self._end :])
        else:
            # MicroPython's readinto()/recv_into() wait until the buffer is full; recv() returns
            # what has arrived. Its short-lived bytes object is copied into the buffer.
            data = self._recv(min(RECV_SIZE, BUFFER_SIZE - self._end))
            n = len(data)
            self._view[self._end : self._end + n] = data
        if not n:
            if not self._got_reply_byte:
                raise _Stale()
            raise errors.ProtocolError("%s:%d closed the connection in the middle of a reply" % (self.host, self.port))
        self._got_reply_byte = True
        self._end += n
        self.bytes_received += n

    def _recv(self, size):
        if self._raw is None:
            return self.sock.recv(size)
        # A TLS socket without recv(): its read(n) and readinto() loop until n bytes came
        # (py/stream.c), so on a blocking socket they would wait out the timeout on a short
        # reply. Non-blocking, read(n) returns what mbedTLS has (None: nothing yet), as
        # MicroPython's asyncio reads TLS streams; poll() on the TCP socket waits for more.
        raw, poller = self._raw
        raw.setblocking(False)
        try:
            while True:
                data = self.sock.read(size)
                if data is not None:
                    return data
                if not poller.poll(-1 if self.timeout is None else int(self.timeout * 1000)):
                    raise OSError(110)  # ETIMEDOUT, as from a blocking socket's timeout
        finally:
            raw.settimeout(self.timeout)

    def _readline(self):
        longer = None  # only for a line longer than the buffer (e.g. a Lambda log tail)
        while True:
            i = self._buf.find(b"\n", self._start, self._end)
            if i >= 0:
                piece = self._view[self._start : i + 1]
                self._start = i + 1
                if longer is not None:
                    longer.extend(piece)
                    piece = longer
                try:
                    return bytes(piece).decode().rstrip("\r\n")
                except UnicodeError:
                    raise errors.ProtocolError("reply header line is not valid UTF-8")
            if self._start == 0 and self._end == BUFFER_SIZE:
                if longer is None:
                    longer = bytearray()
                longer.extend(self._view[0 : self._end])
                self._end = 0
                if len(longer) > MAX_LINE:
                    raise errors.ProtocolError("reply line longer than %d bytes" % MAX_LINE)
            self._more()

    def _read_exact_into(self, view):
        got = 0
        while got < len(view):
            if self._start == self._end:
                self._more()
            n = min(len(view) - got, self._end - self._start)
            view[got : got + n] = self._view[self._start : self._start + n]
            self._start += n
            got += n

    def _read_body(self, length, max_body):
        if length > max_body:
            raise errors.ResponseTooLarge("reply body of %d bytes is over the limit of %d" % (length, max_body))
        body = bytearray(length)
        self._read_exact_into(memoryview(body))
        return body

    def _read_chunked(self, max_body):
        body = bytearray()
        while True:
            line = self._readline()
            i = line.find(";")
            try:
                size = int(line if i < 0 else line[:i], 16)
            except ValueError:
                raise errors.ProtocolError("bad chunk size line %r" % line[:40])
            if size == 0:
                while self._readline():  # trailer headers, ignored
                    pass
                return body
            if len(body) + size > max_body:
                raise errors.ResponseTooLarge("reply body over the limit of %d bytes" % max_body)
            start = len(body)
            body.extend(bytes(size))  # grow once per chunk, then read into place
            self._read_exact_into(memoryview(body)[start:])
            if self._readline():
                raise errors.ProtocolError("chunk not followed by CRLF")

    def _read_until_close(self, max_body):
        body = bytearray()
        while True:
            if self._start == self._end:
                try:
                    self._more()
                except errors.ProtocolError:
                    return body  # closed: that is where this body ends
            body.extend(self._view[self._start : self._end])
            self._start = self._end
            if len(body) > max_body:
                raise errors.ResponseTooLarge("reply body over the limit of %d bytes" % max_body)

    def _read_response(self, method, max_body):
        while True:
            line = self._readline()
            parts = line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3:
                raise errors.ProtocolError("not an HTTP/1.1 reply from %s:%d: %r" % (self.host, self.port, line[:60]))
            try:
                status = int(parts[1])
            except ValueError:
                raise errors.ProtocolError("bad HTTP status %r" % parts[1])
            headers = []
            while True:
                line = self._readline()
                if not line:
                    break
                i = line.find(":")
                if i <= 0 or len(headers) >= MAX_HEADERS:
                    raise errors.ProtocolError("bad or too many header lines in the reply")
                headers.append((line[:i].strip().lower(), line[i + 1 :].strip()))
            if status >= 200 or status == 101:
                break  # 100 Continue and other 1xx: read the real reply that follows
        response = Response(status, parts[2] if len(parts) > 2 else "", headers, b"")
        keep = parts[0] == "HTTP/1.1" and (response.header("connection") or "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            pass
        elif (response.header("transfer-encoding") or "").lower().endswith("chunked"):
            response.body = self._read_chunked(max_body)
        elif response.header("content-length") is not None:
            try:
                length = int(response.header("content-length"))
            except ValueError:
                raise errors.ProtocolError("bad Content-Length %r" % response.header("content-length"))
            response.body = self._read_body(length, max_body)
        else:
            response.body = self._read_until_close(max_body)
            keep = False
        if not keep:
            self.close()
        return response

    def request(self, method, target, headers, body=None, max_body=None):
        """Sends one request and returns its Response. headers: (name, value) pairs, which
        must include Host and Content-Length when there is a body; body: bytes, str, or a
        list/tuple of such pieces (written one after another). Raises an errors.NetworkError
        (DNSError, Timeout, TLSError, ProtocolError) when no valid reply came."""
        for _, value in headers:
            if "\r" in value or "\n" in value:
                raise ValueError("header value with CR/LF refused (header injection)")
        limit = self.max_body if max_body is None else max_body
        for attempt in (0, 1):
            reused = self.sock is not None
            if not reused:
                self.connect()
            self._got_reply_byte = False
            self._start = self._end = 0
            try:
                self._write_request(method, target, headers, body)
                return self._read_response(method, limit)
            except _Stale:
                self.close()
                if reused and attempt == 0:
                    continue  # closed while idle: a new connection, the same request
                raise errors.NetworkError("%s:%d closed the connection without replying" % (self.host, self.port))
            except OSError as e:
                self.close()
                if reused and attempt == 0 and not self._got_reply_byte and not _is_timeout(e):
                    continue
                raise network_error(e, self.host, self.port, "while waiting for the reply")
            except BaseException:
                self.close()  # half a reply: the connection can't be reused
                raise
        raise errors.NetworkError("no reply from %s:%d" % (self.host, self.port))


def _poll_for(raw):
    import select

    poller = select.poll()
    poller.register(raw, select.POLLIN)
    return raw, poller


def _no_delay(sock):
    # A request larger than the buffer goes out in two writes. With Nagle's algorithm on,
    # the second waits for the server's ACK of the first, which a server that delays its
    # ACKs sends ~40 ms later: every such request would cost 40 ms. 6 and 1 are
    # IPPROTO_TCP and TCP_NODELAY in lwIP and Linux, for ports that do not name them.
    try:
        sock.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
    except (OSError, AttributeError):
        pass


def _is_timeout(e):
    return (_CPYTHON and isinstance(e, socket.timeout)) or (e.args and e.args[0] in (110, 116, 11))
