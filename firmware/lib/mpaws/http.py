# HTTP/1.1 over verified TLS, for ESP32 MicroPython, the unix port and CPython.
#
# One small buffer per connection does all the work: a request is written through it in
# pieces (never built as one string) and a reply is parsed from it incrementally. The
# TLS connection is kept alive between requests; a connection the server closed while it
# was idle is re-opened and the request sent again, but only when no byte of a reply had
# arrived. A request whose reply was lost after it was sent may still have reached AWS:
# delivery is at-least-once, and the caller's message id lets a receiver drop duplicates.
#
# Every request has a deadline (connect, TLS handshake, writing, the whole reply): a
# server that stalls, drips its reply a byte at a time, or sends endless interim replies
# costs at most the connection's timeout. Reply limits follow the free heap.
import gc
import socket
import sys
import time

from mpaws import errors

_CPYTHON = sys.implementation.name != "micropython"

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

# Limits made const() too: written into the bytecode, not kept as names in the heap.
_BUFFER_SIZE = const(512)  # bytes: the request write buffer and the reply read buffer
_RECV_SIZE = const(128)  # most bytes asked of one recv(): each is a new bytes object, in one free block
# (small: a reply arrives when the heap is at its fullest; 256 needed 400 bytes more for a notify)
_MAX_LINE = const(8192)  # longest status or header line accepted (a Lambda log tail is ~5.5 KB)
_MAX_HEADERS = const(64)  # most header lines accepted in a reply
_MAX_INTERIM = const(4)  # most "100 Continue" replies before the real one
_DEFAULT_MAX_BODY = const(65536)  # bytes of reply body accepted unless the caller says otherwise
_HEAP_SHARE = const(3)  # a reply body or line may take at most 1/_HEAP_SHARE of the free heap:
# the caller decodes it (JSON, text), which needs about as much again

# What can go wrong with a request, by number: the texts are mpaws.network_errors.HTTP_ERRORS,
# loaded on the failure only (a device whose requests succeed holds none of them). Numbers
# made const(): mpy-cross writes them into the bytecode, as names they would stay in the heap.
_TIMEOUT = const(0)
_NO_NAME = const(1)
_NO_ADDRESS = const(2)
_CUT_SHORT = const(3)
_NOT_UTF8 = const(4)
_LONG_LINE = const(5)
_BODY_TOO_LARGE = const(6)
_NOT_HTTP = const(7)
_INTERIM = const(8)
_TOO_MANY_INTERIM = const(9)
_BAD_HEADERS = const(10)
_BAD_LENGTH = const(11)
_INJECTION = const(12)
_NO_REPLY = const(13)
_SILENT = const(14)
_NOT_TRUSTED = const(15)

try:
    ticks_ms = time.ticks_ms
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
    sleep_ms = time.sleep_ms
except AttributeError:  # CPython
    _monotonic = getattr(time, "monotonic", time.time)

    def ticks_ms():
        return int(_monotonic() * 1000)

    def ticks_add(a, b):
        return a + b

    def ticks_diff(a, b):
        return a - b

    def sleep_ms(ms):
        time.sleep(ms / 1000)


def heap_room(limit):
    """limit, or less when the free heap could not hold it (1/_HEAP_SHARE of it)."""
    try:
        free = gc.mem_free() // _HEAP_SHARE
    except AttributeError:  # CPython: no heap limit of its own
        return limit
    if free < limit:
        gc.collect()  # garbage counts as taken until it is collected: a reply is refused for what is free
        free = gc.mem_free() // _HEAP_SHARE
    return free if free < limit else limit


if _CPYTHON:

    def _bytes_of(piece):
        return piece.encode() if isinstance(piece, str) else piece

else:

    def _bytes_of(piece):
        # A memoryview of a str is its UTF-8 bytes: no encoded copy.
        return memoryview(piece) if isinstance(piece, str) else piece


ONE_PIECE = (str, bytes, bytearray, memoryview)  # a body that is not one of these is iterated: its pieces


