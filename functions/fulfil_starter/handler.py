"""Paid queue consumer: a fulfil execution per paid order, failures retried alone; logic in shared/core/workflows.py."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.core import workflows
from shared.core.config import Env
from shared.core.observability import instrumented

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    order_id = str(json.loads(record.body)["order_id"])
    workflows.start(Env.FULFIL_STATE_MACHINE_ARN, name=f"{order_id}-{record.message_id}",
                    payload={"order_id": order_id})


@instrumented()
def handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
