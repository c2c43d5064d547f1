"""Keep card data out of our systems: card payments use only a provider token (`tok_...`).

`find_card_data` is a guard for anything a client sends us (order bodies, notes, metadata): it walks the
whole JSON value and names *where* it saw something card-like, never the number itself, so the reason can
go into a 422 and a log line safely.
"""

from __future__ import annotations

import re
from typing import Any

# A run of digits, single spaces or dashes allowed between them ("4111 1111-1111 1111").
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_SEPARATOR = re.compile(r"[ -]")
# Key tokens that name card secrets on their own, and joined names that do.
_SENSITIVE_TOKENS = frozenset({"pan", "cvv", "cvc", "cvv2", "cvc2", "cav2", "cid2"})
_SENSITIVE_JOINED = ("cardnumber", "cardnum", "cardno", "securitycode", "cardverification", "cvv", "cvc")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LONG_DIGITS = re.compile(r"\d[\d -]{4,}\d")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)  # int() also reads full-width digits, which \d matches: no evasion that way
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _looks_like_pan(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def contains_card_number(text: str) -> bool:
    """True if `text` holds a 13-19 digit Luhn-valid number, alone or split by spaces/dashes.

    Unbroken runs longer than 19 digits (provider transaction ids) are not cut into windows; runs with
    separators are checked group by group, so "4111111111111111-123" is still found.
    """
    for match in _DIGIT_RUN.finditer(text):
        groups = _SEPARATOR.split(match.group())
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if _looks_like_pan(digits):
                    return True
    return False


def _key_tokens(key: str) -> list[str]:
    return [token.lower() for token in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub(" ", key)) if token]


def _sensitive_key(key: str) -> bool:
    tokens = _key_tokens(key)
    joined = "".join(tokens)
    return any(token in _SENSITIVE_TOKENS for token in tokens) or any(
        name in joined for name in _SENSITIVE_JOINED
    )


def _safe_segment(key: str) -> str:
    # Paths go into the reason; a key may itself hold digits, so long digit runs are masked.
    return _LONG_DIGITS.sub("#", key)[:40]


def find_card_data(obj: Any) -> str | None:
    """A reason like "card number in value at $.payment.note", or None if nothing card-like is present."""
    stack: list[tuple[Any, str]] = [(obj, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                key_text = str(key)
                child = f"{path}.{_safe_segment(key_text)}"
                if _sensitive_key(key_text):
                    return f"card field name at {child}"
                if contains_card_number(key_text):
                    return f"card number in a key under {path}"
                stack.append((item, child))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
        elif isinstance(value, str):
            if contains_card_number(value):
                return f"card number in value at {path}"
        elif isinstance(value, int) and not isinstance(value, bool) and _looks_like_pan(str(abs(value))):
            return f"card number in value at {path}"
    return None
