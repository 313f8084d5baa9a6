"""The ESP32's socket module: getaddrinfo() gives [(AF_INET, SOCK_STREAM, 0, '',
('127.0.0.1', port))] -- the address an (ip, port) tuple, IPv4 only -- where the unix port
gives a struct sockaddr as bytes; its sockets' connect() takes that tuple. The real
socket is underneath (the TLS stand-ins, and `tls` here, wrap that one)."""
import io
import sys

import compat

_socket = compat.real("socket")
_tls = compat.real("tls")
for _name in ("AF_INET", "SOCK_STREAM", "SOCK_DGRAM", "SOL_SOCKET", "SO_REUSEADDR", "IPPROTO_TCP", "TCP_NODELAY"):
    if hasattr(_socket, _name):
        setattr(sys.modules[__name__], _name, getattr(_socket, _name))
resolved = []  # every address getaddrinfo() gave
compat.report["resolved"] = resolved
_GET_FILENO = 10  # MP_STREAM_GET_FILENO: how select.poll finds the fd of a Python stream


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    out = []
    for info in _socket.getaddrinfo(host, port, af, type, proto, flags):
        sockaddr = info[-1]
        if info[0] == _socket.AF_INET:  # struct sockaddr_in: family, port, IPv4 address
            address = ("%d.%d.%d.%d" % tuple(sockaddr[4:8]), port)
            resolved.append(list(address))
            out.append((_socket.AF_INET, _socket.SOCK_STREAM, 0, "", address))
    return out


class socket(io.IOBase):
    def __init__(self, af=_socket.AF_INET, type=_socket.SOCK_STREAM, proto=0):
        self._real = _socket.socket(af, type, proto)

    def connect(self, address):
        if not isinstance(address, tuple):
            raise TypeError("the ESP32's connect() takes an (ip, port) tuple, not %r" % (address,))
        self._real.connect(_socket.getaddrinfo(address[0], address[1])[0][-1])

    def ioctl(self, request, arg):
        if request == _GET_FILENO:
            return self._real.fileno()
        return -1

    def settimeout(self, value):
        return self._real.settimeout(value)

    def setblocking(self, flag):
        return self._real.setblocking(flag)

    def setsockopt(self, *args):
        return self._real.setsockopt(*args)

    def close(self):
        return self._real.close()

    def read(self, *args):
        return self._real.read(*args)

    def readinto(self, *args):
        return self._real.readinto(*args)

    def write(self, *args):
        return self._real.write(*args)

    def recv(self, *args):
        return self._real.recv(*args)

    def send(self, *args):
        return self._real.send(*args)


class _TLS:
    """Today's `tls`, over the real socket under the stand-in."""

    CERT_NONE = _tls.CERT_NONE
    CERT_OPTIONAL = _tls.CERT_OPTIONAL
    CERT_REQUIRED = _tls.CERT_REQUIRED
    PROTOCOL_TLS_CLIENT = _tls.PROTOCOL_TLS_CLIENT
    PROTOCOL_TLS_SERVER = _tls.PROTOCOL_TLS_SERVER

    SSLContext = compat.TLSContext


compat.replace("socket", sys.modules[__name__])
compat.replace("tls", _TLS)
compat.imposed.append("getaddrinfo_esp32")
