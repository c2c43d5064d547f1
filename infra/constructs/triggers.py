"""What invokes the consumers: SQS event-source mappings (partial batch failures, bounded concurrency), the
table's stream (the notification outbox, with an alarmed on-failure DLQ) and EventBridge schedules."""

from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.audit import accept
from infra.constructs.common import Alarms, ack, pascal
from infra.declaration import Declaration


class Triggers(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, declaration: Declaration, table: ddb.TableV2,
        functions: dict[str, lambda_.Function], queues: dict[str, sqs.Queue], alarms: Alarms,
    ) -> None:
        super().__init__(scope, construct_id)
        for q in declaration.queues:
            window = Duration.seconds(q.max_batching_window_s) if q.max_batching_window_s else None
            functions[q.consumer].add_event_source(
                sources.SqsEventSource(
                    queues[q.name],
                    batch_size=q.batch_size,
                    max_batching_window=window,
                    report_batch_item_failures=True,
                    max_concurrency=q.max_concurrency,
                )
            )
        for consumer in declaration.stream_consumers:
            # The outbox: publish after commit. Failed batches are bisected and retried, then parked in a
            # DLQ whose depth raises an alarm, so a notification is never silently lost.
            dlq = sqs.Queue(
                self, f"{pascal(consumer.function)}StreamDlq", encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True, retention_period=Duration.days(14),
            )
            functions[consumer.function].add_event_source(
                sources.DynamoEventSource(
                    table,
                    starting_position=lambda_.StartingPosition.LATEST,
                    batch_size=consumer.batch_size,
                    bisect_batch_on_error=True,
                    retry_attempts=consumer.max_retries,
                    report_batch_item_failures=True,
                    on_failure=sources.SqsDlq(dlq),
                )
            )
            accept(dlq, "dead_letter_queue")
            ack(dlq, "AwsSolutions-SQS3",
                "This queue is itself the on-failure destination of the stream consumer; it needs no DLQ.")
            alarms.add(
                self,
                f"{pascal(consumer.function)}StreamDlqAlarm",
                dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
                threshold=1,
                description=f"{consumer.function}: stream records gave up after retries (notifications held)",
            )
        for s in declaration.schedules:
            events.Rule(
                self,
                pascal(s.name) + "Schedule",
                schedule=events.Schedule.rate(Duration.minutes(max(1, math.ceil(s.every_seconds / 60)))),
                targets=[targets.LambdaFunction(functions[s.function])],
            )
        # EventBridge invokes asynchronously: after Lambda's two retries a failed run lands in the function's
        # dead-letter queue (infra/constructs/compute.py), and its depth pages ops.
        for name in sorted({s.function for s in declaration.schedules}):
            async_dlq = functions[name].dead_letter_queue
            assert async_dlq is not None, f"scheduled function {name} has no dead-letter queue"
            alarms.add(
                self,
                f"{pascal(name)}AsyncDlqAlarm",
                async_dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
                threshold=1,
                description=f"{name}: a scheduled run failed after Lambda's retries (its event is in the DLQ). "
                "Runbook: '<Function>AsyncDlqAlarm'.",
            )
