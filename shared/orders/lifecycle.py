"""Shopper cancellation and the timers the sweeper runs (expiry of unpaid orders, re-drive of stuck ones)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from shared.core import aws, ddb
from shared.core.clock import iso, now, parse_iso
from shared.core.config import Env, LifecycleSettings, default_of, settings
from shared.core.errors import Conflict
from shared.orders import checkout, completion, events, expiry, intake, logic, store
from shared.orders.aggregate import Order, OrderHead
from shared.orders.models import OrderStatus

logger = logging.getLogger("order24.lifecycle")
MAX_REDRIVES = 3


# Cancellation by stage (issue 13): free before payment; refunded in full after payment until fulfilment
# starts; after that, after-sales applies.
REFUNDED_CANCEL = frozenset({OrderStatus.PAID, OrderStatus.IN_REVIEW})
AFTER_SALES = frozenset({OrderStatus.FULFILLING, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED})
CANCEL_REASON = "cancelled_by_shopper"
CHANGED = frozenset({"order_changed", "illegal_transition"})  # the codes of a lost race: decide again


def cancel_by_shopper(order: Order, shopper_id: str, *, attempts: int = 3) -> Order:
    """PLACED / AWAITING_PAYMENT: cancelled, stock back. PAID / IN_REVIEW: cancelled and refunded in full
    (`refunds.cancel_and_refund`: one conditional write moves the order and grants the refund, then the
    refund runs, idempotent on its key). A retry of a paid cancel finishes its refund and answers the order;
    a cancel that lost the race to fulfilment, or came after it started, answers 409 `next: after_sales`."""
    actor = f"shopper:{shopper_id}"
    status = order.status
    try:
        if status is OrderStatus.PLACED:
            return store.transition(order, OrderStatus.CANCELLED, actor=actor, reason=CANCEL_REASON,
                                    remove_fields=("GSI3PK", "GSI3SK"))
        if status is OrderStatus.AWAITING_PAYMENT:
            return checkout.release(order, OrderStatus.CANCELLED, actor=actor, reason=CANCEL_REASON)
        if status in REFUNDED_CANCEL or _paid_cancel(order):
            from shared.payments import refunds  # only a paid cancel needs the payment adapters

            return refunds.cancel_and_refund(order, reason=CANCEL_REASON, actor=actor)
    except Conflict as lost:
        # another writer moved the order first (fulfilment started, payment arrived, expiry): say where it is
        current = store.require(order.order_id, consistent=True)
        if current.version == order.version or attempts <= 1 or lost.code not in CHANGED:
            raise
        return cancel_by_shopper(current, shopper_id, attempts=attempts - 1)
    raise not_cancellable(status)


def _paid_cancel(order: Order) -> bool:
    """A paid order this shopper already cancelled: the retry finishes (or just reports) its refund."""
    from shared.payments.refunds import EXIT_REFUND_KEYS

    refunds = (order.payment or {}).get("refunds") or {}
    return order.status is OrderStatus.CANCELLED and EXIT_REFUND_KEYS[OrderStatus.CANCELLED] in refunds


def not_cancellable(status: OrderStatus) -> Conflict:
    if status in AFTER_SALES:
        return Conflict(f"An order in {status} is being fulfilled and can no longer be cancelled; "
                        "ask for a refund or return through after-sales.", code="not_cancellable",
                        current_status=status.value, next="after_sales")
    return Conflict(f"An order in {status} can no longer be cancelled.", code="not_cancellable",
                    current_status=status.value)


def expire_unpaid(order: OrderHead, moment: datetime) -> str:
    if order.status is not OrderStatus.AWAITING_PAYMENT or order.expires_at is None:
        return "skipped"
    if parse_iso(order.expires_at) > moment:
        return "skipped"
    try:
        checkout.release_only(order, OrderStatus.CANCELLED, actor="system:sweeper", reason="payment_timeout")
    except Conflict:
        return "raced"  # paid or cancelled in the meantime: the other writer won, correctly
    return "expired"


def requeue_patience() -> timedelta:
    """How long after a throttled workflow handed an order back to its queue the order counts as moving.
    Env REQUEUE_PATIENCE_SECONDS lets the local tests shorten it."""
    return timedelta(seconds=settings(LifecycleSettings).requeue_patience_seconds)


def _waiting_in_queue(order: Order, kind: str, moment: datetime) -> str | None:
    """A throttled workflow requeued this order recently (infra/workflows.py `requeue` sets `requeued_at`):
    it is waiting in its queue, not stuck. Push the timer past the patience window instead of re-driving
    (a re-drive would start a second execution into the same throttle) or counting towards FAILED."""
    at = order.requeued_at
    if not at or parse_iso(at) + requeue_patience() <= moment:
        return None
    due = logic.due_key(kind, order.order_id, iso(parse_iso(at) + requeue_patience()))
    return "waiting" if store.move_timer(order, due) else "raced"


def redrive_placed(order: Order, moment: datetime) -> str:
    if order.status is not OrderStatus.PLACED:
        return "skipped"
    waiting = _waiting_in_queue(order, "PLACED", moment)
    if waiting:
        return waiting
    count = order.redrives or 0
    if count >= MAX_REDRIVES:
        try:
            store.transition(order, OrderStatus.FAILED, actor="system:sweeper", reason="checkout_timeout",
                             remove_fields=("GSI3PK", "GSI3SK"))
        except Conflict:
            return "raced"
        return "failed"
    due = logic.due_key("PLACED", order.order_id, iso(moment + intake.redrive_after() * (count + 2)))
    if not _record_redrive(order, "checkout_not_started", {"redrives": count + 1, **due}):
        return "raced"
    intake.enqueue(order.order_id)
    return "redriven"


def _record_redrive(order: Order, reason: str, set_fields: dict[str, Any]) -> bool:
    """Note the re-drive on the order, if it still has the status the sweeper saw (False: it moved on)."""
    try:
        store.append_event(order.order_id, events.redriven(reason=reason), set_fields=set_fields,
                           expected_status=order.status)
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        return False
    return True


def fulfil_redrive_after() -> timedelta:
    """Env FULFIL_REDRIVE_AFTER_SECONDS lets the local fault tests shorten it; 5 minutes otherwise."""
    return timedelta(seconds=settings(LifecycleSettings).fulfil_redrive_after_seconds)


def redrive_paid(order: Order, moment: datetime) -> str:
    """A paid order whose fulfilment has not moved on: start it again; when re-drives run out, fail and
    refund it, so money is never held for an order nobody will fulfil."""
    if order.status not in (OrderStatus.PAID, OrderStatus.FULFILLING):
        return "skipped"
    waiting = _waiting_in_queue(order, "PAID", moment)
    if waiting:
        return waiting
    count = order.redrives or 0
    if count >= MAX_REDRIVES:
        from shared.payments import refunds  # only this rare path needs the payment adapters

        try:
            refunds.fail_and_refund(order, reason="fulfilment_stuck", actor="system:sweeper")
        except Conflict:
            return "raced"
        return "failed"
    due = logic.due_key("PAID", order.order_id, iso(moment + fulfil_redrive_after() * (count + 1)))
    if not _record_redrive(order, "fulfilment_not_finished", {"redrives": count + 1, **due}):
        return "raced"
    from shared.core import queues

    queues.send(Env.PAID_QUEUE_URL, {"order_id": order.order_id})
    return "redriven"


def resume_exit_refund(order: Order, moment: datetime) -> str:
    from shared.payments import refunds  # only this rare path needs the payment adapters

    return refunds.resume_exit_refund(order, moment)


# Timer kind (the DUE#<KIND># partition of the by_due index) -> what to do with a due order.
# PAID orders carry a `PAID` timer until fulfilment finishes (set at PAID, kept through FULFILLING).
TIMERS: dict[str, Callable[[Order, datetime], str]] = {
    "EXPIRY": expire_unpaid,  # reads only the head (`store.get_heads`): see _run_timer
    "PLACED": redrive_placed,
    "PAID": redrive_paid,
    "COMPLETE": completion.complete_delivered,  # DELIVERED -> COMPLETED after the return window
    "REFUND": resume_exit_refund,  # an exited order's refund grant not settled yet (shared/payments/refunds.py)
}


def sweep_threads() -> int:
    """Orders processed at once (each expiry is one transaction: the sweep is I/O-bound). Env SWEEP_THREADS."""
    return max(1, settings(LifecycleSettings).sweep_threads)


DEFAULT_SWEEP_THREADS: int = default_of(LifecycleSettings, "sweep_threads")
DEFAULT_SWEEP_BUDGET_S = 50.0  # of the sweeper's 60 s timeout: stop taking new pages, finish in-flight ones
PAGE = 100


def _run_timer(kind: str, order_id: str, order: OrderHead | None, moment: datetime) -> str:
    """One due timer's action, as `<kind>_<outcome>`; an exception is logged and counted, never raised."""
    if order is None:
        return f"{kind.lower()}_missing"
    try:
        if isinstance(order, Order):
            outcome = TIMERS[kind](order, moment)
        elif kind == expiry.KIND:
            outcome = expire_unpaid(order, moment)
        else:
            raise TypeError(f"the {kind} timer needs the whole order")
    except Exception:
        logger.exception("timer failed", extra={"order_id": order_id, "kind": kind})
        outcome = "error"
    return f"{kind.lower()}_{outcome}"


