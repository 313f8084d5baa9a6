# What can go wrong talking to AWS, as a small set of exceptions a device can act on.
# The base class is in mpaws.error_base (with OutOfMemory), the others (errors.ConfigError,
# errors.NetworkError, errors.Throttled, ...) in mpaws.error_kinds; both are reached
# through this module.
#
# Every failure is an AWSError. `retryable` says whether the client sends the same request
# again at once (throttling, 5xx, a dropped connection, a malformed reply); `status`,
# `code`, `message` and `request_id` carry what AWS said, for the log line and for AWS
# support. Whether a message can ever be sent, or is refused for good and leaves the
# outbox, is decided in one place: errors.refusal(e) (in mpaws.error_kinds).
#
# Imports point one way: errors -> error_kinds -> error_base. An AWS error reply becomes an
# exception in mpaws.failures (failures.from_response), which builds on this module.
from mpaws.error_base import AWSError, OutOfMemory, preview  # noqa: F401


def __getattr__(name):
    # The other exceptions (ConfigError; NetworkError and its DNSError, Timeout, TLSError,
    # ProtocolError; ResponseTooLarge, OutboxError, InvalidMessage, AccessDenied,
    # InvalidSignature, ClockSkew, ExpiredToken, NotFound, Throttled, PayloadTooLarge,
    # BadRequest, ServiceError, FunctionError) and refusal() are in mpaws.error_kinds,
    # loaded on the first failure or `except` naming one: ~5 KB of heap a device that only
    # succeeds does without.
    if name.startswith("_"):
        raise AttributeError(name)
    import gc

    gc.collect()  # loaded on a failure: into the holes its garbage leaves
    from mpaws import error_kinds

    value = getattr(error_kinds, name)
    globals()[name] = value  # found directly from now on
    return value
