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


def check(s, module, string, check_host):
    """Checks the certificate's keys into s (credentials_endpoint, credentials_port,
    role_alias, thing_name, tls_cert, tls_key); string, check_host: settings_aws's."""
    import os

    from mpaws import credentials

    s.credentials_endpoint, s.credentials_port = check_host("CONFIG_AWS_CREDENTIALS_ENDPOINT",
                                                            string(module, "CONFIG_AWS_CREDENTIALS_ENDPOINT"))
    s.role_alias = string(module, "CONFIG_AWS_ROLE_ALIAS")
    if not credentials._is_name(s.role_alias, "=,@-_"):
        _fail("CONFIG_AWS_ROLE_ALIAS", "%r is not a role alias (1 to 128 letters, digits or =,@-_)" % s.role_alias)
    s.thing_name = string(module, "CONFIG_AWS_THING_NAME")
    if not credentials._is_name(s.thing_name, ":_-"):
        _fail("CONFIG_AWS_THING_NAME", "%r is not a thing name (1 to 128 letters, digits or :_-)" % s.thing_name)
    for key, attr in (("CONFIG_TLS_CERT", "tls_cert"), ("CONFIG_TLS_KEY", "tls_key")):
        path = string(module, key)
        try:
            size = os.stat(path)[6]
        except OSError:
            _fail(key, "no file %r (the %s from `tools/cloud.py deploy --cert-auth`, copied by `make provision`)"
                  % (path, "device certificate" if attr == "tls_cert" else "certificate's private key"))
        if not 0 < size < 16384:
            _fail(key, "the file %r is %d bytes: not a certificate or key" % (path, size))
        setattr(s, attr, path)
