# API Gateway's own error replies (mpaws.apigateway's endpoints): a route's failures that
# API Gateway answers itself, with a JSON body {"message": "..."} whose few texts are fixed.
# They mean something else than the same status from a service, so each gets a message
# that says what to check. Loaded by mpaws.failures for an API Gateway endpoint's error
# reply only, and let go of after it: a Lambda or SNS device never holds these texts.
from mpaws import errors

HINTS = {
    "Missing Authentication Token": (
        "NotFound", "no such route: check the stage and the path in CONFIG_AWS_API_URL (a REST API answers "
        "this for a path or stage it does not have, and for an unsigned request to an IAM route)"),
    "Forbidden": (
        "AccessDenied", "the route refused the request: check CONFIG_AWS_API_KEY (the key, enabled, in a usage "
        "plan of this stage) or, with IAM, that the key may execute-api:Invoke this route"),
    "Not Found": (
        "NotFound", "no such route: check the stage and the path in CONFIG_AWS_API_URL"),
    "Unauthorized": (
        "AccessDenied", "the route's authorizer refused the request: check the credentials it expects"),
    "Too Many Requests": (
        "Throttled", "the API's rate limit (stage, route or usage plan throttling) was reached: send less often "
        "or raise the limit"),
    "Limit Exceeded": (
        "Throttled", "the usage plan's quota for this API key is spent: wait for the next period or raise the "
        "quota"),
    "Internal server error": (
        "ServiceError", "the integration behind the route failed (the function raised, timed out or returned no "
        "proxy response): check the function's logs"),
    "Internal Server Error": (
        "ServiceError", "the integration behind the route failed (the function raised, timed out or returned no "
        "proxy response): check the function's logs"),
    "Endpoint request timed out": (
        "ServiceError", "the integration did not answer within API Gateway's 29 s: check the function's "
        "duration"),
}


def error(status, code, message, request_id):
    """The AWSError of API Gateway's own reply whose message is one of HINTS, or None."""
    hint = HINTS.get(message)
    if hint is None:
        return None
    kind = hint[0]
    if kind == "ServiceError" and status < 500 or kind == "Throttled" and status != 429:
        return None
    return getattr(errors, kind)("API Gateway: %s: %s" % (message, hint[1]), status, code, request_id)
