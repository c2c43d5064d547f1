"""Issue 13 item 4 (first half) over HTTP against the local stack: the demo clearance tea is excluded from 7-day
no-reason returns only with the shopper's consent. Ordered without it: 422 `consent_required` and nothing
written; with it: the order records the consent, and once the parcel is signed for, the tea bought with it
cannot be returned without a reason while the other tea in the parcel can, until `no_reason_return_until`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.e2e.test_order_journey import Api, wait_for_status
from tests.e2e.test_paid_journeys import ADDRESS, FINAL, pay

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CLEARANCE = "TEA-LONGJING-2025-CLEARANCE"  # demo catalog: excluded_with_consent, near_expiry_or_flawed
PUER = "TEA-PUER-357G"  # demo catalog: no policy declared, so physical goods' default (allowed)


def test_a_consent_sku_is_refused_without_consent_and_its_consent_is_recorded_and_honoured(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper = token_for("shopper")
    assert api("GET", f"/catalog/{CLEARANCE}").json()["return_policy"] == {
        "policy": "excluded_with_consent", "reason": "near_expiry_or_flawed"}
    assert api("GET", f"/catalog/{PUER}").json()["return_policy"] == {"policy": "allowed"}
    key = str(uuid.uuid4())
    body = {"items": [{"sku": CLEARANCE, "quantity": 1}, {"sku": PUER, "quantity": 1}], "shipping_address": ADDRESS}

    refused = api("POST", "/orders", token=shopper, headers={"Idempotency-Key": key}, json=body)
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "consent_required" and refused.json()["skus"] == [CLEARANCE]

    # the same key with the consent is a new order (the refusal wrote nothing under it)
    accepted = api("POST", "/orders", token=shopper, headers={"Idempotency-Key": key},
                   json={**body, "return_exclusion_consent": [CLEARANCE]})
    assert accepted.status_code == 202, accepted.text
    order_id = accepted.json()["order_id"]
    order = wait_for_status(api, shopper, order_id, {"AWAITING_PAYMENT"} | FINAL)
    assert order["status"] == "AWAITING_PAYMENT", order
    policies = {line["sku"]: line["return_policy"] for line in order["items"]}
    assert policies == {PUER: None, CLEARANCE: {"policy": "excluded_with_consent", "reason": "near_expiry_or_flawed",
                                                "consented_at": order["created_at"]}}

    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, {"SHIPPED"} | FINAL, timeout_s=20)["status"] == "SHIPPED"
    assert api("GET", f"/orders/{order_id}", token=shopper).json()["no_reason_return_until"] is None
    shipped = api("POST", f"/sandbox/ship/{order_id}?to=delivered")
    assert shipped.status_code == 200, shipped.text
    delivered = wait_for_status(api, shopper, order_id, {"DELIVERED", "COMPLETED"})
    assert delivered["fulfilment"]["signed_at"] and delivered["no_reason_return_until"] > delivered["fulfilment"][
        "signed_at"]

    def open_case(sku: str) -> tuple[int, dict[str, str]]:
        reply = api("POST", f"/orders/{order_id}/after-sales", token=shopper,
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                    json={"type": "return_and_refund", "lines": [{"sku": sku, "quantity": 1}],
                          "reason_code": "seven_day_no_reason"})
        return reply.status_code, reply.json()

    status, problem = open_case(CLEARANCE)
    assert status == 422 and problem["code"] == "return_excluded", problem
    status, case = open_case(PUER)
    assert status == 201 and case["status"] == "REQUESTED", case
