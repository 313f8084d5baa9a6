# Amazon SNS Publish, straight from the device (no Lambda in between): a form-encoded
# POST / with Action=Publish, answered in XML.
from mpaws import sigv4

MAX_SUBJECT = 100  # characters, SNS's limit for e-mail subjects
# Bytes of one message, SNS's limit; its message attributes (names, types, values) count too.
MAX_MESSAGE_BYTES = 262144


def _utf8_size(text):
    # Encoded a piece at a time: an encoded copy of a message near the limit would take
    # 256 KB of the board's heap, and a loop over its characters would intern each one.
    size = 0
    for i in range(0, len(text), 512):
        size += len(text[i : i + 512].encode())
    return size


def _too_large(text, room):
    # A character is 1 to 4 bytes: only a text between a quarter of the room and the room
    # needs counting.
    return len(text) > room or (len(text) * 4 > room and _utf8_size(text) > room)


def check(message, subject=None, attributes=None):
    """Raises ValueError, naming the field, unless SNS can accept the message: a non-empty
    body of at most 256 KB in UTF-8 (with its attributes), and a subject of 1 to 100
    printable ASCII characters that does not begin with a space."""
    if not isinstance(message, str) or not message:
        raise ValueError("body: must be a non-empty string (SNS needs a message)")
    if subject is not None:
        if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT:
            raise ValueError("subject: must be a string of 1 to %d characters" % MAX_SUBJECT)
        odd = subject.strip(sigv4.PRINTABLE)  # from the first character that is not printable ASCII
        if odd:
            raise ValueError("subject: SNS allows only printable ASCII (no line breaks, no accents); found %r"
                             % odd[0])
        if subject.startswith(" "):
            raise ValueError("subject: SNS requires it to begin with a letter, digit or punctuation mark, not a "
                             "space")
    room = MAX_MESSAGE_BYTES
    for name, value in attributes or ():
        room -= _utf8_size(name) + len("String") + _utf8_size(value)
    if _too_large(message, room):
        raise ValueError("body: too large for SNS, which takes at most %d bytes in UTF-8%s"
                         % (MAX_MESSAGE_BYTES, " with the message attributes" if attributes else ""))


def _form(pieces, key, value):
    # Form fields as pieces: RFC 3986 encoding is valid form encoding.
    pieces.append("&")
    pieces.append(key)
    pieces.append("=")
    pieces.append(sigv4.uri_encode(value))


def publish(client, topic_arn, message, subject=None, attributes=None):
    """Publishes message (str) to an SNS topic through an mpaws.client.Client for service
    'sns'. attributes: optional (name, string value) pairs sent as String message
    attributes. Raises ValueError for what SNS would refuse (see check()). Returns the
    MessageId."""
    if not isinstance(topic_arn, str) or not topic_arn.startswith("arn:") or ":sns:" not in topic_arn:
        raise ValueError("topic_arn must be an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME")
    check(message, subject, attributes)
    pieces = ["Action=Publish&Version=2010-03-31"]
    _form(pieces, "TopicArn", topic_arn)
    _form(pieces, "Message", message)
    if subject is not None:
        _form(pieces, "Subject", subject)
    for i, (name, value) in enumerate(attributes or ()):
        prefix = "MessageAttributes.entry.%d." % (i + 1)
        _form(pieces, prefix + "Name", name)
        _form(pieces, prefix + "Value.DataType", "String")
        _form(pieces, prefix + "Value.StringValue", value)
    response = client.request("POST", "/", None, (("content-type", "application/x-www-form-urlencoded"),), pieces)
    text = bytes(response.body).decode()
    start = text.find("<MessageId>")
    end = text.find("</MessageId>")
    return text[start + 11 : end] if 0 <= start < end else None
