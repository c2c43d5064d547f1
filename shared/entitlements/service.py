"""Grant on delivery, revoke on refund, read for the shopper.

Called by `shared.fulfilment.delivery` (grant: the deliver step's entitlement items) and by the refund paths
(`shared.payments.refunds` on a whole-order exit, `shared.fulfilment.delivery` for an item refunded as
undelivered). The arithmetic and its rounding rule are in `shared.entitlements.logic`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.core.clock import iso, now, now_iso, parse_iso
from shared.entitlements import logic, store
from shared.entitlements.models import (
    CreditsView,
    EntitlementKind,
    Entitlements,
    Entry,
    EntryAction,
    EntryView,
    MembershipView,
)
from shared.orders.aggregate import Line, Order

logger = logging.getLogger("order24.entitlements")
SHOWN_ENTRIES = 100


def is_entitlement(line: Mapping[str, Any]) -> bool:
    """Order lines carry the SKU's entitlement spec (fixed at pricing) exactly when order24 delivers them."""
    return bool(line.get("entitlement"))


def grant(order: Order, line: Line) -> Entry:
    """Grant what the item bought, once per (order, item): a replay finds the entry and writes nothing."""
    kind, amount = logic.granted(line["entitlement"], int(line["quantity"]))
    entry = Entry(kind=kind, action=EntryAction.GRANT, amount=amount, at=now_iso(), order_id=order.order_id,
                  sku=line["sku"], reference=logic.GRANT, quantity=int(line["quantity"]))
    if not store.append(order.shopper_id, entry):
        logger.info("entitlement already granted", extra={"order_id": order.order_id, "sku": line["sku"]})
    return entry


def revoke_order(order: Order, refund_key: str) -> int:
    """The whole order was refunded: revoke what is left of every granted item. Returns entries written."""
    lines = [line for line in order.items if is_entitlement(line)]
    if not lines:
        return 0  # nothing of ours in the order: no read at all
    return _revoke(order, [(line, int(line["quantity"])) for line in lines], refund_key)


def revoke_line(order: Order, line: Line, units: int, refund_key: str) -> int:
    """`units` of one item were refunded: revoke their share of what is left of its grant."""
    if not is_entitlement(line) or units <= 0:
        return 0
    return _revoke(order, [(line, units)], refund_key)


def _revoke(order: Order, refunded: list[tuple[Line, int]], refund_key: str) -> int:
    """One consistent read of the shopper's ledger, then one conditional put per granted item, keyed by
    the refund: a replayed refund writes nothing, and an item never granted has nothing to revoke."""
    shopper_id = order.shopper_id
    entries = store.entries(shopper_id, consistent=True)
    reference = logic.revoke_reference(refund_key)
    at = now()
    written = 0
    for line, units in refunded:
        mine = [e for e in entries if e.order_id == order.order_id and e.sku == line["sku"]]
        grant_entry = next((e for e in mine if e.action is EntryAction.GRANT), None)
        if grant_entry is None or any(e.reference == reference for e in mine):
            continue
        amount = logic.revoke_amount(entries, grant_entry, at, units)
        entry = Entry(kind=grant_entry.kind, action=EntryAction.REVOKE, amount=-amount, at=iso(at),
                      order_id=order.order_id, sku=line["sku"], reference=reference, quantity=units)
        if store.append(shopper_id, entry):
            entries.append(entry)  # the next item of the same kind sees the balance this one left
            written += 1
    return written


def summary(shopper_id: str) -> Entitlements:
    entries = store.entries(shopper_id)
    until, _ = logic.membership_fold(entries)
    moment = now()
    newest = sorted(entries, key=lambda e: (e.at, e.order_id, e.sku, e.reference), reverse=True)
    return Entitlements(
        membership=MembershipView(active=until is not None and until > moment,
                                  active_until=until),
        credits=CreditsView(balance=logic.credits_balance(entries)),
        entries=[
            EntryView(kind=e.kind, action=e.action, amount=e.amount, at=parse_iso(e.at), order_id=e.order_id, sku=e.sku,
                      unit="seconds" if e.kind is EntitlementKind.MEMBERSHIP else "credits")
            for e in newest[:SHOWN_ENTRIES]
        ],
    )
