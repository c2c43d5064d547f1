"""Ops-only views. Risk reasons are visible here and never to shoppers."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field, JsonValue

from shared.api.declaration import route
from shared.core.api import require_role
from shared.core.roles import Role
from shared.core.timestamps import Timestamp
from shared.core.types import OrderId
from shared.ops import inbox
from shared.orders import store
from shared.orders.views import OpsOrderView

router = Router()

InboxKind = Literal["unmatched_payment", "unmatched_tracking", "trouble_flag", "risk_rejected", "refund_issue"]


class InboxEntry(BaseModel):
    ref: str
    at: Timestamp
    summary: str
    payload: dict[str, JsonValue] = Field(
        description="What was stored, as JSON: for unmatched callbacks the partner's own body (its shape is "
        "the partner's), for flags and rejections our summary of the order."
    )


class InboxPage(BaseModel):
    kind: InboxKind
    items: list[InboxEntry]
    cursor: str | None = None


# GET /ops/inbox/{kind}
@route(router, "listOpsInbox", summary="Callbacks and flags stored for ops")
def list_inbox(kind: InboxKind, cursor: Annotated[str | None, Query(max_length=2048)] = None) -> InboxPage:
    caller = require_role(router, Role.OPS)
    items, next_cursor = inbox.list_kind(kind, cursor, viewer=caller.sub)
    return InboxPage(kind=kind, items=[InboxEntry.model_validate(item) for item in items], cursor=next_cursor)


# GET /ops/orders/{order_id}
@route(router, "getOpsOrder", summary="The whole order record, risk and review reasons included")
def ops_order(order_id: OrderId) -> OpsOrderView:
    require_role(router, Role.OPS)
    return OpsOrderView.of(store.require(order_id))
