"""The operations dashboard and the alarms on what hurts shoppers: API 5xx, function errors, queue age,
failed workflow executions, a stalled review queue and support tickets waiting for ops past their SLA. Each alarm
names its runbook entry (docs/runbook.md)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.common import Alarms, pascal
from infra.constructs.messaging import Messaging

QUEUE_AGE_ALARM_S = 300
REVIEW_SLA_CONTEXT = "order24:review_sla_minutes"  # the "审核停滞" threshold; cdk.json or -c to change
TICKET_SLA_CONTEXT = "order24:ticket_response_sla_minutes"  # the ticket first-response SLA; cdk.json or -c
TICKET_SLA_MINUTES = 240
FIVE_MINUTES = Duration.minutes(5)
ONE_MINUTE = Duration.minutes(1)


def error_rate(errors: cw.IMetric, total: cw.IMetric, total_name: str, label: str) -> cw.MathExpression:
    """100 * errors / total over five minutes, 0 when nothing ran (`total_name` names it in the expression)."""
    return cw.MathExpression(
        expression=f"IF({total_name} > 0, 100 * errors / {total_name}, 0)",
        using_metrics={"errors": errors, total_name: total},
        period=FIVE_MINUTES,
        label=label,
    )


class Monitoring(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, alarms: Alarms, api: apigw.HttpApi,
        functions: dict[str, lambda_.Function], messaging: Messaging, state_machines: dict[str, sfn.StateMachine],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms = alarms
        self._review_stall_alarm()
        self._ticket_sla_alarm()
        self._provider_not_configured_alarm()
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{Stack.of(self).stack_name}-operations")
        self._api(api)
        for name, fn in functions.items():
            self._function(name, fn)
        for name, queue in messaging.queues.items():
            self._queue(name, queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE),
                        queue.metric_approximate_age_of_oldest_message(period=ONE_MINUTE),
                        queue.metric_approximate_age_of_oldest_message(period=ONE_MINUTE, statistic="Maximum"),
                        messaging.dlqs[name].metric_approximate_number_of_messages_visible(period=ONE_MINUTE))
        for name, machine in state_machines.items():
            self._workflow(name, machine)

    def _oldest_age_alarm(self, cid: str, metric_name: str, minutes: float, description: str) -> cw.Alarm:
        """An alarm on an age the sweeper publishes every minute (the oldest item of a queue people work):
        at or past `minutes`, or no metric at all (no sweeper is itself a stall)."""
        oldest = cw.Metric(
            namespace="order24", metric_name=metric_name,
            dimensions_map={"service": "order24"}, statistic="Maximum", period=ONE_MINUTE,
        )
        alarm = self.alarms.add(self, cid, oldest, threshold=minutes * 60, description=description)
        alarm.node.default_child.add_property_override(  # type: ignore[union-attr]
            "TreatMissingData", "breaching")
        return alarm

    def _review_stall_alarm(self) -> None:
        sla_minutes = float(self.node.try_get_context(REVIEW_SLA_CONTEXT) or 30)
        self._oldest_age_alarm(
            "ReviewStallAlarm", "ReviewQueueOldestAgeSeconds", sla_minutes,
            f"审核停滞: an order has waited in the human review queue longer than {sla_minutes:g} min",
        )

    def _ticket_sla_alarm(self) -> None:
        sla_minutes = float(self.node.try_get_context(TICKET_SLA_CONTEXT) or TICKET_SLA_MINUTES)
        self._oldest_age_alarm(
            "TicketSlaAlarm", "TicketOldestUnansweredAgeSeconds", sla_minutes,
            f"客服响应超时: a support ticket has waited for ops longer than {sla_minutes:g} min (first response "
            "or a reply). Runbook: 'Support tickets waiting'.",
        )

    def _provider_not_configured_alarm(self) -> None:
        self.alarms.add(
            self, "ProviderNotConfiguredAlarm",
            cw.Metric(namespace="order24", metric_name="ProviderNotConfigured", dimensions_map={"service": "order24"},
                      statistic="Sum", period=FIVE_MINUTES),
            threshold=1,
            description="A fulfil step found its provider not configured (digital provider secret, logistics "
            "secret or PUBLIC_API_URL): orders wait in the paid queue. Runbook: 'Providers'.",
        )

    def _api(self, api: apigw.HttpApi) -> None:
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="API requests, 4xx, 5xx",
                left=[api.metric_count(period=FIVE_MINUTES)],
                right=[api.metric_client_error(period=FIVE_MINUTES), api.metric_server_error(period=FIVE_MINUTES)],
                width=12,
            ),
            cw.GraphWidget(
                title="API latency p50/p99",
                left=[api.metric_latency(period=FIVE_MINUTES, statistic="p50"),
                      api.metric_latency(period=FIVE_MINUTES, statistic="p99")],
                width=12,
            ),
        )
        self.alarms.add(
            self, "Api5xx",
            error_rate(api.metric_server_error(period=FIVE_MINUTES), api.metric_count(period=FIVE_MINUTES),
                       "requests", "API 5xx %"),
            threshold=1,
            description="More than 1% of API requests answered 5xx over 5 minutes. Runbook: 'API 5xx'.",
        )

    def _function(self, name: str, fn: lambda_.Function) -> None:
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title=f"λ {name}: invocations, errors, throttles",
                left=[fn.metric_invocations(period=FIVE_MINUTES)],
                right=[fn.metric_errors(period=FIVE_MINUTES), fn.metric_throttles(period=FIVE_MINUTES)],
                width=12,
            ),
            cw.GraphWidget(
                title=f"λ {name}: duration p50/p99",
                left=[fn.metric_duration(period=FIVE_MINUTES, statistic="p50"),
                      fn.metric_duration(period=FIVE_MINUTES, statistic="p99")],
                width=12,
            ),
        )
        self.alarms.add(
            self, pascal(name) + "Errors",
            error_rate(fn.metric_errors(period=FIVE_MINUTES), fn.metric_invocations(period=FIVE_MINUTES),
                       "invocations", f"{name} error %"),
            threshold=1,
            description=f"{name}: more than 1% of invocations failed over 5 minutes. Runbook: 'Function errors'.",
        )

    def _queue(self, name: str, depth: cw.IMetric, age: cw.IMetric, max_age: cw.IMetric, dlq_depth: cw.IMetric) -> None:
        self.dashboard.add_widgets(
            cw.GraphWidget(title=f"queue {name}: depth, oldest message age (s)", left=[depth], right=[age], width=12),
            cw.GraphWidget(title=f"DLQ {name}: depth", left=[dlq_depth], width=12),
        )
        self.alarms.add(
            self, pascal(name) + "QueueAge", max_age, threshold=QUEUE_AGE_ALARM_S,
            description=f"The oldest {name} message waited {QUEUE_AGE_ALARM_S}s or more: the consumer "
            "falls behind. Runbook: 'Queue age'.",
        )

    def _workflow(self, name: str, machine: sfn.StateMachine) -> None:
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title=f"workflow {name}: started, succeeded, failed",
                left=[machine.metric_started(period=FIVE_MINUTES), machine.metric_succeeded(period=FIVE_MINUTES)],
                right=[machine.metric_failed(period=FIVE_MINUTES), machine.metric_timed_out(period=FIVE_MINUTES)],
                width=24,
            )
        )
        self.alarms.add(
            self, pascal(name) + "ExecutionsFailed", machine.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description=f"Workflow {name} had failed executions: an order may be stuck. "
            "Runbook: 'Workflow executions failed'.",
        )
