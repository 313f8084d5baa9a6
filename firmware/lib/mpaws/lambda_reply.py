# What a Lambda Invoke's reply says (mpaws.awslambda.Lambda.invoke() and a notification's
# Invoke, which app sends on the session's Lambda client): the InvokeResult, or the
# function's error. app loads this module for the reply only and lets go of it after: the
# request is signed and sent without it, and a result the caller keeps holds only this
# small module's code.
import json


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


def invoked(function, response):
    """What the 2xx reply (an http.Response) to an Invoke of function says: its
    InvokeResult; raises errors.FunctionError when the function failed."""
    tail = response.header("x-amz-log-result") or None  # asked for with log_tail=True
    if tail is not None:
        from mpaws import lambda_options

        tail = lambda_options.log_tail(tail)
    kind = response.header("x-amz-function-error")
    request_id = response.header("x-amzn-requestid")
    if kind:  # the function failed: its error, made where the failure path's code lives
        from mpaws import failures

        raise failures.function_error(function, kind, response, request_id, tail)
    return InvokeResult(response.status, bytes(response.body), response.header("x-amz-executed-version"), tail,
                        request_id)
