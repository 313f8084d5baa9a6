# Lambda Invoke's options that a device's notify does not use: a qualifier (version or
# alias), another invocation type (Event, DryRun), the log tail, a client context. Loaded by
# mpaws.awslambda for the first call that uses one.
import binascii
import json

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_INVOCATION_TYPES = const(("RequestResponse", "Event", "DryRun"))
_MAX_CLIENT_CONTEXT = const(3583)  # bytes of base64, Lambda's limit


def add(headers, qualifier, invocation_type, log_tail, client_context):
    """Adds the options' headers to headers (a list); returns the query (None without a
    qualifier). Raises ValueError for an invocation type or a client context Lambda
    refuses."""
    if invocation_type not in _INVOCATION_TYPES:
        raise ValueError("invocation_type must be one of %s" % (_INVOCATION_TYPES,))
    if invocation_type != "RequestResponse":
        headers.append(("x-amz-invocation-type", invocation_type))
    if log_tail:
        headers.append(("x-amz-log-type", "Tail"))
    if client_context is not None:
        text = client_context if isinstance(client_context, str) else json.dumps(client_context)
        encoded = binascii.b2a_base64(text.encode()).decode().strip()
        if len(encoded) > _MAX_CLIENT_CONTEXT:
            raise ValueError("client_context is %d bytes as base64, over Lambda's %d" % (len(encoded),
                                                                                         _MAX_CLIENT_CONTEXT))
        headers.append(("x-amz-client-context", encoded))
    return (("Qualifier", qualifier),) if qualifier else None


def log_tail(encoded):
    """The text of an X-Amz-Log-Result header (base64), or None when it is not readable."""
    try:
        return binascii.a2b_base64(encoded).decode()
    except (ValueError, UnicodeError):
        return None
