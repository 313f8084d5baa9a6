# What a failed fetch of temporary credentials (mpaws.credentials_fetch) tells the user:
# the endpoint's error reply with what to check for its status, a device certificate
# refused in the TLS handshake. Loaded on a failure only: a device whose fetches succeed
# never holds this code or its names.
from mpaws import errors


def error(credentials, response, failure=None):
    """The errors.AWSError for a fetch that failed: response, the endpoint's reply of
    status 300 or more (or None), or failure, the errors.AWSError of the request."""
    if response is None:
        return _refused_in_handshake(credentials, failure)
    # The endpoint's error reply, with what to check for the status it gave; AWS's words
    # kept. Not API Gateway's hints (failures.from_response(gateway=False)): this is the
    # AWS IoT credentials provider, or another endpoint CONFIG_AWS_CREDENTIALS_ENDPOINT
    # names by mistake.
    from mpaws import failures

    status = response.status
    e = failures.from_response(status, response.header("x-amzn-errortype"), response.body,
                               response.header("x-amzn-requestid"), gateway=False)
    where = "credentials endpoint %s (CONFIG_AWS_CREDENTIALS_ENDPOINT)" % credentials.host
    if response.body and b"ecretAccessKey" in response.body:  # credentials in a refusal: never quoted
        e.message = "a reply holding credentials (not shown)"
    if status in (401, 403):
        e.message = "%s refused the certificate for role alias %r, thing %r: %s (is the certificate ACTIVE in AWS " \
                    "IoT, attached to thing CONFIG_AWS_THING_NAME, and does its policy allow " \
                    "iot:AssumeRoleWithCertificate on the role alias?)" % (where, credentials.role_alias,
                                                                           credentials.thing_name, e.message)
    elif status == 404:
        e.message = "%s has no role alias %r: %s (check CONFIG_AWS_ROLE_ALIAS, and that the endpoint is the " \
                    "account's iot:CredentialProvider one)" % (where, credentials.role_alias, e.message)
    elif status >= 500:
        e.message = "%s failed: %s (AWS IoT's credentials provider; tried again later)" % (where, e.message)
    else:
        e.message = "%s answered HTTP %d: %s (is it the account's credentials endpoint? `aws iot describe-endpoint " \
                    "--endpoint-type iot:CredentialProvider`)" % (where, status, e.message)
    return e


def _refused_in_handshake(credentials, e):
    # A handshake that failed after our side trusted the server (a TLS alert, or the
    # connection cut, as mbedTLS sees the alert): the server refused our certificate.
    handshake = type(e).__name__ == "TLSError" or "during the TLS handshake" in e.message
    from mpaws import network_errors

    if handshake and not ("verify failed" in e.message or network_errors.TLS_HINT_NOT_TRUSTED in e.message):
        return errors.AccessDenied("credentials endpoint %s:%d refused the device certificate in the TLS "
                                   "handshake: %s (is CONFIG_TLS_CERT registered with AWS IoT and ACTIVE, and "
                                   "CONFIG_TLS_KEY its key?)" % (credentials.host, credentials.port, e.message))
    return e
