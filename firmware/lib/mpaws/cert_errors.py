# The words of certificate and key file errors (CONFIG_TLS_CA, CONFIG_TLS_CERT,
# CONFIG_TLS_KEY), loaded only when one cannot be used: mpaws.certs names the problem by
# its index here, so that these words are not in the heap while a TLS context is made.
from mpaws import errors

_WORDS = (  # indexed by mpaws.certs' _NO_CA_PATH ... _NOT_A_PAIR, in this order
    # CONFIG_TLS_CA: the CA certificates the server is verified with
    "CA certificate path %r does not exist: fix CONFIG_TLS_CA (or run `make deploy`, which copies the "
    "bundled certs/)",
    "no .der or .pem certificate in %r: fix CONFIG_TLS_CA",
    "%s: a certificate is not valid base64: check CONFIG_TLS_CA",
    "%s has no PEM certificate: check CONFIG_TLS_CA",
    "CA certificate not readable as DER or PEM (%s): check CONFIG_TLS_CA",
    "no CA certificate to verify the server with: set CONFIG_TLS_CA",
    # CONFIG_TLS_CERT, CONFIG_TLS_KEY: the device certificate and key (certificate auth)
    "%s: no such file on this device (copy it with `make provision`)",
    "%s: give the path of the file",
    "%s: a PEM BEGIN line is malformed (its label is not closed by -----): give the file as written "
    "(`tools/cloud.py deploy --cert-auth`), or DER",
    "%s: the PEM block %s is not closed (file cut short?)",
    "%s: the key is encrypted; give it without a pass phrase (openssl pkey -in KEY -out KEY.der "
    "-outform DER)",
    "%s: the PEM block is not valid base64",
    "%s: neither DER nor a PEM %s",
    # mbedTLS's and OpenSSL's reasons name the problem, never the key's bytes.
    "CONFIG_TLS_CERT / CONFIG_TLS_KEY: not a certificate and its private key (%s): give the files "
    "`tools/cloud.py deploy --cert-auth` wrote (DER or PEM; RSA or EC keys, PKCS#1, PKCS#8 or SEC1)",
)


def describe(problem, key=None, what=None):
    """The errors.ConfigError for problem (an index of _WORDS): key, what the message names
    first (a config key, a path, a reason); what, a PEM label (bytes) it names next."""
    words = _WORDS[problem]
    if key is not None:
        words %= (key,) if what is None else (key, what.decode())
    return errors.ConfigError(words)
