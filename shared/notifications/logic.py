"""Which committed order change a shopper hears about (no I/O).

Input: the order item's old and new images from the stream. New timeline events (the ones past the old
image's event count) decide; a refund without an event of its own is seen as `payment.refunded_fen` growing.
Each notification's key is deterministic (`<at>#<order_id>#<event index>`), so a redelivered stream record
produces the same keys and the conditional put stores it once.
"""

from __future__ import annotations

from typing import Any

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
BY_EVENT_TYPE = {"out_for_delivery": "out_for_delivery", "trouble_flag": "delivery_issue"}
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


def _completed_on_delivery(events: list[dict[str, Any]], index: int, first_new: int) -> bool:
    return (events[index].get("to_status") == "COMPLETED" and index > first_new
            and events[index - 1].get("to_status") == "DELIVERED")


def _refund_event(event: dict[str, Any]) -> bool:
    # the payments context appends refund_requested, then refunded (money moved) or refund_failed
    return event.get("type") == "refunded"


def notifications(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """The notifications one committed change of an order item produces (possibly none)."""
    if not new.get("shopper_id") or not new.get("order_id"):
        return []
    old_events = list((old or {}).get("events") or [])
    events = list(new.get("events") or [])
    found: list[dict[str, Any]] = []
    for index in range(len(old_events), len(events)):
        event = events[index]
        kind = None
        if _completed_on_delivery(events, index, len(old_events)):
            continue  # a digital order completes in the write that delivers it: "delivered" says it all
        if event.get("to_status") and event.get("to_status") != event.get("from_status"):
            kind = BY_STATUS.get(str(event["to_status"]))
        elif _refund_event(event):
            kind = "refunded"
        else:
            kind = BY_EVENT_TYPE.get(str(event.get("type")))
        if kind:
            found.append(_make(new, kind, str(event["at"]), f"{index:04d}", event.get("reason")))
    refunded_before = int(((old or {}).get("payment") or {}).get("refunded_fen", 0) or 0)
    refunded_now = int((new.get("payment") or {}).get("refunded_fen", 0) or 0)
    if refunded_now > refunded_before and not any(_refund_event(e) for e in events[len(old_events) :]):
        found.append(
            _make(
                new,
                "refunded",
                str(new.get("updated_at") or ""),
                f"v{int(new.get('version', 0)):04d}",
                None,
                amount_fen=refunded_now - refunded_before,
            )
        )
    return found


def _make(order: dict[str, Any], kind: str, at: str, n: str, reason: Any, **extra: Any) -> dict[str, Any]:
    return {
        "shopper_id": order["shopper_id"],
        "order_id": order["order_id"],
        "type": kind,
        "at": at,
        "sk": f"{at}#{order['order_id']}#{n}",
        "title": TITLES[kind],
        "status": order.get("status"),
        "reason": str(reason) if reason else None,
        "currency": order.get("currency"),
        **extra,
    }
