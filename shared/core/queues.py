"""Sending to our SQS queues (names from the environment; see infra/declaration.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.core import aws
from shared.core.config import env

if TYPE_CHECKING:
    from types_boto3_sqs.type_defs import MessageAttributeValueTypeDef


def send(queue_env_var: str, message: dict[str, Any], *, dedupe_hint: str | None = None) -> None:
    attributes: dict[str, MessageAttributeValueTypeDef] = (
        {"dedupe": {"DataType": "String", "StringValue": dedupe_hint}} if dedupe_hint else {}
    )
    aws.sqs().send_message(
        QueueUrl=env(queue_env_var), MessageBody=json.dumps(message, separators=(",", ":")),
        MessageAttributes=attributes,
    )
