"""Alipay's yuan strings and our integer fen convert exactly, both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.payments.adapters.alipay import fen_to_yuan, yuan_to_fen


@given(st.integers(min_value=0, max_value=10**15))
def test_fen_survive_a_round_trip_through_yuan(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@given(st.from_regex(r"\A(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?\Z"))
def test_any_two_decimal_yuan_string_converts_to_the_same_amount(yuan):
    whole, _, cents = yuan.partition(".")
    fen = yuan_to_fen(yuan)
    assert fen == int(whole) * 100 + int(cents.ljust(2, "0"))
    assert fen_to_yuan(fen) == f"{whole}.{cents.ljust(2, '0')}"


@pytest.mark.parametrize(
    ("fen", "yuan"),
    [(0, "0.00"), (1, "0.01"), (10, "0.10"), (100, "1.00"), (1234, "12.34"), (100001, "1000.01")],
)
def test_known_amounts(fen, yuan):
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(
    "text", ["12.345", "-1.00", "+1", "1e3", "1.", ".5", "", " 1.00", "1,00", "１.00", "NaN", "1.00\n"]
)
def test_malformed_yuan_strings_are_rejected(text):
    with pytest.raises(ValueError):
        yuan_to_fen(text)


def test_float_yuan_is_rejected_not_rounded():
    with pytest.raises(TypeError):
        yuan_to_fen(12.34)  # type: ignore[arg-type]


@pytest.mark.parametrize("fen", [12.34, True, "1234"])
def test_non_int_fen_is_rejected(fen):
    with pytest.raises(TypeError):
        fen_to_yuan(fen)  # type: ignore[arg-type]


def test_negative_fen_is_rejected():
    with pytest.raises(ValueError):
        fen_to_yuan(-1)
