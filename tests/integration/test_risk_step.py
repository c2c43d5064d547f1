"""The checkout Risk step on moto: accept, review, reject, shadow, replay, and what each audience sees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from functions.api_ops.handler import handler as ops_handler
from functions.api_orders.handler import handler as orders_handler
from functions.risk.handler import handler as risk_handler
from infra import workflows
from shared.core import ddb
from shared.orders import store
from shared.risk import flags
from shared.risk import store as risk_store
from tests.integration.test_catalog_and_intake import AD_SLOT, create, order_body, place
from tests.integration.test_checkout import reserve
from tests.support import OPS, SHOPPER, call, context

PREMIUM = {**AD_SLOT, "sku": "ad-pack-premium", "title": "全年推广套餐", "price_fen": 6_000_00}


@pytest.fixture(autouse=True)
def fresh_risk_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RISK_MODE", raising=False)
    monkeypatch.delenv("APPCONFIG_APPLICATION", raising=False)
    flags.reset()
    risk_store.reset_memo()
    yield
    flags.reset()
    risk_store.reset_memo()


def run_risk(order_id: str, version: int = 1) -> dict[str, Any]:
    result: dict[str, Any] = risk_handler({"order_id": order_id, "version": version}, context("risk"))
    return result


def placed(key: str = "key-00000001", **body: Any) -> str:
    status, accepted, _ = place(order_body(**body), key=key)
    assert status == 202, accepted
    return str(accepted["order_id"])


def test_clean_order_is_accepted_and_checkout_continues_with_the_new_version(aws: dict[str, str]) -> None:
    # given a plain first order
    create(AD_SLOT)
    order_id = placed()

    # when the risk step runs
    result = run_risk(order_id)

    # then the verdict is on the order, the version handed on is the stored one, and Reserve proceeds
    order = store.require(order_id, consistent=True)
    assert result == {
        "order_id": order_id,
        "version": order.version,
        "status": "PLACED",
        "risk_decision": "ACCEPT",
    }
    assert order.version == 2
    assert order.risk["decision"] == "ACCEPT" and order.risk["mode"] == "ENFORCE"
    assert order.risk["rules_version"] == "local-2025-01" and order.risk["reasons"] == []
    assert order.events[-1].type == "risk_checked" and order.events[-1].reason is None
    assert reserve(order_id)["status"] == "AWAITING_PAYMENT"


def test_mark_failed_condition_holds_with_the_version_risk_hands_on(aws: dict[str, str]) -> None:
    # given an order that passed risk (its version moved from 1 to 2)
    create(AD_SLOT)
    order_id = placed()
    result = run_risk(order_id)

    # when MarkFailed's conditional update runs with the version from the Risk output (as the ASL does)
    params = workflows.checkout()["States"]["MarkFailed"]["Parameters"]
    ddb.dynamodb().update_item(
        TableName=ddb.table(),
        Key=store.order_key(order_id),
        UpdateExpression="SET #status = :to",
        ConditionExpression=params["ConditionExpression"],
        ExpressionAttributeNames=params["ExpressionAttributeNames"],
        ExpressionAttributeValues=ddb.values(to="FAILED", **{"from": "PLACED", "version": result["version"]}),
    )

    # then it applied (a stale version would have been a ConditionalCheckFailed)
    assert store.require(order_id, consistent=True).status == "FAILED"


def test_checkout_workflow_scores_before_reserving_and_stops_on_anything_but_placed() -> None:
    definition = workflows.checkout()
    states = definition["States"]
    assert definition["StartAt"] == "Risk"
    assert states["Risk"]["Next"] == "RiskGate"
    # a throttle or timeout goes back to the queue; anything else fails the order
    assert states["Risk"]["Catch"][0]["Next"] == "Throttled"
    assert states["Risk"]["Catch"][-1] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                           "Next": "MarkFailed"}
    assert states["RiskGate"]["Choices"] == [
        {"Variable": "$.status", "StringEquals": "PLACED", "Next": "Reserve"}
    ]
    assert states[states["RiskGate"]["Default"]]["Type"] == "Succeed"


def test_amount_far_above_history_is_accepted_for_review_and_carried_on_the_order(
    aws: dict[str, str],
) -> None:
    # given a shopper whose history is one ¥99 order
    create(AD_SLOT)
    create(PREMIUM)
    run_risk(placed())

    # when they order ¥6,000
    order_id = placed(key="key-00000002", items=[{"sku": PREMIUM["sku"], "quantity": 1}])
    result = run_risk(order_id)

    # then checkout continues and the REVIEW decision rides on the order for the fulfil review
    order = store.require(order_id, consistent=True)
    assert result["status"] == "PLACED" and result["risk_decision"] == "REVIEW"
    assert order.risk["effective_decision"] == "REVIEW" and order.risk["score"] == 30
    assert [reason["code"] for reason in order.risk["reasons"]] == ["amount_above_history"]


def test_blocked_shopper_is_rejected_with_reasons_for_ops_and_a_neutral_reason_for_the_shopper(
    aws: dict[str, str],
) -> None:
    # given a shopper on the block list
    create(AD_SLOT)
    risk_store.block("shopper", SHOPPER.sub, "chargeback ring")
    order_id = placed()

    # when the risk step runs in enforce mode
    result = run_risk(order_id)

    # then the order ends REJECTED in one write, its reasons kept for ops
    order = store.require(order_id, consistent=True)
    assert result["status"] == "REJECTED" and result["version"] == order.version == 2
    assert order.status_reason == "rejected_by_risk_check" and not order.has("GSI3PK")
    assert [reason["code"] for reason in order.risk["reasons"]] == ["blocked_shopper"]
    status, ops_view, _ = call(ops_handler, "GET", f"/ops/orders/{order_id}", user=OPS)
    assert status == 200 and ops_view["risk"]["reasons"][0]["code"] == "blocked_shopper"
    status, inbox, _ = call(ops_handler, "GET", "/ops/inbox/risk_rejected", user=OPS)
    assert status == 200 and inbox["items"][0]["ref"] == order_id
    assert inbox["items"][0]["payload"]["reasons"][0]["code"] == "blocked_shopper"
    # and the shopper sees only the neutral reason, nowhere the risk codes
    status, mine, _ = call(orders_handler, "GET", f"/orders/{order_id}", user=SHOPPER)
    assert (
        status == 200 and mine["status"] == "REJECTED" and mine["status_reason"] == "rejected_by_risk_check"
    )
    assert "risk" not in mine
    status, timeline, _ = call(orders_handler, "GET", f"/orders/{order_id}/events", user=SHOPPER)
    assert "blocked" not in str(timeline) and "chargeback" not in str(mine)


def test_shadow_mode_records_the_verdict_but_never_blocks(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a blocked shopper and the platform in shadow mode (RISK_MODE, as `make run` sets it)
    monkeypatch.setenv("RISK_MODE", "shadow")
    create(AD_SLOT)
    risk_store.block("shopper", SHOPPER.sub, "chargeback ring")
    order_id = placed()

    # when the risk step runs
    result = run_risk(order_id)

    # then the would-be decision and reasons are recorded, and checkout goes on to Reserve
    order = store.require(order_id, consistent=True)
    assert result["status"] == "PLACED" and result["risk_decision"] == "ACCEPT"
    assert order.risk["mode"] == "SHADOW"
    assert order.risk["decision"] == "REJECT" and order.risk["effective_decision"] == "ACCEPT"
    assert order.risk["score"] >= 100
    assert reserve(order_id)["status"] == "AWAITING_PAYMENT"


@pytest.mark.parametrize("blocked", [False, True], ids=["accepted", "rejected"])
def test_replayed_risk_step_changes_nothing(aws: dict[str, str], blocked: bool) -> None:
    # given an order the risk step has already handled
    create(AD_SLOT)
    if blocked:
        risk_store.block("shopper", SHOPPER.sub, "test")
    order_id = placed()
    first = run_risk(order_id)
    before = store.require(order_id, consistent=True)

    # when Express delivers the step again (with the workflow's original input)
    second = run_risk(order_id, version=1)

    # then the answer is the same and neither the order nor the shopper's history moved
    after = store.require(order_id, consistent=True)
    assert second == first
    assert after == before
    history = ddb.get(f"SHOPPER#{SHOPPER.sub}", "RISK")
    assert history is not None and history["order_count"] == 1


def test_risk_step_after_reserve_reports_and_leaves_the_order_alone(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    order_id = placed()
    run_risk(order_id)
    reserved = reserve(order_id)

    replay = run_risk(order_id)

    assert replay["status"] == "AWAITING_PAYMENT" and replay["version"] == reserved["version"]


def test_missing_order_is_reported_not_raised(aws: dict[str, str]) -> None:
    assert run_risk("oabcdefghijklmnopqrstuvwxyz")["status"] == "MISSING"
