# The device's config module (config.py, copied from config_template.py), validated.
#
# Every key is checked when loaded; a problem raises one errors.ConfigError that names the
# key and says how to fix it. A secret is never part of a message or a repr.
from mpaws import errors

DEFAULT_NTP_HOSTS = ("pool.ntp.org", "time.google.com", "time.cloudflare.com")
SENSORS = ("adc", "ds18x20", "dht22")
# ESP32 GPIOs: ext0 wake-up needs an RTC GPIO; the ADC pins usable with WiFi on are ADC1's.
RTC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)
ADC1_PINS = (32, 33, 34, 35, 36, 37, 38, 39)
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


def _number(module, key, low, high, default, integer=False, what="a number"):
    value = _get(module, key, required=False, default=default)
    if value is None:
        return None
    kinds = int if integer else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool) or not low <= value <= high:
        _fail(key, "must be %s from %s to %s" % (what, low, high))
    return value


def _flag(module, key, default):
    value = _get(module, key, required=False, default=default)
    if value is not True and value is not False:
        _fail(key, "must be True or False")
    return value


def _choice(module, key, choices, default=None):
    value = _get(module, key, required=False, default=default)
    if value is not None and value not in choices:
        _fail(key, "must be one of %s (or None)" % ", ".join(repr(c) for c in choices))
    return value


def _pin(module, key, default=None, allowed=None, why=""):
    pin = _number(module, key, 0, 48, default, integer=True, what="a GPIO number")
    if pin is not None and allowed is not None and pin not in allowed:
        _fail(key, "GPIO %d cannot %s; use one of %s" % (pin, why, ", ".join(str(p) for p in allowed)))
    return pin


def _text(module, key, default):
    # A message text: any string, even with spaces at the ends, but not empty.
    value = _get(module, key, required=False, default=default)
    if not isinstance(value, str) or not value:
        _fail(key, "must be a non-empty string in quotes")
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
        self._device(module)
        self._button(module)
        self._sensor(module)

    def _device(self, module):
        device_id = _string(module, "CONFIG_DEVICE_ID", required=False)
        if device_id is not None and (len(device_id) > 24 or not all(c.isalpha() or c.isdigit() or c in "-_"
                                                                      for c in device_id)):
            _fail("CONFIG_DEVICE_ID", "%r: at most 24 letters, digits, '-' or '_' (it starts every message id)"
                  % device_id)
        self.device_id = device_id
        self.outbox_path = _string(module, "CONFIG_OUTBOX_PATH", required=False, default="outbox.txt")
        self.outbox_limit = _number(module, "CONFIG_OUTBOX_LIMIT", 1, 1000, 50, integer=True, what="a whole number")
        self.wifi_timeout_s = _number(module, "CONFIG_WIFI_TIMEOUT_S", 1, 300, 20, what="seconds")
        # At most 72 h: the loop schedules with time.ticks_ms(), whose differences hold 6 days.
        self.ntp_resync_s = _number(module, "CONFIG_NTP_RESYNC_H", 0.1, 72, 6, what="hours") * 3600
        self.led_pin = _pin(module, "CONFIG_LED_PIN")
        self.led_active_low = _flag(module, "CONFIG_LED_ACTIVE_LOW", False)
        # The longest a send may take: CONFIG_TIMEOUT per attempt, 4 attempts, 30 s of backoff.
        longest = int(self.timeout * 4 + 30)
        self.watchdog_s = _number(module, "CONFIG_WATCHDOG_S", longest + 1, 3600, max(120, longest + 1),
                                  what="seconds (above 4 x CONFIG_TIMEOUT + 30, the longest a send may take)")
        self.deep_sleep = _flag(module, "CONFIG_DEEP_SLEEP", False)
        self.sleep_s = _number(module, "CONFIG_SLEEP_S", 10, 7 * 86400, 600, what="seconds")

    def _button(self, module):
        # Deep sleep wakes on the button through ext0, which only the RTC GPIOs have.
        rtc_pins = RTC_PINS if self.deep_sleep else None
        self.button_pin = _pin(module, "CONFIG_BUTTON_PIN", allowed=rtc_pins, why="wake the board from deep sleep")
        self.button_active_low = _flag(module, "CONFIG_BUTTON_ACTIVE_LOW", True)
        self.debounce_ms = _number(module, "CONFIG_BUTTON_DEBOUNCE_MS", 50, 1000, 50, integer=True,
                                   what="milliseconds")
        self.long_press_ms = _number(module, "CONFIG_BUTTON_LONG_PRESS_MS", self.debounce_ms + 1, 60000, 1500,
                                     integer=True, what="milliseconds (above CONFIG_BUTTON_DEBOUNCE_MS)")
        self.button_interval_s = _number(module, "CONFIG_BUTTON_MIN_INTERVAL_S", 0, 86400, 10, what="seconds")
        self.button_subject = _text(module, "CONFIG_BUTTON_SUBJECT", "Button")
        self.button_short_message = _text(module, "CONFIG_BUTTON_SHORT_MESSAGE", "The button was pressed.")
        self.button_long_message = _text(module, "CONFIG_BUTTON_LONG_MESSAGE", "The button was held down.")

    def _sensor(self, module):
        kind = _choice(module, "CONFIG_SENSOR", SENSORS)
        self.sensor = kind
        adc = kind == "adc"
        self.sensor_pin = _pin(module, "CONFIG_SENSOR_PIN", allowed=ADC1_PINS if adc else None,
                               why="be read while WiFi is on (ADC2 is the radio's)")
        if kind is not None and self.sensor_pin is None:
            _fail("CONFIG_SENSOR_PIN", "missing: the GPIO the %s sensor is wired to" % kind)
        self.sensor_period_s = _number(module, "CONFIG_SENSOR_PERIOD_S", 2 if kind == "dht22" else 1, 86400, 60,
                                       what="seconds")
        self.sensor_threshold = _number(module, "CONFIG_SENSOR_THRESHOLD", -1e6, 1e6, None)
        if kind is not None and self.sensor_threshold is None:
            _fail("CONFIG_SENSOR_THRESHOLD", "missing: the value that sends a notification when crossed")
        self.sensor_hysteresis = _number(module, "CONFIG_SENSOR_HYSTERESIS", 0, 1e6, 1.0)
        self.sensor_alert_above = _choice(module, "CONFIG_SENSOR_ALERT_WHEN", ("above", "below"), "above") == "above"
        self.sensor_subject = _text(module, "CONFIG_SENSOR_SUBJECT", "Sensor")
        self.sensor_scale = _number(module, "CONFIG_SENSOR_SCALE", -1e6, 1e6, 1.0)
        self.sensor_offset = _number(module, "CONFIG_SENSOR_OFFSET", -1e6, 1e6, 0.0)
        unit = _get(module, "CONFIG_SENSOR_UNIT", required=False, default="V" if adc else "C")
        if not isinstance(unit, str) or len(unit) > 8:
            _fail("CONFIG_SENSOR_UNIT", "a short string in quotes, e.g. 'C' or '%'")
        self.sensor_unit = unit

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
