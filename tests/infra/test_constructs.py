"""Each construct of the stack, built alone in a bare stack from a tiny declaration and read back as a template.

The composed stack is covered by test_stack.py and test_declaration_matches_template.py; these pin what each
piece promises on its own, so a construct can be changed and reviewed without synthesizing the whole app.
"""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template

from infra.constructs.auth import USER_GROUPS, Auth
from infra.constructs.data import Data
from infra.constructs.messaging import Messaging
from infra.constructs.settings import Settings
from infra.declaration import (
    Declaration,
    Function,
    Index,
    Queue,
    Route,
    Schedule,
    Secret,
    StreamConsumer,
    Table,
    Topic,
    Workflow,
    function_arn_placeholder,
)
from infra.stack import Order24Stack
from tests.infra.conftest import TEST_CONTEXT


def one_step_asl() -> dict[str, Any]:
    return {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": f"${{{function_arn_placeholder('worker')}}}", "Payload.$": "$"},
                "End": True,
            }
        },
    }


TINY = Declaration(
    table=Table("Things", "TABLE_NAME", indexes=(Index("by_owner", "GSI1PK", "GSI1SK"),), stream=True),
    queues=(Queue("jobs", "JOBS_QUEUE_URL", consumer="starter", max_receive_count=7, max_concurrency=50),),
    topics=(Topic("news", "NEWS_TOPIC_ARN"),),
    functions=(
        Function("api", "serves the routes", grants=("table:read", "queue:jobs:send")),
        Function("starter", "starts the workflow", grants=("workflow:flow:start",)),
        Function("worker", "the workflow's step", grants=("table:write", "secret:partner:read")),
        Function("notifier", "the outbox", grants=("topic:news:publish",)),
        Function("ticker", "the schedule"),
    ),
    routes=(Route("GET", "/things", "api", auth="public"), Route("POST", "/things", "api")),
    schedules=(Schedule("tick", "ticker", every_seconds=60),),
    workflows=(Workflow("flow", "FLOW_ARN", one_step_asl, functions=("worker",)),),
    secrets=(Secret("partner", "PARTNER_SECRET_ARN", "a partner's keys"),
             Secret("cursor", "CURSOR_SECRET_ARN", "our key", generated=True)),
    stream_consumers=(StreamConsumer("notifier"),),
)


def bare_stack() -> Stack:
    return Stack(App(context=TEST_CONTEXT), "Tiny")


@pytest.fixture(scope="module")
def composed() -> tuple[Stack, Template]:
    """The constructs that need each other (functions, workflows, triggers, api, monitoring), wired by the stack."""
    stack = Order24Stack(App(context=TEST_CONTEXT), "Tiny", declaration=TINY)
    return stack, Template.from_stack(stack)


def test_the_table_keeps_its_declared_logical_id_and_is_protected() -> None:
    stack = bare_stack()
    Data(stack, "Data", table=TINY.table)
    template = Template.from_stack(stack)
    table = template.to_json()["Resources"]["Things"]  # the declaration's id, whatever the construct path
    assert table["DeletionPolicy"] == "Retain"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["Replicas"][0]["DeletionProtectionEnabled"] is True
    assert props["Replicas"][0]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert [ix["IndexName"] for ix in props["GlobalSecondaryIndexes"]] == ["by_owner"]
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_the_user_pool_has_a_group_per_role_and_a_public_client() -> None:
    stack = bare_stack()
    Auth(stack, "Auth")
    template = Template.from_stack(stack)
    assert "UserPool" in template.to_json()["Resources"]  # the accounts keep their id across refactors
    groups = {g["Properties"]["GroupName"] for g in template.find_resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == set(USER_GROUPS)
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {"GenerateSecret": False})


