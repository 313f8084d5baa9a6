"""v1.22's TLS API: no `tls` module; `ssl` is the C module itself (SSLContext with a
verify_mode attribute, load_verify_locations(cafile=None, cadata=None)), and its TLS
sockets have only the stream methods and setblocking/close: no recv, recv_into, send,
sendall. The methods are the real mbedTLS socket's, so read(n) loops until n bytes came."""
import sys

import compat

_tls = compat.real("tls")
CERT_NONE = _tls.CERT_NONE
CERT_OPTIONAL = _tls.CERT_OPTIONAL
CERT_REQUIRED = _tls.CERT_REQUIRED
PROTOCOL_TLS_CLIENT = _tls.PROTOCOL_TLS_CLIENT
PROTOCOL_TLS_SERVER = _tls.PROTOCOL_TLS_SERVER


class SSLContext(compat.TLSContextWithoutRecv):
    def load_verify_locations(self, cafile=None, cadata=None):
        if cafile is not None:
            raise OSError(2)  # the test never passes a file
        self._ctx.load_verify_locations(cadata)


compat.replace("tls", None)
compat.replace("ssl", sys.modules[__name__])
compat.imposed.append("v122_ssl")
