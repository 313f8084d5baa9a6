# Which credentials config.py gives, checked into a settings.Settings: static keys
# (CONFIG_AWS_ACCESS_KEY, CONFIG_AWS_SECRET_KEY) or a device certificate for the AWS IoT
# credentials provider (mpaws.credentials: CONFIG_AWS_CREDENTIALS_ENDPOINT,
# CONFIG_AWS_ROLE_ALIAS, CONFIG_AWS_THING_NAME, CONFIG_TLS_CERT, CONFIG_TLS_KEY). One of
# the two, whole (mpaws.settings_aws.uses_certificate decides which). Loaded by
# mpaws.settings_aws for a certificate only, and forgotten after the check.
from mpaws import errors

_HOW = " Fix it in config.py (a copy of config_template.py)."


def _fail(key, problem):
    raise errors.ConfigError("%s: %s.%s" % (key, problem, _HOW))


def check(s, module, *checks):
    """Checks the certificate's keys into s (credentials_endpoint, credentials_port,
    role_alias, thing_name, tls_cert, tls_key); checks: settings_aws's string, check_host and
    describe (describe: what a value is like, never the value: a secret pasted under the
    wrong key must not be shown). One star parameter: its functions' names as parameters
    would stay in the heap as names."""
    string, check_host, describe = checks
    import os

    s.credentials_endpoint, s.credentials_port = check_host("CONFIG_AWS_CREDENTIALS_ENDPOINT",
                                                            string(module, "CONFIG_AWS_CREDENTIALS_ENDPOINT"))
    s.role_alias = string(module, "CONFIG_AWS_ROLE_ALIAS")
    s.thing_name = string(module, "CONFIG_AWS_THING_NAME")
    from mpaws import credentials_state, transient  # what the request can carry

    try:
        alias_ok = credentials_state.is_name(s.role_alias, "=,@-_")
        thing_ok = credentials_state.is_name(s.thing_name, ":_-")
    finally:
        transient.forget("credentials_state")
    if not alias_ok:
        _fail("CONFIG_AWS_ROLE_ALIAS", "is not a role alias: it has %s, want 1 to 128 letters, digits or =,@-_"
              % describe(s.role_alias))
    if not thing_ok:
        _fail("CONFIG_AWS_THING_NAME", "is not a thing name: it has %s, want 1 to 128 letters, digits or :_-"
              % describe(s.thing_name))
    for key, attr in (("CONFIG_TLS_CERT", "tls_cert"), ("CONFIG_TLS_KEY", "tls_key")):
        path = string(module, key)
        try:
            size = os.stat(path)[6]
        except OSError:
            _fail(key, "no file at this path, which has %s (the %s from `tools/cloud.py deploy --cert-auth`, copied "
                  "by `make provision`)" % (describe(path), "device certificate" if attr == "tls_cert" else
                                           "certificate's private key"))
        if not 0 < size < 16384:
            _fail(key, "the file is %d bytes: not a certificate or key" % size)
        setattr(s, attr, path)
