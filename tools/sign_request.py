"""Signs a raw HTTP/1.1 request file with AWS Signature Version 4 and prints it signed.

    python3 tools/sign_request.py REQUEST_FILE --access-key AK --secret-key SK [--session-token TOKEN]
            --region REGION --service SERVICE --date 20150830T123600Z
            [--no-normalize] [--single-encode] [--sign-body] [--presign EXPIRES_SECONDS] [--explain]
            [--payload-hash HEX | --unsigned-payload] [--token-after] [--crlf] [--session-token-file PATH]

REQUEST_FILE is in the form of AWS's SigV4 test suite (.req): request line, headers
(folded continuation lines allowed), a blank line, the body (any bytes). Its line endings
are those of the request line. The output is the request with X-Amz-Date,
X-Amz-Security-Token (with --session-token) and Authorization set; with --presign the
request line carries the X-Amz-* query parameters instead (S3 signs UNSIGNED-PAYLOAD
there unless --payload-hash is given). --sign-body adds X-Amz-Content-SHA256 (with the
value of --payload-hash or --unsigned-payload when given). --payload-hash HEX signs that
SHA-256 instead of the body's; --unsigned-payload signs UNSIGNED-PAYLOAD. --single-encode
signs the path as sent, not encoded once more (S3 does so by itself). --token-after adds
the token after signing, unsigned (with --presign: after X-Amz-Signature, as AWS IoT's
WebSocket URLs want). --explain prints the canonical request and the string to sign to
stderr. --crlf ends lines with CRLF, byte for byte as on the wire (default: the line
endings of REQUEST_FILE). --session-token-file reads the token from a file (a trailing
newline is dropped): a real STS token is longer than the 255 bytes the MicroPython unix
port takes in one argument.

Runs unchanged under CPython and MicroPython (`micropython tools/sign_request.py ...`),
with the firmware's own signer (firmware/lib/mpaws/sigv4.py, through sigv4_full.py).
"""
import sys


def _add_firmware_lib():
    here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
    sys.path.insert(0, here + "/../firmware/lib")


USAGE = (
    "usage: sign_request.py REQUEST_FILE --access-key AK --secret-key SK [--session-token TOKEN]\n"
    "       --region REGION --service SERVICE --date YYYYMMDDTHHMMSSZ\n"
    "       [--no-normalize] [--single-encode] [--sign-body] [--presign EXPIRES_SECONDS] [--explain]\n"
    "       [--payload-hash HEX | --unsigned-payload] [--token-after] [--crlf]\n"
    "       [--session-token-file PATH]  (the token read from PATH, trailing newline dropped)\n"
)
HELP = (
    "Signs REQUEST_FILE (an HTTP request: request line, headers, a blank line, the body) and prints it\n"
    "with X-Amz-Date and Authorization added. Line endings: those of the request line.\n"
    "  --explain             also print the canonical request and the string to sign (stderr)\n"
    "  --session-token TOKEN adds X-Amz-Security-Token (signed; --token-after: added after signing)\n"
    "  --token-after         the token unsigned, after Authorization (--presign: after X-Amz-Signature,\n"
    "                        as AWS IoT's MQTT-over-WebSocket URLs want)\n"
    "  --sign-body           adds X-Amz-Content-SHA256 (S3 needs it): the payload hash signed\n"
    "  --payload-hash HEX    signs this SHA-256 (64 lower-case hex digits) instead of the body's\n"
    "  --unsigned-payload    signs UNSIGNED-PAYLOAD instead of the body's hash\n"
    "  --presign SECONDS     signs the query string instead (a presigned URL), 1 to 604800 s;\n"
    "                        S3 signs UNSIGNED-PAYLOAD unless --payload-hash is given\n"
    "  --no-normalize        keeps the path as is: no '.' or '//' removal (S3)\n"
    "  --single-encode       signs the path as sent, not percent-encoded once more (S3 does so)\n"
    "  --crlf                CRLF line endings, as on the wire\n"
)
_VALUED = ("--access-key", "--secret-key", "--session-token", "--session-token-file", "--region", "--service",
           "--date", "--presign", "--payload-hash")
