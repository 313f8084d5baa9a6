# What can go wrong talking to AWS, as a small set of exceptions a device can act on.
# The base classes are here; the specific ones (errors.Throttled, errors.ClockSkew, ...)
# in mpaws.error_kinds, reached through this module.
#
# Every failure is an AWSError. `retryable` says whether the client sends the same request
# again at once (throttling, 5xx, a dropped connection); `status`, `code`, `message` and
# `request_id` carry what AWS said, for the log line and for AWS support. Whether a
# message can ever be sent, or is refused for good and leaves the outbox, is decided in
# one place: errors.refusal(e) (in mpaws.error_kinds).


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


def __getattr__(name):
    # The specific exceptions (DNSError, Timeout, TLSError, ProtocolError, ResponseTooLarge,
    # AccessDenied, InvalidSignature, ClockSkew, ExpiredToken, NotFound, Throttled,
    # PayloadTooLarge, BadRequest, ServiceError, FunctionError) and refusal() are in
    # mpaws.error_kinds, loaded on the first failure or `except`: 15 classes are ~4 KB of
    # heap a device that only succeeds does without.
    if name[0] == "_":
        raise AttributeError(name)
    from mpaws import error_kinds

    value = getattr(error_kinds, name)
    globals()[name] = value  # found directly from now on
    return value


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
