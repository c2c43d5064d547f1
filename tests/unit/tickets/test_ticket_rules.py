"""The ticket's status table and what the opener hears of a ticket (no I/O)."""

from __future__ import annotations

import pytest

from shared.core.errors import Conflict
from shared.notifications import logic
from shared.tickets import events
from shared.tickets.states import AWAITING_OPS, TRANSITIONS, TicketStatus, check_move

T = TicketStatus
AT = "2026-12-07T22:00:00.000Z"


def test_closed_is_final_and_every_other_status_can_close() -> None:
    assert TRANSITIONS[T.CLOSED] == frozenset()
    assert all(T.CLOSED in targets for status, targets in TRANSITIONS.items() if status is not T.CLOSED)
    with pytest.raises(Conflict) as closed:
        check_move(T.CLOSED, T.ANSWERED)
    assert closed.value.code == "ticket_closed"


def test_a_ticket_never_goes_back_to_open_or_to_assigned_once_answered() -> None:
    assert all(T.OPEN not in TRANSITIONS[s] for s in TicketStatus if s is not T.OPEN)
    for status in (T.ANSWERED, T.WAITING):
        with pytest.raises(Conflict) as illegal:
            check_move(status, T.ASSIGNED)
        assert illegal.value.code == "illegal_ticket_transition"
    assert set(AWAITING_OPS) == {T.OPEN, T.ASSIGNED, T.WAITING}


def test_the_opener_hears_of_answers_and_the_closing_once_per_entry() -> None:
    opened = events.opened(actor="shopper:s1", category="order", at=AT)
    answer = events.answered(from_status=T.OPEN, actor="ops:o1", message_id="m1", first_response=True, at=AT)
    reply = events.replied(from_status=T.ANSWERED, to_status=T.WAITING, actor="shopper:s1", message_id="m2", at=AT)
    closing = events.closed(from_status=T.WAITING, actor="ops:o1", resolution="done", at=AT)
    before = logic.TicketImage(ticket_id="t1", opener_id="s1", events=[opened, answer])
    after = logic.TicketImage(ticket_id="t1", opener_id="s1", events=[opened, answer, reply, closing])
    assert logic.ticket_notifications(None, logic.TicketImage(ticket_id="t1", opener_id="s1",
                                                              events=[opened])) == []
    (note,) = logic.ticket_notifications(before, after)
    assert note["type"] == "ticket_closed" and note["sk"] == f"{AT}#t1#0003" and note["shopper_id"] == "s1"
    assert "done" not in str(note)  # a fixed title, never the text
    assert [n["type"] for n in logic.ticket_notifications(None, after)] == ["ticket_answered", "ticket_closed"]
