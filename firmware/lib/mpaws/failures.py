# How an AWS error reply becomes an mpaws exception (from_response), what a client does next
# (reply_error: set the clock, fetch new temporary credentials), and a Lambda function's
# error (function_error). Imported by mpaws.client and mpaws.awslambda on the first failure
# only, so that a device whose requests succeed never holds this code in its heap. Socket
# and TLS errors are mpaws.network_errors': a device without a network does not load this.
# The arrows point one way: client -> failures -> errors (and clock).
from mpaws import errors


_CLOCK_WORDS = ("Signature expired", "not yet current", "RequestTimeTooSkewed", "RequestExpired")
# AWS's error codes by what they mean, each set a string of codes between spaces rather than
# a tuple: one object in the heap instead of one per code (1.1 KB less while a failure's
# code is loaded, when the heap is fullest).
_THROTTLE_CODES = (" TooManyRequestsException ThrottlingException Throttling ThrottledException"
                   " RequestLimitExceeded SlowDown EC2ThrottledException ")
_SIGNATURE_CODES = " InvalidSignatureException SignatureDoesNotMatch IncompleteSignature IncompleteSignatureException "
_DENIED_CODES = (" AccessDeniedException AccessDenied UnrecognizedClientException InvalidClientTokenId"
                 " AuthorizationError AuthFailure ForbiddenException MissingAuthenticationTokenException"
                 " KMSAccessDeniedException ")
_EXPIRED_CODES = " ExpiredToken ExpiredTokenException TokenRefreshRequired "
_NOT_FOUND_CODES = " ResourceNotFoundException NotFound NotFoundException NoSuchEntity "


def _one_of(code, codes):
    # Whether code is one of codes (a string of codes between spaces).
    return bool(code) and " " not in code and (" " + code + " ") in codes


def _between(text, start, end):
    i = text.find(start)
    if i < 0:
        return None
    i += len(start)
    j = text.find(end, i)
    return text[i:j] if j >= 0 else None


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}  # the others (\\ \" \/) stand for themselves
_HEX = "0123456789abcdefABCDEF"

# The text is read in slices found with str.find, never one character at a time: on the
# device, text[i] and chr() intern the character as a name, for good (and a name table that
# grows takes a block of 7 KB).


def _code_unit(text, i):
    # The number of the four hex digits of a \uXXXX escape at text[i:i + 4], or None.
    digits = text[i : i + 4]
    if len(digits) != 4 or digits.strip(_HEX):
        return None
    return int(digits, 16)


def _character(code):
    # The character of a code point, decoded from its UTF-8 bytes (chr() would intern it).
    if code < 0x80:
        data = (code,)
    elif code < 0x800:
        data = (0xC0 | code >> 6, 0x80 | code & 0x3F)
    elif code < 0x10000:
        data = (0xE0 | code >> 12, 0x80 | code >> 6 & 0x3F, 0x80 | code & 0x3F)
    else:
        data = (0xF0 | code >> 18, 0x80 | code >> 12 & 0x3F, 0x80 | code >> 6 & 0x3F, 0x80 | code & 0x3F)
    return bytes(data).decode()


def _json_string(text, i):
    """The JSON string literal whose opening quote is text[i], decoded; up to the end of
    the text when it was cut short. A surrogate pair (\\ud83d\\ude00) is one character; a
    lone surrogate, which is no character, becomes U+FFFD."""
    out = []
    i += 1
    n = len(text)
    while i < n:
        end = text.find('"', i)
        if end < 0:
            end = n
        escape = text.find("\\", i, end)
        if escape < 0:
            out.append(text[i:end])
            break
        out.append(text[i:escape])
        i = escape + 1
        if i == n:  # a backslash at the end of a text cut short
            out.append("\\")
            break
        c = text[i : i + 1]
        code = _code_unit(text, i + 1) if c == "u" else None
        if code is None:
            c = _ESCAPES.get(c, c)
        else:
            i += 4
            if 0xD800 <= code < 0xDC00 and text[i + 1 : i + 3] == "\\u":
                low = _code_unit(text, i + 3)
                if low is not None and 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
            c = _character(0xFFFD if 0xD800 <= code < 0xE000 else code)
        out.append(c)
        i += 1
    return "".join(out)


