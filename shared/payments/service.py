"""Payment decisions: create the intent once, and turn verified provider events into order facts.

Every provider path (WeChat and Alipay callbacks, the synchronous card capture) ends in `record_capture`,
`record_failure` or `record_refund_result`, so idempotency and the paid-after-cancel rule live in one place.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from shared.core.clock import iso, now, now_iso
from shared.core.config import int_env
from shared.core.errors import Conflict, NotFound, Unprocessable
from shared.orders import logic
from shared.orders import store as orders
from shared.orders.models import OrderStatus
from shared.payments import store as payments_store
from shared.payments.adapters.errors import CallbackRejected
from shared.payments.models import Capture, Outcome, PaymentIntentView, PayRequest, Provider

logger = logging.getLogger("order24.payments")
PAID_REDRIVE_AFTER = timedelta(minutes=5)


def paid_redrive_after() -> timedelta:
    # Env FULFIL_REDRIVE_AFTER_SECONDS lets the local fault tests shorten it (as in orders.lifecycle).
    return timedelta(seconds=int_env("FULFIL_REDRIVE_AFTER_SECONDS", int(PAID_REDRIVE_AFTER.total_seconds())))
LATE_REFUND_KEY = "paid-after-cancel"
ATTEMPTS = 4


class WrongAmount(CallbackRejected):
    """Authentic, but the amount or currency is not what the order asks for: never PAID."""

    status, code = 400, "wrong_amount"


class WrongApp(CallbackRejected):
    status, code = 403, "wrong_merchant"


# ------------------------------------------------------------------ the intent


def _view(order: dict[str, Any], intent: dict[str, Any]) -> PaymentIntentView:
    return PaymentIntentView(
        order_id=order["order_id"],
        out_trade_no=intent["out_trade_no"],
        amount_fen=int(intent["amount_fen"]),
        currency=intent["currency"],
        provider=Provider(intent["provider"]),
        params=intent.get("params") or {},
        status=order["status"],
    )


def create_intent(order_id: str, shopper_id: str, body: PayRequest) -> PaymentIntentView:
    """Once per order; a repeated call with the same provider returns the same intent. A different provider
    while an intent exists answers 409 `payment_intent_exists`: the first trade may still be paid, and two
    open trades could both capture."""
    order = orders.get(order_id, consistent=True)
    if order is None or order["shopper_id"] != shopper_id:
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    if (body.provider is Provider.CARD) != (body.card_token is not None):
        raise Unprocessable(
            "card_token is required for card payments, and only for them.", code="card_token_mismatch"
        )
    if body.openid is not None and body.provider is not Provider.WECHATPAY:
        raise Unprocessable("openid is only for WeChat Pay (JSAPI).", code="openid_mismatch")
    intent = order.get("payment_intent")
    if intent is None:
        _require_payable(order)
        from shared.payments import providers

        params = (
            {}
            if body.provider is Provider.CARD
            else providers.open_payment(body.provider, order, openid=body.openid)
        )
        intent = {
            "provider": body.provider.value,
            "out_trade_no": order_id,
            "amount_fen": int(order["total_fen"]),
            "currency": order["currency"],
            "created_at": now_iso(),
            "params": params,
        }
        written = payments_store.put_intent(order_id, intent, actor=f"shopper:{shopper_id}")
        order = written or orders.require(order_id, consistent=True)
        intent = order.get("payment_intent") or intent
        if written is None and "payment_intent" not in order:
            _require_payable(order)  # it moved (expired, cancelled) while we asked the provider
    if intent["provider"] != body.provider.value:
        raise Conflict(
            f"This order already has a {intent['provider']} payment in progress.",
            code="payment_intent_exists",
            provider=intent["provider"],
            current_status=order["status"],
        )
    if order["status"] != OrderStatus.AWAITING_PAYMENT.value and "payment" not in order:
        _require_payable(order)
    if body.provider is Provider.CARD and order["status"] == OrderStatus.AWAITING_PAYMENT.value:
        order = _charge_card(order, str(body.card_token))
    return _view(order, intent)


def _require_payable(order: dict[str, Any]) -> None:
    if order["status"] != OrderStatus.AWAITING_PAYMENT.value:
        raise Conflict(
            f"An order in {order['status']} cannot be paid.",
            code="order_not_payable",
            current_status=order["status"],
        )


def _charge_card(order: dict[str, Any], token: str) -> dict[str, Any]:
    """The sandbox card provider answers synchronously; its answer is recorded exactly like a callback."""
    from shared.core.config import sandbox_providers

    if not sandbox_providers():
        from shared.core.errors import ProviderNotConfigured

        raise ProviderNotConfigured("The card provider is not configured here.")
    from shared.sandbox.payments import card_charge

    captured, charge_id, message = card_charge(token, int(order["total_fen"]), order["order_id"])
    if captured:
        record_capture(
            Capture(
                provider=Provider.CARD,
                out_trade_no=order["order_id"],
                transaction_id=charge_id,
                amount_fen=int(order["total_fen"]),
                currency=order["currency"],
                paid_at=now_iso(),
                event_key=f"card:{charge_id}",
            )
        )
    else:
        import hashlib

        attempt = hashlib.sha256(token.encode()).hexdigest()[:16]  # one failure per token, token not stored
        record_failure(order["order_id"], Provider.CARD, f"card:decline:{attempt}", message)
    return orders.require(order["order_id"], consistent=True)


# ------------------------------------------------------------------ provider events


def _unmatched(provider: Provider, ref: str, payload: dict[str, Any], summary: str) -> Outcome:
    from shared.ops import inbox

    inbox.record("unmatched_payment", f"{provider.value}:{ref}", payload, summary=summary[:200])
    return Outcome("unmatched")


def check_amount(order: dict[str, Any], amount_fen: int, currency: str) -> None:
    if amount_fen != int(order["total_fen"]) or currency != order["currency"]:
        raise WrongAmount("the paid amount or currency does not match the order")


def record_capture(capture: Capture, *, payload: dict[str, Any] | None = None) -> Outcome:
    """A verified capture: AWAITING_PAYMENT -> PAID once; on an order that can no longer be paid, record it
    and refund it in full. Replays change nothing."""
    order = orders.get(capture.out_trade_no, consistent=True)
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
    payment: dict[str, Any] = {
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
        existing = order.get("payment")
        if existing:
            return _already_captured(order, existing, capture, payload)
        if order["status"] == OrderStatus.AWAITING_PAYMENT.value:
            due = logic.due_key("PAID", order["order_id"], iso(now() + paid_redrive_after()))
            try:
                orders.transition(
                    order,
                    OrderStatus.PAID,
                    actor=actor,
                    reason=f"paid via {capture.provider.value}",
                    set_fields={"payment": payment, **due},
                    remove_fields=("last_payment_error",),
                )
            except Conflict:
                order = orders.require(capture.out_trade_no, consistent=True)  # expiry or a replay won
                continue
            from shared.core import queues

            queues.send("PAID_QUEUE_URL", {"order_id": order["order_id"]})
            return Outcome("paid", order["order_id"])
        recorded = payments_store.record_late_payment(
            order["order_id"],
            {**payment, "late": True},
            actor=actor,
            reason=f"captured while {order['status']}; refunding",
        )
        if recorded is None:
            order = orders.require(capture.out_trade_no, consistent=True)
            continue
        _refund_late(recorded, actor)
        return Outcome("paid_after_cancel", order["order_id"])
    raise Conflict("The order kept changing; retry.", code="order_changed", current_status=order["status"])


def _refund_late(order: dict[str, Any], actor: str) -> None:
    from shared.payments import refunds

    refunds.refund(
        order,
        int(order["payment"]["amount_fen"]),
        refund_key=LATE_REFUND_KEY,
        reason="paid after the order was cancelled",
        actor=actor,
    )


def _already_captured(
    order: dict[str, Any], existing: dict[str, Any], capture: Capture, payload: dict[str, Any] | None
) -> Outcome:
    if existing["transaction_id"] != capture.transaction_id:
        # A second, different capture for one order: the money is real, so ops refunds it by hand.
        from shared.ops import inbox

        inbox.record(
            "refund_issue",
            f"{capture.provider.value}:{capture.transaction_id}",
            payload or {},
            summary=f"second capture {capture.transaction_id} for order {order['order_id']} "
            f"(already paid by {existing['transaction_id']}): refund it",
        )
        return Outcome("second_capture", order["order_id"])
    late = (existing.get("refunds") or {}).get(LATE_REFUND_KEY)
    if existing.get("late") and (
        late is None or (late["state"] == "requested" and not late.get("provider_refund_id"))
    ):
        _refund_late(order, f"provider:{capture.provider.value}")  # finish a refund a crash interrupted
    return Outcome("duplicate", order["order_id"])


def record_failure(order_id: str, provider: Provider, event_key: str, message: str) -> Outcome:
    """A failed attempt leaves the order payable, with a message the shopper can act on (once per event)."""
    if orders.get(order_id) is None:
        return Outcome("ignored")
    done = payments_store.record_event_once(
        order_id,
        event_key,
        type_="payment_failed",
        actor=f"provider:{provider.value}",
        reason=message[:200],
        set_fields={"last_payment_error": message[:200]},
        expected_status=OrderStatus.AWAITING_PAYMENT.value,
    )
    return Outcome("failure_recorded" if done else "ignored", order_id)


def record_refund_result(
    order_id: str, provider: Provider, *, out_refund_no: str, succeeded: bool, detail: str
) -> Outcome:
    """A refund notification: settle `payment.refunds[key]` once; anything we cannot match goes to ops."""
    from shared.payments import refunds

    order = orders.get(order_id, consistent=True)
    refunds_map = ((order or {}).get("payment") or {}).get("refunds") or {}
    key = next((k for k, r in refunds_map.items() if r.get("out_refund_no") == out_refund_no), None)
    if order is None or key is None:
        return _unmatched(
            provider,
            f"refund:{out_refund_no}",
            {"order_id": order_id, "detail": detail},
            f"{provider.value} refund result for unknown refund {out_refund_no}",
        )
    refunds.settle(order_id, key, succeeded=succeeded, actor=f"provider:{provider.value}", detail=detail)
    return Outcome("refund_updated", order_id)