_FLAGS = ("--no-normalize", "--single-encode", "--sign-body", "--unsigned-payload", "--explain", "--token-after",
          "--crlf")
HEX = "0123456789abcdef"


class UsageError(Exception):
    pass


def parse_args(argv):
    opts = {}
    files = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            raise UsageError("")
        if arg in _VALUED:
            if i + 1 >= len(argv):
                raise UsageError("%s needs a value" % arg)
            opts[arg] = argv[i + 1]
            i += 2
        elif arg in _FLAGS:
            opts[arg] = True
            i += 1
        elif arg.startswith("--"):
            raise UsageError("unknown option %s" % arg)
        else:
            files.append(arg)
            i += 1
    if len(files) != 1:
        raise UsageError("give exactly one REQUEST_FILE")
    for required in ("--access-key", "--secret-key", "--region", "--service", "--date"):
        if required not in opts:
            raise UsageError("%s is required" % required)
    if "--session-token" in opts and "--session-token-file" in opts:
        raise UsageError("give --session-token or --session-token-file, not both")
    if "--payload-hash" in opts and "--unsigned-payload" in opts:
        raise UsageError("give --payload-hash or --unsigned-payload, not both")
    if "--presign" in opts and "--sign-body" in opts:
        raise UsageError("--sign-body is for header signing: a presigned URL has no X-Amz-Content-SHA256")
    given = opts.get("--payload-hash")
    if given is not None and (len(given) != 64 or given.strip(HEX)):
        raise UsageError("--payload-hash: want a SHA-256 as 64 lower-case hex digits, got %d characters" % len(given))
    return files[0], opts


def read_token(path):
    """The session token in the file at path, without its trailing line break."""
    with open(path, "rb") as f:
        return f.read().decode().rstrip("\r\n")


class RawRequest:
    """A request file split into its parts, keeping what is needed to print it back."""

    def __init__(self, method, target, version, headers, body, newline):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # [(name, value, separator)], separator ':' or ': ' etc. as in the file
        self.body = body
        self.newline = newline
        q = target.find("?")
        self.path = target if q < 0 else target[:q]
        self.query_string = "" if q < 0 else target[q + 1 :]


def parse_request(data):
    """Parses the test suite's .req form (bytes) into a RawRequest. The line endings are
    those of the request line: a binary body may hold either kind."""
    end = data.find(b"\n")
    newline = "\r\n" if end > 0 and data[end - 1] == 13 else "\n"
    sep = (newline + newline).encode()
    cut = data.find(sep)
    if cut < 0:
        head = data.decode()
        body = b""
    else:
        head = data[:cut].decode()
        body = data[cut + len(sep) :]
    lines = head.split(newline)
    request_line = lines[0]
    first = request_line.find(" ")
    last = request_line.rfind(" ")
    if first < 0:
        raise ValueError("request line %r: expected METHOD TARGET HTTP/1.1" % request_line)
    if last > first and request_line[last + 1 :].startswith("HTTP/"):
        target = request_line[first + 1 : last]
        version = request_line[last + 1 :]
    else:
        target = request_line[first + 1 :]
        version = "HTTP/1.1"
    headers = []
    for line in lines[1:]:
        if not line:
            continue  # a head that ends with a lone line break
        if line[:1] in (" ", "\t") and headers:
            name, value, separator = headers[-1]
            headers[-1] = (name, value + newline + line, separator)  # folded value, kept as folded
            continue
        colon = line.find(":")
        if colon <= 0:
            raise ValueError("header line %r: expected Name:value" % line)
        value = line[colon + 1 :]
        separator = ":"
        while value.startswith(" "):
            separator += " "
            value = value[1:]
        headers.append((line[:colon], value, separator))
    return RawRequest(request_line[:first], target, version, headers, body, newline)


