"""The outbox: the table's stream -> stored notifications + SNS, one record at a time.

A record that fails (e.g. SNS unavailable) is reported in `batchItemFailures`, so only it is retried.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from shared.core.observability import instrumented
from shared.notifications import service

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _one(record: Any) -> int:
    return service.handle(record.raw_event)


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reply = process_partial_response(event=event, record_handler=_one, processor=processor, context=context)
    return dict(reply)
