"""The local runtime's plumbing, driven in-process with a test-only declaration and throwaway handlers.

One runtime for the module (moto's state and os.environ are process-wide), pinned to one xdist worker.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from infra.declaration import (
    Declaration,
    Function,
    Queue,
    Route,
    Schedule,
    Secret,
    StreamConsumer,
    Table,
    Workflow,
    function_arn_placeholder,
)
from infra.local import extensions, powertools_isolation, seed
from infra.local import runtime as local_runtime
from infra.local.gateway import Gateway
from infra.local.invoker import FaultPlan, InjectedFault
from infra.local.runtime import Runtime

pytestmark = pytest.mark.xdist_group("local_runtime")

MAX_RECEIVE = 2


class OutOfStock(Exception):
    """A domain error a workflow catches by its class name."""


def catcher_asl() -> dict[str, Any]:
    return {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": f"${{{function_arn_placeholder('boom')}}}", "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Catch": [{"ErrorEquals": ["OutOfStock"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


DECL = Declaration(
    table=Table("Things", "TABLE_NAME", stream=True),
    queues=(Queue("work", "WORK_QUEUE_URL", consumer="flaky", batch_size=10, max_receive_count=MAX_RECEIVE),),
    topics=(),
    functions=tuple(Function(n, f"test {n}") for n in ("echo", "broken", "flaky", "boom", "notifier",
                                                        "ticker", "skus")),
    routes=(
        Route("POST", "/things/{thing_id}", "echo", auth="public"),
        Route("GET", "/things/special", "echo", auth="public"),
        Route("GET", "/files/{proxy+}", "echo", auth="public"),
        Route("GET", "/secure", "echo"),
        Route("GET", "/broken", "broken", auth="public"),
        Route("POST", "/merchant/skus", "skus"),
        Route("GET", "/health", "echo", auth="public"),
    ),
    schedules=(Schedule("tick", "ticker", every_seconds=3600, local_env_override="TEST_TICK_SECONDS"),),
    workflows=(Workflow("catcher", "CATCHER_ARN", definition=catcher_asl, functions=("boom",)),),
    secrets=(Secret("vault", "VAULT_SECRET_ARN", "test secret"),),
    stream_consumers=(StreamConsumer("notifier", batch_size=10, max_retries=2),),
    local_only_routes=(Route("GET", "/sandbox/echo", "sandbox_echo", auth="public"),),
)


class Calls:
    """What the throwaway handlers saw, shared with the tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.flaky: list[str] = []
        self.stream: list[dict[str, Any]] = []
        self.ticks: list[dict[str, Any]] = []
        self.skus: list[dict[str, Any]] = []
        self.stream_failed_once: set[str] = set()
        self.health_while_seeding: list[requests.Response] = []


CALLS = Calls()


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-function": context.function_name},
        "cookies": ["a=1; Path=/", "b=2; Path=/"],
        "body": json.dumps({"event": event, "remaining_ms": context.get_remaining_time_in_millis(),
                            "request_id": context.aws_request_id}),
    }
    return reply


