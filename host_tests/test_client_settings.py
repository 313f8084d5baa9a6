"""The device's config module, validated by mpaws.settings: every bad key raises one
errors.ConfigError whose message names the key, and the secret key never shows in a
message or a repr. Checked in-process under CPython and by the firmware under MicroPython."""
import sys
import types

import pytest

from device import SECRET_KEY, Device, assert_error, default_config, device, runtime  # noqa: F401
from mpaws import errors, settings

MISSING_CA = "/nonexistent/mpaws/ca.der"
BAD = [
    ("CONFIG_AWS_ACCESS_KEY", None, "missing"),
    ("CONFIG_AWS_ACCESS_KEY", "akiaiosfodnn7example", "does not look like an access key id"),
    ("CONFIG_AWS_ACCESS_KEY", "AKIA", "does not look like an access key id"),
    ("CONFIG_AWS_SECRET_KEY", None, "missing"),
    ("CONFIG_AWS_SECRET_KEY", "tooShortSecret", "does not look like a secret access key"),
    ("CONFIG_AWS_SECRET_KEY", " " + SECRET_KEY, "has spaces or a line break at the start or end"),
    ("CONFIG_AWS_SECRET_KEY", SECRET_KEY + "\n", "has spaces or a line break at the start or end"),
    ("CONFIG_AWS_SECRET_KEY", SECRET_KEY[:20] + " " + SECRET_KEY[20:], "does not look like a secret access key"),
    ("CONFIG_AWS_SECRET_KEY", 12345678901234567890, "must be a string in quotes, not int"),
    ("CONFIG_AWS_REGION", "ap-southeast1", "is not an AWS region name such as ap-southeast-1: it has 13 characters"),
    ("CONFIG_AWS_REGION", "", "is empty"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "bad name!", "function name: 1 to 64 letters, digits, '-' or '_'; it has 9 "
     "characters (lower-case letters, spaces, '!')"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "arn:aws:lambda:eu-west-1:123456789012:function:notify",
     "in region eu-west-1 but CONFIG_AWS_REGION is us-east-1"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "arn:aws:lambda:us-east-1:1234:function:notify", "12 digits"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123:topic", "is not an SNS topic ARN"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", "mpaws-topic", "is not an SNS topic ARN"),
    ("CONFIG_AWS_HOST", "bad host:99999", "is not a host name: 14 characters (lower-case letters, spaces, digits, "
     "':')"),
    ("CONFIG_AWS_HOST", "lambda..amazonaws.com", "is not a host name"),
    ("CONFIG_AWS_HOST", "-lambda.amazonaws.com", "is not a host name"),
    ("CONFIG_AWS_HOST", "x" * 64 + ".amazonaws.com", "is not a host name"),
    ("CONFIG_AWS_HOST", "lämbda.amazonaws.com", "is not a host name"),
    # swapped: the secret under the access key's name is described, never quoted
    ("CONFIG_AWS_ACCESS_KEY", SECRET_KEY, "does not look like an access key id: it has 41 characters"),
    ("CONFIG_AWS_SECRET_KEY", "wJalrXUtnFEMI\x07K7MDENG+bPxRfiCYEXAMPLEKEY", "does not look like a secret access key"),
    ("CONFIG_AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLE\x01TOKEN1234567890", "AWS's signature does not allow"),
    ("CONFIG_AWS_HOST", "localhost:99999", "must be a number from 1 to 65535"),
    ("CONFIG_AWS_HOST", "localhost:0", "must be a number from 1 to 65535"),
    ("CONFIG_TLS_CA", MISSING_CA, "no such file or folder"),
    ("CONFIG_TLS_VERIFY", "yes", "must be True or False"),
    ("CONFIG_TLS_VERIFY", 1, "must be True or False"),
    ("CONFIG_TIMEOUT", "10", "seconds"),
    ("CONFIG_TIMEOUT", 0, "seconds"),
    ("CONFIG_NTP_HOSTS", [], "a list of NTP host names"),
    ("CONFIG_NTP_HOSTS", ["pool.ntp.org", 123], "a list of NTP host names"),
    ("CONFIG_AWS_REGION", None, "missing"),
    ("CONFIG_AWS_REGION", "US-EAST-1", "is not an AWS region name"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "", "is empty"),  # None is direct SNS: test_direct_sns_config
    ("CONFIG_AWS_LAMBDA_FUNCTION", 42, "must be a string in quotes, not int"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "x" * 65, "1 to 64 letters"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "arn:aws:sns:us-east-1:123456789012:function:notify", "expected arn:aws:lambda"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", None, "missing"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:", "is not an SNS topic ARN"),
    ("CONFIG_AWS_HOST", 443, "must be a string in quotes, not int"),
    ("CONFIG_AWS_HOST", "lambda.us-east-1.amazonaws.com:https", "must be a number from 1 to 65535"),
    ("CONFIG_AWS_ACCESS_KEY", 1234567890123456, "must be a string in quotes, not int"),
    ("CONFIG_AWS_SESSION_TOKEN", 97531864, "must be a string in quotes, not int"),
    ("CONFIG_AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN1234567890 ", "has spaces or a line break at the start or end"),
    ("CONFIG_TLS_CA", 1, "must be a string in quotes, not int"),
    ("CONFIG_WIFI_SSID", 42, "must be a string in quotes, not int"),
    ("CONFIG_WIFI_PASSWORD", 86420975, "must be a string in quotes, not int"),
    ("CONFIG_WIFI_PASSWORD", " wifi-secret-password", "has spaces or a line break at the start or end"),
    # the device application's keys
    ("CONFIG_DEVICE_ID", "my device", "at most 24 letters, digits"),
    ("CONFIG_OUTBOX_LIMIT", 0, "must be a whole number from 1 to 1000"),
    ("CONFIG_OUTBOX_LIMIT", 2.5, "must be a whole number from 1 to 1000"),
    ("CONFIG_OUTBOX_PATH", 5, "must be a string in quotes, not int"),
    ("CONFIG_WIFI_TIMEOUT_S", 0, "must be seconds from 1 to 300"),
    ("CONFIG_NTP_RESYNC_H", 0, "must be hours from 0.1 to 72"),
    ("CONFIG_NTP_RESYNC_H", 100, "must be hours from 0.1 to 72"),
    ("CONFIG_LED_PIN", 99, "must be a GPIO number from 0 to 48"),
    ("CONFIG_LED_ACTIVE_LOW", "no", "must be True or False"),
    ("CONFIG_WATCHDOG_S", 10, "above 4 x CONFIG_TIMEOUT + 30"),
    ("CONFIG_DEEP_SLEEP", 1, "must be True or False"),
    ("CONFIG_SLEEP_S", 1, "must be seconds from 10"),
    ("CONFIG_BUTTON_PIN", "0", "must be a GPIO number from 0 to 48"),
    ("CONFIG_BUTTON_PIN", True, "must be a GPIO number from 0 to 48"),
    ("CONFIG_BUTTON_DEBOUNCE_MS", 10, "must be milliseconds from 50 to 1000"),
    ("CONFIG_BUTTON_LONG_PRESS_MS", 20, "above CONFIG_BUTTON_DEBOUNCE_MS"),
    ("CONFIG_BUTTON_MIN_INTERVAL_S", -1, "must be seconds from 0"),
    ("CONFIG_BUTTON_SHORT_MESSAGE", "", "must be a non-empty string"),
    ("CONFIG_BUTTON_LONG_MESSAGE", 3, "must be a non-empty string"),
    ("CONFIG_SENSOR", "bmp280", "must be one of 'adc', 'ds18x20', 'dht22'"),
    ("CONFIG_SENSOR_ALERT_WHEN", "over", "must be one of 'above', 'below'"),
    ("CONFIG_SENSOR_HYSTERESIS", -1, "must be a number from 0"),
    ("CONFIG_SENSOR_UNIT", 5, "a short string in quotes"),
    ("CONFIG_START_DELAY_S", -1, "must be seconds from 0 to 60"),
    ("CONFIG_START_DELAY_S", "3", "must be seconds from 0 to 60"),
    # subjects and messages as SNS takes them (mpaws.sns.check), through the function too
    ("CONFIG_BUTTON_SUBJECT", "Türklingel", "SNS allows only printable ASCII"),
    ("CONFIG_BUTTON_SUBJECT", "Door\nbell", "SNS allows only printable ASCII"),
    ("CONFIG_BUTTON_SUBJECT", "x" * 101, "1 to 100 characters"),
    ("CONFIG_BUTTON_SUBJECT", " Door", "not a space"),
    ("CONFIG_SENSOR_SUBJECT", "Température", "SNS allows only printable ASCII"),
    ("CONFIG_SENSOR_SUBJECT", "t" * 101, "1 to 100 characters"),
    ("CONFIG_SENSOR_SUBJECT", "", "must be a non-empty string"),
    ("CONFIG_BUTTON_LONG_MESSAGE", "x" * 262145, "too large for SNS"),
]
IDS = [("%s=%r" % (key, value))[:60] for key, value, _ in BAD]  # a 256 KB value makes no name
# Values no message may echo: the secret key, the session token, the WiFi password.
SECRET_KEYS = ("CONFIG_AWS_SECRET_KEY", "CONFIG_AWS_SESSION_TOKEN", "CONFIG_WIFI_PASSWORD")
SECRETS = [SECRET_KEY] + [str(v) for k, v, _ in BAD if k in SECRET_KEYS and v is not None]


