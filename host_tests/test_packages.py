"""The three packages (mpaws-sigv4, mpaws-aws, mpaws-device) from tools/maintainer/packages.py's one
list: the checked-in files are what it generates, every firmware module is in exactly one
package, imports point one way, the freezing manifests freeze each package with what it
requires, and MicroPython's own mip (the unix port's, frozen in it) installs each package
from a server on 127.0.0.1 into an empty folder, where it imports and works under
micropython with nothing else present."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import FIRMWARE, FIRMWARE_LIB, MAINTAINER, REPO, VECTORS, run_micropython

import packages
from mpy.run_vectors import ACCESS_KEY, DATE, REGION, SECRET_KEY, SERVICE

NAMES = [p[0] for p in packages.PACKAGES]


def test_check_passes_on_the_repository():
    proc = subprocess.run([sys.executable, os.path.join(MAINTAINER, "packages.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert packages.problems() == []


def copy_repo(tmp_path):
    """The files packages.problems() reads, in a scratch copy to break."""
    root = tmp_path / "repo"
    shutil.copytree(FIRMWARE, root / "firmware", ignore=shutil.ignore_patterns("__pycache__", "config.py"))
    for name in NAMES:
        shutil.copy(os.path.join(REPO, name + ".json"), root / (name + ".json"))
        (root / "packages" / name).mkdir(parents=True)
        shutil.copy(os.path.join(REPO, "packages", name, "manifest.py"), root / "packages" / name / "manifest.py")
    assert packages.problems(str(root)) == []
    return root


def test_a_module_in_no_package_is_named_with_the_fix(tmp_path):
    root = copy_repo(tmp_path)
    (root / "firmware" / "lib" / "mpaws" / "kinesis.py").write_text("from mpaws import client\n")
    found = packages.problems(str(root))
    assert found == ["firmware module mpaws/kinesis.py is in no package: add it to one of mpaws-sigv4, "
                     "mpaws-aws, mpaws-device; edit PACKAGES in tools/maintainer/packages.py, then run "
                     "`python3 tools/maintainer/packages.py`"]


def test_an_import_against_the_arrow_is_refused(tmp_path):
    root = copy_repo(tmp_path)
    sigv4 = root / "firmware" / "lib" / "mpaws" / "sigv4.py"
    sigv4.write_text(sigv4.read_text() + "\n\ndef _later():\n    from mpaws import http\n")
    found = packages.problems(str(root))
    assert found == ["mpaws/sigv4.py (package mpaws-sigv4) imports mpaws.http, which is in mpaws-aws: a package "
                     "imports only its own modules and those of the packages it requires"]


def test_a_stale_file_is_named(tmp_path):
    root = copy_repo(tmp_path)
    (root / "mpaws-aws.json").write_text("{}\n")
    assert packages.problems(str(root)) == ["mpaws-aws.json is stale: run `python3 tools/maintainer/packages.py`"]


def test_the_packages_cover_the_library_once():
    listed = [m for p in packages.PACKAGES for m in p[3]]
    assert sorted(listed) == sorted(set(listed))
    assert sorted(listed) == sorted(f for f in os.listdir(os.path.join(FIRMWARE_LIB, "mpaws")) if f.endswith(".py"))
    assert packages.closure("mpaws-device") == ["mpaws-sigv4", "mpaws-aws", "mpaws-device"]


def run_manifest(name):
    """The files a MicroPython firmware build would freeze for packages/NAME/manifest.py:
    MicroPython's manifest functions (tools/manifestfile.py) as far as these files use
    them -- paths relative to the manifest being run, require() searching the libraries
    added with add_library() for <name>/manifest.py, each manifest run once."""
    frozen, visited, libraries = [], set(), {}

    def run(path):
        path = os.path.realpath(path)
        if path in visited:
            return
        visited.add(path)
        here = os.path.dirname(path)

        def package(package_path, files=None, base_path=".", opt=None):
            assert files is not None
            frozen.extend((package_path + "/" + f, os.path.join(here, base_path, package_path, f)) for f in files)

        def module(module_path, base_path=".", opt=None):
            frozen.append((module_path, os.path.join(here, base_path, module_path)))

        def add_library(library, library_path, prepend=False):
            libraries[library] = os.path.join(here, library_path)

        def require(required, version=None, library=None, **kwargs):
            for root, _, names in os.walk(libraries[library]):
                if os.path.basename(root) == required and "manifest.py" in names:
                    return run(os.path.join(root, "manifest.py"))
            raise ValueError("Package '%s' not found in external library '%s'" % (required, library))

        def metadata(**kwargs):
            assert set(kwargs) == {"description", "version", "license"}

        with open(path) as f:
            exec(compile(f.read(), path, "exec"), dict(package=package, module=module, add_library=add_library,
                                                      require=require, metadata=metadata))

    run(os.path.join(REPO, "packages", name, "manifest.py"))
    return frozen


@pytest.mark.parametrize("name", NAMES)
def test_manifest_freezes_the_package_and_what_it_requires(name):
    frozen = run_manifest(name)
    expected = [pair for n in packages.closure(name) for pair in packages.files(n)]
    assert [target for target, _ in frozen] == [target for target, _ in expected]
    for (_, source), (_, repo_path) in zip(frozen, expected):
        assert os.path.realpath(source) == os.path.realpath(os.path.join(REPO, repo_path))
        assert os.path.isfile(source)


# -- MicroPython's own mip, from 127.0.0.1 ------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    overlay = {}  # path -> bytes served instead of the repository's file
    log = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=REPO, **kwargs)

    def do_GET(self):
        self.log.append(self.path)
        body = self.overlay.get(self.path)
        if body is None:
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """The repository over plain HTTP on 127.0.0.1 (an ephemeral port)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def mip_install(micropython, url, target, index):
    """`micropython -m mip install` as a user types it. --index points at the loopback
    server too, so that nothing (a dependency by name) is ever looked up elsewhere."""
    proc = run_micropython(micropython, ["-m", "mip", "install", "--target", str(target), "--index", index, url],
                           cwd=str(target.parent), timeout=120)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("Done"), proc.stdout + proc.stderr
    return proc.stdout


