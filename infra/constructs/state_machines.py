"""The declared Step Functions workflows: the ASL from infra/workflows.py with its placeholders filled, logs at
ERROR without execution data, and invoke/send rights on exactly the functions and queues each declares."""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import plan
from infra.constructs.audit import accept
from infra.constructs.common import LOG_RETENTION, ack, logical_id, pascal
from infra.constructs.compute import function_arn
from infra.constructs.messaging import Messaging
from infra.declaration import Declaration, Workflow, function_arn_placeholder, queue_url_placeholders

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class Workflows(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, declaration: Declaration, table: ddb.TableV2,
        functions: dict[str, lambda_.Function], messaging: Messaging,
    ) -> None:
        super().__init__(scope, construct_id)
        self.decl, self.table, self.functions, self.messaging = declaration, table, functions, messaging
        self.state_machines = {w.name: self._state_machine(w) for w in declaration.workflows}

    def _substitutions(self) -> dict[str, str]:
        stack = Stack.of(self)
        values = {"TableName": self.table.table_name}
        values |= {function_arn_placeholder(f.name): function_arn(stack, f.name) for f in self.decl.functions}
        for q in self.decl.queues:
            queue_key, dlq_key = queue_url_placeholders(q.name)
            values |= {queue_key: self.messaging.queues[q.name].queue_url,
                       dlq_key: self.messaging.dlqs[q.name].queue_url}
        return values

    def _state_machine(self, w: Workflow) -> sfn.StateMachine:
        text = plan.definition_template(self.decl, w.name)
        allowed = {function_arn_placeholder(n) for n in w.functions}
        if w.direct_table_access:
            allowed.add("TableName")
        for queue in w.queues:
            allowed.update(queue_url_placeholders(queue))
        used = set(_PLACEHOLDER.findall(text))
        # A placeholder outside its declared functions would deploy an ASL whose role cannot invoke it.
        if used - allowed:
            raise ValueError(f"workflow {w.name} uses {sorted(used - allowed)} but declares only {sorted(allowed)}")
        cid = pascal(w.name)
        log_group = logs.LogGroup(
            self,
            cid + "WorkflowLogs",
            # Express logs are the only execution history; the /aws/vendedlogs/ prefix avoids a
            # resource-policy size limit when many state machines log.
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-{w.name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        accept(log_group, "log_group")
        machine = sfn.StateMachine(
            self,
            cid + "StateMachine",
            state_machine_type=sfn.StateMachineType[w.kind],
            definition_body=sfn.DefinitionBody.from_string(text),
            definition_substitutions=self._substitutions(),
            # ERROR without execution data: ALL logs every state of every order (150k/s at peak, about
            # 10x the Express price in log ingestion), and execution data carries shopper details.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False),
            tracing_enabled=False,
        )
        for name in w.functions:
            self.functions[name].grant_invoke(machine)
        for queue in w.queues:  # a throttled order goes back to its queue, or (given up) to the DLQ
            self.messaging.queues[queue].grant_send_messages(machine)
            self.messaging.dlqs[queue].grant_send_messages(machine)
        if w.direct_table_access:
            # Item actions on the table itself; TableV2.grant() would add index/* the ASL never needs.
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"],
                    resources=[self.table.table_arn],
                )
            )
        ack(
            machine,
            "AwsSolutions-SF1",
            "Logs ERROR only, without execution data: ALL at peak volume costs more than the executions "
            "and would copy shopper data into logs; failures still carry the error and cause.",
        )
        ack(
            machine,
            "AwsSolutions-SF2",
            "X-Ray is opt-in per workflow (cost at 150k orders/s); Express logs and metrics cover failures.",
        )
        for fn_name in w.functions:
            ack(
                machine,
                f"AwsSolutions-IAM5[Resource::<{logical_id(self.functions[fn_name])}.Arn>:*]",
                "lambda:InvokeFunction on the function's versions/aliases (CDK grant_invoke); only the "
                "workflow's declared functions.",
            )
        ack(
            machine,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery for Step Functions (logs:CreateLogDelivery and friends) supports no "
            "resource-level permissions.",
        )
        return machine
