"""Sending to our SQS queues (names from the environment; see infra/declaration.py)."""

from __future__ import annotations

import json
from typing import Any

from shared.core.aws import client
from shared.core.config import env


def send(queue_env_var: str, message: dict[str, Any], *, dedupe_hint: str | None = None) -> None:
    attributes = {"dedupe": {"DataType": "String", "StringValue": dedupe_hint}} if dedupe_hint else {}
    client("sqs").send_message(
        QueueUrl=env(queue_env_var), MessageBody=json.dumps(message, separators=(",", ":")),
        MessageAttributes=attributes,
    )
