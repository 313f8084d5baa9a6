# The TLS side of a connection's set-up: CA certificates read from DER or PEM files (one
# at a time) and the ssl.SSLContext that verifies the server with them. Used once per
# session: client.connect() loads this module, makes the context and forgets the module,
# so that its code is not in the heap during the handshake and after.
import sys

try:
    import tls as ssl  # v1.23 and later: the C module itself, not the ssl.py over it (1 KB of heap)

    _CADATA_BY_POSITION = True  # tls's load_verify_locations() takes no keyword
except ImportError:  # v1.22 (its C module is `ssl`) and CPython
    import ssl

    _CADATA_BY_POSITION = False

from mpaws import errors

_CPYTHON = sys.implementation.name != "micropython"


def _cadata(data):
    # CPython wants PEM as str and DER as bytes; MicroPython (mbedTLS) takes bytes of either.
    if _CPYTHON and data[:5] == b"-----":
        return data.decode()
    return data


def _default_ca_dir():
    # firmware/lib/mpaws/certs.py -> firmware/certs; on a board /lib/mpaws/certs.mpy -> /certs
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    return here + "/../../certs"


def load_certificates(path=None):
    """CA certificates (bytes) from a DER or PEM file, or from every .der/.pem file in a
    folder; path None: the bundled Amazon roots (firmware/certs, /certs on a board)."""
    return list(certificates_in(path))


def certificates_in(path=None):
    """load_certificates() one certificate at a time: tls_context() parses each and lets go
    of its bytes before the next file is read, so only one is ever in the heap."""
    import os

    if path is None:
        path = _default_ca_dir()
        if not _exists(path):
            path = "/certs"
    try:
        is_dir = os.stat(path)[0] & 0x4000
    except OSError:
        raise errors.ConfigError("CA certificate path %r does not exist: fix CONFIG_TLS_CA (or run `make deploy`, "
                                 "which copies the bundled certs/)" % path)
    names = [path]
    if is_dir:
        names = [path + "/" + n for n in sorted(os.listdir(path)) if n.endswith(".der") or n.endswith(".pem")]
        if not names:
            raise errors.ConfigError("no .der or .pem certificate in %r: fix CONFIG_TLS_CA" % path)
    for name in names:
        with open(name, "rb") as f:
            data = f.read()
        if b"-----BEGIN CERTIFICATE-----" in data:  # PEM, possibly after comment lines
            ders = pem_to_der(data, name)
            data = None
            while ders:
                yield ders.pop(0)
        else:
            yield data
        data = None  # not held while the next file is read


def pem_to_der(data, name="PEM"):
    """The DER certificates in PEM text (bytes). DER everywhere: some mbedTLS builds (the
    MicroPython unix port's) have no PEM parser."""
    import binascii

    out = []
    begin = b"-----BEGIN CERTIFICATE-----"
    end = b"-----END CERTIFICATE-----"
    i = data.find(begin)
    while i >= 0:
        j = data.find(end, i)
        if j < 0:
            break
        try:
            out.append(binascii.a2b_base64(data[i + len(begin) : j].replace(b"\r", b"").replace(b"\n", b"")))
        except ValueError:
            raise errors.ConfigError("%s: a certificate is not valid base64: check CONFIG_TLS_CA" % name)
        i = data.find(begin, j)
    if not out:
        raise errors.ConfigError("%s has no PEM certificate: check CONFIG_TLS_CA" % name)
    return out


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def tls_context(certificates=(), verify=True):
    """An ssl.SSLContext for a TLS client. certificates: CA certificates (bytes, DER or PEM;
    a list or an iterator such as certificates_in()) the server's chain must end in.
    verify=False turns verification off: only for tests."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        loaded = 0
        for data in certificates:
            try:
                if _CADATA_BY_POSITION:
                    ctx.load_verify_locations(data)
                else:
                    try:
                        ctx.load_verify_locations(cadata=_cadata(data))
                    except TypeError:  # a C ssl module (v1.22) whose method takes no keyword
                        ctx.load_verify_locations(data)
            except (ValueError, OSError) as e:
                raise errors.ConfigError("CA certificate not readable as DER or PEM (%s): check CONFIG_TLS_CA" % e)
            loaded += 1
            data = None  # mbedTLS keeps its parsed copy: these bytes can go before the next are read
        if not loaded:
            raise errors.ConfigError("no CA certificate to verify the server with: set CONFIG_TLS_CA")
        ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is CERT_NONE: set it explicitly
    else:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def context(ca=None, verify=True):
    """The ssl.SSLContext of a connection. ca: path of a CA file or folder (default: the
    bundled Amazon roots) or a list of certificate bytes; verify=False: no verification."""
    if not verify:
        return tls_context(verify=False)
    return tls_context(ca if isinstance(ca, (list, tuple)) else certificates_in(ca))
