"""Which committed order change, or after-sales case step, a shopper hears about (no I/O).

Input: the order item's old and new images from the stream, parsed into `OrderImage` (the timeline as
typed events, `shared/orders/events.py`). The events this write appended decide: the timeline is
append-only (every writer uses `list_append`), so they are the new image's events past the old image's
count, and each kind maps to at most one notification by its type (`_kind`), never by diffing fields. A
refund without an event of its own is seen as `payment.refunded_fen` growing. Each notification's key is
deterministic (`<at>#<order_id>#<event index>`), so a redelivered stream record produces the same keys and
the conditional put stores it once (and `service.prepare` does not publish it again).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.aftersales import events as case_ev
from shared.aftersales.states import CaseStatus
from shared.orders import events as ev
from shared.orders.models import OrderStatus
from shared.tickets import events as ticket_ev


class _Payment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    refunded_fen: int = 0


class OrderImage(BaseModel):
    """What notifications read of an order item (a stream image): the timeline, typed."""

    model_config = ConfigDict(extra="ignore")

    order_id: str | None = None
    shopper_id: str | None = None
    status: OrderStatus | None = None
    version: int = 0
    currency: str | None = None
    updated_at: str | None = None
    payment: _Payment | None = None
    events: list[ev.OrderEvent] = []

    @property
    def refunded_fen(self) -> int:
        return self.payment.refunded_fen if self.payment else 0


# to_status of a status change -> notification type
BY_STATUS = {
    "PAID": "paid",
    "IN_REVIEW": "in_review",
    "FULFILLING": "approved",
    "REJECTED": "rejected",
    "SHIPPED": "shipped",
    "DELIVERED": "delivered",
    "COMPLETED": "completed",
    "CANCELLED": "cancelled",
    "FAILED": "failed",
}
TITLES = {
    "paid": "支付成功 / Payment received",
    "in_review": "订单审核中 / Your order is being reviewed",
    "approved": "审核通过 / Approved, being fulfilled",
    "rejected": "订单未通过审核 / Order rejected",
    "shipped": "已发货 / Shipped",
    "out_for_delivery": "派送中 / Out for delivery",
    "delivered": "已送达 / Delivered",
    "completed": "订单完成 / Completed",
    "cancelled": "订单已取消 / Cancelled",
    "failed": "订单失败 / Order failed",
    "refunded": "退款已发起 / Refund issued",
    "delivery_issue": "物流异常 / Delivery issue",
}


def _kind(event: ev.OrderEvent) -> str | None:
    """The notification one appended event makes, by its kind."""
    match event:
        case ev.StatusChanged() if event.to_status != event.from_status:
            return BY_STATUS.get(event.to_status.value)
        case ev.Refunded():  # refund_requested, then refunded (money moved) or refund_failed: only the money
            return "refunded"
        case ev.OutForDelivery():
            return "out_for_delivery"
        case ev.TroubleFlag():
            return "delivery_issue"
    return None


def _completed_on_delivery(appended: list[ev.OrderEvent], index: int) -> bool:
    """A digital order completes in the write that delivers it: "delivered" says it all."""
    event, before = appended[index], appended[index - 1] if index > 0 else None
    return (isinstance(event, ev.StatusChanged) and event.to_status is OrderStatus.COMPLETED
            and isinstance(before, ev.StatusChanged) and before.to_status is OrderStatus.DELIVERED)


def appended_events(old: OrderImage | None, new: OrderImage) -> list[tuple[int, ev.OrderEvent]]:
    """The events this write appended, with their index in the timeline (the notification key's `n`).

    The log only grows (`list_append`), so they are the events past the old image's; should the old image's
    events not be the new one's prefix (nothing writes that way today), the ones the old image lacks."""
    indexed = list(enumerate(new.events))
    if old is None:
        return indexed
    if new.events[: len(old.events)] == old.events:
        return indexed[len(old.events) :]
    return [(index, event) for index, event in indexed if event not in old.events]


def notifications(old: OrderImage | None, new: OrderImage) -> list[dict[str, Any]]:
    """The notifications one committed change of an order item produces (possibly none)."""
    if not new.shopper_id or not new.order_id:
        return []
    indexed = appended_events(old, new)
    appended = [event for _, event in indexed]
    found: list[dict[str, Any]] = []
    for offset, (index, event) in enumerate(indexed):
        if _completed_on_delivery(appended, offset):
            continue
        kind = _kind(event)
        if kind:
            found.append(_make(new, kind, event.at, f"{index:04d}", event.reason))
    refunded_before = old.refunded_fen if old else 0
    if new.refunded_fen > refunded_before and not any(isinstance(e, ev.Refunded) for e in appended):
        found.append(_make(new, "refunded", new.updated_at or "", f"v{new.version:04d}", None,
                           amount_fen=new.refunded_fen - refunded_before))
    return found


def _make(order: OrderImage, kind: str, at: str, n: str, reason: str | None, **extra: Any) -> dict[str, Any]:
    assert order.shopper_id and order.order_id  # checked by `notifications`
    return {
        "shopper_id": order.shopper_id,
        "order_id": order.order_id,
        "type": kind,
        "at": at,
        "sk": f"{at}#{order.order_id}#{n}",
        "title": TITLES[kind],
        "status": order.status.value if order.status else None,
        "reason": reason or None,
        "currency": order.currency,
        **extra,
    }


# ---------------------------------------------------------------- after-sales cases

class CaseImage(BaseModel):
    """What notifications read of a case item (`ORDER#<order_id>` / `CASE#<case_id>`): its status history."""

    model_config = ConfigDict(extra="ignore")

    case_id: str | None = None
    order_id: str | None = None
    shopper_id: str | None = None
    status: CaseStatus | None = None
    currency: str | None = None
    refund_total_fen: int | None = None
    events: list[case_ev.CaseEvent] = []


# every step of a case is told to the shopper: type `after_sales_<status>`, one title per status
CASE_TITLES: dict[CaseStatus, str] = {
    CaseStatus.REQUESTED: "售后申请已提交 / After-sales request received",
    CaseStatus.APPROVED: "售后申请已同意 / After-sales request approved",
    CaseStatus.REJECTED: "售后申请被拒绝 / After-sales request rejected",
    CaseStatus.AWAITING_RETURN: "请寄回商品 / Please send the goods back",
    CaseStatus.RETURN_IN_TRANSIT: "退货运输中 / Return on its way",
    CaseStatus.RECEIVED: "商家已收货 / Return received",
    CaseStatus.REFUNDING: "退款处理中 / Refund in progress",
    CaseStatus.REFUNDED: "退款成功 / Refunded",
    CaseStatus.DISPUTED: "平台介入中 / Under platform review",
    CaseStatus.CLOSED: "售后已关闭 / After-sales case closed",
}


def case_notifications(old: CaseImage | None, new: CaseImage) -> list[dict[str, Any]]:
    """One notification per status step a write appended to the case's history (its opening included); the
    key `<at>#<case_id>#<n>` is deterministic, so a redelivered record is stored once."""
    if not (new.shopper_id and new.order_id and new.case_id):
        return []
    start = len(old.events) if old is not None and new.events[: len(old.events)] == old.events else 0
    found: list[dict[str, Any]] = []
    for index, event in list(enumerate(new.events))[start:]:
        if isinstance(event, case_ev.StatusChanged) and event.from_status == event.to_status:
            continue
        if not isinstance(event, case_ev.Opened | case_ev.StatusChanged):
            continue  # not a step (evidence added): the case page shows it, no notification
        found.append({
            "shopper_id": new.shopper_id, "order_id": new.order_id, "case_id": new.case_id,
            "type": f"after_sales_{event.to_status.value.lower()}", "at": event.at,
            "sk": f"{event.at}#{new.case_id}#{index:04d}", "title": CASE_TITLES[event.to_status],
            "case_status": event.to_status.value, "reason": event.reason, "currency": new.currency,
            "amount_fen": new.refund_total_fen,
        })
    return found


# ---------------------------------------------------------------- support tickets

class TicketImage(BaseModel):
    """What notifications read of a ticket item (`TICKET#<ticket_id>` / `TICKET`): its history, never its text."""

    model_config = ConfigDict(extra="ignore")

    ticket_id: str | None = None
    opener_id: str | None = None
    order_id: str | None = None
    events: list[ticket_ev.TicketEvent] = []


TICKET_TITLES: dict[str, str] = {
    "answered": "客服已回复 / Support answered your ticket",
    "closed": "工单已关闭 / Your support ticket was closed",
}


def ticket_notifications(old: TicketImage | None, new: TicketImage) -> list[dict[str, Any]]:
    """The opener hears of ops' answers and of the closing (`ticket_answered`, `ticket_closed`), keyed
    `<at>#<ticket_id>#<n>` like case steps, so a redelivered record is stored once."""
    if not (new.opener_id and new.ticket_id):
        return []
    start = len(old.events) if old is not None and new.events[: len(old.events)] == old.events else 0
    return [
        {"shopper_id": new.opener_id, "order_id": new.order_id, "ticket_id": new.ticket_id,
         "type": f"ticket_{event.type}", "at": event.at, "sk": f"{event.at}#{new.ticket_id}#{index:04d}",
         "title": TICKET_TITLES[event.type], "ticket_status": event.to_status.value}
        for index, event in list(enumerate(new.events))[start:]
        if event.type in TICKET_TITLES
    ]
