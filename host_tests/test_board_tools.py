"""The board workflow (make flash/deploy/provision/repl/notify/status, tools/board.py) with
DRY_RUN=1: the exact esptool and mpremote commands, checked against MicroPython's documented
flash offsets, replayed on a directory standing in for the board's filesystem, and run
under the MicroPython unix port; plus package.json and manifest.py against the library."""
import ast
import io
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import urllib.request

import pytest

from conftest import FIRMWARE_LIB, REPO, run_micropython

import board

PORT = "/dev/ttyUSB0"
MPREMOTE = ".venv/bin/mpremote"
ESPTOOL = ".venv/bin/esptool"
PYTHON = ".venv/bin/python"
# What deploy, provision and notify begin with: a hard reset, then a Ctrl-C in main.py's
# start-up grace, so that the board's REPL has no watchdog running during the work.
STOP_BEFORE_WATCHDOG = [[MPREMOTE, "connect", PORT, "reset"], [PYTHON, "tools/board.py", "interrupt", "--port", PORT]]
ACCESS_KEY = "AKIAMPAWSBOARDTEST01"
SECRET_KEY = "boardTestSecret/MustNotBePrinted+0123456789"
WIFI_PASSWORD = "wifi-Secret-Never-Printed"
# The flash_offset of MicroPython's ESP32_GENERIC, _S2, _S3, _C3 and _C6 boards
# (ports/esp32/boards/*/board.json; the download pages' esptool commands).
DOCUMENTED_OFFSETS = {"esp32": "0x1000", "esp32s2": "0x1000", "esp32s3": "0x0", "esp32c3": "0x0", "esp32c6": "0x0"}
# IMAGE_CHIP_ID in esptool's targets/<chip>.py.
ESPTOOL_CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32s3": 9, "esp32c3": 5, "esp32c6": 13}


