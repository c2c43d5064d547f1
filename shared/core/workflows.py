"""Starting our Express workflows (asynchronously: at-least-once, every step idempotent)."""

from __future__ import annotations

import json
from typing import Any

from shared.core import aws
from shared.core.config import env


def start(workflow_env_var: str, *, name: str, payload: dict[str, Any]) -> str:
    reply = aws.stepfunctions().start_execution(
        stateMachineArn=env(workflow_env_var), name=name[:80], input=json.dumps(payload, separators=(",", ":")),
    )
    return str(reply["executionArn"])
