"""Publishing a notification to the SNS topic (env NOTIFICATIONS_TOPIC_ARN) for SMS/push/e-mail senders.

Message attributes `type` and `order_id` let subscribers filter; `notification_id` lets them drop the
rare duplicate (a crash between publish and store republishes on retry: at-least-once).
"""

from __future__ import annotations

import json
from typing import Any

from shared.core.aws import client
from shared.core.config import env


def publish(note: dict[str, Any]) -> None:
    message = {k: v for k, v in note.items() if v is not None and k != "sk"}
    message["notification_id"] = note["sk"]
    client("sns").publish(
        TopicArn=env("NOTIFICATIONS_TOPIC_ARN"),
        Message=json.dumps(message, ensure_ascii=False),
        MessageAttributes={
            "type": {"DataType": "String", "StringValue": note["type"]},
            "order_id": {"DataType": "String", "StringValue": note["order_id"]},
            "notification_id": {"DataType": "String", "StringValue": note["sk"][:256]},
        },
    )
