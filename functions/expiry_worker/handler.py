"""Expiry queue consumer: expires due unpaid orders, releasing their stock; logic in shared/orders/lifecycle.py.

The sweeper found them due (shared/orders/expiry.py explains the fan-out; `lifecycle.expire_many` does the
work). A message whose orders could not all be decided is retried alone; redelivery is harmless (conditional
writes)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.core.observability import instrumented, metrics
from shared.orders import lifecycle
from shared.orders.expiry import ExpiryWork

processor = BatchProcessor(event_type=EventType.SQS)


class ExpiryIncomplete(Exception):
    """Some orders of the message hit an unexpected error: the message comes back (then its DLQ)."""


def record_handler(record: SQSRecord) -> dict[str, int]:
    work = ExpiryWork.model_validate_json(record.body)
    outcomes = lifecycle.expire_many(work.order_ids)
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"Expiry_{outcome.removeprefix('expiry_')}", unit="Count", value=count)
    if outcomes.get("expiry_error"):
        raise ExpiryIncomplete(f"{outcomes['expiry_error']} of {len(work.order_ids)} expiries failed")
    return dict(outcomes)


@instrumented()
def handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
