"""The local-only after-sales stand-ins on moto (infra/local/sandbox_aftersales.py): the merchant agreeing refunds
the case once through the sandbox provider, the shopper withdrawing closes it and gives the units back, and the
provider's refund book counts one call per out_refund_no."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local import sandbox_aftersales
from shared.aftersales import store as cases
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case, tea_order
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_payments_helpers import install_payments


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def _act(case_id: str, action: str) -> tuple[int, Any]:
    reply = sandbox_aftersales.handler({"rawPath": f"/sandbox/after-sales/{case_id}",
                                        "pathParameters": {"case_id": case_id},
                                        "queryStringParameters": {"action": action}}, None)
    return reply["statusCode"], json.loads(reply["body"])


def _opened(order_id: str, key: str, quantity: int = 1) -> str:
    status, reply = open_case(order_id, {**REFUND_ONLY, "lines": [{"sku": TEA["sku"], "quantity": quantity}]},
                              key=key)
    assert status == 201, reply
    return str(reply["case_id"])


def test_the_sandbox_merchant_refunds_a_case_once_and_the_provider_book_counts_one_call(payments: Any) -> None:
    order_id = tea_order()
    case_id = _opened(order_id, "case-key-0001", quantity=2)
    status, case = _act(case_id, "refund")
    assert status == 200 and case["status"] == "REFUNDED", case
    assert _act(case_id, "refund")[1]["status"] == "REFUNDED"  # a retry: the same grant, never sent again
    found = cases.get(case_id, consistent=True)
    assert found is not None and found.refund_key is not None
    calls = sandbox_aftersales.refund_calls()
    assert sum(per_api.get(f"{order_id}-{found.refund_key}", 0) for per_api in calls.values()) == 1
    book = sandbox_aftersales.handler({"rawPath": "/sandbox/refunds"}, None)
    assert json.loads(book["body"])["calls"] == calls


def test_the_sandbox_shopper_withdraws_a_case_and_its_units_can_be_claimed_again(payments: Any) -> None:
    order_id = tea_order(quantity=1)
    case_id = _opened(order_id, "case-key-0002")
    status, case = _act(case_id, "close")
    assert status == 200 and case["status"] == "CLOSED"
    assert [step["actor"] for step in case["history"]][-1].startswith("shopper:")
    assert _opened(order_id, "case-key-0003") != case_id  # the unit was given back
    status, problem = _act(case_id, "refund")  # a closed case takes no refund: the domain's 409
    assert status == 409 and problem["code"] == "illegal_case_transition", problem


def test_an_unknown_case_or_action_is_a_problem(payments: Any) -> None:
    assert _act("a" + "b" * 34, "refund")[0] == 404
    status, problem = _act("a" + "b" * 34, "approve")
    assert status == 422 and problem["code"] == "validation_failed"
