"""The Lambda functions: one shared dependency layer, and per declared function its code, its own role and log
group, and exactly the grants the declaration gives it (with the env var that names each granted resource)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.audit import LAMBDA_DLQ, RESERVED_CONCURRENCY, accept, function_kinds, is_scheduled
from infra.constructs.common import LOG_RETENTION, ack, env_name, logical_id, pascal
from infra.constructs.grants import parse_grant
from infra.constructs.layer_asset import layer_code
from infra.constructs.messaging import Messaging
from infra.constructs.settings import Settings
from infra.declaration import Declaration, Function, function_environment
from shared.core.config import Env

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "order24",
    "POWERTOOLS_METRICS_NAMESPACE": "order24",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
_STUB_HANDLER = (
    "def handler(event, context):\n"
    "    raise NotImplementedError('functions/{name}/ did not exist when this stack was synthesized')\n"
)


def function_name(stack: Stack, name: str) -> str:
    """Physical name, fixed so workflow definitions can carry ARNs without a dependency cycle."""
    physical = f"{stack.stack_name}-{name}"
    if len(physical) > 64:
        raise ValueError(f"function name {physical!r} is longer than Lambda's 64 characters")
    return physical


def function_arn(stack: Stack, name: str) -> str:
    return stack.format_arn(
        service="lambda",
        resource="function",
        resource_name=function_name(stack, name),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Functions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, declaration: Declaration, table: ddb.TableV2) -> None:
        super().__init__(scope, construct_id)
        self.decl = declaration
        self.table = table
        mode = str(self.node.try_get_context("order24:layer") or "auto")
        code, self.layer_kind = layer_code(mode)
        self.layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=code,
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description=f"order24 shared package and runtime dependencies ({self.layer_kind})",
        )
        self.functions = {f.name: self._function(f) for f in declaration.functions}

    def _code(self, name: str) -> lambda_.Code:
        folder = FUNCTIONS_DIR / name
        if folder.is_dir():
            return lambda_.Code.from_asset(str(folder), exclude=["__pycache__", "*.pyc", "tests"])
        if self.node.try_get_context("order24:allow-missing-code") in (True, "true"):
            return lambda_.Code.from_inline(_STUB_HANDLER.replace("{name}", name))
        raise FileNotFoundError(f"functions/{name}/ does not exist (declared in infra/declaration.py)")

    def _function(self, f: Function) -> lambda_.Function:
        cid = pascal(f.name)
        log_group = logs.LogGroup(self, cid + "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        # Our own role: logs go to this one group only, no AWSLambdaBasicExecutionRole (logs:* on *).
        role = iam.Role(
            self, cid + "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=f"order24 {f.name}"
        )
        log_group.grant_write(role)
        accept(log_group, "log_group")
        fn = lambda_.Function(
            self,
            cid,
            function_name=function_name(Stack.of(self), f.name),
            description=f.description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            code=self._code(f.name),
            handler="handler.handler",
            layers=[self.layer],
            memory_size=f.memory_mb,
            timeout=Duration.seconds(f.timeout_s),
            # The table and the function's tunables (name and defaults from shared/core/config.py); each grant
            # below adds the variable naming its resource.
            environment={self.decl.table.env_var: self.table.table_name, **POWERTOOLS_ENV,
                         **function_environment(f.name)},
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE if f.tracing else None,
            reserved_concurrent_executions=f.reserved_concurrency,
            dead_letter_queue=self._async_dlq(cid) if is_scheduled(self.decl, f.name) else None,
        )
        accept(
            fn, *function_kinds(self.decl, f.name),
            unless=[check for check, fixed in ((RESERVED_CONCURRENCY, f.reserved_concurrency is not None),
                                               (LAMBDA_DLQ, fn.dead_letter_queue is not None)) if fixed],
        )
        ack(
            fn,
            "AwsSolutions-L1",
            "Python 3.12 on purpose: the dependency layer is built for cp312/manylinux2014_aarch64 "
            "(infra/layer.py); move both together.",
        )
        if f.tracing:
            ack(
                role,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.",
            )
        return fn

    def _async_dlq(self, cid: str) -> sqs.Queue:
        """Where an asynchronous invocation (EventBridge schedule) lands after Lambda's own retries;
        Triggers alarms on its depth."""
        dlq = sqs.Queue(
            self, cid + "AsyncDlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        accept(dlq, "dead_letter_queue")
        ack(dlq, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue of a scheduled function's "
            "asynchronous invocations; it needs no DLQ.")
        return dlq

    def expose_api_url(self, url: str) -> None:
        """Every function holding a partner's secret builds callback URLs (WeChat Pay/Alipay notify_url,
        Kuaidi100's callbackurl) from PUBLIC_API_URL: the HttpApi's own endpoint (the $default stage), so a
        callback can only ever name this stack's API, never a literal or http://localhost."""
        partner_secrets = {s.name for s in self.decl.secrets if not s.generated}
        for f in self.decl.functions:
            grants = [parse_grant(text) for text in f.grants]
            if any(g.kind == "secret" and g.name in partner_secrets for g in grants):
                self.functions[f.name].add_environment(Env.PUBLIC_API_URL, url)

    def grant_declared(
        self, *, messaging: Messaging, settings: Settings, state_machines: dict[str, sfn.StateMachine]
    ) -> None:
        """Give every function exactly its declared grants, each with the env var naming the resource."""
        for f in self.decl.functions:
            for text in f.grants:
                self._grant(f, text, messaging, settings, state_machines)

    def _grant(
        self, f: Function, text: str, messaging: Messaging, settings: Settings,
        state_machines: dict[str, sfn.StateMachine],
    ) -> None:
        fn = self.functions[f.name]
        role = fn.role
        assert role is not None
        g = parse_grant(text)
        if g.kind == "table":
            if g.action == "read":
                self.table.grant_read_data(fn)
            else:
                self.table.grant_write_data(fn)
            if self.decl.table.indexes:
                ack(
                    role,
                    f"AwsSolutions-IAM5[Resource::<{logical_id(self.table)}.Arn>/index/*]",
                    "Queries run on the table's declared GSIs; index ARNs are table/index/<name>.",
                )
            return
        assert g.name is not None
        if g.kind == "queue":
            q = messaging.queues[g.name]
            q.grant_send_messages(fn)
            fn.add_environment(self.decl.queue(g.name).env_var, q.queue_url)
        elif g.kind == "workflow":
            machine = state_machines[g.name]
            machine.grant_start_execution(fn)
            fn.add_environment(self.decl.workflow(g.name).env_var, machine.state_machine_arn)
        elif g.kind == "topic":
            topic = messaging.topics[g.name]
            topic.grant_publish(fn)
            ack(
                role,
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                "SNS encryption needs GenerateDataKey/WithoutPlaintext, only on the one topic key.",
            )
            fn.add_environment(next(t.env_var for t in self.decl.topics if t.name == g.name), topic.topic_arn)
        elif g.kind == "secret":
            secret = settings.secrets[g.name]
            secret.grant_read(fn)
            fn.add_environment(next(s.env_var for s in self.decl.secrets if s.name == g.name), secret.secret_arn)
        elif g.kind == "appconfig":
            flags_env = settings.feature_flags(g.name)
            flags_env.grant_read_config(fn)
            ack(
                role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:appconfig:<AWS::Region>:<AWS::AccountId>:"
                f"application/<{logical_id(cast(Construct, flags_env.application))}>/environment/"
                f"<{logical_id(flags_env)}>/configuration/*]",
                "Reading the latest configuration of one AppConfig environment; AppConfig scopes it "
                "by configuration profile only through this wildcard.",
            )
            for key, value in settings.flag_env_vars[g.name].items():
                fn.add_environment(key, value)
        elif g.kind == "param":
            # Parameters are owned by ops under /order24/<name>; the function reads the name from env.
            param_name = f"/order24/{g.name}"
            param = ssm.StringParameter.from_string_parameter_name(
                self, f"{pascal(f.name)}{pascal(g.name)}Param", param_name
            )
            param.grant_read(fn)
            fn.add_environment(f"{env_name(g.name)}_PARAM_NAME", param_name)
        else:  # parse_grant already refuses anything else; keep the stack honest if it grows
            raise AssertionError(f"unhandled grant {text!r}")