def expire_many(order_ids: list[str], moment: datetime | None = None) -> Counter[str]:
    """The `expiry` queue consumer's work (functions/expiry_worker): read the orders with one consistent
    BatchGetItem per 100, then `expire_unpaid` each on the pool. Idempotent: an order already cancelled, paid
    or not yet due is skipped, a lost race is `raced`, so a redelivered message changes nothing."""
    moment = moment or now()
    # what `expire_unpaid` and `checkout.release_only` read of an order (`store.HEAD_FIELDS`): the condition pins
    # status and version, the reservations say which buckets get their units back
    orders = store.get_heads(order_ids, consistent=True)
    with ThreadPoolExecutor(max_workers=min(sweep_threads(), len(order_ids)) or 1,
                            thread_name_prefix="expire") as pool:
        return Counter(pool.map(lambda order_id: _run_timer("EXPIRY", order_id, orders.get(order_id), moment),
                                order_ids))


def sweep(moment: datetime | None = None, *, kinds: tuple[str, ...] | None = None,
          shards: range | None = None, budget_s: float | None = None) -> dict[str, int]:
    """Run every due timer once. Reads the sharded index, never scans the table.

    Every (kind, shard) is paged to its end (or until `budget_s` runs out; the next sweep continues), its
    orders read with one consistent BatchGetItem per page, and their actions run on a pool of
    `sweep_threads()` threads. Payment expiry is the timer a flash sale multiplies: where the `expiry` queue
    exists, the sweeper only finds due expiries and fans them out to it (`expiry.find_and_fan_out`), unless
    so few are due that it expires them here. Each action is still one conditional write (an expiry is one
    transaction that releases the stock: `checkout.release_only`), so two sweeps or a sweep and a consumer
    racing on an order cannot release it twice.
    """
    moment = moment or now()
    before = iso(moment + timedelta(milliseconds=1))
    deadline = time.monotonic() + (budget_s if budget_s is not None else DEFAULT_SWEEP_BUDGET_S)
    outcomes: Counter[str] = Counter()
    kinds = kinds or tuple(TIMERS)
    shards = shards or range(logic.DUE_SHARDS)
    inline: list[str] = []
    if expiry.KIND in kinds and expiry.fan_out_configured():
        kinds = tuple(kind for kind in kinds if kind != expiry.KIND)
        # the finder gets a share of the budget, so a sale's expiry wave never starves the other timers
        started = time.monotonic()
        inline, fanned = expiry.find_and_fan_out(before, shards, iso(moment),
                                                 started + (deadline - started) * expiry.FIND_BUDGET_SHARE)
        outcomes.update(fanned)
    if inline:
        outcomes.update(expire_many(inline, moment))

    with ThreadPoolExecutor(max_workers=sweep_threads(), thread_name_prefix="sweep") as pool:
        # Pages are read one after another while earlier pages' orders run on the pool: the queries are
        # cheap (100 keys each), the per-order writes are what costs.
        pending: list[Future[str]] = []

        def submit(kind: str, ids: list[str]) -> None:
            orders: dict[str, OrderHead] = dict(
                store.get_heads(ids, consistent=True) if kind == expiry.KIND else store.get_many(ids, consistent=True))
            pending.extend(pool.submit(_run_timer, kind, order_id, orders.get(order_id), moment)
                           for order_id in ids)

        for kind, shard in [(kind, shard) for kind in kinds for shard in shards]:
            start: dict[str, Any] | None = None
            while time.monotonic() < deadline:
                ids, start = store.query_due_page(kind, shard, before, limit=PAGE, start=start)
                if ids:
                    submit(kind, ids)
                if len(pending) > 4 * PAGE:  # bound the backlog, keep the pool busy
                    for future in pending[: 2 * PAGE]:
                        outcomes[future.result()] += 1
                    del pending[: 2 * PAGE]
                if not start:
                    break
        for future in pending:
            outcomes[future.result()] += 1
    return {key: count for key, count in outcomes.items() if not key.endswith("_missing")}
