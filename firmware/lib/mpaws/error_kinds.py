# The specific failures, as subclasses of mpaws.errors.AWSError and NetworkError: what
# went wrong and whether a retry can help. Reached as errors.<Name> (errors.Throttled,
# errors.ClockSkew, ...), which loads this module on first use: a device whose requests
# succeed never holds these classes in its heap.
from mpaws.errors import AWSError, NetworkError


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
