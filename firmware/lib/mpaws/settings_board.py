# The board's keys of config.py (WiFi, NTP, LED, watchdog, deep sleep, button, sensor),
# checked like the AWS keys in mpaws.settings_aws, and loaded like them for one check only.
# A notify from the REPL or a computer never loads these: the device loop does when it
# starts (settings.Settings.check_board), and the host tools for every config file.
import sys

from mpaws.settings_aws import _fail, _get, _number, _string

DEFAULT_NTP_HOSTS = ("pool.ntp.org", "time.google.com", "time.cloudflare.com")
SENSORS = ("adc", "ds18x20", "dht22")
# ESP32 GPIOs: ext0 wake-up needs an RTC GPIO; the ADC pins usable with WiFi on are ADC1's.
RTC_PINS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)
ADC1_PINS = (32, 33, 34, 35, 36, 37, 38, 39)


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


def check(s, module):
    """Validates the board keys of config `module` into the Settings `s`."""
    s.wifi_ssid = _string(module, "CONFIG_WIFI_SSID", required=False)
    s.wifi_password = _string(module, "CONFIG_WIFI_PASSWORD", required=False, secret=True)
    hosts = _get(module, "CONFIG_NTP_HOSTS", required=False, default=DEFAULT_NTP_HOSTS)
    if isinstance(hosts, str):
        hosts = (hosts,)
    if not isinstance(hosts, (list, tuple)) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        _fail("CONFIG_NTP_HOSTS", "a list of NTP host names, e.g. ['pool.ntp.org']")
    s.ntp_hosts = tuple(hosts)
    _device(s, module)
    _button(s, module)
    _sensor(s, module)


def _device(s, module):
    # main.py waits this long before the watchdog and the WiFi start: a Ctrl-C then (from
    # mpremote, or a person after pressing RST) stops it with no watchdog running.
    s.start_delay_s = _number(module, "CONFIG_START_DELAY_S", 0, 60, 3, what="seconds")
    s.wifi_timeout_s = _number(module, "CONFIG_WIFI_TIMEOUT_S", 1, 300, 20, what="seconds")
    # At most 72 h: the loop schedules with time.ticks_ms(), whose differences hold 6 days.
    s.ntp_resync_s = _number(module, "CONFIG_NTP_RESYNC_H", 0.1, 72, 6, what="hours") * 3600
    s.led_pin = _pin(module, "CONFIG_LED_PIN")
    s.led_active_low = _flag(module, "CONFIG_LED_ACTIVE_LOW", False)
    # The longest a send may take: its budget, 4 x CONFIG_TIMEOUT with retries and pauses
    # (mpaws.client), and 30 s to spare (the watchdog is fed before every attempt).
    longest = int(s.timeout * 4 + 30)
    s.watchdog_s = _number(module, "CONFIG_WATCHDOG_S", longest + 1, 3600, max(120, longest + 1),
                           what="seconds (above 4 x CONFIG_TIMEOUT + 30, the longest a send may take)")
    s.deep_sleep = _flag(module, "CONFIG_DEEP_SLEEP", False)
    s.sleep_s = _number(module, "CONFIG_SLEEP_S", 10, 7 * 86400, 600, what="seconds")


def _button(s, module):
    # Deep sleep wakes on the button through ext0, which only the RTC GPIOs have.
    rtc_pins = RTC_PINS if s.deep_sleep else None
    s.button_pin = _pin(module, "CONFIG_BUTTON_PIN", allowed=rtc_pins, why="wake the board from deep sleep")
    s.button_active_low = _flag(module, "CONFIG_BUTTON_ACTIVE_LOW", True)
    s.debounce_ms = _number(module, "CONFIG_BUTTON_DEBOUNCE_MS", 50, 1000, 50, integer=True, what="milliseconds")
    s.long_press_ms = _number(module, "CONFIG_BUTTON_LONG_PRESS_MS", s.debounce_ms + 1, 60000, 1500,
                              integer=True, what="milliseconds (above CONFIG_BUTTON_DEBOUNCE_MS)")
    s.button_interval_s = _number(module, "CONFIG_BUTTON_MIN_INTERVAL_S", 0, 86400, 10, what="seconds")
    s.button_subject = _text(module, "CONFIG_BUTTON_SUBJECT", "Button")
    s.button_short_message = _text(module, "CONFIG_BUTTON_SHORT_MESSAGE", "The button was pressed.")
    s.button_long_message = _text(module, "CONFIG_BUTTON_LONG_MESSAGE", "The button was held down.")


def _sensor(s, module):
    kind = _choice(module, "CONFIG_SENSOR", SENSORS)
    s.sensor = kind
    adc = kind == "adc"
    s.sensor_pin = _pin(module, "CONFIG_SENSOR_PIN", allowed=ADC1_PINS if adc else None,
                        why="be read while WiFi is on (ADC2 is the radio's)")
    if kind is not None and s.sensor_pin is None:
        _fail("CONFIG_SENSOR_PIN", "missing: the GPIO the %s sensor is wired to" % kind)
    s.sensor_period_s = _number(module, "CONFIG_SENSOR_PERIOD_S", 2 if kind == "dht22" else 1, 86400, 60,
                                what="seconds")
    s.sensor_threshold = _number(module, "CONFIG_SENSOR_THRESHOLD", -1e6, 1e6, None)
    if kind is not None and s.sensor_threshold is None:
        _fail("CONFIG_SENSOR_THRESHOLD", "missing: the value that sends a notification when crossed")
    s.sensor_hysteresis = _number(module, "CONFIG_SENSOR_HYSTERESIS", 0, 1e6, 1.0)
    s.sensor_alert_above = _choice(module, "CONFIG_SENSOR_ALERT_WHEN", ("above", "below"), "above") == "above"
    s.sensor_subject = _text(module, "CONFIG_SENSOR_SUBJECT", "Sensor")
    s.sensor_scale = _number(module, "CONFIG_SENSOR_SCALE", -1e6, 1e6, 1.0)
    s.sensor_offset = _number(module, "CONFIG_SENSOR_OFFSET", -1e6, 1e6, 0.0)
    unit = _get(module, "CONFIG_SENSOR_UNIT", required=False, default="V" if adc else "C")
    if not isinstance(unit, str) or len(unit) > 8:
        _fail("CONFIG_SENSOR_UNIT", "a short string in quotes, e.g. 'C' or '%'")
    s.sensor_unit = unit
    _check_for_sns(s)


def _check_for_sns(s):
    # The subjects and messages go to SNS (through the function, or directly), which refuses
    # what mpaws.sns.check() refuses: checked here, a mistake stops the board at start-up
    # instead of failing every press. mpaws.sns is let go after, unless it was loaded already.
    loaded = "mpaws.sns" in sys.modules
    from mpaws import sns

    try:
        for key, subject, message in (("CONFIG_BUTTON_SUBJECT", s.button_subject, "-"),
                                      ("CONFIG_SENSOR_SUBJECT", s.sensor_subject, "-"),
                                      ("CONFIG_BUTTON_SHORT_MESSAGE", None, s.button_short_message),
                                      ("CONFIG_BUTTON_LONG_MESSAGE", None, s.button_long_message)):
            try:
                sns.check(message, subject)
            except ValueError as e:
                _fail(key, str(e).split(": ", 1)[-1])  # without sns's "subject: " or "body: "
    finally:
        if not loaded:
            from mpaws import transient

            transient.forget("sns")