def make(*args):
    """`make ARGS` in the repository; CompletedProcess (text). PORT etc. come from args only."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PORT", "FIRMWARE", "CHIP", "CONFIG", "ENV_FILE",
                                                               "SUBJECT", "BODY", "DRY_RUN", "MAKEFLAGS")}
    return subprocess.run(["make", "--no-print-directory", "-s"] + list(args), cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=120)


def tool(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "board.py")] + list(args), cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def mpremote_steps(argv):
    """[[command, args...], ...] of `mpremote connect PORT a + b + ...`."""
    assert argv[:3] == [MPREMOTE, "connect", PORT], argv
    steps, step = [], []
    for word in argv[3:]:
        if word == "+":
            steps.append(step)
            step = []
        else:
            step.append(word)
    steps.append(step)
    return steps


def printed(result, program=None):
    """The commands a dry run printed, each split as the shell would (a quoted argument
    may span lines); only those of `program` when given."""
    out, pending = [], ""
    for line in result.stdout.split("\n"):
        pending += line + "\n"
        try:
            argv = shlex.split(pending)
        except ValueError:  # inside quotes: the command goes on on the next line
            continue
        if argv and (program is None or argv[0] == program):
            out.append(argv)
        pending = ""
    assert not pending.strip(), result.stdout
    return out


def esp_image(path, chip_id):
    """The first bytes of an ESP-IDF image: magic 0xE9, segment count, flash mode and size,
    entry point, then the extended header whose bytes 12-13 are the chip id."""
    header = struct.pack("<BBBBIBBBBH", 0xE9, 3, 2, 0x20, 0x40080000, 0xEE, 0, 0, 0, chip_id)
    path.write_bytes(header + bytes(64))
    return str(path)


def no_secret(result):
    for secret in (SECRET_KEY, WIFI_PASSWORD, SECRET_KEY[:12]):
        assert secret not in result.stdout + result.stderr


# -- flash ---------------------------------------------------------------------------------

def test_flash_dry_run_prints_erase_then_write_at_the_esp32_offset(tmp_path):
    firmware = esp_image(tmp_path / "ESP32_GENERIC-20250415-v1.25.0.bin", 0)
    result = make("flash", "DRY_RUN=1", "PORT=" + PORT, "FIRMWARE=" + firmware)
    assert result.returncode == 0, result.stderr
    assert printed(result) == [
        [ESPTOOL, "--chip", "esp32", "--port", PORT, "erase-flash"],
        [ESPTOOL, "--chip", "esp32", "--port", PORT, "--baud", "460800", "write-flash", "0x1000", firmware],
    ]


@pytest.mark.parametrize("chip", sorted(DOCUMENTED_OFFSETS))
def test_flash_takes_chip_and_offset_from_the_image(tmp_path, chip):
    firmware = esp_image(tmp_path / "fw.bin", ESPTOOL_CHIP_IDS[chip])
    result = tool("--dry-run", "flash", "--port", PORT, "--firmware", firmware)
    assert result.returncode == 0, result.stderr
    write = printed(result)[1]
    assert write[1:3] == ["--chip", chip]
    assert write[-2:] == [DOCUMENTED_OFFSETS[chip], firmware]


def test_flash_chip_variable_is_checked_against_the_image(tmp_path):
    s3 = esp_image(tmp_path / "s3.bin", ESPTOOL_CHIP_IDS["esp32s3"])
    ok = make("flash", "DRY_RUN=1", "PORT=" + PORT, "FIRMWARE=" + s3, "CHIP=ESP32-S3")
    assert ok.returncode == 0, ok.stderr
    assert printed(ok)[1][-2:] == ["0x0", s3]
    wrong = make("flash", "DRY_RUN=1", "PORT=" + PORT, "FIRMWARE=" + s3, "CHIP=esp32")
    assert wrong.returncode != 0
    assert "built for esp32s3, not CHIP=esp32" in wrong.stderr
    assert "esptool" not in wrong.stdout
    unknown = tool("--dry-run", "flash", "--port", PORT, "--firmware", s3, "--chip", "esp8266")
    assert unknown.returncode == 2 and "CHIP esp8266: not one of" in unknown.stderr


def test_flash_errors_name_what_is_missing(tmp_path):
    firmware = esp_image(tmp_path / "fw.bin", 0)
    no_port = make("flash", "DRY_RUN=1", "FIRMWARE=" + firmware)
    assert no_port.returncode != 0 and "PORT is missing" in no_port.stderr
    no_firmware = make("flash", "DRY_RUN=1", "PORT=" + PORT)
    assert no_firmware.returncode != 0 and "FIRMWARE is missing" in no_firmware.stderr
    absent = make("flash", "DRY_RUN=1", "PORT=" + PORT, "FIRMWARE=" + str(tmp_path / "absent.bin"))
    assert absent.returncode != 0 and "absent.bin: no such file" in absent.stderr
    page = tmp_path / "saved-page.bin"
    page.write_text("<!DOCTYPE html><html>MicroPython downloads</html>")
    html = make("flash", "DRY_RUN=1", "PORT=" + PORT, "FIRMWARE=" + str(page))
    assert html.returncode != 0 and "is not an ESP32 firmware image" in html.stderr
    for result in (no_port, no_firmware, absent, html):
        assert result.stdout == ""


def test_flash_real_run_refuses_a_port_that_does_not_exist(tmp_path):
    firmware = esp_image(tmp_path / "fw.bin", 0)
    result = tool("flash", "--port", str(tmp_path / "ttyUSB9"), "--firmware", firmware)
    assert result.returncode == 2 and "does not exist: is the board plugged in" in result.stderr


def test_dry_run_needs_no_board_tools(tmp_path):
    stamp = "BOARD_STAMP=%s" % (tmp_path / "board-installed")
    firmware = esp_image(tmp_path / "fw.bin", 0)
    dry = make("-n", "flash", "DRY_RUN=1", "PORT=" + PORT, "FIRMWARE=" + firmware, stamp)
    assert "requirements-board.txt" not in dry.stdout
    real = make("-n", "flash", "PORT=" + PORT, "FIRMWARE=" + firmware, stamp)
    assert "pip install --quiet -r requirements-board.txt" in real.stdout


def _pins(name):
    with open(os.path.join(REPO, name)) as f:
        return dict(line.strip().split("==") for line in f if line.strip() and not line.startswith("#"))


def test_board_tools_are_pinned_with_the_same_versions_in_the_dev_requirements():
    board, dev = _pins("requirements-board.txt"), _pins("requirements-dev.txt")
    assert sorted(board) == ["esptool", "mpremote"] and all(board.values())
    # The tests run mpremote's code, and make image runs esptool's image parser (without a
    # board): the versions they check are the ones the board targets use.
    assert dev["mpremote"] == board["mpremote"] and dev["esptool"] == board["esptool"]


# -- deploy --------------------------------------------------------------------------------

def fake_build(root):
    for name, data in (("lib/mpaws/sigv4.mpy", b"M1"), ("lib/mpaws/__init__.mpy", b"M2"), ("app.mpy", b"M3"),
                       ("certs/AmazonRootCA1.der", b"C1"), ("main.py", b"main"), ("boot.py", b"boot"),
                       ("config.mpy", b"secret"), ("config_template.mpy", b"template")):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_deploy_copies_every_built_file_main_last_never_config(tmp_path):
    build = fake_build(tmp_path / "build")
    result = tool("--dry-run", "deploy", "--port", PORT, "--build", str(build))
    assert result.returncode == 0, result.stderr
    *stop, argv = printed(result)
    assert stop == STOP_BEFORE_WATCHDOG
    steps = mpremote_steps(argv)
    assert steps[0][0] == "exec"
    assert steps[1:-1] == [["fs", "cp", str(build / src), ":" + src] for src in (
        "app.mpy", "certs/AmazonRootCA1.der", "lib/mpaws/__init__.mpy", "lib/mpaws/sigv4.mpy", "boot.py", "main.py")]
    assert steps[-1] == ["reset"]  # the new firmware starts


def apply_to_board(micropython, steps, board_dir):
    """Replays mpremote's `exec` and `fs cp SRC :DEST` steps on a folder standing in for the
    board's filesystem (exec runs under the MicroPython unix port, in that folder)."""
    for step in steps:
        if step == ["reset"]:
            continue  # the board starts main.py: nothing to copy
        if step[0] == "exec":
            result = run_micropython(micropython, ["-c", step[1]], cwd=str(board_dir))
            assert result.returncode == 0, result.stderr
        else:
            assert step[:2] == ["fs", "cp"] and step[3].startswith(":"), step
            source = step[2] if os.path.isabs(step[2]) else os.path.join(REPO, step[2])
            shutil.copyfile(source, os.path.join(board_dir, step[3][1:]))  # fails if the folder is missing


