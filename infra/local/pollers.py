"""What Lambda's event-source mappings and EventBridge schedules do, as local threads.

moto's own SQS event-source mapping ignores `ReportBatchItemFailures` and deletes failed messages,
so we poll ourselves: a failed record is left on the queue, comes back after the visibility timeout
and lands in the DLQ after `maxReceiveCount` (moto applies the redrive policy on receive).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("infra.local.pollers")

Invoke = Callable[..., Any]  # Invoker.invoke(function, event, source=..., records=...)

# Stream consumers for a declaration without a `stream_consumers` field (see runtime.stream_consumers).
STREAM_CONSUMERS: tuple[str, ...] = ("notifier",)


def failed_ids(reply: Any, batch_ids: set[str]) -> set[str] | None:
    """The ids a batch handler reported as failed; None means "the whole batch failed".

    Like Lambda: an empty or missing `batchItemFailures` is success, and an identifier that is empty
    or not in the batch fails the whole batch.
    """
    if not isinstance(reply, dict) or not reply.get("batchItemFailures"):
        return set()
    ids: set[str] = set()
    for item in reply["batchItemFailures"]:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in batch_ids:
            return None
        ids.add(str(ident))
    return ids


class Worker(threading.Thread):
    def __init__(self, name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = stop

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:
                if self.stop_event.is_set():
                    return
                log.exception("%s: poll failed; retrying", self.name)
                self.stop_event.wait(1)

    def tick(self) -> None:
        raise NotImplementedError


class SqsPoller(Worker):
    """One declared queue -> its consumer, with real SQS event records and partial batch responses."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        consumer: str,
        batch_size: int,
        invoke: Invoke,
        stop: threading.Event,
    ) -> None:
        super().__init__(f"sqs-{consumer}", stop)
        self.sqs, self.queue_url, self.queue_arn, self.region = sqs, queue_url, queue_arn, region
        self.consumer, self.batch_size, self.invoke_fn = consumer, min(batch_size, 10), invoke
        self.batches = 0

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        attrs = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attrs.get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": attrs.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
                "ApproximateFirstReceiveTimestamp": attrs.get(
                    "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                ),
                **{k: v for k, v in attrs.items() if k in ("MessageGroupId", "MessageDeduplicationId",
                                                         "SequenceNumber", "AWSTraceHeader")},
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": value.get("BinaryValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.get("DataType"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }

    def tick(self) -> None:
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        if not messages or self.stop_event.is_set():
            return
        self.batches += 1
        records = [self.record(m) for m in messages]
        try:
            result = self.invoke_fn(self.consumer, {"Records": records}, source="sqs", records=len(records))
        except Exception as exc:
            # The whole batch fails: nothing is deleted, every message comes back after the timeout.
            log.warning("%s failed on a batch of %d: %s: %s", self.consumer, len(records),
                        type(exc).__name__, exc)
            return
        failed = failed_ids(result, {r["messageId"] for r in records})
        if failed is None:
            log.warning("%s returned an invalid batchItemFailures; the batch is retried", self.consumer)
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )


class StreamPoller(Worker):
    """The table's DynamoDB stream -> a consumer, honouring `batchItemFailures` (by sequence number)."""


    def __init__(
        self,
        *,
        streams: Any,
        stream_arn: str,
        region: str,
        consumer: str,
        batch_size: int,
        invoke: Invoke,
        stop: threading.Event,
        max_retries: int = 5,
    ) -> None:
        super().__init__(f"stream-{consumer}", stop)
        # After this many failed attempts the records are skipped, like an event-source mapping with
        # MaximumRetryAttempts and an on-failure destination.
        self.max_retries = max_retries
        self.streams, self.stream_arn, self.region = streams, stream_arn, region
        self.consumer, self.batch_size, self.invoke_fn = consumer, batch_size, invoke
        self.iterators: dict[str, str] = {}
        self.attempts: dict[str, int] = {}

    def _iterator(self, shard_id: str, kind: str, sequence: str | None = None) -> str:
        args: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            args["SequenceNumber"] = sequence
        return str(self.streams.get_shard_iterator(**args)["ShardIterator"])

    def record(self, raw: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(raw["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):  # boto3 parses it; Lambda events carry epoch seconds
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        return {**raw, "dynamodb": dynamodb, "awsRegion": self.region, "eventSourceARN": self.stream_arn}

    def tick(self) -> None:
        if not self.iterators:
            shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                self.iterators[shard["ShardId"]] = self._iterator(shard["ShardId"], "TRIM_HORIZON")
        busy = False
        for shard_id, iterator in list(self.iterators.items()):
            reply = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
            raw = reply.get("Records", [])
            if not raw:
                self.iterators[shard_id] = reply["NextShardIterator"]
                continue
            busy = True
            records = [self.record(r) for r in raw]
            sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
            retry_from: str | None = None
            try:
                result = self.invoke_fn(self.consumer, {"Records": records}, source="stream",
                                        records=len(records))
                failed = failed_ids(result, set(sequences))
                if failed is None:
                    retry_from = sequences[0]
                elif failed:
                    retry_from = min(failed, key=int)  # re-deliver from the first failed record on
            except Exception as exc:
                log.warning("%s failed on %d stream records: %s: %s", self.consumer, len(records),
                            type(exc).__name__, exc)
                retry_from = sequences[0]
            if retry_from is None:
                self.attempts.pop(shard_id, None)
                self.iterators[shard_id] = reply["NextShardIterator"]
                continue
            attempts = self.attempts[shard_id] = self.attempts.get(shard_id, 0) + 1
            if attempts > self.max_retries:
                log.error("%s: giving up on stream records from %s", self.consumer, retry_from)
                self.attempts.pop(shard_id, None)
                self.iterators[shard_id] = reply["NextShardIterator"]
            else:
                self.iterators[shard_id] = self._iterator(shard_id, "AT_SEQUENCE_NUMBER", retry_from)
                self.stop_event.wait(0.2 * attempts)
        if not busy:
            self.stop_event.wait(0.5)


def scheduled_event(rule: str, region: str, account: str) -> dict[str, Any]:
    """EventBridge's scheduled event, as Lambda receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"],
        "detail": {},
    }


class ScheduleTimer(Worker):
    def __init__(
        self, *, rule: str, function: str, interval_s: float, region: str, account: str,
        invoke: Invoke, stop: threading.Event,
    ) -> None:
        super().__init__(f"schedule-{rule}", stop)
        self.rule, self.function, self.interval_s = rule, function, max(0.1, interval_s)
        self.region, self.account, self.invoke_fn = region, account, invoke
        self.fired = 0

    def tick(self) -> None:
        if self.stop_event.wait(self.interval_s):  # the first run is one interval after start, as in AWS
            return
        self.fired += 1
        try:
            self.invoke_fn(self.function, scheduled_event(self.rule, self.region, self.account),
                           source="schedule")
        except Exception:
            log.exception("scheduled %s (%s) failed", self.function, self.rule)