def sign(raw, opts, sigv4):
    """Returns (signed request as text lines + body, explanation (creq, sts, signature))."""
    token = opts.get("--session-token")
    signer = sigv4.Signer(
        opts["--access-key"],
        opts["--secret-key"],
        opts["--region"],
        opts["--service"],
        session_token=token,
        sign_session_token=not opts.get("--token-after"),
        normalize_path=False if opts.get("--no-normalize") else None,
        double_encode=False if opts.get("--single-encode") else None,
    )
    payload_hash = opts.get("--payload-hash")
    if opts.get("--unsigned-payload"):
        payload_hash = sigv4.UNSIGNED_PAYLOAD
    headers = [(name, value) for name, value, _ in raw.headers]
    query = sigv4.parse_query(raw.query_string)
    body = raw.body
    date = opts["--date"]
    for name, value in headers:
        if name.lower() == "content-length" and value.strip() != str(len(body)):
            raise ValueError("Content-Length is %s but the body has %d bytes" % (value.strip(), len(body)))
    if "--presign" in opts:
        try:
            expires = int(opts["--presign"])
        except ValueError:
            raise ValueError("--presign: expected whole seconds, got %r" % opts["--presign"])
        args = (raw.method, raw.path, query, headers, expires)
        added = signer.presign(*args, date=date, payload_hash=payload_hash, body=body)
        explanation = signer.presign_explain(*args, date=date, payload_hash=payload_hash, body=body)
        target = raw.path + "?" + sigv4.query_string(query + added)
        lines = [raw.method + " " + target + " " + raw.version]
        for name, value, separator in raw.headers:
            lines.append(name + separator + value)
        return lines, explanation
    sign_body = bool(opts.get("--sign-body"))
    args = (raw.method, raw.path, query, headers)
    kwargs = dict(body=body, payload_hash=payload_hash, date=date, content_sha256=sign_body)
    added = signer.sign(*args, **kwargs)
    explanation = signer.explain(*args, **kwargs)
    lines = [raw.method + " " + raw.target + " " + raw.version]
    pending = list(added)
    for name, value, separator in raw.headers:
        lname = name.lower()
        for i in range(len(pending)):
            if pending[i][0].lower() == lname and lname != "authorization":
                value = pending.pop(i)[1]  # the signer's value replaces the given one, in place
                break
        lines.append(name + separator + value)
    for name, value in pending:  # Authorization last, as in AWS's .sreq files
        if name != "Authorization":
            lines.append(name + ":" + value)
    for name, value in pending:
        if name == "Authorization":
            lines.append(name + ": " + value)
    return lines, explanation


def main(argv):
    try:
        path, opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write(USAGE)
        if str(e):
            sys.stderr.write("error: %s\n" % e)
            return 2
        sys.stderr.write(HELP)
        return 0
    _add_firmware_lib()
    from mpaws import sigv4_full

    if "--session-token-file" in opts:
        token_file = opts.pop("--session-token-file")
        try:
            opts["--session-token"] = read_token(token_file)
        except (OSError, UnicodeError) as e:
            sys.stderr.write("error: cannot read %s: %s\n" % (token_file, e))
            return 2
    try:
        with open(path, "rb") as f:
            raw = parse_request(f.read())
        lines, explanation = sign(raw, opts, sigv4_full)
    except OSError as e:
        sys.stderr.write("error: cannot read %s: %s\n" % (path, e))
        return 2
    except UnicodeError:
        sys.stderr.write("error: %s: the request line and headers must be UTF-8 text\n" % path)
        return 2
    except ValueError as e:
        sys.stderr.write("error: %s\n" % e)
        return 2
    if opts.get("--explain"):
        creq, sts, signature = explanation
        sys.stderr.write("--- canonical request\n%s\n--- string to sign\n%s\n--- signature\n%s\n" % (creq, sts, signature))
    newline = "\r\n" if opts.get("--crlf") else raw.newline
    out = newline.join(lines) + newline + newline
    sys.stdout.write(out)
    if raw.body:
        # The body as bytes, untouched (sys.stdout.buffer on CPython).
        stream = getattr(sys.stdout, "buffer", sys.stdout)
        if hasattr(sys.stdout, "flush"):
            sys.stdout.flush()
        stream.write(raw.body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
