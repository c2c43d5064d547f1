"""Payment expiry at sale speed: the sweeper finds due orders and fans them out to the `expiry` queue, whose
consumer expires them. Real handlers (intake, reserve, sweeper, expiry_worker, the payment capture) against
moto; the queue is drained by the local runtime's own SQS poller, so the records are real SQS records."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from functions.expiry_worker.handler import handler as expiry_handler
from functions.reserve.handler import handler as reserve_handler
from functions.sweeper.handler import handler as sweeper_handler
from infra.local.pollers import SqsPoller
from shared.catalog import store as catalog
from shared.core.aws import sqs
from shared.core.clock import now
from shared.orders import expiry, lifecycle, logic, store
from shared.payments import service
from shared.payments.models import Capture, Provider
from tests.integration.test_catalog_and_intake import AD_SLOT, create, order_body, place
from tests.support import SHOPPER, context

STOCK = 100
SKU = str(AD_SLOT["sku"])


@pytest.fixture
def sale(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A one-minute payment timeout, a SKU with 100 units, and the fan-out always on (no inline shortcut)."""
    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "60")
    monkeypatch.setenv("EXPIRY_INLINE_MAX", "0")
    create({**AD_SLOT, "stock": STOCK})
    yield


def unpaid_orders(per_shard: int) -> list[str]:
    """Orders through the real intake and reserve handlers, `per_shard` in every `by_due` shard."""
    ids: list[str] = []
    filled: Counter[int] = Counter()
    key = 0
    while len(ids) < per_shard * logic.DUE_SHARDS:
        key += 1
        idempotency_key = f"sale-key-{key:06d}"
        shard = logic.shard_of(logic.order_id_for(SHOPPER.sub, idempotency_key))
        if filled[shard] == per_shard:
            continue
        _, accepted, _ = place(order_body(items=[{"sku": SKU, "quantity": 1}]), key=idempotency_key)
        result = reserve_handler({"order_id": accepted["order_id"], "version": 1}, context("reserve"))
        assert result["status"] == "AWAITING_PAYMENT"
        filled[shard] += 1
        ids.append(accepted["order_id"])
    return ids


def expiry_poller() -> SqsPoller:
    url = os.environ["EXPIRY_QUEUE_URL"]
    arn = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return SqsPoller(sqs=sqs(), queue_url=url, queue_arn=arn, region="us-east-1", consumer="expiry_worker",
                     batch_size=10, invoke=lambda _fn, event, **_: expiry_handler(event, context("expiry_worker")),
                     stop=threading.Event())


