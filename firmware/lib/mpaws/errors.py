# What can go wrong talking to AWS, as a small set of exceptions a device can act on.
#
# Every failure is an AWSError. `retryable` says whether sending the same request again
# later can succeed (throttling, 5xx, a dropped connection); `status`, `code`, `message`
# and `request_id` carry what AWS said, for the log line and for AWS support.


class AWSError(Exception):
    retryable = False

    def __init__(self, message, status=None, code=None, request_id=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self):
        parts = []
        if self.status is not None:
            parts.append("HTTP %d" % self.status)
        if self.code:
            parts.append(self.code)
        if self.request_id:
            parts.append("request id " + self.request_id)
        return self.message + (" (" + ", ".join(parts) + ")" if parts else "")


class ConfigError(AWSError):
    """A config key is missing or malformed; the message names the key and the fix."""


class NetworkError(AWSError):
    """No answer from AWS: DNS, refused or reset connection. Worth retrying."""

    retryable = True


class DNSError(NetworkError):
    pass


class Timeout(NetworkError):
    """AWS did not answer within the socket timeout."""


class TLSError(NetworkError):
    """The TLS handshake failed: certificate not trusted, wrong host name, not a TLS port.
    Retrying does not help: the configuration (CONFIG_TLS_CA, CONFIG_AWS_HOST) is wrong."""

    retryable = False


class ProtocolError(NetworkError):
    """The server's reply was not valid HTTP/1.1."""


class ResponseTooLarge(AWSError):
    """The reply body was larger than the configured limit."""


class AccessDenied(AWSError):
    """The key is unknown, disabled, or its policy does not allow this action."""


class InvalidSignature(AWSError):
    """AWS computed another signature: wrong secret key, or a request changed after signing.
    `python3 tools/sign_request.py ... --explain` prints what was signed."""


class ClockSkew(InvalidSignature):
    """The request's time is more than 5 minutes from AWS's: the device clock is wrong."""


class ExpiredToken(AccessDenied):
    """The session token (temporary credentials) has expired."""


class NotFound(AWSError):
    """The function, topic or endpoint does not exist (in this region, for this account)."""


class Throttled(AWSError):
    """Too many requests (HTTP 429 or a throttling error): retry later."""

    retryable = True


class PayloadTooLarge(AWSError):
    """The request body is over the service's limit (HTTP 413)."""


class BadRequest(AWSError):
    """AWS rejected the request's content (another 4xx)."""


class ServiceError(AWSError):
    """AWS failed (5xx). 500, 502, 503 and 504 are worth retrying."""

    def __init__(self, message, status=None, code=None, request_id=None):
        super().__init__(message, status, code, request_id)
        self.retryable = status in (500, 502, 503, 504)


class FunctionError(AWSError):
    """The Lambda function ran and failed. `kind` is 'Handled' or 'Unhandled'; `payload`
    is the function's error document (bytes), `error_message` its message when known."""

    def __init__(self, message, kind, payload, status=200, request_id=None, log_tail=None):
        super().__init__(message, status, kind, request_id)
        self.kind = kind
        self.payload = payload
        self.log_tail = log_tail


def preview(data, limit=200):
    """The first `limit` bytes of a reply as text, for messages and logs: a multi-byte
    character cut at the limit is dropped rather than failing the decode."""
    data = bytes(data[:limit])
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode()
        except UnicodeError:
            pass
    return repr(data)


def from_response(status, error_type, body, request_id=None):
    """Maps an AWS error reply to an AWSError subclass, keeping the server's message.
    error_type: the x-amzn-ErrorType header (or None); body: bytes (JSON or XML)."""
    from mpaws import failures  # loaded on the first failure: a device that only succeeds never holds it

    return failures.from_response(status, error_type, body, request_id)
