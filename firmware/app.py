# The device application's entry points, as called from the REPL or main.py:
#
#     mpremote exec "import app; app.notify('subject', 'body')"
#
# notify() sends the seed's JSON payload {"topic": ..., "subject": ..., "body": ...} to the
# configured Lambda function, which publishes it to the SNS topic.
from mpaws import awslambda, client, errors, settings

_settings = None
_lambda = None


def log(message):
    print(message)


def config():
    """The validated configuration (loaded once)."""
    global _settings
    if _settings is None:
        _settings = settings.load()
    return _settings


def _function():
    # One client for the whole session: its TLS connection is kept alive between notifies.
    global _lambda
    if _lambda is None:
        s = config()
        _lambda = awslambda.Lambda(
            client.connect("lambda", s.region, s.access_key, s.secret_key, s.host, s.port, s.session_token, s.ca,
                           s.verify_tls, s.timeout, log=log))
    return _lambda


def payload(subject, body):
    """The seed's payload as pieces (hashed and sent without being joined)."""
    return awslambda.json_object((("topic", config().topic_arn), ("subject", subject), ("body", body)))


def notify(subject, body):
    """Sends a notification through the Lambda function; returns its InvokeResult.
    Raises errors.ConfigError for a bad config.py, errors.FunctionError when the function
    failed, and another errors.AWSError when AWS could not be reached or said no."""
    if not isinstance(subject, str) or not isinstance(body, str):
        raise ValueError("subject and body must be strings")
    s = config()
    try:
        result = _function().invoke(s.function, payload(subject, body))
    except errors.AWSError as e:
        log("mpaws: notify failed: %s: %s" % (type(e).__name__, e))
        raise
    log("mpaws: notified (%d): %s" % (result.status, errors.preview(result.payload)))
    return result


def reset():
    """Forgets the loaded config and closes the connection (after editing config.py)."""
    global _settings, _lambda
    if _lambda is not None:
        _lambda.client.close()
    _settings = None
    _lambda = None
