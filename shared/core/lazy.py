"""Submodules imported on first read, so a function's cold start pays only for what it answers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType


def on_first_use(package: str, *submodules: str) -> Callable[[str], ModuleType]:
    """A package's module `__getattr__` (PEP 562): `package.<submodule>` is imported when first read, with an
    ordinary (thread-safe) import. Used for a route's answer type that only that route needs: Powertools reads
    the annotation when the route is first answered or documented, not when the module is imported."""
    lazy = frozenset(submodules)

    def __getattr__(name: str) -> ModuleType:
        if name in lazy:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
