"""Ledger arithmetic with no I/O: grants, the membership fold, and how much a refund revokes.

Units are integers: membership in seconds (a catalog day is 86,400 s), credits in credit units.

* Credits: the balance is the sum of every credits entry (grants +, revokes and spends -).
* Membership: entries are folded in (at, key) order. A grant starts at max(its time, the end so far) and
  extends the end by its seconds, so a second purchase stacks on the first instead of overlapping it; a
  revoke shortens the end (never to before the revoke's own time). Concurrent grants need no lock: the fold
  is computed on read from the entries, whatever order they were written in.

What a refund of `r` of the `q` units of a delivered item revokes (at refund time `t`):

* credits: min(units granted for the r units, what that grant has not had revoked yet, the balance now),
  i.e. the unspent remainder, capped at what was granted; exact, as a grant is units-per-unit x q;
* membership: the grant ran from `start` for D seconds, so U = D - clamp(floor(t - start), 0, D) seconds of
  it are unused at t. The revoke is floor(U x r / q) seconds, capped at what the grant has not had revoked
  yet and at ceil(end - t), what is left of the membership. Rounding: elapsed time counts in whole seconds
  rounded down and the share is floored to the second, so a partial refund leaves the shopper at most one
  second more than the exact share; r = q ends the grant's part exactly at t (the fold never moves the end
  before a revoke's own time, so the sub-second rest of the membership goes too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.core.clock import parse_iso
from shared.entitlements.models import EntitlementKind, Entry, EntryAction

DAY_SECONDS = 86_400
GRANT = "grant"


def granted(spec: Mapping[str, Any], quantity: int) -> tuple[EntitlementKind, int]:
    """(kind, amount) that `quantity` units of a SKU with this entitlement spec grant."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    kind = EntitlementKind(spec["kind"])
    if kind is EntitlementKind.MEMBERSHIP:
        return kind, int(spec["days"]) * DAY_SECONDS * quantity
    return kind, int(spec["units"]) * quantity


def revoke_reference(refund_key: str) -> str:
    return f"revoke:{refund_key}"


def _ordered(entries: list[Entry], kind: EntitlementKind) -> list[Entry]:
    return sorted((e for e in entries if e.kind is kind),
                  key=lambda e: (parse_iso(e.at), e.order_id, e.sku, e.reference))


def credits_balance(entries: list[Entry]) -> int:
    return sum(e.amount for e in entries if e.kind is EntitlementKind.CREDITS)


def membership_fold(entries: list[Entry]) -> tuple[datetime | None, dict[tuple[str, str], datetime]]:
    """(end of the membership or None, the start of each grant keyed by (order_id, sku))."""
    until: datetime | None = None
    starts: dict[tuple[str, str], datetime] = {}
    for entry in _ordered(entries, EntitlementKind.MEMBERSHIP):
        at = parse_iso(entry.at)
        if entry.action is EntryAction.GRANT:
            start = max(at, until) if until is not None else at
            starts[(entry.order_id, entry.sku)] = start
            until = start + timedelta(seconds=entry.amount)
        elif until is not None:
            until = max(at, until + timedelta(seconds=entry.amount))
    return until, starts


def revoked_so_far(entries: list[Entry], grant: Entry) -> int:
    """Seconds or units already taken back from this grant (a positive number)."""
    return -sum(e.amount for e in entries if e.kind is grant.kind and e.action is EntryAction.REVOKE
                and e.order_id == grant.order_id and e.sku == grant.sku)


def revoke_amount(entries: list[Entry], grant: Entry, at: datetime, units: int) -> int:
    """How much (a non-negative number) refunding `units` of the grant's item at `at` takes back."""
    quantity = max(grant.quantity, 1)
    if not 0 < units <= quantity:
        raise ValueError("refunded units must be within 1..quantity of the item")
    left_of_grant = max(0, grant.amount - revoked_so_far(entries, grant))
    if grant.kind is EntitlementKind.CREDITS:
        return max(0, min(grant.amount * units // quantity, left_of_grant, credits_balance(entries)))
    until, starts = membership_fold(entries)
    start = starts.get((grant.order_id, grant.sku), parse_iso(grant.at))
    used = min(max(0, int((at - start).total_seconds())), grant.amount)
    share = (grant.amount - used) * units // quantity
    left_of_membership = max(0, math.ceil((until - at).total_seconds())) if until is not None else 0
    return max(0, min(share, left_of_grant, left_of_membership))
