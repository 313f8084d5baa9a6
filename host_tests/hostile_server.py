"""A hostile Lambda endpoint for fault tests: a threaded TLS server on 127.0.0.1 that
answers Lambda Invoke (POST /2015-03-31/functions/<name>/invocations; and SNS Publish,
POST /, for direct SNS) normally or with one fault per reply, and counts what it received:
requests per message id (the "id" field of the JSON body, or SNS's "mpaws-id" message
attribute: "deliveries per id"), connections and TLS handshakes.

    server = HostileServer().start()              # or: with HostileServer() as server:
    server.set_mode("stall")                      # every request from now on
    server.set_mode("reset", count=1)             # the next request only, then "normal"
    server.set_mode("skew", date="Thu, 01 Jan 2100 00:00:00 GMT")
    ... the device notifies, trusting server.ca_der, host "localhost:%d" % server.port ...
    server.deliveries()  ->  {"host.1a2b3c4d-1": 1}
    server.stop()

Signatures are not checked (aws_server.py does that); a request counts as delivered once
its body has been read, before any reply: what AWS would have received. Every loop is
bounded: a connection's thread ends when the client closes, when stop() is called, or
after MAX_CONNECTION_S. Certificates come from the shared CA (tools/localaws/tls_server.py).

Per-request modes (set_mode(name, count=None, **params); see MODES):
    normal                200 with X-Amz-Executed-Version and a JSON payload
    continue_forever      "100 Continue" lines, one every `interval` s, never a final reply
    drip_reply            a valid 200 reply, `rate` bytes per second (2)
    drip_header           status line at once, then one long header line at `rate` bytes/s (1)
    stall                 reads the request, never replies (the connection stays open)
    garbage               a reply that is not HTTP at all, then close
    negative_chunk        200, Transfer-Encoding: chunked, chunk size "-5", then close
    negative_length       `status` (200 or 503) with Content-Length: -1, then close
    skew                  403 InvalidSignatureException "Signature expired: ..." with Date: `date`
    not_utf8              200 whose body is not UTF-8
    huge_body             200 with a `size`-byte body (Content-Length), sent in full
    switching             101 Switching Protocols, then close
    redirect              `status` (301, 302) with a Location, Content-Length: 0
    informational         a 1xx other than 100 (`status`, 102), then close
    reset                 reads the request, then a TCP RST (SO_LINGER 0)
    throttle              429 TooManyRequestsException (`retry_after`: a Retry-After header)
    unavailable           503 ServiceException (`retry_after` likewise)
    reply                 `status` (400) with `body` (JSON text) and, if given, x-amzn-ErrorType: `error_type`
    function_error        200 with X-Amz-Function-Error: Unhandled and {"errorType": `error_type`,
                          "errorMessage": `message`}: the function raised
    long_header           200 with one header line of `size` bytes (10240: over the client's 8192)
                          before the normal body
A GET /role-aliases/<alias>/credentials (the AWS IoT credentials provider: a device with
certificate auth whose CONFIG_AWS_CREDENTIALS_ENDPOINT is this server) is answered in normal
mode with temporary credentials (CREDENTIALS_SECRET, valid an hour); it is a request
without an id (deliveries() key None), and takes its mode from the plan like any other.
Per-connection mode: stall_handshake (the shared listener accepts the TCP connection, never
answers the TLS ClientHello). Server-wide faults are constructor arguments: cert="rogue_ca"
| "wrong_host" | "expired", and tls=False (plain HTTP on the port the device takes for TLS).
"""
import collections
import datetime
import email.utils
import json
import re
import socket
import ssl
import struct
import time
import urllib.parse
import uuid

from aws_server import LoopbackServer
from tls_server import leaf_cert, shared_ca

MAX_CONNECTION_S = 120.0  # no connection thread lives longer, whatever the mode
READ_TIMEOUT = 10.0  # seconds to wait for the rest of a request
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024

