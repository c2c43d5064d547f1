"""Disputes on moto through the real handlers: the shopper escalates a rejection within 7 days (api_orders), both
sides add evidence, ops see open disputes oldest first, claim one with a lease and decide under it (api_ops):
full refund, partial refund (the amount on the ledger), or rejection (the units go back)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.api_ops.handler import handler as api_ops
from functions.api_orders.handler import handler as api_orders
from shared.aftersales import disputes, refunding, timers
from shared.aftersales import store as cases
from shared.aftersales.decision_models import MAX_EVIDENCE
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus
from shared.core.clock import now
from shared.core.errors import Conflict
from shared.orders import store
from tests.integration.test_after_sales_cases import tea_order
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_merchant_decisions import RETURN, as_received, current, merchant, opened, sends
from tests.integration.test_payments_helpers import install_payments
from tests.support import MERCHANT, OPS, OTHER_MERCHANT, OTHER_SHOPPER, SHOPPER, User, call

OTHER_OPS = User("77777777-7777-4777-8777-777777777777", "ops2", ("ops",))
PHOTO = "https://img.example.com/as/crushed-box.jpg"


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def orders_api(path: str, user: User = SHOPPER, body: Any = None) -> tuple[int, Any]:
    status, reply, _ = call(api_orders, "POST", path, user=user, body=body)
    return status, reply


def ops(method: str, path: str, user: User = OPS, body: Any = None, **query: str) -> tuple[int, Any]:
    status, reply, _ = call(api_ops, method, path, user=user, body=body, query=query or None)
    return status, reply


def rejected(order_key: str = "key-00000001") -> Case:
    case = opened(order_id=tea_order(key=order_key))
    status, reply = merchant("POST", f"/merchant/after-sales/{case.case_id}/reject", body={"reason": "已正常发货"})
    assert status == 200 and reply["status"] == "REJECTED", reply
    return current(case.case_id)


def disputed(order_key: str = "key-00000001") -> Case:
    case = rejected(order_key)
    status, reply = orders_api(f"/after-sales/{case.case_id}/dispute", body={"reason": "收到时盒子已压坏"})
    assert status == 200 and reply["status"] == "DISPUTED", reply
    return current(case.case_id)


def test_a_rejected_shopper_disputes_and_ops_refund_part_of_it(payments: Any) -> None:
    case = disputed()
    assert timers.sweep(now() + timedelta(days=8)) == {}  # no timer while ops decide
    status, page = ops("GET", "/ops/disputes")
    assert status == 200 and [(d["case_id"], d["claimed_by"]) for d in page["items"]] == [(case.case_id, None)]
    status, claim = ops("POST", f"/ops/disputes/{case.case_id}/claim")
    assert status == 200 and claim["claimed_by"] == OPS.sub, claim
    assert ops("GET", "/ops/disputes")[1]["items"][0]["claimed_by"] == OPS.sub
    decision = {"outcome": "partial_refund", "amount_fen": 50_00, "reason": "包装破损, 茶叶完好: 退 50 元"}
    status, reply = ops("POST", f"/ops/disputes/{case.case_id}/decide", body=decision)
    assert status == 200 and reply["status"] == "REFUNDED", reply
    assert [(e["to_status"], e["actor"]) for e in reply["history"]] == [
        ("REQUESTED", f"shopper:{SHOPPER.sub}"), ("REJECTED", f"merchant:{MERCHANT.sub}"),
        ("DISPUTED", f"shopper:{SHOPPER.sub}"), ("REFUNDING", f"ops:{OPS.sub}"), ("REFUNDED", "system:refunds")]
    assert reply["history"][3]["reason"] == "partial_refund 5000 fen: 包装破损, 茶叶完好: 退 50 元"
    payment = store.require(case.order_id, consistent=True).payment
    assert payment is not None
    grant = payment["refunds"][refunding.refund_key(case.case_id)]
    assert (grant["amount_fen"], grant["state"]) == (50_00, "succeeded") and payment["refunded_fen"] == 50_00
    assert current(case.case_id).refund_amount_fen == 50_00
    again = ops("POST", f"/ops/disputes/{case.case_id}/decide", body=decision)  # a retry: the same decision
    assert again[0] == 200 and again[1]["status"] == "REFUNDED" and sends(case) == 1
    status, problem = ops("POST", f"/ops/disputes/{case.case_id}/decide", OTHER_OPS, decision)
    assert status == 409 and problem["code"] == "already_decided"
    assert ops("GET", "/ops/disputes")[1]["items"] == []  # the queue entry left with the move


def test_ops_reject_a_dispute_and_the_units_go_back(payments: Any) -> None:
    case = disputed()
    assert ops("POST", f"/ops/disputes/{case.case_id}/claim")[0] == 200
    status, reply = ops("POST", f"/ops/disputes/{case.case_id}/decide",
                        body={"outcome": "reject", "reason": "照片显示签收时完好"})
    assert status == 200 and reply["status"] == "CLOSED", reply
    assert (reply["history"][-1]["actor"], reply["history"][-1]["reason"]) == (f"ops:{OPS.sub}",
                                                                                 "reject: 照片显示签收时完好")
    assert cases.claims(case.order_id) == {TEA["sku"]: 0} and sends(case) == 0


def test_ops_refund_a_dispute_in_full(payments: Any) -> None:
    case = disputed()
    ops("POST", f"/ops/disputes/{case.case_id}/claim")
    status, reply = ops("POST", f"/ops/disputes/{case.case_id}/decide", body={"outcome": "full_refund",
                                                                             "reason": "商家未举证"})
    assert status == 200 and reply["status"] == "REFUNDED" and sends(case) == 1
    assert current(case.case_id).refund_amount_fen == 168_00


def test_deciding_needs_your_own_live_lease(payments: Any) -> None:
    case = disputed()
    body = {"outcome": "full_refund", "reason": "ok"}
    status, problem = ops("POST", f"/ops/disputes/{case.case_id}/decide", body=body)
    assert status == 409 and problem["code"] == "lease_required"
    assert ops("POST", f"/ops/disputes/{case.case_id}/claim")[0] == 200
    assert ops("POST", f"/ops/disputes/{case.case_id}/claim")[0] == 200  # a renewal by the holder
    status, problem = ops("POST", f"/ops/disputes/{case.case_id}/claim", OTHER_OPS)
    assert status == 409 and problem["code"] == "claimed_by_other" and problem["claimed_by"] == OPS.sub
    status, problem = ops("POST", f"/ops/disputes/{case.case_id}/decide", OTHER_OPS, body)
    assert status == 409 and problem["code"] == "lease_required" and problem["claimed_by"] == OPS.sub
    # the lease lapses (15 minutes) and another arbiter takes it: the first may no longer decide
    disputes.claim(case.case_id, OTHER_OPS.sub, moment=now() + timedelta(minutes=16))
    status, problem = ops("POST", f"/ops/disputes/{case.case_id}/decide", body=body)
    assert status == 409 and problem["code"] == "lease_required" and problem["claimed_by"] == OTHER_OPS.sub
    assert current(case.case_id).status is CaseStatus.DISPUTED and sends(case) == 0


def test_a_claim_taken_after_the_arbiters_read_stops_the_refund(payments: Any) -> None:
    """The claim bumps the version: a decision written from a read before it fails, and its re-read refuses."""
    case = disputed()
    disputes.claim(case.case_id, OPS.sub)
    before = current(case.case_id)
    disputes.claim(case.case_id, OTHER_OPS.sub, moment=now() + timedelta(minutes=16))
    with pytest.raises(Conflict) as refused:
        refunding.start_refund(before, actor=f"ops:{OPS.sub}", reason="late", guard=disputes._guard(OPS.sub))
    assert refused.value.code == "lease_required"
    assert current(case.case_id).status is CaseStatus.DISPUTED and sends(case) == 0


def test_a_partial_refund_is_less_than_the_case_and_only_partial_refunds_name_an_amount(payments: Any) -> None:
    case = disputed()
    ops("POST", f"/ops/disputes/{case.case_id}/claim")
    for body in ({"outcome": "partial_refund", "amount_fen": 168_00, "reason": "x"},
                 {"outcome": "partial_refund", "reason": "x"},
                 {"outcome": "full_refund", "amount_fen": 10_00, "reason": "x"},
                 {"outcome": "partial_refund", "amount_fen": 0, "reason": "x"},
                 {"outcome": "partial_refund", "amount_fen": 12.5, "reason": "x"}):
        status, problem = ops("POST", f"/ops/disputes/{case.case_id}/decide", body=body)
        assert status == 422, (body, problem)
    assert current(case.case_id).status is CaseStatus.DISPUTED


def test_only_the_cases_shopper_disputes_and_only_a_rejection_within_seven_days(
        payments: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    case = rejected()
    status, problem = orders_api(f"/after-sales/{case.case_id}/dispute", OTHER_SHOPPER, {"reason": "x"})
    assert status == 404 and problem["code"] == "case_not_found"
    assert orders_api(f"/after-sales/{case.case_id}/dispute", MERCHANT, {"reason": "x"})[0] == 403
    waiting = opened(order_id=tea_order(key="key-00000002"))
    status, problem = orders_api(f"/after-sales/{waiting.case_id}/dispute", body={"reason": "x"})
    assert status == 409 and problem["code"] == "not_disputable" and problem["current_status"] == "REQUESTED"
    monkeypatch.setenv("AFTER_SALES_ESCALATE_SECONDS", "0")
    from shared.core import config

    config.reset_settings()
    status, problem = orders_api(f"/after-sales/{case.case_id}/dispute", body={"reason": "x"})
    assert status == 409 and problem["code"] == "dispute_window_closed"


def test_a_dispute_retried_is_the_same_dispute_and_the_escalation_timer_is_gone(payments: Any) -> None:
    case = disputed()
    status, reply = orders_api(f"/after-sales/{case.case_id}/dispute", body={"reason": "again"})
    assert status == 200 and reply["status"] == "DISPUTED" and len(reply["history"]) == 3
    assert timers.sweep(now() + timedelta(days=7, seconds=1)) == {}
    assert current(case.case_id).status is CaseStatus.DISPUTED


def test_both_sides_add_evidence_and_each_entry_is_in_the_history(payments: Any) -> None:
    case = disputed()
    status, reply = orders_api(f"/after-sales/{case.case_id}/evidence",
                               body={"text": "外箱压痕明显", "images": [PHOTO, "media_8fJ2kQ0x"]})
    assert status == 201, reply
    status, reply = orders_api(f"/after-sales/{case.case_id}/evidence", MERCHANT,
                               body={"text": "出库视频显示完好", "images": ["https://cdn.example.com/v/1.jpg"]})
    assert status == 201, reply
    assert [(e["actor"], e["text"], e["images"]) for e in reply["evidence"]] == [
        (f"shopper:{SHOPPER.sub}", "外箱压痕明显", [PHOTO, "media_8fJ2kQ0x"]),
        (f"merchant:{MERCHANT.sub}", "出库视频显示完好", ["https://cdn.example.com/v/1.jpg"])]
    assert [(e["type"], e["actor"], e["status"], e["entry"]) for e in reply["history"][-2:]] == [
        ("evidence_added", f"shopper:{SHOPPER.sub}", "DISPUTED", 0),
        ("evidence_added", f"merchant:{MERCHANT.sub}", "DISPUTED", 1)]
    assert current(case.case_id).status is CaseStatus.DISPUTED
    for user in (OTHER_SHOPPER, OTHER_MERCHANT):
        status, problem = orders_api(f"/after-sales/{case.case_id}/evidence", user, {"text": "x"})
        assert status == 404 and problem["code"] == "case_not_found"
    status, seen = ops("GET", "/ops/disputes")
    assert len(seen["items"][0]["evidence"]) == 2


def test_evidence_is_text_and_image_references_within_bounds(payments: Any) -> None:
    case = disputed()
    path = f"/after-sales/{case.case_id}/evidence"
    for body in ({"text": ""}, {"text": "x" * 501}, {"text": "x", "images": ["http://img.example.com/a.jpg"]},
                 {"text": "x", "images": ["javascript:alert(1)"]}, {"text": "x", "images": ["https://u:p@e.com/a"]},
                 {"text": "x", "images": [PHOTO] * 7}, {"text": "x", "image_data": "iVBORw0KGgo="}):
        status, problem = orders_api(path, body=body)
        assert status == 422, (body, problem)
    for n in range(MAX_EVIDENCE):
        assert orders_api(path, body={"text": f"第 {n} 条"})[0] == 201
    status, problem = orders_api(path, body={"text": "one too many"})
    assert status == 409 and problem["code"] == "evidence_limit"


def test_a_finished_case_takes_no_evidence_and_the_shopper_is_not_told_of_evidence(payments: Any) -> None:
    case = disputed()
    assert orders_api(f"/after-sales/{case.case_id}/evidence", body={"text": "补充说明"})[0] == 201
    ops("POST", f"/ops/disputes/{case.case_id}/claim")
    ops("POST", f"/ops/disputes/{case.case_id}/decide", body={"outcome": "reject", "reason": "证据不足"})
    status, problem = orders_api(f"/after-sales/{case.case_id}/evidence", body={"text": "too late"})
    assert status == 409 and problem["code"] == "case_finished"
    from shared.notifications.logic import CaseImage, case_notifications

    told = case_notifications(None, CaseImage.model_validate(current(case.case_id).to_item()))
    assert [n["type"] for n in told] == ["after_sales_requested", "after_sales_rejected", "after_sales_disputed",
                                         "after_sales_closed"]


def test_open_disputes_oldest_first_from_both_ways_in(payments: Any) -> None:
    first = disputed("key-00000001")
    second = as_received(opened(RETURN, order_id=tea_order(key="key-00000002")))
    merchant("POST", f"/merchant/after-sales/{second.case_id}/reject", body={"reason": "退回商品已使用"})
    third = disputed("key-00000003")
    status, page = ops("GET", "/ops/disputes")
    assert status == 200 and [d["case_id"] for d in page["items"]] == [first.case_id, second.case_id, third.case_id]
    assert ops("GET", "/ops/disputes", MERCHANT)[0] == 403
