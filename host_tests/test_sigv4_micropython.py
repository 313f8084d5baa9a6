"""AWS's SigV4 test suite under the MicroPython unix port, with the firmware's signer
loaded (a) from its source (firmware/lib) and (b) as .mpy files compiled by mpy-cross,
the way it goes onto the ESP32; and (c) compiled, within a 64 KB heap."""
import glob
import os
import re
import string
import subprocess

import pytest

from conftest import FIRMWARE_LIB, REPO, TOOLS, VECTORS, run_micropython

from test_sigv4_vectors import CASE_NAMES, EXPECTED_CASES, SECRET_KEY

RUNNER = os.path.join(REPO, "host_tests", "mpy", "run_vectors.py")
SMALL_HEAP = "72k"  # the firmware signer, the host parser of sign_request.py (larger with its payload options) and the runner
# As the Makefile's $(OUT)/%.mpy rule compiles the firmware: what goes onto the board.
FIRMWARE_MPY_FLAGS = ["-X", "no-source-lines"]


def mpy_compile(mpy_cross, source, target, flags=()):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    proc = subprocess.run([mpy_cross] + list(flags) + ["-o", target, source], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert os.path.isfile(target)


@pytest.fixture(scope="module")
def compiled_lib(mpy_cross, tmp_path_factory):
    """A directory holding only mpaws/*.mpy, compiled from firmware/lib/mpaws/*.py."""
    lib = tmp_path_factory.mktemp("mpy_lib")
    sources = sorted(glob.glob(os.path.join(FIRMWARE_LIB, "mpaws", "*.py")))
    assert any(s.endswith(os.sep + "sigv4.py") for s in sources)
    assert any(s.endswith(os.sep + "sigv4_full.py") for s in sources)
    for source in sources:
        name = os.path.splitext(os.path.basename(source))[0]
        mpy_compile(mpy_cross, source, str(lib / "mpaws" / (name + ".mpy")), FIRMWARE_MPY_FLAGS)
    assert not glob.glob(str(lib / "**" / "*.py"), recursive=True)
    return str(lib)


def check_report(proc, lib):
    """Asserts the runner's output: its signer came from `lib`, and every case passed."""
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert proc.stderr == ""
    assert SECRET_KEY not in out
    lines = out.splitlines()
    assert lines[0].startswith("MODULE ") and lines[1].startswith("MODULE "), out
    module, full = lines[0][len("MODULE "):], lines[1][len("MODULE "):]
    for path in (module, full):
        assert os.path.realpath(os.path.dirname(os.path.dirname(path))) == os.path.realpath(lib), path
    assert os.path.basename(module).startswith("sigv4.") and os.path.basename(full).startswith("sigv4_full.")
    assert os.path.splitext(module)[1] == os.path.splitext(full)[1]
    assert not [line for line in lines if line.startswith("FAIL")], out
    passed = [line[len("PASS "):] for line in lines if line.startswith("PASS ")]
    assert len(passed) == EXPECTED_CASES, out
    # The same cases the CPython run discovered (os.walk there, os.listdir here).
    assert sorted(passed) == CASE_NAMES
    assert lines[-1] == "SUMMARY %d passed 0 failed" % EXPECTED_CASES
    return module


def test_vectors_from_source(micropython):
    proc = run_micropython(micropython, [RUNNER, VECTORS, FIRMWARE_LIB])
    module = check_report(proc, FIRMWARE_LIB)
    assert module.endswith("sigv4.py")


def test_vectors_from_mpy(micropython, compiled_lib):
    proc = run_micropython(micropython, [RUNNER, VECTORS, compiled_lib, TOOLS], cwd=compiled_lib)
    module = check_report(proc, compiled_lib)
    assert module.endswith(".mpy"), module


def test_vectors_in_small_heap(micropython, mpy_cross, compiled_lib, tmp_path):
    """On the ESP32 the code is compiled, not parsed on the device (compiling sigv4.py
    from source needs more heap than this); the runner and the request parser are
    compiled too, so the heap holds the loaded bytecode and the signing itself."""
    mpy_compile(mpy_cross, RUNNER, str(tmp_path / "run_vectors.mpy"))
    mpy_compile(mpy_cross, os.path.join(TOOLS, "sign_request.py"), str(tmp_path / "sign_request.mpy"))
    code = (
        "import sys\n"
        "sys.path[:] = [%r]\n"
        "import run_vectors\n"
        "sys.exit(run_vectors.main([%r, %r, %r]))\n" % (str(tmp_path), VECTORS, compiled_lib, str(tmp_path))
    )
    proc = run_micropython(micropython, ["-c", code], heapsize=SMALL_HEAP, cwd=str(tmp_path))
    module = check_report(proc, compiled_lib)
    assert module.endswith(".mpy"), module


def test_runner_reports_failures(micropython, tmp_path):
    """The runner can fail: a copy of a case with a wrong .creq/.authz is reported."""
    case = tmp_path / "vectors" / "get-vanilla"
    case.mkdir(parents=True)
    source = os.path.join(VECTORS, "get-vanilla")
    for ext in (".req", ".creq", ".sts", ".authz", ".sreq"):
        with open(os.path.join(source, "get-vanilla" + ext), "rb") as f:
            data = f.read()
        if ext == ".creq":
            data = data.replace(b"host;x-amz-date", b"host;x-amz-datE")
        if ext == ".authz":
            data = re.sub(rb"Signature=[0-9a-f]{64}", b"Signature=" + b"0" * 64, data)
        (case / ("get-vanilla" + ext)).write_bytes(data)
    post_sts = tmp_path / "vectors" / "post-sts-token"
    post_sts.mkdir()
    with open(os.path.join(VECTORS, "post-sts-token", "readme.txt"), "rb") as f:
        (post_sts / "readme.txt").write_bytes(f.read())
    proc = run_micropython(micropython, [RUNNER, str(tmp_path / "vectors"), FIRMWARE_LIB])
    assert proc.returncode == 1
    assert "FAIL get-vanilla creq,authz,core" in proc.stdout.splitlines()
    assert proc.stdout.splitlines()[-1] == "SUMMARY 0 passed 1 failed"


# A new plan (a session's first request, or new credentials in certificate auth) with a
# session token, more headers than any before it and a path to percent-encode: names are
# never freed, and a session near a name table's edge allocates the next 7 KB table for one
# more (mpaws.sigv4 once interned a control character per header slot, chr(i), indexed strs,
# each character of the path, min(path), and of a path it encoded).
NAMES_SCRIPT = """
import sys, micropython
sys.path[:] = [LIB]
from mpaws import sigv4
def names():
    micropython.qstr_info()
headers = [("Host", "example.amazonaws.com"), ("Content-Type", "application/json")]
token = "IQoJb3JpZ2luX2VjEN" * 40
sigv4.Signer("AKIDEXAMPLE", "secret", "us-east-1", "lambda", session_token=token).sign(
    "POST", "/a", None, headers, b"{}", date="20261206T120000Z")
more = headers + [("X-Custom-%d" % i, "value %d" % i) for i in range(12)]
signer = sigv4.Signer("AKIDEXAMPLE", "secret", "us-east-1", "lambda", session_token=token + "AB")
names()
path = "/2015-03-31/functions/" + "arn%3Aaws%3Alambda%3Aeu-west-3%3A210987654321%3Afunction%3AqZx_v" + "/invocations"
print(signer.sign("POST", path, None, more, b"{}", date="20261206T120000Z")[-1][1][-64:])
names()
"""


def test_a_new_plan_interns_no_name(micropython, compiled_lib, tmp_path):
    script = tmp_path / "names.py"
    script.write_text(NAMES_SCRIPT.replace("LIB", repr(compiled_lib)))
    proc = run_micropython(micropython, [str(script)], heapsize="256k", cwd=str(tmp_path))
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    tables = [int(re.search(r"n_qstr=(\d+)", line).group(1)) for line in proc.stdout.splitlines()
              if line.startswith("qstr pool")]
    assert len(tables) == 2 and tables[1] == tables[0], proc.stdout


CLASSES_SCRIPT = """\
import sys
sys.path.insert(0, LIB)
from mpaws import sigv4
from mpaws.sigv4 import DIGITS, LETTERS
print("DIGITS", DIGITS)
print("LOWER", sigv4.LOWER)
print("UPPER", sigv4.UPPER)
print("LETTERS", LETTERS)
print("PRINTABLE", sigv4.PRINTABLE)
print("HELD", [name for name in ("DIGITS", "LOWER", "UPPER", "LETTERS", "PRINTABLE") if name in sigv4.__dict__])
try:
    sigv4.NOT_A_NAME
    print("MISSING found")
except AttributeError:
    print("MISSING AttributeError")
"""


def test_ascii_classes_are_made_when_asked_for_not_held(micropython, compiled_lib, tmp_path):
    """sigv4.DIGITS, LOWER, UPPER, LETTERS and PRINTABLE under MicroPython from the .mpy
    build: Python's string module's ASCII sets, reachable by attribute and by `from ...
    import`, and none of them held as a module name for the session."""
    script = tmp_path / "classes.py"
    script.write_text(CLASSES_SCRIPT.replace("LIB", repr(compiled_lib)))
    proc = run_micropython(micropython, [str(script)], heapsize="256k", cwd=str(tmp_path))
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    got = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    printable = "".join(sorted(set(string.printable) - set(string.whitespace) | {" "}))
    assert got["DIGITS"] == string.digits and got["LOWER"] == string.ascii_lowercase
    assert got["UPPER"] == string.ascii_uppercase and got["LETTERS"] == string.ascii_letters
    assert got["PRINTABLE"] == printable and len(printable) == 95
    assert got["HELD"] == "[]" and got["MISSING"] == "AttributeError"
