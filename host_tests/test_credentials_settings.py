"""The config loader with certificate auth (mpaws.settings_cert), in the firmware under both
runtimes: static keys or a device certificate, whole; both, neither, or half of either is
refused with a message naming the keys (and never quoting the secret key)."""
import pytest

from device import SECRET_KEY, default_config, device, runtime  # noqa: F401


def cert_config(tmp_path, **keys):
    cert, key = tmp_path / "device.cert.der", tmp_path / "device.key.der"
    cert.write_bytes(b"\x30" + b"c" * 500)
    key.write_bytes(b"\x30" + b"k" * 120)
    config = dict(default_config(), CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                  CONFIG_AWS_CREDENTIALS_ENDPOINT="c2abcdefgh.credentials.iot.us-east-1.amazonaws.com",
                  CONFIG_AWS_ROLE_ALIAS="mpaws-role-alias", CONFIG_AWS_THING_NAME="mpaws-thing-1",
                  CONFIG_TLS_CERT=str(cert), CONFIG_TLS_KEY=str(key))
    config.update(keys)
    return config


CERT_KEYS = ("CONFIG_AWS_CREDENTIALS_ENDPOINT", "CONFIG_AWS_ROLE_ALIAS", "CONFIG_AWS_THING_NAME", "CONFIG_TLS_CERT",
             "CONFIG_TLS_KEY")


def test_certificate_config_in_the_firmware(device, tmp_path):
    good = cert_config(tmp_path)
    bad = [
        (dict(good, CONFIG_AWS_ACCESS_KEY="AKIAMPAWSTESTDEVICE1", CONFIG_AWS_SECRET_KEY=SECRET_KEY),
         ["CONFIG_AWS_ACCESS_KEY, CONFIG_AWS_SECRET_KEY", "not both"] + list(CERT_KEYS)),
        (dict(good, CONFIG_AWS_SESSION_TOKEN="token" * 10), ["CONFIG_AWS_SESSION_TOKEN", "not both"]),
        (dict(good, CONFIG_AWS_ROLE_ALIAS=None, CONFIG_TLS_KEY=None),
         ["CONFIG_AWS_ROLE_ALIAS, CONFIG_TLS_KEY", "missing"]),
        (dict(default_config(), CONFIG_AWS_THING_NAME="mpaws-thing-1"), ["not both", "CONFIG_AWS_THING_NAME"]),
        (dict(default_config(), CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None),
         ["CONFIG_AWS_ACCESS_KEY", "missing", "CONFIG_TLS_CERT"]),
        (dict(default_config(), CONFIG_AWS_SECRET_KEY=None), ["CONFIG_AWS_SECRET_KEY", "missing"]),
        (dict(good, CONFIG_TLS_KEY=str(tmp_path / "nowhere.der")), ["CONFIG_TLS_KEY", "no file"]),
        (dict(good, CONFIG_AWS_THING_NAME="thing one"), ["CONFIG_AWS_THING_NAME", "not a thing name"]),
        (dict(good, CONFIG_AWS_ROLE_ALIAS="alias/x"), ["CONFIG_AWS_ROLE_ALIAS", "not a role alias"]),
        (dict(good, CONFIG_AWS_CREDENTIALS_ENDPOINT="https://x.credentials.iot.us-east-1.amazonaws.com"),
         ["CONFIG_AWS_CREDENTIALS_ENDPOINT"]),
    ]
    run = device.run([{"op": "settings", "config": good}] + [{"op": "settings", "config": c} for c, _ in bad])
    first = run.results[0]
    assert first["ok"] and "thing mpaws-thing-1" in first["repr"], first
    for (config, words), result in zip(bad, run.results[1:]):
        assert result.get("error") == "ConfigError", (config, result)
        for word in words:
            assert word in result["message"], (word, result["message"])
        assert SECRET_KEY not in result["message"]


@pytest.mark.parametrize("port", [None, 8443])
def test_endpoint_port(device, tmp_path, port):
    endpoint = "c2abcdefgh.credentials.iot.us-east-1.amazonaws.com" + (":%d" % port if port else "")
    run = device.run([{"op": "settings", "config": cert_config(tmp_path, CONFIG_AWS_CREDENTIALS_ENDPOINT=endpoint)}])
    assert run.result["ok"], run.result
