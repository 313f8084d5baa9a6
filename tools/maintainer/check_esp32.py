"""The ESP32 gate: fails on firmware code that would not run on the ESP32's MicroPython.

    python tools/maintainer/check_esp32.py [PATH ...]        (default: firmware/)

Two checks, over every .py file under the given paths:

1. pyright, against the ESP32 firmware's type stubs (micropython-esp32-stubs) of the
   newest and of the oldest supported MicroPython (installed by `make setup` into
   .venv/esp32-stubs and .venv/esp32-stubs-oldest; the two runs go in parallel; an error
   found with one set only names its version), with CPython's standard library hidden: the
   stubs' reduced stdlib replaces typeshed's, and an empty environment replaces the host's
   site-packages. It fails on imports that do not resolve, attributes and functions the
   firmware does not have, undefined names, calls that do not match the firmware's
   signatures, and syntax newer than MicroPython's (match, ...). Type precision --
   Optional narrowing, argument and assignment types of unannotated code -- is left to
   the host tests: the firmware runs on CPython too, and on its CPython fallbacks (such
   as a class standing in for hashlib.sha256) those rules report only false alarms.

2. An import allow-list, from each file's syntax tree. pyright resolves typing, abc, enum
   and a few more through the stubs (which use them themselves), yet the firmware ships
   none of them. Allowed: the modules of the ESP32 firmware (the top-level modules of
   micropython-esp32-stubs, plus the MicroPython built-ins from its stdlib stubs) and the
   project's own modules (firmware/, firmware/lib/, and config, which is written on the
   device and not committed).

Plus what the stubs get wrong: `.hexdigest` anywhere is an error (the stubs declare it,
MicroPython has none: use binascii.hexlify(h.digest())), and so is ModuleNotFoundError
(MicroPython raises ImportError); and the other way, what the firmware has that some
stubs lack (STUB_GAPS, each with where the firmware defines it) is not an error.

Fallbacks are allowed to use what the ESP32 lacks:
- an import inside a `try:` whose handler catches ImportError;
- code under `if _CPYTHON:` (or the `else:` of `if not _CPYTHON:`, and `_CPYTHON and ...`):
  it never runs on the device;
- an attribute used inside `if hasattr(obj, "name"):`, or inside a `try:` whose handler
  catches AttributeError.

Prints file:line: error: ... for each problem; exits 1 if there is any, 0 if none,
2 if the gate itself cannot run (e.g. `make setup` not done).
"""
import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # up from tools/<folder>/
FIRMWARE = os.path.join(REPO, "firmware")
FIRMWARE_LIB = os.path.join(FIRMWARE, "lib")
# The stubs of the newest and the oldest supported firmware; MPAWS_ESP32_STUBS: other
# directories, separated by os.pathsep.
STUBS = ([p for p in os.environ["MPAWS_ESP32_STUBS"].split(os.pathsep) if p] if os.environ.get("MPAWS_ESP32_STUBS")
         else [os.path.join(REPO, ".venv", "esp32-stubs"), os.path.join(REPO, ".venv", "esp32-stubs-oldest")])
WORK = os.path.join(REPO, "build", "esp32-check")
PYRIGHT_TIMEOUT = 600

# MicroPython's own version of these CPython modules: built into the ESP32 firmware and
# typed by micropython-stdlib-stubs (the rest of that package -- typing, abc, enum,
# types, _typeshed, ... -- only serves the stubs themselves).
MICROPYTHON_STDLIB = ("array", "asyncio", "builtins", "collections", "io", "json", "os", "re", "ssl", "struct", "sys")

# Modules the firmware gets on the device itself, never from the repository: config.py
# holds the device's credentials and is not committed (see .gitignore).
DEVICE_ONLY = ("config",)
# Names the project's firmware layout reserves, whether or not the file exists yet.
PROJECT_MODULES = ("mpaws", "app", "config", "main", "boot")

