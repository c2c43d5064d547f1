"""Scheduled timers; logic in shared/orders/lifecycle.py (and shared/review/queue.py).

Expire unpaid orders (releasing stock), re-drive stuck orders, complete delivered ones, and report the review
queue's oldest age (the "审核停滞" alarm watches it); run the after-sales case timers (shared/aftersales/timers.py);
report how long the oldest support ticket has waited for ops (shared/tickets/store.py, the ticket SLA alarm)."""

from typing import Any

from shared.aftersales import timers as case_timers
from shared.core.observability import instrumented, metrics
from shared.orders import lifecycle
from shared.review import queue
from shared.tickets import store as tickets


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    outcomes = lifecycle.sweep()
    outcomes.update(case_timers.sweep())
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"Sweep_{outcome}", unit="Count", value=count)
    oldest = queue.oldest_age_seconds()
    metrics.add_metric(name="ReviewQueueOldestAgeSeconds", unit="Seconds", value=oldest)
    waiting = tickets.oldest_waiting_age_seconds()
    metrics.add_metric(name="TicketOldestUnansweredAgeSeconds", unit="Seconds", value=waiting)
    return {**outcomes, "review_queue_oldest_age_s": oldest, "ticket_oldest_unanswered_age_s": waiting}
