"""GET /me/notifications (newest first, with read flags) and POST /me/notifications/read (the marker)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.aftersales.states import CaseStatus
from shared.api.declaration import route
from shared.core.api import principal
from shared.core.timestamps import Timestamp
from shared.orders.models import OrderStatus
from shared.tickets.states import TicketStatus

router = Router()  # Powertools leaves __init__ unannotated


class NotificationView(BaseModel):
    id: str
    type: str
    order_id: str | None = Field(default=None, description="Absent for a support ticket about no order.")
    at: Timestamp
    title: str
    status: OrderStatus | None = None
    case_id: str | None = Field(default=None, description="An after-sales case's notification: the case.")
    case_status: CaseStatus | None = None
    ticket_id: str | None = Field(default=None, description="A support ticket's notification: the ticket.")
    ticket_status: TicketStatus | None = None
    amount_fen: int | None = None
    currency: str | None = None
    read: bool


class NotificationPage(BaseModel):
    items: list[NotificationView]
    cursor: str | None = None
    read_up_to: str | None = None


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to: Annotated[str, StringConstraints(pattern=r"^[0-9][0-9A-Za-z:.#_-]{0,119}$")]


class ReadMarker(BaseModel):
    read_up_to: str


# GET /me/notifications
@route(router, "listNotifications", summary="Your notifications, newest first")
def list_notifications(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> NotificationPage:
    from shared.notifications import store

    caller = principal(router)
    items, next_cursor = store.page(caller.sub, cursor)
    marker = store.read_up_to(caller.sub)
    return NotificationPage(
        items=[
            NotificationView(
                id=item["SK"],
                type=item["type"],
                order_id=item.get("order_id"),
                at=item["at"],
                title=item["title"],
                status=item.get("status"),
                case_id=item.get("case_id"),
                case_status=item.get("case_status"),
                ticket_id=item.get("ticket_id"),
                ticket_status=item.get("ticket_status"),
                amount_fen=item.get("amount_fen"),
                currency=item.get("currency"),
                read=marker is not None and item["SK"] <= marker,
            )
            for item in items
        ],
        cursor=next_cursor,
        read_up_to=marker,
    )


# POST /me/notifications/read
@route(router, "markNotificationsRead", summary="Mark notifications read up to one (an id or a time)")
def mark_read(body: MarkRead) -> ReadMarker:
    from shared.notifications import store

    caller = principal(router)
    # a bare time marks everything at that time read: '~' sorts after every '<at>#<order>#<n>' suffix
    marker = body.up_to if "#" in body.up_to else f"{body.up_to}#~"
    return ReadMarker(read_up_to=store.mark_read(caller.sub, marker))
