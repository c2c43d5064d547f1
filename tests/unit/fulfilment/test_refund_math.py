"""Proportional refunds of undelivered units: integer fen, floor, never more than the total."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.fulfilment.logic import capped_refund_fen, undelivered_refund_fen


def test_three_of_five_units_at_99_yuan_refund_297_yuan() -> None:
    assert undelivered_refund_fen(5 * 9900, 5, 3) == 29700


def test_rounding_floors_to_the_fen() -> None:
    assert undelivered_refund_fen(1000, 3, 1) == 333  # 333.33 -> 333: the shopper never gets more


def test_everything_undelivered_refunds_the_whole_line() -> None:
    assert undelivered_refund_fen(1001, 3, 3) == 1001


@given(total=st.integers(0, 10**10), quantity=st.integers(1, 999), data=st.data())
def test_refund_and_delivered_value_never_exceed_the_line_total(
    total: int, quantity: int, data: st.DataObject
) -> None:
    remaining = data.draw(st.integers(0, quantity))
    refund = undelivered_refund_fen(total, quantity, remaining)
    delivered_value = total * (quantity - remaining) // quantity
    assert 0 <= refund <= total
    assert refund + delivered_value <= total


@given(
    lines=st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 999)), min_size=1, max_size=20),
    data=st.data(),
)
def test_refunds_over_all_lines_never_exceed_the_order_total(
    lines: list[tuple[int, int]], data: st.DataObject
) -> None:
    total = sum(price * qty for price, qty in lines)
    refunds = [
        undelivered_refund_fen(price * qty, qty, data.draw(st.integers(0, qty))) for price, qty in lines
    ]
    assert sum(refunds) <= total


@given(wanted=st.integers(0, 10**9), paid=st.integers(0, 10**9), data=st.data())
def test_cap_never_exceeds_what_is_still_refundable(wanted: int, paid: int, data: st.DataObject) -> None:
    done = data.draw(st.integers(0, paid))
    payment = {
        "amount_fen": paid,
        "refunds": {
            "a": {"amount_fen": done, "state": "succeeded"},
            "b": {"amount_fen": 10**9, "state": "failed"},
        },
    }
    capped = capped_refund_fen(wanted, payment, paid)
    assert 0 <= capped <= min(wanted, paid - done)


def test_remaining_outside_the_quantity_is_refused() -> None:
    with pytest.raises(ValueError):
        undelivered_refund_fen(100, 2, 3)
