"""HTTP routes of the human review queue (reviewer role only)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.api.declaration import route
from shared.core.api import require_role
from shared.core.roles import Role
from shared.core.timestamps import Timestamp
from shared.core.types import OrderId
from shared.orders.models import OrderStatus
from shared.review import queue, service
from shared.review.models import ReviewReason

router = Router()


class QueueLine(BaseModel):
    sku: str
    title: str
    category: str
    quantity: int


class QueueEntry(BaseModel):
    order_id: str
    queued_at: Timestamp
    total_fen: int
    currency: str
    kind: Literal["digital", "physical"] | None = None
    items: list[QueueLine]
    ad_copy: str | None = None
    target: str | None = None
    highlighted_copy: str | None = Field(
        default=None, description="The ad copy with hits marked like 【全网第一】"
    )
    reasons: list[ReviewReason]
    claimed_by: str | None = None
    claim_expires_at: Timestamp | None = None


class QueuePage(BaseModel):
    items: list[QueueEntry]
    cursor: str | None = None


class Lease(BaseModel):
    order_id: str
    claimed_by: str
    claim_expires_at: Timestamp


class Decided(BaseModel):
    order_id: str
    status: OrderStatus
    version: int
    decision: Literal["approve", "reject"]


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why; the shopper sees it as the order's status_reason"
    )


# GET /review/queue
@route(router, "listReviewQueue", summary="Orders waiting for a reviewer, oldest first")
def list_queue(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> QueuePage:
    caller = require_role(router, Role.REVIEWER)
    entries, next_cursor = queue.page(cursor, viewer=caller.sub)
    return QueuePage(items=[QueueEntry.model_validate(entry) for entry in entries], cursor=next_cursor)


# POST /review/{order_id}/claim
@route(router, "claimReview", summary="Take the lease on an order (409 if another reviewer holds it)")
def claim(order_id: OrderId) -> Lease:
    caller = require_role(router, Role.REVIEWER)
    return Lease.model_validate(service.claim(order_id, caller.sub))


# POST /review/{order_id}/approve
@route(router, "approveReview", summary="Approve: fulfilment resumes (needs your live lease)")
def approve(order_id: OrderId) -> Decided:
    caller = require_role(router, Role.REVIEWER)
    return Decided.model_validate(service.approve(order_id, caller.sub))


# POST /review/{order_id}/reject
@route(router, "rejectReview", summary="Reject and refund in full (needs your live lease)")
def reject(order_id: OrderId, body: RejectBody) -> Decided:
    caller = require_role(router, Role.REVIEWER)
    return Decided.model_validate(service.reject(order_id, caller.sub, body.reason))
