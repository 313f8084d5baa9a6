# The AWS keys of config.py and those a notify needs (device id, outbox), checked into a
# settings.Settings. Loaded by mpaws.settings for one check and forgotten after it.
from mpaws import errors
from mpaws.sigv4 import DIGITS, LETTERS, LOWER, PRINTABLE, UPPER, made_of

try:
    from micropython import const
except ImportError:  # CPython
    def const(value):
        return value

_HOW = " Fix it in config.py (a copy of config_template.py)."


def _fail(key, problem):
    raise errors.ConfigError("%s: %s.%s" % (key, problem, _HOW))


def describe(value):
    """What a value is like, without quoting it (mpaws.config_errors.describe)."""
    from mpaws import config_errors  # the failure's code, loaded for it only

    return config_errors.describe(value)


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
        _fail(key, "has spaces or a line break at the start or end (%s)" % describe(value))
    if not value:
        if required:
            _fail(key, "is empty")
        return default
    return value


def _number(module, key, low, high, default, integer=False, what="a number"):
    value = _get(module, key, required=False, default=default)
    if value is None:
        return None
    kinds = int if integer else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool) or not low <= value <= high:
        _fail(key, "must be %s from %s to %s" % (what, low, high))
    return value


def _is_region(region):
    # like ap-southeast-1, us-gov-west-1, cn-north-1, eu-central-2
    parts = region.split("-")
    return (len(parts) >= 3 and _is_number(parts[-1])
            and all(p and made_of(p, LOWER) for p in parts[:-1]))


def _is_number(text):
    return text != "" and made_of(text, DIGITS)  # ASCII digits (str.isdigit() takes others on CPython)


def _check_host(key, host):
    # As the socket layer will take it: ASCII labels of 1 to 63 characters, not starting or
    # ending with '-', 253 at most in all (else DNS, or CPython's IDNA codec, refuses it
    # at the first request, and every message would wait for a config fix).
    name, _, port = host.partition(":")
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    for label in labels:
        if (not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-"
                or not made_of(label, LETTERS + DIGITS + "-")):
            _fail(key, "is not a host name: %s; want ASCII letters, digits and '-' in dot-separated parts of 1 to "
                  "63 characters (optionally :port)" % describe(host))
    if len(name) > 253:
        _fail(key, "host name longer than 253 characters")
    if port:
        if not _is_number(port) or not 0 < int(port) < 65536:
            _fail(key, "the port must be a number from 1 to 65535")
        return name, int(port)
    return name, 443


# The signer's name for each key it checks (mpaws.sigv4.Signer raises "bad <name>").
_SIGNER_KEYS = const((("access_key", "CONFIG_AWS_ACCESS_KEY"), ("secret_key", "CONFIG_AWS_SECRET_KEY"),
                ("session_token", "CONFIG_AWS_SESSION_TOKEN"), ("Security-Token", "CONFIG_AWS_SESSION_TOKEN"),
                ("region", "CONFIG_AWS_REGION")))


def _check_signer(s):
    # The keys exactly as the signer will take them: a value it refuses would otherwise
    # fail every request, after the message was stored.
    from mpaws import sigv4

    try:
        sigv4.Signer(s.access_key, s._secret_key, s.region, "lambda", session_token=s.session_token)
    except ValueError as e:
        for name, key in _SIGNER_KEYS:
            if name in str(e):
                _fail(key, "has characters AWS's signature does not allow (control characters or line breaks)")
        _fail("CONFIG_AWS_ACCESS_KEY", "refused by the signer (%s)" % e)


# -- API Gateway mode (mpaws.api_url) --------------------------------------------------------
def _check_api(s, module):
    """CONFIG_AWS_API_URL (the stage's URL: notify() POSTs to <url>/notify) and
    CONFIG_AWS_API_KEY (with it, no AWS key is needed). The key is never quoted."""
    url = _string(module, "CONFIG_AWS_API_URL", required=False)
    key = _string(module, "CONFIG_AWS_API_KEY", required=False, secret=True)
    s.api_url, s.api_key, s.api_region = url, key, None
    if url is not None:
        import sys

        from mpaws import transient

        kept = "mpaws.api_url" in sys.modules  # mpaws.apigateway's (a program's own Api): left loaded
        from mpaws import api_url

        try:
            s.api_host, s.api_port, s.api_base, s.api_region = api_url.parse_url(url)
        except ValueError as e:
            _fail("CONFIG_AWS_API_URL", "%s (the stage's URL, e.g. https://ID.execute-api.REGION.amazonaws.com/prod, "
                  "as `tools/cloud.py deploy --api` prints it)" % e)
        finally:
            if not kept:
                transient.forget("api_url")
    if key is not None:
        if url is None:
            _fail("CONFIG_AWS_API_KEY", "is used only with CONFIG_AWS_API_URL (set both, or neither)")
        if not 20 <= len(key) <= 128 or not made_of(key, LETTERS + DIGITS + "-_"):
            _fail("CONFIG_AWS_API_KEY", "does not look like an API Gateway key (20 to 128 letters, digits, '-' or "
                  "'_'); this one has %s" % describe(key))
