"""The merchant's decisions through the real api_merchant handler on moto: approve refunds, reject arms the
shopper's 7 days to dispute, a silent merchant is taken to agree (the MERCHANT timer), another shop's case is not
found, and the shop's list pages newest first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.api_merchant.handler import handler as api_merchant
from shared.aftersales import decisions, refunding, timers
from shared.aftersales import store as cases
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus
from shared.core import ddb
from shared.core.clock import now
from shared.orders import store
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case, tea_order
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_payments_helpers import install_payments
from tests.support import MERCHANT, OTHER_MERCHANT, SHOPPER, User, call

HOURS_48 = timedelta(hours=48, seconds=1)
RETURN = {**REFUND_ONLY, "type": "return_and_refund", "reason_code": "quality_issue"}


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def merchant(method: str, path: str, user: User = MERCHANT, body: Any = None, **query: str) -> tuple[int, Any]:
    status, reply, _ = call(api_merchant, "POST" if method == "POST" else "GET", path, user=user, body=body,
                            query=query or None)
    return status, reply


def opened(body: dict[str, Any] | None = None, *, order_id: str | None = None, key: str = "case-key-0001") -> Case:
    status, reply = open_case(order_id or tea_order(), body, key=key)
    assert status == 201, reply
    case = cases.get(reply["case_id"], consistent=True)
    assert case is not None
    return case


def current(case_id: str) -> Case:
    case = cases.get(case_id, consistent=True)
    assert case is not None
    return case


def timer_of(case: Case) -> str | None:
    """The case's timer kind (`CASE_MERCHANT`), its other by_due entry (the disputes queue), or None."""
    pk = str((case.model_extra or {}).get("GSI3PK", ""))
    return pk.split("#")[1] if pk.startswith("DUE#") else pk or None


def sends(case: Case) -> int:
    return SandboxHttpClient.calls.count(("card.refund", f"{case.order_id}-{refunding.refund_key(case.case_id)}"))


def as_received(case: Case) -> Case:
    """Scaffold until item 4 lands: put a return case where returns leaves it when the goods are back (RECEIVED,
    the receipt-check MERCHANT timer armed), as one raw write."""
    due = timers.due_in(timers.CaseTimer.MERCHANT, case.case_id, 48 * 3600)
    ddb.dynamodb().update_item(
        TableName=ddb.table(), Key=cases.case_key(case.case_id),
        UpdateExpression="SET #s = :received, #v = #v + :one, GSI3PK = :pk, GSI3SK = :sk",
        ExpressionAttributeNames={"#s": "status", "#v": "version"},
        ExpressionAttributeValues=ddb.values(received="RECEIVED", one=1, pk=due["GSI3PK"], sk=due["GSI3SK"]))
    return current(case.case_id)


def test_a_new_case_waits_for_the_merchant_with_its_timer_armed(aws: dict[str, str]) -> None:
    case = opened()
    assert case.status is CaseStatus.REQUESTED and timer_of(case) == "CASE_MERCHANT"
    assert timers.sweep(now() + timedelta(hours=47)) == {}  # not due yet


def test_the_merchant_approves_a_refund_and_the_money_goes_back_once(payments: Any) -> None:
    case = opened()
    status, reply = merchant("POST", f"/merchant/after-sales/{case.case_id}/approve")
    assert status == 200, reply
    assert reply["status"] == "REFUNDED"
    assert [(e["to_status"], e["actor"]) for e in reply["history"]] == [
        ("REQUESTED", f"shopper:{SHOPPER.sub}"), ("REFUNDING", f"merchant:{MERCHANT.sub}"),
        ("REFUNDED", "system:refunds")]
    grant = store.require(case.order_id, consistent=True).payment["refunds"][refunding.refund_key(case.case_id)]  # type: ignore[index]
    assert (grant["amount_fen"], grant["state"]) == (168_00, "succeeded")
    again_status, again = merchant("POST", f"/merchant/after-sales/{case.case_id}/approve")  # a retry
    assert again_status == 200 and again["status"] == "REFUNDED" and sends(case) == 1
    assert timers.sweep(now() + HOURS_48) == {}  # the MERCHANT timer went with the move


