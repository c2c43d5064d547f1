"""A case's refund on moto: granted on the order's ledger with the case's move, executed once, settled into
REFUNDED; a provider outage is resumed by the REFUND case timer; closing without a refund gives the units back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.aftersales import refunding, timers
from shared.aftersales import store as cases
from shared.aftersales.states import CaseStatus
from shared.core.clock import now
from shared.core.errors import Conflict, Unavailable
from shared.orders import store
from shared.payments import providers
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case, tea_order
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_payments_helpers import install_payments


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def _case(order_id: str, quantity: int = 1, key: str = "case-key-0001") -> Any:
    status, reply = open_case(order_id, {**REFUND_ONLY, "lines": [{"sku": TEA["sku"], "quantity": quantity}]}, key=key)
    assert status == 201, reply
    case = cases.get(reply["case_id"], consistent=True)
    assert case is not None
    return case


def _card_refunds(out_refund_no: str) -> int:
    return SandboxHttpClient.calls.count(("card.refund", out_refund_no))


def test_a_case_refund_is_granted_on_the_ledger_sent_once_and_ends_refunded(payments: Any) -> None:
    order_id = tea_order()
    case = _case(order_id, quantity=2)
    done = refunding.start_refund(case, actor="system:test", reason="flash")
    assert done.status is CaseStatus.REFUNDED and done.refund_amount_fen == 2 * 168_00
    grant = store.require(order_id, consistent=True).payment["refunds"][refunding.refund_key(case.case_id)]  # type: ignore[index]
    assert (grant["amount_fen"], grant["state"]) == (2 * 168_00, "succeeded")
    assert grant["out_refund_no"] == f"{order_id}-{refunding.refund_key(case.case_id)}"
    again = refunding.start_refund(done, actor="system:test", reason="flash")  # a retry of the same action
    assert again.status is CaseStatus.REFUNDED and _card_refunds(grant["out_refund_no"]) == 1
    assert [e.to_status for e in again.events] == [CaseStatus.REQUESTED, CaseStatus.REFUNDING, CaseStatus.REFUNDED]


def test_a_provider_outage_leaves_the_case_refunding_and_the_timer_sends_the_same_grant(
        payments: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = tea_order()
    case = _case(order_id)
    real = providers.send_refund

    def down(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("card provider down", code="provider_unavailable")

    monkeypatch.setattr(providers, "send_refund", down)
    with pytest.raises(Unavailable):
        refunding.start_refund(case, actor="system:test", reason="flash")
    waiting = cases.get(case.case_id, consistent=True)
    assert waiting is not None and waiting.status is CaseStatus.REFUNDING
    assert timers.sweep(now()) == {}  # not due yet
    assert timers.sweep(now() + timedelta(minutes=3))["case_refund_retry"] == 1  # still down: re-armed
    monkeypatch.setattr(providers, "send_refund", real)
    assert timers.sweep(now() + timedelta(minutes=6))["case_refund_refunded"] == 1
    refunded = cases.get(case.case_id, consistent=True)
    assert refunded is not None and refunded.status is CaseStatus.REFUNDED
    assert refunded.model_extra is not None and "GSI3PK" not in refunded.model_extra  # the timer went with the move
    assert _card_refunds(f"{order_id}-{refunding.refund_key(case.case_id)}") == 1
    assert timers.sweep(now() + timedelta(minutes=9)) == {}


def test_a_refund_never_exceeds_what_was_captured_and_not_refunded(payments: Any) -> None:
    order_id = tea_order()
    case = _case(order_id)
    order = store.require(order_id, consistent=True)
    captured = order.payment["amount_fen"]  # type: ignore[index]
    from shared.payments import refunds

    refunds.refund(order, captured - 100_00, refund_key="goodwill", reason="ops goodwill", actor="ops:test")
    with pytest.raises(Conflict) as too_much:
        refunding.start_refund(case, actor="system:test", reason="flash")
    assert too_much.value.code == "refund_exceeds_capture" and too_much.value.extra["refundable_fen"] == 100_00
    unchanged = cases.get(case.case_id, consistent=True)
    assert unchanged is not None and unchanged.status is CaseStatus.REQUESTED
    partial = refunding.start_refund(case, actor="ops:test", reason="arbitration", amount_fen=100_00)
    assert partial.status is CaseStatus.REFUNDED and partial.refund_amount_fen == 100_00


def test_closing_a_case_without_a_refund_gives_its_units_back(payments: Any) -> None:
    order_id = tea_order(quantity=2)
    case = _case(order_id, quantity=2)
    assert cases.claims(order_id) == {TEA["sku"]: 2}
    closed = cases.close(case, actor=f"shopper:{case.shopper_id}", reason="withdrawn")
    assert closed.status is CaseStatus.CLOSED and closed.claims_released
    assert cases.claims(order_id) == {TEA["sku"]: 0}
    assert _case(order_id, quantity=2, key="case-key-0002").status is CaseStatus.REQUESTED
    with pytest.raises(Conflict):
        cases.close(case, actor="test", reason="again")  # the same read: the case moved


def test_a_shopper_withdraws_a_case_and_may_ask_again_for_the_units(payments: Any) -> None:
    from functions.api_orders.handler import handler as api_orders
    from tests.support import OTHER_SHOPPER, SHOPPER, call

    order_id = tea_order(quantity=2)
    case = _case(order_id, quantity=2)
    path = f"/after-sales/{case.case_id}/withdraw"
    status, problem, _ = call(api_orders, "POST", path, user=OTHER_SHOPPER)
    assert status == 404 and problem["code"] == "case_not_found"
    status, closed, _ = call(api_orders, "POST", path, user=SHOPPER)
    assert status == 200 and closed["status"] == "CLOSED"
    assert (closed["history"][-1]["actor"], closed["history"][-1]["reason"]) == (f"shopper:{SHOPPER.sub}", "withdrawn")
    assert call(api_orders, "POST", path, user=SHOPPER)[1] == closed  # a retry
    assert cases.claims(order_id) == {TEA["sku"]: 0}
    again = _case(order_id, quantity=1, key="case-key-0002")
    refunded = refunding.start_refund(again, actor="system:test", reason="test")
    status, problem, _ = call(api_orders, "POST", f"/after-sales/{refunded.case_id}/withdraw", user=SHOPPER)
    assert status == 409 and problem["code"] == "not_withdrawable" and problem["current_status"] == "REFUNDED"
