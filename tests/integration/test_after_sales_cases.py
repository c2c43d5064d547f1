"""After-sales cases through the real api_orders handler on moto: open, retry, who may read, and the claim
counters that keep cases within what was bought, even under concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.api_orders.handler import handler as api_orders
from shared.aftersales import service
from shared.aftersales import store as cases
from shared.core.auth import principal_of
from shared.core.errors import Conflict
from shared.orders import store
from shared.orders.models import OrderStatus
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_fulfilment_helpers import fulfilling_order
from tests.support import MERCHANT, OPS, OTHER_MERCHANT, OTHER_SHOPPER, SHOPPER, User, call

REFUND_ONLY = {"type": "refund_only", "lines": [{"sku": TEA["sku"], "quantity": 1}], "reason_code": "damaged",
               "note": "盒子压坏了"}


def open_case(order_id: str, body: dict[str, Any] | None = None, *, key: str | None = "case-key-0001",
              user: User = SHOPPER) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else None
    status, reply, _ = call(api_orders, "POST", f"/orders/{order_id}/after-sales", user=user,
                            body=body if body is not None else REFUND_ONLY, headers=headers)
    return status, reply


def read(path: str, user: User | None = SHOPPER, **query: str) -> tuple[int, Any]:
    status, reply, _ = call(api_orders, "GET", path, user=user, query=query or None)
    return status, reply


def tea_order(quantity: int = 3, key: str = "key-00000001") -> str:
    return str(fulfilling_order(TEA, quantity=quantity, key=key).order_id)


def test_a_shopper_opens_a_refund_case_on_an_order_being_fulfilled(aws: dict[str, str]) -> None:
    order_id = tea_order()
    status, case = open_case(order_id)
    assert status == 201, case
    assert case["status"] == "REQUESTED" and case["type"] == "refund_only" and case["order_id"] == order_id
    assert case["lines"] == [{"sku": TEA["sku"], "title": TEA["title"], "kind": "physical", "quantity": 1,
                              "unit_price_fen": 168_00, "refundable_fen": 168_00}]
    assert case["refund_total_fen"] == 168_00 and case["currency"] == "CNY"
    assert [(e["type"], e["to_status"], e["actor"]) for e in case["history"]] == [
        ("opened", "REQUESTED", f"shopper:{SHOPPER.sub}")]
    assert cases.claims(order_id) == {TEA["sku"]: 1}


def test_a_retry_with_the_same_key_answers_the_same_case_and_claims_nothing_more(aws: dict[str, str]) -> None:
    order_id = tea_order()
    first = open_case(order_id)
    again = open_case(order_id)
    assert first == again and first[0] == 201
    assert cases.claims(order_id) == {TEA["sku"]: 1}
    status, problem = open_case(order_id, {**REFUND_ONLY, "reason_code": "quality_issue"})
    assert status == 422 and problem["code"] == "idempotency_key_reused"


def test_the_idempotency_key_is_required(aws: dict[str, str]) -> None:
    status, problem = open_case(tea_order(), key=None)
    assert status == 400 and problem["code"] == "idempotency_key_required"


def test_someone_elses_order_is_not_found(aws: dict[str, str]) -> None:
    order_id = tea_order()
    status, problem = open_case(order_id, user=OTHER_SHOPPER)
    assert status == 404 and problem["code"] == "order_not_found"
    assert cases.claims(order_id) == {}


def test_an_order_before_fulfilment_is_cancelled_instead(aws: dict[str, str]) -> None:
    order = fulfilling_order(TEA, quantity=1)
    # back to PAID as a fresh order would be: write the stored status, as the paid step leaves it
    from shared.core import ddb

    ddb.dynamodb().update_item(TableName=ddb.table(), Key=store.order_key(order.order_id),
                               UpdateExpression="SET #s = :paid", ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues=ddb.values(paid="PAID"))
    status, problem = open_case(order.order_id)
    assert status == 409 and problem["code"] == "cancel_instead" and problem["next"] == "cancel"
    assert problem["current_status"] == "PAID"


def test_a_completed_order_takes_cases_only_within_its_window(aws: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    order = fulfilling_order(TEA, quantity=2)
    order = store.transition(order, OrderStatus.DELIVERED, actor="test", reason="signed")
    store.transition(order, OrderStatus.COMPLETED, actor="test", reason="return_window_closed")
    assert open_case(order.order_id)[0] == 201
    monkeypatch.setenv("AFTER_SALES_WINDOW_SECONDS", "0")
    from shared.core import config

    config.reset_settings()
    status, problem = open_case(order.order_id, key="case-key-0002")
    assert status == 409 and problem["code"] == "after_sales_window_closed", problem


def test_returns_are_for_physical_goods_and_reasons_must_fit_the_type(aws: dict[str, str]) -> None:
    order_id = tea_order()
    status, problem = open_case(order_id, {**REFUND_ONLY, "reason_code": "wrong_item"})
    assert status == 422 and problem["code"] == "reason_not_allowed_for_type"
    status, problem = open_case(order_id, {**REFUND_ONLY, "reason_code": "no_such_reason"}, key="case-key-0002")
    assert status == 422 and problem["code"] == "unknown_reason"
    # a fault is returned at any stage (a no-reason return waits for 签收: tests/integration/test_return_policy.py)
    status, case = open_case(order_id, {**REFUND_ONLY, "type": "return_and_refund",
                                        "reason_code": "quality_issue"}, key="case-key-0003")
    assert status == 201 and case["type"] == "return_and_refund"


def test_more_units_than_are_left_answer_409(aws: dict[str, str]) -> None:
    order_id = tea_order(quantity=3)
    two = {**REFUND_ONLY, "lines": [{"sku": TEA["sku"], "quantity": 2}]}
    assert open_case(order_id, two)[0] == 201
    status, problem = open_case(order_id, two, key="case-key-0002")
    assert status == 409 and problem["code"] == "quantity_exceeded" and problem["claimable"] == 1
    assert open_case(order_id, key="case-key-0003")[0] == 201
    assert cases.claims(order_id) == {TEA["sku"]: 3}


def test_twenty_concurrent_opens_on_a_line_of_three_claim_exactly_three(aws: dict[str, str]) -> None:
    from shared.aftersales.models import OpenCase

    order_id = tea_order(quantity=3)
    caller = principal_of(SHOPPER.claims())
    body = OpenCase.model_validate(REFUND_ONLY)

    def attempt(n: int) -> str:
        try:
            service.open_case(caller, order_id, f"concurrent-{n:04d}", body)
            return "opened"
        except Conflict as error:
            return error.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert outcomes.count("opened") == 3, outcomes
    assert set(outcomes) == {"opened", "quantity_exceeded"}, outcomes
    opened = cases.for_order(order_id)
    assert sum(line.quantity for case in opened for line in case.lines) == 3
    assert cases.claims(order_id) == {TEA["sku"]: 3}
    assert sorted(line.claimed_from for case in opened for line in case.lines) == [0, 1, 2]


def test_the_owner_the_shops_merchant_and_ops_read_cases_and_no_one_else(aws: dict[str, str]) -> None:
    order_id = tea_order()
    case_id = open_case(order_id)[1]["case_id"]
    for user in (SHOPPER, MERCHANT, OPS):
        status, listed = read(f"/orders/{order_id}/after-sales", user)
        assert status == 200 and [c["case_id"] for c in listed["items"]] == [case_id], user
        status, one = read(f"/after-sales/{case_id}", user)
        assert status == 200 and one["case_id"] == case_id, user
    for user in (OTHER_SHOPPER, OTHER_MERCHANT):
        assert read(f"/orders/{order_id}/after-sales", user)[1]["code"] == "order_not_found"
        assert read(f"/after-sales/{case_id}", user)[1]["code"] == "case_not_found"


def test_my_cases_are_mine_newest_first_with_a_signed_cursor(aws: dict[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cases, "PAGE_SIZE", 2)
    order_id = tea_order(quantity=3)
    ids = [open_case(order_id, key=f"case-key-000{n}")[1]["case_id"] for n in range(3)]
    status, first = read("/me/after-sales")
    assert status == 200 and [c["case_id"] for c in first["items"]] == ids[::-1][:2] and first["cursor"]
    status, second = read("/me/after-sales", cursor=first["cursor"])
    assert status == 200 and [c["case_id"] for c in second["items"]] == ids[:1]
    assert read("/me/after-sales", OTHER_SHOPPER)[1]["items"] == []
    status, problem = read("/me/after-sales", OTHER_SHOPPER, cursor=first["cursor"])
    assert status == 400 and problem["code"] == "invalid_cursor"
    status, problem = read("/me/after-sales", cursor=first["cursor"][:-2] + "AA")
    assert status == 400 and problem["code"] == "invalid_cursor"
    assert read("/orders", SHOPPER)[1]["items"][0]["order_id"] == order_id  # orders' own listing is untouched


def test_the_reason_catalogue_is_public_with_both_labels(aws: dict[str, str]) -> None:
    status, catalogue = read("/after-sales/reasons", None)
    assert status == 200
    by_code = {reason["code"]: reason for reason in catalogue["reasons"]}
    assert by_code["seven_day_no_reason"] == {"code": "seven_day_no_reason",
                                              "labels": {"zh-CN": "七天无理由退货", "en": "7-day no-reason return"},
                                              "types": ["return_and_refund"]}


def test_the_shopper_is_notified_once_that_the_case_was_opened(aws: dict[str, str]) -> None:
    from tests.integration.test_notifications import notify, stream_event

    order_id = tea_order()
    case_id = open_case(order_id)[1]["case_id"]
    event = stream_event()
    notify(event)
    notify(event)  # a redelivered batch stores nothing twice
    status, page = read("/me/notifications")
    assert status == 200
    about_case = [note for note in page["items"] if note.get("case_id") == case_id]
    assert [(n["type"], n["case_status"], n["order_id"], n["amount_fen"]) for n in about_case] == [
        ("after_sales_requested", "REQUESTED", order_id, 168_00)]
    assert read("/me/notifications", OTHER_SHOPPER)[1]["items"] == []


def test_a_case_moves_only_by_its_table_once_per_read_and_each_step_is_told(aws: dict[str, str]) -> None:
    from shared.aftersales.states import CaseStatus
    from tests.integration.test_notifications import notify, stream_event

    order_id = tea_order()
    case = cases.get(open_case(order_id)[1]["case_id"], consistent=True)
    assert case is not None
    with pytest.raises(Conflict) as illegal:
        cases.transition(case, CaseStatus.REFUNDED, actor="test")
    assert illegal.value.code == "illegal_case_transition"
    approved = cases.transition(case, CaseStatus.APPROVED, actor=f"merchant:{MERCHANT.sub}", reason="ok")
    assert (approved.status, approved.version) == (CaseStatus.APPROVED, 2)
    with pytest.raises(Conflict) as stale:  # the same read again: its status and version are gone
        cases.transition(case, CaseStatus.REJECTED, actor="test")
    assert stale.value.code == "case_changed" and stale.value.extra["current_status"] == "APPROVED"
    status, one = read(f"/after-sales/{case.case_id}")
    assert status == 200
    assert [(e["type"], e.get("from_status"), e["to_status"]) for e in one["history"]] == [
        ("opened", None, "REQUESTED"), ("status_changed", "REQUESTED", "APPROVED")]
    notify(stream_event())
    told = [n["type"] for n in read("/me/notifications")[1]["items"] if n.get("case_id") == case.case_id]
    assert told == ["after_sales_approved", "after_sales_requested"]  # newest first