# Not in the ESP32 firmware, with what to use instead.
MISSING = {
    "typing": "no typing module on the device: leave the code unannotated (or annotate in comments)",
    "typing_extensions": "no typing_extensions on the device: leave the code unannotated",
    "__future__": "MicroPython has no __future__ module",
    "abc": "no abc module on the device: use a plain base class raising NotImplementedError",
    "enum": "no enum module on the device: use module-level constants",
    "types": "no types module on the device",
    "dataclasses": "no dataclasses on the device: write the class out",
    "functools": "no functools on the device",
    "itertools": "no itertools on the device",
    "hmac": "no hmac on the device: HMAC-SHA256 is built from hashlib.sha256 (mpaws.sigv4_full.hmac_sha256)",
    "datetime": "no datetime on the device: use time.gmtime() / time.time() (mpaws.sigv4.amz_date)",
    "calendar": "no calendar on the device: use time.gmtime() / time.mktime()",
    "urllib": "no urllib on the device: use mpaws.sigv4.uri_encode / sigv4_full.parse_query",
    "http": "no http package on the device: use socket + tls (mpaws.http)",
    "base64": "no base64 on the device: use binascii.b2a_base64 / a2b_base64",
    "logging": "no logging on the device: print, or a small log function",
    "threading": "no threading on the device: use _thread or asyncio",
    "zlib": "no zlib on the device: use deflate",
    "secrets": "no secrets on the device: use os.urandom",
    "uuid": "no uuid on the device",
    "string": "no string module on the device: use str methods",
    "copy": "no copy module on the device",
    "pathlib": "no pathlib on the device: use os",
    "subprocess": "no subprocess on the device",
}
# Submodules of allowed packages that only CPython has.
MISSING_SUBMODULES = {
    "collections.abc": "MicroPython's collections has no abc submodule",
    "os.path": "MicroPython's os has no path submodule: join with '/' and use os.stat",
}
# Attributes the stubs declare but MicroPython does not have.
MISSING_ATTRIBUTES = {
    "hexdigest": "MicroPython hashes have no hexdigest(): use binascii.hexlify(h.digest()).decode()",
}
# What the firmware has on every supported version but some stubs lack (generated from
# the docs, they miss attributes set by C attr handlers and classes of frozen modules):
# (pyright's message, text on the reported line, where the firmware defines it).
STUB_GAPS = (
    ('attribute "name" for class "tuple"', "sys.implementation.name",
     "the v1.22 stubs type sys.implementation as a tuple; every MicroPython's has .name"),
    ('attribute "verify_mode" for class "SSLContext"', ".verify_mode",
     "SSLContext.verify_mode is set through the C type's attr handler (extmod/modssl_mbedtls.c, "
     "modtls_mbedtls.c) since v1.21; the v1.22 ssl and the tls stubs omit it"),
    ('"OneWire" is not a known attribute of module "onewire"', "onewire.OneWire",
     "class OneWire of the frozen drivers/onewire/onewire.py; the v1.22 stubs omit it"),
)
MISSING_NAMES = {
    "ModuleNotFoundError": "MicroPython has no ModuleNotFoundError: catch ImportError",
}

# The firmware's names for "running on CPython, not on the device": code under
# `if _CPYTHON:` never runs on the ESP32, so it is not checked (pyright takes them as
# constants, and the allow-list lets that code import what it wants).
CPYTHON_CONSTANTS = ("_CPYTHON", "CPYTHON")
MICROPYTHON_CONSTANTS = ("_MICROPYTHON", "MICROPYTHON")

# pyright's settings for the ESP32. Only the rules that tell whether code exists and can
# be called on the device are errors; see the module docstring for why the rest are off.
PYRIGHT_RULES = {
    "typeCheckingMode": "off",
    "reportMissingImports": "error",
    "reportAttributeAccessIssue": "error",
    "reportUndefinedVariable": "error",
    "reportCallIssue": "error",
    "reportIndexIssue": "error",
    "reportUnsupportedDunderAll": "error",
    # The firmware's modules are built in C: their stubs have no source, by design.
    "reportMissingModuleSource": "none",
    "defineConstant": dict([(n, False) for n in CPYTHON_CONSTANTS] + [(n, True) for n in MICROPYTHON_CONSTANTS]),
}
# MicroPython's language is about Python 3.4 plus f-strings and :=. 3.8 is the oldest
# version pyright handles well; it makes pyright report newer syntax (match, except*).
PYTHON_VERSION = "3.8"


