"""The rounding rule of case refunds (shared/aftersales/service.py refundable_fen, docs/aftersales.md), as
properties: whatever sequence of cases is opened (and closed, giving their units back) on a line, the cases
holding its units are never owed more than the line total, and exactly the line total once every unit is claimed.

The sequence is played against the same bookkeeping the service keeps: the claim counter (`claimed`) and what the
cases holding units are owed (`held_fen`), each case fixed at opening."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.aftersales.service import refundable_fen


@dataclass
class Held:
    quantity: int
    fen: int


def line(total: int, bought: int) -> Any:
    return {"line_total_fen": total, "quantity": bought}


def play(total: int, bought: int, moves: list[tuple[str, int]]) -> list[Held]:
    """Open (`("open", q)`, clipped to what is left) or close (`("close", i)`, the i-th holding case) cases on a
    line, checking the invariant after every move; answers the cases still holding units."""
    holding: list[Held] = []
    for move, n in moves:
        claimed = sum(case.quantity for case in holding)
        if move == "open" and claimed < bought:
            q = min(n, bought - claimed)
            fen = refundable_fen(line(total, bought), claimed, q, sum(case.fen for case in holding))
            assert fen >= 0
            holding.append(Held(q, fen))
        elif move == "close" and holding:
            holding.pop(n % len(holding))
        owed = sum(case.fen for case in holding)
        assert owed <= total
        if sum(case.quantity for case in holding) == bought:
            assert owed == total
    return holding


moves = st.lists(st.tuples(st.sampled_from(["open", "open", "close"]), st.integers(1, 60)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(total=st.integers(0, 10_000_000), bought=st.integers(1, 60), moves=moves)
def test_cases_on_a_line_are_never_owed_more_than_its_total_whatever_opens_and_closes(
        total: int, bought: int, moves: list[tuple[str, int]]) -> None:
    play(total, bought, moves)


@settings(max_examples=400, deadline=None)
@given(total=st.integers(0, 10_000_000), bought=st.integers(1, 60), moves=moves)
def test_claiming_every_unit_in_the_end_refunds_exactly_the_line_total(
        total: int, bought: int, moves: list[tuple[str, int]]) -> None:
    holding = play(total, bought, moves)
    left = bought - sum(case.quantity for case in holding)
    if left:
        holding = play(total, bought, [*moves, ("open", left)])  # the last case takes what is left
    assert sum(case.fen for case in holding) == total


@settings(max_examples=200, deadline=None)
@given(unit=st.integers(1, 1_000_000), bought=st.integers(1, 60),
       quantities=st.lists(st.integers(1, 60), min_size=1, max_size=60))
def test_without_a_discount_each_case_is_owed_its_units_at_the_unit_price(
        unit: int, bought: int, quantities: list[int]) -> None:
    holding = play(unit * bought, bought, [("open", q) for q in quantities])
    assert all(case.fen == unit * case.quantity for case in holding)


def test_a_closed_case_s_units_claimed_again_do_not_refund_a_rounding_fen_twice() -> None:
    # 101 fen over 3 units: the units are worth 33, 34, 34. Case A takes unit 1 (33), case B unit 2 (34); A is
    # closed, so its unit is free again. Counting positions alone, the next case would be owed the slice of
    # unit 2 (34) again and the line would refund 102; what the holding cases are owed keeps it at 101.
    a = refundable_fen(line(101, 3), 0, 1, 0)
    b = refundable_fen(line(101, 3), 1, 1, a)
    c = refundable_fen(line(101, 3), 1, 1, b)  # A closed: 1 unit claimed (B's), B owed 34
    d = refundable_fen(line(101, 3), 2, 1, b + c)
    assert (a, b, c, d) == (33, 34, 33, 34) and b + c + d == 101


@pytest.mark.parametrize(("total", "bought", "quantities", "owed"), [
    (100, 3, [1, 1, 1], [33, 33, 34]),
    (100, 3, [2, 1], [66, 34]),
    (1, 3, [1, 1, 1], [0, 0, 1]),
    (999, 1, [1], [999]),
])
def test_the_documented_examples(total: int, bought: int, quantities: list[int], owed: list[int]) -> None:
    assert [case.fen for case in play(total, bought, [("open", q) for q in quantities])] == owed
