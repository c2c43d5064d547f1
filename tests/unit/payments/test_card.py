"""Card data never enters our systems: numbers and card-secret field names are found anywhere."""

from __future__ import annotations

import pytest

from shared.payments.card import find_card_data, luhn_valid

VISA = "4111111111111111"  # Luhn-valid test PAN
AMEX = "378282246310005"


def test_valid_card_number_deep_in_a_nested_note_is_found_without_echoing_it():
    # given an order whose nested note holds a card number written with spaces
    order = {
        "items": [{"sku": "A1", "qty": 1}],
        "meta": {"notes": ["call me", "card 4111 1111 1111 1111 thx"]},
    }
    # when it is checked
    reason = find_card_data(order)
    # then the reason says where, never what
    assert reason is not None
    assert "$.meta.notes[1]" in reason
    assert "4111" not in reason


@pytest.mark.parametrize(
    "value",
    [
        VISA,
        "4111-1111-1111-1111",
        AMEX,
        "pan:" + VISA,
        int(VISA),
        "４１１１１１１１１１１１１１１１",
        VISA + "-123",
    ],
)
def test_card_numbers_in_any_notation_are_found(value):
    assert find_card_data({"x": value}) is not None


def test_card_number_used_as_a_key_is_found_and_the_key_not_echoed():
    reason = find_card_data({"lines": {VISA: "hello"}})
    assert reason is not None
    assert VISA not in reason
    assert "1111" not in reason


def test_luhn_invalid_sixteen_digits_are_not_flagged():
    assert not luhn_valid("4111111111111112")
    assert find_card_data({"ref": "4111111111111112", "n": 4111111111111112}) is None


@pytest.mark.parametrize(
    "harmless",
    [
        "4200000000202503011234567890",  # a 28-digit WeChat transaction id is not cut into windows
        "13800138000",  # a phone number is too short
        "2025-03-01 12:00:05",
        "tok_1N3T00LkdIwHu7ixt44h1F8k",
        12.5,
        True,
        None,
    ],
)
def test_ordinary_values_are_not_flagged(harmless):
    assert find_card_data({"value": harmless, "list": [harmless]}) is None


@pytest.mark.parametrize(
    "key", ["cvv", "CVC", "cvv2", "security_code", "card_number", "cardNumber", "pan", "CardNo", "card-cvc"]
)
def test_card_secret_field_names_are_found_whatever_their_value(key):
    reason = find_card_data({"payment": {"method": "card", key: "tok_abc"}})
    assert reason is not None
    assert "$.payment." in reason


@pytest.mark.parametrize("key", ["company", "japan", "span", "panel", "expand", "capacity", "card_token"])
def test_words_that_merely_contain_pan_are_not_card_fields(key):
    assert find_card_data({key: "x"}) is None


def test_provider_token_is_not_flagged():
    assert find_card_data({"payment": {"method": "card", "token": "tok_visa_4242", "brand": "visa"}}) is None
