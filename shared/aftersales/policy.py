"""7-day no-reason returns (七天无理由退货): which lines a shopper may return without giving a reason, and until when.

Legal basis: 消费者权益保护法 art. 25 (goods bought online may be returned within 7 days of receipt without a
reason, except custom-made, perishable, digital content and delivered periodicals; other goods only when the
shopper confirmed it at purchase) and 《网络购买商品七日无理由退货暂行办法》 (2017): arts. 6-7 list the
exclusions, and the 7 days are counted from the day after the shopper signs for the goods (签收).

The policy of a line is the one its SKU declared at the sale (the catalog's `return_policy`, recorded on the line
by `shared.orders.logic.price` when it is not the kind's default). A no-reason case is a `return_and_refund` case
whose reason names no fault of the seller (`NO_REASON_CODES`); quality, damage, wrong or missing items are not
limited by these 7 days (the after-sales window of shared/aftersales/service.py applies to them).

The window: 7 x 24 hours from the sign-for time in the logistics trace (`fulfilment.signed_at`, written by
shared/logistics/service.py), as issue 13 specifies. The measures count "自签收次日起算" (from the day after, the
last day ending at 24:00), which can run up to a day longer; the rule is `window_end`, one line to change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.aftersales.models import OpenCase
from shared.aftersales.states import CaseType
from shared.catalog.models import ALLOWED, EXCLUDED_WITH_CONSENT, return_policy_of
from shared.core.clock import iso, parse_iso
from shared.core.errors import Conflict, Unprocessable
from shared.orders import events as order_events
from shared.orders.aggregate import Line, Order
from shared.orders.models import OrderStatus

# Reasons that name no fault of the seller: as a return, they are the no-reason return.
NO_REASON_CODES = frozenset({"seven_day_no_reason", "no_longer_needed"})
DAYS = timedelta(days=7)  # 七个24小时


def is_no_reason(case_type: CaseType, reason_code: str) -> bool:
    return case_type is CaseType.RETURN_AND_REFUND and reason_code in NO_REASON_CODES


def line_policy(line: Line) -> dict[str, object]:
    """The line's policy at the sale: what it recorded, else its kind's default."""
    return return_policy_of(line["kind"], line.get("return_policy"))


def exclusion(line: Line) -> dict[str, Any] | None:
    """Why the line cannot be returned without a reason, or None when it can. An `excluded_with_consent` line
    without a recorded consent can be (the measures art. 7: no confirmation, no exclusion)."""
    policy = line_policy(line)
    if policy["policy"] == ALLOWED:
        return None
    if policy["policy"] == EXCLUDED_WITH_CONSENT and not policy.get("consented_at"):
        return None
    return {"sku": line["sku"], **policy}


def signed_for_at(order: Order) -> datetime | None:
    """The sign-for time (签收) in the logistics trace; an order delivered without a carrier's push (written by
    hand) counts from its move to DELIVERED."""
    signed = (order.fulfilment or {}).get("signed_at")
    if signed:
        return parse_iso(signed)
    for event in order.events:
        if isinstance(event, order_events.StatusChanged) and event.to_status is OrderStatus.DELIVERED:
            return parse_iso(event.at)
    return None


def window_end(signed_at: datetime) -> datetime:
    """7 x 24 hours from the sign-for moment (the end itself is outside)."""
    return signed_at + DAYS


def return_until(order: Order) -> datetime | None:
    """The end of the order's no-reason window, for the shopper's view: None for digital orders, before the
    parcel is signed for, and when no line of it may be returned without a reason."""
    if order.kind != "physical" or all(exclusion(line) for line in order.items):
        return None
    signed = signed_for_at(order)
    return window_end(signed) if signed else None


def check(order: Order, body: OpenCase, asked: dict[str, tuple[Line, int]], moment: datetime) -> None:
    """A no-reason return (`is_no_reason`) of these lines: each line's policy allows it (422 `return_excluded`),
    the parcel was signed for (409 `not_yet_signed_for`) and the window is open (409 `return_window_closed`).
    Any other case passes untouched."""
    if not is_no_reason(body.type, body.reason_code):
        return
    excluded = [found for line, _ in asked.values() if (found := exclusion(line))]
    if excluded:
        raise Unprocessable(
            "These items are excluded from 7-day no-reason returns: "
            + ", ".join(f"{item['sku']} ({item['policy']}: {item.get('reason', '-')})" for item in excluded)
            + ". A return for a fault (quality_issue, damaged, wrong_item, ...) is still possible.",
            code="return_excluded", lines=excluded)
    signed = signed_for_at(order)
    if signed is None:
        raise Conflict("The 7-day no-reason return starts once the parcel is signed for.",
                       code="not_yet_signed_for", current_status=order.status.value)
    until = window_end(signed)
    if moment >= until:
        raise Conflict(f"The 7-day no-reason return window closed at {iso(until)}.", code="return_window_closed",
                       no_reason_return_until=iso(until), signed_for_at=iso(signed))
