"""The repository's imports point one way: no module imports (at the top or lazily, inside a
function) a module that imports it back, directly or through others. Lazy loading saves
RAM; it must not hide a circle. The firmware, the host tools and the tests alike: every
folder below is a place modules are imported from by their plain names."""
import ast
import os

from conftest import FIRMWARE, FIRMWARE_LIB, REPO

# The folders that are on sys.path somewhere (the board, a tool, a test): each module in them
# is imported by its file name, so a name must be unique across them all.
IMPORT_FOLDERS = ("firmware", "firmware/lib/mpaws", "cloud", "tools", "tools/localaws", "tools/bench",
                  "tools/maintainer", "host_tests", "host_tests/compat", "host_tests/drivers", "host_tests/mpy",
                  "host_tests/sim")
# Python files that are not imported by name: freeze manifests (MicroPython's build reads them).
NOT_MODULES = ("", "packages/mpaws-aws", "packages/mpaws-device", "packages/mpaws-sigv4")


def _modules():
    """{module name: path} of every module in IMPORT_FOLDERS (the library as mpaws.NAME)."""
    found = {}
    for folder in IMPORT_FOLDERS:
        path = os.path.join(REPO, folder)
        prefix = "mpaws." if path == os.path.join(FIRMWARE_LIB, "mpaws") else ""
        for name in sorted(os.listdir(path)):
            if name.endswith(".py") and name != "__init__.py":
                module = prefix + name[:-3]
                assert module not in found, "%s in two folders: %s, %s" % (module, found[module], path)
                found[module] = os.path.join(path, name)
    return found


def _imports(path):
    """The modules a file imports, anywhere in it (mpaws.NAME for the library's)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            if node.module == "mpaws":
                out.update("mpaws." + alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def graph():
    modules = _modules()
    return {name: sorted(_imports(path) & set(modules)) for name, path in modules.items()}


def _cycle(edges):
    """One import circle as a list of modules, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in edges.get(node, ()):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_circles():
    edges = graph()
    assert os.path.join(FIRMWARE, "app.py") in _modules().values()
    # The scan sees lazy imports, in the firmware and on the host, and every room of the host side.
    assert "mpaws.error_kinds" in edges["mpaws.errors"]
    assert "local_credentials" in edges["local_aws"] and "bench_notify" in edges["bench"]
    assert {"aws_server", "hostile_server", "moto_tls", "check_esp32", "board", "policies"} <= set(edges)
    circle = _cycle(edges)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_every_folder_is_scanned():
    """A new folder of modules joins IMPORT_FOLDERS (or NOT_MODULES), so no circle hides there."""
    folders = set()
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("build", "__pycache__")]
        if any(name.endswith(".py") for name in files):
            folder = os.path.relpath(root, REPO).replace(os.sep, "/")
            folders.add("" if folder == "." else folder)
    assert sorted(folders - set(IMPORT_FOLDERS) - set(NOT_MODULES)) == []


def test_the_check_finds_a_circle():
    assert _cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _cycle({"a": ["b"], "b": [], "c": ["a"]}) is None
