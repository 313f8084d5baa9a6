# Amazon SNS Publish, straight from the device (no Lambda in between): a form-encoded
# POST / with Action=Publish, answered in XML.
from mpaws import sigv4

MAX_SUBJECT = 100  # characters, SNS's limit for e-mail subjects


def _form(pieces, key, value):
    # Form fields as pieces: RFC 3986 encoding is valid form encoding.
    pieces.append("&")
    pieces.append(key)
    pieces.append("=")
    pieces.append(sigv4.uri_encode(value))


def publish(client, topic_arn, message, subject=None, attributes=None):
    """Publishes message (str) to an SNS topic through an mpaws.client.Client for service
    'sns'. attributes: optional (name, string value) pairs sent as String message
    attributes. Returns the MessageId."""
    if not isinstance(topic_arn, str) or not topic_arn.startswith("arn:") or ":sns:" not in topic_arn:
        raise ValueError("topic_arn must be an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME")
    if not isinstance(message, str) or not message:
        raise ValueError("message must be a non-empty string")
    pieces = ["Action=Publish&Version=2010-03-31"]
    _form(pieces, "TopicArn", topic_arn)
    _form(pieces, "Message", message)
    if subject is not None:
        if not subject or len(subject) > MAX_SUBJECT or not all(" " <= c <= "~" for c in subject):
            raise ValueError("subject: 1 to %d printable ASCII characters" % MAX_SUBJECT)
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