def json_field(text, *names):
    """The string value of the first of `names` found in a JSON object's text, or None.
    A targeted look-up, not json.loads: an error body may be cut short (errors.preview
    stops at 4096 bytes) or not be JSON at all, and MicroPython's json leaves a surrogate
    pair (an emoji as \\ud83d\\ude00) as two halves, which are not text."""
    for name in names:
        i = text.find('"' + name + '"')
        if i < 0:
            continue
        i = text.find(":", i + len(name) + 2)
        if i < 0:
            continue
        quote = text.find('"', i + 1)
        if quote >= 0 and not text[i + 1 : quote].strip(" \t\r\n"):  # only white space before it
            return _json_string(text, quote)
    return None


def _clean_code(code):
    # 'InvalidSignatureException:http://internal.amazon.com/...' or 'aws.x#Code' → 'Code'
    if not code:
        return None
    code = code.strip()
    i = code.find(":")
    if i > 0:
        code = code[:i]
    i = code.rfind("#")
    if i >= 0:
        code = code[i + 1 :]
    return code or None


# The texts of what SNS would refuse (mpaws.sns.check, publish), by sns's numbers.
SNS_REFUSALS = (
    "body: must be a non-empty string (SNS needs a message)",
    "subject: must be a string of 1 to %d characters",
    "subject: SNS allows only printable ASCII (no line breaks, no accents); found %r",
    "subject: SNS requires it to begin with a letter, digit or punctuation mark, not a space",
    "body: too large for SNS, which takes at most %d bytes in UTF-8",
    "body: too large for SNS, which takes at most %d bytes in UTF-8 with the message attributes",
    "topic_arn must be an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME",
)


def function_error(function, kind, response, request_id, log_tail):
    """The errors.FunctionError of an Invoke reply with X-Amz-Function-Error: kind (e.g.
    "Unhandled"), its error payload's errorMessage and errorType."""
    text = errors.preview(response.body, 4096)
    message = json_field(text, "errorMessage", "message")
    return errors.FunctionError(
        "function %s failed (%s): %s" % (function, kind, message or errors.preview(response.body)),
        kind, bytes(response.body), response.status, request_id, log_tail, json_field(text, "errorType"), message)


def reply_error(client, response, corrected, renewed):
    """What a reply of 300 or more to an mpaws.client.Client's request means: (the
    errors.AWSError, again). again is 1 when AWS said the device clock is off and the
    clock was set from the reply's Date (not if it was corrected already: corrected), 2
    when the temporary credentials expired and new ones were fetched (not if renewed
    already), and the request is then signed and sent again at once; else 0."""
    if response.status < 400:
        # A redirect is never AWS's answer to a signed API call: a captive portal or a
        # proxy on the way. Retried, and the message kept.
        return errors.ProtocolError("unexpected HTTP %d from %s (a proxy or captive portal?): check "
                                    "CONFIG_AWS_HOST and the network" % (response.status, client.host_header)), 0
    # API Gateway's hints only for its endpoints (execute-api, or an API key).
    gateway = getattr(client.signer, "service", 0) == "execute-api"  # a Signer's, or mpaws.api_key.KeyAuth's
    error = from_response(response.status, response.header("x-amzn-errortype"), response.body,
                          response.header("x-amzn-requestid"), gateway)
    if isinstance(error, errors.ClockSkew):
        date = response.header("date")
        if date is not None:
            from mpaws import http_date, transient  # a skew reply only

            server = http_date.plausible(date)
            transient.forget("http_date")  # not held for the rest of the session: 2 KB of heap
        else:
            server = None
        if server is None:
            # No plausible Date to set the clock from: the clock is left as it is, and the
            # reply is treated as a broken one (retried, the message kept).
            return errors.ProtocolError("AWS says the device clock is off (%s) but its reply has no "
                                        "plausible Date header (%s): clock left unchanged; check NTP "
                                        "(CONFIG_NTP_HOSTS)" % (error.message, (date or "none")[:40]),
                                        response.status, error.code, error.request_id), 0
        if not corrected:
            from mpaws import clock

            clock.set_from(server)
            if client.log:
                client.log("mpaws: device clock is off by %d s (AWS said: %s); corrected, signing again"
                           % (clock.offset, error.message))
            return error, 1
    # Temporary credentials (mpaws.credentials): ExpiredToken / InvalidClientTokenId fetches
    # new ones; the request is signed with them and sent once more.
    credentials = getattr(client.signer, "credentials", None)
    if credentials is not None and not renewed and credentials.renews(error):
        if client.log:
            client.log("mpaws: %s; fetching new temporary credentials" % error.code)
        return error, 2
    return error, 0


