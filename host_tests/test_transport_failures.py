"""The transport (mpaws.http) and the client's retries (mpaws.client) when a reply goes
wrong, in this process, against a real TLS server on 127.0.0.1 that sends exactly the bytes
a test scripts (scripted_server.py). Each case states what a caller gets: one exception of
mpaws.errors (never a bare ValueError, OSError or MemoryError), how many requests the
server received, and whether the connection is reused. The same paths run under
MicroPython from the .mpy build in test_failure_paths.py (through app.notify)."""
import random
import ssl
import sys
import time

import pytest
import trustme

from mpaws import api_key, certs, client, clock, credentials, errors, http, sigv4, transient
from scripted_server import ScriptedServer, ok_reply, reply

TIMEOUT = 3  # seconds: the connection's timeout in every case


@pytest.fixture
def server():
    with ScriptedServer() as s:
        yield s


@pytest.fixture
def context(server):
    return certs.context([server.ca_der_bytes])


def connection(server, context, timeout=TIMEOUT):
    return http.Connection("localhost", server.port, context, timeout=timeout)


def post(conn, body=b'{"id": "m1"}', max_body=None, deadline=None):
    headers = [("host", "localhost:%d" % conn.port), ("content-length", str(len(body)))]
    return conn.request("POST", "/2015-03-31/functions/notify/invocations", headers, body, max_body, deadline)


def send_and_fail(server, context, data, error, **post_args):
    """One request answered with data: returns the exception (an `error`) it raised."""
    server.script(data)
    conn = connection(server, context)
    with pytest.raises(error) as caught:
        post(conn, **post_args)
    assert len(server.requests) == 1
    return caught.value


# -- the deadline: connect, TLS handshake ----------------------------------------------------


def test_spent_deadline_raises_timeout_without_connecting(server, context):
    conn = connection(server, context)
    with pytest.raises(errors.Timeout, match="while connecting"):
        post(conn, deadline=http.ticks_add(http.ticks_ms(), -1))
    assert conn.sock is None
    assert server.connections == 0 and server.requests == []


