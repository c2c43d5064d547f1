"""Order decisions with no I/O: ids, pricing, the transition table, timeline events."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from typing_extensions import TypedDict

from shared.core.errors import BadRequest, Conflict, Unprocessable
from shared.orders.models import OrderStatus, PlaceOrder

if TYPE_CHECKING:
    from shared.orders.aggregate import Line, LineReturnPolicy

S = OrderStatus

# Every move the lifecycle allows; anything else answers 409 with the current status.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PLACED: frozenset({S.AWAITING_PAYMENT, S.CANCELLED, S.REJECTED, S.FAILED}),
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.CANCELLED, S.FAILED}),
    S.PAID: frozenset({S.IN_REVIEW, S.FULFILLING, S.REJECTED, S.CANCELLED, S.FAILED}),
    S.IN_REVIEW: frozenset({S.FULFILLING, S.REJECTED, S.CANCELLED}),
    S.FULFILLING: frozenset({S.SHIPPED, S.DELIVERED, S.FAILED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.FAILED}),
    S.DELIVERED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
}

DUE_SHARDS = 16
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


def can_move(current: OrderStatus, to: OrderStatus) -> bool:
    return to in TRANSITIONS[current]


def allowed_from(to: OrderStatus) -> frozenset[OrderStatus]:
    """Every status the table lets become `to` (the workflows' MarkFailed condition is generated from it)."""
    return frozenset(status for status, targets in TRANSITIONS.items() if to in targets)


def check_move(current: OrderStatus, to: OrderStatus) -> None:
    if not can_move(current, to):
        raise Conflict(f"An order in {current.value} cannot become {to.value}.", code="illegal_transition",
                       current_status=current.value)


def order_id_for(shopper_id: str, idempotency_key: str) -> str:
    """The key decides the id, so a retried POST lands on the same item (one conditional write)."""
    digest = hashlib.sha256(f"{shopper_id}:{idempotency_key}".encode()).digest()
    return "o" + base64.b32encode(digest).decode().lower()[:26]


def validate_idempotency_key(raw: str | None) -> str:
    if not raw:
        raise BadRequest("Send an Idempotency-Key header (8-64 of A-Z a-z 0-9 _ . : -), e.g. a UUID.",
                         code="idempotency_key_required")
    if not IDEMPOTENCY_KEY.match(raw):
        raise BadRequest("The Idempotency-Key must be 8-64 of A-Z a-z 0-9 _ . : -.", code="idempotency_key_invalid")
    return raw


def request_hash(body: BaseModel) -> str:
    """The fingerprint of a request body that an Idempotency-Key stands for (POST /orders, after-sales)."""
    canonical = json.dumps(body.model_dump(mode="json", exclude_none=True), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def shard_of(order_id: str) -> int:
    return int(hashlib.sha256(order_id.encode()).hexdigest()[:4], 16) % DUE_SHARDS


def due_key(kind: str, order_id: str, due_iso: str) -> dict[str, str]:
    """Keys for the sparse, sharded `by_due` index (expiry, review queue, completion, re-drive)."""
    return {"GSI3PK": f"DUE#{kind}#{shard_of(order_id):02d}", "GSI3SK": f"{due_iso}#{order_id}"}


class Priced(TypedDict):
    items: list[Line]
    total_fen: int
    currency: str
    shop_id: str
    kind: str


def price(body: PlaceOrder, catalog: dict[str, dict[str, Any]], *, at: str) -> Priced:
    """Lines, total and shop from catalog rows; every rule a shopper can break answers 422. `at` is the
    order's time, recorded as the time of a consent to a return exclusion."""
    quantities: dict[str, int] = {}
    for line in body.items:
        quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    unknown = sorted(sku for sku in quantities if sku not in catalog)
    if unknown:
        raise Unprocessable(f"Unknown SKU: {', '.join(unknown)}.", code="unknown_sku", skus=unknown)
    rows = [catalog[sku] for sku in quantities]
    if len({row["shop_id"] for row in rows}) > 1:
        raise Unprocessable("An order holds one shop's SKUs; place one order per shop.", code="mixed_shops")
    if len({row["currency"] for row in rows}) > 1:
        raise Unprocessable("An order holds one currency.", code="mixed_currency")
    if any(quantity > 999 for quantity in quantities.values()):
        raise Unprocessable("At most 999 units of one SKU per order.", code="quantity_too_large")
    kinds = {row["kind"] for row in rows}
    if len(kinds) > 1:
        raise Unprocessable("An order holds either digital services or physical goods; split it.",
                            code="mixed_kinds")
    if "physical" in kinds and body.shipping_address is None:
        raise Unprocessable("Physical items need a shipping_address.", code="shipping_address_required")
    # entitlements (memberships, credits) go to the buyer's own ledger: only provider-run services need a target
    if body.target is None and any(row["kind"] == "digital" and not row.get("entitlement") for row in rows):
        raise Unprocessable("Digital services need a target (the account or link they act on).",
                            code="target_required")
    consented = _consents(body, catalog, quantities)
    lines: list[Line] = []
    for sku, quantity in quantities.items():
        row = catalog[sku]
        priced_line: Line = {"sku": sku, "title": row["title"], "kind": row["kind"], "category": row["category"],
                      "quantity": quantity, "unit_price_fen": int(row["price_fen"]),
                      "line_total_fen": int(row["price_fen"]) * quantity}
        if row.get("entitlement"):
            # what one unit grants is fixed at the sale: a later catalog edit never changes a paid order
            priced_line["entitlement"] = row["entitlement"]
        recorded = _return_policy(row, consented=sku in consented, at=at)
        if recorded:
            priced_line["return_policy"] = recorded
        lines.append(priced_line)
    return {
        "items": lines,
        "total_fen": sum(line["line_total_fen"] for line in lines),
        "currency": rows[0]["currency"],
        "shop_id": rows[0]["shop_id"],
        "kind": kinds.pop(),
    }


def _consents(body: PlaceOrder, catalog: dict[str, dict[str, Any]], quantities: dict[str, int]) -> set[str]:
    """The SKUs whose exclusion from 7-day no-reason returns the shopper confirmed; 422 `consent_required`
    naming every `excluded_with_consent` SKU of the order that is not confirmed (the 2017 measures art. 7:
    without the shopper's confirmation at purchase, the return cannot be refused)."""
    from shared.catalog.models import EXCLUDED_WITH_CONSENT  # loaded by intake already; other importers skip it

    consented = set(body.return_exclusion_consent or ())
    stray = sorted(consented - quantities.keys())
    if stray:
        raise Unprocessable(f"return_exclusion_consent names SKUs not in the order: {', '.join(stray)}.",
                            code="consent_sku_not_in_order", skus=stray)
    needed = sorted(sku for sku in quantities
                    if (catalog[sku].get("return_policy") or {}).get("policy") == EXCLUDED_WITH_CONSENT)
    missing = [sku for sku in needed if sku not in consented]
    if missing:
        raise Unprocessable("These SKUs are excluded from 7-day no-reason returns only with your consent: list "
                            f"them in return_exclusion_consent to order them: {', '.join(missing)}.",
                            code="consent_required", skus=missing,
                            policies={sku: catalog[sku]["return_policy"] for sku in missing})
    return set(needed)


def _return_policy(row: dict[str, Any], *, consented: bool, at: str) -> LineReturnPolicy | None:
    """What a line records of its SKU's return policy: nothing when it is the kind's default (most lines, so
    their items stay byte for byte as before), else the policy, and the consent's time when one was needed."""
    from shared.catalog.models import return_policy_of

    declared = row.get("return_policy")
    if not declared or declared == return_policy_of(row["kind"], None):
        return None
    recorded: LineReturnPolicy = {"policy": declared["policy"]}
    if declared.get("reason"):
        recorded["reason"] = declared["reason"]
    if consented:
        recorded["consented_at"] = at
    return recorded
