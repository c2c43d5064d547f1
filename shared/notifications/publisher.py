"""Publishing notifications to the SNS topic (env NOTIFICATIONS_TOPIC_ARN) for SMS/push/e-mail senders.

PublishBatch carries up to 10 notifications per request, and SNS bills a request per 64 KB of it, so a
stream batch costs a tenth of one Publish per notification. Message attributes `type` and `order_id` let
subscribers filter; `notification_id` lets them drop the rare duplicate (a crash between publish and store
republishes on retry: at-least-once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.core import aws
from shared.core.config import Env, env

if TYPE_CHECKING:
    from types_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

BATCH_LIMIT = 10  # PublishBatch's entries per request
logger = logging.getLogger("order24.notifications")


def _entry(batch_id: str, note: dict[str, Any]) -> PublishBatchRequestEntryTypeDef:
    message = {k: v for k, v in note.items() if v is not None and k != "sk"}
    message["notification_id"] = note["sk"]
    return {
        "Id": batch_id,
        "Message": json.dumps(message, ensure_ascii=False),
        "MessageAttributes": {
            "type": {"DataType": "String", "StringValue": note["type"]},
            # a support ticket's notification may concern no order
            **({"order_id": {"DataType": "String", "StringValue": note["order_id"]}} if note.get("order_id") else {}),
            "notification_id": {"DataType": "String", "StringValue": note["sk"][:256]},
        },
    }


def publish_batch(notes: Sequence[dict[str, Any]]) -> set[str]:
    """Publish every note, 10 per request; returns the `sk` of each note SNS did not take."""
    from botocore.exceptions import BotoCoreError, ClientError  # loaded with the SNS client anyway

    failed: set[str] = set()
    for start in range(0, len(notes), BATCH_LIMIT):
        chunk = notes[start : start + BATCH_LIMIT]
        entries = [_entry(str(i), note) for i, note in enumerate(chunk)]
        try:
            reply = aws.sns().publish_batch(TopicArn=env(Env.NOTIFICATIONS_TOPIC_ARN),
                                            PublishBatchRequestEntries=entries)
        except (ClientError, BotoCoreError) as error:  # the whole request failed: every note in it is retried
            logger.warning("publish batch failed", extra={"error": type(error).__name__, "notes": len(chunk)})
            failed.update(note["sk"] for note in chunk)
            continue
        for item in reply.get("Failed", []):
            failed.add(chunk[int(item["Id"])]["sk"])
    return failed