class GateError(Exception):
    """The gate cannot run (missing tools or stubs): exit status 2."""


def rel(path):
    path = os.path.abspath(path)
    if path == REPO or path.startswith(REPO + os.sep):
        return os.path.relpath(path, REPO)
    return path


def python_files(paths):
    files = []
    for path in paths:
        if os.path.isfile(path):
            files.append(os.path.abspath(path))
        elif os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                files.extend(os.path.abspath(os.path.join(root, n)) for n in sorted(names) if n.endswith(".py"))
        else:
            raise GateError("%s: no such file or directory" % path)
    return files


def module_roots(paths):
    """The directories whose modules are the firmware's own: firmware/ and firmware/lib/
    (the device's '' and '/lib' on sys.path), and the same for each path checked."""
    roots = [FIRMWARE, FIRMWARE_LIB]
    for path in paths:
        path = os.path.abspath(path)
        candidates = [path, os.path.join(path, "lib")] if os.path.isdir(path) else [os.path.dirname(path)]
        for c in candidates:
            if os.path.isdir(c) and c not in roots:
                roots.append(c)
    return roots


def local_modules(roots):
    names = set(PROJECT_MODULES)
    for root in roots:
        if not os.path.isdir(root):
            continue
        for entry in os.listdir(root):
            full = os.path.join(root, entry)
            if entry.endswith((".py", ".mpy")) and os.path.isfile(full):
                names.add(entry.rsplit(".", 1)[0])
            elif os.path.isdir(full) and not entry.startswith(".") and entry != "__pycache__":
                if glob.glob(os.path.join(full, "*.py")) or glob.glob(os.path.join(full, "*.mpy")):
                    names.add(entry)
    return names


def firmware_modules(stubs):
    """Top-level modules of the ESP32 firmware, from the installed stubs' RECORD."""
    if not os.path.isdir(os.path.join(stubs, "stdlib")):
        raise GateError("ESP32 stubs not found in %s: run `make setup`" % rel(stubs))
    records = glob.glob(os.path.join(stubs, "micropython_esp32_stubs-*.dist-info", "RECORD"))
    if not records:
        raise GateError("%s has no micropython_esp32_stubs-*.dist-info/RECORD: run `make setup`" % rel(stubs))
    names = set()
    with open(records[0]) as f:
        for line in f:
            path = line.split(",", 1)[0]
            top = path.split("/", 1)[0]
            if top.endswith(".dist-info"):
                continue
            if "/" in path and path.endswith(".pyi"):
                names.add(top)  # a package: requests/__init__.pyi
            elif top.endswith(".pyi") and top != "__builtins__.pyi":
                names.add(top[:-4])
    stdlib = os.path.join(stubs, "stdlib")
    for name in MICROPYTHON_STDLIB:
        if os.path.exists(os.path.join(stdlib, name + ".pyi")) or os.path.isdir(os.path.join(stdlib, name)):
            names.add(name)
        elif name not in names:
            raise GateError("stub for MicroPython's %r missing from %s" % (name, rel(stdlib)))
    if not {"hashlib", "binascii", "time", "socket", "machine"} <= names:
        raise GateError("%s does not look like the ESP32 stubs: run `make setup`" % rel(stubs))
    return names


def _catches(handler, names):
    caught = handler.type
    if caught is None:
        return True
    items = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(item, ast.Name) and item.id in names + ("Exception", "BaseException") for item in items)


def _hasattr_names(test):
    """Attribute names that `if test:` proves exist: hasattr(x, "name") [and ...]."""
    tests = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    names = set()
    for t in tests:
        if (isinstance(t, ast.Call) and isinstance(t.func, ast.Name) and t.func.id == "hasattr" and len(t.args) == 2
                and isinstance(t.args[1], ast.Constant) and isinstance(t.args[1].value, str)):
            names.add(t.args[1].value)
    return names


def _cpython_branch(test):
    """Which branch of `if test:` runs only on CPython: 'body', 'orelse' or None."""
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    if negated:
        test = test.operand
    if isinstance(test, ast.Name) and test.id in CPYTHON_CONSTANTS:
        return "orelse" if negated else "body"
    if isinstance(test, ast.Name) and test.id in MICROPYTHON_CONSTANTS:
        return "body" if negated else "orelse"
    return None