MODES = ("normal", "continue_forever", "drip_reply", "drip_header", "stall", "garbage", "negative_chunk",
         "negative_length", "skew", "not_utf8", "huge_body", "switching", "redirect", "informational", "reset",
         "throttle", "unavailable", "reply", "function_error", "long_header", "stall_handshake")
CONNECTION_MODES = ("stall_handshake",)
CERTS = ("good", "rogue_ca", "wrong_host", "expired")

# Date headers no clock should take (the skew mode's `date`).
ABSURD_DATES = {
    "1970": "Thu, 01 Jan 1970 00:00:00 GMT",
    "2100": "Fri, 01 Jan 2100 00:00:00 GMT",
    "31feb": "Wed, 31 Feb 2027 12:00:00 GMT",
    "99999": "Mon, 01 Jan 99999 00:00:00 GMT",
    "garbage": "yesterday, around noon",
}

CREDENTIALS_PATH = "/role-aliases/"  # GET /role-aliases/<alias>/credentials: the credentials provider
CREDENTIALS_SECRET = "hostileTemporarySecret/DoNotLeak+0123456789"  # what a normal credentials reply issues

SNS_REPLY = (b'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
             b'<MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId>'
             b'</ResponseMetadata></PublishResponse>')


def rogue_ca():
    """A CA nobody trusts (made once): its leaf for localhost is the rogue certificate."""
    return shared_ca("rogue")


def _server_cert(kind):
    if kind == "good":
        return leaf_cert("localhost")
    if kind == "wrong_host":
        return leaf_cert("wrong.example")
    if kind == "expired":
        return leaf_cert("localhost", not_before=datetime.datetime(2020, 1, 1), not_after=datetime.datetime(2021, 1, 1))
    if kind == "rogue_ca":
        return leaf_cert("localhost", ca=rogue_ca())
    raise ValueError("unknown cert kind %r" % kind)


def http_date(seconds=None):
    return email.utils.formatdate(time.time() if seconds is None else seconds, usegmt=True)


def _sns_event(body):
    """{"subject", "body", "id"} of a form-encoded SNS Publish (id: the "mpaws-id" message
    attribute), or None."""
    try:
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except ValueError:
        return None
    if form.get("Action") != "Publish":
        return None
    event = {"subject": form.get("Subject"), "body": form.get("Message"), "topic": form.get("TopicArn")}
    for key, value in form.items():
        if key.startswith("MessageAttributes.entry.") and key.endswith(".Name") and value == "mpaws-id":
            event["id"] = form.get(key[: -len("Name")] + "Value.StringValue")
    return event


class Received:
    """One request as received: method, path, function, headers ((name, value) pairs),
    body (bytes), id (the JSON body's "id", or None), mode (what the server answered),
    connection (1-based), index (0-based on its connection), time (time.monotonic())."""

    def __init__(self, method, path, headers, body, connection, index):
        self.method = method
        self.path = path
        match = _INVOKE_PATH.match(path)
        self.function = match.group(1) if match else None
        self.headers = headers
        self.body = body
        self.connection = connection
        self.index = index
        self.time = time.monotonic()
        self.mode = None
        self.id = None
        try:
            event = json.loads(body.decode("utf-8"))
        except ValueError:
            event = None
        if event is None and path == "/":  # SNS Publish (direct SNS): the id is the mpaws-id attribute
            event = _sns_event(body)
        self.event = event
        if isinstance(event, dict) and isinstance(event.get("id"), str):
            self.id = event["id"]

    @property
    def sns(self):
        return self.path == "/"

    @property
    def credentials(self):
        """A credentials provider request (certificate auth), not a message."""
        return self.method == "GET" and self.path.startswith(CREDENTIALS_PATH)

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def __repr__(self):
        return "<Received #%d.%d %s %s id=%s mode=%s>" % (self.connection, self.index, self.method, self.path,
                                                          self.id, self.mode)