def broken(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("bug in the handler")


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        with CALLS.lock:
            CALLS.flaky.append(record["body"])
        if record["body"].startswith("bad"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("fail") == "out_of_stock":
        raise OutOfStock("no units left")
    if event.get("fail") == "other":
        raise ValueError("not a domain error")
    return {"ok": True}


def notifier(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        with CALLS.lock:
            CALLS.stream.append(record)
        key = record["dynamodb"]["Keys"]["PK"]["S"]
        seq = record["dynamodb"]["SequenceNumber"]
        if key.startswith("FAIL-ONCE") and key not in CALLS.stream_failed_once:
            CALLS.stream_failed_once.add(key)
            failures.append({"itemIdentifier": seq})
    return {"batchItemFailures": failures}


def ticker(event: dict[str, Any], context: Any) -> None:
    with CALLS.lock:
        CALLS.ticks.append(event)


def skus(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with CALLS.lock:
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        CALLS.skus.append({"body": json.loads(event["body"]), "groups": claims["cognito:groups"]})
        first = len(CALLS.skus) == 1
    if first:  # mid-seeding, ask the gateway what a client polling /health would see
        health = requests.get(f"http://{event['headers']['host']}/health", timeout=10)
        with CALLS.lock:
            CALLS.health_while_seeding.append(health)
    return {"statusCode": 201, "body": event["body"]}


HANDLERS: dict[str, Callable[[Any, Any], Any]] = {
    "echo": echo, "broken": broken, "flaky": flaky, "boom": boom, "notifier": notifier, "ticker": ticker,
    "skus": skus, "sandbox_echo": echo,
}


def sandbox_extension(runtime: Runtime) -> dict[str, Any]:
    runtime.set_env("SANDBOX_MODE", "1")
    runtime.put_secret("vault", {"key": "k-1"})
    return {"sandbox": {"keys": "here"}}


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    os.environ["TEST_TICK_SECONDS"] = "0.3"
    extensions.EXTENSIONS.append(sandbox_extension)
    try:
        runtime = local_runtime.start(
            DECL, port=0, state_dir=Path(tmp_path_factory.mktemp("rt")), resolver=HANDLERS.__getitem__,
            say=lambda line: None, prefix=f"t{uuid.uuid4().hex[:8]}", visibility_timeout_s=1,
        )
    finally:
        os.environ.pop("TEST_TICK_SECONDS", None)
        extensions.EXTENSIONS.remove(sandbox_extension)
    yield runtime
    runtime.stop()
    assert "SANDBOX_MODE" not in os.environ  # stop() gives the environment back


def client(rt: Runtime, service: str) -> Any:
    return boto3.client(service, endpoint_url=rt.endpoint, region_name="us-east-1")


def wait_for(predicate: Callable[[], Any], timeout: float = 15, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def id_token(rt: Runtime, role: str) -> str:
    user = next(u for u in rt.resources.users if u["role"] == role)
    reply = client(rt, "cognito-idp").initiate_auth(
        ClientId=rt.resources.user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
    )
    return str(reply["AuthenticationResult"]["IdToken"])


# ---------------------------------------------------------------- SQS pollers


def test_sqs_poller_redelivers_only_failed_records_until_the_dlq(rt: Runtime) -> None:
    sqs = client(rt, "sqs")
    queue, dlq = rt.resources.queues["work"], rt.resources.dlqs["work"]

    for body in ("ok-1", "bad-1", "ok-2"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)

    moved = wait_for(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=20)
    assert [m["Body"] for m in moved] == ["bad-1"]
    with CALLS.lock:
        seen = list(CALLS.flaky)
    assert seen.count("ok-1") == 1 and seen.count("ok-2") == 1  # deleted after the first batch
    assert seen.count("bad-1") == MAX_RECEIVE  # redelivered until maxReceiveCount
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_sqs_poller_builds_lambda_sqs_records(rt: Runtime) -> None:
    poller = next(w for w in rt.workers if w.name == "sqs-flaky")
    message = {"MessageId": "m1", "ReceiptHandle": "rh", "Body": "hello",
               "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
               "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
               "MessageAttributes": {"kind": {"StringValue": "x", "DataType": "String"}}}

    record = poller.record(message)  # type: ignore[attr-defined]

    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":" + rt.resources.queues["work"].rsplit("/", 1)[1])
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["messageAttributes"]["kind"]["stringValue"] == "x"
    assert record["awsRegion"] == "us-east-1" and record["md5OfBody"] == message["MD5OfBody"]


# ---------------------------------------------------------------- Lambda hook and Step Functions


def _run_execution(rt: Runtime, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = client(rt, "stepfunctions")
    arn = sfn.start_execution(stateMachineArn=rt.resources.state_machines["catcher"],
                              name=f"x-{uuid.uuid4().hex[:12]}", input=json.dumps(payload))["executionArn"]
    done = wait_for(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d)
    return dict(done)


def test_step_functions_catch_sees_the_handler_exception_class_name(rt: Runtime) -> None:
    result = _run_execution(rt, {"fail": "out_of_stock"})

    assert result["status"] == "SUCCEEDED"
    error = json.loads(result["output"])["error"]
    assert error["Error"] == "OutOfStock"
    assert json.loads(error["Cause"])["errorMessage"] == "no units left"


def test_uncaught_handler_exception_fails_the_execution_with_its_class_name(rt: Runtime) -> None:
    result = _run_execution(rt, {"fail": "other"})

    assert result["status"] == "FAILED"
    assert result.get("error") == "ValueError"


def test_sdk_invoke_returns_the_unhandled_error_shape(rt: Runtime) -> None:
    reply = client(rt, "lambda").invoke(FunctionName="boom", Payload=json.dumps({"fail": "out_of_stock"}))

    assert reply["FunctionError"] == "Unhandled"
    body = json.loads(reply["Payload"].read())
    assert body["errorType"] == "OutOfStock" and body["errorMessage"] == "no units left"


# ---------------------------------------------------------------- gateway


def test_gateway_builds_a_payload_2_event(rt: Runtime) -> None:
    # http.client, because requests cannot send a header twice.
    conn = http.client.HTTPConnection(rt.api_url.removeprefix("http://"), timeout=10)
    conn.putrequest("POST", "/things/t%201?a=1&a=2&b=", skip_accept_encoding=True)
    for name, value in (("Content-Type", "application/json"), ("X-Multi", "one"), ("X-Multi", "two"),
                        ("Cookie", "c1=v1; c2=v2"), ("User-Agent", "pytest-agent"), ("Content-Length", "8")):
        conn.putheader(name, value)
    conn.endheaders(b'{"n": 1}')
    reply = conn.getresponse()

    assert reply.status == 201
    event = json.loads(reply.read())["event"]
    conn.close()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /things/{thing_id}"
    assert event["rawPath"] == "/things/t%201"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"thing_id": "t 1"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["http"] == {"method": "POST", "path": "/things/t%201", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "pytest-agent"}
    assert ctx["stage"] == "$default" and ctx["routeKey"] == event["routeKey"]
    assert ctx["accountId"] and ctx["apiId"] and ctx["requestId"]
    assert ctx["domainName"].startswith("127.0.0.1")
    assert abs(ctx["timeEpoch"] / 1000 - time.time()) < 60 and ctx["time"].endswith("+0000")
    assert "authorizer" not in ctx


def test_gateway_turns_the_reply_into_http(rt: Runtime) -> None:
    reply = requests.post(f"{rt.api_url}/things/x", timeout=10)

    assert reply.status_code == 201
    assert reply.headers["x-function"] == "echo"
    assert reply.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    body = reply.json()
    assert 0 < body["remaining_ms"] <= 10_000 and body["request_id"]
    assert "body" not in body["event"] and "queryStringParameters" not in body["event"]


def test_binary_request_body_is_base64_encoded(rt: Runtime) -> None:
    payload = bytes(range(256))

    reply = requests.post(f"{rt.api_url}/things/bin", data=payload,
                          headers={"Content-Type": "application/octet-stream"}, timeout=10)

    event = reply.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_literal_route_beats_a_parameter_and_greedy_route_takes_the_rest(rt: Runtime) -> None:
    special = requests.get(f"{rt.api_url}/things/special", timeout=10).json()["event"]
    greedy = requests.get(f"{rt.api_url}/files/a/b/c.txt", timeout=10).json()["event"]

    assert special["routeKey"] == "GET /things/special"
    assert greedy["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_local_only_route_is_served_without_a_deployed_function(rt: Runtime) -> None:
    reply = requests.get(f"{rt.api_url}/sandbox/echo", timeout=10)

    assert reply.status_code == 201
    assert reply.json()["event"]["routeKey"] == "GET /sandbox/echo"
    assert "sandbox_echo" not in rt.resources.functions  # never a (moto) Lambda


def test_unknown_route_and_wrong_method_answer_404_problem(rt: Runtime) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", "/things/x")):
        reply = requests.request(method, f"{rt.api_url}{path}", timeout=10)
        assert reply.status_code == 404
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["code"] == "route_not_found"


def test_handler_exception_answers_500_problem_and_is_logged(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    reply = requests.get(f"{rt.api_url}/broken", timeout=10)

    assert reply.status_code == 500
    assert reply.json()["code"] == "internal_error"
    assert any("RuntimeError: bug in the handler" in (r.exc_text or "") for r in caplog.records)


def test_body_over_10_mb_answers_413(rt: Runtime) -> None:
    reply = requests.post(f"{rt.api_url}/things/big", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)

    assert reply.status_code == 413
    assert reply.json()["code"] == "payload_too_large"


def test_authorizer_passes_claims_as_api_gateway_renders_them(rt: Runtime) -> None:
    token = id_token(rt, "reviewer")
    reply = requests.get(f"{rt.api_url}/secure", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    jwt_ctx = reply.json()["event"]["requestContext"]["authorizer"]["jwt"]
    assert jwt_ctx["claims"]["cognito:groups"] == "[reviewer]"
    assert jwt_ctx["claims"]["cognito:username"] == "reviewer1"
    assert all(isinstance(v, str) for v in jwt_ctx["claims"].values())
    assert "scopes" in jwt_ctx


def test_authorizer_rejects_a_token_for_another_client(rt: Runtime) -> None:
    idp = client(rt, "cognito-idp")
    other = idp.create_user_pool_client(UserPoolId=rt.resources.user_pool_id, ClientName="other",
                                        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    user = rt.resources.users[0]
    token = idp.initiate_auth(ClientId=other, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": user["username"], "PASSWORD": user["password"]})["AuthenticationResult"]["IdToken"]

    reply = requests.get(f"{rt.api_url}/secure", headers={"Authorization": token}, timeout=10)

    assert reply.status_code == 401 and reply.json()["code"] == "unauthorized"


# ---------------------------------------------------------------- streams, schedules, seeding, stats


def test_stream_consumer_gets_records_and_a_failed_one_is_redelivered(rt: Runtime) -> None:
    ddb = client(rt, "dynamodb")
    ddb.put_item(TableName=rt.resources.table_name, Item={"PK": {"S": "FAIL-ONCE-1"}, "SK": {"S": "A"}})

    def delivered() -> list[dict[str, Any]]:
        with CALLS.lock:
            return [r for r in CALLS.stream if r["dynamodb"]["Keys"]["PK"]["S"] == "FAIL-ONCE-1"]

    records = wait_for(lambda: len(delivered()) >= 2 and delivered())
    first = records[0]
    assert first["eventName"] == "INSERT" and first["eventSource"] == "aws:dynamodb"
    assert first["eventSourceARN"] == rt.resources.stream_arn
    assert first["dynamodb"]["NewImage"]["SK"] == {"S": "A"}
    assert first["dynamodb"]["SequenceNumber"] == records[1]["dynamodb"]["SequenceNumber"]


def test_schedule_invokes_its_function_with_a_scheduled_event(rt: Runtime) -> None:
    ticks = wait_for(lambda: list(CALLS.ticks), timeout=5)

    assert ticks[0]["detail-type"] == "Scheduled Event" and ticks[0]["source"] == "aws.events"
    assert ticks[0]["resources"][0].endswith(":rule/tick")


def test_demo_catalog_is_seeded_through_the_gateway_as_the_merchant(rt: Runtime) -> None:
    with CALLS.lock:
        seeded = list(CALLS.skus)

    assert len(seeded) >= 12
    assert all(s["groups"] == "[merchant]" for s in seeded)
    assert all(isinstance(s["body"]["price_fen"], int) and s["body"]["currency"] == "CNY" for s in seeded)


def test_stats_count_function_invocations_and_route_requests(rt: Runtime) -> None:
    requests.get(f"{rt.api_url}/things/special", timeout=10)

    stats = requests.get(f"{rt.api_url}/_local/stats", timeout=10).json()

    assert stats["routes"]["GET /things/special"] >= 1
    assert stats["functions"]["invocations"]["echo"] >= 1
    assert stats["functions"]["invocations"]["skus"] >= 12


def test_health_answers_503_starting_with_what_is_pending_until_the_catalog_is_seeded(rt: Runtime) -> None:
    with CALLS.lock:
        (during,) = CALLS.health_while_seeding

    assert during.status_code == 503 and during.headers["content-type"] == "application/problem+json"
    assert during.json()["code"] == "starting" and during.json()["pending"] == ["catalog", "stack.json"]
    assert during.headers["retry-after"] == "1"
    after = requests.get(f"{rt.api_url}/health", timeout=10)
    assert rt.pending() == [] and after.status_code == 201  # the route's own function (echo) answers now


def test_every_demo_sku_is_seeded(rt: Runtime) -> None:
    with CALLS.lock:
        seeded = [s["body"]["sku"] for s in CALLS.skus]

    assert sorted(seeded) == sorted(item["sku"] for item in seed.load_catalog())


def test_seeding_fails_loudly_naming_each_sku_that_did_not_land(rt: Runtime) -> None:
    items = seed.load_catalog()[:3]
    refused = items[1]["sku"]

    def merchant_api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sku = json.loads(event["body"])["sku"]
        if sku == refused:
            return {"statusCode": 401, "body": json.dumps({"code": "unauthorized"})}
        return {"statusCode": 409 if sku == items[2]["sku"] else 201, "body": event["body"]}

    gateway = Gateway(routes={"POST /merchant/skus": "skus"}, route_auth={"POST /merchant/skus": "public"},
                      local_routes=(), invoke=lambda fn, event: merchant_api(event, None), authorizer=None,
                      stats=dict)
    port = gateway.serve("127.0.0.1", 0)
    try:
        with pytest.raises(seed.SeedingFailed) as failed:
            seed.seed_catalog(f"http://127.0.0.1:{port}", "token", items)
    finally:
        gateway.stop()

    assert len(failed.value.problems) == 1 and failed.value.problems[0].startswith(f"{refused}: HTTP 401")


def test_two_http_functions_answering_at_once_each_see_their_own_request(rt: Runtime) -> None:
    from aws_lambda_powertools.event_handler.api_gateway import Router

    from shared.core.api import http_app, principal, serve
    from tests.support import MERCHANT, SHOPPER, http_event

    powertools_isolation.apply()  # start() applied it already; idempotent
    both_resolving = threading.Barrier(2, timeout=10)
    seen: dict[str, str] = {}

    def function(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        router = Router()

        @router.get(f"/{name}")
        def who() -> dict[str, str]:
            both_resolving.wait()  # both events are set before either handler reads its own
            seen[name] = principal(router).sub
            return {"sub": seen[name]}

        app = http_app(router)
        return lambda event: serve(app, event, None)

    calls = []
    for name, user in (("merchant_api", MERCHANT), ("health", SHOPPER)):
        event = http_event("GET", f"/{name}", user=user)
        calls.append(threading.Thread(target=function(name), args=(event,)))
    for call in calls:
        call.start()
    for call in calls:
        call.join(timeout=15)

    assert seen == {"merchant_api": MERCHANT.sub, "health": SHOPPER.sub}


def test_stack_json_and_its_directory_are_readable_by_their_owner_only(rt: Runtime) -> None:
    assert stat.S_IMODE(rt.stack_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(rt.state_dir.stat().st_mode) == 0o700
    assert not list(rt.state_dir.glob(".stack.json.*"))  # no temporary file left behind


def test_private_files_get_their_mode_before_any_content_and_replace_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "stack.json"
    target.write_text("old")
    target.chmod(0o644)
    modes_when_written: list[int] = []
    real_fdopen = os.fdopen

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)):  # not the runtime's other threads
            modes_when_written.append(stat.S_IMODE(os.fstat(fd).st_mode))
            assert os.fstat(fd).st_size == 0
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)
    old_umask = os.umask(0)  # even with a umask that lets everything through
    try:
        local_runtime.write_private(target, '{"secret": "k"}')
    finally:
        os.umask(old_umask)

    assert modes_when_written == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_text() == '{"secret": "k"}'
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]


def test_stack_json_is_written_with_the_real_ports(rt: Runtime) -> None:
    stack = json.loads(rt.stack_path.read_text())

    assert stack["api_url"] == rt.api_url and not stack["api_url"].endswith(":0")
    assert stack["queues"]["work"] and stack["dlqs"]["work"] and stack["state_machines"]["catcher"]


def test_the_runtime_turns_on_the_one_sandbox_switch_and_names_its_own_gateway_for_callbacks(
    rt: Runtime,
) -> None:
    stack = json.loads(rt.stack_path.read_text())

    assert stack["env"]["ORDER24_SANDBOX"] == os.environ["ORDER24_SANDBOX"] == "1"
    assert stack["env"]["PUBLIC_API_URL"] == os.environ["PUBLIC_API_URL"] == rt.api_url
    assert not {"PROVIDERS_SANDBOX", "ORDER24_LOCAL"} & set(stack["env"])


def test_extensions_add_stack_sections_env_vars_and_secrets(rt: Runtime) -> None:
    stack = json.loads(rt.stack_path.read_text())
    secret = client(rt, "secretsmanager").get_secret_value(SecretId=os.environ["VAULT_SECRET_ARN"])

    assert stack["sandbox"] == {"keys": "here"}
    assert os.environ["SANDBOX_MODE"] == "1"
    assert json.loads(secret["SecretString"]) == {"key": "k-1"}


# ---------------------------------------------------------------- fault injection (no runtime needed)


def test_fault_injection_hits_only_listed_functions_from_async_sources() -> None:
    plan = FaultPlan.from_env({"LOCAL_FAULT_RATE": "1"}, DECL)

    assert plan.fires("flaky", "sqs") and plan.fires("boom", "lambda")
    assert not plan.fires("echo", "api")  # API functions are left out by default
    assert not plan.fires("flaky", "api")
    assert not FaultPlan.from_env({}, DECL).fires("flaky", "sqs")
    assert issubclass(InjectedFault, Exception)
