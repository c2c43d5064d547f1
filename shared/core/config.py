"""Names of the resources a function talks to, read from the environment on first use.

Both runtimes set the same variables: CDK from the declaration, the local runtime from `.local`.
"""

from __future__ import annotations

import os


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return env("TABLE_NAME")


def int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))
