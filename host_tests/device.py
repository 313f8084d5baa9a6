"""Runs the device firmware (firmware/app.py, firmware/lib/mpaws) in a subprocess, under
MicroPython (the unix port) or CPython, with a config.py written for the test.

    dev = Device("micropython", tmp_path, micropython_path)
    dev.write_config(CONFIG_AWS_HOST="localhost:%d" % port, CONFIG_TLS_CA=ca_file)
    run = dev.run([{"op": "notify", "subject": "s", "body": "b"}])
    run.results[0]  ->  {"ok": True, "status": 200, "payload": "...", "attempts": 1, ...}

Each step of the driver (host_tests/drivers/device_driver.py) gives one result dict; a
failed step gives {"error": "ClassName", "message": ..., "status": ..., "classes": [...]}.
Every run checks that no secret (the secret key, the session token) shows in its output.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIRMWARE

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drivers", "device_driver.py")
COMPAT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compat")  # older API shapes
SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sim")  # the simulated board's modules
RUNTIMES = ("cpython", "micropython")

ACCESS_KEY = "AKIAMPAWSTESTDEVICE1"
SECRET_KEY = "mpawsTestSecretKey/DoNotLeak+0123456789ab"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FUNCTION = "mpaws-notify"  # the default config's; use_server() sets "notify"
TOPIC_ARN = "arn:aws:sns:%s:%s:mpaws-topic" % (REGION, ACCOUNT)


def default_config():
    return {
        "CONFIG_AWS_ACCESS_KEY": ACCESS_KEY,
        "CONFIG_AWS_SECRET_KEY": SECRET_KEY,
        "CONFIG_AWS_SESSION_TOKEN": None,
        "CONFIG_AWS_REGION": REGION,
        "CONFIG_AWS_LAMBDA_FUNCTION": FUNCTION,
        "CONFIG_AWS_SNS_TOPIC_ARN": TOPIC_ARN,
        "CONFIG_AWS_HOST": None,
        "CONFIG_TLS_CA": None,
        "CONFIG_TLS_VERIFY": True,
        "CONFIG_TIMEOUT": 5,
        # Room for SNS's largest messages (the firmware's default, 32 KB, is a board's);
        # the tests of the limit set their own.
        "CONFIG_OUTBOX_BYTES": 1048576,
    }


class Run:
    """One driver run: results (one dict per step), stdout (without RESULT lines), stderr."""

    def __init__(self, results, log, stderr, returncode):
        self.results = results
        self.log = log
        self.stderr = stderr
        self.returncode = returncode

    @property
    def result(self):
        assert len(self.results) == 1, self.results
        return self.results[0]

    def __repr__(self):
        return "<Run rc=%s results=%r\nlog:\n%s\nstderr:\n%s>" % (self.returncode, self.results, self.log,
                                                                  self.stderr)


class Device:
    """The firmware in one runtime ("cpython" or "micropython"), with its config.py in tmp_path."""

    def __init__(self, runtime, tmp_path, micropython=None, firmware=None, heapsize=None):
        """firmware: the firmware directory micropython runs (default: the source tree
        firmware/; e.g. the .mpy build of `make build`, see mpy_build()); heapsize:
        MicroPython's heap (`-X heapsize=`, e.g. "100k"). Both apply to micropython only."""
        assert runtime in RUNTIMES
        self.runtime = runtime
        self.dir = str(tmp_path)
        executable = sys.executable if runtime == "cpython" else micropython
        assert executable, "micropython path needed"
        self.executable = os.path.abspath(executable) if os.sep in executable else executable  # runs in self.dir
        self.config = default_config()
        self.secrets = [SECRET_KEY]  # strings no run may print
        self.sim = False  # True: on the simulated board (host_tests/sim first on sys.path)
        # CPython runs the source tree: it cannot load .mpy.
        self.firmware = os.path.abspath(firmware) if firmware and runtime == "micropython" else FIRMWARE
        self.heapsize = heapsize if runtime == "micropython" else None

    def impose(self, *shapes):
        """Makes the micropython run look like an older firmware (host_tests/compat/): for
        each shape, compat_<shape>.py goes next to config.py, where the driver imports it
        before the firmware."""
        names = ["compat.py"] + ["compat_%s.py" % shape for shape in shapes]
        if any(shape.startswith("wlan_") for shape in shapes):
            names.append("wlan_shape.py")
        for name in names:
            shutil.copy(os.path.join(COMPAT, name), os.path.join(self.dir, name))
        return self

    def write_config(self, **keys):
        """Writes config.py: the default test config updated with keys."""
        self.config = dict(default_config(), **keys)
        for key in ("CONFIG_AWS_SECRET_KEY", "CONFIG_AWS_SESSION_TOKEN", "CONFIG_AWS_API_KEY"):
            value = self.config.get(key)
            if isinstance(value, str) and len(value) >= 8 and value not in self.secrets:
                self.secrets.append(value)
        lines = ["# written by host_tests/device.py"]
        for key, value in self.config.items():  # None too: CONFIG_AWS_LAMBDA_FUNCTION = None is direct SNS
            lines.append("%s = %r" % (key, value))
        with open(os.path.join(self.dir, "config.py"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def run(self, steps, timeout=30, check_secrets=True, write_default=True):
        """Runs the steps in a fresh process; returns a Run. Without a config.py, the
        default test config is written first (unless write_default is False)."""
        if write_default and not os.path.exists(os.path.join(self.dir, "config.py")):
            self.write_config()
        steps_file = os.path.join(self.dir, "steps.json")
        with open(steps_file, "w", encoding="utf-8") as f:
            json.dump(steps, f, ensure_ascii=False)
        env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONDONTWRITEBYTECODE="1")
        heap = ["-X", "heapsize=%s" % self.heapsize] if self.heapsize else []
        driver = [DRIVER]
        compiled = _compiled_driver(self.firmware)
        if self.runtime == "micropython" and compiled is not None:
            # The driver as bytecode too: compiling its source would take (and fragment)
            # the small heap the firmware is measured in.
            driver = ["-m", "device_driver"]
            env["MICROPYPATH"] = compiled + ":.frozen"
        firmware = self.firmware
        if self.runtime == "micropython":
            # The firmware by a short relative path, as a board's (/lib/mpaws/http.mpy): each
            # imported .mpy interns its path for good, so that the heap a test runs in does
            # not depend on the length of the temporary folder's name.
            firmware = "fw"
            link = os.path.join(self.dir, firmware)
            if os.path.realpath(link) != os.path.realpath(self.firmware):
                if os.path.lexists(link):
                    os.remove(link)
                os.symlink(self.firmware, link)
        args = [self.executable] + heap + driver + [self.dir, firmware, steps_file] + ([SIM] if self.sim else [])
        proc = subprocess.run(args, cwd=self.dir, capture_output=True, timeout=timeout, env=env)
        stdout = proc.stdout.decode("utf-8", "replace")
        stderr = proc.stderr.decode("utf-8", "replace")
        results, log = [], []
        for line in stdout.splitlines():
            if line.startswith("RESULT "):
                results.append(json.loads(line[7:]))
            else:
                log.append(line)
        run = Run(results, "\n".join(log), stderr, proc.returncode)
        if check_secrets:
            self.check_no_secret(stdout + stderr)
        assert proc.returncode == 0 and len(results) == len(steps), run
        return run

    def check_no_secret(self, text):
        for secret in self.secrets:
            assert secret not in text, "a secret is in the %s driver's output" % self.runtime

    def use_server(self, server, **keys):
        """Writes a config.py for an aws_server.AwsServer: its key pair, region, host:port
        and CA (DER, as on a board), function "notify"; keys override."""
        config = dict(
            CONFIG_AWS_ACCESS_KEY=server.access_key,
            CONFIG_AWS_SECRET_KEY=server.secret_key,
            CONFIG_AWS_REGION=server.region,
            CONFIG_AWS_LAMBDA_FUNCTION="notify",
            CONFIG_AWS_SNS_TOPIC_ARN="arn:aws:sns:%s:%s:mpaws-topic" % (server.region, server.account_id),
            CONFIG_AWS_HOST="localhost:%d" % server.port,
            CONFIG_TLS_CA=server.ca_der,
        )
        config.update(keys)
        self.write_config(**config)
        return self


# The flags of the Makefile's $(OUT)/%.mpy rule: the .mpy a board runs.
MPY_FLAGS = ("-X", "no-source-lines")


def source_name(relative):
    """The source name (mpy-cross -s) the Makefile gives the module at relative (a path under
    firmware/): its module name, "mpaws.sigv4" or "app"."""
    module = relative[:-3].replace(os.sep, ".")
    return module[len("lib."):] if module.startswith("lib.") else module


def mpy_build(mpy_cross, out):
    """Compiles firmware/ as `make build` does into out (a directory): every module to
    .mpy (boot.py and main.py stay source; config.py is left out), certs copied. Returns
    out, a firmware directory for Device(firmware=...)."""
    import shutil

    for root, _, files in os.walk(FIRMWARE):
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, FIRMWARE)
            if "__pycache__" in relative or relative == "config.py":
                continue
            target = os.path.join(str(out), relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not name.endswith(".py"):
                if not name.endswith(".md"):
                    shutil.copyfile(path, target)
                continue
            if relative in ("boot.py", "main.py"):
                shutil.copyfile(path, target)
                continue
            proc = subprocess.run([mpy_cross] + list(MPY_FLAGS) + ["-s", source_name(relative), "-o",
                                                                   target[:-3] + ".mpy", path],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stdout + proc.stderr
    driver = str(out).rstrip("/") + "_driver"  # the driver's .mpy, beside the build (not in it)
    os.makedirs(driver, exist_ok=True)
    for name in ("device_driver", "service_steps"):
        proc = subprocess.run([mpy_cross] + list(MPY_FLAGS) + ["-s", name + ".py", "-o",
                                                               os.path.join(driver, name + ".mpy"),
                                                               os.path.join(os.path.dirname(DRIVER), name + ".py")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return str(out)


def _compiled_driver(firmware):
    """The folder of the driver's .mpy that mpy_build() made beside firmware, or None."""
    folder = str(firmware).rstrip("/") + "_driver"
    return folder if os.path.exists(os.path.join(folder, "device_driver.mpy")) else None


def notify(subject="subject", body="body"):
    """The step app.notify(subject, body)."""
    return {"op": "notify", "subject": subject, "body": body}


def assert_error(result, name, *words):
    """result is a failed step that raised errors.<name>, with each word in its message."""
    assert result.get("error") == name, result
    for word in words:
        assert word in result["message"], (word, result["message"])


# Client knobs for fast tests: retries after a few milliseconds instead of 200 ms and more.
FAST = {"op": "tune", "base_delay_ms": 5, "max_delay_ms": 20}


@pytest.fixture(params=RUNTIMES)
def runtime(request):
    return request.param


@pytest.fixture
def device(runtime, tmp_path, request):
    """A Device for the test's runtime (cpython, micropython) in tmp_path."""
    micropython = request.getfixturevalue("micropython") if runtime == "micropython" else None
    return Device(runtime, tmp_path, micropython)
