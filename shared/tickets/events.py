"""A ticket's history: one model per kind, a union discriminated on `type`, one constructor per kind.

As the case history (shared/aftersales/events.py): every entry is a `shared.core.timeline.TimelineEvent`, stored
compactly and appended inside the one conditional write that changes the ticket (shared/tickets/store.py). An
entry names the message it came with, never its text (the thread holds the text).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.core.timeline import TimelineEvent
from shared.tickets.states import TicketStatus


class Opened(TimelineEvent):
    type: Literal["opened"] = "opened"
    to_status: Literal[TicketStatus.OPEN] = TicketStatus.OPEN


class Assigned(TimelineEvent):
    type: Literal["assigned"] = "assigned"
    from_status: TicketStatus
    to_status: TicketStatus
    assignee: str


class Answered(TimelineEvent):
    """Ops wrote to the opener (the opener is notified)."""

    type: Literal["answered"] = "answered"
    from_status: TicketStatus
    to_status: Literal[TicketStatus.ANSWERED] = TicketStatus.ANSWERED
    message_id: str
    first_response: bool = False


class Replied(TimelineEvent):
    """The opener wrote (again)."""

    type: Literal["replied"] = "replied"
    from_status: TicketStatus
    to_status: TicketStatus
    message_id: str


class Closed(TimelineEvent):
    """Ops closed the ticket; `reason` is the resolution (the opener is notified)."""

    type: Literal["closed"] = "closed"
    from_status: TicketStatus
    to_status: Literal[TicketStatus.CLOSED] = TicketStatus.CLOSED


TicketEvent = Annotated[Opened | Assigned | Answered | Replied | Closed, Field(discriminator="type")]


def opened(*, actor: str, category: str, at: str) -> Opened:
    return Opened(at=at, actor=actor, reason=category)


def assigned(*, from_status: TicketStatus, to_status: TicketStatus, actor: str, assignee: str,
             at: str) -> Assigned:
    return Assigned(at=at, actor=actor, from_status=from_status, to_status=to_status, assignee=assignee)


def answered(*, from_status: TicketStatus, actor: str, message_id: str, first_response: bool, at: str) -> Answered:
    return Answered(at=at, actor=actor, from_status=from_status, message_id=message_id,
                    first_response=first_response)


def replied(*, from_status: TicketStatus, to_status: TicketStatus, actor: str, message_id: str,
            at: str) -> Replied:
    return Replied(at=at, actor=actor, from_status=from_status, to_status=to_status, message_id=message_id)


def closed(*, from_status: TicketStatus, actor: str, resolution: str, at: str) -> Closed:
    return Closed(at=at, actor=actor, from_status=from_status, reason=resolution)
