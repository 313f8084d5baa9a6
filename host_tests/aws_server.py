"""A local AWS stand-in for tests: a threaded HTTP/1.1 server on 127.0.0.1 (TLS 1.2 by
default) that checks every request's SigV4 signature with botocore and answers Lambda
Invoke the way AWS does, with fault injection.

    server = AwsServer().start()                 # or: with AwsServer() as server:
    server.register_function("notify", lambda event: event)
    # a client POSTs to https://localhost:<server.port>/2015-03-31/functions/notify/invocations,
    # trusting server.ca_der (or server.ca_pem), signing with server.access_key/secret_key
    assert server.requests[-1].signature == "ok"
    assert server.invocations("notify") == [{"hello": 1}]
    server.stop()

Everything is recorded before the reply is sent, so a test that has its reply can assert
on server.requests at once. Injected faults (fail_next, throttle_next, delay_next,
drop_next, close_after_next, chunk_next, inject) apply to the next requests in order of
arrival, one fault per request, whatever the request is; the request is still parsed,
verified and recorded.

Hostile modes (set_mode(name, count=None, **params)) answer a request the way a broken
endpoint would, instead of handling it (the signature is then not checked): with count=None
every request from now on, with count=N the next N requests (after those already planned),
then "normal" again. Their replies are canned Lambda ones (200 with X-Amz-Executed-Version
and {"ok": true, "id": ...}; SNS Publish's for a POST /; temporary credentials (CREDENTIALS_SECRET,
valid an hour) for a GET /role-aliases/<alias>/credentials, the AWS IoT credentials provider):
    normal                handled as above (a HostileServer: its canned 200)
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
    stall_handshake       (per connection) the listener accepts the TCP connection, never answers
                          the TLS ClientHello
Every request is recorded with the mode it was answered in (Request.mode); deliveries()
counts them per message id. No connection lives longer than MAX_CONNECTION_S.
"""
import base64
import collections
import datetime
import email.utils
import functools
import hashlib
import hmac
import http
import inspect
import json
import re
import secrets
import shutil
import socket
import ssl
import struct
import tempfile
import time
import traceback
import urllib.parse
import uuid
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from tls_server import TLS_CIPHERS, TlsListener, leaf_cert, server_context, shared_ca, write_ca_files

DEFAULT_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's synchronous invoke limit, 6291456 bytes
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_AUTH_FIELD = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_READ = 64 * 1024 * 1024  # larger bodies get 413 without being read
MAX_CONNECTION_S = 120.0  # no connection thread lives longer, whatever the mode

MODES = ("normal", "continue_forever", "drip_reply", "drip_header", "stall", "garbage", "negative_chunk",
         "negative_length", "skew", "not_utf8", "huge_body", "switching", "redirect", "informational", "reset",
         "throttle", "unavailable", "reply", "function_error", "long_header", "stall_handshake")
CONNECTION_MODES = ("stall_handshake",)

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


def random_secret():
    """A random 40-character secret access key, like AWS's (letters, digits, '+' and '/')."""
    return base64.b64encode(secrets.token_bytes(30)).decode()


def amz_date(seconds):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def http_date(seconds=None):
    """RFC 7231 IMF-fixdate, e.g. 'Tue, 11 Jun 2019 06:18:19 GMT' (of now, by default)."""
    return email.utils.formatdate(time.time() if seconds is None else seconds, usegmt=True)


