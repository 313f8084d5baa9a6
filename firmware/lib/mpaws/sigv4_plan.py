# The Signer's plan of a request shape (sigv4.Signer._plan): its canonical request as
# bytes around the values that may change. Made once per shape, a device's first request
# or new credentials: sigv4 loads this module for it and, on a device, lets go of it after.
# sigv4 passes itself in (imports point one way: sigv4 -> this module).

# Hop-by-hop headers and others that proxies may add, change or drop are never signed
# (botocore's list), nor Authorization itself. One string: smaller than a tuple of them.
UNSIGNED = (" authorization connection expect keep-alive proxy-authenticate proxy-authorization te trailer"
            " transfer-encoding upgrade user-agent x-amzn-trace-id ")


def plan(sigv4, signer, method, path, query, headers, presign=False):
    """sigv4.Signer._plan() (see there); sigv4: the mpaws.sigv4 module."""
    uri_encode = sigv4.uri_encode
    sigv4._check("method", method, sigv4._TOKEN[37:63])
    # min() of the bytes: of the str, it would intern each of its characters, for good.
    if not isinstance(path, str) or path[:1] != "/" or min(path.encode()) < 32 or "\x7f" in path:
        raise ValueError("bad path")
    pairs = []
    for key, value in query:
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("bad query")
        pairs.append((uri_encode(key), uri_encode(value)))
    pairs.sort()  # by encoded key, then value: duplicate keys keep both
    lines = [method, signer._uri(path), "&".join([k + "=" + v for k, v in pairs])]
    # Where a value goes, "\0" and the slot + 4 as a character: "\0" cannot occur in
    # a canonical request (refused in headers and paths, encoded in queries). The token
    # is a slot too: its 1 KB or more is hashed from where it is, never copied here.
    rows = []
    if not presign:
        rows.append(("x-amz-date", "\0\2"))
        if signer.session_token:
            rows.append(("x-amz-security-token", "\0\1"))
    skip = [name for name, _ in rows]  # a given X-Amz-Date (or token) is replaced
    i = 4
    for name, value in headers:
        sigv4.check_header(name, value)
        name = name.lower()
        if " %s " % name not in UNSIGNED and name not in skip:
            rows.append((name, "\0%c" % i))  # chr(i) would intern the character for good
        i += 1
    names = sorted(set([name for name, _ in rows]))
    for name in names:
        # The values of a repeated header joined by ',', in the order given.
        lines.append(name + ":" + ",".join([v for n, v in rows if n == name]))
    if "host" not in names:
        raise ValueError("header Host: required")
    signed = ";".join(names)
    parts = ("\n".join(lines) + "\n\n" + signed + "\n\0\3").split("\0")
    # p[:1], not p[0]: indexing a str interns the character it returns, for good.
    return parts[0].encode(), [(ord(p[:1]) - 4, p[1:].encode()) for p in parts[1:]], signed