# -- end of API Gateway mode ----------------------------------------------------------------


# -- static keys or a device certificate (mpaws.settings_cert, mpaws.credentials) ---------
_STATIC_KEYS = const(("CONFIG_AWS_ACCESS_KEY", "CONFIG_AWS_SECRET_KEY"))
CERT_KEYS = ("CONFIG_AWS_CREDENTIALS_ENDPOINT", "CONFIG_AWS_ROLE_ALIAS", "CONFIG_AWS_THING_NAME", "CONFIG_TLS_CERT",
             "CONFIG_TLS_KEY")


def _given(module, keys):
    return [key for key in keys if getattr(module, key, None) is not None]


def uses_certificate(module):
    """Whether config `module` gives a certificate rather than static keys. Raises
    errors.ConfigError, naming the keys, for both, neither, or half of the certificate's."""
    static = _given(module, _STATIC_KEYS + ("CONFIG_AWS_SESSION_TOKEN",))
    cert = _given(module, CERT_KEYS)
    if static and cert:
        _fail(", ".join(static), "set together with %s: give static keys or a device certificate, not both (set "
              "the others to None)" % ", ".join(cert))
    if not cert:
        if not static and getattr(module, "CONFIG_AWS_API_KEY", None) is None:  # an API key needs no AWS credential
            _fail("CONFIG_AWS_ACCESS_KEY", "missing: set CONFIG_AWS_ACCESS_KEY and CONFIG_AWS_SECRET_KEY, or a device "
                  "certificate (%s)" % ", ".join(CERT_KEYS))
        return False
    missing = [key for key in CERT_KEYS if key not in cert]
    if missing:
        _fail(", ".join(missing), "missing: a device certificate needs all of %s (only %s given)"
              % (", ".join(CERT_KEYS), ", ".join(cert)))
    return True


def check(s, module):
    """Validates the AWS keys of config `module` into the Settings `s`."""
    _check_api(s, module)
    s.thing_name = None  # static keys
    if uses_certificate(module):
        from mpaws import settings_cert, transient  # its checks, loaded for a certificate only

        try:
            settings_cert.check(s, module, _string, _check_host, describe)
            s.access_key = s._secret_key = s.session_token = None
        finally:
            transient.forget("settings_cert")
    else:
        _check_static_keys(s, module)
    _check_service(s, module)


def _check_static_keys(s, module):
    # With an API Gateway key (CONFIG_AWS_API_KEY), the device needs no AWS credentials.
    access_key = _string(module, "CONFIG_AWS_ACCESS_KEY", required=s.api_key is None)
    if access_key is not None and (not 16 <= len(access_key) <= 128
                                   or not made_of(access_key, UPPER + DIGITS)):
        _fail("CONFIG_AWS_ACCESS_KEY", "does not look like an access key id: it has %s, want 16 to 128 upper-case "
              "letters and digits, e.g. AKIAIOSFODNN7EXAMPLE (secret key in its place?); copy it from the IAM "
              "console or `tools/cloud.py deploy`" % describe(access_key))
    secret_key = _string(module, "CONFIG_AWS_SECRET_KEY", required=s.api_key is None, secret=True)
    if secret_key is not None and (len(secret_key) < 16 or not made_of(secret_key, PRINTABLE[1:])):  # no space
        _fail("CONFIG_AWS_SECRET_KEY", "does not look like a secret access key: it has %s, want 40 characters "
              "without spaces (letters, digits, '/' and '+')" % describe(secret_key))
    s.access_key = access_key
    s._secret_key = secret_key
    s.session_token = _string(module, "CONFIG_AWS_SESSION_TOKEN", required=False, secret=True)


