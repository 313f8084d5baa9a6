"""Values that are letters or digits in Unicode but not in ASCII: the loader refuses them on
CPython as on MicroPython (str.isalpha()/isdigit() accept them on CPython only), so that
`make provision` (tools/board.py, CPython) never says "config OK" for a config the board
stops on. One table, through the firmware on both runtimes and through provision's check."""
import os
import sys

import pytest

from device import assert_error, default_config, device, runtime  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))

import board  # noqa: E402  (tools/board.py: make provision's check)

ARABIC_INDIC = "\u0664\u0664\u0663"  # 443 in Arabic-Indic digits
NON_ASCII = [
    ("CONFIG_DEVICE_ID", "k\u00fcche"),
    ("CONFIG_DEVICE_ID", "\u0664\u0662"),
    ("CONFIG_AWS_HOST", "localhost:" + ARABIC_INDIC),
    ("CONFIG_AWS_HOST", "lambda.us-east-1.amazonaws.com:" + ARABIC_INDIC),
    ("CONFIG_AWS_REGION", "us-\u00e9ast-1"),
    ("CONFIG_AWS_REGION", "us-east-\u0661"),
    ("CONFIG_AWS_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
     "\u0660\u0661\u0662:mpaws-topic"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "notify-\u00fc"),
    ("CONFIG_AWS_LAMBDA_FUNCTION", "arn:aws:lambda:us-east-1:\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"
     "\u0669\u0660\u0661\u0662:function:notify"),
    ("CONFIG_AWS_ACCESS_KEY", "AKIA\u00c4OSFODNN7EXAMPLE"),
    ("CONFIG_AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY\u00e9XAMPLEKEY"),
]
IDS = ["%s=%s" % (key, value.encode("ascii", "backslashreplace").decode()) for key, value in NON_ASCII]


def test_non_ascii_values_are_refused_by_the_firmware(device):
    steps = [{"op": "settings", "config": dict(default_config(), **{key: value})} for key, value in NON_ASCII]
    run = device.run(steps)
    for (key, _), result in zip(NON_ASCII, run.results):
        assert_error(result, "ConfigError")
        assert result["message"].startswith(key + ": "), result["message"]


@pytest.mark.parametrize("key, value", NON_ASCII, ids=IDS)
def test_non_ascii_values_are_refused_by_provision(key, value):
    config = dict(default_config(), **{key: value})
    source = "".join("%s = %r\n" % item for item in config.items())
    with pytest.raises(board.BoardError) as excinfo:
        board.validate_config(source, "config.py")
    assert key in str(excinfo.value) and "does not validate" in str(excinfo.value)


def test_the_same_values_in_ascii_pass(device):
    # The table's keys with ASCII values of the same shape: the refusals above are about
    # the characters, not the keys.
    good = [("CONFIG_DEVICE_ID", "kueche"), ("CONFIG_AWS_REGION", "us-east-1"), ("CONFIG_AWS_LAMBDA_FUNCTION",
                                                                                   "notify-u")]
    run = device.run([{"op": "settings", "config": dict(default_config(), **{key: value})} for key, value in good])
    for result in run.results:
        assert result.get("ok"), result
