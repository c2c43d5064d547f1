"""Page cursors: DynamoDB's LastEvaluatedKey, signed with HMAC-SHA256 and bound to one list and one caller.

    v1.<base64url(LastEvaluatedKey JSON)>.<base64url(HMAC-SHA256(key, listing, caller, payload))>

A cursor is only good for the list it was issued for (`listing`: the route's list and its filters) and the
caller it was issued to (`caller`: the shopper's sub, the shop, the reviewer...). Anything else, a forged,
edited, truncated or borrowed cursor, is a 400 `invalid_cursor` before DynamoDB sees it, so no ExclusiveStartKey
we did not write ever reaches a query (an unsigned one could name another shopper's partition, or a key shape
the index refuses with a 500).

The key is the `cursor` secret (env CURSOR_SECRET_ARN, JSON {"key": "..."}; CDK generates it, the local
runtime creates it in moto), read through Powertools parameters and cached for MAX_AGE_S. Rotating it ends
every outstanding cursor: clients see `invalid_cursor` and start again from the first page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from shared.core.config import Env, optional_env
from shared.core.errors import BadRequest

VERSION = "v1"
MAX_AGE_S = 300
MAX_CURSOR_CHARS = 2048  # the routes' Query(max_length=2048)
_DOMAIN = b"order24-cursor-v1"


class CursorKeyError(RuntimeError):
    """The cursor secret is missing or malformed: a deployment fault, never the caller's (message names no value)."""


def _key() -> bytes:
    from aws_lambda_powertools.utilities import parameters  # only paging functions pay for it

    name = optional_env(Env.CURSOR_SECRET_ARN)
    if not name:
        raise CursorKeyError("environment variable CURSOR_SECRET_ARN is not set")
    raw: Any = parameters.get_secret(name, transform="json", max_age=MAX_AGE_S)
    key = raw.get("key") if isinstance(raw, dict) else None
    if not isinstance(key, str) or len(key) < 32:
        raise CursorKeyError("the cursor secret has no 'key' of at least 32 characters")
    return key.encode()


def _mac(key: bytes, listing: str, caller: str, payload: bytes) -> bytes:
    message = b"\x00".join((_DOMAIN, listing.encode(), caller.encode(), payload))
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def encode(last_key: dict[str, Any] | None, *, listing: str, caller: str) -> str | None:
    """The cursor of the next page of `listing` for `caller`, or None at the end."""
    if not last_key:
        return None
    payload = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return f"{VERSION}.{_b64(payload)}.{_b64(_mac(_key(), listing, caller, payload))}"


def _invalid() -> BadRequest:
    return BadRequest("The cursor is not one we issued for this list.", code="invalid_cursor")


def decode(cursor: str | None, *, listing: str, caller: str, allowed_keys: set[str]) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for, if we issued it for this listing and caller."""
    if not cursor:
        return None
    parts = cursor.split(".")
    if len(cursor) > MAX_CURSOR_CHARS or len(parts) != 3 or parts[0] != VERSION:
        raise _invalid()
    try:
        payload, mac = _unb64(parts[1]), _unb64(parts[2])
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise _invalid() from None
    if not hmac.compare_digest(mac, _mac(_key(), listing, caller, payload)):
        raise _invalid()
    value = json.loads(payload)  # we wrote it: valid JSON once the MAC matches
    valid = (
        isinstance(value, dict)
        and set(value) <= allowed_keys
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in value.values())
    )
    if not valid:  # signed by us but of another shape: a key rotation gone wrong, still never a 500
        raise _invalid()
    return dict(value)
