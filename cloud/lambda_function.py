"""The mpaws Lambda function: a device's notification -> one SNS message.

Event (the JSON the device sends with Invoke):
    {"topic": "arn:aws:sns:REGION:ACCOUNT:NAME", "subject": "...", "body": "...", "id": "..."}
"id" is optional: a message id the device adds so a receiver can drop duplicates (a
retried Invoke may run the function twice); it travels as the SNS message attribute
"mpaws-id". The function publishes only to topics listed in the environment variable
ALLOWED_TOPIC_ARNS (comma-separated ARNs): a device key must not be able to publish
anywhere else through it.

Returns {"messageId": SNS MessageId} (plus "id" when one was given). Bad input raises
InvalidMessage (a ValueError) naming the field, a topic outside the allow-list raises
TopicNotAllowed; on Lambda both reach the device as a function error carrying the
message. SNS failures propagate unchanged.

Behind API Gateway (a Lambda proxy integration, payload format 2.0 or 1.0) the event is
the request, the device's JSON its body: the answer is a proxy response (see _proxy).

Runs on the Python 3.12 Lambda runtime with only boto3 and the standard library. The SNS
client takes its region, credentials and endpoint from the standard environment
(AWS_REGION, AWS_ENDPOINT_URL_SNS, AWS_CA_BUNDLE, ...), as Lambda sets them.
"""
import base64
import json
import os
import re

import boto3

ALLOWED_TOPICS_VARIABLE = "ALLOWED_TOPIC_ARNS"
ID_ATTRIBUTE = "mpaws-id"
SUBJECT_MAX_CHARS = 100
# SNS's limit for one message; its message attributes count towards it.
MESSAGE_MAX_BYTES = 262144
ID_MAX_CHARS = 64

_REQUIRED_FIELDS = ("topic", "subject", "body")
_FIELDS = _REQUIRED_FIELDS + ("id",)
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,%d}" % ID_MAX_CHARS)

_sns = None  # created on first use, then reused by every invocation of a warm container


class InvalidMessage(ValueError):
    """The event can never be published as it is. Its text starts with the field it is
    about ("subject: ...", "body: ...", "topic: ...", "id: ...", "event: ..."): the device
    drops such a message from its outbox (mpaws.error_kinds.refusal, by this class's name and
    the field) and keeps it on any other error, a TypeError or ValueError of a broken
    deploy included."""


class TopicNotAllowed(PermissionError):
    """The topic is not in ALLOWED_TOPIC_ARNS (or that variable is not set)."""


def lambda_handler(event, context):
    if _is_proxy_event(event):
        return _proxy(event)
    return _publish(event)


def _publish(event):
    topic, subject, body, message_id = _validated(event)
    _check_allowed(topic)
    request = {"TopicArn": topic, "Subject": subject, "Message": body}
    if message_id is not None:
        request["MessageAttributes"] = {ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id}}
    reply = _sns_client().publish(**request)
    result = {"messageId": reply["MessageId"]}
    if message_id is not None:
        result["id"] = message_id
    return result


# -- behind Amazon API Gateway (a Lambda proxy integration) -------------------------------
# The device's JSON arrives as the request body of a proxy event: payload format 2.0 (HTTP
# APIs: "version": "2.0") or 1.0 (REST APIs: "httpMethod"), the body a string, base64 when
# isBase64Encoded. The answer is a proxy response: 200 with the result; a refused message
# 400 (InvalidMessage) or 403 (TopicNotAllowed) with {"errorType", "errorMessage"}, which
# the device reads as Invoke's function error (mpaws.failures). Other failures (SNS, a bug)
# raise: API Gateway answers 502, and the device keeps the message and tries again later.
_PROXY_STATUS = {"InvalidMessage": 400, "TopicNotAllowed": 403}


def _is_proxy_event(event):
    return isinstance(event, dict) and isinstance(event.get("requestContext"), dict) and (
        event.get("version") == "2.0" or "httpMethod" in event)


