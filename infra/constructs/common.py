"""What every construct of the stack shares: stable ids, cdk-nag acknowledgements, log retention, alarms."""

from __future__ import annotations

import re

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def pascal(name: str) -> str:
    """intake_queue / after-sales -> IntakeQueue / AfterSales: stable construct ids and output names."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-\s]+", name) if part)


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def ack(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `scope` (and its children) with the reason it is accepted."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's resource (cdk-nag names resources by it)."""
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return str(Stack.of(construct).resolve(child.logical_id))  # honours override_logical_id


class Alarms:
    """Every alarm of the stack, each notifying the one ops topic."""

    def __init__(self, topic: sns.ITopic) -> None:
        self.topic = topic
        self.all: list[cw.Alarm] = []

    def add(self, scope: Construct, cid: str, metric: cw.IMetric, *, threshold: float, description: str) -> cw.Alarm:
        alarm = cw.Alarm(
            scope,
            cid,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.all.append(alarm)
        return alarm