class _Closed(Exception):
    """The client closed the connection, or the server is stopping."""


class HostileServer(LoopbackServer):
    """See the module's doc. tls: serve TLS (default) or plain HTTP; cert: "good",
    "rogue_ca" (from a CA the device does not trust), "wrong_host" (for wrong.example),
    "expired" (valid 2020-2021)."""

    def __init__(self, tls=True, cert="good"):
        assert cert in CERTS, cert
        self._init_server("hostile_server_", tls, _server_cert(cert) if tls else None)
        self.cert = cert
        self._plan = []  # (mode, params) for the next requests, in order
        self._default = ("normal", {})

    # -- what to do, what happened ----------------------------------------------------------

    def set_mode(self, mode, count=None, **params):
        """count=None: every request from now on answers in this mode (the plan of
        counted modes is cleared). count=N: the next N requests (after those already
        planned), then the default mode again."""
        assert mode in MODES, mode
        with self._lock:
            if count is None:
                self._plan = []
                self._default = (mode, params)
            else:
                self._plan.extend([(mode, params)] * count)

    def _next_mode(self, connection_level):
        # A connection-level mode is taken at accept time, a request-level one per request.
        with self._lock:
            if self._plan:
                if (self._plan[0][0] in CONNECTION_MODES) == connection_level:
                    return self._plan.pop(0)
            elif (self._default[0] in CONNECTION_MODES) == connection_level:
                return self._default
            return ("normal", {})

    def deliveries(self):
        """{message id: requests received with it} (requests without an id: key None)."""
        with self._lock:
            return dict(collections.Counter(r.id for r in self.requests))

    def max_deliveries(self):
        """The most requests any one id was received in (0: none)."""
        counts = [n for i, n in self.deliveries().items() if i is not None]
        return max(counts) if counts else 0

    # -- connections ----------------------------------------------------------------------

    def _stalls_connection(self):
        return self._next_mode(True)[0] == "stall_handshake"  # the listener's stall, when the plan says so

    def _serve_connection(self, raw, conn_id):
        sock = raw
        deadline = time.monotonic() + MAX_CONNECTION_S
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is None:
                raw.settimeout(READ_TIMEOUT)
                first = raw.recv(1, socket.MSG_PEEK)
                with self._lock:
                    self.handshakes += 1
                if first == b"\x16":  # a TLS ClientHello on the plain port: answer as HTTP does
                    raw.recv(65536)  # the hello (unread bytes would turn the close into an RST)
                    body = b"<html><body><h1>400 Bad Request</h1>The plain HTTP request was sent to HTTPS port" \
                           b"</body></html>\n"
                    self._send(raw, b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                               b"Connection: close\r\n\r\n%s" % (len(body), body))
                    raw.shutdown(socket.SHUT_WR)
                    self._wait_for_close(raw, min(deadline, time.monotonic() + 2))
                    return
            else:
                sock, ok = self._handshake(raw, READ_TIMEOUT)
                if not ok:
                    return
            self._serve_requests(sock, conn_id, deadline)
        except (_Closed, OSError, ValueError):
            pass
        finally:
            self._forget(raw, sock)

    def _serve_requests(self, sock, conn_id, deadline):
        buf = bytearray()
        index = 0
        while not self._stopping.is_set() and time.monotonic() < deadline:
            request = self._read_request(sock, buf, conn_id, index, deadline)
            if request is None:
                return
            index += 1
            mode, params = self._next_mode(False)
            request.mode = mode
            with self._changed:
                self.requests.append(request)
                self._changed.notify_all()
            if not self._answer(sock, request, mode, params, deadline):
                return

    def _recv(self, sock, buf, deadline):
        while True:
            if self._stopping.is_set() or time.monotonic() > deadline:
                raise _Closed()
            sock.settimeout(0.2)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except ssl.SSLWantReadError:
                continue
            if not data:
                raise _Closed()
            buf += data
            return

    def _read_request(self, sock, buf, conn_id, index, deadline):
        read_deadline = None
        while b"\r\n\r\n" not in buf:
            if len(buf) > _MAX_HEAD:
                return None
            try:
                self._recv(sock, buf, deadline)
            except _Closed:
                return None
            if read_deadline is None:
                read_deadline = time.monotonic() + READ_TIMEOUT
            elif time.monotonic() > read_deadline:
                return None
        end = buf.index(b"\r\n\r\n")
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        length = 0
        for name, value in headers:
            if name.lower() == "content-length" and value.isdigit():
                length = int(value)
        if length > _MAX_BODY:
            return None
        read_deadline = time.monotonic() + READ_TIMEOUT
        while len(buf) < length:
            self._recv(sock, buf, min(deadline, read_deadline))
        body = bytes(buf[:length])
        del buf[:length]
        return Received(parts[0], parts[1], headers, body, conn_id, index)

    def _wait_for_close(self, sock, deadline):
        """Holds the connection open, reading and dropping what comes, until the client
        closes it, the server stops, or the deadline."""
        buf = bytearray()
        try:
            while True:
                self._recv(sock, buf, deadline)
                del buf[:]
        except (_Closed, OSError):
            pass

    def _send(self, sock, data):
        if self._stopping.is_set():
            raise _Closed()
        sock.sendall(data)

    def _drip(self, sock, data, rate, deadline):
        """Sends data one byte at a time, `rate` bytes per second."""
        for i in range(len(data)):
            self._send(sock, data[i: i + 1])
            if self._stopping.wait(1.0 / rate) or time.monotonic() > deadline:
                raise _Closed()

    # -- replies --------------------------------------------------------------------------

    @staticmethod
    def _head(status, reason, headers, date=None):
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Date: %s" % (date or http_date()),
                 "x-amzn-RequestId: %s" % uuid.uuid4()]
        lines += ["%s: %s" % nv for nv in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _reply(self, status, reason, headers, body=b"", date=None, close=False):
        headers = list(headers) + [("Content-Length", str(len(body))),
                                   ("Connection", "close" if close else "keep-alive")]
        return self._head(status, reason, headers, date) + body

    def _ok(self, request, body=None):
        """Lambda's 200 (or SNS Publish's, for a POST /; the credentials provider's for its
        GET), with `body` instead of the normal one."""
        if request.credentials and body is None:
            expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            body = json.dumps({"credentials": {"accessKeyId": "ASIAHOSTILETEMPORARY", "secretAccessKey":
                                               CREDENTIALS_SECRET, "sessionToken": "hostile-session-token",
                                               "expiration": expiration}}).encode()
            return self._reply(200, "OK", [("Content-Type", "application/json")], body)
        if request.sns:
            if body is None:
                body = SNS_REPLY % str(uuid.uuid4()).encode()
            return self._reply(200, "OK", [("Content-Type", "text/xml")], body)
        if body is None:
            body = json.dumps({"ok": True, "id": request.id}).encode()
        return self._reply(200, "OK", [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")],
                           body)

    def _error(self, status, reason, error_type, message, retry_after=None, date=None, **extra):
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        body = dict(extra, message=message)
        return self._reply(status, reason, headers, json.dumps(body).encode(), date=date)

    def _answer(self, sock, request, mode, params, deadline):
        """Answers one request in `mode`; returns whether the connection stays open."""
        if mode == "normal":
            self._send(sock, self._ok(request))
            return True
        if mode == "continue_forever":
            interval = params.get("interval", 0.02)
            while not self._stopping.wait(interval) and time.monotonic() < deadline:
                self._send(sock, b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        if mode == "drip_reply":
            self._drip(sock, self._ok(request), params.get("rate", 2), deadline)
            return True
        if mode == "drip_header":
            self._send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            self._drip(sock, b"X-Amz-Log-Result: " + b"A" * 400 + b"\r\n", params.get("rate", 1), deadline)
            body = json.dumps({"ok": True, "id": request.id}).encode()
            self._send(sock, b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            return True
        if mode == "stall":
            self._wait_for_close(sock, deadline)
            return False
        if mode == "garbage":
            self._send(sock, b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n\r\n")
            return False
        if mode == "negative_chunk":
            self._send(sock, self._head(200, "OK", [("Content-Type", "application/json"),
                                                    ("X-Amz-Executed-Version", "$LATEST"),
                                                    ("Transfer-Encoding", "chunked")])
                       + b"-5\r\nhello\r\n0\r\n\r\n")
            return False
        if mode == "negative_length":
            status = params.get("status", 200)
            headers = [("Content-Type", "application/json"), ("Content-Length", "-1")]
            headers.append(("X-Amz-Executed-Version", "$LATEST") if status == 200
                           else ("x-amzn-ErrorType", "ServiceException"))
            self._send(sock, self._head(status, "OK" if status == 200 else "Service Unavailable", headers)
                       + b'{"message": "x"}')
            return False
        if mode == "skew":
            self._send(sock, self._error(
                403, "Forbidden", "InvalidSignatureException",
                "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z "
                "(20240101T001500Z - 5 min.)", date=params.get("date", ABSURD_DATES["2100"])))
            return True
        if mode == "not_utf8":
            bad = b"\xff\xfe\xc3\x28 not UTF-8 \xa0\xa1"
            body = SNS_REPLY.replace(b"%s", bad) if request.sns else b'"' + bad + b'"'
            self._send(sock, self._ok(request, body))
            return True
        if mode == "huge_body":
            size = params.get("size", 200 * 1024)
            body = b'"' + b"x" * (size - 2) + b'"'
            self._send(sock, self._ok(request, body))
            return True
        if mode == "switching":
            self._send(sock, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            return False
        if mode == "redirect":
            status = params.get("status", 301)
            reason = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect"}.get(status, "Redirect")
            self._send(sock, self._reply(status, reason, [("Location", "https://localhost:1/elsewhere")]))
            return True
        if mode == "informational":
            status = params.get("status", 102)
            self._send(sock, b"HTTP/1.1 %d Processing\r\n\r\n" % status)
            return False
        if mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False  # the caller closes it: an RST instead of a FIN
        if mode == "throttle":
            self._send(sock, self._error(429, "Too Many Requests", "TooManyRequestsException", "Rate exceeded",
                                         retry_after=params.get("retry_after"), Reason="CallerRateLimitExceeded"))
            return True
        if mode == "unavailable":
            self._send(sock, self._error(503, "Service Unavailable", "ServiceException",
                                         "The service is unavailable. Please try again.",
                                         retry_after=params.get("retry_after"), Type="Service"))
            return True
        if mode == "reply":
            body = params.get("body", '{"message": "x"}')
            headers = [("Content-Type", "application/json")]
            if params.get("error_type"):
                headers.append(("x-amzn-ErrorType", params["error_type"]))
            self._send(sock, self._reply(params.get("status", 400), "Error", headers, body.encode()))
            return True
        if mode == "function_error":
            body = json.dumps({"errorType": params.get("error_type", "ValueError"),
                               "errorMessage": params.get("message", "x"), "stackTrace": []}).encode()
            self._send(sock, self._reply(200, "OK", [("Content-Type", "application/json"),
                                                     ("X-Amz-Executed-Version", "$LATEST"),
                                                     ("X-Amz-Function-Error", "Unhandled")], body))
            return True
        if mode == "long_header":
            size = params.get("size", 10240)
            body = json.dumps({"ok": True, "id": request.id}).encode()
            self._send(sock, self._reply(200, "OK", [("Content-Type", "application/json"),
                                                     ("X-Amz-Log-Result", "A" * (size - 18))], body))
            return True
        raise AssertionError("no such mode %r" % mode)
