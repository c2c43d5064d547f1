"""What the Lambda layer ships: shared/ without the sandbox providers (decided by infra.layer.layer_files)."""

from __future__ import annotations

import ast
from pathlib import Path

from infra import layer


def test_the_layer_ships_no_sandbox_module() -> None:
    # given the sandbox providers in the source tree
    assert (layer.SHARED_SRC / "sandbox" / "digital.py").is_file()
    assert (layer.SHARED_SRC / "sandbox" / "payments.py").is_file()

    # when the layer's file list is decided
    files = layer.layer_files()

    # then the production code is in and no sandbox module is
    assert {"fulfilment/providers.py", "payments/providers.py", "fulfilment/shipment.py"} <= set(files)
    assert [f for f in files if f.startswith("sandbox/") or "/sandbox/" in f] == []
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]


def test_the_layer_copy_holds_exactly_the_decided_files(tmp_path: Path) -> None:
    dest = tmp_path / "python" / "shared"

    layer.copy_shared(dest)

    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert copied == layer.layer_files()
    assert not (dest / "sandbox").exists()


def test_shipped_code_imports_the_sandbox_only_lazily() -> None:
    """A module-level import of shared.sandbox would fail at cold start in AWS; inside a function, behind
    the switch (shared.core.config.sandbox_providers), it never runs there."""
    shipped = [layer.SHARED_SRC / f for f in layer.layer_files() if f.endswith(".py")]
    shipped += sorted((layer.REPO / "functions").rglob("*.py"))  # each function's own code asset
    top_level: list[str] = []
    for path in shipped:
        relative = path.relative_to(layer.REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            top_level += [f"{relative}: {n}" for n in names if n == "shared.sandbox" or n.startswith("shared.sandbox.")]
    assert top_level == []
