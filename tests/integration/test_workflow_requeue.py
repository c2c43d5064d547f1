"""The requeue path of infra/workflows.py in moto's ASL interpreter: a throttled step goes back to its queue
(counted on the order), never to FAILED, and a step that stays throttled ends in the queue's DLQ.

A test-only declaration with the real building blocks (`workflows.lambda_task`, `workflows.requeue`), a queue
whose consumer starts the workflow, and Lambda throttles injected by the local invoker (FaultPlan).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra import workflows
from infra.declaration import Declaration, Function, Queue, Table, Workflow
from infra.local import runtime as local_runtime
from infra.local.invoker import FaultPlan
from infra.local.runtime import Runtime
from shared.core.clock import now, parse_iso

pytestmark = pytest.mark.xdist_group("local_runtime")

MAX_REQUEUES = 2


def flow_asl() -> dict[str, Any]:
    return {
        "StartAt": "Step",
        "States": {
            "Step": workflows.lambda_task("FnStepArn", next_state=None, catch_to="Broken", requeue_to="Throttled",
                                          throttle_attempts=2),
            "Broken": {"Type": "Fail", "Error": "Broken"},
            **workflows.requeue("intake", statuses=("PLACED",), first_state="Throttled",
                                max_requeues=MAX_REQUEUES),
        },
    }


DECL = Declaration(
    table=Table("Orders", "TABLE_NAME"),
    queues=(Queue("intake", "INTAKE_QUEUE_URL", consumer="starter", max_receive_count=3),),
    topics=(),
    functions=(Function("starter", "starts the flow per message"), Function("step", "the throttled step")),
    routes=(),
    schedules=(),
    workflows=(Workflow("flow", "FLOW_ARN", definition=flow_asl, functions=("step",),
                        direct_table_access=True, queues=("intake",)),),
)

STARTS: list[dict[str, Any]] = []
STEPS: list[str] = []
LOCK = threading.Lock()


def starter(event: dict[str, Any], context: Any) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    for record in event["Records"]:
        body = json.loads(record["body"])
        with LOCK:
            STARTS.append(body)
        sfn.start_execution(stateMachineArn=os.environ["FLOW_ARN"], name=f"f-{uuid.uuid4().hex[:12]}",
                            input=json.dumps({"order_id": body["order_id"]}))
    return {"batchItemFailures": []}


def step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with LOCK:
        STEPS.append(event["order_id"])
    return {"order_id": event["order_id"], "done": True}


HANDLERS: dict[str, Callable[[Any, Any], Any]] = {"starter": starter, "step": step}


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = local_runtime.start(
        DECL, port=0, state_dir=Path(tmp_path_factory.mktemp("rq")), resolver=HANDLERS.__getitem__,
        say=lambda line: None, prefix=f"q{uuid.uuid4().hex[:8]}", visibility_timeout_s=1, seed_catalog=False,
    )
    yield runtime
    runtime.stop()


def ddb(rt: Runtime) -> Any:
    return boto3.client("dynamodb", endpoint_url=rt.endpoint, region_name="us-east-1")


def put_order(rt: Runtime, status: str = "PLACED") -> str:
    order_id = f"o{uuid.uuid4().hex[:10]}"
    ddb(rt).put_item(TableName=rt.resources.table_name, Item={
        "PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}, "order_id": {"S": order_id},
        "status": {"S": status}, "version": {"N": "1"}})
    return order_id


def order(rt: Runtime, order_id: str) -> dict[str, Any]:
    item = ddb(rt).get_item(TableName=rt.resources.table_name, ConsistentRead=True,
                            Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}})["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def enqueue(rt: Runtime, order_id: str) -> None:
    boto3.client("sqs", endpoint_url=rt.endpoint, region_name="us-east-1").send_message(
        QueueUrl=rt.resources.queues["intake"], MessageBody=json.dumps({"order_id": order_id}))


def dlq_bodies(rt: Runtime) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", endpoint_url=rt.endpoint, region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=rt.resources.dlqs["intake"], MaxNumberOfMessages=10,
                                   VisibilityTimeout=0, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def wait_for(predicate: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_a_step_throttled_past_its_retries_goes_back_to_the_queue_and_then_succeeds(rt: Runtime) -> None:
    # given a step that Lambda refuses every time (TooManyRequests / ServiceException)
    assert rt.invoker is not None
    rt.invoker.faults = FaultPlan(throttle_rate=1.0, functions=frozenset({"step"}))
    order_id = put_order(rt)

    # when the order is enqueued, its execution gives up after the retries and requeues it
    enqueue(rt, order_id)
    wait_for(lambda: int(order(rt, order_id).get("requeues", 0)) >= 1)
    rt.invoker.faults = FaultPlan()  # Lambda has scaled up

    # then the requeued message starts it again and the step runs; the order is still PLACED, never FAILED
    wait_for(lambda: order_id in STEPS)
    seen = order(rt, order_id)
    assert seen["status"] == "PLACED"
    assert seen["requeue_reason"] in ("Lambda.TooManyRequestsException", "Lambda.ServiceException")
    assert abs((now() - parse_iso(seen["requeued_at"])).total_seconds()) < 60  # what the sweeper reads
    with LOCK:
        starts = [s for s in STARTS if s["order_id"] == order_id]
    assert len(starts) >= 2 and starts[-1]["requeues"] >= 1  # the counter rides on the message too
    assert order_id not in {b["order_id"] for b in dlq_bodies(rt)}


def test_a_step_that_stays_throttled_lands_in_the_dlq_after_max_requeues(rt: Runtime) -> None:
    assert rt.invoker is not None
    rt.invoker.faults = FaultPlan(throttle_rate=1.0, functions=frozenset({"step"}))
    order_id = put_order(rt)
    try:
        enqueue(rt, order_id)
        body = wait_for(lambda: next((b for b in dlq_bodies(rt) if b["order_id"] == order_id), None), timeout=90)
    finally:
        rt.invoker.faults = FaultPlan()

    # the DLQ (alarmed in AWS) holds it with the reason; the order was requeued MAX_REQUEUES times, not failed
    assert body["gave_up"] == "requeues_exhausted"
    assert body["reason"] in ("Lambda.TooManyRequestsException", "Lambda.ServiceException")
    seen = order(rt, order_id)
    assert seen["status"] == "PLACED" and int(seen["requeues"]) == MAX_REQUEUES + 1
    with LOCK:
        assert sum(1 for s in STARTS if s["order_id"] == order_id) == MAX_REQUEUES + 1
    assert order_id not in STEPS


def test_an_order_that_moved_on_is_not_requeued(rt: Runtime) -> None:
    assert rt.invoker is not None
    rt.invoker.faults = FaultPlan(throttle_rate=1.0, functions=frozenset({"step"}))
    invoker = rt.invoker
    order_id = put_order(rt, status="CANCELLED")
    before = sum(invoker.throttled.values())
    try:
        enqueue(rt, order_id)
        wait_for(lambda: sum(invoker.throttled.values()) >= before + 3)  # all of the step's attempts
        time.sleep(4)  # long enough for a requeue (1 s delay locally) to have started it again
    finally:
        rt.invoker.faults = FaultPlan()
    assert "requeues" not in order(rt, order_id)
    with LOCK:
        assert sum(1 for s in STARTS if s["order_id"] == order_id) == 1