def test_every_queue_has_its_dlq_and_an_alarm_that_pages_ops() -> None:
    stack = bare_stack()
    messaging = Messaging(stack, "Messaging", declaration=TINY)
    template = Template.from_stack(stack)
    queue = template.to_json()["Resources"][stack.resolve(messaging.queues["jobs"].node.default_child.logical_id)]  # type: ignore[union-attr]
    assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 7
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "AlarmDescription": Match.string_like_regexp("jobs DLQ"),
        "AlarmActions": [{"Ref": stack.resolve(messaging.alarm_topic.node.default_child.logical_id)}],  # type: ignore[union-attr]
    })
    template.resource_count_is("AWS::SNS::Topic", 2)  # ops alarms + the declared one
    template.all_resources_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_a_queue_that_hides_messages_for_less_than_its_consumer_runs_is_refused() -> None:
    slow = Declaration(**{**TINY.__dict__, "queues": (Queue("jobs", "JOBS_QUEUE_URL", consumer="starter",
                                                            visibility_timeout_s=5),),
                          "functions": (Function("starter", "slow", timeout_s=30),)})
    with pytest.raises(ValueError, match="visibility_timeout_s"):
        Messaging(bare_stack(), "Messaging", declaration=slow)


def test_our_own_key_is_generated_and_a_partner_secret_starts_unset() -> None:
    stack = bare_stack()
    settings = Settings(stack, "Settings", secrets=TINY.secrets, stack_name="Tiny")
    settings.feature_flags("risk")
    settings.feature_flags("risk")  # created once, however many functions read it
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SecretsManager::Secret", {
        "GenerateSecretString": Match.object_like({"GenerateStringKey": "key", "PasswordLength": 64})})
    template.has_resource_properties("AWS::SecretsManager::Secret", {
        "GenerateSecretString": Match.object_like({"GenerateStringKey": "unset_marker"})})
    template.resource_count_is("AWS::AppConfig::Environment", 1)


def test_functions_get_only_the_env_vars_of_what_they_are_granted(composed: tuple[Stack, Template]) -> None:
    _, template = composed
    env = {fn["Properties"]["FunctionName"]: set(fn["Properties"]["Environment"]["Variables"])
           for fn in template.find_resources("AWS::Lambda::Function").values()}
    assert "JOBS_QUEUE_URL" in env["Tiny-api"] and "FLOW_ARN" not in env["Tiny-api"]
    assert "FLOW_ARN" in env["Tiny-starter"] and "JOBS_QUEUE_URL" not in env["Tiny-starter"]
    assert "PARTNER_SECRET_ARN" in env["Tiny-worker"] and "CURSOR_SECRET_ARN" not in env["Tiny-worker"]
    assert "NEWS_TOPIC_ARN" in env["Tiny-notifier"]
    assert env["Tiny-ticker"] == {"TABLE_NAME", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
                                  "POWERTOOLS_LOG_LEVEL", "ORDER24_FUNCTION"}
    roles = template.find_resources("AWS::IAM::Role")
    assert len(roles) >= len(TINY.functions)  # one role each (plus the workflow's)


def test_the_workflow_may_invoke_only_its_declared_step(composed: tuple[Stack, Template]) -> None:
    _, template = composed
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    subs = machine["Properties"]["DefinitionSubstitutions"]
    assert "Tiny-worker" in str(subs[function_arn_placeholder("worker")])
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ERROR"
    assert machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_consumers_report_partial_failures_and_the_outbox_has_a_dlq(composed: tuple[Stack, Template]) -> None:
    _, template = composed
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionResponseTypes": ["ReportBatchItemFailures"], "ScalingConfig": {"MaximumConcurrency": 50}})
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "BisectBatchOnFunctionError": True,
        "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}}})
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})


def test_the_api_serves_only_declared_routes_with_jwt_unless_public(composed: tuple[Stack, Template]) -> None:
    _, template = composed
    routes = {r["Properties"]["RouteKey"]: r["Properties"].get("AuthorizationType", "NONE")
              for r in template.find_resources("AWS::ApiGatewayV2::Route").values()}
    assert routes == {"GET /things": "NONE", "POST /things": "JWT"}


def test_monitoring_alarms_on_every_function_queue_and_workflow(composed: tuple[Stack, Template]) -> None:
    _, template = composed
    descriptions = [a["Properties"]["AlarmDescription"]
                    for a in template.find_resources("AWS::CloudWatch::Alarm").values()]
    for f in TINY.functions:
        assert any(d.startswith(f"{f.name}: more than 1%") for d in descriptions), f.name
    assert any("oldest jobs message" in d for d in descriptions)
    assert any(d.startswith("Workflow flow had failed executions") for d in descriptions)
    assert any(d.startswith("审核停滞") for d in descriptions)
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
