"""DynamoDB item (de)serialisation and key helpers for the single table.

Numbers come back as Decimal; we hold money and counts as int, never float.
"""

from __future__ import annotations

import time
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.core.aws import client
from shared.core.config import table_name

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


# Deferred: `boto3.dynamodb.types` imports all of boto3 (~150-200 ms). Import time excludes it now; the first
# (de)serialisation pays it, which on Lambda is the first invoke, itself already building a boto3 client.
@cache
def _serializer() -> TypeSerializer:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset):
        return [_plain(v) for v in value]
    return value


def to_attr(value: Any) -> dict[str, Any]:
    return _serializer().serialize(value)  # type: ignore[no-any-return]


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer().deserialize(v)) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(to="PAID") -> {":to": {"S": "PAID"}}."""
    return {f":{k}": to_attr(v) for k, v in named.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def dynamodb() -> Any:
    return client("dynamodb")


def table() -> str:
    return table_name()


def get(pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
    reply = dynamodb().get_item(TableName=table(), Key=key(pk, sk), ConsistentRead=consistent)
    return from_item(reply["Item"]) if "Item" in reply else None


BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
BATCH_GET_ATTEMPTS = 5


def batch_get(keys: list[dict[str, Any]], *, projection: str | None = None, names: dict[str, str] | None = None,
              consistent: bool = False) -> list[dict[str, Any]]:
    """Every item of `keys` that exists, as plain dicts. BatchGetItem refuses duplicate keys and more than 100
    per request, and under throttling hands keys back unprocessed: de-duplicate, chunk, and follow them."""
    unique = list({(k["PK"]["S"], k["SK"]["S"]): k for k in keys}.values())
    found: list[dict[str, Any]] = []
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        spec: dict[str, Any] = {"Keys": unique[start : start + BATCH_GET_LIMIT], "ConsistentRead": consistent}
        if projection:
            spec["ProjectionExpression"] = projection
        if names:
            spec["ExpressionAttributeNames"] = names
        request: dict[str, Any] = {table(): spec}
        for attempt in range(BATCH_GET_ATTEMPTS):
            reply = dynamodb().batch_get_item(RequestItems=request)
            found.extend(from_item(item) for item in reply.get("Responses", {}).get(table(), []))
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed after 5 attempts")
    return found


def is_conditional_failure(error: Exception) -> bool:
    # A transport error (a read timeout) has `response` set to None, not a dict.
    code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")
