"""The COMPLETE timer: a delivered physical order completes once the return window has closed.

Set when the parcel is signed (shared/logistics/service.py): due = signed_at + RETURN_WINDOW_SECONDS
(default 7 days). The sweeper runs it through `lifecycle.TIMERS["COMPLETE"]`; completing removes the timer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.core.clock import parse_iso
from shared.core.config import CompletionSettings, settings
from shared.core.errors import Conflict
from shared.orders import store
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
