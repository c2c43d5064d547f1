"""The fulfil workflow, as deployed (the sandbox switch off), when a provider is not configured: moto runs
the real fulfil ASL (infra/workflows.py) with the real fulfil_starter, review_auto, deliver and ship
handlers. The step raises ProviderNotConfigured, the workflow hands the order back to the paid queue with
the reason on the order, and after MAX_REQUEUES parks it in the paid queue's DLQ (alarmed in AWS). It is
never delivered, shipped, failed or refunded: it waits for ops to configure the provider."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from infra import workflows
from infra.declaration import DECLARATION, Declaration, Queue
from infra.local import runtime as local_runtime
from infra.local.runtime import Runtime

pytestmark = pytest.mark.xdist_group("local_runtime")

DECL = Declaration(
    table=DECLARATION.table,
    queues=(Queue("paid", "PAID_QUEUE_URL", consumer="fulfil_starter", max_receive_count=3),),
    topics=(),
    functions=tuple(DECLARATION.function(n) for n in ("fulfil_starter", "review_auto", "deliver", "ship")),
    routes=(),
    schedules=(),
    workflows=(DECLARATION.workflow("fulfil"),),
    # The digital provider's secret exists but holds what the runtime (like CDK) puts there: nothing usable.
    # No logistics secret at all: LOGISTICS_SECRET_ARN is unset.
    secrets=tuple(s for s in DECLARATION.secrets if s.name == "digital_provider"),
)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = local_runtime.start(
        DECL, port=0, state_dir=Path(tmp_path_factory.mktemp("fc")), say=lambda line: None,
        prefix=f"fc{uuid.uuid4().hex[:8]}", visibility_timeout_s=1, seed_catalog=False,
    )
    switch = os.environ.pop("ORDER24_SANDBOX", None)  # as deployed: no function has the switch
    try:
        yield runtime
    finally:
        if switch is not None:
            os.environ["ORDER24_SANDBOX"] = switch
        runtime.stop()


def put_order(rt: Runtime, kind: str) -> str:
    order_id = f"01FC{uuid.uuid4().hex[:22].upper()}"
    sku, line_total = ("ad-slot-home-1d", 9900) if kind == "digital" else ("tea-longjing-250g", 16800)
    at = "2026-01-01T00:00:00.000Z"
    order: dict[str, Any] = {  # an order item as intake and payment write it (the steps parse it: `Order`)
        "PK": f"ORDER#{order_id}", "SK": "ORDER", "order_id": order_id, "status": "FULFILLING", "version": 3,
        "shopper_id": "shopper-fc", "shop_id": "shop-fc", "request_hash": "0" * 64, "created_at": at,
        "updated_at": at,
        "kind": kind, "currency": "CNY", "total_fen": line_total, "target": "https://shop.example/ad",
        "items": [{"sku": sku, "title": sku, "kind": kind, "category": "test", "quantity": 1,
                   "unit_price_fen": line_total, "line_total_fen": line_total}],
        "shipping_address": {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州",
                             "line": "1 Road"} if kind == "physical" else None,
        "payment": {"provider": "card", "state": "paid", "amount_fen": line_total, "refunded_fen": 0},
        "events": [],
    }
    item = {k: TypeSerializer().serialize(v) for k, v in order.items() if v is not None}
    client(rt, "dynamodb").put_item(TableName=rt.resources.table_name, Item=item)
    return order_id


def client(rt: Runtime, service: str) -> Any:
    return boto3.client(service, endpoint_url=rt.endpoint, region_name="us-east-1")


def stored(rt: Runtime, order_id: str) -> dict[str, Any]:
    item = client(rt, "dynamodb").get_item(TableName=rt.resources.table_name, ConsistentRead=True,
                                           Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}})["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def parked(rt: Runtime, timeout_s: float) -> list[dict[str, Any]]:
    sqs, bodies = client(rt, "sqs"), list[dict[str, Any]]()
    deadline = time.monotonic() + timeout_s
    while len(bodies) < 2 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=rt.resources.dlqs["paid"], MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
    return bodies


def test_an_unconfigured_provider_parks_the_order_in_the_dlq_with_the_reason_never_delivered(
    rt: Runtime,
) -> None:
    # given a paid digital order and a paid physical order, and neither provider configured
    digital, physical = put_order(rt, "digital"), put_order(rt, "physical")

    # when the paid queue hands them to the fulfil workflow
    for order_id in (digital, physical):
        client(rt, "sqs").send_message(QueueUrl=rt.resources.queues["paid"],
                                       MessageBody=json.dumps({"order_id": order_id}))

    # then each is requeued MAX_REQUEUES times and parked in the DLQ, saying why
    bodies = parked(rt, timeout_s=240)
    assert sorted(b["order_id"] for b in bodies) == sorted([digital, physical]), bodies
    for body in bodies:
        assert body["gave_up"] == "requeues_exhausted" and body["reason"] == "ProviderNotConfigured"
        assert body["requeues"] == workflows.MAX_REQUEUES + 1
    for order_id in (digital, physical):
        order = stored(rt, order_id)
        assert order["status"] == "FULFILLING" and order["version"] == "3"  # not delivered, not failed
        assert order["requeue_reason"] == "ProviderNotConfigured"
        assert "delivery" not in order and "shipment" not in order
