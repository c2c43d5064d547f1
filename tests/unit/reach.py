"""What a deployed function's code can reach, read statically (AST) from functions/ and shared/.

A node is one top-level name of a module (a function, a class with its methods, or an assigned constant), or
`<module>`: what importing the module runs (its other top-level statements and its decorated functions, the
routes a router registers). From `functions/<name>/handler.py`'s `<module>` an edge goes to every node a
node imports or names (`store.get`, `from x import f`, `f`), so the reach is a superset of what can run,
except calls on objects (`provider.refund()`), which count through the class being named. Used by
tests/unit/test_one_declaration.py to check what each function reads against what it is declared to get.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = "<module>"
# Imported to build the OpenAPI document from every router, whose handlers never run there.
DOCUMENT_ONLY = frozenset({"shared.api.openapi", "shared.api.routers"})

Node = tuple[str, str]  # (module, top-level name or MODULE)


def module_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for base in ("shared", "functions"):
        for path in sorted((ROOT / base).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    defs: dict[str, ast.stmt] = field(default_factory=dict)  # top-level name -> its statement
    body: list[ast.stmt] = field(default_factory=list)  # what an import runs
    aliases: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, name|None)


@cache
def modules() -> dict[str, Module]:
    files = module_files()
    found: dict[str, Module] = {}
    for name, path in files.items():
        mod = Module(name, path, ast.parse(path.read_text(), str(path)))
        for stmt in mod.tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                mod.defs[stmt.name] = stmt
                if stmt.decorator_list:
                    mod.body.append(stmt)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                for target in names:
                    mod.defs[target] = stmt
                if not names:
                    mod.body.append(stmt)
            else:
                mod.body.append(stmt)
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in files and alias.asname:
                        mod.aliases[alias.asname] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    local, full = alias.asname or alias.name, f"{node.module}.{alias.name}"
                    if full in files:
                        mod.aliases[local] = (full, None)
                    elif node.module in files:
                        mod.aliases[local] = (node.module, alias.name)
        found[name] = mod
    return found


def statements(node: Node) -> list[ast.stmt]:
    mod = modules()[node[0]]
    return mod.body if node[1] == MODULE else [mod.defs[node[1]]]


def _resolve(module: str, name: str, depth: int = 0) -> Node | None:
    mod = modules().get(module)
    if mod is None or depth > 10:
        return None
    if name in mod.defs:
        return (module, name)
    target = mod.aliases.get(name)
    if target is not None and target[1] is not None:
        return _resolve(target[0], target[1], depth + 1)
    return None


@cache
def edges(node: Node) -> frozenset[Node]:
    module = node[0]
    mod = modules()[module]
    found: set[Node] = set()
    for stmt in statements(node):
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Import | ast.ImportFrom):
                names = ([a.name for a in sub.names] if isinstance(sub, ast.Import)
                         else [sub.module or "", *(f"{sub.module}.{a.name}" for a in sub.names)])
                found.update((n, MODULE) for n in names if n in modules())
            elif isinstance(sub, ast.Name):
                resolved = _resolve(module, sub.id)
                if resolved is not None:
                    found.add(resolved)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                target = mod.aliases.get(sub.value.id)
                if target is not None and target[1] is None:
                    resolved = _resolve(target[0], sub.attr)
                    if resolved is not None:
                        found.add(resolved)
    return frozenset(n for n in found if n != node and n[0] not in DOCUMENT_ONLY)


def reach(function: str, skip: Iterable[Node] = ()) -> dict[Node, Node | None]:
    """Every node `functions/<function>/handler.py` can reach -> the node that first reached it (a path)."""
    start: Node = (f"functions.{function}.handler", MODULE)
    parents: dict[Node, Node | None] = {start: None}
    todo, skipped = [start], set(skip)
    while todo:
        node = todo.pop(0)
        for nxt in sorted(edges(node)):
            if nxt not in parents and nxt not in skipped:
                parents[nxt] = node
                todo.append(nxt)
    return parents


def path(parents: dict[Node, Node | None], node: Node) -> str:
    steps: list[str] = []
    current: Node | None = node
    while current is not None:
        steps.append(f"{current[0]}:{current[1]}")
        current = parents[current]
    return " <- ".join(steps)
