"""The tracking state order: forward only, with trouble flags and the return branch."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from shared.logistics.models import Trace, TrackingState, advances, is_trouble

S = TrackingState


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        # the forward line
        (None, S.IN_TRANSIT, True),
        (S.NO_INFO, S.ACCEPTED, True),
        (S.AWAITING_PICKUP, S.ACCEPTED, True),
        (S.ACCEPTED, S.IN_TRANSIT, True),
        (S.ACCEPTED, S.OUT_FOR_DELIVERY, True),  # 派件 after 揽收
        (S.IN_TRANSIT, S.OUT_FOR_DELIVERY, True),
        (S.OUT_FOR_DELIVERY, S.SIGNED, True),
        # late traces never move backwards
        (S.SIGNED, S.IN_TRANSIT, False),  # late 在途 after 签收
        (S.SIGNED, S.ACCEPTED, False),
        (S.OUT_FOR_DELIVERY, S.IN_TRANSIT, False),
        (S.IN_TRANSIT, S.ACCEPTED, False),
        (S.ACCEPTED, S.NO_INFO, False),
        # duplicates
        (S.IN_TRANSIT, S.IN_TRANSIT, False),
        (S.SIGNED, S.SIGNED, False),
        # sideways within "in flight"
        (S.IN_TRANSIT, S.CUSTOMS, True),
        (S.CUSTOMS, S.IN_TRANSIT, True),
        (S.IN_TRANSIT, S.REDIRECTED, True),
        # trouble flags apply before signing, even over 派件 ...
        (S.ACCEPTED, S.PROBLEM, True),
        (S.OUT_FOR_DELIVERY, S.PROBLEM, True),
        (S.CUSTOMS, S.CUSTOMS_PROBLEM, True),
        (S.PROBLEM, S.CUSTOMS_PROBLEM, True),
        # ... never after it
        (S.SIGNED, S.PROBLEM, False),
        (S.RETURNING, S.PROBLEM, False),
        # a flag clears only on movement, not on a late 揽收
        (S.PROBLEM, S.ACCEPTED, False),
        (S.PROBLEM, S.IN_TRANSIT, True),
        (S.PROBLEM, S.SIGNED, True),
        (S.CUSTOMS_PROBLEM, S.CUSTOMS, True),
        # the return branch outranks SIGNED (a station-signed parcel can still be refused)
        (S.SIGNED, S.REFUSED, True),
        (S.SIGNED, S.RETURN_SIGNED, True),
        (S.REFUSED, S.RETURNING, True),
        (S.RETURNING, S.RETURN_SIGNED, True),
        (S.RETURNING, S.REFUSED, False),
        (S.REFUSED, S.SIGNED, False),
        # RETURN_SIGNED is final
        (S.RETURN_SIGNED, S.SIGNED, False),
        (S.RETURN_SIGNED, S.PROBLEM, False),
    ],
)
def test_advances_follows_the_table(
    current: TrackingState | None, incoming: TrackingState, expected: bool
) -> None:
    assert advances(current, incoming) is expected


def test_trouble_states_are_problem_customs_problem_refused_returning_and_return_signed() -> None:
    trouble = {s for s in TrackingState if is_trouble(s)}
    assert trouble == {S.PROBLEM, S.CUSTOMS_PROBLEM, S.REFUSED, S.RETURNING, S.RETURN_SIGNED}


def test_every_state_has_a_rank_so_advances_never_raises() -> None:
    for current in TrackingState:
        for incoming in TrackingState:
            advances(current, incoming)


def test_a_trace_refuses_a_naive_time() -> None:
    with pytest.raises(ValidationError):
        Trace(at=datetime(2024, 1, 1, 12, 0, 0), context="x")  # naive on purpose
