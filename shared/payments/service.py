"""Payment decisions: create the intent once, and turn verified provider events into order facts.

Every provider path (WeChat and Alipay callbacks, the synchronous card capture) ends in `record_capture`,
`record_failure` or `record_refund_result`, so idempotency and the paid-after-cancel rule live in one place.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any, cast

from shared.core.clock import iso, now, now_iso
from shared.core.config import Env, RedriveSettings, settings
from shared.core.errors import Conflict, DomainError, NotFound, ProviderNotConfigured, Unprocessable
from shared.orders import logic
from shared.orders import store as orders
from shared.orders.aggregate import Capture as CaptureRecord
from shared.orders.aggregate import Order, PaymentIntent
from shared.orders.models import OrderStatus
from shared.payments import store as payments_store
from shared.payments.adapters.errors import CallbackRejected
from shared.payments.models import PAYMENT_PARAMS, Capture, Outcome, PaymentIntentView, PayRequest, Provider

logger = logging.getLogger("order24.payments")


def paid_redrive_after() -> timedelta:
    # Env FULFIL_REDRIVE_AFTER_SECONDS lets the local fault tests shorten it (as in orders.lifecycle).
    return timedelta(seconds=settings(RedriveSettings).fulfil_redrive_after_seconds)
LATE_REFUND_KEY = "paid-after-cancel"
ATTEMPTS = 4
MAX_INTENTS = 20  # payment attempts per order: bounds the item and the provider calls one order can cause


class WrongAmount(CallbackRejected):
    """Authentic, but the amount or currency is not what the order asks for: never PAID."""

    status, code = 400, "wrong_amount"


class WrongApp(CallbackRejected):
    status, code = 403, "wrong_merchant"


# ------------------------------------------------------------------ the intent


def _view(order: Order, intent: PaymentIntent) -> PaymentIntentView:
    return PaymentIntentView(
        order_id=order.order_id,
        out_trade_no=intent["out_trade_no"],
        attempt=int(intent.get("attempt", 1)),
        amount_fen=int(intent["amount_fen"]),
        currency=intent["currency"],
        provider=Provider(intent["provider"]),
        params=PAYMENT_PARAMS.validate_python(intent.get("params") or {}),
        status=order.status,
    )


def _token_fp(token: str) -> str:
    """Tells two card tokens apart without storing them."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _failed(order: Order, intent: PaymentIntent) -> bool:
    # Intents written before attempts existed carry no state: a recorded failure then marks them failed.
    state = intent.get("state") or ("failed" if order.last_payment_error else "open")
    return bool(state == "failed")


def _answers(order: Order, intent: PaymentIntent, body: PayRequest) -> bool:
    """Does the current intent answer this request as it is (an idempotent retry)? Same provider, and: for a
    card the same token (a declined token is answered with the same failed intent, never charged twice);
    otherwise an intent that has not failed."""
    if intent["provider"] != body.provider.value:
        return False
    if body.provider is Provider.CARD:
        return intent.get("card_token_fp") == _token_fp(str(body.card_token))
    return not _failed(order, intent)


def create_intent(order_id: str, shopper_id: str, body: PayRequest) -> PaymentIntentView:
    """One current intent per order. A retry of the same request returns it; a different provider, or the
    same one after the current intent failed, supersedes it with a new attempt (`<order_id>-<n>`), and the
    superseded trade is closed at its provider (best effort, recorded in `payment_attempts`).

    Two racing requests that would each supersede: one conditional write wins; the other closes the trade it
    opened and answers 409 `payment_intent_changed` (unless the winner's intent answers it too)."""
    order = orders.get(order_id, consistent=True)
    if order is None or order.shopper_id != shopper_id:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    if (body.provider is Provider.CARD) != (body.card_token is not None):
        raise Unprocessable(
            "card_token is required for card payments, and only for them.", code="card_token_mismatch"
        )
    if body.openid is not None and body.provider is not Provider.WECHATPAY:
        raise Unprocessable("openid is only for WeChat Pay (JSAPI).", code="openid_mismatch")
    from shared.payments import providers

    if body.provider is Provider.CARD and not providers.card_available():
        # Before anything is written: an unconfigured provider never locks the order to itself.
        raise ProviderNotConfigured("The card provider is not configured here; pay with WeChat Pay or Alipay.")
    actor = f"shopper:{shopper_id}"
    opened: dict[tuple[str, str], dict[str, Any]] = {}  # params per (provider, trade_no), one call each
    try:
        order, intent = _current_intent(order, body, actor, opened)
    except DomainError:
        if opened:  # a trade we opened but could not make current: nobody was shown it, close it
            latest = orders.get(order_id, consistent=True)
            _close_orphans(opened, latest.payment_intent if latest else None)
        raise
    _close_orphans(opened, intent)
    payable = order.status is OrderStatus.AWAITING_PAYMENT and order.payment is None
    if body.provider is Provider.CARD and payable and not _failed(order, intent):
        order = _charge_card(order, intent, str(body.card_token))
    return _view(order, intent)