def _check_service(s, module):
    region = _string(module, "CONFIG_AWS_REGION")
    if not _is_region(region):
        _fail("CONFIG_AWS_REGION", "is not an AWS region name such as ap-southeast-1: it has %s" % describe(region))
    s.region = region
    if s.thing_name is None and s.access_key is not None:  # static keys (temporary ones are checked as they arrive)
        _check_signer(s)
    if s.api_region is not None and s.api_region != region:
        _fail("CONFIG_AWS_API_URL", "the API is in region %s but CONFIG_AWS_REGION is %s" % (s.api_region, region))

    # None (written out, not left away: a misspelt key must not switch modes): no
    # function, the device publishes to the topic itself (`tools/cloud.py deploy --direct-sns`).
    if not hasattr(module, "CONFIG_AWS_LAMBDA_FUNCTION") and s.api_url is None:
        _fail("CONFIG_AWS_LAMBDA_FUNCTION", "missing: the function's name, or None to publish to "
              "CONFIG_AWS_SNS_TOPIC_ARN directly")
    function = getattr(module, "CONFIG_AWS_LAMBDA_FUNCTION", None)
    if function is not None:
        function = _string(module, "CONFIG_AWS_LAMBDA_FUNCTION")
        from mpaws import function_name  # forgotten with this module (settings._check_with)

        try:
            function_name.check(function)
        except ValueError as e:
            _fail("CONFIG_AWS_LAMBDA_FUNCTION", "%s; it has %s (or None to publish to the SNS topic directly)"
                  % (e, describe(function)))
        if function.startswith("arn:") and function.split(":")[3] != region:
            _fail("CONFIG_AWS_LAMBDA_FUNCTION", "the function ARN is in region %s but CONFIG_AWS_REGION is %s"
                  % (function.split(":")[3], region))
    s.function = function

    topic = _string(module, "CONFIG_AWS_SNS_TOPIC_ARN")
    parts = topic.split(":")
    if (len(parts) != 6 or parts[0] != "arn" or not parts[1].startswith("aws") or parts[2] != "sns"
            or not _is_region(parts[3]) or len(parts[4]) != 12 or not _is_number(parts[4]) or not parts[5]):
        _fail("CONFIG_AWS_SNS_TOPIC_ARN", "is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME): it has %s"
              % describe(topic))
    s.topic_arn = topic

    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    host = _string(module, "CONFIG_AWS_HOST", required=False,
                   default=("lambda." if function else "sns.") + region + suffix)
    s.host, s.port = _check_host("CONFIG_AWS_HOST", host)

    s.ca = _string(module, "CONFIG_TLS_CA", required=False)
    if s.ca is not None:
        import os

        try:
            os.stat(s.ca)
        except OSError:
            _fail("CONFIG_TLS_CA", "no such file or folder (give the path of a CA certificate, DER or PEM, or remove "
                  "the key to use the bundled Amazon roots)")
    verify = _get(module, "CONFIG_TLS_VERIFY", required=False, default=True)
    if verify is not True and verify is not False:
        _fail("CONFIG_TLS_VERIFY", "must be True or False")
    s.verify_tls = verify

    timeout = _get(module, "CONFIG_TIMEOUT", required=False, default=10)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 120:
        _fail("CONFIG_TIMEOUT", "seconds, a number above 0 and at most 120")
    s.timeout = timeout

    device_id = _string(module, "CONFIG_DEVICE_ID", required=False)
    if device_id is not None and (len(device_id) > 24 or not made_of(device_id, LETTERS + DIGITS + "-_")):
        _fail("CONFIG_DEVICE_ID", "has %s; want at most 24 letters, digits, '-' or '_' (it starts every message "
              "id)" % describe(device_id))
    s.device_id = device_id
    s.outbox_path = _string(module, "CONFIG_OUTBOX_PATH", required=False, default="outbox.txt")
    _check_outbox_folder(s.outbox_path)
    s.outbox_limit = _number(module, "CONFIG_OUTBOX_LIMIT", 1, 1000, 50, integer=True, what="a whole number")
    # Bytes of messages the outbox may hold (the oldest are dropped to make room): what the
    # flash spares, and what can be read back one message at a time.
    s.outbox_bytes = _number(module, "CONFIG_OUTBOX_BYTES", 1024, 1048576, 32768, integer=True,
                             what="a whole number of bytes")


def _check_outbox_folder(path):
    # The outbox's folder must exist now: without it every notify would send without
    # keeping a copy, and what is sent during an outage would be lost. The path is
    # described, not quoted (a secret pasted under the wrong key must not be shown).
    folder = path.rpartition("/")[0]
    if not folder:  # the current folder, or the root: there
        return
    import os

    try:
        is_folder = os.stat(folder)[0] & 0x4000  # S_IFDIR
    except OSError:
        is_folder = False
    if not is_folder:
        _fail("CONFIG_OUTBOX_PATH", "the folder of this path does not exist on this device (the path has %s); give a "
              "file in an existing folder, e.g. \"outbox.txt\" (an ESP32's file system starts at /)" % describe(path))

