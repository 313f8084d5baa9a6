"""The API Gateway mode's keys in config.py (CONFIG_AWS_API_URL, CONFIG_AWS_API_KEY), checked
by mpaws.settings in-process under CPython and by the firmware under MicroPython: each bad
value names the key and the fix, and an API key is never quoted (its length and the kind of
character wrong are told instead)."""
import pytest

from device import assert_error, default_config, device, runtime  # noqa: F401
from mpaws import errors, settings
from test_client_settings import module_with

URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
KEY = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"
BAD_KEYS = ["short0123", "has a space in it 0123456789", "ümlaut-ümlaut-ümlaut-ümlaut", "x" * 129,
            "semi;colon;0123456789012345"]

BAD = [
    (dict(CONFIG_AWS_API_URL="http://abc.execute-api.us-east-1.amazonaws.com/prod"), "CONFIG_AWS_API_URL",
     "must start with https://"),
    (dict(CONFIG_AWS_API_URL="https://api.example.com/prod?x=1"), "CONFIG_AWS_API_URL", "no spaces"),
    (dict(CONFIG_AWS_API_URL="https://abc.execute-api.eu-west-1.amazonaws.com/prod"), "CONFIG_AWS_API_URL",
     "in region eu-west-1 but CONFIG_AWS_REGION is us-east-1"),
    (dict(CONFIG_AWS_API_URL=42), "CONFIG_AWS_API_URL", "must be a string"),
    (dict(CONFIG_AWS_API_KEY=KEY), "CONFIG_AWS_API_KEY", "only with CONFIG_AWS_API_URL"),
    (dict(CONFIG_AWS_API_URL=URL, CONFIG_AWS_ACCESS_KEY=None), "CONFIG_AWS_ACCESS_KEY", "missing"),
] + [(dict(CONFIG_AWS_API_URL=URL, CONFIG_AWS_API_KEY=key), "CONFIG_AWS_API_KEY",
      "this one has %d characters" % len(key)) for key in BAD_KEYS]


def check(message, key, words):
    assert message.startswith(key + ": ") and words in message and "config.py" in message, message
    for secret in BAD_KEYS + [KEY]:
        assert secret not in message


@pytest.mark.parametrize("keys, key, words", BAD, ids=[k for _, k, _ in BAD])
def test_bad_api_keys_in_process(keys, key, words):
    with pytest.raises(errors.ConfigError) as raised:
        settings.load(module_with(**keys))
    check(str(raised.value), key, words)


def test_bad_api_keys_in_the_firmware(device):
    device.secrets.extend(BAD_KEYS + [KEY])
    run = device.run([{"op": "settings", "config": dict(default_config(), **keys)} for keys, _, _ in BAD])
    for (keys, key, words), result in zip(BAD, run.results):
        assert_error(result, "ConfigError")
        check(result["message"], key, words)


def test_api_key_mode_needs_no_aws_key_and_no_function():
    config = dict(default_config(), CONFIG_AWS_API_URL="https://api.example.com/v1", CONFIG_AWS_API_KEY=KEY,
                  CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None)
    del config["CONFIG_AWS_LAMBDA_FUNCTION"]
    module = module_with()
    for name, value in config.items():
        setattr(module, name, value)
    delattr(module, "CONFIG_AWS_LAMBDA_FUNCTION")
    s = settings.load(module)
    assert (s.api_url, s.api_key, s.access_key, s.function) == ("https://api.example.com/v1", KEY, None, None)
    assert KEY not in repr(s)


def test_iam_mode_takes_the_region_from_the_url():
    s = settings.load(module_with(CONFIG_AWS_API_URL=URL))
    assert (s.api_url, s.api_key, s.api_region, s.region) == (URL, None, "us-east-1", "us-east-1")
