"""7-day no-reason returns (七天无理由退货) through the real handlers on moto: a SKU declares its return policy,
POST /orders takes the shopper's consent for the SKUs excluded only with it, and a no-reason case opens only for
lines the law lets back, from the carrier's 签收 (a real Kuaidi100 push) until 7 x 24 hours from the next day."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from functions.api_catalog.handler import handler as catalog_handler
from functions.api_merchant.handler import handler as merchant_handler
from shared.logistics.adapters import kuaidi100
from shared.orders import logic, store
from shared.orders.models import PlaceOrder
from tests.integration.test_after_sales_cases import open_case, read
from tests.integration.test_catalog_and_intake import AD_SLOT, ADDRESS, TEA, create, order_body, place, table_items
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    SALT,
    fulfilling_order,
    logistics_fixture,
    post_form,
    ship_order,
)
from tests.support import MERCHANT, call


def goods(sku: str, title: str, category: str, price_fen: int, policy: str, reason: str) -> dict[str, Any]:
    return {"sku": sku, "title": title, "category": category, "kind": "physical", "price_fen": price_fen,
            "currency": "CNY", "stock": 50, "return_policy": {"policy": policy, "reason": reason}}


LYCHEE = goods("fresh-lychee-2500g", "妃子笑荔枝 2.5kg 冷链", "fresh_fruit", 128_00, "excluded_by_law", "perishable")
SEAL = goods("seal-engraved-custom", "寿山石姓名章 (按您的文字刻)", "stationery", 198_00, "excluded_by_law",
             "custom_made")
MAGAZINE = goods("mag-readers-monthly", "《读者》当期", "periodicals", 10_00, "excluded_by_law", "periodical")
CLEARANCE = goods("tea-longjing-clearance", "西湖龙井 100g 临期", "tea", 49_00, "excluded_with_consent",
                  "near_expiry_or_flawed")
LINE_KEYS = {"sku", "title", "kind", "category", "quantity", "unit_price_fen", "line_total_fen"}

# Signed for at 23:30 China time: the window ends 7 x 24 hours later, 2026-12-14 23:30 CST.
ORDERED = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SIGNED = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
UNTIL = datetime(2026, 12, 14, 15, 30, tzinfo=UTC)
NO_REASON = {"type": "return_and_refund", "reason_code": "seven_day_no_reason"}


def no_reason(*skus: dict[str, Any], reason_code: str = "seven_day_no_reason") -> dict[str, Any]:
    return {**NO_REASON, "reason_code": reason_code, "lines": [{"sku": sku["sku"], "quantity": 1} for sku in skus]}


def fault(*skus: dict[str, Any]) -> dict[str, Any]:
    return {**no_reason(*skus), "reason_code": "quality_issue"}


def sku_view(sku: object) -> dict[str, Any]:
    status, detail, _ = call(catalog_handler, "GET", f"/catalog/{sku}")
    assert status == 200, detail
    return dict(detail)


def order_of(*skus: dict[str, Any], key: str = "key-00000001", quantity: int = 1, **body: Any) -> str:
    """A FULFILLING order of `quantity` units of the first SKU and one of each other (intake, reserve, paid)."""
    first, *rest = skus
    order: Any = fulfilling_order(first, key=key, quantity=quantity, also=tuple((sku, 1) for sku in rest), **body)
    return str(order.order_id)


def sign_for(order_id: str, at: datetime = SIGNED) -> None:
    """Ship the order, then Kuaidi100 pushes 揽收 .. 签收 with the last trace at `at` (the real callback path)."""
    assert ship_order(order_id)["status"] == "SHIPPED"
    shipment = store.require(order_id, consistent=True).shipment
    assert shipment is not None
    names = [("1", "已揽收"), ("0", "运输中"), ("5", "派件中"), ("3", "已签收")]
    traces = [(at - timedelta(hours=3 - i), f"{text} 杭州", kuaidi100.status_name(code))
              for i, (code, text) in enumerate(names)][::-1]
    param, sign = kuaidi100.build_push(company=shipment["carrier"], number=shipment["tracking_number"],
                                       state_code="3", traces=traces, salt=SALT)
    status, _ = post_form("/logistics/kuaidi100/notify", {"param": param, "sign": sign})
    assert status == 200
    signed = store.require(order_id, consistent=True)
    assert signed.status == "DELIVERED" and (signed.fulfilment or {}).get("signed_at") == "2026-12-07T15:30:00.000Z"


# ---------------------------------------------------------------- the catalog

def test_each_sku_shows_its_return_policy_and_an_undeclared_one_gets_its_kinds_default(aws: dict[str, str]) -> None:
    for sku in (TEA, AD_SLOT, LYCHEE, CLEARANCE):
        create(sku)
    assert sku_view(TEA["sku"])["return_policy"] == {"policy": "allowed"}
    assert sku_view(AD_SLOT["sku"])["return_policy"] == {"policy": "excluded_by_law", "reason": "digital_content"}
    assert sku_view(LYCHEE["sku"])["return_policy"] == LYCHEE["return_policy"]
    assert sku_view(CLEARANCE["sku"])["return_policy"] == CLEARANCE["return_policy"]
    status, page, _ = call(catalog_handler, "GET", "/catalog", query={"category": "tea"})
    assert status == 200
    assert {item["sku"]: item["return_policy"] for item in page["items"]} == {
        TEA["sku"]: {"policy": "allowed"}, CLEARANCE["sku"]: CLEARANCE["return_policy"]}


@pytest.mark.parametrize("policy", [
    {"policy": "allowed", "reason": "perishable"},  # allowed names no reason
    {"policy": "excluded_by_law"},  # the law's reason is required
    {"policy": "excluded_by_law", "reason": "near_expiry_or_flawed"},  # a consent reason is not the law's
    {"policy": "excluded_with_consent", "reason": "perishable"},  # perishable goods are excluded by law outright
    {"policy": "excluded_with_consent"},
    {"policy": "never"},
], ids=["allowed-with-reason", "law-without-reason", "law-with-consent-reason", "consent-with-law-reason",
        "consent-without-reason", "unknown-policy"])
def test_a_policy_the_law_does_not_know_is_refused_and_nothing_is_written(aws: dict[str, str],
                                                                         policy: dict[str, Any]) -> None:
    before = table_items()
    status, problem, _ = call(merchant_handler, "POST", "/merchant/skus", user=MERCHANT,
                              body={**TEA, "return_policy": policy})
    assert status == 422 and problem["code"] == "validation_failed", problem
    assert table_items() == before


def test_a_replaced_policy_applies_to_new_orders_and_an_earlier_order_keeps_its_own(
        logistics: dict[str, str]) -> None:
    earlier = order_of(TEA)
    fields = {key: value for key, value in TEA.items() if key not in ("sku", "stock")}
    status, replaced, _ = call(merchant_handler, "PUT", f"/merchant/skus/{TEA['sku']}", user=MERCHANT,
                               body={**fields, "return_policy": CLEARANCE["return_policy"]})
    assert status == 200 and replaced["return_policy"] == CLEARANCE["return_policy"]
    assert sku_view(TEA["sku"])["return_policy"] == CLEARANCE["return_policy"]
    status, problem, _ = place(order_body(items=[{"sku": TEA["sku"], "quantity": 1}], target=None,
                                          shipping_address=ADDRESS), key="key-00000002")
    assert status == 422 and problem["code"] == "consent_required"
    # the earlier order was sold as returnable: it stays so (no consent was asked, none can be assumed)
    sign_for(earlier)
    with time_machine.travel(SIGNED + timedelta(days=1), tick=False):
        status, case = open_case(earlier, no_reason(TEA))
    assert status == 201, case
    status, back, _ = call(merchant_handler, "PUT", f"/merchant/skus/{TEA['sku']}", user=MERCHANT, body=fields)
    assert status == 200 and back["return_policy"] == {"policy": "allowed"}  # PUT without it: the default again


# ---------------------------------------------------------------- the consent at POST /orders

def physical_body(*skus: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"items": [{"sku": sku["sku"], "quantity": 1} for sku in skus], "shipping_address": ADDRESS, **extra}


def test_a_consent_sku_ordered_without_consent_is_422_naming_it_and_nothing_is_written(aws: dict[str, str]) -> None:
    for sku in (TEA, CLEARANCE):
        create(sku)
    before = table_items()
    status, problem, headers = place(physical_body(TEA, CLEARANCE))
    assert status == 422 and headers["Content-Type"] == "application/problem+json"
    assert problem["code"] == "consent_required" and problem["skus"] == [CLEARANCE["sku"]]
    assert problem["policies"] == {CLEARANCE["sku"]: CLEARANCE["return_policy"]}
    assert table_items() == before


def test_the_consent_is_recorded_on_the_line_with_the_orders_time(aws: dict[str, str]) -> None:
    for sku in (TEA, CLEARANCE):
        create(sku)
    with time_machine.travel(ORDERED, tick=False):
        status, accepted, _ = place(physical_body(TEA, CLEARANCE, return_exclusion_consent=[CLEARANCE["sku"]]))
    assert status == 202, accepted
    order = store.require(accepted["order_id"], consistent=True)
    lines = {line["sku"]: line for line in order.to_item()["items"]}
    assert set(lines[TEA["sku"]]) == LINE_KEYS  # an allowed line records nothing
    assert lines[CLEARANCE["sku"]]["return_policy"] == {
        "policy": "excluded_with_consent", "reason": "near_expiry_or_flawed", "consented_at": order.created_at}
    assert order.created_at == "2026-12-06T09:00:00.000Z"
    status, view = read(f"/orders/{order.order_id}")
    assert status == 200
    assert {line["sku"]: line["return_policy"] for line in view["items"]} == {
        TEA["sku"]: None, CLEARANCE["sku"]: lines[CLEARANCE["sku"]]["return_policy"]}


def test_a_consent_for_a_sku_outside_the_order_is_refused(aws: dict[str, str]) -> None:
    create(TEA)
    status, problem, _ = place(physical_body(TEA, return_exclusion_consent=[CLEARANCE["sku"]]))
    assert status == 422 and problem["code"] == "consent_sku_not_in_order" and problem["skus"] == [CLEARANCE["sku"]]


def test_orders_without_such_skus_store_exactly_what_they_stored_before(aws: dict[str, str]) -> None:
    for sku in (TEA, AD_SLOT, LYCHEE):
        create(sku)
    bodies = {"physical": physical_body(TEA), "digital": order_body(),
              "consent-not-needed": physical_body(TEA, return_exclusion_consent=[TEA["sku"]])}
    for n, body in enumerate(bodies.values()):
        status, accepted, _ = place(body, key=f"key-0000010{n}")
        assert status == 202, accepted
        item = store.require(accepted["order_id"], consistent=True).to_item()
        assert all(set(line) == LINE_KEYS for line in item["items"]), item["items"]
        assert "return_exclusion_consent" not in item
    # the idempotency fingerprint of a body without the new field is the one it always was
    assert logic.request_hash(PlaceOrder.model_validate(bodies["physical"])) == logic.request_hash(
        PlaceOrder.model_validate({**bodies["physical"], "return_exclusion_consent": None}))
    # an excluded_by_law physical line records its exclusion (it is not its kind's default)
    status, accepted, _ = place(physical_body(LYCHEE), key="key-00000200")
    line = store.require(accepted["order_id"], consistent=True).items[0]
    assert line.get("return_policy") == {"policy": "excluded_by_law", "reason": "perishable"}


# ---------------------------------------------------------------- opening a no-reason case

@pytest.mark.parametrize(("sku", "consent"), [(LYCHEE, False), (SEAL, False), (MAGAZINE, False), (CLEARANCE, True)],
                         ids=["perishable", "custom_made", "periodical", "consented"])
def test_an_excluded_line_is_not_returned_without_a_reason_but_a_fault_still_is(
        logistics: dict[str, str], sku: dict[str, Any], consent: bool) -> None:
    extra: dict[str, Any] = {"return_exclusion_consent": [sku["sku"]]} if consent else {}
    order_id = order_of(TEA, sku, **extra)
    sign_for(order_id)
    with time_machine.travel(SIGNED + timedelta(hours=1), tick=False):
        status, problem = open_case(order_id, no_reason(TEA, sku))
        assert status == 422 and problem["code"] == "return_excluded", problem
        assert problem["lines"] == [{"sku": sku["sku"], **sku["return_policy"],
                                     **({"consented_at": problem["lines"][0]["consented_at"]} if consent else {})}]
        status, problem = open_case(order_id, no_reason(sku, reason_code="no_longer_needed"), key="case-key-0002")
        assert status == 422 and problem["code"] == "return_excluded"
        assert open_case(order_id, no_reason(TEA), key="case-key-0003")[0] == 201  # the allowed line goes back
        assert open_case(order_id, fault(sku), key="case-key-0004")[0] == 201  # a fault is not a no-reason return


def test_a_no_reason_return_waits_for_the_parcel_to_be_signed_for(logistics: dict[str, str]) -> None:
    order_id = order_of(TEA, key="key-00000001")
    status, problem = open_case(order_id, no_reason(TEA))
    assert status == 409 and problem["code"] == "not_yet_signed_for" and problem["current_status"] == "FULFILLING"
    assert ship_order(order_id)["status"] == "SHIPPED"
    status, problem = open_case(order_id, no_reason(TEA), key="case-key-0002")
    assert status == 409 and problem["code"] == "not_yet_signed_for" and problem["current_status"] == "SHIPPED"
    assert read(f"/orders/{order_id}")[1]["no_reason_return_until"] is None
    assert open_case(order_id, fault(TEA), key="case-key-0003")[0] == 201  # a fault does not wait


def test_the_window_runs_seven_times_24_hours_from_signing_for(logistics: dict[str, str]) -> None:
    order_id = order_of(TEA, quantity=3)
    sign_for(order_id)
    status, view = read(f"/orders/{order_id}")
    assert status == 200 and view["no_reason_return_until"] == "2026-12-14T15:30:00.000Z"
    assert view["fulfilment"]["signed_at"] == "2026-12-07T15:30:00.000Z"
    with time_machine.travel(SIGNED + timedelta(days=6, hours=23), tick=False):
        assert open_case(order_id, no_reason(TEA))[0] == 201
    with time_machine.travel(UNTIL - timedelta(milliseconds=1), tick=False):
        assert open_case(order_id, no_reason(TEA), key="case-key-0002")[0] == 201
    with time_machine.travel(UNTIL, tick=False):
        status, problem = open_case(order_id, no_reason(TEA), key="case-key-0003")
        assert status == 409 and problem["code"] == "return_window_closed", problem
        assert problem["no_reason_return_until"] == "2026-12-14T15:30:00.000Z"
        assert problem["signed_for_at"] == "2026-12-07T15:30:00.000Z"
        status, problem = open_case(order_id, no_reason(TEA, reason_code="no_longer_needed"), key="case-key-0004")
        assert status == 409 and problem["code"] == "return_window_closed"
        # a quality problem is not limited by the 7 days (the after-sales window applies)
        assert open_case(order_id, fault(TEA), key="case-key-0005")[0] == 201


def test_the_view_shows_no_window_when_every_line_is_excluded(logistics: dict[str, str]) -> None:
    order_id = order_of(LYCHEE, MAGAZINE)
    sign_for(order_id)
    status, view = read(f"/orders/{order_id}")
    assert status == 200 and view["status"] == "DELIVERED" and view["no_reason_return_until"] is None
    with contextlib.suppress(AssertionError):
        create(AD_SLOT)
    digital = order_of(AD_SLOT, key="key-00000009")
    assert read(f"/orders/{digital}")[1]["no_reason_return_until"] is None