def _trade(intent: PaymentIntent | None) -> tuple[str, str] | None:
    return None if intent is None else (intent["provider"], intent["out_trade_no"])


def _current_intent(
    order: Order, body: PayRequest, actor: str, opened: dict[tuple[str, str], dict[str, Any]]
) -> tuple[Order, PaymentIntent]:
    """The intent that answers `body`: the current one if it does, else a new attempt that supersedes it."""
    for _ in range(ATTEMPTS):
        intent = order.payment_intent
        if order.payment is not None or order.status is not OrderStatus.AWAITING_PAYMENT:
            if intent is not None and order.payment is not None and intent["provider"] == body.provider.value:
                return order, intent  # a retry after it was paid
            _require_payable(order)
            raise Conflict(
                "This order is already paid.", code="order_not_payable", current_status=order.status
            )
        if intent is not None and _answers(order, intent, body):
            return order, intent
        written = _supersede(order, intent, body, actor, opened)
        if written is not None:
            return written, written.payment_intent or {}
        order = orders.require(order.order_id, consistent=True)
        now_current = order.payment_intent
        if (
            now_current is not None
            and _trade(now_current) != _trade(intent)  # another pay request made its own trade current
            and not _answers(order, now_current, body)
            and order.payment is None
            and order.status is OrderStatus.AWAITING_PAYMENT
        ):
            raise Conflict(
                "Another payment was started for this order at the same time; pay again to switch.",
                code="payment_intent_changed",
                provider=now_current["provider"],
                current_status=order.status,
            )
    raise Conflict("The order kept changing; retry.", code="order_changed", current_status=order.status)


def _supersede(
    order: Order,
    current: PaymentIntent | None,
    body: PayRequest,
    actor: str,
    opened: dict[tuple[str, str], dict[str, Any]],
) -> Order | None:
    """Open the next attempt at the provider and make it current (one conditional write, version-checked).
    None if the order moved meanwhile."""
    from shared.payments import providers

    attempt = int(current.get("attempt", 1)) + 1 if current is not None else 1
    if attempt > MAX_INTENTS:
        raise Conflict(
            f"This order has had {MAX_INTENTS} payment attempts; place a new order.",
            code="too_many_payment_attempts",
            current_status=order.status,
        )
    trade_no = providers.out_trade_no(order.order_id, attempt)
    key = (body.provider.value, trade_no)
    if key not in opened:
        opened[key] = (
            {}
            if body.provider is Provider.CARD
            else providers.open_payment(body.provider, order, trade_no=trade_no, openid=body.openid)
        )
    intent: PaymentIntent = {
        "provider": body.provider.value,
        "out_trade_no": trade_no,
        "attempt": attempt,
        "state": "open",
        "amount_fen": int(order.total_fen),
        "currency": order.currency,
        "created_at": now_iso(),
        "params": opened[key],
    }
    if body.card_token is not None:
        intent["card_token_fp"] = _token_fp(body.card_token)
    superseded: PaymentIntent | None = None
    if current is not None:
        kept = {
            name: value
            for name, value in current.items()
            if name in ("provider", "out_trade_no", "amount_fen", "currency", "created_at")
        }
        superseded = cast(PaymentIntent, {
            **kept,
            "attempt": current.get("attempt", 1),
            "outcome": "failed" if _failed(order, current) else "abandoned",
            "superseded_at": now_iso(),
            "superseded_by": trade_no,
        })
    written = payments_store.put_intent(order, intent, actor=actor, superseded=superseded)
    if written is not None and superseded is not None and superseded["outcome"] == "abandoned":
        written = _close_superseded(written, superseded, actor)
    return written


