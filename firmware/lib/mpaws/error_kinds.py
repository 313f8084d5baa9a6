# The failures, as subclasses of mpaws.errors.AWSError: what went wrong and whether a
# retry can help. Reached as errors.<Name> (errors.ConfigError, errors.NetworkError,
# errors.Throttled, errors.ClockSkew, ...), which loads this module on first use: a device
# whose requests succeed never holds these classes in its heap.
from mpaws.error_base import AWSError, OutOfMemory  # noqa: F401 (errors.OutOfMemory)


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
    """The server's reply was not valid HTTP/1.1 (or not what AWS sends): a proxy, a
    broken link or a hostile server. The request may have reached AWS: retried, and a
    message stays in the outbox."""


class ResponseTooLarge(AWSError):
    """The reply body was larger than the limit (the configured one, or what the free heap
    can hold)."""


class OutboxError(AWSError):
    """The outbox file could not be read or written (flash full, read-only, broken)."""


class InvalidMessage(AWSError):
    """The device's own check of a message (SNS's rules, the outbox's size limit) refused
    it before it was stored: it could never be sent as it is."""


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
    is the function's error document (bytes), `error_type` and `error_message` its
    errorType and errorMessage when known."""

    def __init__(self, message, kind, payload, status=200, request_id=None, log_tail=None, error_type=None,
                 error_message=None):
        super().__init__(message, status, kind, request_id)
        self.kind = kind
        self.payload = payload
        self.log_tail = log_tail
        self.error_type = error_type
        self.error_message = error_message


# What the function raises for a message it can never publish: cloud/lambda_function.py
# checks the event and raises its InvalidMessage (a ValueError) whose text starts with the
# field: "subject: ...", "body: ...", "topic: ...", "id: ...", "event: ...". Only those
# refuse a message: any other error (a TypeError or ValueError of a broken deploy or of a
# library, TopicNotAllowed: a topic outside its allow-list, SNS failures, a timeout) is
# about the function, its configuration or AWS, and may pass later.
# host_tests/test_lambda_function.py checks that the function and this rule agree.
CONTENT_ERROR_TYPE = "InvalidMessage"
CONTENT_FIELDS = ("subject", "body", "topic", "id", "event")
# 4xx codes by which AWS refuses a message's content: Lambda's body that is no JSON, SNS's
# invalid parameter (a subject, a message) or failed validation. A code naming the topic
# is about the configuration (a wrong ARN, a FIFO topic), not the message.
CONTENT_ERROR_CODES = ("InvalidRequestContentException", "InvalidParameter", "InvalidParameterValue",
                       "ValidationError")


def refusal(e):
    """Why the message whose sending raised e (an AWSError: InvalidMessage is the device's
    own check of the message) can never be sent as it is, as text for the log ("refused by
    the function: InvalidMessage: subject: ..."), or None when sending it again later may
    succeed. The one place that decides what leaves the outbox unsent.

    Refused for good: the function rejected the message's content (a function error whose
    errorType is CONTENT_ERROR_TYPE and whose text starts with one of CONTENT_FIELDS), AWS
    found the request too large (413), or AWS refused the message's content (400
    InvalidRequestContentException, InvalidParameter, InvalidParameterValue,
    ValidationError, unless about the topic). Everything else waits
    in the outbox: no network (DNS, TLS, timeouts), throttling (429), AWS failures (5xx),
    the clock, and what the user fixes in config.py or in AWS (a wrong or expired key,
    access denied, a function or topic not found, a topic the function does not allow), a
    malformed reply, too little memory, an outbox that cannot be written, anything that is
    not an AWSError, and whatever the credentials endpoint answered (e.endpoint ==
    "credentials", mpaws.credentials_fetch): the message never reached AWS."""
    if getattr(e, "endpoint", None) == "credentials":
        return None
    if isinstance(e, InvalidMessage):
        return "refused before sending: %s" % e.message
    if isinstance(e, FunctionError):
        field, colon, _ = (e.error_message or "").partition(":")
        if e.error_type == CONTENT_ERROR_TYPE and colon and field in CONTENT_FIELDS:
            return "refused by the function: %s: %s" % (e.error_type, e.error_message)
        return None
    if isinstance(e, PayloadTooLarge) or (isinstance(e, BadRequest) and e.code in CONTENT_ERROR_CODES
                                          and "topic" not in e.message.lower()):
        return "refused by AWS: %s" % e
    return None
