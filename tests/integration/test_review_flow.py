"""Automatic review and the human review queue against moto, through the real handlers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.api_orders.handler import handler as orders_handler
from functions.api_review.handler import handler as review_handler
from functions.review_auto.handler import handler as review_auto_handler
from shared.catalog import store as catalog
from shared.core import ddb
from shared.core.aws import stepfunctions
from shared.core.clock import iso, now, now_iso
from shared.orders import events, store
from shared.orders.logic import due_key
from shared.orders.models import OrderStatus
from shared.review import queue, service
from shared.review.store import add_qualification
from shared.risk import flags
from shared.risk import store as risk_store
from tests.integration.test_catalog_and_intake import AD_SLOT, ADDRESS, TEA, create, order_body, place
from tests.integration.test_checkout import reserve
from tests.support import REVIEWER, SHOPPER, User, call, context

OTHER_REVIEWER = User("77777777-7777-4777-8777-777777777777", "reviewer2", ("reviewer",))


@pytest.fixture(autouse=True)
def sandbox_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ORDER24_SANDBOX", "1")  # card refunds answer in-process
    monkeypatch.delenv("RISK_MODE", raising=False)
    flags.reset()
    risk_store.reset_memo()
    yield
    flags.reset()


def paid_order(key: str = "key-00000001", sku: dict[str, Any] = AD_SLOT, **body: Any) -> str:
    """A PLACED -> AWAITING_PAYMENT -> PAID order, paid by (sandbox) card, as payments records it."""
    if ddb.get(catalog.sku_pk(sku["sku"]), "META") is None:
        create(sku)
    status, accepted, _ = place(order_body(items=[{"sku": sku["sku"], "quantity": 1}], **body), key=key)
    assert status == 202, accepted
    order_id = str(accepted["order_id"])
    reserve(order_id)
    order = store.require(order_id, consistent=True)
    payment = {
        "provider": "card",
        "out_trade_no": order_id,
        "transaction_id": f"ch_{order_id}",
        "amount_fen": order.total_fen,
        "currency": order.currency,
        "paid_at": iso(now()),
        "state": "paid",
        "refunded_fen": 0,
        "refunds": {},
    }
    store.transition(
        order,
        OrderStatus.PAID,
        actor="test",
        reason="paid via card",
        set_fields={"payment": payment, **due_key("PAID", order_id, iso(now() + timedelta(minutes=5)))},
    )
    return order_id


def auto(order_id: str) -> dict[str, Any]:
    result: dict[str, Any] = review_auto_handler({"order_id": order_id}, context("review_auto"))
    return result


def in_review(key: str = "key-00000001", copy: str = "全网第一的推广位，立即抢购") -> str:
    order_id = paid_order(key, ad_copy=copy)
    assert auto(order_id)["next"] == "wait"
    return order_id


def executions() -> list[dict[str, Any]]:
    import os

    arn = os.environ["FULFIL_STATE_MACHINE_ARN"]
    return list(stepfunctions().list_executions(stateMachineArn=arn)["executions"])


# ---------------------------------------------------------------- automatic review


def test_clean_digital_order_passes_at_once_and_keeps_its_fulfilment_timer(aws: dict[str, str]) -> None:
    # given a paid digital order with no ad copy
    order_id = paid_order()
    before = store.require(order_id, consistent=True)

    # when the fulfil workflow's Review step runs
    result = auto(order_id)

    # then it takes the fast lane: FULFILLING, deliver next, the PAID re-drive timer untouched
    order = store.require(order_id, consistent=True)
    assert result == {"order_id": order_id, "version": order.version, "kind": "digital", "next": "deliver"}
    assert order.status == "FULFILLING"
    assert (order.gsi3pk, order.gsi3sk) == (before.gsi3pk, before.gsi3sk)
    assert order.review["outcome"] == "pass" and order.review["by"] == "auto"
    assert order.events[-1].actor == "system:review"


def test_replayed_review_step_answers_the_same_and_writes_nothing(aws: dict[str, str]) -> None:
    order_id = paid_order()
    first = auto(order_id)
    before = store.require(order_id, consistent=True)

    second = auto(order_id)

    assert second == first
    assert store.require(order_id, consistent=True) == before


def test_clean_physical_order_passes_to_shipping(aws: dict[str, str]) -> None:
    order_id = paid_order(sku=TEA, shipping_address=ADDRESS, target=None)

    assert auto(order_id)["next"] == "ship"
    assert store.require(order_id).status == "FULFILLING"


def test_absolute_claim_waits_in_the_queue_with_the_term_highlighted(aws: dict[str, str]) -> None:
    # given a paid ad package whose copy claims 全网第一
    order_id = paid_order(ad_copy="全网第一的推广位，立即抢购")

    # when automatic review runs
    result = auto(order_id)

    # then the order waits for a human, queued on the REVIEW timer, with the term marked
    order = store.require(order_id, consistent=True)
    assert result["next"] == "wait" and order.status == "IN_REVIEW"
    assert order.review["highlighted_copy"] == "【全网第一】的推广位，立即抢购"
    assert order.gsi3pk.startswith("DUE#REVIEW#")
    assert order.gsi3sk == f"{order.review['queued_at']}#{order_id}"
    status, page, _ = call(review_handler, "GET", "/review/queue", user=REVIEWER)
    assert status == 200 and [entry["order_id"] for entry in page["items"]] == [order_id]
    entry = page["items"][0]
    assert entry["highlighted_copy"] == "【全网第一】的推广位，立即抢购"
    assert entry["reasons"][0]["code"] == "absolute_terms" and entry["reasons"][0]["terms"] == ["全网第一"]
    assert entry["total_fen"] == AD_SLOT["price_fen"] and entry["claimed_by"] is None
    # and a replay keeps it waiting
    assert auto(order_id)["next"] == "wait"


def test_benign_compound_in_copy_takes_the_fast_lane(aws: dict[str, str]) -> None:
    order_id = paid_order(ad_copy="第一次合作享九折，活动最终解释权归本店所有")

    assert auto(order_id)["next"] == "deliver"


def test_licensed_industry_needs_the_qualification_on_file(aws: dict[str, str]) -> None:
    # given two paid orders with medical copy, one shopper licence added after the first review
    first = paid_order(ad_copy="专业医美机构，安全放心")
    assert auto(first)["next"] == "wait"
    assert store.require(first).review["reasons"][0]["code"] == "industry_unqualified"

    add_qualification(SHOPPER.sub, "medical", licence_no="医广(2025)第0001号")
    second = paid_order(key="key-00000002", ad_copy="专业医美机构，安全放心")

    # then the qualified order passes
    assert auto(second)["next"] == "deliver"


def test_risk_review_at_checkout_sends_the_paid_order_to_a_human(aws: dict[str, str]) -> None:
    order_id = paid_order()
    order = store.require(order_id, consistent=True)
    store.append_event(
        order_id,
        events.risk_checked(actor="test", at=now_iso()),
        set_fields={"risk": {"decision": "REVIEW", "effective_decision": "REVIEW", "score": 40}},
    )
    assert order.status == "PAID"

    assert auto(order_id)["next"] == "wait"
    assert [r["code"] for r in store.require(order_id).review["reasons"]] == ["risk_review"]


def test_banned_copy_is_rejected_and_refunded_automatically(aws: dict[str, str]) -> None:
    order_id = paid_order(ad_copy="刷粉1000个，真人僵尸粉")

    result = auto(order_id)

    order = store.require(order_id, consistent=True)
    assert result["next"] == "wait" and order.status == "REJECTED"
    assert (
        order.status_reason.startswith("rejected_by_review:") and "banned_term" in order.status_reason
    )
    assert list(order.payment["refunds"]) == ["reject"]
    assert order.payment["refunds"]["reject"]["amount_fen"] == order.total_fen
    assert order.review["outcome"] == "reject"
    assert auto(order_id) == result | {"version": order.version}  # a replay refunds nothing more
    assert list(store.require(order_id).payment["refunds"]) == ["reject"]


# ---------------------------------------------------------------- the human queue


def test_only_reviewers_may_use_the_queue(aws: dict[str, str]) -> None:
    order_id = in_review()
    for method, path in (
        ("GET", "/review/queue"),
        ("POST", f"/review/{order_id}/claim"),
        ("POST", f"/review/{order_id}/approve"),
    ):
        status, body, _ = call(review_handler, method, path, user=SHOPPER)
        assert status == 403 and body["code"] == "wrong_role"
    assert store.require(order_id).status == "IN_REVIEW"


def test_queue_lists_oldest_first_across_shards_and_pages_with_a_cursor(aws: dict[str, str]) -> None:
    # given five orders queued one after another (they land on different shards)
    order_ids = [in_review(key=f"key-0000001{n}") for n in range(5)]
    shards = {store.require(order_id).gsi3pk for order_id in order_ids}
    assert len(shards) > 1

    # when a reviewer pages through two at a time
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        entries, cursor = queue.page(cursor, viewer="reviewer-1", size=2)
        seen.extend(entry["order_id"] for entry in entries)
        if cursor is None:
            break

    # then every order comes once, oldest first
    assert seen == order_ids


def test_approval_resumes_fulfilment_and_starts_a_fulfil_execution(aws: dict[str, str]) -> None:
    # given an order in review, claimed by a reviewer
    order_id = in_review()
    status, lease, _ = call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)
    assert status == 200 and lease["claimed_by"] == REVIEWER.sub

    # when the reviewer approves
    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/approve", user=REVIEWER)

    # then the order is FULFILLING with a re-drive timer, the decision is in the timeline, and fulfil runs
    order = store.require(order_id, consistent=True)
    assert status == 200 and body["status"] == "FULFILLING" and body["decision"] == "approve"
    assert order.status == "FULFILLING" and order.gsi3pk.startswith("DUE#PAID#")
    assert order.events[-1].actor == f"reviewer:{REVIEWER.sub}"
    assert order.review["decision"]["by"] == REVIEWER.sub and "claim" not in order.review
    assert [run["name"] for run in executions()] == [f"{order_id}-approve-{order.version}"]
    # and that execution's Review step routes straight on
    assert auto(order_id)["next"] == "deliver"
    # and the queue no longer shows it
    assert call(review_handler, "GET", "/review/queue", user=REVIEWER)[1]["items"] == []


def test_second_claim_by_another_reviewer_is_a_409_until_the_lease_expires(aws: dict[str, str]) -> None:
    order_id = in_review()
    assert call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)[0] == 200

    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/claim", user=OTHER_REVIEWER)
    assert status == 409 and body["code"] == "claimed_by_other" and body["claimed_by"] == REVIEWER.sub
    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/approve", user=OTHER_REVIEWER)
    assert status == 409 and body["code"] == "lease_required"
    # the holder may renew; after expiry the other reviewer may take it
    assert call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)[0] == 200
    later = now() + timedelta(seconds=service.lease_seconds() + 1)
    assert service.claim(order_id, OTHER_REVIEWER.sub, now=later)["claimed_by"] == OTHER_REVIEWER.sub
    status, body, _ = call(review_handler, "GET", "/review/queue", user=REVIEWER)
    assert body["items"][0]["claimed_by"] == OTHER_REVIEWER.sub


def test_deciding_needs_a_live_lease(aws: dict[str, str]) -> None:
    order_id = in_review()

    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/approve", user=REVIEWER)
    assert status == 409 and body["code"] == "lease_required"

    service.claim(order_id, REVIEWER.sub, now=now() - timedelta(seconds=service.lease_seconds() + 1))
    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/approve", user=REVIEWER)
    assert status == 409 and body["code"] == "lease_required"
    assert store.require(order_id).status == "IN_REVIEW"


def test_two_reviewers_racing_to_claim_get_exactly_one_lease(aws: dict[str, str]) -> None:
    order_id = in_review()
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def claim(user: User) -> None:
        barrier.wait()
        statuses.append(call(review_handler, "POST", f"/review/{order_id}/claim", user=user)[0])

    threads = [threading.Thread(target=claim, args=(user,)) for user in (REVIEWER, OTHER_REVIEWER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 409]


def test_concurrent_approve_and_reject_decide_exactly_once(aws: dict[str, str]) -> None:
    # given an order claimed by one reviewer, whose approve and reject requests race (two tabs). Two requests
    # run in two Lambda environments; in one process that is two threads calling the service the routes call
    # (one resolver object cannot serve two threads at once, as one Lambda environment never does).
    from shared.core.errors import Conflict
    from shared.review import service as review_service

    order_id = in_review()
    call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)
    barrier = threading.Barrier(4)
    results: list[tuple[str, int]] = []

    def decide(action: str) -> None:
        barrier.wait()
        try:
            if action == "approve":
                review_service.approve(order_id, REVIEWER.sub)
            else:
                review_service.reject(order_id, REVIEWER.sub, "不符合广告法")
            results.append((action, 200))
        except Conflict:
            results.append((action, 409))

    threads = [
        threading.Thread(target=decide, args=(action,))
        for action in ("approve", "reject", "approve", "reject")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one decision won, the others got 409, and the order shows only the winner's effect
    winners = [action for action, status in results if status == 200]
    assert len(winners) == 1 and sorted(status for _, status in results) == [200, 409, 409, 409]
    order = store.require(order_id, consistent=True)
    assert order.status == ("FULFILLING" if winners == ["approve"] else "REJECTED")
    assert len(order.payment["refunds"]) == (1 if winners == ["reject"] else 0)
    assert len(executions()) == (1 if winners == ["approve"] else 0)


def test_decision_on_an_order_no_longer_in_review_is_a_409(aws: dict[str, str]) -> None:
    order_id = in_review()
    call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)
    assert call(review_handler, "POST", f"/review/{order_id}/approve", user=REVIEWER)[0] == 200

    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/approve", user=REVIEWER)
    assert status == 409 and body["code"] == "not_in_review" and body["current_status"] == "FULFILLING"
    status, body, _ = call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)
    assert status == 409 and body["code"] == "not_in_review"


def test_rejected_paid_order_is_refunded_exactly_once_and_the_shopper_sees_why(aws: dict[str, str]) -> None:
    # given a paid order in review, claimed
    order_id = in_review()
    call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)

    # when the reviewer rejects it, twice
    first = call(
        review_handler,
        "POST",
        f"/review/{order_id}/reject",
        user=REVIEWER,
        body={"reason": "广告语含“全网第一”，无法提供证明材料"},
    )
    second = call(
        review_handler, "POST", f"/review/{order_id}/reject", user=REVIEWER, body={"reason": "again"}
    )

    # then the first rejects and refunds in full, the second is a 409 and refunds nothing
    assert first[0] == 200 and first[1]["status"] == "REJECTED"
    assert second[0] == 409 and second[1]["code"] == "not_in_review"
    order = store.require(order_id, consistent=True)
    assert list(order.payment["refunds"]) == ["reject"]
    assert order.payment["refunds"]["reject"]["amount_fen"] == order.total_fen
    assert not order.has("GSI3PK")
    actors = [event.actor for event in order.events[-2:]]
    assert actors == [f"reviewer:{REVIEWER.sub}"] * 2
    _, mine, _ = call(orders_handler, "GET", f"/orders/{order_id}", user=SHOPPER)
    assert mine["status"] == "REJECTED" and mine["status_reason"] == "广告语含“全网第一”，无法提供证明材料"


def test_reject_needs_a_reason(aws: dict[str, str]) -> None:
    order_id = in_review()
    call(review_handler, "POST", f"/review/{order_id}/claim", user=REVIEWER)

    for body in ({}, {"reason": ""}, {"reason": "x" * 501}):
        status, problem, _ = call(
            review_handler, "POST", f"/review/{order_id}/reject", user=REVIEWER, body=body
        )
        assert status == 422 and problem["code"] == "validation_failed"
    assert store.require(order_id).status == "IN_REVIEW"


def test_oldest_age_is_the_wait_of_the_oldest_order_still_in_review(aws: dict[str, str]) -> None:
    assert queue.oldest_age_seconds() == 0
    first = in_review()
    in_review(key="key-00000002")
    queued_at = store.require(first).review["queued_at"]
    from shared.core.clock import parse_iso

    assert queue.oldest_age_seconds(parse_iso(queued_at) + timedelta(seconds=90)) == 90
