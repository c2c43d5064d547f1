"""Returns on moto (issue 13 item 4): an approved return waits for the goods with the return address and the
RETURN_SHIP timer, the shopper's parcel is tracked through the couriers' signed pushes, the merchant receives it
line by line (intact units back on sale), the platform pays the return shipping once, and the order completes
only after its cases end."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import shared.aftersales as aftersales_package
from functions.api_orders.handler import handler as api_orders
from shared.aftersales import refunding, returns, timers
from shared.aftersales import store as cases
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus
from shared.catalog import store as catalog
from shared.core import ddb
from shared.core.clock import now
from shared.core.errors import Conflict
from shared.logistics import store as tracking_store
from shared.ops import inbox
from shared.orders import lifecycle, store
from shared.orders.store import order_pk
from shared.payments import compensation
from shared.sandbox import courier
from shared.sandbox.payouts import SandboxPayouts
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    logistics_fixture,
    physical_order,
    ship_order,
)
from tests.integration.test_logistics import STEPS, T0, k100_push, kdn_push
from tests.integration.test_payments_costs import dynamodb_calls  # noqa: F401  (fixture)
from tests.integration.test_payments_helpers import install_payments
from tests.support import MERCHANT, OTHER_MERCHANT, OTHER_SHOPPER, SHOPPER, User, call

S = CaseStatus


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


@pytest.fixture(autouse=True)
def fresh_payouts() -> None:
    """Order ids repeat across tests: forget the sandbox payouts of earlier ones."""
    SandboxPayouts.reset()
RETURN = {"type": "return_and_refund", "lines": [{"sku": TEA["sku"], "quantity": 1}], "reason_code": "damaged"}


def delivered_order(quantity: int = 2, key: str = "key-00000001") -> str:
    """A tea order shipped from the Hangzhou warehouse and signed for (DELIVERED)."""
    placed: Any = physical_order(quantity=quantity, key=key)  # an Order (the helper's hint says dict)
    order_id = str(placed.order_id)
    assert ship_order(order_id)["status"] == "SHIPPED"
    shipped: Any = store.require(order_id, consistent=True)
    # signed for some hours ago (the no-reason window is open)
    status, _ = k100_push(shipped, "SIGNED", history=STEPS, hours=hours_ago(12))
    assert status == 200
    return order_id


def hours_ago(hours: int) -> int:
    """The push helpers' `hours` (traces at T0 + hours + i, one an hour) for traces starting `hours` ago."""
    return int((now() - T0).total_seconds() // 3600) - hours


RETURN_PUSHES = 6  # the return parcel's pushes start 6 hours ago, after the outbound 签收


def return_case(order_id: str, quantity: int = 1, reason_code: str = "damaged",
                key: str = "case-key-0001") -> Case:
    body = {**RETURN, "lines": [{"sku": TEA["sku"], "quantity": quantity}], "reason_code": reason_code}
    status, reply = open_case(order_id, body, key=key)
    assert status == 201, reply
    case = cases.get(reply["case_id"], consistent=True)
    assert case is not None
    return case


def statuses(case: Case) -> list[S]:
    return [event.to_status for event in case.events]


def test_an_approved_return_waits_for_the_goods_with_the_address_and_the_return_ship_timer(
        logistics: dict[str, str]) -> None:
    case = return_case(delivered_order())
    waiting = returns.await_return(case, actor=f"merchant:{case.shop_id}", reason="approved")
    assert waiting.status is S.AWAITING_RETURN
    assert statuses(waiting) == [S.REQUESTED, S.APPROVED, S.AWAITING_RETURN]  # both moves in the history
    assert [event.actor for event in waiting.events[1:]] == [f"merchant:{case.shop_id}"] * 2
    address = waiting.return_address
    assert address is not None and address.warehouse == "HZ" and "杭州仓" in address.line
    due = (waiting.model_extra or {})["GSI3PK"]
    assert due.startswith("DUE#CASE_RETURN_SHIP#")
    again = returns.await_return(waiting, actor="system:test", reason="approved")  # a retry changes nothing
    assert again.version == waiting.version


def test_a_shop_with_its_own_return_address_gets_it(logistics: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    case = return_case(delivered_order())
    own = {"recipient": "龙井茶庄售后", "phone": "057100000000", "province": "浙江", "city": "杭州",
           "line": "龙井村 8 号"}
    monkeypatch.setenv("AFTER_SALES_RETURN_ADDRESSES", json.dumps({case.shop_id: own}))
    waiting = returns.await_return(case, actor="system:test", reason="approved")
    assert waiting.return_address is not None and waiting.return_address.line == "龙井村 8 号"


def test_a_refund_only_case_never_waits_for_goods(logistics: dict[str, str]) -> None:
    status, reply = open_case(delivered_order(), REFUND_ONLY)
    assert status == 201
    case = cases.get(reply["case_id"], consistent=True)
    assert case is not None
    with pytest.raises(Conflict) as refused:
        returns.await_return(case, actor="system:test", reason="approved")
    assert refused.value.code == "not_a_return"


def test_a_return_not_sent_in_time_closes_and_gives_the_units_back(logistics: dict[str, str]) -> None:
    order_id = delivered_order()
    case = return_case(order_id)
    returns.await_return(case, actor="system:test", reason="approved")
    assert cases.claims(order_id) == {TEA["sku"]: 1}
    assert timers.sweep(now() + timedelta(days=6)) == {}
    assert timers.sweep(now() + timedelta(days=7, minutes=1))["case_return_ship_closed"] == 1
    closed = cases.get(case.case_id, consistent=True)
    assert closed is not None and closed.status is S.CLOSED and closed.claims_released
    assert cases.claims(order_id) == {TEA["sku"]: 0}
    assert timers.sweep(now() + timedelta(days=8)) == {}  # the timer went with the move


def test_an_approval_interrupted_between_its_moves_is_finished_by_the_timer(logistics: dict[str, str]) -> None:
    case = return_case(delivered_order())
    cases.transition(case, S.APPROVED, actor="merchant:x", reason="approved",
                     set_fields=timers.due_in(timers.CaseTimer.RETURN_SHIP, case.case_id, 60))
    assert timers.sweep(now() + timedelta(minutes=2))["case_return_ship_resumed"] == 1
    waiting = cases.get(case.case_id, consistent=True)
    assert waiting is not None and waiting.status is S.AWAITING_RETURN and waiting.return_address is not None


# ---------------------------------------------------------------- the return parcel

PARCEL = {"carrier": "yuantong", "tracking_no": "YT9876543210"}


def _parcel(carrier: str = PARCEL["carrier"], number: str = PARCEL["tracking_no"]) -> Any:
    """What the push helpers read of a parcel: its carrier and number."""
    return SimpleNamespace(shipment={"carrier": carrier, "tracking_number": number})


def give(case_id: str, body: dict[str, Any] | None = None, user: User = SHOPPER) -> tuple[int, Any]:
    status, reply, _ = call(api_orders, "POST", f"/after-sales/{case_id}/return-shipment", user=user,
                            body=body if body is not None else PARCEL)
    return status, reply


def receive(case_id: str, lines: list[dict[str, Any]], user: User = MERCHANT) -> tuple[int, Any]:
    status, reply, _ = call(api_orders, "POST", f"/merchant/after-sales/{case_id}/receive", user=user,
                            body={"lines": lines})
    return status, reply


def waiting_case(quantity: int = 2, reason_code: str = "damaged", bought: int = 2,
                 key: str = "key-00000001") -> Case:
    case = return_case(delivered_order(quantity=bought, key=key), quantity=quantity, reason_code=reason_code)
    return returns.await_return(case, actor=f"merchant:{case.shop_id}", reason="approved")


def in_transit(quantity: int = 2, reason_code: str = "damaged", bought: int = 2) -> Case:
    case = waiting_case(quantity, reason_code, bought)
    status, reply = give(case.case_id)
    assert status == 200, reply
    found = cases.get(case.case_id, consistent=True)
    assert found is not None
    return found


def test_the_shopper_gives_the_return_parcel_and_it_is_subscribed_like_outbound_ones(
        logistics: dict[str, str]) -> None:
    case = waiting_case()
    status, reply = give(case.case_id)
    assert status == 200, reply
    assert reply["status"] == "RETURN_IN_TRANSIT"
    assert reply["return_shipment"]["carrier"] == "yuantong" and reply["return_shipment"]["subscription"] == "active"
    assert [step["to_status"] for step in reply["history"]][-1] == "RETURN_IN_TRANSIT"
    watched = courier.subscriber().find(PARCEL["tracking_no"])
    assert watched is not None and watched.callback_url.endswith("/logistics/kuaidi100/notify")
    again_status, again = give(case.case_id, {"carrier": " YuanTong ", "tracking_no": PARCEL["tracking_no"]})
    assert again_status == 200 and again["updated_at"] == reply["updated_at"]  # the same body: nothing changes
    other_status, other = give(case.case_id, {**PARCEL, "tracking_no": "YT0000000001"})
    assert other_status == 409 and other["code"] == "return_shipment_differs"


def test_only_the_cases_shopper_gives_the_parcel_and_only_once_the_return_was_approved(
        logistics: dict[str, str]) -> None:
    order_id = delivered_order()
    case = return_case(order_id)
    status, reply = give(case.case_id)
    assert status == 409 and reply["code"] == "illegal_case_transition"  # not approved yet
    returns.await_return(case, actor="system:test", reason="approved")
    assert give(case.case_id, user=OTHER_SHOPPER)[0] == 404
    assert give(case.case_id, user=MERCHANT)[0] == 403
    assert give(case.case_id, {"carrier": "yuantong", "tracking_no": "no"})[0] == 422
    outbound = store.require(order_id, consistent=True).shipment
    assert outbound is not None
    taken_status, taken = give(case.case_id, {"carrier": outbound["carrier"],
                                              "tracking_no": outbound["tracking_number"]})
    assert taken_status == 409 and taken["code"] == "tracking_number_taken"
    refund_only_status, refund_only = open_case(order_id, REFUND_ONLY, key="case-key-0002")
    assert refund_only_status == 201
    status, reply = give(refund_only["case_id"])
    assert status == 409 and reply["code"] == "not_a_return"


@pytest.mark.parametrize("push", [k100_push, kdn_push], ids=["kuaidi100", "kdniao"])
def test_each_state_of_the_return_parcel_is_recorded_once_from_the_couriers_signed_pushes(
        logistics: dict[str, str], push: Any) -> None:
    case = in_transit()
    order_tracking = tracking_store.get_tracking(case.order_id, consistent=True)
    for i, state in enumerate(STEPS):
        status, _ = push(_parcel(), state, history=STEPS[: i + 1], hours=hours_ago(RETURN_PUSHES))
        assert status == 200
    tracked = cases.get(case.case_id, consistent=True)
    assert tracked is not None and tracked.return_tracking is not None
    assert [step.state for step in tracked.return_tracking] == STEPS  # 揽收, 在途, 派件, 签收
    replayed = push(_parcel(), "OUT_FOR_DELIVERY", history=STEPS[:3], hours=hours_ago(RETURN_PUSHES))  # a replay, late
    assert replayed[0] == 200
    assert cases.get(case.case_id, consistent=True) == tracked  # nothing changed
    assert tracked.version == case.version and tracked.status is S.RETURN_IN_TRANSIT  # not a case move
    assert tracking_store.get_tracking(case.order_id, consistent=True) == order_tracking  # the outbound trace
    assert store.require(case.order_id, consistent=True).status.value == "DELIVERED"


def test_a_push_for_an_unknown_return_number_goes_to_the_ops_inbox(logistics: dict[str, str]) -> None:
    in_transit()
    assert k100_push(_parcel(number="YT5555555555"), "ACCEPTED")[0] == 200
    found, _ = inbox.list_kind("unmatched_tracking", None, viewer="ops")
    assert [item["payload"]["tracking_number"] for item in found] == ["YT5555555555"]


# ---------------------------------------------------------------- receipt and restock

SKU = str(TEA["sku"])


def _available(sku: str) -> int:
    return sum(units for _, units in catalog.buckets_of(sku))


def test_the_merchant_receives_per_line_and_only_intact_units_go_back_on_sale(logistics: dict[str, str]) -> None:
    case = in_transit(quantity=2, bought=3)
    before = _available(SKU)
    lines = [{"sku": TEA["sku"], "quantity": 1, "condition": "intact"},
             {"sku": TEA["sku"], "quantity": 1, "condition": "damaged"}]
    status, reply = receive(case.case_id, lines)
    assert status == 200, reply
    assert reply["status"] == "RECEIVED" and reply["receipt"]["restocked"] == {TEA["sku"]: 1}
    assert reply["receipt"]["warehouse"] == "HZ" and reply["receipt"]["by"] == f"merchant:{case.shop_id}"
    assert _available(SKU) == before + 1  # the damaged unit stays out
    received = cases.get(case.case_id, consistent=True)
    assert received is not None and (received.model_extra or {})["GSI3PK"].startswith("DUE#CASE_MERCHANT#")
    assert received.compensation_key is None  # damaged goods are the merchant's cost, not a no-reason return
    again_status, again = receive(case.case_id, list(reversed(lines)))  # a retry (any order of the lines)
    assert again_status == 200 and again["updated_at"] == reply["updated_at"]
    assert _available(SKU) == before + 1  # restocked once
    other_status, other = receive(case.case_id, [{"sku": TEA["sku"], "quantity": 2, "condition": "intact"}])
    assert other_status == 409 and other["code"] == "receipt_differs"


def test_a_merchant_silent_after_the_return_was_signed_for_is_taken_to_have_received_it(
        logistics: dict[str, str]) -> None:
    case = in_transit(quantity=1)
    before = _available(SKU)
    assert k100_push(_parcel(), "SIGNED", history=STEPS, hours=hours_ago(RETURN_PUSHES))[0] == 200
    assert timers.sweep(now() + timedelta(hours=47)) == {}
    assert timers.sweep(now() + timedelta(hours=48, minutes=1))["case_return_ship_receipt_assumed"] == 1
    received = cases.get(case.case_id, consistent=True)
    assert received is not None and received.status is S.RECEIVED and received.receipt is not None
    assert [(line.condition, line.quantity) for line in received.receipt.lines] == [("unchecked", 1)]
    assert received.receipt.by == "system:sweeper" and received.receipt.restocked == {}
    assert _available(SKU) == before  # nobody checked the goods: nothing goes back on sale
    assert (received.model_extra or {})["GSI3PK"].startswith("DUE#CASE_MERCHANT#")  # then the refund


def test_a_return_parcel_never_signed_for_goes_to_ops_once_and_keeps_waiting(logistics: dict[str, str]) -> None:
    case = in_transit(quantity=1)
    assert timers.sweep(now() + timedelta(days=6)) == {}
    assert timers.sweep(now() + timedelta(days=7, minutes=1))["case_return_ship_stalled"] == 1
    assert timers.sweep(now() + timedelta(days=7, minutes=2)) == {}  # re-armed a week on
    assert timers.sweep(now() + timedelta(days=14, minutes=2))["case_return_ship_stalled"] == 1
    found, _ = inbox.list_kind("trouble_flag", None, viewer="ops")
    assert [item["ref"] for item in found] == [f"{case.case_id}:return-stalled"]
    waiting = cases.get(case.case_id, consistent=True)
    assert waiting is not None and waiting.status is S.RETURN_IN_TRANSIT


def test_a_receipt_must_account_for_every_unit_and_only_the_shops_merchant_records_it(
        logistics: dict[str, str]) -> None:
    case = in_transit(quantity=2)
    one = [{"sku": TEA["sku"], "quantity": 1, "condition": "intact"}]
    status, reply = receive(case.case_id, one)
    assert status == 422 and reply["code"] == "receipt_mismatch" and reply["expected"] == {TEA["sku"]: 2}
    twice = [{"sku": TEA["sku"], "quantity": 1, "condition": "intact"}] * 2
    assert receive(case.case_id, twice)[1]["code"] == "receipt_mismatch"
    whole = [{"sku": TEA["sku"], "quantity": 2, "condition": "intact"}]
    assert receive(case.case_id, whole, user=OTHER_MERCHANT)[0] == 404
    assert receive(case.case_id, whole, user=SHOPPER)[0] == 403
    waiting = waiting_case(key="key-00000002")  # the parcel was never given: not in transit
    status, reply = receive(waiting.case_id, whole)
    assert status == 409 and reply["code"] == "illegal_case_transition"


# ---------------------------------------------------------------- compensation and refund

NO_REASON = "seven_day_no_reason"  # the catalogue's no-reason code today; `no_reason` earns it too


def test_a_received_no_reason_return_is_refunded_by_the_merchant_and_the_platform_pays_the_shipping_once(
        logistics: dict[str, str], payments: Any) -> None:
    case = in_transit(quantity=1, reason_code=NO_REASON)
    whole = [{"sku": TEA["sku"], "quantity": 1, "condition": "intact"}]
    assert receive(case.case_id, whole)[0] == 200
    assert receive(case.case_id, whole)[0] == 200  # a retry
    received = cases.get(case.case_id, consistent=True)
    assert received is not None and received.compensation_key == compensation.key_for(case.case_id)
    order = store.require(case.order_id, consistent=True)
    granted = (order.compensations or {})[received.compensation_key]
    assert (granted["amount_fen"], granted["state"], granted["case_id"]) == (12_00, "paid", case.case_id)
    assert granted["out_transfer_no"] == f"{case.order_id}-{received.compensation_key}"
    assert SandboxPayouts.calls.count(granted["out_transfer_no"]) == 1  # paid exactly once
    refunded = refunding.start_refund(received, actor="system:test", reason="receipt_checked")
    assert refunded.status is S.REFUNDED
    order = store.require(case.order_id, consistent=True)
    payment = order.payment or {}
    assert payment["refunded_fen"] == 168_00  # the merchant's refund: the goods only
    assert payment["amount_fen"] - payment["refunded_fen"] == 168_00  # the unit kept
    assert sum(c["amount_fen"] for c in (order.compensations or {}).values()) == 12_00  # apart from the ledger
    assert statuses(refunded) == [S.REQUESTED, S.APPROVED, S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.RECEIVED,
                                  S.REFUNDING, S.REFUNDED]
    view = call(api_orders, "GET", f"/orders/{case.order_id}", user=SHOPPER)[1]
    assert view["compensations"][received.compensation_key]["state"] == "paid"


def test_without_a_payout_provider_the_compensation_waits_in_the_ops_inbox_and_is_never_pretended(
        logistics: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    case = in_transit(quantity=1, reason_code=NO_REASON)
    monkeypatch.setenv("ORDER24_SANDBOX", "0")  # deployed: no payout provider configured
    whole = [{"sku": TEA["sku"], "quantity": 1, "condition": "intact"}]
    status, reply = receive(case.case_id, whole)
    assert status == 200, reply  # the receipt stands
    key = compensation.key_for(case.case_id)
    order = store.require(case.order_id, consistent=True)
    assert (order.compensations or {})[key]["state"] == "requested"
    found, _ = inbox.list_kind("refund_issue", None, viewer="ops")
    assert [item["ref"] for item in found] == [f"{case.order_id}:{key}"]
    assert receive(case.case_id, whole)[0] == 200  # a retry grants nothing more
    assert list(store.require(case.order_id, consistent=True).compensations or {}) == [key]
    monkeypatch.setenv("ORDER24_SANDBOX", "1")
    assert compensation.execute(case.order_id, key) == "paid"
    assert compensation.execute(case.order_id, key) == "paid"  # settled: not sent again
    assert SandboxPayouts.calls.count(f"{case.order_id}-{key}") == 1


# ---------------------------------------------------------------- the order completes after its cases

def test_the_order_completes_only_after_its_cases_end(logistics: dict[str, str]) -> None:
    case = in_transit(quantity=1)
    after_window = now() + timedelta(days=400)
    assert lifecycle.sweep(after_window, kinds=("COMPLETE",)).get("complete_waiting") == 1
    assert store.require(case.order_id, consistent=True).status.value == "DELIVERED"
    cases.close(case, actor="ops:test", reason="withdrawn")
    assert lifecycle.sweep(after_window, kinds=("COMPLETE",)) == {}  # re-armed an hour on
    assert lifecycle.sweep(after_window + timedelta(hours=1, minutes=1),
                           kinds=("COMPLETE",)).get("complete_completed") == 1
    assert store.require(case.order_id, consistent=True).status.value == "COMPLETED"


# ---------------------------------------------------------------- concurrency and costs

def test_ten_concurrent_receipts_restock_once_and_pay_the_shipping_once(logistics: dict[str, str]) -> None:
    case = in_transit(quantity=2, reason_code=NO_REASON)
    before = _available(SKU)
    whole = [{"sku": SKU, "quantity": 2, "condition": "intact"}]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: receive(case.case_id, whole), range(10)))
    assert {status for status, _ in answers} == {200}, answers
    assert _available(SKU) == before + 2
    received = cases.get(case.case_id, consistent=True)
    assert received is not None and statuses(received).count(S.RECEIVED) == 1
    order = store.require(case.order_id, consistent=True)
    (granted,) = (order.compensations or {}).values()
    assert granted["state"] == "paid"
    # concurrent retries may each ask, always with the one out_transfer_no: the provider moves the money once
    assert set(SandboxPayouts.calls) == {granted["out_transfer_no"]}
    assert SandboxPayouts.paid == {granted["out_transfer_no"]: 12_00}


def test_eight_concurrent_deliveries_of_one_push_record_its_state_once(logistics: dict[str, str]) -> None:
    case = in_transit()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: k100_push(_parcel(), "ACCEPTED", hours=hours_ago(RETURN_PUSHES)), range(8)))
    assert {status for status, _ in answers} == {200}
    tracked = cases.get(case.case_id, consistent=True)
    assert tracked is not None and [step.state for step in tracked.return_tracking or []] == ["ACCEPTED"]


