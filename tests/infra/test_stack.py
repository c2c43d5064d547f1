"""The synthesized stack keeps the platform's promises: durable data, least privilege, alarms, auth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Validations
from aws_cdk.assertions import Match

from infra.constructs.audit import ACCEPTED, STILL_APPLIES, audit, skips_of
from infra.constructs.grants import GrantError, check_declaration, parse_grant
from infra.declaration import Function
from tests.infra.conftest import Synth

POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "order24",
    "POWERTOOLS_METRICS_NAMESPACE": "order24",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def function_resource(s: Synth, name: str) -> dict[str, Any]:
    resource: dict[str, Any] = s.raw["Resources"][s.logical_id(s.stack.functions[name])]
    return resource


# ---------------------------------------------------------------- table
def test_table_is_on_demand_pitr_deletion_protected_and_retained(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    assert len(tables) == 1
    (table,) = tables.values()
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    (replica,) = props["Replicas"]
    assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert replica["DeletionProtectionEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at_epoch", "Enabled": True}


def test_table_has_the_declared_keys_indexes_and_stream(synth: Synth) -> None:
    t = synth.declaration.table
    props = next(iter(synth.resources("AWS::DynamoDB::GlobalTable").values()))["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": t.pk, "KeyType": "HASH"},
        {"AttributeName": t.sk, "KeyType": "RANGE"},
    ]
    deployed = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
    assert set(deployed) == {ix.name for ix in t.indexes}
    for ix in t.indexes:
        assert deployed[ix.name]["KeySchema"] == [
            {"AttributeName": ix.pk, "KeyType": "HASH"},
            {"AttributeName": ix.sk, "KeyType": "RANGE"},
        ]
        assert deployed[ix.name]["Projection"]["ProjectionType"] == ix.projection
    if t.stream:
        assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    else:
        assert "StreamSpecification" not in props


# ---------------------------------------------------------------- functions
def test_every_declared_function_is_arm64_python312_with_the_shared_layer(synth: Synth) -> None:
    layer_id = synth.logical_id(synth.stack.layer)
    functions = synth.resources("AWS::Lambda::Function")
    assert len(functions) == len(synth.declaration.functions)
    for f in synth.declaration.functions:
        props = function_resource(synth, f.name)["Properties"]
        assert props["Architectures"] == ["arm64"], f.name
        assert props["Runtime"] == "python3.12", f.name
        assert props["Handler"] == "handler.handler", f.name
        assert props["Layers"] == [{"Ref": layer_id}], f.name
        assert props["MemorySize"] == f.memory_mb, f.name
        assert props["Timeout"] == f.timeout_s, f.name
        env = props["Environment"]["Variables"]
        assert env[synth.declaration.table.env_var] == {"Ref": synth.logical_id(synth.stack.table)}
        assert POWERTOOLS.items() <= env.items(), f.name
        assert props["LoggingConfig"]["LogGroup"]["Ref"], f.name


def test_layer_targets_arm64_python312(synth: Synth) -> None:
    synth.template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleArchitectures": ["arm64"], "CompatibleRuntimes": ["python3.12"]},
    )


def test_function_log_groups_have_retention(synth: Synth) -> None:
    for f in synth.declaration.functions:
        group_id = function_resource(synth, f.name)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert synth.raw["Resources"][group_id]["Properties"]["RetentionInDays"] > 0


def test_queue_grant_puts_the_queue_url_in_the_functions_environment(synth: Synth) -> None:
    checked = 0
    for f in synth.declaration.functions:
        env = function_resource(synth, f.name)["Properties"]["Environment"]["Variables"]
        for grant in map(parse_grant, f.grants):
            if grant.kind == "queue":
                queue = synth.declaration.queue(grant.name or "")
                assert env[queue.env_var] == {"Ref": synth.logical_id(synth.stack.queues[queue.name])}
                checked += 1
            if grant.kind == "workflow":
                wf = synth.declaration.workflow(grant.name or "")
                assert env[wf.env_var] == {"Ref": synth.logical_id(synth.stack.state_machines[wf.name])}
                checked += 1
    assert checked > 0


def test_every_grant_kind_becomes_env_and_policy(synth_extended: Synth) -> None:
    s = synth_extended
    props = function_resource(s, "zz_extra")["Properties"]
    env = props["Environment"]["Variables"]
    assert env["ZZ_PROVIDER_SECRET_ARN"] == {"Ref": s.logical_id(s.stack.secrets["zz_provider"])}
    assert env["ZZ_FLAGS_PARAM_NAME"] == "/order24/zz_flags"
    if s.declaration.topics:
        topic = s.declaration.topics[0]
        assert env[topic.env_var] == {"Ref": s.logical_id(s.stack.topics[topic.name])}
    role_id = props["Role"]["Fn::GetAtt"][0]
    actions = {
        action
        for policy in s.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {"secretsmanager:GetSecretValue", "ssm:GetParameter", "dynamodb:Query"} <= actions
    assert "dynamodb:PutItem" not in actions  # zz_extra was granted table:read only


def test_tracing_and_reserved_concurrency_follow_the_declaration(synth_extended: Synth) -> None:
    s = synth_extended
    for f in s.declaration.functions:
        props = function_resource(s, f.name)["Properties"]
        if f.tracing:
            assert props["TracingConfig"] == {"Mode": "Active"}, f.name
        else:
            assert "TracingConfig" not in props, f.name
        assert props.get("ReservedConcurrentExecutions") == f.reserved_concurrency, f.name


def test_secrets_are_created_without_a_value_in_the_template(synth_extended: Synth) -> None:
    (secret,) = [
        r for r in synth_extended.resources("AWS::SecretsManager::Secret").values() if "test-only" in str(r)
    ]
    assert "SecretString" not in secret["Properties"]
    assert secret["Properties"]["GenerateSecretString"]["GenerateStringKey"] == "unset_marker"


def test_schedules_run_at_whole_minute_rates_rounded_up(synth_extended: Synth) -> None:
    rules = [
        r["Properties"]["ScheduleExpression"] for r in synth_extended.resources("AWS::Events::Rule").values()
    ]
    expected = [
        f"rate({m} minute{'s' if m > 1 else ''})"
        for m in (max(1, -(-sch.every_seconds // 60)) for sch in synth_extended.declaration.schedules)
    ]
    assert sorted(rules) == sorted(expected)
    assert "rate(2 minutes)" in rules  # the 90 s test schedule


# ---------------------------------------------------------------- queues
def test_every_queue_has_an_encrypted_dlq_with_an_alarm_to_ops(synth: Synth) -> None:
    topic_ref = {"Ref": synth.logical_id(synth.stack.alarm_topic)}
    alarms = synth.resources("AWS::CloudWatch::Alarm").values()
    for q in synth.declaration.queues:
        queue = synth.raw["Resources"][synth.logical_id(synth.stack.queues[q.name])]["Properties"]
        dlq_id = synth.logical_id(synth.stack.dlqs[q.name])
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": q.max_receive_count,
        }
        assert queue["SqsManagedSseEnabled"] is True
        dlq_alarms = [
            a["Properties"]
            for a in alarms
            if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}
            in a["Properties"].get("Dimensions", [])
        ]
        assert len(dlq_alarms) == 1, q.name
        assert dlq_alarms[0]["Threshold"] == 1
        assert dlq_alarms[0]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert dlq_alarms[0]["AlarmActions"] == [topic_ref]


def test_queues_refuse_plain_http(synth: Synth) -> None:
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    protected: set[str] = set()
    for p in synth.resources("AWS::SQS::QueuePolicy").values():
        statements = p["Properties"]["PolicyDocument"]["Statement"]
        if any(st["Effect"] == "Deny" and st.get("Condition") == insecure for st in statements):
            protected |= {q["Ref"] for q in p["Properties"]["Queues"]}
    for q in synth.declaration.queues:
        assert synth.logical_id(synth.stack.queues[q.name]) in protected
        assert synth.logical_id(synth.stack.dlqs[q.name]) in protected


def test_event_source_mappings_report_batch_item_failures(synth: Synth) -> None:
    mappings = synth.resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(synth.declaration.queues) + len(synth.declaration.stream_consumers)
    for m in mappings.values():
        assert m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_stream_consumers_retry_bisect_and_park_failures_in_an_alarmed_dlq(synth: Synth) -> None:
    streams = [m["Properties"] for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
               if "StreamArn" in json.dumps(m["Properties"]["EventSourceArn"])]
    assert len(streams) == len(synth.declaration.stream_consumers) == 1
    (stream,) = streams
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] == synth.declaration.stream_consumers[0].max_retries
    assert "OnFailure" in stream["DestinationConfig"]
    assert any("StreamDlqAlarm" in name for name in synth.resources("AWS::CloudWatch::Alarm"))


def test_review_stall_alarm_watches_the_oldest_order_in_the_review_queue(synth: Synth) -> None:
    (alarm,) = [a["Properties"] for name, a in synth.resources("AWS::CloudWatch::Alarm").items()
                if "ReviewStallAlarm" in name]
    assert alarm["MetricName"] == "ReviewQueueOldestAgeSeconds"
    assert alarm["Threshold"] == 30 * 60 and "审核停滞" in alarm["AlarmDescription"]
    assert alarm["TreatMissingData"] == "breaching"


def test_ticket_sla_alarm_watches_the_ticket_that_has_waited_longest_for_ops(synth: Synth) -> None:
    (alarm,) = [a["Properties"] for name, a in synth.resources("AWS::CloudWatch::Alarm").items()
                if "TicketSlaAlarm" in name]
    assert alarm["MetricName"] == "TicketOldestUnansweredAgeSeconds" and alarm["Namespace"] == "order24"
    assert alarm["Statistic"] == "Maximum" and alarm["Period"] == 60
    assert alarm["Threshold"] == 240 * 60 and "客服响应超时" in alarm["AlarmDescription"]
    assert alarm["TreatMissingData"] == "breaching" and alarm["AlarmActions"]


def test_risk_function_reads_its_feature_flags_from_appconfig(synth: Synth) -> None:
    (config,) = synth.resources("AWS::AppConfig::HostedConfigurationVersion").values()
    assert '"risk_mode"' in config["Properties"]["Content"]
    risk = next(f["Properties"] for f in synth.resources("AWS::Lambda::Function").values()
                if f["Properties"].get("FunctionName") == "Order24-risk")
    assert {"APPCONFIG_APPLICATION", "APPCONFIG_ENVIRONMENT", "APPCONFIG_PROFILE"} <= set(
        risk["Environment"]["Variables"])


# ---------------------------------------------------------------- API and auth
def test_jwt_routes_use_the_cognito_authorizer_and_public_routes_none(synth: Synth) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
    }
    (authorizer_id,) = synth.resources("AWS::ApiGatewayV2::Authorizer")
    for r in synth.declaration.routes:
        deployed = routes[r.route_key]
        if r.auth == "jwt":
            assert deployed["AuthorizationType"] == "JWT", r.route_key
            assert deployed["AuthorizerId"] == {"Ref": authorizer_id}, r.route_key
        else:
            assert deployed["AuthorizationType"] == "NONE", r.route_key
            assert "AuthorizerId" not in deployed, r.route_key


def test_authorizer_trusts_only_our_pool_and_client(synth: Synth) -> None:
    (authorizer,) = synth.resources("AWS::ApiGatewayV2::Authorizer").values()
    cfg = authorizer["Properties"]["JwtConfiguration"]
    assert cfg["Audience"] == [{"Ref": synth.logical_id(synth.stack.user_pool_client)}]
    assert synth.logical_id(synth.stack.user_pool) in json.dumps(cfg["Issuer"])
    assert authorizer["Properties"]["IdentitySource"] == ["$request.header.Authorization"]


def test_local_only_routes_are_never_deployed(synth_extended: Synth) -> None:
    keys = {
        r["Properties"]["RouteKey"] for r in synth_extended.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert synth_extended.declaration.local_only_routes  # the extended declaration has one
    for r in synth_extended.declaration.local_only_routes:
        assert r.route_key not in keys


def test_stage_logs_access_and_throttles(synth: Synth) -> None:
    (stage,) = synth.resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0


def test_user_pool_has_the_four_groups_and_a_secretless_client(synth: Synth) -> None:
    groups = {g["Properties"]["GroupName"] for g in synth.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"shopper", "merchant", "reviewer", "ops"}
    synth.template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "ExplicitAuthFlows": Match.array_with(["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"]),
        },
    )
    synth.template.has_resource(
        "AWS::Cognito::UserPool",
        {"DeletionPolicy": "Retain", "Properties": Match.object_like({"DeletionProtection": "ACTIVE"})},
    )


# ---------------------------------------------------------------- workflows and monitoring
def test_state_machines_are_express_and_log_errors(synth: Synth) -> None:
    machines = synth.resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == len(synth.declaration.workflows)
    for w in synth.declaration.workflows:
        props = machines[synth.logical_id(synth.stack.state_machines[w.name])]["Properties"]
        assert props["StateMachineType"] == w.kind == "EXPRESS"
        logging = props["LoggingConfiguration"]
        assert logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False
        assert "TracingConfiguration" not in props or props["TracingConfiguration"]["Enabled"] is False


def test_workflow_role_invokes_exactly_its_declared_functions(synth: Synth) -> None:
    for w in synth.declaration.workflows:
        machine = synth.raw["Resources"][synth.logical_id(synth.stack.state_machines[w.name])]
        role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        invoked = set()
        for policy in synth.resources("AWS::IAM::Policy").values():
            if {"Ref": role_id} not in policy["Properties"]["Roles"]:
                continue
            for st in policy["Properties"]["PolicyDocument"]["Statement"]:
                if st["Action"] == "lambda:InvokeFunction":
                    invoked |= {r["Fn::GetAtt"][0] for r in st["Resource"] if "Fn::GetAtt" in r}
        assert invoked == {synth.logical_id(synth.stack.functions[f]) for f in w.functions}


def test_every_alarm_notifies_the_ops_topic(synth: Synth) -> None:
    topic_ref = {"Ref": synth.logical_id(synth.stack.alarm_topic)}
    alarms = synth.resources("AWS::CloudWatch::Alarm")
    # DLQ + queue age per queue, errors per function, failures per workflow, API 5xx, stream DLQs, scheduled
    # functions' async DLQs, review stall, ticket SLA, provider not configured.
    d = synth.declaration
    scheduled = {s.function for s in d.schedules}
    assert len(alarms) == (2 * len(d.queues) + len(d.functions) + len(d.workflows) + 1 + len(d.stream_consumers)
                           + len(scheduled) + 3)
    for a in alarms.values():
        assert a["Properties"]["AlarmActions"] == [topic_ref]


def test_dashboard_shows_every_function_queue_and_workflow(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in [f.name for f in synth.declaration.functions] + [q.name for q in synth.declaration.queues]:
        assert name in body
    for w in synth.declaration.workflows:
        assert f"workflow {w.name}" in body


def test_outputs_name_what_clients_need(synth: Synth) -> None:
    outputs = set(synth.raw["Outputs"])
    assert {"ApiUrl", "UserPoolId", "UserPoolClientId", "TableName"} <= outputs
    for q in synth.declaration.queues:
        assert any(o.endswith("QueueUrl") and o.lower().startswith(q.name.replace("_", "")) for o in outputs)
    assert sum(o.endswith("StateMachineArn") for o in outputs) == len(synth.declaration.workflows)


# ---------------------------------------------------------------- least privilege and nag
# The only `*` resources AWS requires: X-Ray segments and Step Functions' CloudWatch Logs delivery.
STAR_RESOURCE_ALLOWED = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


@pytest.mark.parametrize("which", ["synth", "synth_extended"])
def test_no_iam_statement_allows_star_except_where_aws_requires(
    which: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(which)
    star_actions: set[str] = set()
    for policy in s.resources("AWS::IAM::Policy").values():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), st
            if "*" in resources:
                star_actions |= set(actions)
    assert star_actions <= STAR_RESOURCE_ALLOWED
    for role in s.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]  # no AWSLambdaBasicExecutionRole (logs on *)


def test_cdk_nag_aws_solutions_ran_and_every_acknowledgement_has_a_reason(synth: Synth) -> None:
    # The fixture's synth would have raised on an unacknowledged finding; the report proves nag ran.
    (nag,) = [p for p in synth.report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    suppressed = {v["ruleName"] for v in nag["suppressedViolations"]}
    acknowledged: dict[str, str] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledged |= entry.data
    assert acknowledged
    for rule, reason in acknowledged.items():
        assert rule.startswith("AwsSolutions::AwsSolutions-"), rule
        assert len(reason) >= 40, f"{rule}: say why, specifically ({reason!r})"
        # No stale acknowledgement: each one matches a finding nag really raised.
        assert rule.removeprefix("AwsSolutions::") in suppressed, (rule, sorted(suppressed))


# ---------------------------------------------------------------- the grant parser
@pytest.mark.parametrize(
    "text",
    ["table:delete", "queue:intake:receive", "bucket:x:read", "workflow::start", "queue:intake", "table"],
)
def test_unknown_or_malformed_grants_fail(text: str) -> None:
    with pytest.raises(GrantError):
        parse_grant(text)


def test_grant_naming_an_undeclared_queue_fails_the_declaration(synth: Synth) -> None:
    import dataclasses

    bad = dataclasses.replace(
        synth.declaration,
        functions=(*synth.declaration.functions, Function("zz_bad", "bad", grants=("queue:nope:send",))),
    )
    with pytest.raises(GrantError, match="undeclared queue"):
        check_declaration(bad)


def test_the_project_declaration_is_consistent(synth: Synth) -> None:
    check_declaration(synth.declaration)  # raises on an unknown grant, consumer, route or schedule target


# ---------------------------------------------------------------- providers: fail closed, no sandbox
SANDBOX_SETTINGS = {"ORDER24_SANDBOX", "PROVIDERS_SANDBOX", "ORDER24_LOCAL", "SANDBOX_PROVIDER_MODE",
                    "PAYMENTS_SANDBOX_KEYS", "LOCAL_API_URL", "LOCAL_STATE_DIR"}


def all_function_envs(s: Synth) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"].get("Environment", {}).get("Variables", {})
        for logical_id, resource in s.resources("AWS::Lambda::Function").items()
    }


def test_no_deployed_function_has_a_sandbox_setting_or_a_local_address(synth: Synth) -> None:
    envs = all_function_envs(synth)
    assert len(envs) >= len(synth.declaration.functions)
    for logical_id, env in envs.items():
        assert not SANDBOX_SETTINGS & set(env), (logical_id, sorted(SANDBOX_SETTINGS & set(env)))
        literals = [v for v in env.values() if isinstance(v, str)]
        assert not [v for v in literals if "localhost" in v or "127.0.0.1" in v or "sandbox" in v.lower()]


def test_provider_endpoints_and_secrets_are_references_never_literals(synth: Synth) -> None:
    # Every URL, ARN or secret a function reads is a reference to a declared resource (a Secrets Manager
    # secret, a queue, the API), so an endpoint can only be configured in its secret, never baked in.
    secrets = set(synth.resources("AWS::SecretsManager::Secret"))
    for logical_id, env in all_function_envs(synth).items():
        for name, value in env.items():
            if name.endswith(("_URL", "_ARN", "_SECRET", "_KEY", "_ENDPOINT")):
                assert isinstance(value, dict), (logical_id, name, value)
            if name.endswith("_SECRET_ARN"):
                assert value.get("Ref") in secrets, (logical_id, name, value)
    deliver = function_resource(synth, "deliver")["Properties"]["Environment"]["Variables"]
    assert deliver["DIGITAL_PROVIDER_SECRET_ARN"]["Ref"] in secrets
    assert "DIGITAL_PROVIDER_URL" not in deliver  # the endpoint lives in the digital_provider secret


def test_callback_urls_are_built_from_the_apis_own_endpoint(synth: Synth) -> None:
    api = next(iter(synth.resources("AWS::ApiGatewayV2::Api")))
    partner = {s.name for s in synth.declaration.secrets if not s.generated}
    holders = {f.name for f in synth.declaration.functions
               if any(g.startswith("secret:") and g.split(":")[1] in partner for g in f.grants)}
    assert {"pay", "ship", "deliver", "payment_notify", "sweeper"} <= holders
    for name in holders:
        env = function_resource(synth, name)["Properties"]["Environment"]["Variables"]
        assert env["PUBLIC_API_URL"] == {"Fn::GetAtt": [api, "ApiEndpoint"]}, name


def test_an_unconfigured_provider_alarms_ops(synth: Synth) -> None:
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "ProviderNotConfigured"]
    assert len(alarms) == 1 and alarms[0]["Namespace"] == "order24" and alarms[0]["Threshold"] == 1
    assert alarms[0]["AlarmActions"]


# ---------------------------------------------------------------- checkov, the second judge (make audit)
CHECKOV = Path(__file__).resolve().parents[2] / ".venv-audit" / "bin" / "checkov"


@pytest.mark.parametrize("which", ["synth", "synth_extended"])
def test_every_checkov_suppression_has_its_reason_and_still_applies(
    which: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(which)
    skips = skips_of(s.raw)
    assert skips
    reasons = {reason for checks in ACCEPTED.values() for reason in checks.values()}
    for (logical_id, check), comment in skips.items():
        # Each comment is one or more reasons from the one table, joined: no ad-hoc suppression elsewhere.
        assert set(comment.split(" | ")) <= reasons, (logical_id, check, comment)
        props = s.raw["Resources"][logical_id]["Properties"]
        assert STILL_APPLIES[check](props), f"stale suppression: {check} on {logical_id} is fixed, drop it"


def test_a_function_with_reserved_concurrency_is_not_excused_from_having_it(synth_extended: Synth) -> None:
    s = synth_extended
    extra = s.logical_id(s.stack.functions["zz_extra"])  # declares reserved_concurrency=7
    assert (extra, "CKV_AWS_115") not in skips_of(s.raw)
    sweeper = s.logical_id(s.stack.functions["sweeper"])  # scheduled: an async DLQ instead of an excuse
    assert (sweeper, "CKV_AWS_116") not in skips_of(s.raw)
    assert "TargetArn" in s.raw["Resources"][sweeper]["Properties"]["DeadLetterConfig"]


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is installed by `make audit` into .venv-audit")
def test_checkov_finds_nothing_unexplained_and_no_stale_suppression(synth: Synth, tmp_path: Path) -> None:
    template = tmp_path / "Order24.template.json"
    template.write_text(json.dumps(synth.raw))
    assert audit(str(CHECKOV), template) == 0
