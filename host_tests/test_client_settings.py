"""The device's config module, validated by mpaws.settings: every bad key raises one
errors.ConfigError whose message names the key, and the secret key never shows in a
message or a repr. Checked in-process under CPython and by the firmware under MicroPython."""
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
    ("CONFIG_AWS_REGION", "ap-southeast1", "'ap-southeast1' is not an AWS region name"),
    ("CONFIG_AWS_REGION", "", "is empty"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "bad name!", "'bad name!'"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "arn:aws:lambda:eu-west-1:123456789012:function:notify",
     "in region eu-west-1 but CONFIG_AWS_REGION is us-east-1"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "arn:aws:lambda:us-east-1:1234:function:notify", "12 digits"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123:topic", "is not an SNS topic ARN"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", "mpaws-topic", "is not an SNS topic ARN"),
    ("CONFIG_AWS_HOST", "bad host:99999", "'bad host:99999' is not a host name"),
    ("CONFIG_AWS_HOST", "localhost:99999", "must be a number from 1 to 65535"),
    ("CONFIG_AWS_HOST", "localhost:0", "must be a number from 1 to 65535"),
    ("CONFIG_TLS_CA", MISSING_CA, "no file or folder '%s'" % MISSING_CA),
    ("CONFIG_TLS_VERIFY", "yes", "must be True or False"),
    ("CONFIG_TLS_VERIFY", 1, "must be True or False"),
    ("CONFIG_TIMEOUT", "10", "seconds"),
    ("CONFIG_TIMEOUT", 0, "seconds"),
    ("CONFIG_NTP_HOSTS", [], "a list of NTP host names"),
]
IDS = ["%s=%r" % (key, value) for key, value, _ in BAD]
SECRETS = [SECRET_KEY] + [v for k, v, _ in BAD if k == "CONFIG_AWS_SECRET_KEY" and isinstance(v, str)]


def module_with(**keys):
    module = types.ModuleType("config")
    for key, value in dict(default_config(), **keys).items():
        setattr(module, key, value)
    return module


def check_message(message, key, words):
    assert message.startswith(key + ": "), message
    assert words in message, message
    assert "config.py" in message  # says where to fix it
    for secret in SECRETS:
        assert secret.strip() not in message


@pytest.mark.parametrize("key, value, words", BAD, ids=IDS)
def test_bad_key_in_process(key, value, words):
    with pytest.raises(errors.ConfigError) as excinfo:
        settings.load(module_with(**{key: value}))
    check_message(str(excinfo.value), key, words)
    check_message(excinfo.value.message, key, words)
    assert SECRET_KEY not in repr(excinfo.value)


def test_bad_keys_in_the_firmware(device):
    """The same cases through the firmware, one process per runtime."""
    device.secrets.extend(s for s in SECRETS if s not in device.secrets)
    steps = [{"op": "settings", "config": dict(default_config(), **{key: value})} for key, value, _ in BAD]
    run = device.run(steps)
    for (key, value, words), result in zip(BAD, run.results):
        assert_error(result, "ConfigError")
        check_message(result["message"], key, words)


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


def test_secret_not_in_repr_in_process():
    s = settings.load(module_with(CONFIG_AWS_SESSION_TOKEN="FQoGZXIvYXdzEXAMPLETOKEN1234567890"))
    assert s.secret_key == SECRET_KEY
    for text in (repr(s), str(s)):
        assert SECRET_KEY not in text and "FQoGZXIvYXdzEXAMPLETOKEN" not in text


def test_a_leaked_secret_fails_the_run(tmp_path):
    """The output check every run makes does catch a secret (here, put where a message
    quotes the value: the region)."""
    dev = Device("cpython", tmp_path)
    with pytest.raises(AssertionError, match="a secret is in the cpython driver's output"):
        dev.run([{"op": "settings", "config": dict(default_config(), CONFIG_AWS_REGION=SECRET_KEY)}])
