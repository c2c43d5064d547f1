"""What GET /orders/{order_id}/tracking answers: the parcel's state and its trace, newest first.

Imported on first use through shared.fulfilment's module __getattr__ (the route's answer type), so the
api_orders function does not load the logistics models on every cold start."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.core.timestamps import Timestamp
from shared.logistics.models import TrackingState

__all__ = ["TraceView", "TrackingState", "TrackingView"]


class TraceView(BaseModel):
    at: Timestamp
    state: TrackingState | None = None
    raw_status: str = Field(default="", description="The partner's own status text or code for this line, as sent.")
    context: str = ""
    area: str | None = None


class TrackingView(BaseModel):
    order_id: str
    carrier: str
    tracking_number: str
    state: TrackingState
    traces: list[TraceView]
