"""Every firmware module, compiled as `make build` compiles it, imports under the MicroPython
unix port from bytecode alone (the board's modules simulated by host_tests/sim), so no module
uses something only CPython has. main.py is left out: importing it runs the application."""
import os
import subprocess

from conftest import FIRMWARE, REPO, run_micropython
from device import source_name

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
        proc = subprocess.run([mpy_cross] + MPY_FLAGS + ["-s", source_name(relative), "-o", str(target),
                                                        os.path.join(FIRMWARE, relative)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        names.append(source_name(relative))
    assert "mpaws.sigv4" in names and "app" in names and "mpaws.device" in names
    script = "\n".join([
        "import sys, micropython",
        "sys.path[:0] = [%r, %r, %r]" % (SIM, str(tmp_path), str(tmp_path / "lib")),
        "for name in %r:" % names,
        "    __import__(name)",
        "    print('imported', name, sys.modules[name].__file__)",
        "micropython.qstr_info(1)",
    ])
    proc = run_micropython(micropython, ["-c", script], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = dict(line.split()[1:3] for line in proc.stdout.splitlines() if line.startswith("imported "))
    assert sorted(imported) == sorted(names)
    assert all(path.endswith(".mpy") for path in imported.values()), imported
    # A module's source name (tracebacks' File "...") is its module name, interned by its
    # import anyway: no name of its own, held for good, for each module loaded.
    paths = {"Q(%s)" % relative for relative in _modules()}
    assert [line for line in proc.stdout.splitlines() if line in paths] == []


def test_the_makefile_names_each_modules_source_as_the_tests_build_does():
    """`make build` compiles with -s <module name> (mpaws.sigv4, app), as device.mpy_build and
    the bench do: the heap the tests measure is a board's."""
    built = ["build/firmware/" + relative[:-3] + ".mpy" for relative in _modules()
             if relative not in ("boot.py", "config_template.py")]
    proc = subprocess.run(["make", "--no-print-directory", "-n", "-B"] + built, cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    given = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if words and words[0].endswith("mpy-cross") and "-o" in words and "-s" in words:
            given[words[words.index("-o") + 1]] = words[words.index("-s") + 1]
    want = {path: source_name(path[len("build/firmware/"):-4] + ".py") for path in built}
    assert given == want