def module_with(**keys):
    module = types.ModuleType("config")
    for key, value in dict(default_config(), **keys).items():
        setattr(module, key, value)
    return module


def check_message(message, key, words, value=None):
    assert message.startswith(key + ": "), message
    assert words in message, message
    assert "config.py" in message  # says where to fix it
    for secret in SECRETS:
        assert secret.strip() not in message
    # No key's value is quoted (any may be a secret in the wrong place), but for short
    # ones that the words themselves name.
    if isinstance(value, str) and len(value) >= 6 and value not in words:
        assert value.strip() not in message, message


@pytest.mark.parametrize("key, value, words", BAD, ids=IDS)
def test_bad_key_in_process(key, value, words):
    with pytest.raises(errors.ConfigError) as excinfo:
        settings.load(module_with(**{key: value}))
    check_message(str(excinfo.value), key, words, value)
    check_message(excinfo.value.message, key, words, value)
    assert SECRET_KEY not in repr(excinfo.value)


def test_bad_keys_in_the_firmware(device):
    """The same cases through the firmware, one process per runtime."""
    device.secrets.extend(s for s in SECRETS if s not in device.secrets)
    steps = [{"op": "settings", "config": dict(default_config(), **{key: value})} for key, value, _ in BAD]
    run = device.run(steps)
    for (key, value, words), result in zip(BAD, run.results):
        assert_error(result, "ConfigError")
        check_message(result["message"], key, words, value)


