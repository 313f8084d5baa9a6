# The device certificate and key for a TLS context. CPython's ssl takes them from PEM files
# only: written to a private temporary folder for the call and removed at once (host runs
# only); MicroPython's mbedTLS takes the DER bytes. Loaded by mpaws.credentials_fetch
# under CPython only, so a board never interns the names of the file handling.
import sys

_CPYTHON = sys.implementation.name != "micropython"


def load_cert_chain(ctx, cert, key):
    """ctx.load_cert_chain() with the DER certificate cert and the DER private key key
    (PKCS#8, PKCS#1 or SEC1). Raises ValueError with the TLS library's reason."""
    if _CPYTHON:
        import os
        import ssl
        import tempfile

        folder = tempfile.mkdtemp()
        try:
            cert_path = os.path.join(folder, "cert.pem")
            with open(cert_path, "w") as f:
                f.write(ssl.DER_cert_to_PEM_cert(cert))
            import binascii

            body = binascii.b2a_base64(key).decode()
            key_path = os.path.join(folder, "key.pem")
            error = None
            for label in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"):  # PKCS#8, PKCS#1, SEC1
                fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write("-----BEGIN %s-----\n%s-----END %s-----\n" % (label, body, label))
                try:
                    ctx.load_cert_chain(cert_path, key_path)
                    return
                except ssl.SSLError as e:
                    error = e
            raise ValueError(error.reason if error is not None else "unreadable")
        finally:
            for name in ("cert.pem", "key.pem"):
                try:
                    os.remove(os.path.join(folder, name))
                except OSError:
                    pass
            os.rmdir(folder)
    ctx.load_cert_chain(cert, key)