def test_another_merchants_case_is_not_found_and_shoppers_may_not_decide(payments: Any) -> None:
    case = opened()
    for action, body in (("approve", None), ("reject", {"reason": "不是我的"})):
        status, problem = merchant("POST", f"/merchant/after-sales/{case.case_id}/{action}", OTHER_MERCHANT, body)
        assert status == 404 and problem["code"] == "case_not_found"
    status, problem = merchant("POST", f"/merchant/after-sales/{case.case_id}/approve", SHOPPER)
    assert status == 403, problem
    assert current(case.case_id).status is CaseStatus.REQUESTED and sends(case) == 0


def test_a_rejection_needs_a_reason_and_gives_the_shopper_seven_days(payments: Any) -> None:
    case = opened()
    status, problem = merchant("POST", f"/merchant/after-sales/{case.case_id}/reject", body={})
    assert status == 422, problem
    status, reply = merchant("POST", f"/merchant/after-sales/{case.case_id}/reject", body={"reason": "已正常发货"})
    assert status == 200 and reply["status"] == "REJECTED", reply
    assert reply["history"][-1] | {"at": None} == {
        "at": None, "type": "status_changed", "from_status": "REQUESTED", "to_status": "REJECTED",
        "actor": f"merchant:{MERCHANT.sub}", "reason": "已正常发货", "status": None, "entry": None}
    assert timer_of(current(case.case_id)) == "CASE_ESCALATE"
    again = merchant("POST", f"/merchant/after-sales/{case.case_id}/reject", body={"reason": "已正常发货"})
    assert again[0] == 200 and again[1]["status"] == "REJECTED"  # a retry
    status, problem = merchant("POST", f"/merchant/after-sales/{case.case_id}/approve")
    assert status == 409 and problem["code"] == "not_awaiting_merchant" and problem["current_status"] == "REJECTED"

    assert timers.sweep(now() + HOURS_48) == {}  # neither the merchant's timer nor the escalation yet
    assert timers.sweep(now() + timedelta(days=7, seconds=1)) == {"case_escalate_closed": 1}
    closed = current(case.case_id)
    assert closed.status is CaseStatus.CLOSED and closed.claims_released
    assert closed.events[-1].actor == "system:escalation_timeout"
    assert cases.claims(case.order_id) == {TEA["sku"]: 0}  # the units can be asked for again
    assert timers.sweep(now() + timedelta(days=8)) == {} and sends(case) == 0


def test_a_silent_merchant_is_taken_to_agree_after_48_hours(payments: Any) -> None:
    case = opened()
    assert timers.sweep(now() + HOURS_48) == {"case_merchant_refunded": 1}
    refunded = current(case.case_id)
    assert refunded.status is CaseStatus.REFUNDED and sends(case) == 1
    step = refunded.events[1]
    assert (step.actor, step.reason) == ("system:merchant_timeout", "merchant_reply_timeout")
    assert timers.sweep(now() + timedelta(hours=49)) == {}


