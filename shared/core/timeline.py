"""The base of every timeline entry (an order's events, an after-sales case's history)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TimelineEvent(BaseModel):
    """One entry: when, who, why. Subclasses add `type` (the union's discriminator) and their own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: str
    actor: str
    reason: str | None = None

    def to_item(self) -> dict[str, Any]:
        """The stored map: no `None` values, statuses as their names."""
        return self.model_dump(mode="json", exclude_none=True)
