"""Imposes older MicroPython API shapes on the unix port (see README.md): a module can be
made absent or replaced, even a built-in one, by replacing builtins.__import__."""
import builtins
import sys

_import = builtins.__import__
_replaced = {}  # module name -> the stand-in module, or None for "absent"
imposed = []  # the shapes imposed, in order
wrapped = []  # every TLS socket a stand-in made
report = {}  # what the shapes saw, for the driver's "compat" step


def real(name):
    """The real module, whatever is imposed."""
    return _import(name)


def replace(name, module):
    """From now on `import name` gives module (None: raises ImportError)."""
    _replaced[name] = module
    sys.modules.pop(name, None)


def unwrap(sock):
    """The real socket under a stand-in one (compat_getaddrinfo_esp32), for the real TLS."""
    return getattr(sock, "_real", sock)


def _imposed_import(name, *args):
    if name in _replaced:
        module = _replaced[name]
        if module is None:
            raise ImportError("no module named '%s'" % name)
        return module
    return _import(name, *args)


builtins.__import__ = _imposed_import


class TLSSocketWithoutRecv:
    """A TLS socket of v1.22/v1.23: the real one's stream methods, no recv/send."""

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


class TLSContext:
    """Today's SSLContext over the real `tls` one, the socket under a stand-in unwrapped;
    _shape(tls_socket) gives what a shape's wrap_socket returns."""

    def __init__(self, protocol):
        self._ctx = real("tls").SSLContext(protocol)

    @property
    def verify_mode(self):
        return self._ctx.verify_mode

    @verify_mode.setter
    def verify_mode(self, mode):
        self._ctx.verify_mode = mode

    def load_verify_locations(self, cadata):
        self._ctx.load_verify_locations(cadata)

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
        return self._shape(self._ctx.wrap_socket(unwrap(sock), server_side=server_side,
                                                 do_handshake_on_connect=do_handshake_on_connect,
                                                 server_hostname=server_hostname))

    def _shape(self, s):
        return s


class TLSContextWithoutRecv(TLSContext):
    """v1.22/v1.23: its TLS sockets are TLSSocketWithoutRecv (recorded in `wrapped`)."""

    def _shape(self, s):
        s = TLSSocketWithoutRecv(s)
        wrapped.append(s)
        return s
