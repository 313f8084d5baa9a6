# AWS Lambda Invoke: POST /2015-03-31/functions/{FunctionName}/invocations
#
# The function name goes into the path URI-encoded, so an ARN's ':' is sent as '%3A'
# (and, by the signer, signed as '%253A': every service but S3 encodes the path twice).
from mpaws import sigv4
from mpaws.json_pieces import JsonPieces, json_object, json_string  # noqa: F401 -- as before, here too
from mpaws.lambda_reply import InvokeResult, invoked  # noqa: F401 -- InvokeResult: as before, here too


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
        headers = [("content-type", "application/json")]
        query = None
        if qualifier or invocation_type != "RequestResponse" or log_tail or client_context is not None:
            from mpaws import lambda_options  # a plain invoke, a notify's, holds none of their code

            query = lambda_options.add(headers, qualifier, invocation_type, log_tail, client_context)
        return invoked(function, self.client.request("POST", invocation_path(function), query, headers,
                                                     payload if payload is not None else ""))
