"""A ticket's statuses and the one table of the moves a ticket may make (no I/O).

    OPEN -> (ASSIGNED) -> ANSWERED <-> WAITING -> CLOSED

OPEN: opened, nobody has it yet. ASSIGNED: an ops user has it, no answer yet. ANSWERED: ops answered, the ball
is with the opener. WAITING: the opener wrote again after an answer, the ball is with ops again. CLOSED: ops
closed it with a resolution (final: a new question is a new ticket). "Awaiting ops" (the queue ops work and the
SLA alarm watch) is OPEN, ASSIGNED and WAITING.

A move to the same status is legal where a message or an assignment changes the ticket without moving it (ops
answering twice, the opener adding a line while waiting, a re-assignment): it still bumps the version.
"""

from __future__ import annotations

from enum import StrEnum

from shared.core.errors import Conflict


class TicketStatus(StrEnum):
    OPEN = "OPEN"
    ASSIGNED = "ASSIGNED"
    ANSWERED = "ANSWERED"
    WAITING = "WAITING"
    CLOSED = "CLOSED"


T = TicketStatus

TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.OPEN: frozenset({T.OPEN, T.ASSIGNED, T.ANSWERED, T.CLOSED}),
    T.ASSIGNED: frozenset({T.ASSIGNED, T.ANSWERED, T.CLOSED}),
    T.ANSWERED: frozenset({T.ANSWERED, T.WAITING, T.CLOSED}),
    T.WAITING: frozenset({T.WAITING, T.ANSWERED, T.CLOSED}),
    T.CLOSED: frozenset(),  # final
}
AWAITING_OPS: tuple[TicketStatus, ...] = (T.OPEN, T.ASSIGNED, T.WAITING)


def check_move(current: TicketStatus, to: TicketStatus) -> None:
    if current is T.CLOSED:
        raise Conflict("The ticket is closed; open a new one.", code="ticket_closed", current_status=current.value)
    if to not in TRANSITIONS[current]:
        raise Conflict(f"A ticket in {current.value} cannot become {to.value}.", code="illegal_ticket_transition",
                       current_status=current.value)