def _close_superseded(order: Order, superseded: PaymentIntent, actor: str) -> Order:
    """Best effort: close the abandoned trade so it can no longer be paid, and record what the provider said.
    If it is paid anyway, that capture is a duplicate and is refunded automatically (`record_capture`)."""
    from shared.payments import providers

    provider = Provider(superseded["provider"])
    if provider is Provider.CARD:
        return order  # a card intent is charged synchronously: nothing stays open
    result = providers.close_trade(provider, superseded["out_trade_no"])
    return _record_close(order, (provider.value, superseded["out_trade_no"]), result, actor)


def _record_close(
    order: Order, superseded: tuple[str, str] | None, result: str, actor: str
) -> Order:
    """Write what the provider said about a close on the attempt (`superseded`: its provider and trade) or,
    with None, on the current intent. Version-checked; re-read and retried if the order moved."""
    for _ in range(ATTEMPTS):
        if superseded is None:
            index = None
        else:
            attempts = order.payment_attempts or []
            index = next((i for i, a in enumerate(attempts) if _trade(a) == superseded), -1)
            if index < 0:
                return order
        recorded = payments_store.record_close(order, index, result, actor=actor)
        if recorded is not None:
            return recorded
        order = orders.require(order.order_id, consistent=True)
    logger.warning("close result not recorded", extra={"order_id": order.order_id, "result": result})
    return order


def _close_orphans(opened: dict[tuple[str, str], dict[str, Any]], current: PaymentIntent | None) -> None:
    """Trades this request opened but that are not the current intent (it lost a race, or the order moved):
    nobody was shown them, so close them (best effort, logged)."""
    from shared.payments import providers

    for provider, trade_no in opened:
        if (provider, trade_no) != _trade(current) and provider != Provider.CARD.value:
            result = providers.close_trade(Provider(provider), trade_no)
            logger.info("orphan trade closed", extra={"provider": provider, "result": result})


def _require_payable(order: Order) -> None:
    if order.status is not OrderStatus.AWAITING_PAYMENT:
        raise Conflict(
            f"An order in {order.status} cannot be paid.",
            code="order_not_payable",
            current_status=order.status,
        )


def _charge_card(order: Order, intent: PaymentIntent, token: str) -> Order:
    """The sandbox card provider answers synchronously; its answer is recorded exactly like a callback."""
    from shared.core.config import sandbox_providers

    if not sandbox_providers():
        from shared.core.errors import ProviderNotConfigured

        raise ProviderNotConfigured("The card provider is not configured here.")
    from shared.sandbox.payments import card_charge

    trade_no = intent["out_trade_no"]
    captured, charge_id, message = card_charge(token, int(intent["amount_fen"]), trade_no)
    if captured:
        record_capture(
            Capture(
                provider=Provider.CARD,
                out_trade_no=trade_no,
                transaction_id=charge_id,
                amount_fen=int(intent["amount_fen"]),
                currency=intent["currency"],
                paid_at=now_iso(),
                event_key=f"card:{charge_id}",
            )
        )
    else:
        record_failure(trade_no, Provider.CARD, f"card:decline:{trade_no}", message)
    return orders.require(order.order_id, consistent=True)


# ------------------------------------------------------------------ provider events


def _unmatched(provider: Provider, ref: str, payload: dict[str, Any], summary: str) -> Outcome:
    from shared.ops import inbox

    inbox.record("unmatched_payment", f"{provider.value}:{ref}", payload, summary=summary[:200])
    return Outcome("unmatched")


def check_amount(order: Order, amount_fen: int, currency: str) -> None:
    if amount_fen != int(order.total_fen) or currency != order.currency:
        raise WrongAmount("the paid amount or currency does not match the order")


