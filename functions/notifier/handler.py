"""The outbox: table stream -> SNS (PublishBatch) + stored notifications; logic in shared/notifications/service.py.

A record whose notifications fail to publish is reported in `batchItemFailures`, so only it is retried.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from shared.core.observability import instrumented
from shared.notifications import service

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    prepared = service.prepare(event.get("Records") or [])

    def _one(record: Any) -> int:
        return service.finish(record.raw_event, prepared)

    reply = process_partial_response(event=event, record_handler=_one, processor=processor, context=context)
    return dict(reply)
