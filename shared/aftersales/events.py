"""A case's status history: one model per kind, a union discriminated on `type`, one constructor per kind.

As the order timeline (shared/orders/events.py): every kind is built by exactly one function below, stored
compactly (`to_item`, no `None`), and appended inside the one conditional write that changes the case.
`opened` is written by shared/aftersales/store.py, `status_changed` only by `store.transition_update` (it checks
`states.TRANSITIONS` first), `evidence_added` only by `disputes.add_evidence` (the status stays).
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


class EvidenceAdded(TimelineEvent):
    """A side added evidence (shared/aftersales/disputes.py); the status stays. `entry` indexes `Case.evidence`."""

    type: Literal["evidence_added"] = "evidence_added"
    status: CaseStatus
    entry: int
    images: int


CaseEvent = Annotated[Opened | StatusChanged | EvidenceAdded, Field(discriminator="type")]


def opened(*, shopper_id: str, reason_code: str, at: str) -> Opened:
    return Opened(at=at, actor=f"shopper:{shopper_id}", reason=reason_code)


def status_changed(*, from_status: CaseStatus, to_status: CaseStatus, actor: str, reason: str | None,
                   at: str) -> StatusChanged:
    """Only `shared.aftersales.store.transition_update` calls this, after `states.check_move`."""
    return StatusChanged(at=at, actor=actor, from_status=from_status, to_status=to_status, reason=reason)


def evidence_added(*, actor: str, status: CaseStatus, entry: int, images: int, at: str) -> EvidenceAdded:
    """Only `shared.aftersales.disputes.add_evidence` calls this, in the write that stores the evidence."""
    return EvidenceAdded(at=at, actor=actor, status=status, entry=entry, images=images)