def _size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, near enough: its attribute names and values in bytes."""
    return len(json.dumps(item, ensure_ascii=False, default=str).encode())


def test_what_a_return_costs_in_dynamodb_calls_and_item_sizes(logistics: dict[str, str], payments: Any,
                                                             dynamodb_calls: Counter[str]) -> None:  # noqa: F811
    case = return_case(delivered_order(quantity=2), quantity=1, reason_code=NO_REASON)
    steps: dict[str, dict[str, int]] = {}

    def measured(name: str, action: Any) -> Any:
        dynamodb_calls.clear()
        result = action()
        steps[name] = dict(dynamodb_calls)
        return result

    measured("approve", lambda: returns.await_return(case, actor="merchant:x", reason="approved"))
    measured("parcel", lambda: give(case.case_id))
    for i, state in enumerate(STEPS):
        measured(f"push {state}", lambda i=i, state=state: k100_push(_parcel(), state, history=STEPS[: i + 1],
                                                                      hours=hours_ago(RETURN_PUSHES)))
    measured("replayed push", lambda: k100_push(_parcel(), "SIGNED", history=STEPS, hours=hours_ago(RETURN_PUSHES)))
    measured("receipt", lambda: receive(case.case_id, [{"sku": SKU, "quantity": 1, "condition": "intact"}]))
    received = cases.get(case.case_id, consistent=True)
    assert received is not None
    measured("refund", lambda: refunding.start_refund(received, actor="system:test", reason="receipt_checked"))
    case_item = ddb.get(order_pk(case.order_id), "CASE#" + case.case_id)
    order_item = ddb.get(order_pk(case.order_id), "ORDER")
    assert case_item is not None and order_item is not None
    print(f"\nreturn: dynamodb calls per step {steps}; final case item {_size(case_item)} B, order item "
          f"{_size(order_item)} B")
    assert steps["replayed push"] == {"GetItem": 2}  # the lookup and the case: nothing written
    assert steps["push SIGNED"].get("UpdateItem", 0) == 2  # the RETURN_SHIP timer and the tracking
    assert steps["receipt"].get("TransactWriteItems") == 1


def test_the_order_waits_for_the_no_reason_window_as_the_return_policy_counts_it(
        logistics: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = delivered_order()
    later = now() + timedelta(days=400, hours=20)  # e.g. 00:00 China time of the day after 签收, + 7 days
    policy = SimpleNamespace(return_until=lambda order: later)  # shared/aftersales/policy.py (the policy branch)
    monkeypatch.setitem(sys.modules, "shared.aftersales.policy", policy)
    monkeypatch.setattr(aftersales_package, "policy", policy, raising=False)  # once the real one is imported
    assert lifecycle.sweep(now() + timedelta(days=400), kinds=("COMPLETE",)).get("complete_waiting_window") == 1
    assert store.require(order_id, consistent=True).status.value == "DELIVERED"
    assert lifecycle.sweep(now() + timedelta(days=400, hours=19), kinds=("COMPLETE",)) == {}
    done = lifecycle.sweep(later + timedelta(minutes=1), kinds=("COMPLETE",))
    assert done.get("complete_completed") == 1
