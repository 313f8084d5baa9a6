"""The firmware's imports point one way: no module imports (at the top or lazily, inside a
function) a module that imports it back, directly or through others. Lazy loading saves
RAM; it must not hide a circle."""
import ast
import os

from conftest import FIRMWARE, FIRMWARE_LIB


def _modules():
    found = {"app": os.path.join(FIRMWARE, "app.py"), "main": os.path.join(FIRMWARE, "main.py")}
    package = os.path.join(FIRMWARE_LIB, "mpaws")
    for name in sorted(os.listdir(package)):
        if name.endswith(".py") and name != "__init__.py":
            found["mpaws." + name[:-3]] = os.path.join(package, name)
    return found


def _imports(path):
    """The mpaws modules (and app) a file imports, anywhere in it."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mpaws":
                out.update("mpaws." + alias.name for alias in node.names)
            elif node.module.startswith("mpaws."):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mpaws.") or alias.name == "app":
                    out.add(alias.name)
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
    assert len(edges) > 20 and "mpaws.error_kinds" in edges["mpaws.errors"]  # the scan sees lazy imports
    circle = _cycle(edges)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_check_finds_a_circle():
    assert _cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _cycle({"a": ["b"], "b": [], "c": ["a"]}) is None