def head_bytes(status, reason, headers):
    """A reply's status line and header lines ((name, value) pairs, in order) as sent: the
    one writer of every reply head."""
    lines = ["HTTP/1.1 %d %s" % (status, reason)]
    lines += ["%s: %s" % nv for nv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _sns_event(body):
    """{"subject", "body", "topic", "id"} of a form-encoded SNS Publish (id: the "mpaws-id"
    message attribute), or None."""
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


# -- records ----------------------------------------------------------------------------


class Request:
    """One request as received, with the verdict on its signature and the reply given.

    method, target (as on the wire), path, query (decoded (key, value) pairs), version,
    headers ((name, value) pairs as received), body (bytes), connection (1-based id of the
    TCP connection), index (0-based position on that connection), time (server clock),
    signature: "ok" | "mismatch" | "missing" | "malformed" | "unknown-key" | "bad-token",
    signature_ok, canonical_request / string_to_sign (what the server computed, or None),
    status / error_type (the reply: HTTP status, x-amzn-ErrorType or None), fault (the
    injected Fault applied, or None), mode (the hostile mode it was answered in);
    function (of a Lambda Invoke path, or None), event (the JSON body, or an SNS Publish's
    fields, or None), id (the event's "id": a message id, or None), sns (a POST /: SNS
    Publish), credentials (a credentials provider request, not a message).
    """

    def __init__(self, method, target, version, headers, body, connection, index, now):
        self.method = method
        self.target = target
        self.path, _, raw_query = target.partition("?")
        self.query = [(unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in raw_query.split("&") if p)]
        self.version = version
        self.headers = headers
        self.body = body
        self.connection = connection
        self.index = index
        self.time = now
        self.signature = "missing"
        self.canonical_request = None
        self.string_to_sign = None
        self.access_key = None
        self.status = None
        self.error_type = None
        self.fault = None
        self.mode = None

    @property
    def function(self):
        match = _INVOKE_PATH.match(self.path)
        return match.group(1) if match else None

    @functools.cached_property
    def event(self):
        try:
            event = json.loads(self.body.decode("utf-8"))
        except ValueError:
            event = None
        if event is None and self.sns:  # SNS Publish (direct SNS): the id is the mpaws-id attribute
            event = _sns_event(self.body)
        return event

    @property
    def id(self):
        event = self.event
        return event["id"] if isinstance(event, dict) and isinstance(event.get("id"), str) else None

    @property
    def sns(self):
        return self.path == "/"

    @property
    def credentials(self):
        return self.method == "GET" and self.path.startswith(CREDENTIALS_PATH)

    @property
    def signature_ok(self):
        return self.signature == "ok"

    def header(self, name, default=None):
        """The value of a header (case-insensitive; repeated headers joined by ',')."""
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ",".join(values) if values else default

    def query_value(self, key, default=None):
        for k, v in self.query:
            if k == key:
                return v
        return default

    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        return "<Request #%d.%d %s %s sig=%s -> %s mode=%s>" % (self.connection, self.index, self.method,
                                                                self.target, self.signature, self.status, self.mode)


class Invocation:
    """One Lambda invocation: function (name), qualifier (as asked, or None), version
    (executed), invocation_type, event (decoded payload), client_context (decoded, or None),
    request (the Request), result (returned value) or error (the exception raised)."""

    def __init__(self, function, qualifier, version, invocation_type, event, client_context, request):
        self.function = function
        self.qualifier = qualifier
        self.version = version
        self.invocation_type = invocation_type
        self.event = event
        self.client_context = client_context
        self.request = request
        self.result = None
        self.error = None

    def __repr__(self):
        return "<Invocation %s:%s %s>" % (self.function, self.version, self.invocation_type)


class Context:
    """The second argument of a function that takes two: like Lambda's context object."""

    def __init__(self, function_name, version, arn, request_id, client_context):
        self.function_name = function_name
        self.function_version = version
        self.invoked_function_arn = arn
        self.aws_request_id = request_id
        self.client_context = client_context
        self.memory_limit_in_mb = 128
        self.lines = []

    def log(self, text):
        """Adds a line to the log tail (X-Amz-Log-Type: Tail)."""
        self.lines.append(str(text))


class Fault:
    """What to do to one reply. status: reply this instead of handling the request (with
    headers, a (name, value) list, and body, bytes/str or a dict sent as JSON); delay:
    seconds to wait before replying; drop: close without replying (reset: with a TCP RST);
    close: close the connection after the reply (announce: with 'Connection: close',
    otherwise silently, like a keep-alive connection the server has dropped); chunked:
    chunk sizes for a Transfer-Encoding: chunked reply (cycled; chunk_delay between chunks);
    eof: no Content-Length, the body ends when the server closes the connection."""

    def __init__(self, status=None, headers=None, body=None, delay=0.0, drop=False, reset=False, close=False,
                 announce=False, chunked=None, chunk_delay=0.0, eof=False):
        self.status = status
        self.headers = list(headers or ())
        self.body = body
        self.delay = delay
        self.drop = drop or reset
        self.reset = reset
        self.close = close or announce
        self.announce = announce
        self.chunked = list(chunked) if chunked else None
        self.chunk_delay = chunk_delay
        self.eof = eof
        self.reply = None  # set by fail_next()

    def make_reply(self):
        if self.reply is not None:
            return self.reply
        if self.body is None and not self.headers:
            return _canned(self.status)
        return _Reply(self.status, self.body or b"", self.headers)

    def __repr__(self):
        fields = ", ".join("%s=%r" % kv for kv in sorted(vars(self).items()) if kv[1] not in (None, False, 0.0, []))
        return "Fault(%s)" % fields


class _Reply:
    def __init__(self, status, body=b"", headers=(), content_type="application/json", error_type=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.content_type = content_type if body else None
        self.error_type = error_type


def aws_error(status, error_type, message, lambda_type=None, **extra):
    """A JSON error reply as AWS sends it: x-amzn-ErrorType header, {"message": ...} body
    (with "Type": "User"/"Service" for Lambda's own errors, and any extra fields)."""
    body = {}
    if lambda_type:
        body["Type"] = lambda_type
    body["message"] = message
    body.update(extra)
    return _Reply(status, body, [("x-amzn-ErrorType", error_type)], error_type=error_type)


# Canned replies for fail_next(status) without an error type.
def _canned(status):
    if status == 429:
        return _Reply(429, {"message": "Rate exceeded", "Reason": "CallerRateLimitExceeded"},
                      [("x-amzn-ErrorType", "TooManyRequestsException")], error_type="TooManyRequestsException")
    if status in (502, 504):
        text = "%d %s" % (status, http.HTTPStatus(status).phrase)
        return _Reply(status, "<html><body><h1>%s</h1></body></html>\n" % text, content_type="text/html")
    if status >= 500:
        return aws_error(status, "ServiceException", "The service encountered an internal error. Please try again.",
                         "Service")
    return aws_error(status, "ValidationException", "Injected error")


class _Function:
    def __init__(self, fn, error_style, versions, aliases):
        self.fn = fn
        self.error_style = error_style
        self.versions = set(versions)
        self.aliases = dict(aliases or {})
        try:
            self.takes_context = len(inspect.signature(fn).parameters) >= 2
        except (TypeError, ValueError):
            self.takes_context = False

    def resolve(self, qualifier):
        """The version a qualifier runs, or None if the function has no such version/alias."""
        if qualifier is None:
            return "$LATEST" if "$LATEST" in self.versions else None
        if qualifier in self.versions:
            return qualifier
        return self.aliases.get(qualifier)


class _Connection:
    """A socket with a read buffer; every read has a timeout, the connection a deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.deadline = time.monotonic() + MAX_CONNECTION_S

    def fill(self, timeout):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise EOFError
        self.sock.settimeout(min(timeout, left))
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_until(self, marker, limit, timeout):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[: i + len(marker)])
                del self.buf[: i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise ValueError("header section too large")
            self.fill(timeout)

    def read_exact(self, n, timeout):
        while len(self.buf) < n:
            self.fill(timeout)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class _Closed(EOFError):
    """The server is stopping, or the connection outlived its deadline."""


class _BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _SigV4Oracle(SigV4Auth):
    """botocore's SigV4, signing exactly the headers the request was rebuilt from (the
    ones its SignedHeaders names), as AWS does, instead of all but botocore's own list."""

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


# -- the server -------------------------------------------------------------------------


class AwsServer(TlsListener):
    """A local AWS endpoint on the shared listener (tools/localaws/tls_server.py), with a
    folder of the CA files a client trusts (ca_pem, ca_der) and the requests received
    (appended under self._changed, notifying it). Arguments (all keywords, all optional):

    tls: serve TLS (default) or plain HTTP; cert_hostname: the name the server certificate
    is for ("localhost"; e.g. "wrong.example" for a wrong-hostname test); not_before /
    not_after: the certificate's validity (datetime); ca: the trustme CA that issues it (the
    shared one; e.g. tls_server.shared_ca("rogue"), one no client trusts); tls_version: ssl.TLSVersion (TLS 1.2),
    ciphers: OpenSSL cipher string (ECDHE-RSA-AES128-GCM-SHA256);
    access_key / secret_key / session_token: the one known key pair (secret: random);
    region / account_id: where functions live (us-east-1 / 123456789012);
    clock_offset: seconds added to the real time for the server clock; max_skew: seconds
    X-Amz-Date may differ from it (300); idle_timeout: seconds a keep-alive connection may
    sit idle before the server closes it (60); read_timeout: seconds to wait for the rest of
    a request (10); verify_signatures: answer 403 to a bad signature (True; when False,
    signatures are still checked and recorded); explain_signature_errors: add the canonical
    request and string to sign to the mismatch message, as some AWS services do (False);
    coral_error_type: write x-amzn-ErrorType as 'Name:http://internal.amazon.com/coral/...'
    the way some AWS front ends do (False); max_payload: Lambda payload limit (6291456).
    """

    def __init__(self, *, tls=True, cert_hostname="localhost", not_before=None, not_after=None, ca=None,
                 tls_version=ssl.TLSVersion.TLSv1_2, ciphers=TLS_CIPHERS, access_key=DEFAULT_ACCESS_KEY,
                 secret_key=None, session_token=None, region=DEFAULT_REGION, account_id=DEFAULT_ACCOUNT,
                 clock_offset=0.0, max_skew=300, idle_timeout=60.0, read_timeout=10.0, verify_signatures=True,
                 explain_signature_errors=False, coral_error_type=False, max_payload=MAX_PAYLOAD):
        cert = leaf_cert(cert_hostname, ca=ca, not_before=not_before, not_after=not_after) if tls else None
        self._init_listener(server_context(cert, tls_version, ciphers) if tls else None)
        self.tls = tls
        self.requests = []
        self._dir = tempfile.mkdtemp(prefix="aws_server_")
        self.ca_pem, self.ca_der = write_ca_files(shared_ca(), self._dir)  # ca.der: what the device trusts
        with open(self.ca_der, "rb") as f:
            self.ca_der_bytes = f.read()
        self.host = "localhost"
        self.cert_hostname = cert_hostname
        self.region = region
        self.account_id = account_id
        self.access_key = access_key
        self.secret_key = secret_key if secret_key is not None else random_secret()
        self.session_token = session_token
        self.credentials = {access_key: (self.secret_key, session_token)}
        self.clock_offset = clock_offset
        self.max_skew = max_skew
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout
        self.verify_signatures = verify_signatures
        self.explain_signature_errors = explain_signature_errors
        self.coral_error_type = coral_error_type
        self.max_payload = max_payload
        self.chunk_sizes = None  # chunk sizes for every reply (None: Content-Length)

        self.invocation_log = []

        self._functions = {}
        self._routes = {}
        self._faults = []
        self._plan = []  # hostile (mode, params) for the next requests, in order
        self._default = ("normal", {})

    # -- start, stop, wait -----------------------------------------------------------------

    def start(self):
        """Listens on 127.0.0.1 (an ephemeral port, self.port) and serves in threads."""
        self.listen()
        return self

    def stop(self):
        """Closes the listener and every connection, waits for the threads, removes the CA files."""
        self.close_listener()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self.start() if self._listener is None else self

    def __exit__(self, *exc):
        self.stop()

    def wait_for_requests(self, n, timeout=5.0):
        """Waits until at least n requests have been recorded; returns the list."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("expected %d requests, got %d: %r" % (n, len(self.requests), self.requests))
                self._changed.wait(left)
            return list(self.requests)

    # -- configuration --------------------------------------------------------------------

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def endpoint(self):
        """'https://localhost:PORT' (http:// for a plain listener)."""
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    def now(self):
        """The server clock: real time plus clock_offset, in seconds since the epoch."""
        return time.time() + self.clock_offset

    def add_credentials(self, access_key, secret_key=None, session_token=None):
        """Makes another key pair known; returns its secret (random if not given)."""
        secret_key = secret_key if secret_key is not None else random_secret()
        self.credentials[access_key] = (secret_key, session_token)
        return secret_key

    def register_function(self, name, fn, error_style="Unhandled", versions=("$LATEST",), aliases=None):
        """Makes a Lambda function: fn(event) or fn(event, context) returns a JSON-serialisable
        result (bytes are sent as they are), or raises for a function error, reported with
        X-Amz-Function-Error: error_style ("Unhandled" or "Handled"). versions: the qualifiers
        it has; aliases: {alias: version}."""
        self._functions[name] = _Function(fn, error_style, versions, aliases)

    def route(self, method, path, handler):
        """Answers method + exact path (after the signature check) with handler(request),
        which returns (status, headers, body)."""
        self._routes[(method, path)] = handler

    def invocations(self, name):
        """The events function `name` received, in order (Event and RequestResponse)."""
        with self._lock:
            return [inv.event for inv in self.invocation_log if inv.function == name]

    # -- fault injection --------------------------------------------------------------------

    def inject(self, fault=None, count=1, **fields):
        """Queues a Fault (or Fault(**fields)) for each of the next `count` requests."""
        fault = fault or Fault(**fields)
        with self._lock:
            self._faults.extend([fault] * count)

    def fail_next(self, status, error_type=None, message=None, count=1, body=None, headers=None,
                  content_type="application/json", **fields):
        """The next `count` requests get this error. With error_type: an AWS JSON error
        ({"message": message}, x-amzn-ErrorType); with body: that body as it is; with neither:
        AWS's reply for that status (429 TooManyRequestsException 'Rate exceeded',
        5xx ServiceException, 502/504 an HTML gateway page). Other fields: see Fault."""
        if body is not None:
            reply = _Reply(status, body, headers or (), content_type=content_type)
        else:
            reply = aws_error(status, error_type, message or error_type) if error_type else _canned(status)
            reply.headers += list(headers or ())
        fault = Fault(status=status, **fields)
        fault.reply = reply
        self.inject(fault, count)

    def throttle_next(self, count=1, **fields):
        """429 TooManyRequestsException {"message": "Rate exceeded", "Reason": "CallerRateLimitExceeded"}."""
        self.fail_next(429, count=count, **fields)

    def delay_next(self, seconds, count=1):
        """The next `count` replies are sent after `seconds` (the request is handled normally)."""
        self.inject(Fault(delay=seconds), count)

    def drop_next(self, count=1, reset=False, delay=0.0):
        """The next `count` requests are read, recorded, and their connection closed without a reply."""
        self.inject(Fault(drop=True, reset=reset, delay=delay), count)

    def close_after_next(self, count=1, announce=False):
        """Closes the connection after the next reply (silently, or with Connection: close)."""
        self.inject(Fault(close=True, announce=announce), count)

    def chunk_next(self, sizes=(1, 7, 64), count=1, chunk_delay=0.0):
        """The next `count` replies use Transfer-Encoding: chunked with these chunk sizes (cycled)."""
        self.inject(Fault(chunked=sizes, chunk_delay=chunk_delay), count)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def set_mode(self, mode, count=None, **params):
        """A hostile mode (see the module's doc). count=None: every request from now on
        answers in this mode (the plan of counted modes is cleared). count=N: the next N
        requests (after those already planned), then the default mode again."""
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
        # The listener's stall when stall_next_handshakes() or the plan (stall_handshake) says so.
        return self._next_mode(True)[0] == "stall_handshake" or super()._stalls_connection()

    def _serve_connection(self, raw, conn_id):
        sock = raw
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock, ok = self._handshake(raw, self.read_timeout)
                if not ok:
                    return
            else:
                with self._lock:
                    self.handshakes += 1
                raw.settimeout(self.read_timeout)
                if raw.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS ClientHello on the plain port
                    self._answer_tls_hello(_Connection(raw))
                    return
            if self._serve_requests(_Connection(sock), conn_id) and self._ssl is not None:
                self._close_notify(sock)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            self._forget(raw, sock)

    def _answer_tls_hello(self, conn):
        """Answers a ClientHello on the plain port like an HTTP server, and closes without an RST."""
        conn.sock.recv(65536)  # the hello (unread bytes would turn the close into an RST)
        self._send(conn.sock, self._plain_port_reply())
        conn.sock.shutdown(socket.SHUT_WR)
        self._wait_for_close(conn, time.monotonic() + 2)

    def _plain_port_reply(self):
        reply = _Reply(400, "Bad Request: this port speaks plain HTTP, not TLS\n", content_type="text/plain")
        return self._head(reply, close=True) + reply.body

    def _serve_requests(self, conn, conn_id):
        """Serves requests until the connection closes; returns True for a graceful close
        by the server (idle, Connection: close, close after a reply), False for a drop."""
        index = 0
        while not self._stopping.is_set() and time.monotonic() < conn.deadline:
            if not conn.buf:
                try:
                    conn.fill(self.idle_timeout)
                except socket.timeout:
                    return True  # idle keep-alive connection: the server closes it
            try:
                request = self._read_request(conn, conn_id, index)
            except _BadRequest as exc:
                reply = _Reply(exc.status, {"message": str(exc)})
                self._send(conn.sock, self._head(reply, close=True) + reply.body)
                return True
            index += 1
            keep = self._handle(conn, request)
            if keep is not True:
                return keep is None
        return False

    def _close_notify(self, sock):
        """Sends TLS close_notify before the TCP FIN, as a server closing gracefully does."""
        try:
            sock.settimeout(0)
            sock.unwrap()
        except (ssl.SSLError, OSError, ValueError):
            pass

    def _read_request(self, conn, conn_id, index):
        try:
            head = conn.read_until(b"\r\n\r\n", _MAX_HEADER_BYTES, self.read_timeout)
        except ValueError:
            raise _BadRequest(431, "Request header fields too large")
        lines = head[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "Malformed request line: %r" % lines[0][:100])
        method, target, version = parts
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or line[0] in " \t":
                raise _BadRequest(400, "Malformed header line: %r" % line[:100])
            headers.append((name, value.strip(" \t")))
        request = Request(method, target, version, headers, b"", conn_id, index, self.now())
        if request.header("Transfer-Encoding") is not None:
            raise _BadRequest(411, "Length Required: chunked request bodies are not accepted; send Content-Length")
        length = request.header("Content-Length", "0")
        if not length.isdigit():
            raise _BadRequest(400, "Invalid Content-Length: %r" % length)
        length = int(length)
        if length > _MAX_BODY_READ:
            raise _BadRequest(413, "Request must be smaller than %d bytes for the InvokeFunction operation"
                              % self.max_payload)
        if length and (request.header("Expect") or "").lower() == "100-continue":
            self._send(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        request.body = conn.read_exact(length, self.read_timeout)
        return request

    # -- one request ----------------------------------------------------------------------

    def _handle(self, conn, request):
        """Answers one request (in the hostile mode planned, if any); returns True to keep
        the connection open, None to close it gracefully, False to drop it."""
        request.mode, params = self._next_mode(False)
        if request.mode == "normal":
            return self._normal(conn, request)
        self._record(request)
        return self._answer(conn, request, request.mode, params)

    def _record(self, request):
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _normal(self, conn, request):
        """A request answered as AWS would (faults injected aside)."""
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        request.fault = fault
        auth_error = self._check_auth(request)
        if fault is not None and fault.status is not None:
            reply = fault.make_reply()
        elif fault is not None and fault.drop:
            reply = None
        elif auth_error is not None and self.verify_signatures:
            reply = auth_error
        else:
            try:
                reply = self._dispatch(request)
            except Exception as exc:  # a bug in a route: answer like a service failure
                reply = aws_error(500, "ServiceException", "%s: %s" % (type(exc).__name__, exc), "Service")
        if reply is not None:
            request.status = reply.status
            request.error_type = reply.error_type
        self._record(request)

        if fault is not None and fault.delay:
            if self._stopping.wait(fault.delay):
                return False
        if reply is None:  # dropped
            if fault.reset:
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False

        wants_close = (request.header("Connection") or "").lower() == "close" or (
            request.version == "HTTP/1.0" and (request.header("Connection") or "").lower() != "keep-alive")
        chunked = fault.chunked if fault is not None and fault.chunked else self.chunk_sizes
        eof = fault is not None and fault.eof
        announce = wants_close or eof or (fault is not None and fault.announce)
        close = announce or (fault is not None and fault.close)
        head = self._head(reply, close=announce, chunked=bool(chunked) and not eof, eof=eof)
        if chunked and not eof:
            self._send_chunked(conn.sock, head, reply.body, chunked, fault.chunk_delay if fault else 0.0)
        else:
            self._send(conn.sock, head + reply.body)
        return None if close else True

    def _head(self, reply, close=False, chunked=False, eof=False):
        headers = [("Date", http_date(self.now()))]
        if reply.content_type:
            headers.append(("Content-Type", reply.content_type))
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif not eof:
            headers.append(("Content-Length", str(len(reply.body))))
        headers.append(("Connection", "close" if close else "keep-alive"))
        headers.append(("x-amzn-RequestId", str(uuid.uuid4())))
        given = {n.lower() for n, _ in reply.headers}
        headers = [(n, v) for n, v in headers if n.lower() not in given] + reply.headers
        if self.coral_error_type:
            headers = [(n, v + ":http://internal.amazon.com/coral/com.amazonaws.awslambda/"
                        if n.lower() == "x-amzn-errortype" else v) for n, v in headers]
        return head_bytes(reply.status, http.HTTPStatus(reply.status).phrase, headers)

    def _send(self, sock, data):
        if self._stopping.is_set():
            raise _Closed()
        sock.sendall(data)

    def _send_chunked(self, sock, head, body, sizes, chunk_delay):
        out = [head]
        i = 0
        n = 0
        while i < len(body):
            size = max(1, sizes[n % len(sizes)])
            piece = body[i: i + size]
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
            i += size
            n += 1
            if chunk_delay:
                self._send(sock, b"".join(out))
                out = []
                if self._stopping.wait(chunk_delay):
                    return
        out.append(b"0\r\n\r\n")
        self._send(sock, b"".join(out))

    # -- hostile modes --------------------------------------------------------------------

    def _wait_for_close(self, conn, deadline):
        """Holds the connection open, reading and dropping what comes, until the client
        closes it, the server stops, or the deadline."""
        try:
            while not self._stopping.is_set() and time.monotonic() < deadline:
                try:
                    conn.fill(0.2)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                del conn.buf[:]
        except (EOFError, OSError):
            pass

    def _drip(self, sock, data, rate, deadline):
        """Sends data one byte at a time, `rate` bytes per second."""
        for i in range(len(data)):
            self._send(sock, data[i: i + 1])
            if self._stopping.wait(1.0 / rate) or time.monotonic() > deadline:
                raise _Closed()

    def _mode_head(self, status, reason, headers, date=None):
        return head_bytes(status, reason, [("Date", date or http_date(self.now())),
                                           ("x-amzn-RequestId", str(uuid.uuid4()))] + headers)

    def _mode_reply(self, status, reason, headers, body=b"", date=None):
        headers = list(headers) + [("Content-Length", str(len(body))), ("Connection", "keep-alive")]
        return self._mode_head(status, reason, headers, date) + body

    def _ok(self, request, body=None):
        """Lambda's 200 (or SNS Publish's, for a POST /; the credentials provider's for its
        GET), with `body` instead of the canned one."""
        if request.credentials and body is None:
            expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            body = json.dumps({"credentials": {"accessKeyId": "ASIAHOSTILETEMPORARY", "secretAccessKey":
                                               CREDENTIALS_SECRET, "sessionToken": "hostile-session-token",
                                               "expiration": expiration}}).encode()
            return self._mode_reply(200, "OK", [("Content-Type", "application/json")], body)
        if request.sns:
            if body is None:
                body = SNS_REPLY % str(uuid.uuid4()).encode()
            return self._mode_reply(200, "OK", [("Content-Type", "text/xml")], body)
        if body is None:
            body = json.dumps({"ok": True, "id": request.id}).encode()
        return self._mode_reply(200, "OK", [("Content-Type", "application/json"),
                                            ("X-Amz-Executed-Version", "$LATEST")], body)

    def _error(self, status, reason, error_type, message, retry_after=None, date=None, **extra):
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        body = dict(extra, message=message)
        return self._mode_reply(status, reason, headers, json.dumps(body).encode(), date=date)

    def _answer(self, conn, request, mode, params):
        """Answers one request in a hostile mode; returns True to keep the connection open,
        False to drop it (no TLS close_notify, as a broken server does)."""
        sock, deadline = conn.sock, conn.deadline
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
            self._wait_for_close(conn, deadline)
            return False
        if mode == "garbage":
            self._send(sock, b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n\r\n")
            return False
        if mode == "negative_chunk":
            self._send(sock, self._mode_head(200, "OK", [("Content-Type", "application/json"),
                                                         ("X-Amz-Executed-Version", "$LATEST"),
                                                         ("Transfer-Encoding", "chunked")])
                       + b"-5\r\nhello\r\n0\r\n\r\n")
            return False
        if mode == "negative_length":
            status = params.get("status", 200)
            headers = [("Content-Type", "application/json"), ("Content-Length", "-1")]
            headers.append(("X-Amz-Executed-Version", "$LATEST") if status == 200
                           else ("x-amzn-ErrorType", "ServiceException"))
            self._send(sock, self._mode_head(status, "OK" if status == 200 else "Service Unavailable", headers)
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
            self._send(sock, self._mode_reply(status, reason, [("Location", "https://localhost:1/elsewhere")]))
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
            self._send(sock, self._mode_reply(params.get("status", 400), "Error", headers, body.encode()))
            return True
        if mode == "function_error":
            body = json.dumps({"errorType": params.get("error_type", "ValueError"),
                               "errorMessage": params.get("message", "x"), "stackTrace": []}).encode()
            self._send(sock, self._mode_reply(200, "OK", [("Content-Type", "application/json"),
                                                          ("X-Amz-Executed-Version", "$LATEST"),
                                                          ("X-Amz-Function-Error", "Unhandled")], body))
            return True
        if mode == "long_header":
            size = params.get("size", 10240)
            body = json.dumps({"ok": True, "id": request.id}).encode()
            self._send(sock, self._mode_reply(200, "OK", [("Content-Type", "application/json"),
                                                          ("X-Amz-Log-Result", "A" * (size - 18))], body))
            return True
        raise AssertionError("no such mode %r" % mode)

    # -- SigV4 ------------------------------------------------------------------------------

    def _auth_error(self, status, error_type, message, request, verdict):
        request.signature = verdict
        return aws_error(status, error_type, message)

    def _check_auth(self, request):
        """Verifies the signature (recording the verdict on request); returns the AWS error
        reply for it, or None if the request is authentic."""
        auth = request.header("Authorization")
        if auth is None:
            return self._auth_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token",
                                    request, "missing")
        fields = dict(_AUTH_FIELD.findall(auth))
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
        if not auth.startswith("AWS4-HMAC-SHA256 ") or missing:
            text = " ".join("Authorization header requires '%s' parameter." % k for k in missing)
            if not auth.startswith("AWS4-HMAC-SHA256 "):
                text = "Authorization header requires the AWS4-HMAC-SHA256 algorithm. " + text
            return self._auth_error(403, "IncompleteSignatureException",
                                    "%s Authorization=%s" % (text.strip(), auth), request, "malformed")
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            return self._auth_error(403, "IncompleteSignatureException",
                                    "Credential must have exactly 5 slash-delimited elements, e.g. "
                                    "keyid/date/region/service/term, got '%s'" % fields["Credential"],
                                    request, "malformed")
        access_key, date8, region, service, _ = scope
        request.access_key = access_key
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed:
            return self._auth_error(403, "IncompleteSignatureException",
                                    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                                    request, "malformed")
        timestamp = request.header("X-Amz-Date")
        date_source = "X-Amz-Date"
        if timestamp is None and request.header("Date"):
            parsed = email.utils.parsedate_to_datetime(request.header("Date"))
            timestamp = parsed.strftime("%Y%m%dT%H%M%SZ") if parsed else None
            date_source = "Date"
        try:
            when = datetime.datetime.strptime(timestamp or "", "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            return self._auth_error(403, "IncompleteSignatureException",
                                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                                    "header. Authorization=%s" % auth, request, "malformed")
        known = self.credentials.get(access_key)
        if known is None:
            return self._auth_error(403, "UnrecognizedClientException", INVALID_TOKEN, request, "unknown-key")
        secret_key, token = known
        if request.header("X-Amz-Security-Token") != token:
            return self._auth_error(403, "UnrecognizedClientException", INVALID_TOKEN, request, "bad-token")

        verdict = self._verify_signature(request, signed, fields["Signature"], timestamp, secret_key, token,
                                         region, service)
        request.signature = verdict
        if date8 != timestamp[:8]:
            return aws_error(403, "InvalidSignatureException",
                             "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                             "HTTP: '%s' != '%s', from '%s'." % (date8, timestamp[:8], date_source))
        if region != self.region:
            return aws_error(403, "InvalidSignatureException", "Credential should be scoped to a valid region. ")
        if service != "lambda":
            return aws_error(403, "InvalidSignatureException",
                             "Credential should be scoped to correct service: 'lambda'. ")
        now = self.now()
        minutes = "%g min." % (self.max_skew / 60.0)
        if when < now - self.max_skew:
            return aws_error(403, "InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - %s)"
                             % (timestamp, amz_date(now - self.max_skew), amz_date(now), minutes))
        if when > now + self.max_skew:
            return aws_error(403, "InvalidSignatureException",
                             "Signature not yet current: %s is still later than %s (%s + %s)"
                             % (timestamp, amz_date(now + self.max_skew), amz_date(now), minutes))
        if verdict != "ok":
            message = SIGNATURE_MISMATCH
            if self.explain_signature_errors and request.canonical_request is not None:
                message += ("\n\nThe Canonical String for this request should have been\n'%s'\n\n"
                            "The String-to-Sign should have been\n'%s'\n"
                            % (request.canonical_request, request.string_to_sign))
            return aws_error(403, "InvalidSignatureException", message)
        return None

    def _verify_signature(self, request, signed, signature, timestamp, secret_key, token, region, service):
        """Recomputes the signature with botocore from the request as received; "ok" or "mismatch"."""
        headers = HTTPHeaders()
        for name, value in request.headers:
            if name.lower() in signed:
                headers[name] = value
        aws_request = AWSRequest(method=request.method, url="%s://%s%s" % (self.scheme, request.header("Host", ""),
                                                                          request.path),
                                 headers=headers, data=request.body, params=request.query)
        aws_request.context["timestamp"] = timestamp
        aws_request.context["payload_signing_enabled"] = True
        oracle = _SigV4Oracle(Credentials(request.access_key, secret_key, token), service, region)
        request.canonical_request = oracle.canonical_request(aws_request)
        request.string_to_sign = oracle.string_to_sign(aws_request, request.canonical_request)
        expected = oracle.signature(request.string_to_sign, aws_request)
        content_sha = request.header("X-Amz-Content-SHA256")
        if content_sha not in (None, "UNSIGNED-PAYLOAD") and content_sha != hashlib.sha256(request.body).hexdigest():
            return "mismatch"  # a signed payload hash that is not the body's
        return "ok" if hmac.compare_digest(expected, signature) else "mismatch"

    # -- Lambda -----------------------------------------------------------------------------

    def _dispatch(self, request):
        handler = self._routes.get((request.method, request.path))
        if handler is not None:
            status, headers, body = handler(request)
            return _Reply(status, body, headers)
        match = _INVOKE_PATH.match(request.path)
        if match and request.method == "POST":
            return self._invoke(request, unquote(match.group(1)))
        return aws_error(404, "UnknownOperationException", "Unknown operation %s %s" % (request.method, request.path))

    def _function_arn(self, name, qualifier=None, region=None, account=None):
        arn = "arn:aws:lambda:%s:%s:function:%s" % (region or self.region, account or self.account_id, name)
        return arn + ":" + qualifier if qualifier else arn

    def _invoke(self, request, function_name):
        region, account, qualifier = self.region, self.account_id, None
        parts = function_name.split(":")
        is_arn = function_name.startswith("arn:") and len(parts) in (7, 8)
        if is_arn and parts[2] == "lambda" and parts[5] == "function":
            region, account, name = parts[3], parts[4], parts[6]
            qualifier = parts[7] if len(parts) == 8 else None
        elif len(parts) in (3, 4) and parts[1] == "function":  # ACCOUNT:function:NAME[:QUALIFIER]
            account, name = parts[0], parts[2]
            qualifier = parts[3] if len(parts) == 4 else None
        elif len(parts) <= 2:
            name = parts[0]
            qualifier = parts[1] if len(parts) == 2 else None
        else:
            return aws_error(400, "ValidationException",
                             "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: "
                             "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                             "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)"
                             "(:(\\$LATEST|[a-zA-Z0-9-_]+))?" % function_name)
        query_qualifier = request.query_value("Qualifier")
        if qualifier and query_qualifier and qualifier != query_qualifier:
            return aws_error(400, "InvalidParameterValueException",
                             "The derived qualifier from the function name does not match the specified qualifier.",
                             "User")
        qualifier = qualifier or query_qualifier
        arn = self._function_arn(name, qualifier, region, account)
        function = self._functions.get(name) if (region, account) == (self.region, self.account_id) else None
        version = function.resolve(qualifier) if function else None
        if version is None:
            return aws_error(404, "ResourceNotFoundException", "Function not found: %s" % arn, "User")

        invocation_type = request.header("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type not in ("RequestResponse", "Event", "DryRun"):
            return aws_error(400, "ValidationException",
                             "1 validation error detected: Value '%s' at 'invocationType' failed to satisfy "
                             "constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
                             % invocation_type)
        log_type = request.header("X-Amz-Log-Type") or "None"
        if log_type not in ("None", "Tail"):
            return aws_error(400, "ValidationException",
                             "1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: "
                             "Member must satisfy enum value set: [None, Tail]" % log_type)
        if len(request.body) > self.max_payload:
            return aws_error(413, "RequestEntityTooLargeException",
                             "Request must be smaller than %d bytes for the InvokeFunction operation"
                             % self.max_payload, "User")
        client_context = None
        if request.header("X-Amz-Client-Context"):
            try:
                client_context = json.loads(base64.b64decode(request.header("X-Amz-Client-Context"), validate=True))
            except ValueError:
                return aws_error(400, "InvalidRequestContentException",
                                 "Client context must be a valid Base64-encoded JSON object.", "User")
        try:
            event = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
        except ValueError as exc:
            return aws_error(400, "InvalidRequestContentException",
                             "Could not parse request body into json: Could not parse payload into json: %s" % exc,
                             "User")
        if invocation_type == "DryRun":
            return _Reply(204)

        invocation = Invocation(name, qualifier, version, invocation_type, event, client_context, request)
        request_id = str(uuid.uuid4())
        context = Context(name, version, self._function_arn(name, qualifier), request_id, client_context)
        result, error = self._call(function, event, context, invocation)
        with self._lock:
            self.invocation_log.append(invocation)
        if invocation_type == "Event":
            return _Reply(202)

        headers = [("X-Amz-Executed-Version", version)]
        if error is not None:
            headers.append(("X-Amz-Function-Error", error[0]))
            body = error[1]
            body["requestId"] = request_id
            context.log("[ERROR] %s: %s" % (body["errorType"], body["errorMessage"]))
        else:
            body = result
        if log_type == "Tail":
            headers.append(("X-Amz-Log-Result", self._log_tail(request_id, version, context.lines)))
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return _Reply(200, body, headers)

    def _call(self, function, event, context, invocation):
        """Runs a function; returns (result, None) or (None, (error style, error body))."""
        try:
            result = function.fn(event, context) if function.takes_context else function.fn(event)
        except Exception as exc:
            invocation.error = exc
            stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
            return None, (function.error_style, {"errorMessage": str(exc), "errorType": type(exc).__name__,
                                                 "stackTrace": stack})
        invocation.result = result
        if isinstance(result, (bytes, bytearray)):
            return bytes(result), None
        try:
            return json.loads(json.dumps(result)), None
        except (TypeError, ValueError) as exc:
            invocation.error = exc
            return None, ("Unhandled", {"errorMessage": "Unable to marshal response: %s" % exc,
                                        "errorType": "Runtime.MarshalError"})

    def _log_tail(self, request_id, version, lines):
        text = "START RequestId: %s Version: %s\n" % (request_id, version)
        text += "".join(line + "\n" for line in lines)
        text += "END RequestId: %s\n" % request_id
        text += ("REPORT RequestId: %s\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t"
                 "Max Memory Used: 40 MB\t\n" % request_id)
        return base64.b64encode(text.encode()[-4096:]).decode()