def record_capture(capture: Capture, *, payload: dict[str, Any] | None = None) -> Outcome:
    """A verified capture of any of the order's intents (the out_trade_no names the order and the attempt).

    * Order awaiting payment: AWAITING_PAYMENT -> PAID once, whichever attempt it is. An older, superseded
      intent may pay: the shopper paid the right amount for these goods, and refunding it only to ask again
      would be worse. The still-open current trade is then closed (best effort).
    * Order no longer payable (expired, cancelled): recorded (`payment`, late) and refunded in full.
    * Order already paid by another intent: a duplicate, recorded in `duplicate_captures` and refunded in
      full once (refund key `duplicate-<provider>-<attempt>`).
    Replays change nothing (and finish a refund a crash interrupted)."""
    from shared.payments import providers

    order = orders.get(providers.order_id_of(capture.out_trade_no), consistent=True)
    if order is None:
        return _unmatched(
            capture.provider,
            capture.transaction_id,
            payload or {},
            f"{capture.provider.value} capture of {capture.amount_fen} fen for unknown "
            f"out_trade_no {capture.out_trade_no}",
        )
    check_amount(order, capture.amount_fen, capture.currency)
    actor = f"provider:{capture.provider.value}"
    payment: CaptureRecord = {
        "provider": capture.provider.value,
        "out_trade_no": capture.out_trade_no,
        "transaction_id": capture.transaction_id,
        "amount_fen": capture.amount_fen,
        "currency": capture.currency,
        "paid_at": capture.paid_at,
        "state": "paid",
        "refunded_fen": 0,
        "refunds": {},
    }
    for _ in range(ATTEMPTS):
        existing = order.payment
        if existing:
            outcome = _already_captured(order, existing, capture, payment, payload)
            if outcome is not None:
                return outcome
            order = orders.require(order.order_id, consistent=True)
            continue
        if order.status is OrderStatus.AWAITING_PAYMENT:
            due = logic.due_key("PAID", order.order_id, iso(now() + paid_redrive_after()))
            try:
                paid = orders.transition(
                    order,
                    OrderStatus.PAID,
                    actor=actor,
                    reason=f"paid via {capture.provider.value}",
                    set_fields={"payment": payment, **due},
                    remove_fields=("last_payment_error",),
                )
            except Conflict:
                order = orders.require(order.order_id, consistent=True)  # expiry or a replay won
                continue
            from shared.core import queues

            queues.send(Env.PAID_QUEUE_URL, {"order_id": order.order_id})
            _close_current_if_other(paid, capture, actor)
            return Outcome("paid", order.order_id)
        recorded = payments_store.record_late_payment(
            order,
            {**payment, "late": True},
            actor=actor,
            reason=f"captured while {order.status}; refunding",
        )
        if recorded is None:
            order = orders.require(order.order_id, consistent=True)
            continue
        _refund_late(recorded, actor)
        return Outcome("paid_after_cancel", order.order_id)
    raise Conflict("The order kept changing; retry.", code="order_changed", current_status=order.status)


def _close_current_if_other(order: Order, capture: Capture, actor: str) -> None:
    """An older intent paid the order: close the current one so the shopper cannot pay twice (best effort;
    if they do, that capture is refunded as a duplicate)."""
    from shared.payments import providers

    current = order.payment_intent
    if current is None or (current["provider"], current["out_trade_no"]) == (
        capture.provider.value,
        capture.out_trade_no,
    ):
        return
    result = providers.close_trade(Provider(current["provider"]), current["out_trade_no"])
    _record_close(order, None, result, actor)


def _refund_late(order: Order, actor: str) -> None:
    from shared.payments import refunds

    refunds.refund(
        order,
        (order.payment or {}).get("amount_fen", 0),
        refund_key=LATE_REFUND_KEY,
        reason="paid after the order was cancelled",
        actor=actor,
    )


def _needs_refund(capture: CaptureRecord, refund_key: str) -> bool:
    """Not refunded yet, or a refund reserved but never accepted by the provider (a crash in between)."""
    record = (capture.get("refunds") or {}).get(refund_key)
    return record is None or (record["state"] == "requested" and not record.get("provider_refund_id"))


def duplicate_key(provider: str, trade_no: str) -> str:
    from shared.payments import providers

    return f"{provider}-{providers.attempt_of(trade_no)}"


