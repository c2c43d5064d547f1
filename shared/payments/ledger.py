"""An order's payment ledger, in integer fen: what was captured, what is being refunded, what was refunded, what
the platform paid as compensation, and every grant behind those sums (GET /orders/{order_id}/ledger).

Read-only and derived from the order item alone, so it can never disagree with the facts it sums:

* captured: the order's `payment` plus any duplicate capture (`duplicate_captures`, refunded in full);
* every refund grant of those captures (`<capture>.refunds[key]`): `requested` (granted, sent or not, not
  settled) counts as refund_pending, `succeeded` as refunded, `failed` as neither (in the ops inbox);
* compensation: the platform's own payouts (`compensations[key]`, e.g. first-weight return shipping), apart from
  the merchant's refunds: `paid` counts as compensation, `requested` as compensation_pending;
* net kept = captured - refunded - refund_pending: what the merchant keeps once every pending refund settles.

Invariants (tests/integration/test_payment_ledger.py): refunded + refund_pending <= captured, and every sum is
the sum of its entries. A grant of an after-sales case (key `as-...`) names its case.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from shared.core.timestamps import Timestamp
from shared.core.types import Fen

if TYPE_CHECKING:
    from shared.orders.aggregate import Order

EntryKind = Literal["refund", "compensation"]


class LedgerEntry(BaseModel):
    """One grant: a refund of a capture, or a compensation the platform pays."""

    kind: EntryKind
    key: str = Field(description="The grant's key: one per action (cancel, as-<case>, paid-after-cancel, ...).")
    capture: str | None = Field(default=None, description="The capture a refund is of: `payment`, or "
                                "`duplicate_captures.<key>`; none for a compensation.")
    case_id: str | None = Field(default=None, description="The after-sales case the grant belongs to, if any.")
    amount_fen: Fen
    state: Literal["requested", "succeeded", "failed", "paid"] = Field(
        description="refund: requested -> succeeded | failed; compensation: requested -> paid | failed.")
    reason: str | None = None
    out_refund_no: str | None = Field(default=None, description="The provider's refund (or transfer) number: "
                                      "fixed per grant, so a retry can never refund twice.")
    provider_ref: str | None = Field(default=None, description="The provider's own id once it accepted it.")
    requested_at: Timestamp | None = None
    settled_at: Timestamp | None = None
    detail: str | None = None


class LedgerSummary(BaseModel):
    """The sums, integer fen."""

    currency: str
    captured_fen: Fen
    refund_pending_fen: Fen
    refunded_fen: Fen
    refund_failed_fen: Fen = Field(description="Refunds the provider refused: neither pending nor refunded "
                                   "(in the ops inbox).")
    compensation_fen: Fen = Field(description="Paid by the platform, apart from the merchant's refunds.")
    compensation_pending_fen: Fen
    net_kept_fen: Fen = Field(description="captured - refunded - refund_pending: what the merchant keeps once "
                              "every pending refund settles.")


class PaymentLedger(LedgerSummary):
    order_id: str
    entries: list[LedgerEntry]


def _captures(order: Order) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if order.payment:
        yield "payment", order.payment
    for key, capture in sorted((order.duplicate_captures or {}).items()):
        yield f"duplicate_captures.{key}", capture


def compensations_of(order: Order) -> Mapping[str, Mapping[str, Any]]:
    """The order's `compensations` (the returns work adds the typed field; until then an extra attribute)."""
    found = getattr(order, "compensations", None)
    return found if isinstance(found, Mapping) else {}


def entries(order: Order) -> list[LedgerEntry]:
    from shared.aftersales.refunding import case_id_of

    found: list[LedgerEntry] = []
    for capture, record in _captures(order):
        for key, grant in (record.get("refunds") or {}).items():
            found.append(LedgerEntry(
                kind="refund", key=key, capture=capture, case_id=case_id_of(order.order_id, key),
                amount_fen=int(grant["amount_fen"]), state=grant.get("state", "requested"),
                reason=grant.get("reason"), out_refund_no=grant.get("out_refund_no"),
                provider_ref=grant.get("provider_refund_id") or None, requested_at=grant.get("at"),
                settled_at=grant.get("settled_at"), detail=grant.get("detail")))
    for key, grant in compensations_of(order).items():
        found.append(LedgerEntry(
            kind="compensation", key=key, case_id=grant.get("case_id"), amount_fen=int(grant.get("amount_fen", 0)),
            state=grant.get("state", "requested"), reason=grant.get("reason"),
            out_refund_no=grant.get("out_transfer_no"), provider_ref=grant.get("transfer_id") or None,
            requested_at=grant.get("at"), settled_at=grant.get("settled_at"), detail=grant.get("detail")))
    found.sort(key=lambda entry: (str(entry.requested_at or ""), entry.kind, entry.key))
    return found


def _sum(found: list[LedgerEntry], kind: EntryKind, state: str) -> int:
    return sum(entry.amount_fen for entry in found if entry.kind == kind and entry.state == state)


def summarise(order: Order, found: list[LedgerEntry]) -> dict[str, Any]:
    captured = sum(int(record.get("amount_fen", 0)) for _, record in _captures(order))
    pending, refunded = _sum(found, "refund", "requested"), _sum(found, "refund", "succeeded")
    return {
        "currency": order.currency, "captured_fen": captured, "refund_pending_fen": pending,
        "refunded_fen": refunded, "refund_failed_fen": _sum(found, "refund", "failed"),
        "compensation_fen": _sum(found, "compensation", "paid"),
        "compensation_pending_fen": _sum(found, "compensation", "requested"),
        "net_kept_fen": captured - refunded - pending,
    }


def ledger(order: Order) -> PaymentLedger:
    found = entries(order)
    return PaymentLedger(order_id=order.order_id, entries=found, **summarise(order, found))


def summary(order: Order) -> LedgerSummary | None:
    """The sums alone (the ops order view), or None for an order nothing was captured for."""
    if not order.payment and not order.duplicate_captures and not compensations_of(order):
        return None
    return LedgerSummary(**summarise(order, entries(order)))