class _Imports(ast.NodeVisitor):
    """Collects (line, end line, module, guarded) for every absolute import, the uses of
    names and attributes that MicroPython lacks, and the lines where a missing attribute
    is allowed (after hasattr(), or inside try/except AttributeError)."""

    def __init__(self):
        self.imports = []
        self.uses = []
        self.fallback = False  # inside a try whose handler catches ImportError
        self.cpython_only = False  # under `if _CPYTHON:`
        self.attr_guards = []  # (first line, last line, attribute name or None for any)

    def _visit_all(self, stmts, fallback=False, cpython_only=False):
        saved = self.fallback, self.cpython_only
        self.fallback = self.fallback or fallback
        self.cpython_only = self.cpython_only or cpython_only
        for stmt in stmts:
            self.visit(stmt)
        self.fallback, self.cpython_only = saved

    def _span(self, stmts):
        return stmts[0].lineno, max(getattr(st, "end_lineno", None) or st.lineno for st in stmts)

    def visit_Try(self, node):
        if any(_catches(h, ("AttributeError",)) for h in node.handlers):
            self.attr_guards.append(self._span(node.body) + (None,))
        self._visit_all(node.body, fallback=any(_catches(h, ("ImportError",)) for h in node.handlers))
        for part in (node.handlers, node.orelse, node.finalbody):
            self._visit_all(part)

    def visit_If(self, node):
        self.visit(node.test)
        for name in _hasattr_names(node.test):
            self.attr_guards.append(self._span(node.body) + (name,))
        cpython_only = _cpython_branch(node.test)
        self._visit_all(node.body, cpython_only=cpython_only == "body")
        self._visit_all(node.orelse, cpython_only=cpython_only == "orelse")

    def visit_BoolOp(self, node):
        # `_CPYTHON and ...`: the rest runs only on CPython
        if isinstance(node.op, ast.And) and _cpython_branch(node.values[0]) == "body":
            self.visit(node.values[0])
            return
        self.generic_visit(node)

    def _function(self, node):
        saved = self.fallback
        self.fallback = False  # its body runs later, outside the try
        self.generic_visit(node)
        self.fallback = saved

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _may_be_missing(self):
        return self.fallback or self.cpython_only

    def visit_Import(self, node):
        for alias in node.names:
            self.imports.append((node.lineno, node.end_lineno or node.lineno, alias.name, self._may_be_missing()))

    def visit_ImportFrom(self, node):
        if node.level == 0 and node.module:
            end = node.end_lineno or node.lineno
            self.imports.append((node.lineno, end, node.module, self._may_be_missing()))
            for alias in node.names:
                full = node.module + "." + alias.name
                if full in MISSING_SUBMODULES:  # from os import path
                    self.imports.append((node.lineno, end, full, self._may_be_missing()))

    def visit_Attribute(self, node):
        if node.attr in MISSING_ATTRIBUTES:
            self.uses.append((node.lineno, ".%s" % node.attr, MISSING_ATTRIBUTES[node.attr]))
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in MISSING_NAMES:
            self.uses.append((node.lineno, node.id, MISSING_NAMES[node.id]))


class FileImports:
    """What the allow-list found in one file, by line: pyright's import errors on lines
    of fallback imports, or of imports already reported, are not repeated."""

    def __init__(self):
        self.errors = []
        self.modules = {}  # line -> top-level module imported there
        self.guarded = set()  # lines of fallback or CPython-only imports
        self.flagged = set()  # lines of imports the allow-list reported
        self.attr_guards = []  # (first line, last line, name or None): attributes allowed missing
        self.lines = []  # the source, for STUB_GAPS

    def stub_gap(self, line, message):
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return any(m in message and t in text for m, t, _ in STUB_GAPS)

    def allows_missing_attribute(self, line, message):
        for first, last, name in self.attr_guards:
            if first <= line <= last and (name is None or '"%s"' % name in message):
                return True
        return False


