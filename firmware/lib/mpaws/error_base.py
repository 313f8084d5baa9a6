# The base exception of mpaws, AWSError, and OutOfMemory, apart from everything else so
# that mpaws.errors and mpaws.error_kinds both build on them without importing each other.
# Reached as errors.AWSError and errors.OutOfMemory. The other kinds, ConfigError and
# NetworkError included, are mpaws.error_kinds': a notify that succeeds holds none of them.


class AWSError(Exception):
    retryable = False
    endpoint = None  # "credentials": the credentials endpoint's, no message reached AWS (errors.refusal)

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


class OutOfMemory(AWSError):
    """Too little free heap for this step (a MemoryError inside mpaws). A message stays in
    the outbox; free RAM (fewer modules, smaller buffers) or send smaller messages. Here,
    not with the other kinds: it must be at hand when loading those takes too much heap."""


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
