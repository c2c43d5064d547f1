"""Memberships and ad credits are delivered by order24 itself, on the entitlements ledger: the real deliver
handler grants them once, GET /me/entitlements shows them to their owner only, and a refund of a delivered
item takes back what is left of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine

from functions.api_catalog.handler import handler as catalog_handler
from functions.api_merchant.handler import handler as merchant_handler
from shared.core.clock import now, parse_iso
from shared.entitlements import store as ledger
from shared.entitlements.models import EntitlementKind, Entry, EntryAction
from shared.orders import store
from shared.orders.aggregate import Line, Order
from shared.payments import refunds
from shared.sandbox import digital as sandbox_digital
from tests.integration.test_catalog_and_intake import AD_SLOT, create
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    deliver_order,
    fresh_sandbox_fixture,
    fulfilling_order,
    get,
    logistics_fixture,
)
from tests.support import MERCHANT, OTHER_SHOPPER, SHOPPER, call

DAY = timedelta(days=1)
MEMBERSHIP = {"sku": "member-pro-month", "title": "Pro 会员 1 个月", "category": "membership", "kind": "digital",
              "price_fen": 99_00, "currency": "CNY", "stock": 100, "fulfilment": "entitlement",
              "entitlement": {"kind": "membership", "days": 30}}
CREDITS = {"sku": "credits-ads-1000", "title": "广告金 1000", "category": "credits", "kind": "digital",
           "price_fen": 1000_00, "currency": "CNY", "stock": 100, "fulfilment": "entitlement",
           "entitlement": {"kind": "credits", "units": 1000}}
DOWN = "https://shop.example.com/store/42#down"  # the sandbox provider never answers this target


@pytest.fixture(autouse=True)
def _sandbox(fresh_sandbox: None) -> None:
    return None


def mine(user: Any = SHOPPER) -> dict[str, Any]:
    status, body = get("/me/entitlements", user)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def entries(order_id: str) -> list[Entry]:
    return [e for e in ledger.entries(SHOPPER.sub, consistent=True) if e.order_id == order_id]


def delivered(sku: dict[str, Any], *, quantity: int = 1, key: str = "key-00000001") -> dict[str, Any]:
    order = fulfilling_order(sku, quantity=quantity, key=key)
    assert deliver_order(order.order_id)["status"] == "COMPLETED"
    return order


def test_membership_is_granted_once_when_the_deliver_step_is_replayed(aws: dict[str, str]) -> None:
    order = fulfilling_order(MEMBERSHIP)

    first = deliver_order(order.order_id)
    second = deliver_order(order.order_id)

    assert first == second and first["status"] == "COMPLETED"
    grants = entries(order.order_id)
    assert [(e.kind, e.action, e.amount) for e in grants] == [
        (EntitlementKind.MEMBERSHIP, EntryAction.GRANT, 30 * 86_400)
    ]
    done = store.require(order.order_id, consistent=True)
    assert done.delivery["items"][MEMBERSHIP["sku"]]["provider_ref"] == "entitlement:membership"
    # PAID -> COMPLETED stays one order write: two events, one version step
    assert done.version == order.version + 1
    assert [getattr(e, "to_status", None) for e in done.events][-2:] == ["DELIVERED", "COMPLETED"]
    assert sandbox_digital.provider().attempts == {}  # the outside provider was never asked


def test_shopper_reads_their_membership_and_another_shopper_sees_none_of_it(aws: dict[str, str]) -> None:
    delivered(MEMBERSHIP)

    view = mine()
    assert view["membership"]["active"] is True
    until = parse_iso(view["membership"]["active_until"])
    assert abs((until - now()) - 30 * DAY) < timedelta(minutes=1)
    assert view["credits"] == {"balance": 0}
    assert [(e["kind"], e["action"], e["unit"]) for e in view["entries"]] == [("membership", "grant", "seconds")]

    other = mine(OTHER_SHOPPER)
    assert other == {"membership": {"active": False, "active_until": None}, "credits": {"balance": 0},
                     "entries": []}


def test_entitlements_need_a_signed_in_shopper(aws: dict[str, str]) -> None:
    status, body = get("/me/entitlements", None)  # type: ignore[arg-type]
    assert status == 401 and body["code"] and body["status"] == 401


def test_a_membership_bought_twice_stacks_after_the_first(aws: dict[str, str]) -> None:
    delivered(MEMBERSHIP, key="key-00000001")
    with time_machine.travel(now() + 5 * DAY, tick=False):
        delivered(MEMBERSHIP, quantity=2, key="key-00000002")

    grants = sorted(ledger.entries(SHOPPER.sub), key=lambda e: e.at)
    until = parse_iso(mine()["membership"]["active_until"])
    assert until - parse_iso(grants[0].at) == 90 * DAY  # 30 days, then 2 x 30 from the end, not from day 5


def test_a_membership_needs_no_target_as_it_goes_to_the_buyer(aws: dict[str, str]) -> None:
    order = fulfilling_order(MEMBERSHIP, target=None)
    assert not order.has("target")
    assert deliver_order(order.order_id)["status"] == "COMPLETED"
    assert mine()["membership"]["active"] is True


def test_credits_are_added_per_unit_bought(aws: dict[str, str]) -> None:
    delivered(CREDITS, quantity=3)
    delivered(CREDITS, key="key-00000002")
    assert mine()["credits"] == {"balance": 4000}


def test_refund_revokes_the_rest_of_the_membership(aws: dict[str, str], logistics: dict[str, str]) -> None:
    # given a membership granted in an order whose ad slot the provider never delivers
    order = fulfilling_order(MEMBERSHIP, also=((AD_SLOT, 1),), target=DOWN)
    with pytest.raises(Exception, match="unavailable"):
        deliver_order(order.order_id)
    granted_at = parse_iso(entries(order.order_id)[0].at)
    refund_at = granted_at + 10 * DAY
    # when the sweeper gives up on the order ten days later and refunds it
    with time_machine.travel(refund_at, tick=False):
        failed = refunds.fail_and_refund(store.require(order.order_id), reason="fulfilment_stuck",
                                         actor="system:sweeper")
        # then the 20 unused days are taken back, and the membership ends now
        assert failed.status == "FAILED" and failed.payment["refunds"]["fail"]["state"] == "succeeded"
        view = mine()
        assert view["membership"] == {"active": False, "active_until": view["membership"]["active_until"]}
        assert parse_iso(view["membership"]["active_until"]) == refund_at
        newest = view["entries"][0]
        assert (newest["action"], newest["amount"]) == ("revoke", -20 * 86_400)
        # and a replayed refund revokes nothing more
        refunds.fail_and_refund(store.require(order.order_id), reason="fulfilment_stuck", actor="system:sweeper")
        assert len(entries(order.order_id)) == 2


def test_refund_takes_back_the_unspent_credits_but_never_more_than_granted(
    aws: dict[str, str], logistics: dict[str, str]
) -> None:
    delivered(CREDITS, key="key-00000009")  # 1,000 credits from an earlier order, not refunded
    order = fulfilling_order(CREDITS, quantity=2, also=((AD_SLOT, 1),), target=DOWN)
    with pytest.raises(Exception, match="unavailable"):
        deliver_order(order.order_id)
    assert mine()["credits"] == {"balance": 3000}
    ledger.append(SHOPPER.sub, Entry(kind=EntitlementKind.CREDITS, action=EntryAction.SPEND, amount=-600,
                                     at=now().isoformat(), order_id="campaign-1", sku="ad-spend",
                                     reference="spend:day-1"))

    refunds.fail_and_refund(store.require(order.order_id), reason="fulfilment_stuck", actor="system:sweeper")

    # 2,400 left, but the refunded item granted 2,000: only those go
    assert mine()["credits"] == {"balance": 400}
    assert [e.amount for e in entries(order.order_id) if e.action is EntryAction.REVOKE] == [-2000]


@pytest.mark.parametrize("also", [(), ((CREDITS, 2),)], ids=["one item", "two items"])
def test_an_order_failed_while_its_grant_was_written_takes_the_grant_back(
    aws: dict[str, str], logistics: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    also: tuple[tuple[dict[str, Any], int], ...],
) -> None:
    from shared.entitlements import service

    order = fulfilling_order(MEMBERSHIP, also=also)
    real_grant = service.grant

    def grant_while_the_sweeper_fails_it(current: Order, line: Line) -> Entry:
        if store.require(current.order_id).status == "FULFILLING":
            # the sweeper fails and refunds the order first: its revoke finds nothing granted yet
            refunds.fail_and_refund(store.require(current.order_id), reason="fulfilment_stuck",
                                    actor="system:sweeper")
        return real_grant(current, line)

    monkeypatch.setattr(service, "grant", grant_while_the_sweeper_fails_it)
    assert deliver_order(order.order_id)["status"] == "FAILED"

    assert mine()["membership"]["active"] is False and mine()["credits"] == {"balance": 0}
    actions = sorted(e.action for e in entries(order.order_id))
    assert actions == sorted([EntryAction.GRANT, EntryAction.REVOKE] * (1 + len(also)))


def test_catalog_describes_how_a_sku_is_delivered(aws: dict[str, str]) -> None:
    create(MEMBERSHIP)
    create(AD_SLOT)
    status, membership, _ = call(catalog_handler, "GET", f"/catalog/{MEMBERSHIP['sku']}")
    assert status == 200
    assert membership["fulfilment"] == "entitlement"
    assert membership["entitlement"] == {"kind": "membership", "days": 30}
    status, slot, _ = call(catalog_handler, "GET", f"/catalog/{AD_SLOT['sku']}")
    assert slot["fulfilment"] == "provider" and slot["entitlement"] is None


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "physical", "shipping": None},  # only digital SKUs are ours to grant
        {"entitlement": None},  # entitlement fulfilment needs a spec
        {"fulfilment": "provider"},  # a spec without entitlement fulfilment
        {"entitlement": {"kind": "membership", "units": 5}},  # membership counts days
    ],
)
def test_an_inconsistent_delivery_description_is_refused(aws: dict[str, str], change: dict[str, Any]) -> None:
    body = {**MEMBERSHIP, **{k: v for k, v in change.items() if k != "shipping"}}
    body = {k: v for k, v in body.items() if v is not None}
    status, problem, headers = call(merchant_handler, "POST", "/merchant/skus", user=MERCHANT, body=body)
    assert status == 422, problem
    assert headers["Content-Type"].startswith("application/problem+json") and problem["code"]