def test_valid_config(device):
    good = [
        {},
        {"CONFIG_AWS_LAMBDA_FUNCTION": "arn:aws:lambda:us-east-1:123456789012:function:notify:live",
         "CONFIG_AWS_HOST": "localhost:8443", "CONFIG_TLS_VERIFY": False, "CONFIG_TIMEOUT": 2.5},
        {"CONFIG_AWS_REGION": "cn-north-1", "CONFIG_AWS_SNS_TOPIC_ARN": "arn:aws-cn:sns:cn-north-1:123456789012:t"},
    ]
    run = device.run([{"op": "settings", "config": dict(default_config(), **keys)} for keys in good])
    first, second, china = run.results
    assert (first["host"], first["port"]) == ("lambda.us-east-1.amazonaws.com", 443)
    assert (second["host"], second["port"], second["verify_tls"], second["timeout"]) == ("localhost", 8443, False,
                                                                                          2.5)
    assert china["host"] == "lambda.cn-north-1.amazonaws.com.cn"
    for result in run.results:
        assert result["repr"].startswith("<Settings AKIA") and SECRET_KEY not in result["repr"]


def test_direct_sns_config(device):
    """CONFIG_AWS_LAMBDA_FUNCTION = None: no function (direct SNS), SNS's endpoint by default;
    the key left out is still an error, so that a misspelt name does not switch modes."""
    left_out = {k: v for k, v in default_config().items() if k != "CONFIG_AWS_LAMBDA_FUNCTION"}
    run = device.run([{"op": "settings", "config": dict(default_config(), **keys)} for keys in (
        {"CONFIG_AWS_LAMBDA_FUNCTION": None},
        {"CONFIG_AWS_LAMBDA_FUNCTION": None, "CONFIG_AWS_HOST": "localhost:8443"},
        {"CONFIG_AWS_LAMBDA_FUNCTION": None, "CONFIG_AWS_REGION": "cn-north-1",
         "CONFIG_AWS_SNS_TOPIC_ARN": "arn:aws-cn:sns:cn-north-1:123456789012:t"},
    )] + [{"op": "settings", "config": left_out}])
    direct, custom, china, missing = run.results
    assert direct["function"] is None and (direct["host"], direct["port"]) == ("sns.us-east-1.amazonaws.com", 443)
    assert (custom["host"], custom["port"]) == ("localhost", 8443)
    assert china["host"] == "sns.cn-north-1.amazonaws.com.cn"
    assert_error(missing, "ConfigError")
    check_message(missing["message"], "CONFIG_AWS_LAMBDA_FUNCTION", "missing: the function's name, or None")


