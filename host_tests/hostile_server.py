"""A hostile Lambda endpoint for fault tests: aws_server.py's AwsServer with the defaults of
a fault suite. It answers Lambda Invoke (POST /2015-03-31/functions/<name>/invocations; and
SNS Publish, POST /, for direct SNS) with a canned 200 or with one hostile mode per reply
(set_mode(); the modes are listed in aws_server.py's doc), and counts what it received:
requests per message id (the "id" field of the JSON body, or SNS's "mpaws-id" message
attribute: "deliveries per id"), connections and TLS handshakes.

    server = HostileServer().start()              # or: with HostileServer() as server:
    server.set_mode("stall")                      # every request from now on
    server.set_mode("reset", count=1)             # the next request only, then "normal"
    server.set_mode("skew", date="Thu, 01 Jan 2100 00:00:00 GMT")
    ... the device notifies, trusting server.ca_der, host "localhost:%d" % server.port ...
    server.deliveries()  ->  {"host.1a2b3c4d-1": 1}
    server.stop()

Signatures are not checked (an AwsServer of its own does that); a request counts as
delivered once its body has been read, before any reply: what AWS would have received. Every
loop is bounded: a connection's thread ends when the client closes, when stop() is called,
or after MAX_CONNECTION_S. Certificates come from the shared CA (tools/localaws/tls_server.py).

A GET /role-aliases/<alias>/credentials (the AWS IoT credentials provider: a device with
certificate auth whose CONFIG_AWS_CREDENTIALS_ENDPOINT is this server) is answered in normal
mode with temporary credentials (CREDENTIALS_SECRET, valid an hour); it is a request
without an id (deliveries() key None), and takes its mode from the plan like any other.
Server-wide faults are constructor arguments: cert="rogue_ca" | "wrong_host" | "expired",
and tls=False (plain HTTP on the port the device takes for TLS).
"""
import datetime

from aws_server import (ABSURD_DATES, CONNECTION_MODES, CREDENTIALS_PATH, CREDENTIALS_SECRET,  # noqa: F401
                        MAX_CONNECTION_S, MODES, SNS_REPLY, AwsServer, http_date)
from aws_server import Request as Received  # noqa: F401  (one request as received; .id, .mode, .event)
from tls_server import shared_ca

READ_TIMEOUT = 10.0  # seconds to wait for the rest of a request
CERTS = ("good", "rogue_ca", "wrong_host", "expired")


def rogue_ca():
    """A CA nobody trusts (made once): its leaf for localhost is the rogue certificate."""
    return shared_ca("rogue")


def _cert_args(kind):
    """AwsServer's certificate arguments for a kind of certificate."""
    if kind == "good":
        return {}
    if kind == "wrong_host":
        return {"cert_hostname": "wrong.example"}
    if kind == "expired":
        return {"not_before": datetime.datetime(2020, 1, 1), "not_after": datetime.datetime(2021, 1, 1)}
    if kind == "rogue_ca":
        return {"ca": rogue_ca()}
    raise ValueError("unknown cert kind %r" % kind)


class HostileServer(AwsServer):
    """See the module's doc. tls: serve TLS (default) or plain HTTP; cert: "good",
    "rogue_ca" (from a CA the device does not trust), "wrong_host" (for wrong.example),
    "expired" (valid 2020-2021)."""

    def __init__(self, tls=True, cert="good"):
        assert cert in CERTS, cert
        super().__init__(tls=tls, read_timeout=READ_TIMEOUT, idle_timeout=MAX_CONNECTION_S, **_cert_args(cert))
        self.cert = cert

    def _normal(self, conn, request):
        # No function, no signature check: the canned 200, and the connection stays open.
        self._record(request)
        self._send(conn.sock, self._ok(request))
        return True

    def _plain_port_reply(self):
        body = b"<html><body><h1>400 Bad Request</h1>The plain HTTP request was sent to HTTPS port</body></html>\n"
        return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (len(body), body))
