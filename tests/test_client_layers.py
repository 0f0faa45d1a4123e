"""gt/client is layered: no module imports (at the top or inside a function) one that imports it back."""
from __future__ import annotations

import ast
from pathlib import Path

import gt.client

CLIENT = Path(gt.client.__file__).parent


def _modules() -> dict:
    out = {}
    for path in CLIENT.rglob("*.py"):
        name = ".".join(("gt", "client") + path.relative_to(CLIENT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict, own: str) -> set:
    """The client modules ``path`` imports; a package's imports of its own children do not count."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and m != own and not m.startswith(own + ".")}


def _cycle(graph: dict) -> list:
    """One import cycle of ``graph`` as a list of modules, or [] when it has none."""
    state: dict = {}
    stack: list = []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        state[m] = "done"
        stack.pop()
        return []

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return []


def test_the_client_has_no_import_cycle():
    modules = _modules()
    graph = {m: _imports(p, modules, m) for m, p in modules.items()}
    cycle = _cycle(graph)
    assert not cycle, "import cycle in gt/client: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