# Keys that are wrong together: (keys, the key named, words)
BAD_TOGETHER = [
    ({"CONFIG_SENSOR": "adc", "CONFIG_SENSOR_PIN": 4, "CONFIG_SENSOR_THRESHOLD": 1}, "CONFIG_SENSOR_PIN",
     "GPIO 4 cannot be read while WiFi is on (ADC2 is the radio's); use one of 32, 33"),
    ({"CONFIG_SENSOR": "dht22", "CONFIG_SENSOR_THRESHOLD": 30}, "CONFIG_SENSOR_PIN", "missing: the GPIO"),
    ({"CONFIG_SENSOR": "ds18x20", "CONFIG_SENSOR_PIN": 4}, "CONFIG_SENSOR_THRESHOLD", "missing"),
    ({"CONFIG_SENSOR": "dht22", "CONFIG_SENSOR_PIN": 4, "CONFIG_SENSOR_THRESHOLD": 30, "CONFIG_SENSOR_PERIOD_S": 1},
     "CONFIG_SENSOR_PERIOD_S", "from 2"),
    ({"CONFIG_DEEP_SLEEP": True, "CONFIG_BUTTON_PIN": 5}, "CONFIG_BUTTON_PIN",
     "GPIO 5 cannot wake the board from deep sleep"),
    ({"CONFIG_TIMEOUT": 60, "CONFIG_WATCHDOG_S": 200}, "CONFIG_WATCHDOG_S", "from 271"),
]


@pytest.mark.parametrize("keys, key, words", BAD_TOGETHER, ids=[b[1] for b in BAD_TOGETHER])
def test_keys_wrong_together(keys, key, words):
    with pytest.raises(errors.ConfigError) as excinfo:
        settings.load(module_with(**keys))
    check_message(str(excinfo.value), key, words)


