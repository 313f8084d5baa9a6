# AWS Lambda Invoke: POST /2015-03-31/functions/{FunctionName}/invocations
#
# The function name goes into the path URI-encoded, so an ARN's ':' is sent as '%3A'
# (and, by the signer, signed as '%253A': every service but S3 encodes the path twice).
import binascii
import json

from mpaws import sigv4
from mpaws.json_pieces import JsonPieces, json_object, json_string  # noqa: F401 -- as before, here too

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_INVOCATION_TYPES = const(("RequestResponse", "Event", "DryRun"))
_MAX_CLIENT_CONTEXT = const(3583)  # bytes of base64, Lambda's limit


def check_function(function):
    """Raises ValueError unless function is a name (1-64 of A-Z a-z 0-9 - _), name:qualifier,
    or a function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])."""
    # The rules and their messages are mpaws.function_name's, loaded for a check and
    # forgotten after it: a device checks its one function once, they are not held.
    from mpaws import function_name, transient

    try:
        function_name.check(function)
    finally:
        transient.forget("function_name")


def invocation_path(function):
    return "/2015-03-31/functions/" + sigv4.uri_encode(function) + "/invocations"


class InvokeResult:
    """What Invoke returned: status (200, 202 for Event, 204 for DryRun), payload (bytes),
    executed_version, log_tail (text, with log_tail=True), request_id."""

    def __init__(self, status, payload, executed_version, log_tail, request_id):
        self.status = status
        self.payload = payload
        self.executed_version = executed_version
        self.log_tail = log_tail
        self.request_id = request_id

    def json(self):
        """The payload decoded as JSON (None when empty)."""
        return json.loads(self.payload) if self.payload else None

    def __repr__(self):
        return "<InvokeResult %d, %d bytes, version %s>" % (self.status, len(self.payload), self.executed_version)


def _log_tail(response):
    encoded = response.header("x-amz-log-result")
    if not encoded:
        return None
    try:
        return binascii.a2b_base64(encoded).decode()
    except (ValueError, UnicodeError):
        return None


class Lambda:
    """Invokes Lambda functions through an mpaws.client.Client for service 'lambda'."""

    def __init__(self, client, checked=None):
        self.client = client
        # The last function name check_function() passed: the config's (checked when it
        # was loaded), then the last one invoke() checked.
        self._checked = checked

    def invoke(self, function, payload=None, qualifier=None, invocation_type="RequestResponse", log_tail=False,
               client_context=None):
        """Invokes a function. payload: JSON as bytes, str or pieces (a list, or json_object()).
        Returns an InvokeResult; a function that failed raises errors.FunctionError with
        its error payload; AWS errors raise the matching errors.AWSError."""
        if function != self._checked:
            check_function(function)
            self._checked = function
        if invocation_type not in _INVOCATION_TYPES:
            raise ValueError("invocation_type must be one of %s" % (_INVOCATION_TYPES,))
        headers = [("content-type", "application/json")]
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
        query = (("Qualifier", qualifier),) if qualifier else None
        response = self.client.request("POST", invocation_path(function), query, headers,
                                       payload if payload is not None else "")
        tail = _log_tail(response)
        kind = response.header("x-amz-function-error")
        request_id = response.header("x-amzn-requestid")
        if kind:  # the function failed: its error, made where the failure path's code lives
            from mpaws import failures

            raise failures.function_error(function, kind, response, request_id, tail)
        return InvokeResult(response.status, bytes(response.body), response.header("x-amz-executed-version"), tail,
                            request_id)
