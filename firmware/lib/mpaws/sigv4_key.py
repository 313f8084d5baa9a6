# The Signer's keys (sigv4.Signer): its credentials checked and the secret kept as its
# HMAC-SHA256 pads (the ESP32 has no hmac) when it is made, and the signing key of each day
# derived from them. A device needs this when its Signer is made and on the first signature
# of each day: sigv4 loads this module for that and, on a device, lets go of it after.
# sigv4 passes itself in (imports point one way: sigv4 -> this module).
import hashlib


def pads(sigv4, key, inner_prefix=b""):
    """An HMAC-SHA256 key (RFC 2104) as its two started hashes (sigv4's hash states)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    inner = bytearray(64)
    inner[: len(key)] = key
    outer = bytearray(inner)
    for i in range(64):  # in place: a list of 64 ints would take 0.5 KB
        inner[i] ^= 0x36
        outer[i] ^= 0x5C
    return sigv4._start(inner + inner_prefix), sigv4._start(outer)


def hmac(sigv4, key_pads, message):
    """HMAC-SHA256 of message under the key whose pads() are key_pads."""
    inner = sigv4._resume(key_pads[0])
    inner.update(message)
    outer = sigv4._resume(key_pads[1])
    outer.update(inner.digest())
    return outer.digest()


def start(sigv4, access_key, secret_key, region, service, session_token):
    """sigv4.Signer.__init__'s checks; returns the HMAC pads of "AWS4" + secret."""
    check = sigv4._check
    token = sigv4._TOKEN
    check("access_key", access_key, token[1:63])
    check("secret_key", secret_key)
    check("region", region, token[:37])  # - a-z 0-9
    check("service", service, token[:37])
    if session_token is not None:
        check("session_token", session_token)
        sigv4.check_header("X-Amz-Security-Token", session_token)
    return pads(sigv4, ("AWS4" + secret_key).encode())


def signing_key(sigv4, signer, day):
    """sigv4.Signer.signing_key (see there)."""
    key = hmac(sigv4, signer._secret, day.encode())
    for part in (signer.region, signer.service, "aws4_request"):
        key = hmac(sigv4, pads(sigv4, key), part.encode())
    return key


def new_day(sigv4, signer, day):
    """For the day 'YYYYMMDD': the HMAC pads of the signer's signing key (the string to sign
    starts with the algorithm's line), its credential scope, and the scope as that string
    has it."""
    inner, outer = pads(sigv4, signer.signing_key(day), (sigv4.ALGORITHM + "\n").encode())
    scope = "%s/%s/%s/aws4_request" % (day, signer.region, signer.service)
    return inner, outer, scope, sigv4._utf8("\n" + scope + "\n")