def body_length(body):
    """Length in bytes of a body: one piece, or an iterable of pieces (str counts as UTF-8)."""
    if isinstance(body, ONE_PIECE):
        return len(_bytes_of(body))
    length = 0
    for piece in body:
        length += len(_bytes_of(piece))
    return length


def _failures():
    # The failure path only: never in the heap of a device that succeeds. The failed step's
    # garbage goes first, so that the module loads into the holes it leaves.
    gc.collect()
    from mpaws import network_errors

    return network_errors


def _error(number, *values):
    # The exception for failure `number`, values in the order of its text.
    return _failures().http_error(number, values)


def _framing():
    # AWS frames its replies by Content-Length: a chunked body, or one that ends where the
    # server closes, comes from something else on the way (a proxy), and its code is loaded
    # for it only.
    from mpaws import http_framing

    return http_framing


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


class Connection:
    """A kept-alive HTTPS (or, with context=None, plain HTTP) connection to one host.
    timeout (seconds): the most one request may take, from connecting to the reply's last
    byte."""

    def __init__(self, host, port=443, context=None, timeout=10, max_body=_DEFAULT_MAX_BODY, log=None,
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
        # The last request's reply status (None: no status line came) and whether AWS
        # accepted it (2xx): what the caller's outbox decides on when reading the rest of
        # the reply failed.
        self.reply_status = None
        self._raw = None  # (TCP socket, its poll object) under a TLS socket that has no recv() (see _more)
        self._buf = bytearray(_BUFFER_SIZE)
        self._view = memoryview(self._buf)
        self._fill = 0  # write: bytes waiting in the buffer
        self._start = 0  # read: unread bytes are _buf[_start:_end]
        self._end = 0
        self._got_reply_byte = False
        self._deadline = 0  # ticks_ms by which the current request must be done
        self._timed = None  # the socket whose timeout bounds each read and write
        self._short = False  # the socket's timeout was cut to the time left before the deadline

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def _where(self):
        return "%s:%d" % (self.host, self.port)

    def _left_ms(self, during):
        """Milliseconds left before the deadline; raises errors.Timeout when none."""
        left = ticks_diff(self._deadline, ticks_ms())
        if left <= 0:
            raise _error(_TIMEOUT, self._where(), self.timeout, during)
        return left

    def _before_io(self, during):
        # The socket's own timeout stays the connection's timeout (set once: a float on
        # MicroPython is an allocation) until less than that is left before the deadline.
        left = self._left_ms(during)
        if left < self.timeout * 1000:
            self._timed.settimeout(left / 1000)
            self._short = True

    def connect(self):
        self.close()
        if not self.verify and self.log:
            self.log("WARNING: TLS certificate verification is OFF (CONFIG_TLS_VERIFY = False): "
                     "anyone on the network path can read and change this traffic")
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
        except (OSError, ValueError) as e:  # ValueError: a name IDNA can't encode (CPython)
            raise _error(_NO_NAME, self.host, e)
        if not infos:
            raise _error(_NO_ADDRESS, self.host)
        error = None
        for info in infos:
            sock = socket.socket(info[0], socket.SOCK_STREAM)
            # MicroPython's TLS socket reads through the plain one, whose timeout counts
            # (older ports' TLS sockets have no settimeout); CPython's is a socket of its own.
            self._timed = sock
            try:
                sock.settimeout(self.timeout)
                self._short = False
                self._before_io("while connecting")
                _no_delay(sock)
                sock.connect(info[-1])
            except OSError as e:
                sock.close()
                error = e
                continue
            except BaseException:  # the deadline (errors.Timeout), a MemoryError: closed, raised
                # Not `except errors.Timeout`: naming it loads the error classes (5 KB of heap)
                # whenever anything else passes through, a MemoryError too.
                sock.close()
                raise
            try:
                self._before_io("before the TLS handshake")
                if self.context is not None:
                    raw = sock
                    sock = self.context.wrap_socket(sock, server_hostname=self.host)
                    if _CPYTHON:
                        self._timed = sock
                    # Older ports' TLS sockets (MicroPython v1.22, v1.23) have no recv(): detected once here.
                    self._raw = None if _CPYTHON or hasattr(sock, "recv") else _framing().poll_for(raw)
            except (OSError, ValueError) as e:
                sock.close()
                if isinstance(e, ValueError):
                    raise _error(_NOT_TRUSTED, self._where(), str(e).strip())
                raise _failures().network_error(e, self.host, self.port, "during the TLS handshake")
            except BaseException:  # as above
                sock.close()
                raise
            self.sock = sock
            self.handshakes += 1
            return
        raise _failures().network_error(error, self.host, self.port, "while connecting")

    # -- writing ---------------------------------------------------------------------

    def _send_all(self, data):
        sock = self.sock
        if _CPYTHON:
            self._before_io("while sending the request")
            sock.sendall(data)
        else:
            view = memoryview(data)
            while len(view):
                self._before_io("while sending the request")
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
        if self._fill + n > _BUFFER_SIZE:
            self._flush()
            if n > _BUFFER_SIZE:
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
            if isinstance(body, ONE_PIECE):
                self._put(body)
            else:
                for piece in body:  # a list, or pieces made anew (json_pieces.JsonPieces)
                    self._put(piece)
        self._flush()

    # -- reading ---------------------------------------------------------------------

    def _more(self):
        if self._start == self._end:
            self._start = self._end = 0
        elif self._end == _BUFFER_SIZE:
            # Move the unread tail to the front to make room.
            tail = self._end - self._start
            self._buf[0:tail] = self._buf[self._start : self._end]
            self._start = 0
            self._end = tail
        # Checked before every read: a server dripping its reply never reaches the socket's
        # own timeout, each read returning a byte or two.
        self._before_io("while reading the reply")
        if _CPYTHON:
            n = self.sock.recv_into(self._view[self._end :])
        else:
            # MicroPython's readinto()/recv_into() wait until the buffer is full; recv() returns
            # what has arrived. Its short-lived bytes object is copied into the buffer. An older
            # port's TLS socket has no recv() (see connect): read through poll().
            size = min(_RECV_SIZE, _BUFFER_SIZE - self._end)
            data = self.sock.recv(size) if self._raw is None else _framing().recv_polled(self, size)
            n = len(data)
            self._view[self._end : self._end + n] = data
        if not n:
            if not self._got_reply_byte:
                raise _Stale()
            raise _error(_CUT_SHORT, self._where())
        self._got_reply_byte = True
        self._end += n
        self.bytes_received += n

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
                    raise _error(_NOT_UTF8, self._where())
            if self._start == 0 and self._end == _BUFFER_SIZE:
                if longer is None:
                    longer = bytearray()
                longer.extend(self._view[0 : self._end])
                self._end = 0
                if len(longer) > heap_room(_MAX_LINE):
                    # After a 2xx status line AWS accepted the request: a header (or chunk
                    # size) line too long for this heap is a reply too large, as a body is,
                    # not a broken one (the message is delivered, never sent again).
                    raise _error(_LONG_LINE, self._where(), len(longer), self.reply_status)
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

    def _too_large(self, size, max_body):
        return _error(_BODY_TOO_LARGE, self._where(), size, max_body)

    def _read_status(self):
        """The status line's (status, version, reason), after any 100 Continue."""
        for _ in range(_MAX_INTERIM + 1):
            line = self._readline()
            parts = line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
                raise _error(_NOT_HTTP, self._where(), line[:60])
            status = int(parts[1])
            if status != 100:
                if status < 200:
                    # 101 (a protocol switch nobody asked for) or another interim reply: not
                    # AWS's answer to this request. The request may have been read: retried.
                    raise _error(_INTERIM, status, self._where())
                return status, parts[0], parts[2] if len(parts) > 2 else ""
            while self._readline():  # 100 Continue: its headers, then the real reply
                pass
        raise _error(_TOO_MANY_INTERIM, _MAX_INTERIM, self._where())

    def _read_response(self, method, max_body):
        status, version, reason = self._read_status()
        self.reply_status = status
        headers = []
        while True:
            line = self._readline()
            if not line:
                break
            i = line.find(":")
            if i <= 0 or len(headers) >= _MAX_HEADERS:
                raise _error(_BAD_HEADERS, self._where(), self.reply_status)  # after a 2xx: accepted
            headers.append((line[:i].strip().lower(), line[i + 1 :].strip()))
        response = Response(status, reason, headers, b"")
        keep = version == "HTTP/1.1" and (response.header("connection") or "").lower() != "close"
        max_body = heap_room(max_body)
        if method == "HEAD" or status in (204, 304):
            pass
        elif (response.header("transfer-encoding") or "").lower().endswith("chunked"):
            response.body = _framing().read_chunked(self, max_body)
        elif response.header("content-length") is not None:
            length = response.header("content-length")
            if not length.isdigit():
                raise _error(_BAD_LENGTH, length[:20], self._where())
            length = int(length)
            if length > max_body:
                raise self._too_large(length, max_body)
            response.body = bytearray(length)
            self._read_exact_into(memoryview(response.body))
        else:
            response.body = _framing().read_until_close(self, max_body)
            keep = False
        if not keep:
            self.close()
        return response

    def request(self, method, target, headers, body=None, max_body=None, deadline=None):
        """Sends one request and returns its Response. headers: (name, value) pairs, which
        must include Host and Content-Length when there is a body; body: bytes, str, or an
        iterable of such pieces (written one after another). deadline: ticks_ms() by
        which the reply must be in (at most `timeout` seconds from now). Raises an
        errors.NetworkError (DNSError, Timeout, TLSError, ProtocolError) when no valid
        reply came, errors.ResponseTooLarge or errors.OutOfMemory when its body could not
        be held (see reply_status for whether AWS accepted the request)."""
        for _, value in headers:
            if "\r" in value or "\n" in value:
                raise _error(_INJECTION)
        limit = self.max_body if max_body is None else max_body
        now = ticks_ms()
        longest = ticks_add(now, int(self.timeout * 1000))
        self._deadline = longest if deadline is None or ticks_diff(deadline, longest) > 0 else deadline
        self.reply_status = None
        for attempt in (0, 1):
            reused = self.sock is not None
            try:
                if not reused:
                    self.connect()
                elif self._short:
                    self._timed.settimeout(self.timeout)
                    self._short = False
                self._got_reply_byte = False
                self._start = self._end = 0
                self._write_request(method, target, headers, body)
                return self._read_response(method, limit)
            except _Stale:
                self.close()
                if reused and attempt == 0:
                    continue  # closed while idle: a new connection, the same request
                raise _error(_SILENT, self._where())
            except OSError as e:
                self.close()
                failures = _failures()
                if reused and attempt == 0 and not self._got_reply_byte and not failures.is_timeout(e):
                    # Closed while idle: a new connection, the same request, and the failure's
                    # code let go of (it is not held after a request that then succeeds).
                    failures = None
                    from mpaws import transient

                    transient.forget("network_errors")
                    continue
                raise failures.network_error(e, self.host, self.port, "while waiting for the reply")
            except MemoryError:
                self.close()
                raise errors.OutOfMemory("not enough free heap for the exchange with %s: free RAM or send less"
                                         % self._where())
            except BaseException:
                self.close()  # half a reply: the connection can't be reused
                raise
        raise _error(_NO_REPLY, self._where())


def _no_delay(sock):
    # A request larger than the buffer goes out in two writes. With Nagle's algorithm on,
    # the second waits for the server's ACK of the first, which a server that delays its
    # ACKs sends ~40 ms later: every such request would cost 40 ms. 6 and 1 are
    # IPPROTO_TCP and TCP_NODELAY in lwIP and Linux, for ports that do not name them.
    # Attributes, not getattr() with a str: that interns the str, a name for good, here in
    # the middle of a connection (and a name that fills the table allocates the next, 7 KB).
    try:
        level, option = socket.IPPROTO_TCP, socket.TCP_NODELAY
    except AttributeError:
        level, option = 6, 1
    try:
        sock.setsockopt(level, option, 1)
    except OSError:
        pass
