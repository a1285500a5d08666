"""The package's layout holds: the pipeline's stages import one way (no cycles), runtimes are
paths and commands only, and the settings' values are read in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tsdb_deploy"
# the only modules that read the settings table's values
SETTINGS_READERS = {"settings", "host_plan", "secrets"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it, `if TYPE_CHECKING:` included: a cycle
    through type hints is still two modules that cannot be read apart."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def walk(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node)
    return found


def test_no_import_cycles():
    edges = graph()
    # a package's __init__ importing its own submodules is how a package exports them
    for name in edges:
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".")}
    assert cycles(edges) == []


def test_runtimes_are_paths_and_commands_only():
    for path in (PACKAGE / "runtimes").glob("*.py"):
        imported = imports(path)
        assert not any(m.split(".")[0] == "pyinfra" for m in imported), path
        assert not any(".operations" in m or ".deploys" in m for m in imported), path


def test_settings_values_are_read_in_one_place():
    readers = {
        module_name(p).rsplit(".", 1)[-1]
        for p in PACKAGE.rglob("*.py")
        if re.search(r"\bsettings\[", p.read_text())
    }
    assert readers <= SETTINGS_READERS
