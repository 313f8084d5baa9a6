"""Every firmware module, compiled as `make build` compiles it, imports under the MicroPython
unix port from bytecode alone (the board's modules simulated by host_tests/sim), so no module
uses something only CPython has. main.py is left out: importing it runs the application."""
import os
import subprocess

from conftest import FIRMWARE, REPO, run_micropython

SIM = os.path.join(REPO, "host_tests", "sim")
# The flags of the Makefile's $(OUT)/%.mpy rule.
MPY_FLAGS = ["-X", "no-source-lines"]


def _modules():
    found = []
    for root, _, files in os.walk(FIRMWARE):
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, FIRMWARE)
            if name.endswith(".py") and relative not in ("main.py", "config.py"):
                found.append(relative)
    return sorted(found)


def test_every_firmware_module_imports_from_mpy_under_micropython(mpy_cross, micropython, tmp_path):
    names = []
    for relative in _modules():
        target = tmp_path / (relative[:-3] + ".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([mpy_cross] + MPY_FLAGS + ["-s", relative, "-o", str(target),
                                                        os.path.join(FIRMWARE, relative)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        module = relative[:-3].replace(os.sep, ".")
        names.append(module[len("lib."):] if module.startswith("lib.") else module)
    assert "mpaws.sigv4" in names and "app" in names and "mpaws.device" in names
    script = "\n".join([
        "import sys",
        "sys.path[:0] = [%r, %r, %r]" % (SIM, str(tmp_path), str(tmp_path / "lib")),
        "for name in %r:" % names,
        "    __import__(name)",
        "    print('imported', name, sys.modules[name].__file__)",
    ])
    proc = run_micropython(micropython, ["-c", script], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = dict(line.split()[1:3] for line in proc.stdout.splitlines() if line.startswith("imported "))
    assert sorted(imported) == sorted(names)
    assert all(path.endswith(".mpy") for path in imported.values()), imported
