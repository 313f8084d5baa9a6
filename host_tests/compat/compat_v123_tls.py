"""v1.23's TLS API: the `tls` C module (load_verify_locations takes cadata by position
only, as today's) whose TLS sockets have only the stream methods and setblocking/close:
no recv, recv_into, send, sendall (they came with DTLS support, later)."""
import sys

import compat

_tls = compat.real("tls")
CERT_NONE = _tls.CERT_NONE
CERT_OPTIONAL = _tls.CERT_OPTIONAL
CERT_REQUIRED = _tls.CERT_REQUIRED
PROTOCOL_TLS_CLIENT = _tls.PROTOCOL_TLS_CLIENT
PROTOCOL_TLS_SERVER = _tls.PROTOCOL_TLS_SERVER


SSLContext = compat.TLSContextWithoutRecv

compat.replace("tls", sys.modules[__name__])
compat.imposed.append("v123_tls")
