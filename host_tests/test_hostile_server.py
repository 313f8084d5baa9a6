"""hostile_server.py itself, seen from CPython's ssl and a raw socket: each mode puts on the
wire what its name says, requests are counted per message id, a counted mode gives way to
"normal", bad certificates fail verification, and stop() ends every connection at once."""
import json
import socket
import ssl
import time

import pytest

from hostile_server import ABSURD_DATES, HostileServer

PATH = "/2015-03-31/functions/notify/invocations"


@pytest.fixture
def server():
    with HostileServer() as s:
        yield s


def connect(server, timeout=2.0):
    context = ssl.create_default_context(cafile=server.ca_pem)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return context.wrap_socket(raw, server_hostname="localhost")


def send(sock, message_id):
    body = json.dumps({"topic": "t", "subject": "s", "body": "b", "id": message_id}).encode()
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s" % (PATH.encode(), len(body),
                                                                                          body))


def read(sock, seconds=0.5, limit=1 << 20):
    """What arrives within `seconds` (or until the server closes)."""
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(out) < limit:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            break
        if not data:
            break
        out += data
        if _complete(out):
            break
    return out


def _complete(reply):
    # A whole reply with a Content-Length (the server keeps the connection open after it).
    head, sep, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:] if sep else ():
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value)
    return False


def exchange(server, message_id, seconds=0.5):
    with connect(server) as sock:
        send(sock, message_id)
        return read(sock, seconds)


def test_normal_reply_and_counting(server):
    reply = exchange(server, "a-1")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"X-Amz-Executed-Version: $LATEST" in head
    assert json.loads(body) == {"ok": True, "id": "a-1"}
    exchange(server, "a-1")
    exchange(server, "a-2")
    assert server.deliveries() == {"a-1": 2, "a-2": 1} and server.max_deliveries() == 2
    assert server.connections == 3 and server.handshakes == 3
    assert [r.mode for r in server.requests] == ["normal"] * 3


def test_counted_mode_then_normal(server):
    server.set_mode("throttle", count=2, retry_after="7")
    replies = [exchange(server, "b-1") for _ in range(3)]
    assert [r.split(b" ", 2)[1] for r in replies] == [b"429", b"429", b"200"]
    assert b"Retry-After: 7\r\n" in replies[0] and b"TooManyRequestsException" in replies[0]


@pytest.mark.parametrize("mode,params,expected", [
    ("garbage", {}, b"SSH-2.0-"),
    ("negative_chunk", {}, b"Transfer-Encoding: chunked\r\n\r\n-5\r\n"),
    ("negative_length", {"status": 503}, b"HTTP/1.1 503 "),
    ("negative_length", {"status": 200}, b"Content-Length: -1\r\n"),
    ("switching", {}, b"HTTP/1.1 101 Switching Protocols\r\n"),
    ("redirect", {"status": 302}, b"HTTP/1.1 302 Found\r\n"),
    ("informational", {"status": 102}, b"HTTP/1.1 102 Processing\r\n\r\n"),
    ("unavailable", {}, b"HTTP/1.1 503 Service Unavailable\r\n"),
    ("not_utf8", {}, b"\xff\xfe"),
    ("skew", {"date": ABSURD_DATES["99999"]}, b"Date: Mon, 01 Jan 99999 00:00:00 GMT\r\n"),
])
def test_fault_reply_on_the_wire(server, mode, params, expected):
    server.set_mode(mode, **params)
    assert expected in exchange(server, "c-1")
    assert server.deliveries() == {"c-1": 1}


def test_huge_body_is_sent_in_full(server):
    server.set_mode("huge_body", size=100000)
    reply = exchange(server, "d-1", seconds=2)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"Content-Length: 100000\r\n" in head and len(body) == 100000


def test_continue_stream_and_drip_and_stall(server):
    server.set_mode("continue_forever", count=1, interval=0.01)
    lines = exchange(server, "e-1", seconds=0.5)
    assert lines.count(b"HTTP/1.1 100 Continue\r\n\r\n") >= 10 and b"200" not in lines
    server.set_mode("drip_reply", count=1, rate=20)
    assert 5 <= len(exchange(server, "e-2", seconds=0.6)) <= 20  # 20 bytes/s, not the whole reply
    server.set_mode("stall", count=1)
    assert exchange(server, "e-3", seconds=0.5) == b""
    assert server.deliveries() == {"e-1": 1, "e-2": 1, "e-3": 1}


def test_reset_after_the_request():
    with HostileServer(tls=False) as server:  # plain TCP, where the RST shows as such
        server.set_mode("reset", count=1)
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            send(sock, "f-1")
            with pytest.raises(ConnectionResetError):
                sock.recv(100)
        assert server.deliveries() == {"f-1": 1}


def test_stall_in_the_handshake():
    with HostileServer() as server:
        server.set_mode("stall_handshake", count=1)
        with pytest.raises(socket.timeout):
            connect(server, timeout=0.5)
        assert server.handshakes == 0 and server.connections == 1
        assert exchange(server, "g-1").startswith(b"HTTP/1.1 200")  # the next connection is served


@pytest.mark.parametrize("cert,words", [("rogue_ca", "unable to get local issuer"), ("wrong_host", "Hostname mismatch"),
                                        ("expired", "certificate has expired")])
def test_bad_certificates(cert, words):
    with HostileServer(cert=cert) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match=words):
            connect(server)
        assert server.requests == [] and server.handshakes == 0


def test_plain_http_port_answers_a_client_hello_with_http():
    with HostileServer(tls=False) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=2)
        with raw:
            raw.sendall(b"\x16\x03\x01\x00\x05hello")
            assert read(raw).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_stop_ends_every_connection_at_once():
    server = HostileServer().start()
    server.set_mode("continue_forever", interval=0.05)
    socks = [connect(server) for _ in range(3)]
    for i, sock in enumerate(socks):
        send(sock, "h-%d" % i)
    server.wait_for_requests(3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    for sock in socks:
        sock.close()
