# The TLS side of a connection's set-up: CA certificates read from DER or PEM files (one
# at a time) and the ssl.SSLContext that verifies the server with them, with the device
# certificate and key for mutual TLS (certificate auth). client.connect() and a fetch of
# temporary credentials (mpaws.credentials_fetch) load this module, make the context and
# forget the module, so that its code is not in the heap during the handshake and after.
import sys

try:
    import tls as ssl  # v1.23 and later: the C module itself, not the ssl.py over it (1 KB of heap)

    _CADATA_BY_POSITION = True  # tls's load_verify_locations() takes no keyword
except ImportError:  # v1.22 (its C module is `ssl`) and CPython
    import ssl

    _CADATA_BY_POSITION = False

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_CPYTHON = sys.implementation.name != "micropython"
_LABEL_CHARS = const(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")  # a PEM label: "EC PRIVATE KEY", "CERTIFICATE"
# What is wrong with a certificate or key file: the index of its words in
# mpaws.cert_errors (small ints, not objects in the heap).
_NO_CA_PATH = const(0)
_NO_CA_FILE = const(1)
_CA_BASE64 = const(2)
_NO_CA_PEM = const(3)
_CA_UNREADABLE = const(4)
_NO_CA = const(5)
_NO_FILE = const(6)
_NOT_A_PATH = const(7)
_BEGIN_LINE = const(8)
_NOT_CLOSED = const(9)
_ENCRYPTED = const(10)
_BASE64 = const(11)
_NOT_PEM = const(12)
_NOT_A_PAIR = const(13)


def _failed(problem, key=None, what=None):
    # The errors.ConfigError for a certificate or key file that cannot be used, in the
    # words of mpaws.cert_errors: loaded on a failure only.
    from mpaws import cert_errors

    return cert_errors.describe(problem, key, what)


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
        raise _failed(_NO_CA_PATH, path)
    names = [path]
    if is_dir:
        names = [path + "/" + n for n in sorted(os.listdir(path)) if n.endswith(".der") or n.endswith(".pem")]
        if not names:
            raise _failed(_NO_CA_FILE, path)
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
            raise _failed(_CA_BASE64, name)
        i = data.find(begin, j)
    if not out:
        raise _failed(_NO_CA_PEM, name)
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
                raise _failed(_CA_UNREADABLE, e)
            loaded += 1
            data = None  # mbedTLS keeps its parsed copy: these bytes can go before the next are read
        if not loaded:
            raise _failed(_NO_CA)
        ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is CERT_NONE: set it explicitly
    else:
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def context(ca=None, verify=True, cert=None, key=None):
    """The ssl.SSLContext of a connection. ca: path of a CA file or folder (default: the
    bundled Amazon roots) or a list of certificate bytes; verify=False: no verification.
    cert, key: the device certificate and its private key, for mutual TLS (certificate
    auth's credentials endpoint): paths of DER or PEM files (PKCS#1, PKCS#8 or SEC1 EC
    keys), or their bytes. The key is read into the context and let go at once."""
    if not verify:
        ctx = tls_context(verify=False)
    else:
        ctx = tls_context(ca if isinstance(ca, (list, tuple)) else certificates_in(ca))
    if cert is None:
        return ctx
    cert = pem_block(_read(cert, "CONFIG_TLS_CERT"), b"CERTIFICATE", "CONFIG_TLS_CERT")
    key = pem_block(_read(key, "CONFIG_TLS_KEY"), b"PRIVATE KEY", "CONFIG_TLS_KEY")
    try:
        if _CPYTHON:
            from mpaws import pem_files  # host runs only

            pem_files.load_cert_chain(ctx, cert, key)
        else:
            ctx.load_cert_chain(cert, key)
    except (ValueError, OSError) as e:
        raise _failed(_NOT_A_PAIR, e.args[-1] if e.args else type(e).__name__)
    finally:
        key = None  # the context keeps its parsed copy
    return ctx


def _read(path, key):
    # The file's bytes, or the bytes given as path.
    if isinstance(path, (bytes, bytearray)):
        return bytes(path)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise _failed(_NO_FILE, key)
    except TypeError:
        raise _failed(_NOT_A_PATH, key)


def pem_block(data, name, key):
    """The DER bytes of the first PEM block whose label ends with name ("CERTIFICATE",
    "PRIVATE KEY"), or data itself when it is not PEM. DER everywhere: the MicroPython
    unix port's mbedTLS has no PEM parser. Raises errors.ConfigError naming key."""
    import binascii

    i = data.find(b"-----BEGIN ")
    while i >= 0:
        j = data.find(b"-----", i + 11)
        if j < 0:
            break
        label = data[i + 11 : j]
        if not 0 < len(label) <= 64 or label.strip(_LABEL_CHARS):
            # A BEGIN line without its closing dashes: the "label" would run into the
            # key's base64, which no message may show.
            raise _failed(_BEGIN_LINE, key)
        start = j + 5
        end = data.find(b"-----END " + label + b"-----", start)
        if end < 0:
            raise _failed(_NOT_CLOSED, key, label)
        if label.endswith(name):
            text = data[start:end]
            if b"ENCRYPTED" in label or b"Proc-Type" in text:
                raise _failed(_ENCRYPTED, key)
            try:
                return binascii.a2b_base64(text.replace(b"\r", b"").replace(b"\n", b""))
            except ValueError:
                raise _failed(_BASE64, key)
        i = data.find(b"-----BEGIN ", end)
    if data[:1] == b"\x30":  # DER: an ASN.1 SEQUENCE
        return data
    raise _failed(_NOT_PEM, key, name)
