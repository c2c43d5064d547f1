"""Extension hook of the local runtime: add sections to `.local/stack.json` and prepare the handlers' world.

An extension is a callable `(runtime) -> dict`. The runtime calls each one after it has created the
AWS resources and the Cognito pool, and BEFORE it sets the handlers' environment and starts serving.
An extension may:

* return a dict; its keys are merged into stack.json (e.g. `{"payments": {"wechat": {...}}}`);
* call `runtime.set_env(name, value)` to give the handlers an environment variable (set once, with
  all the others, before the first request);
* call `runtime.put_secret(secret_name, value)` to fill a declared secret (default `{}`);
* use `runtime.client("s3")`, `runtime.resources`, `runtime.state_dir` and `runtime.endpoint`.

Register one in any of these ways:

    # 1. a module `infra/local/<anything>_extension.py` is imported at start automatically; in it,
    #    either define `extend(runtime) -> dict` or decorate any callable with @register:
    from infra.local.extensions import register

    @register
    def payments_sandbox(runtime): ...

    # 2. list another module in EXTENSION_MODULES (same two options inside it);
    # 3. append a callable to EXTENSIONS here.

Extensions run in registration order; an extension that raises stops the start-up (a half-configured
sandbox is worse than a clear error).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

Extension = Callable[[Any], dict[str, Any]]

# Modules imported at start so their @register calls run. Add "<package>.<module>" here.
EXTENSION_MODULES: list[str] = []

EXTENSIONS: list[Extension] = []


def register(extension: Extension) -> Extension:
    if extension not in EXTENSIONS:
        EXTENSIONS.append(extension)
    return extension


def discovered_modules() -> list[str]:
    """`infra/local/*_extension.py`, in name order."""
    here = Path(__file__).parent
    return [f"infra.local.{path.stem}" for path in sorted(here.glob("*_extension.py"))]


def load() -> list[Extension]:
    for name in [*discovered_modules(), *EXTENSION_MODULES]:
        module = importlib.import_module(name)
        extend = getattr(module, "extend", None)
        if callable(extend):
            register(extend)
    return list(EXTENSIONS)