def test_deploy_of_the_real_build_runs_on_micropython(tmp_path, micropython):
    board_dir = tmp_path / "board"
    (board_dir / "lib" / "mpaws").mkdir(parents=True)  # folders from an earlier deploy
    (board_dir / "lib" / "mpaws" / "sigv4.py").write_text("raise ImportError('stale source copy')\n")
    (board_dir / "config.py").write_text("CONFIG_AWS_REGION = 'eu-west-1'\n")
    result = make("deploy", "DRY_RUN=1", "PORT=" + PORT)
    assert result.returncode == 0, result.stderr
    reset, argv = printed(result, MPREMOTE)
    assert reset == STOP_BEFORE_WATCHDOG[0]
    steps = mpremote_steps(argv)
    built = sorted(os.path.relpath(os.path.join(d, n), os.path.join(REPO, "build", "firmware"))
                   for d, _, names in os.walk(os.path.join(REPO, "build", "firmware")) for n in names)
    copied = sorted(step[3][1:] for step in steps[1:-1])
    assert copied == [f for f in built if f not in board.NOT_DEPLOYED]
    apply_to_board(micropython, steps, board_dir)

    assert not (board_dir / "lib" / "mpaws" / "sigv4.py").exists()
    assert (board_dir / "config.py").read_text() == "CONFIG_AWS_REGION = 'eu-west-1'\n"
    check = ("import sys; sys.path.append('lib')\n"
             "from mpaws import sigv4, certs\n"
             "print(sigv4.__file__, len(certs.load_certificates()))")
    ran = run_micropython(micropython, ["-c", check], cwd=str(board_dir))
    assert ran.returncode == 0, ran.stderr
    module, certificates = ran.stdout.split()
    assert module == "lib/mpaws/sigv4.mpy"
    assert int(certificates) == len([n for n in os.listdir(board_dir / "certs") if n.endswith(".der")]) > 0


def test_deploy_without_a_build_says_so(tmp_path):
    result = tool("--dry-run", "deploy", "--port", PORT, "--build", str(tmp_path / "none"))
    assert result.returncode == 2 and "run `make build`" in result.stderr


# -- provision ----------------------------------------------------------------------------

def config_text(**override):
    keys = {
        "CONFIG_AWS_ACCESS_KEY": ACCESS_KEY,
        "CONFIG_AWS_SECRET_KEY": SECRET_KEY,
        "CONFIG_AWS_REGION": "eu-west-1",
        "CONFIG_AWS_LAMBDA_FUNCTION": "mpaws-notify",
        "CONFIG_AWS_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:mpaws-topic",
        "CONFIG_WIFI_SSID": "home",
        "CONFIG_WIFI_PASSWORD": WIFI_PASSWORD,
    }
    keys.update(override)
    return "".join("%s = %r\n" % (k, v) for k, v in keys.items() if v is not None)


def test_provision_copies_a_valid_config_py(tmp_path):
    config = tmp_path / "config.py"
    config.write_text(config_text())
    result = make("provision", "DRY_RUN=1", "PORT=" + PORT, "CONFIG=" + str(config))
    assert result.returncode == 0, result.stderr
    assert printed(result) == STOP_BEFORE_WATCHDOG + [
        [MPREMOTE, "connect", PORT, "fs", "cp", str(config), ":config.py", "+", "reset"]]
    assert "config OK" in result.stderr and ACCESS_KEY in result.stderr
    no_secret(result)