def test_subjects_and_messages_sns_takes(device):
    """What SNS accepts passes: 100 printable ASCII characters, punctuation first; any text
    in a message (it need not be ASCII)."""
    keys = {"CONFIG_BUTTON_SUBJECT": "~" + "x" * 99, "CONFIG_SENSOR_SUBJECT": "!Fridge (kitchen)",
            "CONFIG_BUTTON_SHORT_MESSAGE": "Türklingel 🔔", "CONFIG_BUTTON_LONG_MESSAGE": " held\n"}
    s = settings.load(module_with(**keys))
    assert (s.button_subject, s.sensor_subject, s.button_short_message, s.button_long_message) == tuple(keys.values())
    run = device.run([{"op": "settings", "config": dict(default_config(), **keys)}])
    assert run.result.get("error") is None, run


def test_device_keys_default_to_no_hardware():
    """A computer's config.py has no board keys: no button, sensor, LED; the outbox in the
    current directory."""
    s = settings.load(module_with())
    assert (s.button_pin, s.sensor, s.led_pin, s.deep_sleep) == (None, None, None, False)
    assert (s.outbox_path, s.outbox_limit, s.debounce_ms, s.watchdog_s) == ("outbox.txt", 50, 50, 120)
    assert s.start_delay_s == 3


def test_the_template_is_a_valid_config():
    """config_template.py, copied as it is, loads (the user fills in the values)."""
    import importlib.util

    from conftest import FIRMWARE

    spec = importlib.util.spec_from_file_location("config_template", FIRMWARE + "/config_template.py")
    template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(template)
    s = settings.load(template)
    assert (s.button_pin, s.led_pin, s.sensor, s.deep_sleep) == (0, 2, None, False)
    sensor = settings.load(module_with(CONFIG_SENSOR="adc", CONFIG_SENSOR_PIN=34, CONFIG_SENSOR_THRESHOLD=1.5,
                                       CONFIG_SENSOR_ALERT_WHEN="below", CONFIG_DEEP_SLEEP=True, CONFIG_BUTTON_PIN=0))
    assert (sensor.sensor_pin, sensor.sensor_alert_above, sensor.sensor_unit) == (34, False, "V")


def test_secret_not_in_repr_in_process():
    s = settings.load(module_with(CONFIG_AWS_SESSION_TOKEN="FQoGZXIvYXdzEXAMPLETOKEN1234567890"))
    assert s.secret_key == SECRET_KEY
    for text in (repr(s), str(s)):
        assert SECRET_KEY not in text and "FQoGZXIvYXdzEXAMPLETOKEN" not in text


def test_a_leaked_secret_fails_the_run(tmp_path):
    """The output check every run makes does catch a secret (here, put where the log
    quotes it: a queued message's subject)."""
    dev = Device("cpython", tmp_path)
    dev.sim = True  # the simulated board's steps: "queue"
    dev.write_config(CONFIG_OUTBOX_PATH=str(tmp_path / "outbox.txt"))
    with pytest.raises(AssertionError, match="a secret is in the cpython driver's output"):
        dev.run([{"op": "queue", "subject": SECRET_KEY, "body": "b"}])


BOARD_MISTAKES = [("CONFIG_LED_PIN", 99, "must be a GPIO number"), ("CONFIG_WIFI_SSID", 42, "must be a string"),
                  ("CONFIG_SENSOR", "bmp280", "must be one of")]


@pytest.mark.parametrize("key, value, words", BOARD_MISTAKES, ids=[m[0] for m in BOARD_MISTAKES])
def test_config_py_board_keys_are_checked_on_first_use(monkeypatch, key, value, words):
    """settings.load() of config.py (what app.config() does): a notify needs no board key, so
    a mistake in one does not stop it; the device loop's check_board(), or the first read
    of a board key, raises it. Given a module, as the host tools do, load() checks them all."""
    monkeypatch.setitem(sys.modules, "config", module_with(**{key: value}))
    for step in (lambda s: s.check_board(), lambda s: s.led_pin):
        s = settings.load()
        assert (s.region, s.outbox_limit, s.device_id) == ("us-east-1", 50, None)
        with pytest.raises(errors.ConfigError) as excinfo:
            step(s)
        check_message(str(excinfo.value), key, words)
    with pytest.raises(errors.ConfigError):
        settings.load(module_with(**{key: value}))
    with pytest.raises(errors.ConfigError):
        settings.Settings(module_with(**{key: value}))


