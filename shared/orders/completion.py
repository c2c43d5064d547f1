"""The COMPLETE timer: a delivered physical order completes once the return window has closed AND every
after-sales case on it has ended (REFUNDED or CLOSED).

Set when the parcel is signed (shared/logistics/service.py): due = signed_at + RETURN_WINDOW_SECONDS
(default 7 days). The sweeper runs it through `lifecycle.TIMERS["COMPLETE"]`; completing removes the timer.
It also waits for the end of the no-reason window as the return policy counts it (`no_reason_until`). An order
with an open case (a return on its way back, a dispute...) stays DELIVERED and the timer is re-armed
`COMPLETE_RECHECK_SECONDS` later (default an hour: one Query of the order's partition per wait), so it completes
at most that long after its last case ends. Before completing, a platform compensation still unpaid is sent
again (shared/payments/compensation.py `execute_pending`, same out_transfer_no).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.core.clock import iso, parse_iso
from shared.core.config import CompletionSettings, settings
from shared.core.errors import Conflict
from shared.orders import logic, store
from shared.orders.aggregate import Order
from shared.orders.models import OrderStatus


def return_window() -> timedelta:
    return timedelta(seconds=settings(CompletionSettings).return_window_seconds)


def complete_delivered(order: Order, moment: datetime) -> str:
    if order.status is not OrderStatus.DELIVERED:
        return "skipped"
    signed = (order.fulfilment or {}).get("signed_at")
    if signed and parse_iso(signed) + return_window() > moment:
        return "skipped"  # the window was lengthened since the timer was set
    if order.trouble:
        return "skipped"  # a flagged parcel waits for ops (the flag removes the timer)
    until = no_reason_until(order)
    if until is not None and until > moment:  # the legal window ends later than RETURN_WINDOW_SECONDS after 签收
        moved = store.move_timer(order, logic.due_key("COMPLETE", order.order_id, iso(until)))
        return "waiting_window" if moved else "raced"
    if has_open_case(order.order_id):
        recheck = timedelta(seconds=settings(CompletionSettings).complete_recheck_seconds)
        moved = store.move_timer(order, logic.due_key("COMPLETE", order.order_id, iso(moment + recheck)))
        return "waiting" if moved else "raced"
    if order.compensations:
        from shared.payments import compensation

        compensation.execute_pending(order)
    try:
        store.transition(
            order,
            OrderStatus.COMPLETED,
            actor="system:sweeper",
            reason="return_window_closed",
            remove_fields=("GSI3PK", "GSI3SK"),
        )
    except Conflict:
        return "raced"
    return "completed"


def has_open_case(order_id: str) -> bool:
    """Whether an after-sales case on the order has not ended (one consistent Query of the order's cases)."""
    from shared.aftersales import store as cases
    from shared.aftersales.states import FINAL

    return any(case.status not in FINAL for case in cases.for_order(order_id))


def no_reason_until(order: Order) -> datetime | None:
    """The end of the order's 7-day no-reason window as the return policy counts it (from 00:00 China time of
    the day after 签收, so up to a day after `signed_at + RETURN_WINDOW_SECONDS`); None when no line of it may be
    returned without a reason. The policy module is issue 13 item 4's first half, merged on its own: until it is
    here, the window is RETURN_WINDOW_SECONDS from the sign-for time alone."""
    try:
        from shared.aftersales import policy  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    until: datetime | None = policy.return_until(order)
    return until