def test_provision_copies_the_device_certificate_and_key_first(tmp_path):
    """Certificate auth: the two files next to config.py go to the board before config.py;
    the key's content is printed nowhere."""
    config = tmp_path / "config.py"
    (tmp_path / "dev.cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPrivateKeyContentDoNotPrint\n-----END EC PRIVATE KEY-----\n"
    (tmp_path / "dev.key.pem").write_text(key)
    config.write_text(config_text(CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                                  CONFIG_AWS_CREDENTIALS_ENDPOINT="abc.credentials.iot.eu-west-1.amazonaws.com",
                                  CONFIG_AWS_ROLE_ALIAS="mpaws-device", CONFIG_AWS_THING_NAME="mpaws-device",
                                  CONFIG_TLS_CERT="dev.cert.pem", CONFIG_TLS_KEY="dev.key.pem"))
    result = make("provision", "DRY_RUN=1", "PORT=" + PORT, "CONFIG=" + str(config))
    assert result.returncode == 0, result.stderr
    assert printed(result) == STOP_BEFORE_WATCHDOG + [
        [MPREMOTE, "connect", PORT, "fs", "cp", str(tmp_path / "dev.cert.pem"), ":dev.cert.pem"],
        [MPREMOTE, "connect", PORT, "fs", "cp", str(tmp_path / "dev.key.pem"), ":dev.key.pem"],
        [MPREMOTE, "connect", PORT, "fs", "cp", str(config), ":config.py", "+", "reset"]]
    assert "PrivateKeyContent" not in result.stdout + result.stderr
    (tmp_path / "dev.key.pem").unlink()
    result = make("provision", "DRY_RUN=1", "PORT=" + PORT, "CONFIG=" + str(config))
    assert result.returncode != 0 and "CONFIG_TLS_KEY" in result.stderr and "no file" in result.stderr


@pytest.mark.parametrize("override, key", [
    ({"CONFIG_AWS_REGION": "Europe"}, "CONFIG_AWS_REGION"),
    ({"CONFIG_AWS_SECRET_KEY": None}, "CONFIG_AWS_SECRET_KEY"),
    ({"CONFIG_AWS_SECRET_KEY": SECRET_KEY + " "}, "CONFIG_AWS_SECRET_KEY"),
    ({"CONFIG_AWS_SNS_TOPIC_ARN": "mpaws-topic"}, "CONFIG_AWS_SNS_TOPIC_ARN"),
    ({"CONFIG_TIMEOUT": 0}, "CONFIG_TIMEOUT"),
    ({"CONFIG_WIFI_PASSWORD": 12345678}, "CONFIG_WIFI_PASSWORD"),
])
def test_provision_refuses_an_invalid_config_naming_the_key(tmp_path, override, key):
    config = tmp_path / "config.py"
    config.write_text(config_text(**override))
    result = make("provision", "DRY_RUN=1", "PORT=" + PORT, "CONFIG=" + str(config))
    assert result.returncode != 0
    assert key in result.stderr and "does not validate" in result.stderr
    assert result.stdout == ""
    no_secret(result)


PASTED = "wJalrXUtnFEMI/K7MDENG+PastedSecret0DoNotShow9"  # a secret under the wrong key


@pytest.mark.parametrize("key, value", [
    ("CONFIG_AWS_ROLE_ALIAS", PASTED),
    ("CONFIG_AWS_THING_NAME", PASTED),
    ("CONFIG_TLS_CERT", "/" + PASTED + ".pem"),
    ("CONFIG_TLS_KEY", "/" + PASTED + ".key"),
    ("CONFIG_OUTBOX_PATH", "/flash/" + PASTED + ".txt"),
    ("CONFIG_OUTBOX_PATH", "/flash/outbox.txt"),  # an ESP32's file system starts at /
])
def test_provision_refuses_a_config_value_without_quoting_it(tmp_path, key, value):
    """Certificate auth's names and paths, and the outbox's path in a folder the board does
    not have: refused naming the key; the value is described, never printed."""
    config = tmp_path / "config.py"
    (tmp_path / "dev.cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "dev.key.pem").write_text("-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n")
    keys = dict(CONFIG_AWS_ACCESS_KEY=None, CONFIG_AWS_SECRET_KEY=None,
                CONFIG_AWS_CREDENTIALS_ENDPOINT="abc.credentials.iot.eu-west-1.amazonaws.com",
                CONFIG_AWS_ROLE_ALIAS="mpaws-device", CONFIG_AWS_THING_NAME="mpaws-device",
                CONFIG_TLS_CERT="dev.cert.pem", CONFIG_TLS_KEY="dev.key.pem")
    keys[key] = value
    config.write_text(config_text(**keys))
    result = tool("--dry-run", "provision", "--port", PORT, "--config", str(config))
    assert result.returncode == 2 and key in result.stderr and "does not validate" in result.stderr, result.stderr
    assert "characters" in result.stderr
    assert PASTED not in result.stdout + result.stderr and "/flash" not in result.stdout + result.stderr
    no_secret(result)


@pytest.mark.parametrize("path", ["outbox.txt", "/outbox.txt", "/certs/outbox.txt", "lib/outbox.txt"])
def test_provision_takes_an_outbox_in_a_folder_the_board_has(tmp_path, path):
    config = tmp_path / "config.py"
    config.write_text(config_text(CONFIG_OUTBOX_PATH=path))
    result = tool("--dry-run", "provision", "--port", PORT, "--config", str(config))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("broken", [
    "CONFIG_AWS_SECRET_KEY = %s\n" % SECRET_KEY.replace("/", "_").replace("+", "_"),  # no quotes: NameError
    "CONFIG_AWS_SECRET_KEY = '%s\n" % SECRET_KEY,  # unterminated string
    "CONFIG_WIFI_PASSWORD = %s\n" % WIFI_PASSWORD.replace("-", "_"),
])
def test_provision_never_echoes_a_secret_from_a_broken_file(tmp_path, broken):
    config = tmp_path / "config.py"
    config.write_text(config_text() + broken)
    result = tool("--dry-run", "provision", "--port", PORT, "--config", str(config))
    assert result.returncode == 2 and "line 8" in result.stderr
    for secret in (SECRET_KEY.replace("/", "_").replace("+", "_"), WIFI_PASSWORD.replace("-", "_")):
        assert secret not in result.stdout + result.stderr
    no_secret(result)


ENV = """# mpaws board settings (git-ignored)
AWS_PROFILE=someone-else
export CONFIG_AWS_ACCESS_KEY=%s
CONFIG_AWS_SECRET_KEY='%s'
CONFIG_AWS_REGION=eu-west-1   # Ireland
CONFIG_AWS_LAMBDA_FUNCTION="mpaws-notify"
CONFIG_AWS_SNS_TOPIC_ARN=arn:aws:sns:eu-west-1:123456789012:mpaws-topic
CONFIG_TIMEOUT=7
CONFIG_TLS_VERIFY=True
CONFIG_NTP_HOSTS=["ntp.example.org", "time.example.net"]
CONFIG_WIFI_SSID="Caf\\u00e9 # 2"
CONFIG_WIFI_PASSWORD=12345678
""" % (ACCESS_KEY, SECRET_KEY)


def test_provision_from_env_writes_a_config_the_board_loads(tmp_path, micropython, capsys):
    env, out = tmp_path / ".env", tmp_path / "generated" / "config.py"
    env.write_text(ENV)
    result = tool("--dry-run", "provision", "--port", PORT, "--env-file", str(env), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert printed(result) == STOP_BEFORE_WATCHDOG + [
        [MPREMOTE, "connect", PORT, "fs", "cp", str(out), ":config.py", "+", "reset"]]
    assert not out.exists()  # it holds the secret: not left behind by a dry run either
    no_secret(result)
    # What a real run copies, written by the same code:
    commands, generated, _ = board.provision_plan(PORT, env_file=str(env), out=str(out))
    assert generated == str(out) and commands[-1][5] == str(out)
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    captured = capsys.readouterr()
    for secret in (SECRET_KEY, WIFI_PASSWORD):
        assert secret not in captured.out + captured.err
    # The firmware's loader, under MicroPython, reads back exactly what .env said.
    check = ("import sys; sys.path[:0] = [%r, %r]\n"
             "from mpaws import settings\n"
             "s = settings.load()\n"
             "print(repr((s.access_key, s.secret_key, s.region, s.function, s.timeout, s.verify_tls, "
             "list(s.ntp_hosts), s.wifi_ssid, s.wifi_password)))") % (str(out.parent), FIRMWARE_LIB)
    ran = run_micropython(micropython, ["-c", check])
    assert ran.returncode == 0, ran.stderr
    assert ast.literal_eval(ran.stdout.strip()) == (
        ACCESS_KEY, SECRET_KEY, "eu-west-1", "mpaws-notify", 7, True, ["ntp.example.org", "time.example.net"],
        "Caf\\u00e9 # 2", "12345678")


@pytest.mark.parametrize("line, message", [
    ("CONFIG_AWS_REGON=eu-west-1", "line 13: CONFIG_AWS_REGON is not a config key"),
    ("CONFIG_AWS_REGION=Ireland", "CONFIG_AWS_REGION"),
    ("this line has no equals sign %s" % SECRET_KEY, "line 13: expected KEY=value"),
])
def test_provision_from_env_refuses_mistakes_without_writing(tmp_path, line, message):
    env, out = tmp_path / ".env", tmp_path / "config.py"
    env.write_text(ENV + line + "\n")
    result = make("provision", "DRY_RUN=1", "PORT=" + PORT, "ENV_FILE=" + str(env))
    assert result.returncode != 0 and message in result.stderr
    result = tool("--dry-run", "provision", "--port", PORT, "--env-file", str(env), "--out", str(out))
    assert result.returncode == 2 and message in result.stderr
    assert not out.exists()
    no_secret(result)


def test_provision_needs_a_config_or_an_env(tmp_path):
    config = tmp_path / "config.py"
    config.write_text(config_text())
    both = tool("--dry-run", "provision", "--port", PORT, "--config", str(config), "--env-file", str(config))
    assert both.returncode == 2 and "not both" in both.stderr
    absent = tool("--dry-run", "provision", "--port", PORT, "--config", str(tmp_path / "nope.py"))
    assert absent.returncode == 2 and "nope.py: no such file" in absent.stderr


def test_provision_points_out_a_misspelt_key_and_the_template_examples(tmp_path):
    config = tmp_path / "config.py"
    config.write_text(config_text() + "CONFIG_SENSOR_TRESHOLD = 25.0\n")
    result = tool("--dry-run", "provision", "--port", PORT, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "note: CONFIG_SENSOR_TRESHOLD is not a key of config_template.py" in result.stderr
    assert "example values" not in result.stderr
    shutil.copy(board.TEMPLATE, config)  # copied, not filled in: it validates, and cannot work
    result = tool("--dry-run", "provision", "--port", PORT, "--config", str(config))
    assert result.returncode == 0 and "not a key" not in result.stderr
    examples = result.stderr.split("still the example values of config_template.py, fill in your own: ")[1]
    assert examples.split("\n")[0].split(", ") == list(board.TEMPLATE_EXAMPLES)


def test_provision_from_env_reads_a_bare_none_as_none(tmp_path):
    """CONFIG_AWS_LAMBDA_FUNCTION=None (direct SNS) and the like: None, even for a key whose
    template value is text; in quotes, the text."""
    env, out = tmp_path / ".env", tmp_path / "config.py"
    env.write_text(ENV.replace('CONFIG_AWS_LAMBDA_FUNCTION="mpaws-notify"', "CONFIG_AWS_LAMBDA_FUNCTION=None")
                   + "CONFIG_AWS_HOST=None\nCONFIG_DEVICE_ID=None   # the chip's id\nCONFIG_SENSOR_UNIT='None'\n")
    values = board.read_env(str(env), board.template_keys())
    assert isinstance(board.template_keys()["CONFIG_AWS_LAMBDA_FUNCTION"], str)
    assert (values["CONFIG_AWS_LAMBDA_FUNCTION"], values["CONFIG_AWS_HOST"], values["CONFIG_DEVICE_ID"]) == (
        None, None, None)
    assert values["CONFIG_SENSOR_UNIT"] == "None"
    result = tool("--dry-run", "provision", "--port", PORT, "--env-file", str(env), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "function=None host=sns.eu-west-1.amazonaws.com:443" in result.stderr
    no_secret(result)
    # A key that needs a value says so, by name.
    env.write_text(ENV + "CONFIG_AWS_REGION=None\n")
    refused = tool("--dry-run", "provision", "--port", PORT, "--env-file", str(env), "--out", str(out))
    assert refused.returncode == 2 and "CONFIG_AWS_REGION: missing" in refused.stderr


def test_provision_dry_run_from_env_leaves_no_secret_behind(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV)
    generated = os.path.join(REPO, "build", "provision", "config.py")
    result = make("provision", "DRY_RUN=1", "PORT=" + PORT, "ENV_FILE=" + str(env))
    assert result.returncode == 0, result.stderr
    assert printed(result)[-1][5] == "build/provision/config.py"
    assert not os.path.exists(generated)
    no_secret(result)


@pytest.mark.parametrize("length", [39, 40, 41])
def test_provision_notes_a_secret_key_that_is_not_40_characters(tmp_path, length):
    secret = (SECRET_KEY * 2)[:length]
    config = tmp_path / "config.py"
    config.write_text(config_text(CONFIG_AWS_SECRET_KEY=secret))
    result = tool("--dry-run", "provision", "--port", PORT, "--config", str(config))
    assert result.returncode == 0, result.stderr
    expected = "note: CONFIG_AWS_SECRET_KEY is %d characters long; the secret access keys AWS issues have 40" % length
    assert (expected in result.stderr) == (length != 40), result.stderr
    assert secret not in result.stdout + result.stderr and secret[:12] not in result.stdout + result.stderr


# -- REPL trigger: notify, status, repl -----------------------------------------------------

STUB_APP = """
def notify(subject, body):
    for name, text in (("subject", subject), ("body", body)):
        with open(name, "wb") as f:
            f.write(text.encode("utf-8"))
"""


@pytest.mark.parametrize("subject, body", [
    ("Door", "The front door opened"),
    ("it's \"quoted\"", "C:\\temp\\new\\ and a trailing backslash \\"),
    ("Température 23,5 °C — ☃", "emoji 😀 and 中文 and ‮rtl"),
    ("$HOME `id` $(id) %s #no-comment ; | &", "line one\nline two\ttab\rcr '\\n' literal"),
    ("'", "\\'\"\\\"''"),
])
def test_notify_passes_subject_and_body_exactly(tmp_path, micropython, subject, body):
    result = make("notify", "DRY_RUN=1", "PORT=" + PORT, "SUBJECT=" + subject, "BODY=" + body)
    assert result.returncode == 0, result.stderr
    *stop, argv, reset = printed(result)
    assert stop == STOP_BEFORE_WATCHDOG and reset == [MPREMOTE, "connect", PORT, "reset"]
    [[command, code]] = mpremote_steps(argv)
    assert command == "exec" and code.startswith("import app; app.notify(")
    assert code.isascii()
    (tmp_path / "app.py").write_text(STUB_APP)
    ran = run_micropython(micropython, ["-c", code], cwd=str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "subject").read_bytes() == subject.encode("utf-8")
    assert (tmp_path / "body").read_bytes() == body.encode("utf-8")


def test_notify_needs_a_subject_and_a_body():
    for args, missing in ((["SUBJECT=Door"], "BODY is empty"), (["BODY=opened"], "SUBJECT is empty")):
        result = make("notify", "DRY_RUN=1", "PORT=" + PORT, *args)
        assert result.returncode != 0 and missing in result.stderr and result.stdout == ""


def test_status_and_repl_commands():
    status = make("status", "DRY_RUN=1", "PORT=" + PORT)
    # resume: no soft reset first, so the running application's state is what is shown.
    assert printed(status) == [[MPREMOTE, "connect", PORT, "resume", "+", "exec", "import app; app.status()", "+",
                                "reset"]]
    repl = make("repl", "DRY_RUN=1", "PORT=/dev/cu.usbserial-0001")
    assert printed(repl) == [[MPREMOTE, "connect", "/dev/cu.usbserial-0001", "repl"]]
    no_port = make("status", "DRY_RUN=1")
    assert no_port.returncode != 0 and "PORT is missing" in no_port.stderr


# -- the watchdog: reset, then Ctrl-C in the start-up grace --------------------------------

def test_board_commands_stop_the_board_before_its_watchdog_and_start_it_after(tmp_path):
    """deploy, provision and notify: a hard reset and a Ctrl-C in main.py's grace first, a
    reset last (for notify, a command of its own: it runs even when the notify failed)."""
    config = tmp_path / "config.py"
    config.write_text(config_text())
    for args in (["deploy"], ["provision", "CONFIG=" + str(config)], ["notify", "SUBJECT=s", "BODY=b"]):
        commands = printed(make(*args, "DRY_RUN=1", "PORT=" + PORT))
        assert commands[:2] == STOP_BEFORE_WATCHDOG, args
        assert commands[-1][-1] == "reset" and commands[-1][:3] == [MPREMOTE, "connect", PORT], args
        assert len(commands) == (4 if args[0] == "notify" else 3)


def test_mpremote_reset_is_a_hard_reset():
    """`mpremote reset` is mpremote's shortcut for machine.reset(): a hard reset, which (unlike
    the soft reset mpremote makes before its first command) stops the watchdog."""
    import mpremote.main as mpremote_main  # requirements-dev.txt
    command = mpremote_main._BUILTIN_COMMAND_EXPANSIONS["reset"]["command"]
    assert command[:2] == ["exec", "--no-follow"] and command[2].endswith("machine.reset()")


def test_run_goes_on_after_a_step_that_may_fail_and_always_runs_the_last(tmp_path, capsys):
    log = tmp_path / "log"

    def step(name, status, **kwargs):
        code = "open(%r, 'a').write(%r); raise SystemExit(%d)" % (str(log), name + " ", status)
        return board.Command([sys.executable, "-c", code], **kwargs)

    status = board.run([step("reset", 1, may_fail="press RST"), step("interrupt", 0), step("work", 3),
                        step("skipped", 0), step("restart", 0, always=True)], dry_run=False)
    assert status == 3
    assert log.read_text().split() == ["reset", "interrupt", "work", "restart"]
    err = capsys.readouterr().err
    assert "note: press RST" in err and "failed (exit status 3)" in err


class FakeBoard:
    """A board on a pseudo-terminal: after a reset it prints its boot lines, then (with a
    main.py) the start-up line, and waits 3 s for a Ctrl-C: then the REPL, else the
    watchdog starts. Records what reached it."""

    BANNER = b"MicroPython v1.29.0 on 2026-01-01; Generic ESP32 module with ESP32\r\nType \"help()\" for more information.\r\n"

    def __init__(self, main_py=True, asleep=False, boot_ms=300, lines=b""):
        import threading

        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)
        self.main_py, self.asleep, self.boot_ms, self.lines = main_py, asleep, boot_ms, lines
        self.received = b""
        self.ctrl_c_before_start_line = False
        self.watchdog_started = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def read(self, seconds):
        import select

        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            self.received += os.read(self.master, 1024)
        return ready

    def run(self):
        import termios
        import time

        if self.asleep:
            return
        # Reset when the port opens: pyserial sets it raw, then empties its input.
        end = time.monotonic() + 20
        while termios.tcgetattr(self.slave)[3] & termios.ICANON and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(self.boot_ms / 1000)
        os.write(self.master, b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13\r\n")
        while self.read(0):
            pass
        self.ctrl_c_before_start_line = b"\x03" in self.received
        if not self.main_py:
            os.write(self.master, self.lines + self.BANNER + b">>> ")
            return
        os.write(self.master, b"mpaws: starting in 3 s (Ctrl-C for the REPL)\r\n")
        end = time.monotonic() + 3
        while b"\x03" not in self.received and time.monotonic() < end:
            self.read(0.05)
        self.watchdog_started = b"\x03" not in self.received
        if not self.watchdog_started:
            os.write(self.master, b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n" + self.BANNER + b">>> ")

    def close(self):
        self.thread.join(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def fake_board():
    import serial  # noqa: F401  requirements-dev.txt
    boards = []

    def make_board(**kwargs):
        boards.append(FakeBoard(**kwargs))
        return boards[-1]

    yield make_board
    for b in boards:
        b.close()


def test_interrupt_stops_main_py_in_its_start_up_grace(fake_board):
    dev = fake_board()
    result = tool("interrupt", "--port", dev.port, "--timeout", "20")
    assert result.returncode == 0, result.stderr
    assert "board: mpaws: starting in 3 s (Ctrl-C for the REPL)\n" in result.stderr
    assert "main.py stopped in its start-up grace" in result.stderr
    dev.thread.join(5)
    assert dev.watchdog_started is False and not dev.ctrl_c_before_start_line


def test_interrupt_of_a_board_without_main_py_notes_it(fake_board):
    dev = fake_board(main_py=False)
    result = tool("interrupt", "--port", dev.port, "--timeout", "20", "--start-wait", "1")
    assert result.returncode == 0, result.stderr
    assert "no start-up line from main.py" in result.stderr


def test_interrupt_shows_why_main_py_stopped_by_itself(fake_board):
    """No config.py yet (deploy before provision): main.py stops before its watchdog and
    says why; the helper passes its lines on."""
    dev = fake_board(main_py=False, lines=b"mpaws: no config.py: copy config_template.py to config.py\r\n"
                                           b"mpaws: stopped: fix config.py (`make provision`), then reset the board\r\n")
    result = tool("interrupt", "--port", dev.port, "--timeout", "20")
    assert result.returncode == 0, result.stderr
    assert "board: mpaws: no config.py: copy config_template.py to config.py\n" in result.stderr
    assert "main.py stopped by itself before its watchdog" in result.stderr


def test_interrupt_of_a_board_that_does_not_answer_says_what_to_do(fake_board):
    dev = fake_board(asleep=True)
    result = tool("interrupt", "--port", dev.port, "--timeout", "2", "--start-wait", "0.5")
    assert result.returncode == 2
    assert "no REPL prompt from the board on %s within 2 s: press its RST/EN button" % dev.port in result.stderr
    while dev.read(0.2):
        pass
    assert b"\x03" in dev.received  # it did try


def test_interrupt_needs_a_port_that_exists(tmp_path):
    import serial  # noqa: F401  requirements-dev.txt
    result = tool("interrupt", "--port", str(tmp_path / "ttyUSB9"), "--timeout", "0.5")
    assert result.returncode == 2 and "does not exist: is the board plugged in" in result.stderr


# -- packaging -----------------------------------------------------------------------------

def library_files():
    root = os.path.join(FIRMWARE_LIB, "mpaws")
    return sorted(os.path.relpath(os.path.join(d, n), FIRMWARE_LIB).replace(os.sep, "/")
                  for d, _, names in os.walk(root) for n in names if n.endswith(".py"))


def read_package_json():
    with open(os.path.join(REPO, "package.json")) as f:
        return json.load(f)


def test_package_json_installs_exactly_the_library():
    package = read_package_json()
    expected = [[name, "firmware/lib/" + name] for name in library_files()]
    assert sorted(package["urls"]) == expected, (
        "package.json is stale: run `python3 tools/board.py package-json`")
    assert package["version"] == manifest_calls()["metadata"][0][1]["version"]


def manifest_calls():
    """What manifest.py asks for, run with MicroPython's manifest functions recorded."""
    calls = {"metadata": [], "package": [], "module": [], "include": [], "require": []}

    def recorder(name):
        return lambda *args, **kwargs: calls[name].append((args, kwargs))

    with open(os.path.join(REPO, "manifest.py")) as f:
        exec(compile(f.read(), "manifest.py", "exec"), {name: recorder(name) for name in calls})
    return calls


def test_manifest_freezes_exactly_the_library():
    calls = manifest_calls()
    assert calls["module"] == [] and calls["include"] == [] and calls["require"] == []
    frozen = []
    for args, kwargs in calls["package"]:
        # package(path, files=None, base_path="."): without files, every .py under the folder.
        base = os.path.join(REPO, kwargs.get("base_path", "."))
        folder = os.path.join(base, args[0])
        files = kwargs.get("files") or [os.path.relpath(os.path.join(d, n), folder) for d, _, names in
                                        os.walk(folder) for n in names if n.endswith(".py")]
        frozen += [os.path.relpath(os.path.join(folder, f), FIRMWARE_LIB).replace(os.sep, "/") for f in files]
    assert sorted(frozen) == library_files()


class FakeBoardFS:
    """mpremote's transport, as far as `mip install` uses it: a folder for the board's files."""

    def __init__(self, root):
        self.root = root

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def fs_exists(self, path):
        return os.path.exists(self._path(path))

    def fs_mkdir(self, path):
        os.mkdir(self._path(path))

    def fs_writefile(self, path, data, progress_callback=None):
        with open(self._path(path), "wb") as f:
            f.write(data)


def test_mpremote_mip_installs_the_library_from_github(tmp_path, monkeypatch):
    import mpremote.mip as mip  # requirements-dev.txt
    fetched = []

    def urlopen(url):
        # raw.githubusercontent.com/OWNER/REPO/BRANCH/PATH, served from this checkout
        prefix = "https://raw.githubusercontent.com/example-owner/mpaws/HEAD/"
        assert url.startswith(prefix), url
        fetched.append(url[len(prefix):])
        with open(os.path.join(REPO, url[len(prefix):]), "rb") as f:
            return io.BytesIO(f.read())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    (tmp_path / "lib").mkdir()
    mip._install_package(FakeBoardFS(str(tmp_path)), "github:example-owner/mpaws", "https://micropython.org/pi/v2",
                         "/lib", None, True)
    installed = sorted(os.path.relpath(os.path.join(d, n), tmp_path / "lib").replace(os.sep, "/")
                       for d, _, names in os.walk(tmp_path / "lib") for n in names)
    assert fetched[0] == "package.json"
    assert installed == library_files()
    for name in installed:
        assert (tmp_path / "lib" / name).read_bytes() == open(os.path.join(FIRMWARE_LIB, name), "rb").read()
