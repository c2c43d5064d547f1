"""The order24 stack, built entirely by looping over `infra.declaration.DECLARATION`.

Nothing here names a particular function, route, queue or workflow: add them to the declaration.
Context keys (all optional):
  order24:layer               built | shared-only | auto (see infra/layer.py)
  order24:allow-missing-code  true lets a function whose folder does not exist yet synth as a stub
                              that raises (tests only; a real synth fails loudly instead)
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as apigw_auth
from aws_cdk import aws_apigatewayv2_integrations as apigw_int
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from infra.constructs.grants import check_declaration, parse_grant
from infra.constructs.layer_asset import layer_code
from infra.declaration import Declaration, Function, Workflow, function_arn_placeholder, queue_url_placeholders
from infra.local import plan

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO / "functions"
USER_GROUPS = ("shopper", "merchant", "reviewer", "ops")
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "order24",
    "POWERTOOLS_METRICS_NAMESPACE": "order24",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
TTL_ATTRIBUTE = "expires_at_epoch"
# Stage-wide defaults; the account quota (10k rps) is raised per region for peak (docs/capacity.md).
API_RATE_LIMIT = 10_000
API_BURST_LIMIT = 5_000
QUEUE_AGE_ALARM_S = 300
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_STUB_HANDLER = (
    "def handler(event, context):\n"
    "    raise NotImplementedError('functions/{name}/ did not exist when this stack was synthesized')\n"
)


ROOT = Path(__file__).resolve().parents[1]
REVIEW_SLA_CONTEXT = "order24:review_sla_minutes"  # the "审核停滞" threshold; cdk.json or -c to change


def pascal(name: str) -> str:
    """intake_queue / after-sales -> IntakeQueue / AfterSales: stable construct ids and output names."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-\s]+", name) if part)


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def ack(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `scope` (and its children) with the reason it is accepted."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


class Order24Stack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, declaration: Declaration, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        check_declaration(declaration)
        self.decl = declaration
        self.alarms: list[cw.Alarm] = []

        self.topic_key = self._topic_key()
        self.alarm_topic = self._topic("OpsAlarmTopic")
        self.table = self._table()
        self.user_pool, self.user_pool_client = self._cognito()
        self.queues, self.dlqs = self._queues()
        self.topics = {t.name: self._topic(pascal(t.name) + "Topic") for t in declaration.topics}
        self.secrets = {s.name: self._secret(s.name, s.description, s.generated) for s in declaration.secrets}
        self.layer = self._layer()
        self.feature_flag_envs: dict[str, appconfig.Environment] = {}
        self.feature_flag_env: dict[str, dict[str, str]] = {}
        self.functions = {f.name: self._function(f) for f in declaration.functions}
        self.state_machines = {w.name: self._state_machine(w) for w in declaration.workflows}
        for fn in declaration.functions:
            self._grant(fn)
        self._event_sources()
        self._schedules()
        self.api, self.stage = self._api()
        self._public_api_url()
        self._monitoring()
        self._outputs()

    # ---------------------------------------------------------------- data
    def _table(self) -> ddb.TableV2:
        t = self.decl.table
        # TableV2 (AWS::DynamoDB::GlobalTable) so a second region is one more replica, not a migration.
        return ddb.TableV2(
            self,
            t.logical_id,
            partition_key=ddb.Attribute(name=t.pk, type=ddb.AttributeType.STRING),
            sort_key=ddb.Attribute(name=t.sk, type=ddb.AttributeType.STRING),
            billing=ddb.Billing.on_demand(),
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=TTL_ATTRIBUTE,
            dynamo_stream=ddb.StreamViewType.NEW_AND_OLD_IMAGES if t.stream else None,
            global_secondary_indexes=[
                ddb.GlobalSecondaryIndexPropsV2(
                    index_name=ix.name,
                    partition_key=ddb.Attribute(name=ix.pk, type=ddb.AttributeType.STRING),
                    sort_key=ddb.Attribute(name=ix.sk, type=ddb.AttributeType.STRING),
                    projection_type=ddb.ProjectionType[ix.projection],
                )
                for ix in t.indexes
            ],
        )

    # ---------------------------------------------------------------- auth
    def _cognito(self) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        ack(
            pool,
            "AwsSolutions-COG2",
            "MFA is optional: shoppers sign in to buy and forced MFA loses checkouts; staff groups "
            "(merchant, reviewer, ops) are told to enrol TOTP in the runbook.",
        )
        ack(
            pool,
            "AwsSolutions-COG8",
            "The Plus feature plan (threat protection) is billed per monthly active user, a large line at "
            "our shopper volume; revisit with the capacity plan. Sign-up abuse is bounded by API throttling.",
        )
        for group in USER_GROUPS:
            pool.add_group(pascal(group) + "Group", group_name=group)
        client = pool.add_client(
            "AppClient",
            generate_secret=False,  # a browser/mobile app cannot keep a secret
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            prevent_user_existence_errors=True,
        )
        return pool, client

    # ---------------------------------------------------------------- messaging
    def _topic_key(self) -> kms.Key:
        # One customer-managed key for every topic: CloudWatch alarms cannot publish to a topic under the
        # AWS-managed aws/sns key, and with our own key publishers are granted this key, not key/*.
        key = kms.Key(
            self,
            "TopicKey",
            enable_key_rotation=True,
            description="order24 SNS topics (ops alarms and declared topics)",
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        return key

    def _topic(self, construct_id: str) -> sns.Topic:
        return sns.Topic(self, construct_id, master_key=self.topic_key, enforce_ssl=True)

    def _queues(self) -> tuple[dict[str, sqs.Queue], dict[str, sqs.Queue]]:
        queues: dict[str, sqs.Queue] = {}
        dlqs: dict[str, sqs.Queue] = {}
        for q in self.decl.queues:
            consumer = self.decl.function(q.consumer)
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
            queues[q.name] = sqs.Queue(
                self,
                cid + "Queue",
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
                visibility_timeout=Duration.seconds(q.visibility_timeout_s),
                dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=q.max_receive_count, queue=dlq),
            )
            dlqs[q.name] = dlq
            # The guarantee: an accepted order ends final, or in a DLQ that pages someone.
            self._alarm(
                cid + "DlqNotEmpty",
                dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=1,
                description=f"Messages in the {q.name} DLQ: orders stopped moving. Runbook: 'DLQ not empty'.",
            )
        return queues, dlqs

    def _secret(self, name: str, description: str, generated: bool = False) -> sm.Secret:
        if generated:  # our own key: Secrets Manager generates it, so no value is ever in the template
            generator = sm.SecretStringGenerator(
                secret_string_template="{}", generate_string_key="key", password_length=64,
                exclude_punctuation=True,
            )
            why = ("The cursor key only signs page cursors; rotating it ends live cursors (clients restart "
                   "from page one), so ops rotate it by hand (runbook).")
        else:
            # No value in the template: a random marker that ops overwrite (runbook: 'Fill the secrets').
            generator = sm.SecretStringGenerator(
                secret_string_template=json.dumps({"status": "UNSET: put-secret-value per docs/runbook.md"}),
                generate_string_key="unset_marker",
                exclude_punctuation=True,
            )
            why = ("Provider credentials are rotated in the provider's console and pasted by ops (runbook); "
                   "Secrets Manager cannot rotate third-party keys on its own.")
        secret = sm.Secret(
            self,
            pascal(name) + "Secret",
            description=description,
            generate_secret_string=generator,
            removal_policy=RemovalPolicy.RETAIN,
        )
        ack(secret, "AwsSolutions-SMG4", why)
        return secret

    # ---------------------------------------------------------------- compute
    def _layer(self) -> lambda_.LayerVersion:
        mode = str(self.node.try_get_context("order24:layer") or "auto")
        code, self.layer_kind = layer_code(mode)
        return lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=code,
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description=f"order24 shared package and runtime dependencies ({self.layer_kind})",
        )

    def function_name(self, name: str) -> str:
        """Physical name, fixed so workflow definitions can carry ARNs without a dependency cycle."""
        physical = f"{self.stack_name}-{name}"
        if len(physical) > 64:
            raise ValueError(f"function name {physical!r} is longer than Lambda's 64 characters")
        return physical

    def function_arn(self, name: str) -> str:
        return self.format_arn(
            service="lambda",
            resource="function",
            resource_name=self.function_name(name),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _code(self, name: str) -> lambda_.Code:
        folder = FUNCTIONS_DIR / name
        if folder.is_dir():
            return lambda_.Code.from_asset(str(folder), exclude=["__pycache__", "*.pyc", "tests"])
        if self.node.try_get_context("order24:allow-missing-code") in (True, "true"):
            return lambda_.Code.from_inline(_STUB_HANDLER.replace("{name}", name))
        raise FileNotFoundError(f"functions/{name}/ does not exist (declared in infra/declaration.py)")

    def _function(self, f: Function) -> lambda_.Function:
        cid = pascal(f.name)
        log_group = logs.LogGroup(
            self, cid + "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        # Our own role: logs go to this one group only, no AWSLambdaBasicExecutionRole (logs:* on *).
        role = iam.Role(
            self,
            cid + "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"order24 {f.name}",
        )
        log_group.grant_write(role)
        env = {self.decl.table.env_var: self.table.table_name, **POWERTOOLS_ENV}
        fn = lambda_.Function(
            self,
            cid,
            function_name=self.function_name(f.name),
            description=f.description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            code=self._code(f.name),
            handler="handler.handler",
            layers=[self.layer],
            memory_size=f.memory_mb,
            timeout=Duration.seconds(f.timeout_s),
            environment=env,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE if f.tracing else None,
            reserved_concurrent_executions=f.reserved_concurrency,
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

    def _grant(self, f: Function) -> None:
        fn = self.functions[f.name]
        role = fn.role
        assert role is not None
        for text in f.grants:
            g = parse_grant(text)
            if g.kind == "table":
                if g.action == "read":
                    self.table.grant_read_data(fn)
                else:
                    self.table.grant_write_data(fn)
                if self.decl.table.indexes:
                    ack(
                        role,
                        f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.table)}.Arn>/index/*]",
                        "Queries run on the table's declared GSIs; index ARNs are table/index/<name>.",
                    )
                continue
            assert g.name is not None
            if g.kind == "queue":
                q = self.queues[g.name]
                q.grant_send_messages(fn)
                fn.add_environment(self.decl.queue(g.name).env_var, q.queue_url)
            elif g.kind == "workflow":
                machine = self.state_machines[g.name]
                machine.grant_start_execution(fn)
                fn.add_environment(self.decl.workflow(g.name).env_var, machine.state_machine_arn)
            elif g.kind == "topic":
                topic = self.topics[g.name]
                topic.grant_publish(fn)
                ack(
                    role,
                    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                    "SNS encryption needs GenerateDataKey/WithoutPlaintext, only on the one topic key.",
                )
                fn.add_environment(
                    next(t.env_var for t in self.decl.topics if t.name == g.name), topic.topic_arn
                )
            elif g.kind == "secret":
                secret = self.secrets[g.name]
                secret.grant_read(fn)
                fn.add_environment(
                    next(s.env_var for s in self.decl.secrets if s.name == g.name), secret.secret_arn
                )
            elif g.kind == "appconfig":
                flags_env = self._feature_flags(g.name)
                flags_env.grant_read_config(fn)
                ack(
                    role,
                    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:appconfig:<AWS::Region>:<AWS::AccountId>:"
                    f"application/<{self._logical_id(cast(Construct, flags_env.application))}>/environment/"
                    f"<{self._logical_id(flags_env)}>/configuration/*]",
                    "Reading the latest configuration of one AppConfig environment; AppConfig scopes it "
                    "by configuration profile only through this wildcard.",
                )
                for key, value in self.feature_flag_env[g.name].items():
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

    # Feature flags live in AppConfig so ops change thresholds without a deploy; the initial document is
    # the one the local runtime reads (shared/<name>/flags/local_flags.json).
    def _feature_flags(self, name: str) -> appconfig.Environment:
        if name in self.feature_flag_envs:
            return self.feature_flag_envs[name]
        app = appconfig.Application(self, f"{pascal(name)}FlagsApp", application_name=f"{self.stack_name}-{name}")
        env = appconfig.Environment(self, f"{pascal(name)}FlagsEnv", application=app, environment_name="live")
        source = ROOT / "shared" / name / "flags" / "local_flags.json"
        config = appconfig.HostedConfiguration(
            self, f"{pascal(name)}FlagsConfig", application=app, name="feature-flags",
            content=appconfig.ConfigurationContent.from_inline_json(source.read_text()),
            deployment_strategy=appconfig.DeploymentStrategy(
                self, f"{pascal(name)}FlagsRollout",
                rollout_strategy=appconfig.RolloutStrategy.ALL_AT_ONCE,
            ),
            deploy_to=[env],
        )
        self.feature_flag_envs[name] = env
        self.feature_flag_env[name] = {
            "APPCONFIG_APPLICATION": app.application_id,
            "APPCONFIG_ENVIRONMENT": env.environment_id,
            "APPCONFIG_PROFILE": config.configuration_profile_id,
        }
        return env

    def _logical_id(self, construct: Construct) -> str:
        child = construct.node.default_child
        assert child is not None
        return str(self.resolve(self.get_logical_id(child)))  # type: ignore[arg-type]

    # ---------------------------------------------------------------- workflows
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
            raise ValueError(
                f"workflow {w.name} uses {sorted(used - allowed)} but declares only {sorted(allowed)}"
            )
        cid = pascal(w.name)
        log_group = logs.LogGroup(
            self,
            cid + "WorkflowLogs",
            # Express logs are the only execution history; the /aws/vendedlogs/ prefix avoids a
            # resource-policy size limit when many state machines log.
            log_group_name=f"/aws/vendedlogs/states/{self.stack_name}-{w.name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        substitutions = {"TableName": self.table.table_name}
        substitutions |= {
            function_arn_placeholder(f.name): self.function_arn(f.name) for f in self.decl.functions
        }
        for q in self.decl.queues:
            queue_key, dlq_key = queue_url_placeholders(q.name)
            substitutions |= {queue_key: self.queues[q.name].queue_url, dlq_key: self.dlqs[q.name].queue_url}
        machine = sfn.StateMachine(
            self,
            cid + "StateMachine",
            state_machine_type=sfn.StateMachineType[w.kind],
            definition_body=sfn.DefinitionBody.from_string(text),
            definition_substitutions=substitutions,
            # ERROR without execution data: ALL logs every state of every order (150k/s at peak, about
            # 10x the Express price in log ingestion), and execution data carries shopper details.
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ERROR, include_execution_data=False
            ),
            tracing_enabled=False,
        )
        for name in w.functions:
            self.functions[name].grant_invoke(machine)
        for queue in w.queues:  # a throttled order goes back to its queue, or (given up) to the DLQ
            self.queues[queue].grant_send_messages(machine)
            self.dlqs[queue].grant_send_messages(machine)
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
                f"AwsSolutions-IAM5[Resource::<{self._logical_id(self.functions[fn_name])}.Arn>:*]",
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

    # ---------------------------------------------------------------- wiring
    def _event_sources(self) -> None:
        for q in self.decl.queues:
            window = Duration.seconds(q.max_batching_window_s) if q.max_batching_window_s else None
            self.functions[q.consumer].add_event_source(
                sources.SqsEventSource(
                    self.queues[q.name],
                    batch_size=q.batch_size,
                    max_batching_window=window,
                    report_batch_item_failures=True,
                    max_concurrency=q.max_concurrency,
                )
            )

        for consumer in self.decl.stream_consumers:
            # The outbox: publish after commit. Failed batches are bisected and retried, then parked in a
            # DLQ whose depth raises an alarm, so a notification is never silently lost.
            dlq = sqs.Queue(
                self, f"{pascal(consumer.function)}StreamDlq", encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True, retention_period=Duration.days(14),
            )
            self.functions[consumer.function].add_event_source(
                sources.DynamoEventSource(
                    self.table,
                    starting_position=lambda_.StartingPosition.LATEST,
                    batch_size=consumer.batch_size,
                    bisect_batch_on_error=True,
                    retry_attempts=consumer.max_retries,
                    report_batch_item_failures=True,
                    on_failure=sources.SqsDlq(dlq),
                )
            )
            ack(
                dlq,
                "AwsSolutions-SQS3",
                "This queue is itself the on-failure destination of the stream consumer; it needs no DLQ.",
            )
            self._alarm(
                f"{pascal(consumer.function)}StreamDlqAlarm",
                dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
                threshold=1,
                description=f"{consumer.function}: stream records gave up after retries (notifications held)",
            )

    def _schedules(self) -> None:
        for s in self.decl.schedules:
            minutes = max(1, math.ceil(s.every_seconds / 60))
            events.Rule(
                self,
                pascal(s.name) + "Schedule",
                schedule=events.Schedule.rate(Duration.minutes(minutes)),
                targets=[targets.LambdaFunction(self.functions[s.function])],
            )

    def _api(self) -> tuple[apigw.HttpApi, apigw.HttpStage]:
        api = apigw.HttpApi(self, "HttpApi", create_default_stage=False, description="order24 HTTP API")
        access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        fields = {
            "requestId": "$context.requestId",
            "ip": "$context.identity.sourceIp",
            "requestTime": "$context.requestTime",
            "routeKey": "$context.routeKey",
            "status": "$context.status",
            "latency": "$context.responseLatency",
            "integrationLatency": "$context.integrationLatency",
            "integrationError": "$context.integrationErrorMessage",
            "authorizerError": "$context.authorizer.error",
            "responseLength": "$context.responseLength",
        }
        stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=API_RATE_LIMIT, burst_limit=API_BURST_LIMIT),
            access_log_settings=_AccessLogs(
                apigw.LogGroupLogDestination(access_logs),
                apigw_v1.AccessLogFormat.custom(json.dumps(fields)),
            ),
        )
        authorizer = apigw_auth.HttpJwtAuthorizer(
            "CognitoJwt",
            self.user_pool.user_pool_provider_url,
            jwt_audience=[self.user_pool_client.user_pool_client_id],
        )
        integrations = {
            name: apigw_int.HttpLambdaIntegration(
                pascal(name) + "Integration",
                fn,
                payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            )
            for name, fn in self.functions.items()
            if name in set(plan.route_table(self.decl).values())
        }
        # Only declared routes: `local_only_routes` never reach API Gateway.
        for r in self.decl.routes:
            routes = api.add_routes(
                path=r.path,
                methods=[apigw.HttpMethod[r.method]],
                integration=integrations[r.function],
                authorizer=authorizer if r.auth == "jwt" else apigw.HttpNoneAuthorizer(),
            )
            if r.auth == "public":
                for route in routes:
                    ack(
                        route,
                        "AwsSolutions-APIG4",
                        f"{r.route_key} is public by declaration (auth='public'): no token by design.",
                    )
        return api, stage

    def _public_api_url(self) -> None:
        """Every function holding a partner's secret builds callback URLs (WeChat Pay/Alipay notify_url,
        Kuaidi100's callbackurl) from PUBLIC_API_URL: the HttpApi's own endpoint (the $default stage), so a
        callback can only ever name this stack's API, never a literal or http://localhost."""
        partner_secrets = {s.name for s in self.decl.secrets if not s.generated}
        for f in self.decl.functions:
            grants = [parse_grant(text) for text in f.grants]
            if any(g.kind == "secret" and g.name in partner_secrets for g in grants):
                self.functions[f.name].add_environment("PUBLIC_API_URL", self.api.api_endpoint)

    # ---------------------------------------------------------------- monitoring
    def _alarm(self, cid: str, metric: cw.IMetric, *, threshold: float, description: str) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            cid,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        self.alarms.append(alarm)
        return alarm

    def _review_stall_alarm(self) -> None:
        sla_minutes = float(self.node.try_get_context(REVIEW_SLA_CONTEXT) or 30)
        oldest = cw.Metric(
            namespace="order24", metric_name="ReviewQueueOldestAgeSeconds",
            dimensions_map={"service": "order24"}, statistic="Maximum", period=Duration.minutes(1),
        )
        alarm = self._alarm(
            "ReviewStallAlarm", oldest, threshold=sla_minutes * 60,
            description=f"审核停滞: an order has waited in the human review queue longer than {sla_minutes:g} min",
        )
        alarm.node.default_child.add_property_override(  # type: ignore[union-attr]
            "TreatMissingData", "breaching")  # no sweeper metric at all is itself a stall

    def _monitoring(self) -> None:
        self._review_stall_alarm()
        self._alarm(
            "ProviderNotConfiguredAlarm",
            cw.Metric(
                namespace="order24", metric_name="ProviderNotConfigured", dimensions_map={"service": "order24"},
                statistic="Sum", period=Duration.minutes(5),
            ),
            threshold=1,
            description="A fulfil step found its provider not configured (digital provider secret, logistics "
            "secret or PUBLIC_API_URL): orders wait in the paid queue. Runbook: 'Providers'.",
        )
        five = Duration.minutes(5)
        dash = cw.Dashboard(self, "Dashboard", dashboard_name=f"{self.stack_name}-operations")
        dash.add_widgets(
            cw.GraphWidget(
                title="API requests, 4xx, 5xx",
                left=[self.api.metric_count(period=five)],
                right=[self.api.metric_client_error(period=five), self.api.metric_server_error(period=five)],
                width=12,
            ),
            cw.GraphWidget(
                title="API latency p50/p99",
                left=[
                    self.api.metric_latency(period=five, statistic="p50"),
                    self.api.metric_latency(period=five, statistic="p99"),
                ],
                width=12,
            ),
        )
        self._alarm(
            "Api5xx",
            cw.MathExpression(
                expression="IF(requests > 0, 100 * errors / requests, 0)",
                using_metrics={
                    "errors": self.api.metric_server_error(period=five),
                    "requests": self.api.metric_count(period=five),
                },
                period=five,
                label="API 5xx %",
            ),
            threshold=1,
            description="More than 1% of API requests answered 5xx over 5 minutes. Runbook: 'API 5xx'.",
        )
        for name, fn in self.functions.items():
            cid = pascal(name)
            dash.add_widgets(
                cw.GraphWidget(
                    title=f"λ {name}: invocations, errors, throttles",
                    left=[fn.metric_invocations(period=five)],
                    right=[fn.metric_errors(period=five), fn.metric_throttles(period=five)],
                    width=12,
                ),
                cw.GraphWidget(
                    title=f"λ {name}: duration p50/p99",
                    left=[
                        fn.metric_duration(period=five, statistic="p50"),
                        fn.metric_duration(period=five, statistic="p99"),
                    ],
                    width=12,
                ),
            )
            self._alarm(
                cid + "Errors",
                cw.MathExpression(
                    expression="IF(invocations > 0, 100 * errors / invocations, 0)",
                    using_metrics={
                        "errors": fn.metric_errors(period=five),
                        "invocations": fn.metric_invocations(period=five),
                    },
                    period=five,
                    label=f"{name} error %",
                ),
                threshold=1,
                description=f"{name}: more than 1% of invocations failed over 5 minutes. "
                "Runbook: 'Function errors'.",
            )
        for name, q in self.queues.items():
            cid = pascal(name)
            dlq = self.dlqs[name]
            dash.add_widgets(
                cw.GraphWidget(
                    title=f"queue {name}: depth, oldest message age (s)",
                    left=[q.metric_approximate_number_of_messages_visible(period=Duration.minutes(1))],
                    right=[q.metric_approximate_age_of_oldest_message(period=Duration.minutes(1))],
                    width=12,
                ),
                cw.GraphWidget(
                    title=f"DLQ {name}: depth",
                    left=[dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1))],
                    width=12,
                ),
            )
            self._alarm(
                cid + "QueueAge",
                q.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
                threshold=QUEUE_AGE_ALARM_S,
                description=f"The oldest {name} message waited {QUEUE_AGE_ALARM_S}s or more: the consumer "
                "falls behind. Runbook: 'Queue age'.",
            )
        for name, machine in self.state_machines.items():
            cid = pascal(name)
            dash.add_widgets(
                cw.GraphWidget(
                    title=f"workflow {name}: started, succeeded, failed",
                    left=[machine.metric_started(period=five), machine.metric_succeeded(period=five)],
                    right=[machine.metric_failed(period=five), machine.metric_timed_out(period=five)],
                    width=24,
                )
            )
            self._alarm(
                cid + "ExecutionsFailed",
                machine.metric_failed(period=five, statistic="Sum"),
                threshold=1,
                description=f"Workflow {name} had failed executions: an order may be stuck. "
                "Runbook: 'Workflow executions failed'.",
            )

    # ---------------------------------------------------------------- outputs
    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.stage.url)
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "OpsAlarmTopicArn", value=self.alarm_topic.topic_arn)
        for name, q in self.queues.items():
            CfnOutput(self, pascal(name) + "QueueUrl", value=q.queue_url)
            CfnOutput(self, pascal(name) + "DlqUrl", value=self.dlqs[name].queue_url)
        for name, machine in self.state_machines.items():
            CfnOutput(self, pascal(name) + "StateMachineArn", value=machine.state_machine_arn)
        for name, secret in self.secrets.items():
            CfnOutput(self, pascal(name) + "SecretArn", value=secret.secret_arn)


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    """IAccessLogSettings for the HTTP API stage (a jsii interface, so a small class, not a dict)."""

    def __init__(self, destination: apigw.IAccessLogDestination, fmt: apigw_v1.AccessLogFormat) -> None:
        self._destination = destination
        self._format = fmt

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format
