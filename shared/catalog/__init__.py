"""The catalog: SKUs, stock buckets, public browsing and the merchant console."""

from __future__ import annotations

import importlib
from types import ModuleType

_ON_FIRST_USE = frozenset({"merchant_views"})


def __getattr__(name: str) -> ModuleType:
    """`shared.catalog.merchant_views` is imported when first read (an ordinary, thread-safe import): the
    public catalog function shares shared.catalog.routes with the merchant routes and never needs it."""
    if name in _ON_FIRST_USE:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
