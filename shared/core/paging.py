"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey, base64url-encoded."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shared.core.errors import BadRequest


def encode(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str | None, *, allowed_keys: set[str]) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("The cursor is not one we issued.", code="invalid_cursor") from None
    valid = (
        isinstance(value, dict)
        and set(value) <= allowed_keys
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in value.values())
    )
    if not valid:
        raise BadRequest("The cursor is not one we issued.", code="invalid_cursor")
    return dict(value)
