"""The payment ledger through the real api_orders and api_ops handlers on moto: who may read it, the sums in
integer fen next to every grant (cancel, case refunds, goodwill, a failed refund, a compensation), and the
invariants: refunded + pending <= captured, and every sum equals its entries, also under concurrent refunds."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.api_ops.handler import handler as api_ops
from functions.api_orders.handler import handler as api_orders
from shared.aftersales import refunding
from shared.aftersales import store as cases
from shared.core import ddb
from shared.core.clock import now_iso
from shared.core.errors import Conflict
from shared.orders import store
from shared.orders.store import order_key
from shared.payments import refunds
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case, tea_order
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_payments import paid_order
from tests.integration.test_payments_helpers import install_payments, post_wechat
from tests.support import MERCHANT, OPS, OTHER_MERCHANT, OTHER_SHOPPER, SHOPPER, User, call

SUMS = ("captured_fen", "refund_pending_fen", "refunded_fen", "refund_failed_fen", "compensation_fen",
        "compensation_pending_fen", "net_kept_fen")


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)
    SandboxHttpClient.reset_refunds()


def read_ledger(order_id: str, user: User = SHOPPER) -> tuple[int, Any]:
    status, reply, _ = call(api_orders, "GET", f"/orders/{order_id}/ledger", user=user)
    return status, reply


def assert_invariants(sheet: dict[str, Any]) -> None:
    """refunded + pending <= captured; every sum is the sum of its entries; net kept = captured - both."""
    refunds_ = [e for e in sheet["entries"] if e["kind"] == "refund"]
    paid_out = [e for e in sheet["entries"] if e["kind"] == "compensation"]

    def total(entries: list[dict[str, Any]], state: str) -> int:
        return sum(e["amount_fen"] for e in entries if e["state"] == state)

    assert sheet["refunded_fen"] + sheet["refund_pending_fen"] <= sheet["captured_fen"]
    assert sheet["refunded_fen"] == total(refunds_, "succeeded")
    assert sheet["refund_pending_fen"] == total(refunds_, "requested")
    assert sheet["refund_failed_fen"] == total(refunds_, "failed")
    assert sheet["compensation_fen"] == total(paid_out, "paid")
    assert sheet["compensation_pending_fen"] == total(paid_out, "requested")
    assert sheet["net_kept_fen"] == sheet["captured_fen"] - sheet["refunded_fen"] - sheet["refund_pending_fen"]
    assert all(type(sheet[name]) is int for name in SUMS)


def test_the_owner_the_shops_merchant_and_ops_read_the_ledger_and_no_one_else(payments: Any) -> None:
    order_id = tea_order()
    for user in (SHOPPER, MERCHANT, OPS):
        status, sheet = read_ledger(order_id, user)
        assert status == 200, sheet
        assert sheet["order_id"] == order_id and sheet["captured_fen"] == 3 * 168_00
    for user in (OTHER_SHOPPER, OTHER_MERCHANT):
        status, problem = read_ledger(order_id, user)
        assert status == 404 and problem["code"] == "order_not_found"


def test_an_unpaid_order_has_an_empty_ledger(payments: Any) -> None:
    from tests.integration.test_payments_helpers import awaiting_order

    status, sheet = read_ledger(awaiting_order())
    assert status == 200 and sheet["entries"] == [] and sheet["captured_fen"] == sheet["net_kept_fen"] == 0


def test_the_ledger_shows_each_grant_with_its_case_and_sums_them(payments: Any, monkeypatch: Any) -> None:
    order_id = tea_order()  # 3 x 168.00, paid by card
    status, reply = open_case(order_id, {**REFUND_ONLY, "lines": [{"sku": TEA["sku"], "quantity": 1}]})
    assert status == 201, reply
    case = cases.get(reply["case_id"], consistent=True)
    assert case is not None
    refunding.start_refund(case, actor="system:test", reason="flash")
    order = store.require(order_id, consistent=True)
    refunds.refund(order, 50_00, refund_key="goodwill", reason="late parcel", actor="ops:1")
    # the returns work adds `compensations` (first-weight return shipping, paid by the platform): read as it lands
    ddb.dynamodb().update_item(
        TableName=ddb.table(), Key=order_key(order_id), UpdateExpression="SET compensations = :c",
        ExpressionAttributeValues=ddb.values(c={"rs-" + case.case_id[27:]: {
            "amount_fen": 12_00, "currency": "CNY", "reason": "return_shipping", "case_id": case.case_id,
            "state": "paid", "out_transfer_no": f"{order_id}-rs-{case.case_id[27:]}", "at": now_iso(),
            "transfer_id": "tr_1", "settled_at": now_iso()}}))

    try:
        status, sheet = read_ledger(order_id)
        status_ops, view = call(api_ops, "GET", f"/ops/orders/{order_id}", user=OPS)[:2]
    finally:  # until the returns work declares `compensations` on the Order aggregate (tests/conftest.py checks)
        ddb.dynamodb().update_item(TableName=ddb.table(), Key=order_key(order_id),
                                   UpdateExpression="REMOVE compensations")
    assert status == 200, sheet
    assert_invariants(sheet)
    assert {name: sheet[name] for name in SUMS} == {
        "captured_fen": 504_00, "refund_pending_fen": 0, "refunded_fen": 168_00 + 50_00, "refund_failed_fen": 0,
        "compensation_fen": 12_00, "compensation_pending_fen": 0, "net_kept_fen": 504_00 - 218_00}
    by_key = {entry["key"]: entry for entry in sheet["entries"]}
    key = refunding.refund_key(case.case_id)
    assert by_key[key]["case_id"] == case.case_id and by_key[key]["amount_fen"] == 168_00
    assert by_key[key]["out_refund_no"] == f"{order_id}-{key}" and by_key[key]["provider_ref"].startswith("re_")
    assert by_key[key]["state"] == "succeeded" and by_key[key]["capture"] == "payment"
    assert by_key[key]["requested_at"] and by_key[key]["settled_at"]
    assert by_key["goodwill"]["case_id"] is None and by_key["goodwill"]["amount_fen"] == 50_00
    compensation = by_key["rs-" + case.case_id[27:]]
    assert (compensation["kind"], compensation["state"], compensation["case_id"]) == ("compensation", "paid",
                                                                                     case.case_id)
    assert status_ops == 200 and view["ledger"] == {name: sheet[name] for name in (*SUMS, "currency")}


def test_a_failed_refund_is_neither_pending_nor_refunded_and_frees_its_amount(payments: Any) -> None:
    SandboxHttpClient.wechat_refund_outcome = "ABNORMAL"
    order = paid_order("wechatpay")  # 99.00
    refunds.refund(order, 60_00, refund_key="a", reason="x", actor="ops:1")
    sheet = read_ledger(order.order_id)[1]
    assert (sheet["refund_pending_fen"], sheet["net_kept_fen"]) == (60_00, 39_00)
    assert_invariants(sheet)
    [notification] = SandboxHttpClient.outbox
    assert post_wechat(notification.headers, notification.body)[0] == 204
    sheet = read_ledger(order.order_id)[1]
    assert (sheet["refund_pending_fen"], sheet["refund_failed_fen"], sheet["net_kept_fen"]) == (0, 60_00, 99_00)
    assert_invariants(sheet)
    SandboxHttpClient.wechat_refund_outcome = None
    refunds.refund(store.require(order.order_id), 99_00, refund_key="b", reason="again", actor="ops:1")
    sheet = read_ledger(order.order_id)[1]
    assert sheet["refunded_fen"] == 99_00 and sheet["net_kept_fen"] == 0
    assert_invariants(sheet)


def test_a_refund_above_what_is_left_answers_409_and_changes_nothing(payments: Any) -> None:
    order = paid_order("card")
    refunds.refund(order, 90_00, refund_key="a", reason="x", actor="ops:1")
    before = store.require(order.order_id, consistent=True)
    with pytest.raises(Conflict) as refused:
        refunds.refund(before, 9_01, refund_key="b", reason="x", actor="ops:1")
    assert (refused.value.status, refused.value.code, refused.value.extra["refundable_fen"]) == (
        409, "refund_exceeds_capture", 9_00)
    assert store.require(order.order_id, consistent=True).version == before.version


@pytest.mark.parametrize("provider", ["card", "alipay", "wechatpay"])
def test_concurrent_refunds_never_together_exceed_the_capture(payments: Any, provider: str) -> None:
    order = paid_order(provider)  # 99.00

    def attempt(n: int) -> str:
        try:
            refunds.refund(order, 30_00, refund_key=f"r{n}", reason="race", actor="ops:1")
        except Conflict as error:
            return error.code
        return "ok"

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert results.count("ok") == 3, results  # 3 x 30.00 fit in 99.00, a 4th does not
    sheet = read_ledger(order.order_id)[1]
    assert sheet["refunded_fen"] == 90_00 and sheet["net_kept_fen"] == 9_00
    assert_invariants(sheet)


@pytest.mark.parametrize("seed", range(4))
def test_any_sequence_of_refunds_keeps_the_ledger_within_the_capture(payments: Any, seed: int) -> None:
    rng = random.Random(seed)
    order = paid_order(rng.choice(["card", "alipay", "wechatpay"]))
    SandboxHttpClient.alipay_refunds_held = rng.random() < 0.5  # some Alipay refunds stay pending
    for n in range(8):
        amount = rng.randint(1, 40_00)
        try:
            refunds.refund(store.require(order.order_id), amount, refund_key=f"k{n}", reason="r", actor="ops:1")
        except Conflict as error:
            assert error.code == "refund_exceeds_capture"
        assert_invariants(read_ledger(order.order_id)[1])