def _proxy_response(status, value):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(value),
            "isBase64Encoded": False}


def _proxy(event):
    try:
        body = event.get("body")
        if not isinstance(body, str) or not body:
            raise InvalidMessage("body: the request has no body (POST the JSON of topic, subject, body)")
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise InvalidMessage("body: not valid base64 of UTF-8 text") from None
        try:
            message = json.loads(body)
        except ValueError as e:
            raise InvalidMessage("body: not JSON (%s)" % e) from None
        result = _publish(message)
    except (InvalidMessage, TopicNotAllowed) as e:
        kind = type(e).__name__
        return _proxy_response(_PROXY_STATUS.get(kind, 400), {"errorType": kind, "errorMessage": str(e)})
    return _proxy_response(200, result)


def _sns_client():
    global _sns
    if _sns is None:
        _sns = boto3.client("sns")
    return _sns


def _validated(event):
    """(topic, subject, body, id or None) from the event, or InvalidMessage naming the field."""
    if not isinstance(event, dict):
        raise InvalidMessage("event: must be a JSON object with %s, not %s" % (", ".join(_REQUIRED_FIELDS),
                                                                           type(event).__name__))
    unknown = sorted(str(key) for key in event if key not in _FIELDS)
    if unknown:
        raise InvalidMessage("event: unknown field(s) %s; allowed: %s" % (", ".join(unknown), ", ".join(_FIELDS)))
    for field in _REQUIRED_FIELDS:
        if field not in event:
            raise InvalidMessage("%s: missing" % field)
        if not isinstance(event[field], str):
            raise InvalidMessage("%s: must be a string, not %s" % (field, type(event[field]).__name__))
    topic, subject, body = event["topic"], event["subject"], event["body"]

    if not _TOPIC_ARN.fullmatch(topic):
        raise InvalidMessage("topic: %r is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)" % topic[:300])

    if not 1 <= len(subject) <= SUBJECT_MAX_CHARS:
        raise InvalidMessage("subject: must be 1 to %d characters, got %d" % (SUBJECT_MAX_CHARS, len(subject)))
    bad = [c for c in subject if not " " <= c <= "~"]
    if bad:
        raise InvalidMessage("subject: SNS allows only printable ASCII (no line breaks or control characters); "
                         "found %r" % bad[0])
    if subject[0] == " ":
        raise InvalidMessage("subject: SNS requires it to begin with a letter, digit or punctuation mark, not a space")

    message_id = event.get("id")
    if message_id is not None:
        if not isinstance(message_id, str):
            raise InvalidMessage("id: must be a string, not %s" % type(message_id).__name__)
        if not _MESSAGE_ID.fullmatch(message_id):
            raise InvalidMessage("id: must be 1 to %d characters of A-Z a-z 0-9 . _ : -" % ID_MAX_CHARS)

    if not body:
        raise InvalidMessage("body: is empty (SNS needs a message)")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidMessage("body: is not valid Unicode text (it holds a lone surrogate)") from None
    if message_id is not None:
        size += len(ID_ATTRIBUTE) + len("String") + len(message_id)
    if size > MESSAGE_MAX_BYTES:
        raise InvalidMessage("body: %d bytes in UTF-8%s, SNS allows at most %d" % (
            size, " (with the id attribute)" if message_id is not None else "", MESSAGE_MAX_BYTES))
    return topic, subject, body, message_id


def _check_allowed(topic):
    allowed = [arn.strip() for arn in os.environ.get(ALLOWED_TOPICS_VARIABLE, "").split(",") if arn.strip()]
    if not allowed:
        raise TopicNotAllowed("%s is not set on the function: it refuses every topic until the variable lists the "
                              "topic ARNs devices may publish to (comma-separated)" % ALLOWED_TOPICS_VARIABLE)
    if topic not in allowed:
        raise TopicNotAllowed("topic %s is not in the function's allow-list (environment variable %s)"
                              % (topic, ALLOWED_TOPICS_VARIABLE))
