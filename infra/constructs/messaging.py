"""SNS topics (the ops alarm topic and the declared ones, under one customer key) and the declared SQS
queues, each with its DLQ and a DLQ alarm: an accepted order ends final, or in a DLQ that pages someone."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.audit import accept
from infra.constructs.common import Alarms, pascal
from infra.declaration import Declaration


class Messaging(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, declaration: Declaration) -> None:
        super().__init__(scope, construct_id)
        # One customer-managed key for every topic: CloudWatch alarms cannot publish to a topic under the
        # AWS-managed aws/sns key, and with our own key publishers are granted this key, not key/*.
        self.topic_key = kms.Key(
            self,
            "TopicKey",
            enable_key_rotation=True,
            description="order24 SNS topics (ops alarms and declared topics)",
        )
        self.topic_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.alarm_topic = self._topic("OpsAlarmTopic")
        self.alarms = Alarms(self.alarm_topic)
        self.topics = {t.name: self._topic(pascal(t.name) + "Topic") for t in declaration.topics}
        self.queues: dict[str, sqs.Queue] = {}
        self.dlqs: dict[str, sqs.Queue] = {}
        for q in declaration.queues:
            consumer = declaration.function(q.consumer)
            # Lambda rejects a mapping whose queue hides messages for less than the function may run.
            if q.visibility_timeout_s < consumer.timeout_s:
                raise ValueError(
                    f"queue {q.name}: visibility_timeout_s {q.visibility_timeout_s} < "
                    f"{consumer.name}.timeout_s {consumer.timeout_s}"
                )
            cid = pascal(q.name)
            dlq = sqs.Queue(
                self,
                cid + "Dlq",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                retention_period=Duration.days(14),  # the maximum: time to investigate and redrive
            )
            self.queues[q.name] = sqs.Queue(
                self,
                cid + "Queue",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=Duration.seconds(q.visibility_timeout_s),
                dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=q.max_receive_count, queue=dlq),
            )
            self.dlqs[q.name] = dlq
            accept(dlq, "dead_letter_queue")
            accept(self.queues[q.name], "queue")
            self.alarms.add(
                self,
                cid + "DlqNotEmpty",
                dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Maximum"),
                threshold=1,
                description=f"Messages in the {q.name} DLQ: orders stopped moving. Runbook: 'DLQ not empty'.",
            )

    def _topic(self, construct_id: str) -> sns.Topic:
        return sns.Topic(self, construct_id, master_key=self.topic_key, enforce_ssl=True)
