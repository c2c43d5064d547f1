"""Every example in examples/ (the code the README and docs show) runs against a real local stack and does
what its docs say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from examples import (
    browse_catalog,
    buy_membership,
    cancel_order,
    merchant_shop,
    open_after_sales_case,
    ops_inbox,
    place_digital_order,
    review_held_order,
    ship_physical_order,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def argv(local_stack: dict[str, Any]) -> list[str]:
    """What a reader passes: the API's base URL, and the stack.json `make run` wrote (here: the test stack's)."""
    return [local_stack["api_url"], "--stack", str(Path(local_stack["_log"]).parent / "stack.json")]


def test_browsing_finds_promotions_tea_and_a_404_problem_for_an_unknown_sku(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    seen = browse_catalog.main(argv)
    assert {"PROMO-OFFICIAL-STARTER", "PROMO-OFFICIAL-GROWTH"} <= {s["sku"] for s in seen["search"]}
    assert {s["category"] for s in seen["tea"]} == {"tea"} and len(seen["tea"]) >= 2
    assert seen["detail"]["sku"] == "TEA-PUER-357G" and seen["detail"]["stock"] > 0
    assert seen["missing"]["code"] == "sku_not_found"
    assert "==> Search by keyword" in capsys.readouterr().out


def test_a_digital_order_is_paid_through_the_sandbox_and_completes_with_its_timeline(argv: list[str]) -> None:
    seen = place_digital_order.main(argv)
    assert seen["retried"]["order_id"] == seen["order_id"]
    assert seen["intent"]["provider"] == "wechatpay" and seen["intent"]["params"]["code_url"]
    assert seen["order"]["status"] == "COMPLETED"
    assert seen["order"]["payment"]["amount_fen"] == seen["order"]["total_fen"] == 49900
    statuses = [e["to_status"] for e in seen["events"] if e["to_status"]]
    assert statuses[:2] == ["PLACED", "AWAITING_PAYMENT"]
    assert statuses[-4:] == ["PAID", "FULFILLING", "DELIVERED", "COMPLETED"]
    assert seen["orders"][0]["order_id"] == seen["order_id"]  # newest first
    assert {"paid", "delivered"} <= {n["type"] for n in seen["notifications"]}


def test_cancelling_before_payment_cancels_once_and_then_answers_409(argv: list[str]) -> None:
    seen = cancel_order.main(argv)
    assert seen["cancelled"]["status"] == "CANCELLED"
    assert seen["conflict"]["status"] == 409 and seen["conflict"]["current_status"] == "CANCELLED"


def test_a_paid_membership_shows_on_the_entitlements_ledger(argv: list[str]) -> None:
    seen = buy_membership.main(argv)
    assert seen["order"]["status"] == "COMPLETED"
    assert seen["entitlements"]["membership"]["active"] is True
    assert any(e["sku"] == "MEMBER-PRO-MONTH" and e["action"] == "grant" for e in seen["entitlements"]["entries"])


def test_a_physical_order_ships_and_its_trace_ends_signed(argv: list[str]) -> None:
    seen = ship_physical_order.main(argv)
    assert seen["order"]["status"] in ("DELIVERED", "COMPLETED")
    assert seen["tracking"]["carrier"] and seen["tracking"]["tracking_number"]
    assert seen["tracking"]["traces"][0]["state"] == "SIGNED"  # newest first


def test_a_merchant_lists_stocks_and_reprices_a_sku_and_sees_the_sale(argv: list[str]) -> None:
    seen = merchant_shop.main(argv)
    assert seen["repriced"]["price_fen"] == 1990
    assert seen["order"]["status"] == "COMPLETED" and seen["order"]["total_fen"] == 2 * 1990
    assert seen["sales"]["gross_fen"] >= 2 * 1990 and seen["sales"]["orders_by_status"]["COMPLETED"] >= 1
    assert seen["stock"] == 48


def test_a_reviewer_claims_and_approves_an_order_held_for_its_ad_copy(argv: list[str]) -> None:
    seen = review_held_order.main(argv)
    assert "absolute_terms" in [reason["code"] for reason in seen["entry"]["reasons"]]
    assert "【全网第一】" in seen["entry"]["highlighted_copy"]
    assert seen["lease"]["claimed_by"]
    assert seen["decided"]["decision"] == "approve"
    assert seen["order"]["status"] == "COMPLETED"


def test_ops_find_a_parcel_in_trouble_in_the_inbox(argv: list[str]) -> None:
    seen = ops_inbox.main(argv)
    assert seen["flag"]["ref"] == f"{seen['order_id']}:PROBLEM"
    assert seen["flag"]["payload"]["order_id"] == seen["order_id"]
    assert seen["record"]["trouble"]["state"] == "PROBLEM"


def test_a_shopper_opens_one_after_sales_case_on_a_shipped_order_and_is_told(argv: list[str]) -> None:
    seen = open_after_sales_case.main(argv)
    case = seen["case"]
    assert case["status"] == "REQUESTED" and case["refund_total_fen"] == case["lines"][0]["unit_price_fen"]
    assert seen["retried"]["case_id"] == case["case_id"]
    assert seen["too_many"]["code"] == "quantity_exceeded" and seen["too_many"]["claimable"] == 1
    assert [c["case_id"] for c in seen["on_order"]] == [case["case_id"]]
    assert seen["mine"][0]["case_id"] == case["case_id"]  # newest first
    assert [n["type"] for n in seen["told"]] == ["after_sales_requested"]
    assert "seven_day_no_reason" in {reason["code"] for reason in seen["reasons"]}
