"""A case's status history: one model per kind, a union discriminated on `type`, one constructor per kind.

As the order timeline (shared/orders/events.py): every kind is built by exactly one function below, stored
compactly (`to_item`, no `None`), and appended inside the one conditional write that changes the case.
Today only `opened` is written (shared/aftersales/store.py); `status_changed` is built only by
`store.transition_update` once later items move cases (it checks `states.TRANSITIONS` first).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.aftersales.states import CaseStatus
from shared.core.timeline import TimelineEvent


class Opened(TimelineEvent):
    type: Literal["opened"] = "opened"
    to_status: Literal[CaseStatus.REQUESTED] = CaseStatus.REQUESTED


class StatusChanged(TimelineEvent):
    type: Literal["status_changed"] = "status_changed"
    from_status: CaseStatus
    to_status: CaseStatus


CaseEvent = Annotated[Opened | StatusChanged, Field(discriminator="type")]


def opened(*, shopper_id: str, reason_code: str, at: str) -> Opened:
    return Opened(at=at, actor=f"shopper:{shopper_id}", reason=reason_code)


def status_changed(*, from_status: CaseStatus, to_status: CaseStatus, actor: str, reason: str | None,
                   at: str) -> StatusChanged:
    """Only `shared.aftersales.store.transition_update` calls this, after `states.check_move`."""
    return StatusChanged(at=at, actor=actor, from_status=from_status, to_status=to_status, reason=reason)