def test_config_py_board_keys_read_after_a_lazy_load(monkeypatch):
    monkeypatch.setitem(sys.modules, "config", module_with(CONFIG_LED_PIN=2, CONFIG_NTP_HOSTS="ntp.example.org"))
    s = settings.load()
    assert (s.led_pin, s.ntp_hosts, s.button_pin, s.watchdog_s) == (2, ("ntp.example.org",), None, 120)
    assert s.check_board() is s
    with pytest.raises(AttributeError):
        s.no_such_setting  # noqa: B018


CHECKS_FORGOTTEN = """\
import sys
sys.path[:0] = [%(config)r, %(lib)r]
from mpaws import errors, settings
import mpaws
s = settings.load()
loaded = [name for name in sys.modules if name.startswith("mpaws.")]
board = s.check_board().led_pin
after = [name for name in sys.modules if name.startswith("mpaws.")]
try:
    settings.load(type("Config", (), {})())
except errors.ConfigError as e:
    failed = str(e)
print(repr((sorted(loaded), sorted(after), hasattr(mpaws, "settings_aws"), hasattr(mpaws, "settings_board"),
            board, failed)))
"""


def test_the_checks_are_forgotten_after_a_load(tmp_path, micropython):
    """Under MicroPython: the modules holding the checks are not kept once a load is done
    (their heap is free again), also after a failed check, and load again when needed."""
    import ast

    from conftest import FIRMWARE_LIB, run_micropython

    (tmp_path / "config.py").write_text("".join("%s = %r\n" % item for item in default_config().items()))
    ran = run_micropython(micropython, ["-c", CHECKS_FORGOTTEN % {"config": str(tmp_path), "lib": FIRMWARE_LIB}])
    assert ran.returncode == 0, ran.stderr
    loaded, after, aws, board, led, failed = ast.literal_eval(ran.stdout.strip())
    assert loaded == after and "mpaws.settings" in loaded
    assert not [name for name in loaded if name.startswith("mpaws.settings_")]
    assert (aws, board, led) == (False, False, None)
    assert failed.startswith("CONFIG_AWS_ACCESS_KEY: missing")


# What the template sets on purpose, differently from the loader's default for a missing key:
# the example credentials and WiFi the user replaces, and the board wiring it turns on.
TEMPLATE_CHOICES = {"CONFIG_WIFI_SSID", "CONFIG_WIFI_PASSWORD", "CONFIG_BUTTON_PIN", "CONFIG_LED_PIN",
                    "CONFIG_SENSOR_PIN", "CONFIG_SENSOR_THRESHOLD", "CONFIG_SENSOR_SUBJECT"}


def test_the_template_says_what_the_loader_does_when_a_key_is_left_out():
    """A user who deletes an optional key from config.py gets what the template showed
    (e.g. the NTP hosts, the sensor unit), except for the template's deliberate choices."""
    import importlib.util

    from conftest import FIRMWARE

    spec = importlib.util.spec_from_file_location("config_template", FIRMWARE + "/config_template.py")
    config_template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config_template)

    def loaded(module):
        return {k: v for k, v in vars(settings.Settings(module)).items() if not k.startswith("_")}

    keys = [k for k in dir(config_template) if k.startswith("CONFIG_")]
    full = loaded(config_template)
    differs = set()
    for key in keys:
        module = types.ModuleType("config")
        for k in keys:
            if k != key:
                setattr(module, k, getattr(config_template, k))
        try:
            without = loaded(module)
        except errors.ConfigError:
            continue  # a required key
        if without != full:
            differs.add(key)
    assert differs == TEMPLATE_CHOICES