def check_source(path, allowed, local):
    """The allow-list check of one file: a FileImports."""
    found = FileImports()
    try:
        with open(path, "rb") as f:
            source = f.read()
        found.lines = source.decode("utf-8", "replace").splitlines()
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        found.errors.append("%s:%s: error: syntax error: %s" % (rel(path), e.lineno, e.msg))
        return found
    visitor = _Imports()
    visitor.visit(tree)
    for line, end, module, guarded in visitor.imports:
        top = module.split(".", 1)[0]
        lines = range(line, end + 1)
        for n in lines:
            found.modules.setdefault(n, top)
        why = None
        if top in local:
            pass
        elif module in MISSING_SUBMODULES:
            why = MISSING_SUBMODULES[module]
        elif top in MISSING:
            why = MISSING[top]
        elif top not in allowed:
            why = "not a module of the ESP32 MicroPython firmware (built-in or frozen) nor of firmware/"
        if guarded:
            found.guarded.update(lines)  # a fallback: allowed to be missing
        elif why:
            found.errors.append("%s:%d: error: import of '%s': %s" % (rel(path), line, module, why))
            found.flagged.update(lines)
    found.attr_guards = visitor.attr_guards
    for line, name, why in visitor.uses:
        found.errors.append("%s:%d: error: %s: %s" % (rel(path), line, name, why))
    return found


def _pyright_command():
    local = os.path.join(REPO, ".venv", "bin", "pyright")
    if os.path.exists(local):
        return [local]
    found = shutil.which("pyright")
    if found is None:
        raise GateError("pyright not found: run `make setup`")
    return [found]


def _empty_venv():
    """An environment with no packages, so that pyright cannot fall back to the host's."""
    site = os.path.join(WORK, "empty-venv", "lib", "python%s" % PYTHON_VERSION, "site-packages")
    if os.path.isdir(site) and os.listdir(site):
        shutil.rmtree(os.path.join(WORK, "empty-venv"))
    os.makedirs(site, exist_ok=True)
    return os.path.join(WORK, "empty-venv")


def pyright_config(stubs, roots):
    venv = _empty_venv()
    config = {
        "typeshedPath": stubs,  # its stdlib/ replaces CPython's
        "stubPath": stubs,  # machine, network, hashlib, time, ... (and _mpy_shed)
        "venvPath": os.path.dirname(venv),
        "venv": os.path.basename(venv),
        "extraPaths": roots,
        "pythonPlatform": "Linux",
        "pythonVersion": PYTHON_VERSION,
    }
    config.update(PYRIGHT_RULES)
    return config


class _Pyright:
    """One pyright run over all files, started now (runs go in parallel), read by result()."""

    def __init__(self, files, stubs, roots):
        os.makedirs(WORK, exist_ok=True)
        fd, self.config_path = tempfile.mkstemp(prefix="pyrightconfig-", suffix=".json", dir=WORK)
        with os.fdopen(fd, "w") as f:
            json.dump(pyright_config(stubs, roots), f, indent=2)
        env = dict(os.environ, PYRIGHT_PYTHON_IGNORE_WARNINGS="1")  # no version check online
        cmd = _pyright_command() + ["-p", self.config_path, "--outputjson"] + files
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                         cwd=REPO)
        except OSError as e:
            os.unlink(self.config_path)
            raise GateError("cannot run pyright: %s" % e)

    def result(self):
        try:
            stdout, stderr = self.proc.communicate(timeout=PYRIGHT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise GateError("pyright took more than %d s" % PYRIGHT_TIMEOUT)
        finally:
            os.unlink(self.config_path)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, stdout, stderr)