def test_the_merchant_clicking_five_times_as_the_timer_fires_refunds_once(payments: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    case = opened()
    with ThreadPoolExecutor(6) as pool:
        clicks = [pool.submit(merchant, "POST", f"/merchant/after-sales/{case.case_id}/approve") for _ in range(5)]
        swept = pool.submit(timers.sweep, now() + HOURS_48)
        answers = [click.result() for click in clicks]
    assert all(status == 200 for status, _ in answers), answers
    assert {reply["status"] for _, reply in answers} <= {"REFUNDING", "REFUNDED"}
    assert set(swept.result()) <= {"case_merchant_refunded", "case_merchant_refunding", "case_merchant_raced"}
    done = current(case.case_id)
    assert done.status is CaseStatus.REFUNDED
    payment = store.require(case.order_id, consistent=True).payment
    assert payment is not None and payment["refunded_fen"] == 168_00
    assert [key for key in payment["refunds"] if key.startswith("as-")] == [refunding.refund_key(case.case_id)]
    # concurrent senders may each send the grant before one records the provider's answer, always with the same
    # out_refund_no, which the provider refunds once (shared/aftersales/refunding.py)
    assert sends(case) >= 1
    assert [e.to_status for e in done.events if hasattr(e, "to_status")] == [  # one move each, by whoever won
        CaseStatus.REQUESTED, CaseStatus.REFUNDING, CaseStatus.REFUNDED]


def test_a_late_timer_on_a_case_the_merchant_decided_changes_nothing(payments: Any) -> None:
    stale = opened()  # as the sweeper read it, before the merchant answered
    assert merchant("POST", f"/merchant/after-sales/{stale.case_id}/approve")[1]["status"] == "REFUNDED"
    assert decisions.merchant_timed_out(stale, now() + HOURS_48) == "refunded"  # the same refund, not another
    assert sends(stale) == 1
    rejected = opened(order_id=tea_order(key="key-00000002"))
    assert merchant("POST", f"/merchant/after-sales/{rejected.case_id}/reject", body={"reason": "no"})[0] == 200
    assert decisions.merchant_timed_out(current(rejected.case_id), now() + HOURS_48) == "moved"
    assert current(rejected.case_id).status is CaseStatus.REJECTED


def test_a_timeout_that_cannot_refund_goes_to_ops_once_and_stops(payments: Any) -> None:
    case = opened()
    order = store.require(case.order_id, consistent=True)
    from shared.payments import refunds

    captured = order.payment["amount_fen"]  # type: ignore[index]
    refunds.refund(order, captured - 100_00, refund_key="goodwill", reason="ops goodwill", actor="ops:test")
    assert timers.sweep(now() + HOURS_48) == {"case_merchant_blocked": 1}
    stuck = current(case.case_id)
    assert stuck.status is CaseStatus.REQUESTED and timer_of(stuck) is None
    from shared.ops import inbox

    items, _ = inbox.list_kind("refund_issue", None, viewer="ops-test")
    assert [item["payload"]["detail"] for item in items if case.case_id in item["ref"]] == ["refund_exceeds_capture"]
    assert timers.sweep(now() + timedelta(hours=49)) == {}  # not every minute again


def test_a_received_return_is_refunded_unless_the_merchant_raises_a_problem(payments: Any) -> None:
    quiet = as_received(opened(RETURN))
    assert timers.sweep(now() + HOURS_48) == {"case_merchant_refunded": 1}
    done = current(quiet.case_id)
    assert done.status is CaseStatus.REFUNDED and done.events[-2].reason == "receipt_check_timeout"
    approved = as_received(opened(RETURN, order_id=tea_order(key="key-00000002")))
    assert merchant("POST", f"/merchant/after-sales/{approved.case_id}/approve")[1]["status"] == "REFUNDED"
    damaged = as_received(opened(RETURN, order_id=tea_order(key="key-00000003")))
    status, reply = merchant("POST", f"/merchant/after-sales/{damaged.case_id}/reject",
                             body={"reason": "退回的茶叶已开封受潮"})
    assert status == 200 and reply["status"] == "DISPUTED", reply  # ops arbitrate (test_disputes.py)
    assert timer_of(current(damaged.case_id)) == "AFTERSALES_DISPUTES"  # in the ops queue, no timer
    assert timers.sweep(now() + timedelta(days=30)) == {}


def test_approving_a_return_asks_for_the_goods_back(payments: Any) -> None:
    """The hand-over to item 4: approving a return_and_refund case awaits the goods (`returns.await_return`)."""
    case = opened(RETURN)
    status, reply = merchant("POST", f"/merchant/after-sales/{case.case_id}/approve")
    assert status == 200 and reply["status"] == "AWAITING_RETURN"
    assert [(e["to_status"], e["actor"]) for e in reply["history"]][1:] == [
        ("APPROVED", f"merchant:{MERCHANT.sub}"), ("AWAITING_RETURN", f"merchant:{MERCHANT.sub}")]
    assert reply["return_address"] is not None
    assert merchant("POST", f"/merchant/after-sales/{case.case_id}/approve")[1]["status"] == "AWAITING_RETURN"
    assert sends(case) == 0  # no money before the goods are back
    silent = opened(RETURN, order_id=tea_order(key="key-00000002"))
    assert timers.sweep(now() + HOURS_48) == {"case_merchant_awaiting_return": 1}
    waiting = cases.get(silent.case_id, consistent=True)
    assert waiting is not None and waiting.status is CaseStatus.AWAITING_RETURN
    assert waiting.events[1].actor == "system:merchant_timeout"


def test_the_shops_cases_page_newest_first_with_a_status_filter(payments: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decisions, "PAGE_SIZE", 2)
    ids = [opened(order_id=tea_order(key=f"key-0000000{n}"), key=f"case-key-000{n}").case_id for n in range(1, 4)]
    merchant("POST", f"/merchant/after-sales/{ids[1]}/reject", body={"reason": "no"})
    status, first = merchant("GET", "/merchant/after-sales")
    assert status == 200 and [c["case_id"] for c in first["items"]] == [ids[2], ids[1]] and first["cursor"]
    status, second = merchant("GET", "/merchant/after-sales", cursor=first["cursor"])
    assert [c["case_id"] for c in second["items"]] == [ids[0]] and second["cursor"] is None
    status, pending = merchant("GET", "/merchant/after-sales", status="REQUESTED")
    assert status == 200 and [c["case_id"] for c in pending["items"]] == [ids[2], ids[0]]
    status, problem = merchant("GET", "/merchant/after-sales", OTHER_MERCHANT, cursor=first["cursor"])
    assert status == 400 and problem["code"] == "invalid_cursor"  # a cursor is the caller's own
    status, problem = merchant("GET", "/merchant/after-sales", status="REQUESTED", cursor=first["cursor"])
    assert status == 400 and problem["code"] == "invalid_cursor"  # and its filter's
    assert merchant("GET", "/merchant/after-sales", OTHER_MERCHANT)[1]["items"] == []


def test_a_case_wait_costs_an_index_write_to_arm_one_to_end_and_one_consistent_read_when_due(
        payments: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The figures docs/aftersales.md prices (timers vs a Standard workflow), counted on real case items with the
    cost model's own unit rules (tools/bench/meter.py). Run with -s to print them."""
    import json
    from collections import Counter

    from tools.bench.meter import IndexSpec, gsi_writes, item_size, write_units

    by_due, keys = IndexSpec("by_due", "GSI3PK", "GSI3SK"), ("PK", "SK")

    def raw(case_id: str) -> dict[str, Any]:
        item: dict[str, Any] = ddb.dynamodb().get_item(TableName=ddb.table(), Key=cases.case_key(case_id),
                                                       ConsistentRead=True)["Item"]
        return item

    def index_wru(old: dict[str, Any] | None, new: dict[str, Any]) -> int:
        return sum(units for _, _, units in gsi_writes(old, new, [by_due], keys))

    requests: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        requests[event_name.rsplit(".", 1)[-1]] += 1

    case = opened()
    armed = raw(case.case_id)
    timer_bytes = item_size(armed) - item_size({k: v for k, v in armed.items() if k not in ("GSI3PK", "GSI3SK")})
    client = ddb.dynamodb()
    client.meta.events.register("before-call.dynamodb", count)
    try:
        idle = Counter(timers.sweep(now() + timedelta(hours=1)))
        idle_requests, requests = dict(requests), Counter()
        fired = timers.sweep(now() + HOURS_48)
        fire_requests = dict(requests)
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    refunded = raw(case.case_id)
    rejected = opened(order_id=tea_order(key="key-00000002"))
    first = raw(rejected.case_id)
    merchant("POST", f"/merchant/after-sales/{rejected.case_id}/reject", body={"reason": "no"})
    escalating = raw(rejected.case_id)
    figures = {
        "case_item_bytes": item_size(armed), "timer_bytes": timer_bytes,
        "arm_at_opening_index_wru": index_wru(None, armed),
        "merchant_entry_removed_by_the_refund_index_wru": index_wru(armed, refunded),
        "reject_rekeys_merchant_to_escalate_index_wru": index_wru(first, escalating),
        "sweep_requests_idle": idle_requests, "sweep_requests_one_due": fire_requests,
        "case_read_when_due_rru": 1.0 if write_units(item_size(armed)) <= 4 else 2.0,
    }
    with capsys.disabled():
        print("\ncase wait figures:", json.dumps(figures, sort_keys=True))
    assert idle == Counter() and fired == {"case_merchant_refunded": 1}
    assert figures["arm_at_opening_index_wru"] == 1 and figures["merchant_entry_removed_by_the_refund_index_wru"] == 1
    assert figures["reject_rekeys_merchant_to_escalate_index_wru"] == 2
    assert idle_requests == {"Query": len(timers.CaseTimer) * 16}  # every kind's 16 shards, nothing else
    assert fire_requests["BatchGetItem"] == 1 and fire_requests["Query"] == len(timers.CaseTimer) * 16
