"""Ops-only views. Risk reasons are visible here and never to shoppers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from shared.core.api import require_role
from shared.core.types import OrderId
from shared.ops import inbox
from shared.orders import store

router = Router()

InboxKind = Literal["unmatched_payment", "unmatched_tracking", "trouble_flag", "risk_rejected", "refund_issue"]


class InboxEntry(BaseModel):
    ref: str
    at: str
    summary: str
    payload: dict[str, Any]


class InboxPage(BaseModel):
    kind: str
    items: list[InboxEntry]
    cursor: str | None = None


@router.get("/ops/inbox/<kind>", summary="Callbacks and flags stored for ops", tags=["ops"])
def list_inbox(kind: InboxKind, cursor: Annotated[str | None, Query(max_length=2048)] = None) -> InboxPage:
    caller = require_role(router, "ops")
    items, next_cursor = inbox.list_kind(kind, cursor, viewer=caller.sub)
    return InboxPage(kind=kind, items=[InboxEntry.model_validate(item) for item in items], cursor=next_cursor)


@router.get("/ops/orders/<order_id>", summary="The whole order record, risk and review reasons included",
            tags=["ops"])
def ops_order(order_id: OrderId) -> dict[str, Any]:
    require_role(router, "ops")
    order = store.require(order_id).to_item()
    return {k: v for k, v in order.items() if not k.startswith(("GSI", "PK", "SK")) and k != "request_hash"}