def run_pyright(files, stubs, roots, skip, started=None):
    """Runs pyright once over all files (or reads the run `started`). skip(path, line,
    rule, message) drops a diagnostic."""
    proc = (started or _Pyright(files, stubs, roots)).result()
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise GateError("pyright failed (exit %d):\n%s%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    if proc.returncode not in (0, 1):
        raise GateError("pyright failed (exit %d): %s" % (proc.returncode, proc.stderr[-3000:]))
    analyzed = report.get("summary", {}).get("filesAnalyzed", 0)
    if analyzed < len(files):
        raise GateError("pyright analyzed %d of %d files" % (analyzed, len(files)))
    errors = []
    for d in report.get("generalDiagnostics", []):
        if d.get("severity") != "error":
            continue
        path = d.get("file", "?")
        start = d.get("range", {}).get("start", {})
        line = start.get("line", -1) + 1
        rule = d.get("rule", "")
        message = d.get("message", "")
        if skip(path, line, rule, message):
            continue
        message = message.replace("\n", "\n    ")
        errors.append("%s:%d:%d: error: %s%s" % (rel(path), line, start.get("character", -1) + 1, message,
                                                 " [%s]" % rule if rule else ""))
    return errors


def _position(error):
    # "path:line[:col]: error: ..." sorts by path, then line
    head = error.split(": error: ", 1)[0].rsplit(":", 2)
    numbers = [int(p) for p in head[1:] if p.isdigit()]
    path = head[0] if len(numbers) == len(head) - 1 else error.split(":", 1)[0]
    return path, numbers


def stubs_version(stubs):
    """The MicroPython version of a stubs directory, from its dist-info: "1.22.0"."""
    found = glob.glob(os.path.join(stubs, "micropython_esp32_stubs-*.dist-info"))
    if not found:
        return rel(stubs)
    return os.path.basename(found[0])[len("micropython_esp32_stubs-"):].split(".dist-info")[0].split(".post")[0]


def check(paths, stubs=None, out=sys.stdout):
    """Runs the gate against each stubs directory (default: STUBS); returns the exit status."""
    stub_sets = [os.path.abspath(d) for d in ([stubs] if isinstance(stubs, str) else (stubs or STUBS))]
    try:
        files = python_files(paths)
        if not files:
            raise GateError("no .py files under %s" % " ".join(paths))
        roots = module_roots(paths)
        local = local_modules(roots)
        # `import config` where config.py is absent: it is written on the device.
        device_only = {m for m in DEVICE_ONLY if not any(os.path.exists(os.path.join(r, m + ".py")) for r in roots)}
        runs = []
        for stub_dir in stub_sets:
            allowed = firmware_modules(stub_dir)
            errors = []
            by_file = {}
            for path in files:
                found = check_source(path, allowed, local)
                errors.extend(found.errors)
                by_file[os.path.realpath(path)] = found
            runs.append((stubs_version(stub_dir), stub_dir, errors, by_file))
        started = [_Pyright(files, stub_dir, roots) for _, stub_dir, _, _ in runs]
        found_by = {}  # error -> the versions whose stubs found it
        for (version, stub_dir, errors, by_file), run in zip(runs, started):
            errors.extend(run_pyright(files, stub_dir, roots, _skipper(by_file, device_only), started=run))
            for e in errors:
                found_by.setdefault(e, [])
                if version not in found_by[e]:
                    found_by[e].append(version)
    except GateError as e:
        out.write("ESP32 gate: cannot run: %s\n" % e)
        return 2
    versions = [version for version, _, _, _ in runs]
    errors = []
    for e, found in found_by.items():
        if len(found) < len(versions):
            e = e.replace(": error: ", ": error: (MicroPython %s only) " % " and ".join(found), 1)
        errors.append(e)
    for e in sorted(errors, key=_position):
        out.write(e + "\n")
    if errors:
        out.write("ESP32 gate: FAILED: %d error(s) in %d file(s) checked against the stubs of MicroPython %s\n"
                  % (len(errors), len(files), " and ".join(versions)))
        return 1
    out.write("ESP32 gate: OK: %d file(s) import only what the ESP32 firmware has and type-check "
              "against its stubs (MicroPython %s)\n" % (len(files), " and ".join(versions)))
    return 0


def _skipper(by_file, device_only):
    """skip() for run_pyright: what the allow-list reported already, fallbacks, and STUB_GAPS."""

    def skip(path, line, rule, message):
        found = by_file.get(os.path.realpath(path))
        if found is None:
            return False
        if rule == "reportMissingImports":
            return line in found.guarded or line in found.flagged or found.modules.get(line) in device_only
        if rule == "reportAttributeAccessIssue":
            # An attribute that exists, assigned a value of another type: type precision,
            # not the device's API (e.g. bytearray into an attribute first set to b"").
            if "cannot be assigned to attribute" in message:
                return True
            return found.allows_missing_attribute(line, message) or found.stub_gap(line, message)
        return False

    return skip


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(__doc__)
        return 0
    return check(argv or [FIRMWARE])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
