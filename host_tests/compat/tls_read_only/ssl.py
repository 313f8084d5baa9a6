"""`ssl` as on MicroPython v1.22 and v1.23 (ESP32): SSLContext.wrap_socket returns a TLS
socket with only the stream methods (read, readinto, readline, write) and setblocking/
close: no recv, recv_into, send, sendall. Each method is the real mbedTLS socket's (the
unix port's `tls` module), so read(n) and readinto() loop until n bytes came, as there."""
import tls
from tls import CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER  # noqa: F401

WRAPPED = []  # every socket wrapped, for the test's checks


class SSLSocket:
    def __init__(self, real):
        self._real = real

    def read(self, *n):
        return self._real.read(*n)

    def readinto(self, *args):
        return self._real.readinto(*args)

    def readline(self, *args):
        return self._real.readline(*args)

    def write(self, *args):
        return self._real.write(*args)

    def setblocking(self, flag):
        return self._real.setblocking(flag)

    def close(self):
        return self._real.close()


class SSLContext:
    def __init__(self, protocol):
        self._ctx = tls.SSLContext(protocol)

    @property
    def verify_mode(self):
        return self._ctx.verify_mode

    @verify_mode.setter
    def verify_mode(self, mode):
        self._ctx.verify_mode = mode

    def load_verify_locations(self, cadata=None):
        self._ctx.load_verify_locations(cadata)

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
        wrapped = SSLSocket(self._ctx.wrap_socket(sock, server_side=server_side,
                                                  do_handshake_on_connect=do_handshake_on_connect,
                                                  server_hostname=server_hostname))
        WRAPPED.append(wrapped)
        return wrapped
