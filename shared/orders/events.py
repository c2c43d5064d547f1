"""The order's timeline: one model per event kind, a union discriminated on `type`, one constructor per kind.

As in saleor's `order/events.py`, every kind of entry is built by exactly one function below, so a new kind
cannot forget its audit entry and no writer hand-builds an event's shape. The stored form is compact: the
keys of the model with `None` left out (`to_item`), exactly what items already in the table hold.

Who appends which kind (each inside the one conditional write that changes the order):
  placed                       shared/orders/intake.py (the new item)
  status_changed               shared/orders/store.py `transition_update` (every status change) and the
                               workflows' MarkFailed state (infra/workflows.py, generated from `status_changed`)
  risk_checked                 shared/risk/service.py
  redriven                     shared/orders/lifecycle.py (through store.append_event)
  review_rejected              shared/review/service.py
  out_for_delivery, trouble_flag, trouble_cleared   shared/logistics/service.py
  payment_intent_created, payment_intent_superseded, payment_intent_closed, payment_failed,
  duplicate_capture, paid_after_cancel, refund_requested, refunded, refund_failed   shared/payments/store.py
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from shared.core.clock import now_iso
from shared.core.timeline import TimelineEvent
from shared.orders.models import OrderStatus


class Placed(TimelineEvent):
    type: Literal["placed"] = "placed"
    to_status: Literal[OrderStatus.PLACED] = OrderStatus.PLACED


class StatusChanged(TimelineEvent):
    type: Literal["status_changed"] = "status_changed"
    # None only on the first entry of orders placed before the `placed` kind existed (they logged their
    # placement as a status change to PLACED): such items are still in tables and must parse
    from_status: OrderStatus | None = None
    to_status: OrderStatus


class RiskChecked(TimelineEvent):
    type: Literal["risk_checked"] = "risk_checked"


class Redriven(TimelineEvent):
    type: Literal["redriven"] = "redriven"


class ReviewRejected(TimelineEvent):
    type: Literal["review_rejected"] = "review_rejected"


class OutForDelivery(TimelineEvent):
    type: Literal["out_for_delivery"] = "out_for_delivery"


class TroubleFlag(TimelineEvent):
    type: Literal["trouble_flag"] = "trouble_flag"


class TroubleCleared(TimelineEvent):
    type: Literal["trouble_cleared"] = "trouble_cleared"


class PaymentIntentCreated(TimelineEvent):
    type: Literal["payment_intent_created"] = "payment_intent_created"


class PaymentIntentSuperseded(TimelineEvent):
    type: Literal["payment_intent_superseded"] = "payment_intent_superseded"


class PaymentIntentClosed(TimelineEvent):
    type: Literal["payment_intent_closed"] = "payment_intent_closed"


class PaymentFailed(TimelineEvent):
    type: Literal["payment_failed"] = "payment_failed"


class DuplicateCapture(TimelineEvent):
    type: Literal["duplicate_capture"] = "duplicate_capture"


class PaidAfterCancel(TimelineEvent):
    type: Literal["paid_after_cancel"] = "paid_after_cancel"


class RefundRequested(TimelineEvent):
    type: Literal["refund_requested"] = "refund_requested"


class Refunded(TimelineEvent):
    type: Literal["refunded"] = "refunded"


class RefundFailed(TimelineEvent):
    type: Literal["refund_failed"] = "refund_failed"


OrderEvent = Annotated[
    Placed | StatusChanged | RiskChecked | Redriven | ReviewRejected | OutForDelivery | TroubleFlag
    | TroubleCleared | PaymentIntentCreated | PaymentIntentSuperseded | PaymentIntentClosed | PaymentFailed
    | DuplicateCapture | PaidAfterCancel | RefundRequested | Refunded | RefundFailed,
    Field(discriminator="type"),
]
EVENTS: TypeAdapter[list[OrderEvent]] = TypeAdapter(list[OrderEvent])


def parse(items: list[dict[str, Any]]) -> list[OrderEvent]:
    """Stored maps -> typed events (a kind nobody constructs fails loudly)."""
    return EVENTS.validate_python(items)


def to_items(events: list[OrderEvent]) -> list[dict[str, Any]]:
    return [event.to_item() for event in events]


def _at(at: str | None) -> str:
    return at if at is not None else now_iso()


# --- the constructors: one per kind ------------------------------------------------------------------------


def placed(*, shopper_id: str, at: str) -> Placed:
    return Placed(at=at, actor=f"shopper:{shopper_id}")


def status_changed(*, from_status: OrderStatus, to_status: OrderStatus, actor: str, reason: str | None,
                   at: str) -> StatusChanged:
    """Only `shared.orders.store.transition_update` and the ASL generator call this: both check the move
    against `logic.TRANSITIONS` first."""
    return StatusChanged(at=at, actor=actor, from_status=from_status, to_status=to_status, reason=reason)


def risk_checked(*, actor: str, at: str) -> RiskChecked:
    return RiskChecked(at=at, actor=actor)


def redriven(*, reason: str, at: str | None = None) -> Redriven:
    return Redriven(at=_at(at), actor="system:sweeper", reason=reason)


def review_rejected(*, actor: str, reason: str, at: str | None = None) -> ReviewRejected:
    return ReviewRejected(at=_at(at), actor=actor, reason=reason)


def out_for_delivery(*, actor: str, raw_state: str, at: str | None = None) -> OutForDelivery:
    return OutForDelivery(at=_at(at), actor=actor, reason=raw_state)


def trouble_flag(*, actor: str, state: str, at: str | None = None) -> TroubleFlag:
    return TroubleFlag(at=_at(at), actor=actor, reason=state)


def trouble_cleared(*, actor: str, state: str, at: str | None = None) -> TroubleCleared:
    return TroubleCleared(at=_at(at), actor=actor, reason=state)


def payment_intent_created(*, actor: str, provider: str, out_trade_no: str,
                           at: str | None = None) -> PaymentIntentCreated:
    return PaymentIntentCreated(at=_at(at), actor=actor, reason=f"{provider} {out_trade_no}")


def payment_intent_superseded(*, actor: str, superseded: Mapping[str, Any], intent: Mapping[str, Any],
                              at: str | None = None) -> PaymentIntentSuperseded:
    reason = (f"{superseded['provider']} {superseded['out_trade_no']} ({superseded['outcome']}) "
              f"-> {intent['provider']} {intent['out_trade_no']}")
    return PaymentIntentSuperseded(at=_at(at), actor=actor, reason=reason)


def payment_intent_closed(*, actor: str, provider: str, out_trade_no: str, result: str,
                          at: str | None = None) -> PaymentIntentClosed:
    return PaymentIntentClosed(at=_at(at), actor=actor, reason=f"{provider} {out_trade_no}: {result}")


def payment_failed(*, actor: str, message: str, at: str | None = None) -> PaymentFailed:
    return PaymentFailed(at=_at(at), actor=actor, reason=message)


def duplicate_capture(*, actor: str, reason: str, at: str | None = None) -> DuplicateCapture:
    return DuplicateCapture(at=_at(at), actor=actor, reason=reason)


def paid_after_cancel(*, actor: str, reason: str, at: str | None = None) -> PaidAfterCancel:
    return PaidAfterCancel(at=_at(at), actor=actor, reason=reason)


def refund_requested(*, actor: str, refund_key: str, amount_fen: int, reason: str,
                     at: str | None = None) -> RefundRequested:
    return RefundRequested(at=_at(at), actor=actor, reason=f"{refund_key}: {amount_fen} fen ({reason})")


def refunded(*, actor: str, refund_key: str, amount_fen: int, detail: str | None = None,
             at: str | None = None) -> Refunded:
    """Money moved back to the payer."""
    return Refunded(at=_at(at), actor=actor, reason=_refund_reason(refund_key, amount_fen, detail))


def refund_failed(*, actor: str, refund_key: str, amount_fen: int, detail: str | None = None,
                  at: str | None = None) -> RefundFailed:
    return RefundFailed(at=_at(at), actor=actor, reason=_refund_reason(refund_key, amount_fen, detail))


def _refund_reason(refund_key: str, amount_fen: int, detail: str | None) -> str:
    return f"{refund_key}: {amount_fen} fen" + (f" ({detail})" if detail else "")