def installed(target):
    return sorted(os.path.relpath(os.path.join(d, n), target).replace(os.sep, "/")
                  for d, _, names in os.walk(target) for n in names)


def vector(name):
    base = os.path.join(VECTORS, name, name)
    with open(base + ".req", "rb") as f:
        head = f.read().decode().split("\n")
    with open(base + ".authz") as f:
        authz = f.read()
    method, target, _ = head[0].split(" ")
    headers = [tuple(line.split(":", 1)) for line in head[1:] if line]
    return dict(method=method, path=target, headers=[[n, v] for n, v in headers if n != "X-Amz-Date"],
                authz=authz)


# Under micropython, with sys.path = [the folder mip installed into] only.
SIGN_SCRIPT = """
import sys, json
sys.path[:] = [%(target)r]
case = json.loads(%(case)r)
from mpaws import sigv4, sigv4_full
print("MODULE", sigv4.__file__)
signer = sigv4.Signer(%(ak)r, %(sk)r, %(region)r, %(service)r)
added = dict(signer.sign(case["method"], case["path"], None, [tuple(h) for h in case["headers"]], date=%(date)r))
print("AUTHZ", added["Authorization"] == case["authz"])
print("IOT", sigv4_full.iot_websocket_url("abc123-ats.iot.eu-west-1.amazonaws.com", "eu-west-1",
      (%(ak)r, %(sk)r, "token/+="), 300, date=%(date)r))
for name in ("http", "client", "errors", "awslambda", "outbox", "settings", "device"):
    try:
        __import__("mpaws." + name)
        print("PRESENT", name)
    except ImportError:
        print("ABSENT", name)
try:
    import app
    print("PRESENT app")
except ImportError:
    print("ABSENT app")
"""


def present_modules(micropython, target, cwd):
    """Which of the other packages' modules import from target (under micropython)."""
    proc = run_micropython(micropython, ["-c", SIGN_SCRIPT % dict(
        target=str(target), case=json.dumps(vector("get-vanilla")), ak=ACCESS_KEY, sk=SECRET_KEY, region=REGION,
        service=SERVICE, date=DATE)], cwd=str(cwd))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("name", NAMES)
def test_micropython_mip_installs_each_package(micropython, server, tmp_path, name):
    target = tmp_path / "lib"
    target.mkdir()
    out = mip_install(micropython, server + "/%s.json" % name, target, server + "/no-index")
    assert "Installing %s/%s.json" % (server, name) in out
    expected = [path for n in packages.closure(name) for path, _ in packages.files(n)]
    assert installed(target) == sorted(expected)
    for path, repo_path in packages.files(name):
        assert (target / path).read_bytes() == open(os.path.join(REPO, repo_path), "rb").read()

    lines = present_modules(micropython, target, tmp_path)
    assert lines[0] == "MODULE %s/mpaws/sigv4.py" % target
    assert lines[1] == "AUTHZ True"
    from mpaws import sigv4_full
    assert lines[2] == "IOT " + sigv4_full.iot_websocket_url("abc123-ats.iot.eu-west-1.amazonaws.com", "eu-west-1",
                                                             (ACCESS_KEY, SECRET_KEY, "token/+="), 300, date=DATE)
    aws = name in ("mpaws-aws", "mpaws-device")
    device = name == "mpaws-device"
    expect = {"http": aws, "client": aws, "errors": aws, "awslambda": aws, "outbox": device, "settings": device,
              "device": device, "app": device}
    assert [line for line in lines[3:]] == [("PRESENT " if expect[m] else "ABSENT ") + m for m in expect]


def test_micropython_mip_follows_deps_with_home(micropython, server, tmp_path):
    """`tools/maintainer/packages.py --home URL` (a repository published at a known address): each
    package lists its own files and names its requirements in deps; mip installs them in
    turn. The files are served from this checkout under /home/."""
    home = server + "/home"
    _Quiet.overlay = {"/home/" + path: text.encode() for path, text in packages.outputs(home).items()
                      if path.endswith(".json")}
    for name in NAMES:
        for path, repo_path in packages.files(name):
            with open(os.path.join(REPO, repo_path), "rb") as f:
                _Quiet.overlay["/home/" + repo_path] = f.read()
    try:
        deps = json.loads(_Quiet.overlay["/home/mpaws-device.json"])["deps"]
        assert deps == [[home + "/mpaws-aws.json", "latest"]]
        target = tmp_path / "lib"
        target.mkdir()
        del _Quiet.log[:]
        mip_install(micropython, home + "/mpaws-device.json", target, server + "/no-index")
    finally:
        _Quiet.overlay = {}
    fetched = [p for p in _Quiet.log if p.endswith(".json")]
    assert fetched == ["/home/mpaws-device.json", "/home/mpaws-aws.json", "/home/mpaws-sigv4.json"]
    assert installed(target) == sorted(path for n in NAMES for path, _ in packages.files(n))
    assert present_modules(micropython, target, tmp_path)[1] == "AUTHZ True"
