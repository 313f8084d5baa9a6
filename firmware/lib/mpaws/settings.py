# The device's config module (config.py, copied from config_template.py), validated.
#
# Every key is checked when loaded; a problem raises one errors.ConfigError that names the
# key and says how to fix it. A secret is never part of a message or a repr.
from mpaws import errors

DEFAULT_NTP_HOSTS = ("pool.ntp.org", "time.google.com", "time.cloudflare.com")
_HOW = " Fix it in config.py (a copy of config_template.py)."


def _fail(key, problem):
    raise errors.ConfigError("%s: %s.%s" % (key, problem, _HOW))


def _get(module, key, required=True, default=None):
    value = getattr(module, key, None)
    if value is None:
        if required:
            _fail(key, "missing")
        return default
    return value


def _string(module, key, required=True, default=None, secret=False):
    value = _get(module, key, required, default)
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(key, "must be a string in quotes, not %s" % type(value).__name__)
    if value != value.strip():
        _fail(key, "has spaces or a line break at the start or end" + ("" if secret else " (%r)" % value))
    if not value:
        if required:
            _fail(key, "is empty")
        return default
    return value


def _is_region(region):
    # like ap-southeast-1, us-gov-west-1, cn-north-1, eu-central-2
    parts = region.split("-")
    return len(parts) >= 3 and parts[-1].isdigit() and all(p.isalpha() and p.islower() for p in parts[:-1])


def _check_host(key, host):
    name, _, port = host.partition(":")
    if not name or not all(c.isalpha() or c.isdigit() or c in "-." for c in name):
        _fail(key, "%r is not a host name (letters, digits, '-' and '.', optionally :port)" % host)
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            _fail(key, "the port in %r must be a number from 1 to 65535" % host)
        return name, int(port)
    return name, 443


class Settings:
    """Validated configuration. Attributes mirror the CONFIG_* keys."""

    def __init__(self, module):
        access_key = _string(module, "CONFIG_AWS_ACCESS_KEY")
        if not 16 <= len(access_key) <= 128 or not all(c.isupper() or c.isdigit() for c in access_key):
            _fail("CONFIG_AWS_ACCESS_KEY", "%r does not look like an access key id (16 to 128 upper-case letters and "
                  "digits, e.g. AKIAIOSFODNN7EXAMPLE); copy it from the IAM console or `tools/cloud.py deploy`"
                  % access_key)
        secret_key = _string(module, "CONFIG_AWS_SECRET_KEY", secret=True)
        if len(secret_key) < 16 or " " in secret_key:
            _fail("CONFIG_AWS_SECRET_KEY", "does not look like a secret access key (40 characters, no spaces)")
        self.access_key = access_key
        self._secret_key = secret_key
        self.session_token = _string(module, "CONFIG_AWS_SESSION_TOKEN", required=False, secret=True)

        region = _string(module, "CONFIG_AWS_REGION")
        if not _is_region(region):
            _fail("CONFIG_AWS_REGION", "%r is not an AWS region name such as ap-southeast-1" % region)
        self.region = region

        function = _string(module, "CONFIG_AWS_LAMBDA_FUNCTION")
        from mpaws import awslambda

        try:
            awslambda.check_function(function)
        except ValueError as e:
            _fail("CONFIG_AWS_LAMBDA_FUNCTION", str(e))
        if function.startswith("arn:") and function.split(":")[3] != region:
            _fail("CONFIG_AWS_LAMBDA_FUNCTION", "the function ARN is in region %s but CONFIG_AWS_REGION is %s"
                  % (function.split(":")[3], region))
        self.function = function

        topic = _string(module, "CONFIG_AWS_SNS_TOPIC_ARN")
        parts = topic.split(":")
        if (len(parts) != 6 or parts[0] != "arn" or not parts[1].startswith("aws") or parts[2] != "sns"
                or not _is_region(parts[3]) or len(parts[4]) != 12 or not parts[4].isdigit() or not parts[5]):
            _fail("CONFIG_AWS_SNS_TOPIC_ARN", "%r is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)" % topic)
        self.topic_arn = topic

        suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
        host = _string(module, "CONFIG_AWS_HOST", required=False, default="lambda." + region + suffix)
        self.host, self.port = _check_host("CONFIG_AWS_HOST", host)

        self.ca = _string(module, "CONFIG_TLS_CA", required=False)
        if self.ca is not None:
            import os

            try:
                os.stat(self.ca)
            except OSError:
                _fail("CONFIG_TLS_CA", "no file or folder %r (give the path of a CA certificate, DER or PEM, or remove "
                      "the key to use the bundled Amazon roots)" % self.ca)
        verify = _get(module, "CONFIG_TLS_VERIFY", required=False, default=True)
        if verify is not True and verify is not False:
            _fail("CONFIG_TLS_VERIFY", "must be True or False")
        self.verify_tls = verify

        timeout = _get(module, "CONFIG_TIMEOUT", required=False, default=10)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 120:
            _fail("CONFIG_TIMEOUT", "seconds, a number above 0 and at most 120")
        self.timeout = timeout

        # Board-only keys: optional here, checked for type when present.
        self.wifi_ssid = _string(module, "CONFIG_WIFI_SSID", required=False)
        self.wifi_password = _string(module, "CONFIG_WIFI_PASSWORD", required=False, secret=True)
        hosts = _get(module, "CONFIG_NTP_HOSTS", required=False, default=DEFAULT_NTP_HOSTS)
        if isinstance(hosts, str):
            hosts = (hosts,)
        if not isinstance(hosts, (list, tuple)) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            _fail("CONFIG_NTP_HOSTS", "a list of NTP host names, e.g. ['pool.ntp.org']")
        self.ntp_hosts = tuple(hosts)

    @property
    def secret_key(self):
        return self._secret_key

    def __repr__(self):
        return "<Settings %s %s function=%s host=%s:%d>" % (self.access_key, self.region, self.function, self.host,
                                                           self.port)


def load(module=None):
    """Validated Settings from a config module (default: `import config`)."""
    if module is None:
        try:
            import config as module  # type: ignore
        except ImportError as e:
            if "config" not in str(e):
                raise
            raise errors.ConfigError("no config.py: copy config_template.py to config.py and fill in your values "
                                     "(on a board: `make provision`)")
    return Settings(module)