def from_response(status, error_type, body, request_id=None, gateway=True):
    """An AWS error reply as an AWSError subclass, keeping the server's message.
    error_type: the x-amzn-ErrorType header (or None); body: bytes (JSON or XML).
    gateway=False: the endpoint is not one API Gateway may stand in front of (the
    credentials provider), so API Gateway's texts get none of its hints."""
    text = errors.preview(body, 4096) if body else ""
    code = _clean_code(error_type)
    message = None
    if text.lstrip().startswith("<"):
        code = code or _between(text, "<Code>", "</Code>")
        message = _between(text, "<Message>", "</Message>")
        request_id = request_id or _between(text, "<RequestId>", "</RequestId>")
    elif text:
        code = code or _clean_code(json_field(text, "__type", "code", "Code"))
        message = json_field(text, "message", "Message", "errorMessage")
    if not message:
        message = text.strip()[:200] or "HTTP %d with no message" % status
    for word in _CLOCK_WORDS:
        if word in message or (code and word in code):
            return errors.ClockSkew(message, status, code, request_id)
    gateway = _api_gateway(status, code, message, text, body, request_id) if gateway else None
    if gateway is not None:
        return gateway
    if _one_of(code, _THROTTLE_CODES) or status == 429:
        return errors.Throttled(message, status, code, request_id)
    if _one_of(code, _SIGNATURE_CODES):
        return errors.InvalidSignature(message, status, code, request_id)
    if _one_of(code, _EXPIRED_CODES):
        return errors.ExpiredToken(message, status, code, request_id)
    if _one_of(code, _DENIED_CODES) or status in (401, 403):
        return errors.AccessDenied(message, status, code, request_id)
    if _one_of(code, _NOT_FOUND_CODES) or status == 404:
        return errors.NotFound(message, status, code, request_id)
    if status == 413 or code == "RequestEntityTooLargeException":
        return errors.PayloadTooLarge(message, status, code, request_id)
    if status >= 500:
        return errors.ServiceError(message, status, code, request_id)
    return errors.BadRequest(message, status, code, request_id)


# -- Amazon API Gateway (mpaws.apigateway) ------------------------------------------------
# The function behind a route refuses a message with a proxy response {"errorType",
# "errorMessage"} (cloud/lambda_function.py): that is errors.FunctionError, as through
# Invoke, so errors.refusal decides the same way. API Gateway's own replies (fixed texts)
# are mpaws.gateway_errors'.
def _api_gateway(status, code, message, text, body, request_id):
    """The AWSError of an API Gateway reply, or None when it is not one."""
    if status >= 400 and text.lstrip().startswith("{") and '"errorType"' in text:
        error_type = json_field(text, "errorType")
        if error_type:
            return errors.FunctionError("the function behind the route refused the request: %s: %s"
                                        % (error_type, message), "Handled", bytes(body), status, request_id,
                                        None, error_type, message)
    from mpaws import gateway_errors, transient  # its own texts, for this reply only

    try:
        return gateway_errors.error(status, code, message, request_id)
    finally:
        transient.forget("gateway_errors")
# -- end of Amazon API Gateway ------------------------------------------------------------
