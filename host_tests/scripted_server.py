"""The hostile server (hostile_server.py) with one more per-request mode, "script": the
reply is the given bytes, exactly as written (a header line that is not UTF-8, 65 header
lines, a chunk without its CRLF, a skew reply without a Date), then the connection is kept,
closed or reset.

    server = ScriptedServer().start()
    server.script(b"HTTP/1.1 200 OK\\r\\n...", then="close", count=1)
    server.script(ok_reply(), pause=0.3, then="reset")   # every request from now on

then: "keep" (wait for the next request), "close" (a clean close: TLS close_notify, FIN),
"reset" (a TCP RST), "corrupt" (bytes that are not a TLS record, written under the TLS
layer, as a broken middlebox would: the client's TLS layer fails, an OSError). pause: seconds between the reply and `then` (the client has read the
reply's bytes before the close or reset comes); delay: seconds before the reply.
"""
import json
import socket
import struct
import time

from hostile_server import HostileServer

THEN = ("keep", "close", "reset", "corrupt")


def reply(status=200, reason="OK", headers=(), body=b"", length=True):
    """A reply's bytes: the status line, headers (name, value) and Content-Length (when
    length) and the body."""
    lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % header for header in headers]
    if length:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def ok_reply(body=None):
    """Lambda's 200, as hostile_server's normal mode sends it (without a message id)."""
    body = json.dumps({"ok": True}).encode() if body is None else body
    return reply(200, "OK", [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")], body)


class ScriptedServer(HostileServer):
    def script(self, data, then="keep", pause=0.0, count=None, delay=0.0):
        """The next `count` requests (None: every request from now on) are answered with
        data, `delay` seconds after the request came, then `then` after `pause` seconds.
        count=None also drops the counted replies planned so far: set it first."""
        assert then in THEN, then
        params = {"data": data, "then": then, "pause": pause, "delay": delay}
        with self._lock:
            if count is None:
                self._plan = []
                self._default = ("script", params)
            else:
                self._plan.extend([("script", params)] * count)

    def stop(self):
        # A connection accepted just now has its thread registered before it starts: wait
        # for it to start, so that stop() can join it.
        deadline = time.monotonic() + 5
        while any(thread.ident is None for thread in list(self._threads)) and time.monotonic() < deadline:
            time.sleep(0.01)
        super().stop()

    def _answer(self, conn, request, mode, params):
        if mode != "script":
            return super()._answer(conn, request, mode, params)
        sock = conn.sock
        if params["delay"] and self._stopping.wait(params["delay"]):
            return False
        self._send(sock, params["data"])
        if params["pause"] and self._stopping.wait(params["pause"]):
            return False
        if params["then"] == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False  # the caller closes it: an RST instead of a FIN
        if params["then"] == "corrupt":
            socket.socket.sendall(sock, b"\x17\x03\x03\x00\x05" + b"\xff" * 5)  # an application-data record no key made
            return self._stopping.wait(1.0) and False
        if params["then"] == "close":
            try:
                sock.unwrap()  # TLS close_notify first: a clean close, as a server's idle timeout does
            except (OSError, ValueError, AttributeError):
                pass
            return False
        return True