def queued() -> int:
    attributes = sqs().get_queue_attributes(
        QueueUrl=os.environ["EXPIRY_QUEUE_URL"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain() -> int:
    """Run the consumer on real SQS batches until the queue is empty; returns the batches it took."""
    poller = expiry_poller()
    for _ in range(100):
        if queued() == 0:
            return poller.batches
        poller.tick()
    raise AssertionError("the expiry queue did not drain")


def capture(order_id: str) -> None:
    """The provider's verified capture, as the payment callback records it (AWAITING_PAYMENT -> PAID)."""
    order = store.require(order_id, consistent=True)
    outcome = service.record_capture(Capture(
        provider=Provider.WECHATPAY, out_trade_no=order_id, transaction_id=f"tx-{order_id}",
        amount_fen=int(order.total_fen), currency=order.currency, paid_at=now().isoformat(),
        event_key=f"evt-{order_id}"))
    assert outcome.result == "paid"


def test_one_sweep_and_its_consumer_release_every_expired_order_across_all_shards(
    sale: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given 3 unpaid orders in each of the 16 shards, and index pages of 2 so every shard needs several
    monkeypatch.setattr(expiry, "FIND_PAGE", 2)
    due = unpaid_orders(per_shard=3)
    assert {logic.shard_of(order_id) for order_id in due} == set(range(logic.DUE_SHARDS))
    with time_machine.travel(now() + timedelta(seconds=30), tick=False):
        _, fresh, _ = place(order_body(items=[{"sku": SKU, "quantity": 1}]), key="sale-key-fresh")
        reserve_handler({"order_id": fresh["order_id"], "version": 1}, context("reserve"))
    assert catalog.available(SKU) == STOCK - len(due) - 1

    # when one sweep runs just past the timeout (not yet the fresh order's), and its messages are consumed
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        outcomes = sweeper_handler({}, context("sweeper"))
        assert outcomes["expiry_enqueued"] == len(due) and "expiry_expired" not in outcomes
        drain()

        # then every due order is cancelled for the timeout with its unit back, and only the fresh one holds stock
        orders = store.get_many(due, consistent=True)
        assert {(o.status, o.status_reason) for o in orders.values()} == {("CANCELLED", "payment_timeout")}
        assert not any(o.has("GSI3PK") or o.has("reservations") for o in orders.values())
        assert catalog.available(SKU) == STOCK - 1
        assert store.require(fresh["order_id"]).status == "AWAITING_PAYMENT"
        assert "expiry_enqueued" not in sweeper_handler({}, context("sweeper"))  # nothing left to find


def test_a_shard_that_fails_to_page_is_found_again_by_the_next_sweep(
    sale: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given one due order per shard, and the index failing to answer for one shard during a sweep
    due = unpaid_orders(per_shard=1)
    broken = logic.shard_of(due[0])
    real_query = store.query_due_page

    def flaky(kind: str, shard: int, before: str, **kwargs: Any) -> tuple[list[str], dict[str, Any] | None]:
        if kind == expiry.KIND and shard == broken:
            raise ConnectionError("the index did not answer")
        return real_query(kind, shard, before, **kwargs)

    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        monkeypatch.setattr(store, "query_due_page", flaky)
        # when the sweep runs, the other shards are still sent and expired
        outcomes = sweeper_handler({}, context("sweeper"))
        assert outcomes["expiry_enqueued"] == len(due) - 1 and outcomes["expiry_shards_unfinished"] == 1
        drain()
        assert store.require(due[0]).status == "AWAITING_PAYMENT"
        # then the next sweep, with the index back, finds the one that was left
        monkeypatch.setattr(store, "query_due_page", real_query)
        assert sweeper_handler({}, context("sweeper"))["expiry_enqueued"] == 1
        drain()
    assert store.require(due[0]).status == "CANCELLED"
    assert catalog.available(SKU) == STOCK


def test_order_paid_between_finding_and_expiring_is_not_cancelled(sale: None) -> None:
    # given two unpaid orders that the sweeper found due and queued
    paid, abandoned = unpaid_orders(per_shard=1)[:2]
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        assert sweeper_handler({}, context("sweeper"))["expiry_enqueued"] == 16
        # when one is paid at the last moment, before the consumer gets to it
        capture(paid)
        drain()
    # then the paid order stays paid and keeps its unit; the other is cancelled and gives its unit back
    assert store.require(paid).status == "PAID"
    assert store.require(abandoned).status == "CANCELLED"
    assert catalog.available(SKU) == STOCK - 1


def test_order_paid_while_its_expiry_is_in_flight_is_not_cancelled(
    sale: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the consumer has read an unpaid, due order
    order_id = unpaid_orders(per_shard=1)[0]
    real_get_heads = store.get_heads

    def read_then_paid(order_ids: list[str], **kwargs: Any) -> dict[str, dict[str, Any]]:
        snapshot = real_get_heads(order_ids, **kwargs)
        capture(order_id)  # when the payment lands between that read and the expiry's write
        return snapshot

    monkeypatch.setattr(store, "get_heads", read_then_paid)
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        outcomes = lifecycle.expire_many([order_id])
    # then the conditional write loses: the order is paid, its unit stays sold
    assert outcomes == {"expiry_raced": 1}
    assert store.require(order_id).status == "PAID"
    assert catalog.available(SKU) == STOCK - logic.DUE_SHARDS


def test_redelivered_expiry_message_changes_nothing(sale: None) -> None:
    # given an expiry message for an order that is due
    order_id = unpaid_orders(per_shard=1)[0]
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        sweeper_handler({}, context("sweeper"))
        poller = expiry_poller()
        mine: list[dict[str, Any]] = []
        while not mine:  # 16 one-order messages (one per shard); take the one for our order
            messages = sqs().receive_message(QueueUrl=poller.queue_url, MaxNumberOfMessages=10)["Messages"]
            mine = [m for m in messages if order_id in m["Body"]]
        event = {"Records": [poller.record(m) for m in mine]}
        # when SQS delivers it twice
        first = expiry_handler(event, context("expiry_worker"))
        second = expiry_handler(event, context("expiry_worker"))
    # then the order is cancelled once and its unit comes back once
    assert first == second == {"batchItemFailures": []}
    order = store.require(order_id)
    assert order.status == "CANCELLED"
    assert sum(1 for e in order.events if getattr(e, "to_status", None) == "CANCELLED") == 1
    assert catalog.available(SKU) == STOCK - logic.DUE_SHARDS + 1


def test_unreadable_expiry_message_fails_alone(sale: None) -> None:
    # given a batch with one good message and one that is not an expiry message
    order_id = unpaid_orders(per_shard=1)[0]
    poller = expiry_poller()
    good = {"MessageId": "good", "ReceiptHandle": "r1",
            "Body": expiry.ExpiryWork(order_ids=[order_id], found_at=now().isoformat()).model_dump_json()}
    bad = {"MessageId": "bad", "ReceiptHandle": "r2", "Body": '{"order_ids": "DROP TABLE"}'}
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        result = expiry_handler({"Records": [poller.record(good), poller.record(bad)]}, context("expiry_worker"))
    # then only the bad one comes back (and, after max_receive_count, waits in the DLQ); the good one did its work
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert store.require(order_id).status == "CANCELLED"


def test_a_few_due_orders_are_expired_by_the_sweeper_itself(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                              ) -> None:
    # given the default shortcut (up to 100 due orders are expired inline) and one due order
    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "60")
    create({**AD_SLOT, "stock": STOCK})
    order_id = unpaid_orders(per_shard=1)[0]
    # when the sweeper runs
    with time_machine.travel(now() + timedelta(seconds=61), tick=False):
        outcomes = sweeper_handler({}, context("sweeper"))
    # then it expired them itself and sent nothing to the queue (no extra invocation at light traffic)
    assert outcomes["expiry_expired"] == logic.DUE_SHARDS and "expiry_enqueued" not in outcomes
    assert queued() == 0
    assert store.require(order_id).status == "CANCELLED"
    assert catalog.available(SKU) == STOCK