def _already_captured(
    order: Order,
    existing: CaptureRecord,
    capture: Capture,
    payment: CaptureRecord,
    payload: dict[str, Any] | None,
) -> Outcome | None:
    """The order already holds a capture. None: the order moved while we wrote; re-read and try again."""
    actor = f"provider:{capture.provider.value}"
    if existing["transaction_id"] == capture.transaction_id:
        if existing.get("late") and _needs_refund(existing, LATE_REFUND_KEY):
            _refund_late(order, actor)  # finish a refund a crash interrupted
        return Outcome("duplicate", order.order_id)
    paid_trade = (existing["provider"], existing.get("out_trade_no", order.order_id))
    key = duplicate_key(capture.provider.value, capture.out_trade_no)
    known = (order.duplicate_captures or {}).get(key)
    if paid_trade == (capture.provider.value, capture.out_trade_no) or (
        known is not None and known["transaction_id"] != capture.transaction_id
    ):
        # Two transactions for ONE trade: not something providers do. The money is real: ops refunds it.
        from shared.ops import inbox

        inbox.record(
            "refund_issue",
            f"{capture.provider.value}:{capture.transaction_id}",
            payload or {},
            summary=f"second capture {capture.transaction_id} for order {order.order_id} "
            f"(already paid by {existing['transaction_id']}): refund it",
        )
        return Outcome("second_capture", order.order_id)
    if known is None:
        written = payments_store.record_duplicate_capture(
            order,
            key,
            {**payment, "duplicate_of": existing["transaction_id"]},
            actor=actor,
            reason=f"{capture.provider.value} {capture.out_trade_no} captured after the order was paid "
            f"by {existing['provider']}; refunding",
        )
        if written is None:
            return None
        order, known = written, (written.duplicate_captures or {})[key]
    refund_key = f"duplicate-{key}"
    if _needs_refund(known, refund_key):
        from shared.payments import refunds

        refunds.refund(
            order,
            int(known["amount_fen"]),
            refund_key=refund_key,
            reason="paid twice: another payment method had already paid this order",
            actor=actor,
            base=("duplicate_captures", key),
        )
    return Outcome("duplicate_capture_refunded", order.order_id)


def record_failure(trade_no: str, provider: Provider, event_key: str, message: str) -> Outcome:
    """A failed attempt of the CURRENT intent marks it failed and leaves the order payable, with a message
    the shopper can act on (once per event). A failure of a superseded trade (often the close we asked for)
    changes nothing."""
    from shared.payments import providers

    order = orders.get(providers.order_id_of(trade_no), consistent=True)
    for _ in range(ATTEMPTS):
        if order is None:
            return Outcome("ignored")
        intent = order.payment_intent
        ours = intent is None or (intent["provider"], intent["out_trade_no"]) == (provider.value, trade_no)
        if (
            not ours
            or order.status is not OrderStatus.AWAITING_PAYMENT
            or event_key in (order.payment_event_keys or ())
        ):
            return Outcome("ignored", order.order_id)
        done = payments_store.mark_intent_failed(
            order, event_key, message[:200], actor=f"provider:{provider.value}"
        )
        if done is not None:
            return Outcome("failure_recorded", order.order_id)
        order = orders.require(order.order_id, consistent=True)
    raise Conflict("The order kept changing; retry.", code="order_changed")


def record_refund_result(
    trade_no: str, provider: Provider, *, out_refund_no: str, succeeded: bool, detail: str
) -> Outcome:
    """A refund notification: settle the matching refund (of `payment` or of a duplicate capture) once;
    anything we cannot match goes to ops."""
    from shared.payments import providers, refunds

    order_id = providers.order_id_of(trade_no)
    order = orders.get(order_id, consistent=True)
    captures: list[tuple[tuple[str, ...], CaptureRecord]] = []
    if order is not None:
        captures.append((payments_store.CAPTURE, order.payment or {}))
        captures += [(("duplicate_captures", k), c) for k, c in (order.duplicate_captures or {}).items()]
    found = next(
        (
            (base, key)
            for base, capture in captures
            for key, record in (capture.get("refunds") or {}).items()
            if record.get("out_refund_no") == out_refund_no
        ),
        None,
    )
    if found is None:
        return _unmatched(
            provider,
            f"refund:{out_refund_no}",
            {"order_id": order_id, "detail": detail},
            f"{provider.value} refund result for unknown refund {out_refund_no}",
        )
    base, key = found
    refunds.settle(
        order_id, key, succeeded=succeeded, actor=f"provider:{provider.value}", detail=detail, base=base
    )
    return Outcome("refund_updated", order_id)