def test_deadline_spent_while_the_tcp_connection_opens_raises_timeout_before_the_handshake(server, context,
                                                                                         monkeypatch):
    # A network where opening the TCP connection takes longer than the whole timeout.
    monkeypatch.setattr(http, "_no_delay", lambda sock: time.sleep(0.4))
    conn = connection(server, context, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(errors.Timeout, match="before the TLS handshake"):
        post(conn)
    assert time.monotonic() - started < 2
    assert conn.sock is None and conn.handshakes == 0
    assert server.handshakes == 0 and server.requests == []


# -- the reply's head --------------------------------------------------------------------------


def test_header_line_that_is_not_utf8_is_a_protocol_error(server, context):
    e = send_and_fail(server, context, reply(503, "Unavailable", [("X-Note", "caf\xe9")]), errors.ProtocolError)
    assert "not valid UTF-8" in e.message


def test_header_line_over_the_limit_is_a_protocol_error(server, context):
    long_value = "A" * (http._MAX_LINE + http._BUFFER_SIZE)  # checked a buffer at a time
    e = send_and_fail(server, context, reply(503, "Unavailable", [("X-Amz-Log-Result", long_value)]),
                      errors.ProtocolError)
    assert "longer than" in e.message


def test_header_line_a_little_over_the_limit_is_still_read(server, context):
    # The limit is checked a buffer (512 bytes) at a time: a log tail 100 bytes over it is read.
    value = "L" * (http._MAX_LINE + 100)
    server.script(b"HTTP/1.1 200 OK\r\nX-Amz-Log-Result: %s\r\nContent-Length: 0\r\n\r\n" % value.encode())
    assert post(connection(server, context)).header("x-amz-log-result") == value


def test_header_line_just_under_the_limit_is_read(server, context):
    value = "A" * (http._MAX_LINE - 200)
    server.script(ok_reply().replace(b"\r\n\r\n", b"\r\nX-Amz-Log-Result: %s\r\n\r\n" % value.encode(), 1))
    response = post(connection(server, context))
    assert response.status == 200 and response.header("x-amz-log-result") == value


def test_more_than_64_header_lines_is_a_protocol_error(server, context):
    headers = [("X-H%d" % i, "v") for i in range(64)]  # and Content-Length: 65
    e = send_and_fail(server, context, reply(503, "Unavailable", headers, b"{}"), errors.ProtocolError)
    assert "too many header lines" in e.message


def test_more_than_64_header_lines_after_a_2xx_mean_accepted(server, context):
    headers = [("X-H%d" % i, "v") for i in range(64)]
    e = send_and_fail(server, context, reply(200, "OK", headers, b"{}"), errors.ResponseTooLarge)
    assert "too many header lines" in e.message and "after HTTP 200: AWS accepted the request" in e.message


def test_64_header_lines_are_read(server, context):
    headers = [("X-H%d" % i, "v") for i in range(63)]  # and Content-Length: 64
    server.script(reply(200, "OK", headers, b"{}"))
    response = post(connection(server, context))
    assert len(response.headers) == 64 and response.body == b"{}"


def test_headers_of_a_100_continue_are_skipped_and_the_real_reply_read(server, context):
    interim = b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\nContent-Length: 5\r\n\r\n"
    server.script(interim + ok_reply(b'{"real": 1}'))
    conn = connection(server, context)
    response = post(conn)
    assert (response.status, bytes(response.body)) == (200, b'{"real": 1}')
    assert response.header("x-interim") is None
    server.script(ok_reply(b'{"next": 2}'))
    assert bytes(post(conn).body) == b'{"next": 2}'  # the stream stayed in step: nothing left over
    assert conn.handshakes == 1


# -- the reply's body --------------------------------------------------------------------------

CHUNKED = [("Transfer-Encoding", "chunked")]


def test_chunked_body_over_the_limit_is_too_large_and_says_it_was_a_2xx(server, context):
    body = b"".join(b"40\r\n" + b"x" * 64 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    e = send_and_fail(server, context, reply(200, "OK", CHUNKED, body, length=False), errors.ResponseTooLarge,
                      max_body=200)
    assert "limit of 200" in e.message


def test_chunked_body_at_the_limit_is_read(server, context):
    body = b"".join(b"32\r\n" + b"x" * 50 + b"\r\n" for _ in range(4)) + b"0\r\nX-Trailer: t\r\n\r\n"
    server.script(reply(200, "OK", CHUNKED, body, length=False))
    assert bytes(post(connection(server, context), max_body=200).body) == b"x" * 200


def test_read_until_close_body_over_the_limit_is_too_large(server, context):
    server.script(reply(200, "OK", [], b"y" * 300, length=False), then="close")
    conn = connection(server, context)
    with pytest.raises(errors.ResponseTooLarge):
        post(conn, max_body=200)
    assert conn.reply_status == 200 and conn.sock is None


def test_read_until_close_body_at_the_limit_is_read_and_the_connection_closed(server, context):
    server.script(reply(200, "OK", [], b"y" * 200, length=False), then="close")
    conn = connection(server, context)
    assert bytes(post(conn, max_body=200).body) == b"y" * 200
    assert conn.sock is None  # its end was the close: never reused


def test_chunk_without_its_crlf_is_a_protocol_error(server, context):
    body = b"5\r\nhelloX\r\n0\r\n\r\n"
    e = send_and_fail(server, context, reply(200, "OK", CHUNKED, body, length=False), errors.ProtocolError)
    assert "not followed by CRLF" in e.message


def test_reply_cut_short_by_the_server_closing_is_a_protocol_error_that_says_so(server, context):
    # The head and 2 of the 10 bytes its Content-Length announced, then a clean close.
    server.script(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", then="close")
    conn = connection(server, context)
    with pytest.raises(errors.ProtocolError, match="closed the connection in the middle of a reply"):
        post(conn)
    assert conn.reply_status == 200 and conn.sock is None and len(server.requests) == 1


def test_body_too_large_for_memory_is_out_of_memory_and_the_connection_dropped(server, context):
    # A Content-Length no heap holds, with the caller's limit above it: the allocation fails.
    server.script(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{}" % (1 << 50))
    conn = connection(server, context)
    with pytest.raises(errors.OutOfMemory, match="not enough free heap"):
        post(conn, max_body=1 << 51)
    assert conn.reply_status == 200 and conn.sock is None


# -- a kept-alive connection -------------------------------------------------------------------


def test_connection_closed_while_idle_is_reopened_and_the_request_sent_once(server, context):
    server.script(ok_reply(), then="close", count=1)  # the server's idle timeout: closed after the reply
    conn = connection(server, context)
    assert post(conn, b'{"id": "m1"}').status == 200
    time.sleep(0.3)  # the close has arrived
    assert post(conn, b'{"id": "m2"}').status == 200
    assert conn.handshakes == 2 and server.handshakes == 2
    assert server.deliveries() == {"m1": 1, "m2": 1}


@pytest.mark.parametrize("then", ["reset", "corrupt"])
def test_reused_connection_failing_after_a_reply_byte_is_not_sent_again(server, context, then):
    conn = connection(server, context)
    assert post(conn, b'{"id": "m1"}').status == 200
    server.script(b"HTTP/1.1 200 OK\r\nContent-", pause=0.3, then=then, count=1)
    with pytest.raises(errors.NetworkError):
        post(conn, b'{"id": "m2"}')
    assert server.deliveries() == {"m1": 1, "m2": 1}  # not sent again by the transport
    assert conn.handshakes == 1 and conn.sock is None


@pytest.mark.parametrize("then", ["reset", "corrupt"])
def test_reused_connection_failing_before_any_reply_byte_is_sent_again_once(server, context, then):
    conn = connection(server, context)
    assert post(conn, b'{"id": "m1"}').status == 200
    server.script(b"", then=then, count=1)
    transient.forget("network_errors")  # as a new session: what an earlier test loaded goes
    assert post(conn, b'{"id": "m2"}').status == 200
    assert server.deliveries() == {"m1": 1, "m2": 2} and conn.handshakes == 2
    assert "mpaws.network_errors" not in sys.modules  # read for the failure, let go of once the request went again


# -- the status line, the framing, what is sent ------------------------------------------------


def test_four_100_continue_then_the_reply_is_read_five_are_a_protocol_error(server, context):
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    server.script(interim * 5 + ok_reply())
    server.script(interim * 4 + ok_reply(), count=1)
    assert post(connection(server, context)).status == 200
    with pytest.raises(errors.ProtocolError, match="more than 4 interim replies"):
        post(connection(server, context))


@pytest.mark.parametrize("status_line", [b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 2x0 OK", b"HTTP/2 200 OK",
                                         b"HTTP/1.1", b"ICY 200 OK"])
def test_status_line_that_is_not_http_1_is_a_protocol_error(server, context, status_line):
    e = send_and_fail(server, context, status_line + b"\r\nContent-Length: 0\r\n\r\n", errors.ProtocolError)
    assert "not an HTTP/1.1 reply" in e.message


@pytest.mark.parametrize("status", [101, 102, 199])
def test_interim_reply_other_than_100_is_a_protocol_error(server, context, status):
    e = send_and_fail(server, context, b"HTTP/1.1 %d Other\r\n\r\n" % status, errors.ProtocolError)
    assert "unexpected HTTP %d" % status in e.message


def test_reason_with_spaces_is_read_whole(server, context):
    server.script(b"HTTP/1.1 200 All Very Fine\r\nContent-Length: 0\r\n\r\n")
    assert post(connection(server, context)).reason == "All Very Fine"


def test_garbage_quoted_in_an_error_is_cut_short(server, context):
    e = send_and_fail(server, context, b"X" * 100 + b"\r\n\r\n", errors.ProtocolError)
    assert repr("X" * 60) in e.message and "X" * 61 not in e.message
    server.requests.clear()
    e = send_and_fail(server, context, b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9x" * 30 + b"\r\n\r\n",
                      errors.ProtocolError)
    assert repr(("9x" * 30)[:20]) in e.message
    server.requests.clear()
    e = send_and_fail(server, context, reply(200, "OK", CHUNKED, b"z" * 100 + b"\r\n", length=False),
                      errors.ProtocolError)
    assert repr("z" * 40) in e.message and "z" * 41 not in e.message


def test_status_line_without_a_reason_is_read(server, context):
    server.script(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}")
    response = post(connection(server, context))
    assert (response.status, response.reason, bytes(response.body)) == (200, "", b"{}")


@pytest.mark.parametrize("line", [b"no colon here", b": no name"])
def test_header_line_without_a_name_is_a_protocol_error(server, context, line):
    e = send_and_fail(server, context, b"HTTP/1.1 502 Bad Gateway\r\n" + line + b"\r\nContent-Length: 0\r\n\r\n",
                      errors.ProtocolError)
    assert "bad or too many header lines" in e.message


def test_header_names_are_lower_case_and_values_stripped(server, context):
    server.script(b"HTTP/1.1 200 OK\r\nX-Amz-Request-Id :  abc \r\nX-Two: 1\r\nX-Two: 2\r\nX-Tight:on\r\n"
                  b"A: one letter\r\nContent-Length: 0\r\n\r\n")
    response = post(connection(server, context))
    assert response.header("x-amz-request-id") == "abc" and response.header("x-two") == "1"
    assert response.header("x-tight") == "on" and response.header("a") == "one letter"
    assert response.header("x-none") is None and response.header("x-none", "d") == "d"
    assert repr(response) == "<Response 200 OK, 0 bytes>"


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b" "])
def test_content_length_that_is_not_a_number_is_a_protocol_error(server, context, length):
    e = send_and_fail(server, context, b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n{}",
                      errors.ProtocolError)
    assert "bad Content-Length" in e.message or "bad or too many header lines" in e.message


def test_content_length_over_the_limit_is_too_large_before_reading(server, context):
    e = send_and_fail(server, context, ok_reply(b"z" * 101), errors.ResponseTooLarge, max_body=100)
    assert "of 101 bytes is over the limit of 100" in e.message


def test_body_larger_than_the_buffer_is_read_exactly(server, context):
    body = bytes(range(256)) * 20
    server.script(ok_reply(body))
    assert bytes(post(connection(server, context), max_body=len(body)).body) == body


def test_reply_followed_at_once_by_more_bytes_is_read_to_its_end(server, context):
    body = b"B" * 1000  # read in two steps: the second buffer holds its end and what follows
    server.script(ok_reply(body) + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 20)
    assert bytes(post(connection(server, context)).body) == body


def test_new_connection_closed_without_a_reply_is_not_sent_again(server, context):
    server.script(b"", then="close")
    with pytest.raises(errors.NetworkError, match="closed the connection without replying"):
        post(connection(server, context))
    assert len(server.requests) == 1


def test_pause_between_attempts_is_in_milliseconds():
    started = time.monotonic()
    http.sleep_ms(5)
    assert time.monotonic() - started < 0.5


def test_reply_with_bare_line_feeds_is_read(server, context):
    server.script(b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}")
    response = post(connection(server, context))
    assert (response.status, response.reason, bytes(response.body)) == (200, "OK", b"{}")


def test_header_line_ending_just_after_two_full_buffers_is_read(server, context):
    # Its line feed is the first byte of a new buffer, after two full ones went into the line.
    value = "V" * (2 * http._BUFFER_SIZE + 1 - len("X-Long: ") - 2)
    server.script(b"HTTP/1.1 200 OK\r\nX-Long: %s\r\nContent-Length: 2\r\n\r\n{}" % value.encode())
    response = post(connection(server, context))
    assert response.header("x-long") == value and bytes(response.body) == b"{}"


def test_body_exactly_at_the_limit_is_read(server, context):
    server.script(ok_reply(b"z" * 100))
    assert bytes(post(connection(server, context), max_body=100).body) == b"z" * 100


@pytest.mark.parametrize("size_line", [b"0x5", b"-5", b"+5", b"5 5", b"", b"123456789", b"g"])
def test_chunk_size_that_is_not_hex_is_a_protocol_error(server, context, size_line):
    body = size_line + b"\r\nhello\r\n0\r\n\r\n"
    e = send_and_fail(server, context, reply(200, "OK", CHUNKED, body, length=False), errors.ProtocolError)
    assert "bad chunk size line" in e.message


def test_chunk_with_an_extension_and_upper_case_hex_is_read(server, context):
    body = b"A;name=value\r\n0123456789\r\n0000001f\r\n" + b"q" * 31 + b"\r\n0\r\n\r\n"
    server.script(reply(200, "OK", [("Transfer-Encoding", "gzip, chunked")], body, length=False))
    assert bytes(post(connection(server, context)).body) == b"0123456789" + b"q" * 31


@pytest.mark.parametrize("status", [204, 304])
def test_reply_without_a_body_by_its_status_reads_none(server, context, status):
    server.script(b"HTTP/1.1 %d Nothing\r\nContent-Length: 5\r\n\r\n" % status + ok_reply(b'{"next": 1}'), count=1)
    conn = connection(server, context)
    response = post(conn)
    assert response.status == status and bytes(response.body) == b""
    assert conn.sock is not None  # kept alive: nothing was read as its body


def test_head_reply_has_no_body(server, context):
    server.script(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    conn = connection(server, context)
    response = conn.request("HEAD", "/", [("host", "localhost")])
    assert response.status == 200 and bytes(response.body) == b""


@pytest.mark.parametrize("version,header,kept", [(b"HTTP/1.1", b"", True), (b"HTTP/1.1", b"Connection: Close\r\n", False),
                                                 (b"HTTP/1.1", b"Connection: keep-alive\r\n", True),
                                                 (b"HTTP/1.0", b"", False)])
def test_connection_is_kept_only_for_http_1_1_without_close(server, context, version, header, kept):
    server.script(version + b" 200 OK\r\n" + header + b"Content-Length: 2\r\n\r\n{}", count=1)
    conn = connection(server, context)
    assert bytes(post(conn).body) == b"{}"
    assert (conn.sock is not None) is kept
    assert post(conn).status == 200
    assert conn.handshakes == (1 if kept else 2)


def test_request_is_written_as_given_and_counted(server, context):
    body = ["{\"id\": \"m1\", \"text\": \"", "é" * 300, "x" * 700, "\"}"]  # pieces; one over the buffer
    data = "".join(body).encode()
    server.script(ok_reply(b"{}"))
    conn = connection(server, context)
    assert http.body_length(body) == len(data) and http.body_length(data) == len(data)
    headers = [("host", "localhost:%d" % server.port), ("content-length", str(http.body_length(body)))]
    conn.request("POST", "/2015-03-31/functions/notify/invocations", headers, body)
    [received] = server.requests
    assert received.body == data and received.header("content-length") == str(len(data))
    head = "POST /2015-03-31/functions/notify/invocations HTTP/1.1\r\nhost: localhost:%d\r\ncontent-length: %d\r\n\r\n" % (
        server.port, len(data))
    assert conn.bytes_sent == len(head) + len(data)
    assert conn.bytes_received == len(ok_reply(b"{}"))


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_header_value_with_cr_or_lf_is_refused_before_sending(server, context, value):
    conn = connection(server, context)
    with pytest.raises(errors.InvalidMessage, match="header injection"):
        conn.request("GET", "/", [("host", "localhost"), ("x-note", value)])
    assert server.connections == 0


# -- the deadline while waiting for the reply ----------------------------------------------------


def test_server_that_never_replies_is_a_timeout_within_the_connections_timeout(server, context):
    server.script(ok_reply(), delay=5)
    conn = connection(server, context, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(errors.Timeout):
        post(conn)
    # Well before the server's 5 s reply: the 0.5 s timeout ended it (a loaded CI machine
    # adds to it, up to 1.56 s seen, as the failure's code loads).
    assert time.monotonic() - started < 3
    assert conn.sock is None and len(server.requests) == 1  # not sent again: it may have arrived


def test_deadline_shortened_for_one_request_does_not_shorten_the_next(server, context):
    conn = connection(server, context, timeout=1.5)
    server.script(ok_reply(), count=1)
    assert post(conn, deadline=http.ticks_add(http.ticks_ms(), 400)).status == 200  # its socket timeout was cut
    server.script(ok_reply(), delay=0.6, count=1)
    assert post(conn).status == 200  # the next has the whole timeout again: 0.6 s is well within it
    assert conn.handshakes == 1


def test_host_name_that_does_not_resolve_is_a_dns_error(context):
    conn = http.Connection("nonexistent.invalid", 443, context, timeout=3)
    with pytest.raises(errors.DNSError, match="cannot resolve host name nonexistent.invalid"):
        conn.request("GET", "/", [("host", "nonexistent.invalid")])


def test_host_name_that_resolves_to_no_address_is_a_dns_error(context, monkeypatch):
    monkeypatch.setattr(http.socket, "getaddrinfo", lambda *args: [])  # a resolver's empty answer
    conn = http.Connection("empty.example", 443, context, timeout=3)
    with pytest.raises(errors.DNSError, match="host name empty.example resolves to no address"):
        conn.request("GET", "/", [("host", "empty.example")])
    assert conn.sock is None and conn.handshakes == 0


@pytest.mark.parametrize("host", ["a" * 64 + ".example.com", "api..example.com"], ids=["label-of-64", "empty-label"])
def test_host_name_no_resolver_can_take_is_a_dns_error(context, host):
    conn = http.Connection(host, 443, context, timeout=3)  # CPython refuses it before asking DNS (IDNA)
    with pytest.raises(errors.DNSError, match="cannot resolve host name " + host.replace(".", r"\.")):
        conn.request("GET", "/", [("host", host)])
    assert conn.sock is None and conn.handshakes == 0


def test_server_that_resets_the_handshake_is_a_network_error_that_says_when(context):
    """A credentials endpoint refusing the device certificate looks like this to mbedTLS:
    "during the TLS handshake" is what mpaws.credentials_failures tells it by."""
    import socket
    import struct
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def hang_up():
        peer, _ = listener.accept()
        peer.recv(1024)  # the ClientHello
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, not a close
        peer.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    conn = http.Connection("127.0.0.1", listener.getsockname()[1], context, timeout=TIMEOUT)
    try:
        with pytest.raises(errors.NetworkError) as caught:
            conn.request("GET", "/", [("host", "127.0.0.1")])
    finally:
        thread.join(TIMEOUT)
        listener.close()
    assert "during the TLS handshake" in caught.value.message, caught.value.message
    assert conn.sock is None and conn.handshakes == 0


def test_tls_layer_refusing_the_certificate_with_a_value_error_is_not_trusted(server, context, monkeypatch):
    """MicroPython's ssl module raises ValueError("invalid cert") for a certificate mbedTLS
    cannot take (CPython: an SSLError): a TLSError that says what to check."""
    def wrap_socket(sock, server_hostname=None):
        raise ValueError("invalid cert ")

    monkeypatch.setattr(context, "wrap_socket", wrap_socket)
    conn = connection(server, context)
    with pytest.raises(errors.TLSError) as caught:
        post(conn)
    assert "invalid cert (certificate not trusted" in caught.value.message, caught.value.message
    assert conn.sock is None and server.requests == []


@pytest.fixture
def opened(monkeypatch):
    """The sockets the transport opens (real ones), to see that each is closed."""
    import socket

    made = []

    class Recorded(socket.socket):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if "fileno" not in kwargs:  # not one the server's accept() made
                made.append(self)

    monkeypatch.setattr(http.socket, "socket", Recorded)
    return made


def out_of_heap(*args, **kwargs):
    raise MemoryError("memory allocation failed, allocating 4096 bytes")


@pytest.mark.parametrize("step", ["tcp", "tls"])
def test_a_connection_that_runs_out_of_heap_while_opening_closes_its_socket(server, context, monkeypatch, opened,
                                                                             step):
    """A board has a handful of sockets: one a failure left open is lost until a reset."""
    if step == "tcp":
        monkeypatch.setattr(http, "_no_delay", out_of_heap)
    else:
        monkeypatch.setattr(context, "wrap_socket", out_of_heap)
    conn = connection(server, context)
    with pytest.raises(errors.OutOfMemory):
        post(conn)
    assert opened and all(sock.fileno() == -1 for sock in opened) and conn.sock is None


def test_a_socket_whose_close_fails_is_let_go_of_and_the_next_request_reconnects(server, context):
    conn = connection(server, context)
    assert post(conn).status == 200
    real_close = conn.sock.close

    def close():  # a TLS socket whose close_notify cannot go out: the peer is gone
        real_close()
        raise OSError(104, "ECONNRESET")

    conn.sock.close = close
    conn.close()
    assert conn.sock is None
    assert post(conn).status == 200 and conn.handshakes == 2


def test_closed_port_is_a_network_error_naming_the_host(context):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    conn = http.Connection("localhost", port, context, timeout=3)
    with pytest.raises(errors.NetworkError, match="localhost:%d" % port):
        conn.request("GET", "/", [("host", "localhost")])
    assert conn.sock is None and conn.handshakes == 0


def nodelay(sock):
    import socket

    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_connection_turns_nagles_algorithm_off(server, context):
    # A request larger than the buffer goes out in two writes: with Nagle's algorithm on, the
    # second waits ~40 ms for the server's delayed ACK of the first.
    server.script(ok_reply())
    conn = connection(server, context)
    post(conn)
    assert nodelay(conn.sock) != 0


def test_nagles_algorithm_is_turned_off_by_number_where_the_socket_module_does_not_name_it(monkeypatch):
    import socket
    from types import SimpleNamespace

    monkeypatch.setattr(http, "socket", SimpleNamespace())  # as MicroPython's unix port: no IPPROTO_TCP, TCP_NODELAY
    with socket.socket() as sock:
        http._no_delay(sock)
        assert nodelay(sock) != 0  # 6 and 1, as Linux and lwIP number them
    http._no_delay(sock)  # a socket that refuses the option (here: closed): connecting goes on without it


def test_verification_off_warns_on_every_connection(server):
    logged = []
    conn = http.Connection("localhost", server.port, certs.context(verify=False), timeout=3, log=logged.append,
                           verify=False)
    server.script(ok_reply(), then="close")
    post(conn)
    post(conn)
    assert len(logged) == 2 and all("verification is OFF" in line for line in logged)
    verified = http.Connection("localhost", server.port, certs.context([server.ca_der_bytes]), timeout=3,
                               log=logged.append)
    post(verified)
    assert len(logged) == 2  # verification on: no warning


def test_host_whose_first_address_refuses_is_reached_at_the_next(server, context, monkeypatch):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refusing = closed.getsockname()
    closed.close()
    real = http.socket.getaddrinfo
    monkeypatch.setattr(http.socket, "getaddrinfo", lambda host, port, *args: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", refusing)] + real(host, port, *args))
    server.script(ok_reply())
    assert post(connection(server, context)).status == 200


# -- the client: retries, their delays, Retry-After, the clock ---------------------------------

THROTTLE = (429, "Too Many Requests", "TooManyRequestsException")
SKEW_MESSAGE = b'{"message": "Signature expired: 20240101T000000Z is now earlier than 20240101T001000Z"}'


def throttle_reply(retry_after=None):
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", THROTTLE[2])]
    if retry_after is not None:
        headers.append(("Retry-After", retry_after))
    return reply(THROTTLE[0], THROTTLE[1], headers, b'{"message": "Rate exceeded"}')


@pytest.fixture
def sleeps(monkeypatch):
    """The pauses the client makes between attempts (ms), each still slept."""
    slept = []

    def sleep_ms(ms):
        slept.append(ms)
        http.sleep_ms(ms)

    monkeypatch.setattr(client, "_sleep_ms", sleep_ms)
    return slept


def lambda_client(server, context, base_delay_ms=5, max_delay_ms=40, max_attempts=4, timeout=TIMEOUT):
    signer = sigv4.Signer("AKIAMPAWSTESTDEVICE1", "mpawsTestSecretKey/DoNotLeak+0123456789ab", "us-east-1", "lambda")
    c = client.Client(signer, connection(server, context, timeout), max_attempts=max_attempts,
                      base_delay_ms=base_delay_ms, max_delay_ms=max_delay_ms)
    return c


def test_invoke_result_json_is_the_payload_decoded_and_none_when_empty():
    from mpaws import lambda_reply

    assert lambda_reply.InvokeResult(200, b'{"id": "m1"}', "$LATEST", None, "r1").json() == {"id": "m1"}
    assert lambda_reply.InvokeResult(202, b"", None, None, "r2").json() is None  # an Event invoke's


def invoke(c, body=b'{"id": "m1"}'):
    return c.request("POST", "/2015-03-31/functions/notify/invocations", headers=(("content-type", "application/json"),),
                     body=body)


def test_retry_after_longer_than_the_max_delay_waits_the_max_delay_and_retries(server, context, sleeps):
    server.script(throttle_reply("86400"))
    c = lambda_client(server, context, max_delay_ms=40)
    with pytest.raises(errors.Throttled, match="gave up after 4 attempts"):
        invoke(c)
    assert len(server.requests) == 4 and c.attempts == 4
    assert sleeps == [40, 40, 40]  # capped by max_delay_ms, however long AWS asks for


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it(server, context, sleeps, monkeypatch):
    monkeypatch.setattr(random, "getrandbits", lambda bits: (1 << bits) - 1)  # the top of every jitter range
    server.script(throttle_reply("0"))
    c = lambda_client(server, context, base_delay_ms=8, max_delay_ms=1000)
    with pytest.raises(errors.Throttled):
        invoke(c)
    assert sleeps == [7, 15, 31]  # the backoff's ceiling (8, 16, 32 ms) less the jitter's last step


def test_retry_after_as_an_http_date_is_ignored_and_the_backoff_used(server, context, sleeps):
    server.script(throttle_reply("Wed, 21 Oct 2099 07:28:00 GMT"))
    c = lambda_client(server, context, base_delay_ms=5, max_delay_ms=40)
    with pytest.raises(errors.Throttled, match="gave up after 4 attempts"):
        invoke(c)
    assert len(server.requests) == 4
    assert len(sleeps) == 3 and all(0 <= ms <= 40 for ms in sleeps), sleeps


def test_delays_between_attempts_grow_exponentially(server, context, sleeps, monkeypatch):
    monkeypatch.setattr(random, "getrandbits", lambda bits: (1 << bits) - 1)
    server.script(throttle_reply())
    c = lambda_client(server, context, base_delay_ms=10, max_delay_ms=60, max_attempts=5)
    with pytest.raises(errors.Throttled, match="gave up after 5 attempts"):
        invoke(c)
    assert sleeps == [9, 19, 39, 59], sleeps  # ceilings 10, 20, 40, then the cap 60


def test_backoff_is_full_jitter_up_to_the_exponential_ceiling():
    # Without a patched random: 2000 draws for the 4th retry cover its range [0, base * 8].
    draws = [client.backoff_ms(3, 100, 10000) for _ in range(2000)]
    assert min(draws) >= 0 and max(draws) <= 800
    assert max(draws) > 700 and min(draws) < 100
    assert max(client.backoff_ms(20, 100, 5000) for _ in range(500)) <= 5000  # the cap holds
    # The exponent stops at 16 (no huge numbers on a board): base << 16 at most, even under a higher cap.
    draws = [client.backoff_ms(40, 1, 1 << 20) for _ in range(500)]
    assert max(draws) <= 1 << 16 and max(draws) > 3 << 14


def test_retries_stop_when_the_budget_is_spent(server, context, sleeps):
    server.script(throttle_reply("2"))
    c = lambda_client(server, context, max_delay_ms=5000)
    c.budget_ms = 1500
    started = time.monotonic()
    with pytest.raises(errors.Throttled, match="retry budget of 1500 ms spent"):
        invoke(c)
    # One request, no pause (sleeps are recorded, not slept): the wall clock only bounds a
    # hang, loosely, since a loaded 2-core machine runs one TLS exchange in seconds too.
    assert time.monotonic() - started < 15
    assert len(server.requests) == 1 and sleeps == []


def test_clock_skew_reply_without_a_date_leaves_the_clock_and_is_retried_as_a_broken_reply(server, context,
                                                                                            sleeps):
    before = clock.offset
    server.script(reply(403, "Forbidden", [("Content-Type", "application/json"),
                                           ("x-amzn-ErrorType", "InvalidSignatureException")], SKEW_MESSAGE))
    c = lambda_client(server, context)
    with pytest.raises(errors.ProtocolError, match="no plausible Date header") as caught:
        invoke(c)
    assert "(none)" in caught.value.message
    assert clock.offset == before
    assert len(server.requests) == 4  # retried as any broken reply, then kept by the caller


def test_clock_skew_reply_with_a_date_sets_the_clock_and_signs_again_once(server, context, sleeps):
    before = clock.offset
    date = "Sun, 06 Dec 2026 12:00:00 GMT"
    server.script(reply(403, "Forbidden", [("Content-Type", "application/json"), ("Date", date),
                                           ("x-amzn-ErrorType", "InvalidSignatureException")], SKEW_MESSAGE), count=1)
    server.script(ok_reply(), count=1)
    c = lambda_client(server, context)
    try:
        assert invoke(c).status == 200
        assert c.attempts == 1 and sleeps == []  # the clock fix is not a retry
        assert len(server.requests) == 2
        assert server.requests[1].header("X-Amz-Date") != server.requests[0].header("X-Amz-Date")
        assert "mpaws.http_date" not in sys.modules  # read for the Date, then let go of: not held after
    finally:
        clock.offset = before


@pytest.mark.parametrize("status,retried", [(500, True), (501, False), (502, True), (503, True), (504, True),
                                            (505, False), (400, False), (404, False)])
def test_only_aws_failures_that_may_pass_are_retried(server, context, sleeps, status, retried):
    server.script(reply(status, "Status", [("Content-Type", "application/json"),
                                           ("x-amzn-ErrorType", "ServiceException" if status >= 500 else "Other")],
                        b'{"message": "it failed"}'))
    c = lambda_client(server, context)
    with pytest.raises(errors.AWSError) as caught:
        invoke(c)
    assert caught.value.status == status and caught.value.retryable is retried
    assert len(server.requests) == (4 if retried else 1)


def test_untrusted_server_is_a_tls_error_and_never_retried(server, sleeps):
    other_ca = trustme.CA()
    context = certs.context([ssl.PEM_cert_to_DER_cert(other_ca.cert_pem.bytes().decode())])
    c = lambda_client(server, context)
    with pytest.raises(errors.TLSError) as caught:
        invoke(c)
    assert caught.value.retryable is False and c.attempts == 1 and sleeps == []
    assert "certificate not trusted or issued for another host name" in caught.value.message
    assert server.requests == [] and server.handshakes == 0


@pytest.mark.parametrize("status", [400, 503])
def test_client_says_it_gave_up_only_after_retrying(server, context, sleeps, status):
    server.script(reply(status, "Status", [("Content-Type", "application/json"),
                                           ("x-amzn-ErrorType", "ServiceException" if status >= 500 else "Other")],
                        b'{"message": "it failed"}'))
    with pytest.raises(errors.AWSError) as caught:
        invoke(lambda_client(server, context))
    assert ("gave up after 4 attempts" in caught.value.message) is (status == 503), caught.value.message


def test_client_retries_a_connection_reset_every_time_then_raises_a_network_error(server, context, sleeps):
    server.script(b"", then="reset")
    c = lambda_client(server, context)
    logged = []
    c.log = logged.append
    with pytest.raises(errors.NetworkError, match="gave up after 4 attempts"):
        invoke(c)
    assert c.attempts == 4 and len(sleeps) == 3
    assert [line.split("; ")[-1] for line in logged] == ["retry %d of 3 in %d ms" % (n + 1, ms)
                                                          for n, ms in enumerate(sleeps)]
    assert server.deliveries() == {"m1": 4}


def test_client_sends_content_length_with_a_body_or_a_post_only(server, context):
    server.script(ok_reply())
    c = lambda_client(server, context)
    c.request("GET", "/2015-03-31/functions")
    c.request("POST", "/2015-03-31/functions/notify/invocations")
    c.request("PUT", "/x", body=[b"ab", "\xe9"])
    get, post_without_body, put = server.requests
    assert get.header("content-length") is None
    assert post_without_body.header("content-length") == "0"
    assert put.header("content-length") == "4" and put.body == b"ab\xc3\xa9"
    assert all(r.header("authorization", "").startswith("AWS4-HMAC-SHA256 Credential=AKIAMPAWSTESTDEVICE1/")
               for r in server.requests)


def test_client_connect_with_keys_signs_for_the_service_and_region(server):
    c = client.connect("lambda", "eu-west-1", "AKIAMPAWSTESTDEVICE1", "mpawsTestSecretKey/DoNotLeak+0123456789ab",
                       "localhost", server.port, ca=[server.ca_der_bytes], timeout=TIMEOUT)
    server.script(ok_reply())
    assert invoke(c).status == 200
    [received] = server.requests
    assert "/eu-west-1/lambda/aws4_request" in received.header("authorization")
    assert received.header("content-type") == "application/json"  # the caller's headers, signed and sent
    assert received.header("host") == "localhost:%d" % server.port and c.connection.verify is True
    c.close()
    assert c.connection.sock is None


def test_client_opened_with_defaults_talks_https_to_port_443_with_an_api_key():
    key = "k" * 20
    auth = api_key.KeyAuth(key)
    c = client.open_client(auth, "example.com")  # the bundled Amazon roots; nothing is sent
    assert (c.connection.port, c.host_header, c.connection.timeout, c.max_attempts) == (443, "example.com", 10, 4)
    assert c.budget_ms == 40000 and c.connection.context is not None and c.connection.verify is True
    bare = client.Client(auth, c.connection)
    assert (bare.max_attempts, bare.base_delay_ms, bare.max_delay_ms, bare.attempts) == (4, 200, 5000, 0)
    assert repr(auth) == "<KeyAuth, a key of 20 characters>" and key not in repr(auth)
    assert auth.sign("GET", "/") == [("x-api-key", key)]


def test_client_with_temporary_credentials_signs_through_them(server, context):
    from test_credentials import FakeClock, FakeFetch  # the fetch's answers fixed

    creds = FakeFetch(3600, FakeClock())
    c = client.open_client((creds, "us-west-2", "execute-api"), "localhost", server.port, ca=[server.ca_der_bytes])
    assert (c.signer.credentials, c.signer.region, c.signer.service) == (creds, "us-west-2", "execute-api")
    assert c.signer.connection is c.connection and c.host_header == "localhost:%d" % server.port


def expired_token_reply():
    return reply(403, "Forbidden", [("Content-Type", "application/json"),
                                    ("x-amzn-ErrorType", "ExpiredTokenException")],
                 b'{"message": "The security token included in the request is expired"}')


@pytest.mark.parametrize("expired_replies,requests,fetches", [(1, 2, 2), (5, 2, 2)])
def test_client_renews_temporary_credentials_once_on_an_expired_token(server, context, sleeps, expired_replies,
                                                                       requests, fetches):
    from test_credentials import FakeClock, FakeFetch  # the fetch's answers fixed: the renewal is under test

    creds = FakeFetch(3600, FakeClock())
    server.script(ok_reply())  # after the counted replies below (a default set later would drop them)
    server.script(expired_token_reply(), count=expired_replies)
    c = client.open_client((creds, "us-east-1", "lambda"), "localhost", server.port, ca=[server.ca_der_bytes])
    if expired_replies == 1:
        assert invoke(c).status == 200 and c.attempts == 1  # the renewal is not a retry
    else:
        with pytest.raises(errors.ExpiredToken):  # renewed once, then given up: no loop
            invoke(c)
    assert len(server.requests) == requests and creds.fetches == fetches and sleeps == []
    tokens = [r.header("x-amz-security-token") for r in server.requests]
    assert tokens[0] != tokens[1]  # signed again with the new credentials


def test_client_with_one_attempt_raises_at_once_without_saying_it_gave_up(server, context, sleeps):
    server.script(reply(503, "Unavailable", [("x-amzn-ErrorType", "ServiceException")], b'{"message": "down"}'))
    with pytest.raises(ValueError):
        lambda_client(server, context, max_attempts=0)
    c = lambda_client(server, context, max_attempts=1)
    with pytest.raises(errors.ServiceError) as caught:
        invoke(c)
    assert "gave up" not in caught.value.message and len(server.requests) == 1 and sleeps == []


def test_client_error_after_a_retry_that_is_not_retryable_does_not_say_it_gave_up(server, context, sleeps):
    server.script(reply(400, "Bad Request", [("x-amzn-ErrorType", "Other")], b'{"message": "no"}'))
    server.script(reply(503, "Unavailable", [("x-amzn-ErrorType", "ServiceException")], b'{"message": "down"}'),
                  count=1)
    with pytest.raises(errors.BadRequest) as caught:
        invoke(lambda_client(server, context))
    assert "gave up" not in caught.value.message and len(server.requests) == 2


def test_client_skew_reply_with_a_garbled_date_quotes_40_characters_of_it(server, context, sleeps):
    date = "D" * 39 + "EF" + "G" * 20
    server.script(reply(403, "Forbidden", [("Content-Type", "application/json"), ("Date", date),
                                           ("x-amzn-ErrorType", "InvalidSignatureException")], SKEW_MESSAGE))
    with pytest.raises(errors.ProtocolError) as caught:
        invoke(lambda_client(server, context, max_attempts=1))
    assert "(%s)" % date[:40] in caught.value.message and date[:41] not in caught.value.message


@pytest.mark.parametrize("status", [300, 399])
def test_client_takes_a_3xx_reply_as_a_proxy_not_a_success(server, context, sleeps, status):
    server.script(reply(status, "Elsewhere", [], b""))
    with pytest.raises(errors.ProtocolError, match="unexpected HTTP %d" % status):
        invoke(lambda_client(server, context))
    assert len(server.requests) == 4


def test_client_returns_any_2xx_reply(server, context):
    server.script(reply(299, "Fine", [], b"{}"))
    assert invoke(lambda_client(server, context)).status == 299


def test_client_sends_the_query_string(server, context):
    server.script(ok_reply())
    c = lambda_client(server, context)
    c.request("POST", "/2015-03-31/functions/notify/invocations", query=[("Qualifier", "$LATEST")], body=b"{}")
    assert server.requests[0].target == "/2015-03-31/functions/notify/invocations?Qualifier=%24LATEST"


def test_client_corrects_the_clock_once_then_raises_the_skew(server, context, sleeps):
    before = clock.offset
    server.script(reply(403, "Forbidden", [("Content-Type", "application/json"), ("Date", "Sun, 06 Dec 2026 12:00:00 GMT"),
                                           ("x-amzn-ErrorType", "InvalidSignatureException")], SKEW_MESSAGE))
    try:
        with pytest.raises(errors.ClockSkew):
            invoke(lambda_client(server, context))
        assert len(server.requests) == 2 and sleeps == []  # the corrected request, then no loop
    finally:
        clock.offset = before


def test_client_connect_defaults():
    c = client.connect("lambda", "us-east-1", "AKIAMPAWSTESTDEVICE1", "mpawsTestSecretKey/DoNotLeak+0123456789ab",
                       "lambda.us-east-1.amazonaws.com")  # the bundled Amazon roots; nothing is sent
    assert (c.connection.port, c.connection.timeout, c.max_attempts, c.budget_ms) == (443, 10, 4, 40000)
    assert c.host_header == "lambda.us-east-1.amazonaws.com"


@pytest.mark.parametrize("first", ["throttle", "reset"])
def test_a_request_that_succeeds_after_a_retry_holds_no_failure_code(server, context, sleeps, first):
    # The failed attempt's code (mpaws.failures for a reply, network_errors for the socket)
    # is let go of before the next attempt: a device that then succeeds does not hold it.
    server.script(ok_reply())
    if first == "throttle":
        server.script(throttle_reply("0"), count=1)
    else:
        server.script(b"", then="reset", count=1)
    c = lambda_client(server, context, base_delay_ms=5)
    transient.forget("failures", "network_errors")  # as a new session: what an earlier test loaded goes
    assert invoke(c).status == 200 and c.attempts == 2
    assert "mpaws.failures" not in sys.modules and "mpaws.network_errors" not in sys.modules


def test_client_waits_the_retry_after_seconds_when_the_backoff_is_shorter(server, context, sleeps):
    server.script(throttle_reply("1"))
    with pytest.raises(errors.Throttled, match="gave up after 2 attempts"):
        invoke(lambda_client(server, context, base_delay_ms=5, max_delay_ms=5000, max_attempts=2))
    assert sleeps == [1000]


def test_reply_over_a_third_of_the_free_heap_is_too_large(server, context, monkeypatch):
    # MicroPython's gc.mem_free(), which CPython lacks: 900 bytes free, so 300 for a reply body.
    monkeypatch.setattr(http.gc, "mem_free", lambda: 900, raising=False)
    assert http.heap_room(10000) == 300 and http.heap_room(200) == 200
    e = send_and_fail(server, context, ok_reply(b"h" * 301), errors.ResponseTooLarge)
    assert "limit of 300" in e.message and "a third of the free heap" in e.message


def test_reply_limit_counts_what_collecting_the_garbage_frees(monkeypatch):
    # 900 bytes free before a collection, 1500 after: a reply may take a third of the 1500.
    class Heap:
        collected = False

        def collect(self):
            self.collected = True

        def mem_free(self):
            return 1500 if self.collected else 900

    monkeypatch.setattr(http, "gc", Heap())
    assert http.heap_room(600) == 500  # 300 before the collection: collected, then 500
    monkeypatch.setattr(http, "gc", Heap())
    assert http.heap_room(10000) == 500
    heap = Heap()
    monkeypatch.setattr(http, "gc", heap)
    assert http.heap_room(250) == 250 and not heap.collected  # room enough: no collection


def test_connection_defaults():
    conn = http.Connection("example.com")
    assert (conn.port, conn.timeout, conn.max_body, conn.verify, conn.sock) == (443, 10, 65536, True, None)


def test_deadline_closer_than_the_timeout_cuts_the_wait_for_a_stalled_reply(server, context):
    server.script(ok_reply(), delay=3)
    conn = connection(server, context, timeout=5)
    started = time.monotonic()
    with pytest.raises(errors.Timeout):
        post(conn, deadline=http.ticks_add(http.ticks_ms(), 500))
    assert time.monotonic() - started < 2  # the deadline's 0.5 s, not the connection's 5 s
