# The session's client for the configured mode, made on the first send and kept by the
# application (app._lambda, app._sns or app._api) with its TLS connection: Lambda's,
# direct SNS's, or API Gateway's (signed for execute-api, or with the API key); signing
# with the fixed keys or with certificate auth's temporary credentials (app._temporary).
# Loaded to make it (or to close it: app.reset()) and forgotten after (app._call): its code
# is not held through the TLS handshake. `app` is the application module (app.py), passed in.
import gc

from mpaws import client


def start(app):
    """Makes the session's client for config.py's mode; returns it."""
    s = app.config()
    if s.api_url:
        app._api = _gateway(app, s)
        return app._api
    if s.function:
        return function(app)
    app._sns = _connect(app, s, "sns")
    return app._sns


def function(app):
    """The session's Lambda client (an mpaws.client.Client), made once, and the path of the
    config's function's Invoke (settings.function_path): app sends a notification's Invoke
    as awslambda.Lambda.invoke() does, and loads mpaws.lambda_reply for its reply only."""
    if app._lambda is None:
        s = app.config()
        app._lambda = _connect(app, s, "lambda")
        from mpaws import awslambda, transient

        s.function_path = awslambda.invocation_path(s.function)
        transient.forget("awslambda", "lambda_reply")  # the reply's code loads for each reply
    return app._lambda


def credentials(app):
    """Certificate auth (CONFIG_AWS_THING_NAME set): the session's temporary credentials
    (mpaws.credentials), shared by its clients, made once (not fetched here); None with
    static keys."""
    s = app.config()
    if app._temporary is None and s.thing_name is not None:
        from mpaws import credentials

        endpoint = s.credentials_endpoint  # on port 443, the credentials' host is this str, not a copy
        if s.credentials_port != 443:
            endpoint = "%s:%d" % (endpoint, s.credentials_port)
        app._temporary = credentials.CertificateCredentials(endpoint, s.role_alias, s.thing_name, s.tls_cert,
                                                            s.tls_key, s.ca, s.verify_tls, s.timeout, app.log)
    return app._temporary


def _connect(app, s, service):
    gc.collect()  # the outbox recovery's garbage first: the session's client fills its holes
    return client.connect(service, s.region, s.access_key, s.secret_key, s.host, s.port, s.session_token, s.ca,
                          s.verify_tls, s.timeout, log=app.log, credentials=credentials(app))


def _gateway(app, s):
    # API Gateway mode: the URL was taken apart by the config check. No mpaws.apigateway
    # (its Api wrapper and URL parsing) in the heap: the request is the client's, as for SNS.
    if s.api_key:
        from mpaws import api_key

        signer = api_key.KeyAuth(s.api_key)
    elif credentials(app) is not None:  # certificate auth: temporary credentials for execute-api
        signer = (app._temporary, s.region, "execute-api")  # fetched by client.open_client
    else:
        from mpaws import sigv4

        signer = sigv4.Signer(s.access_key, s.secret_key, s.region, "execute-api", session_token=s.session_token)
    return client.open_client(signer, s.api_host, s.api_port, s.ca, s.verify_tls, s.timeout, log=app.log)


def reset(app):
    """app.reset(): see its docstring."""
    if app._api is not None:
        app._api.close()
    if app._lambda is not None:
        app._lambda.close()
    if app._sns is not None:
        app._sns.close()
    app._settings = app._lambda = app._sns = app._outbox = app._last = app._temporary = app._api = None
