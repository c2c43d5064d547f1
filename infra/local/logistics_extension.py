"""Local runtime extension: sandbox logistics keys in the `logistics` secret and in stack.json.

Kuaidi100's salt and KDNiao's app key are generated per run, so the sandbox courier signs pushes with the
same algorithms and keys the callback verifies with, exactly as in production.
"""

from __future__ import annotations

import secrets
from typing import Any

from infra.local.extensions import register


@register
def logistics_sandbox(runtime: Any) -> dict[str, Any]:
    if "logistics" not in runtime.resources.secrets:
        return {}  # a declaration without the logistics secret (e.g. a test's) needs no courier sandbox
    keys = {
        "kuaidi100_salt": secrets.token_hex(16),
        "kdniao_app_key": secrets.token_hex(16),
        "kdniao_business_id": str(1_000_000 + secrets.randbelow(8_999_999)),
    }
    runtime.put_secret("logistics", {**keys, "kuaidi100_key": "sandbox-key"})
    return {"logistics": keys}
