# Amazon SNS Publish, straight from the device (no Lambda in between): a form-encoded
# POST / with Action=Publish, answered in XML.
import sys

from mpaws import sigv4

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

MAX_SUBJECT = 100  # characters, SNS's limit for e-mail subjects
# Bytes of one message, SNS's limit; its message attributes (names, types, values) count too.
MAX_MESSAGE_BYTES = 262144

# What SNS would refuse, by number: the texts are mpaws.failures.SNS_REFUSALS, loaded for a
# refused message only (const(): numbers in the bytecode, not names in the heap).
_NO_BODY = const(0)
_SUBJECT_LENGTH = const(1)
_SUBJECT_NOT_PRINTABLE = const(2)
_SUBJECT_SPACE = const(3)
_BODY_TOO_LARGE = const(4)
_TOO_LARGE_WITH_ATTRIBUTES = const(5)
_NOT_A_TOPIC = const(6)


# The UTF-8 bytes of a str, to measure and slice: MicroPython's memoryview of a str is its
# UTF-8, in place (an encoded copy of a message near the limit would take 256 KB of the
# board's heap); CPython encodes a copy.
_utf8 = memoryview if sys.implementation.name == "micropython" else str.encode


def _utf8_size(text):
    return len(_utf8(text))


def _refused(number, *values):
    # The ValueError for refusal `number`: its text, from mpaws.failures, loaded for it and
    # let go of after (a message refused before it is stored fails nothing else).
    from mpaws import failures, transient

    try:
        return ValueError(failures.SNS_REFUSALS[number] % values)
    finally:
        transient.forget("failures")


def check(message, subject=None, attributes=None):
    """Raises ValueError, naming the field, unless SNS can accept the message: a non-empty
    body of at most 256 KB in UTF-8 (with its attributes), and a subject of 1 to 100
    printable ASCII characters that does not begin with a space."""
    if not isinstance(message, str) or not message:
        raise _refused(_NO_BODY)
    if subject is not None:
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT:
            raise _refused(_SUBJECT_LENGTH, MAX_SUBJECT)
        odd = subject.strip(sigv4.PRINTABLE)  # from the first character that is not printable ASCII
        if odd:
            raise _refused(_SUBJECT_NOT_PRINTABLE, odd[:1])
        if subject.startswith(" "):
            raise _refused(_SUBJECT_SPACE)
    room = MAX_MESSAGE_BYTES
    for name, value in attributes or ():
        room -= _utf8_size(name) + len("String") + _utf8_size(value)
    if _utf8_size(message) > room:
        raise _refused(_TOO_LARGE_WITH_ATTRIBUTES if attributes else _BODY_TOO_LARGE, MAX_MESSAGE_BYTES)


_HEX = b"0123456789ABCDEF"
_CHUNK = 96  # bytes of %XX in one piece


def _form_value(text):
    # text percent-encoded as sigv4.uri_encode does (RFC 3986, valid form encoding), in
    # pieces: runs of unreserved bytes as slices of its UTF-8 (memoryviews on MicroPython:
    # no copy), the other bytes as %XX in small chunks. Its bytes are scanned as small ints:
    # iterating the str would make, and intern for good, a string per character.
    data = _utf8(text)
    clean = i = 0  # clean: where the pending run of unreserved bytes starts
    escaped = None  # %XX of the pending run of other bytes
    for b in data:
        if 97 <= b <= 122 or 65 <= b <= 90 or 48 <= b <= 57 or b == 45 or b == 46 or b == 95 or b == 126:
            if escaped is not None:
                yield escaped
                escaped = None
                clean = i
        else:
            if escaped is None:
                if clean < i:
                    yield data[clean:i]
                escaped = bytearray()
            elif len(escaped) >= _CHUNK:
                yield escaped
                escaped = bytearray()
            escaped.append(37)  # %
            escaped.append(_HEX[b >> 4])
            escaped.append(_HEX[b & 15])
        i += 1
    if escaped is not None:
        yield escaped
    elif clean == 0:
        yield text  # nothing encoded: the str itself
    elif clean < i:
        yield data[clean:]


class _Form:
    """The form-encoded body of a Publish request as pieces, made anew each time it is
    iterated: measured, hashed and sent piece by piece, never a copy of the message."""

    def __init__(self, fields):
        self.fields = fields  # (name, value) pairs; names need no encoding

    def __iter__(self):
        yield "Action=Publish&Version=2010-03-31"
        for name, value in self.fields:
            yield "&"
            yield name
            yield "="
            yield from _form_value(value)


def publish(client, topic_arn, message, subject=None, attributes=None):
    """Publishes message (str) to an SNS topic through an mpaws.client.Client for service
    'sns'. attributes: optional (name, string value) pairs sent as String message
    attributes. Raises ValueError for what SNS would refuse (see check()). Returns the
    MessageId."""
    if not isinstance(topic_arn, str) or not topic_arn.startswith("arn:") or ":sns:" not in topic_arn:
        raise _refused(_NOT_A_TOPIC)
    check(message, subject, attributes)
    fields = [("TopicArn", topic_arn), ("Message", message)]
    if subject is not None:
        fields.append(("Subject", subject))
    for i, (name, value) in enumerate(attributes or ()):
        prefix = "MessageAttributes.entry.%d." % (i + 1)
        fields.append((prefix + "Name", name))
        fields.append((prefix + "Value.DataType", "String"))
        fields.append((prefix + "Value.StringValue", value))
    response = client.request("POST", "/", None, (("content-type", "application/x-www-form-urlencoded"),),
                              _Form(fields))
    # Found in the reply's bytes, and only the id decoded: a text copy of the whole XML would be
    # two more copies of it in the heap while the reply is held.
    body = response.body
    start = body.find(b"<MessageId>")
    end = body.find(b"</MessageId>")
    return bytes(body[start + 11 : end]).decode() if 0 <= start < end else None
