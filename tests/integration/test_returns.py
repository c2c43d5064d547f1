"""Returns on moto (issue 13 item 4): an approved return waits for the goods with the return address and the
RETURN_SHIP timer, the shopper's parcel is tracked through the couriers' signed pushes, the merchant receives it
line by line (intact units back on sale), the platform pays the return shipping once, and the order completes
only after its cases end."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from shared.aftersales import returns, timers
from shared.aftersales import store as cases
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus
from shared.core.clock import now
from shared.core.errors import Conflict
from shared.orders import store
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    logistics_fixture,
    physical_order,
    ship_order,
)
from tests.integration.test_logistics import STEPS, k100_push

S = CaseStatus
RETURN = {"type": "return_and_refund", "lines": [{"sku": TEA["sku"], "quantity": 1}], "reason_code": "damaged"}


def delivered_order(quantity: int = 2, key: str = "key-00000001") -> str:
    """A tea order shipped from the Hangzhou warehouse and signed for (DELIVERED)."""
    order = physical_order(quantity=quantity, key=key)
    assert ship_order(order.order_id)["status"] == "SHIPPED"
    shipped = store.require(order.order_id, consistent=True)
    status, _ = k100_push(shipped, "SIGNED", history=STEPS)
    assert status == 200
    return str(order.order_id)


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


def _parcel(carrier: str, number: str) -> Any:
    return SimpleNamespace(shipment={"carrier": carrier, "tracking_number": number})
