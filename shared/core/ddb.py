"""DynamoDB item (de)serialisation and key helpers for the single table.

Numbers come back as Decimal; we hold money and counts as int, never float.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from shared.core.aws import dynamodb as dynamodb  # re-exported: `ddb.dynamodb()` is the table's client
from shared.core.aws import error_code, error_response
from shared.core.config import table_name

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from types_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


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
    return cast("dict[str, Any]", _serializer().serialize(value))


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer().deserialize(v)) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(to="PAID") -> {":to": {"S": "PAID"}}."""
    return {f":{k}": to_attr(v) for k, v in named.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def table() -> str:
    return table_name()


def transact_write(items: Sequence[Mapping[str, Any]]) -> None:
    """TransactWriteItems of request items built as plain dicts across modules (an order transition beside
    stock-bucket updates): the one place they meet the typed client's TransactWriteItemTypeDef."""
    dynamodb().transact_write_items(TransactItems=cast("Sequence[TransactWriteItemTypeDef]", items))


def get(pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
    reply = dynamodb().get_item(TableName=table(), Key=key(pk, sk), ConsistentRead=consistent)
    return from_item(reply["Item"]) if "Item" in reply else None


BATCH_GET_LIMIT = 100  # keys per BatchGetItem request
BATCH_GET_ATTEMPTS = 5


def batch_get(keys: list[dict[str, Any]], *, projection: str | None = None, names: dict[str, str] | None = None,
              consistent: bool = False) -> list[dict[str, Any]]:
    """Every item of `keys` that exists, as plain dicts. BatchGetItem refuses duplicate keys and more than 100
    per request, and under throttling hands keys back unprocessed: de-duplicate, chunk, and follow them.

    Following UnprocessedKeys is not a retry botocore could do: the call succeeded (200) with part of the
    answer, so its retry policy never sees it. AWS asks for a backoff before asking again, hence the pause."""
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
            request = dict(reply.get("UnprocessedKeys") or {})
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed after 5 attempts")
    return found


def index_page(index: str, key: str, value: str, start: dict[str, Any] | None,
               limit: int, *, oldest_first: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Newest first (or `oldest_first`): one page of a keys-only index, then one BatchGetItem for its items, in
    the index's order. Returns the items (plain maps) and the index's LastEvaluatedKey (None on the last page)."""
    request: dict[str, Any] = {
        "TableName": table(), "IndexName": index, "KeyConditionExpression": f"{key} = :pk",
        "ExpressionAttributeValues": values(pk=value), "ScanIndexForward": oldest_first, "Limit": limit,
    }
    if start:
        request["ExclusiveStartKey"] = start
    reply = dynamodb().query(**request)
    keys = [{"PK": item["PK"], "SK": item["SK"]} for item in reply.get("Items", [])]
    found = {(item["PK"], item["SK"]): item for item in batch_get(keys)}
    ordered = [found[(k["PK"]["S"], k["SK"]["S"])] for k in keys if (k["PK"]["S"], k["SK"]["S"]) in found]
    return ordered, reply.get("LastEvaluatedKey")


# ---------------------------------------------------------------- failed conditions

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"


def is_conditional_failure(error: BaseException) -> bool:
    """A write whose condition failed, or a transaction DynamoDB cancelled (a condition, or a conflict with
    another transaction on one of its items). Anything else, a timeout included, is False."""
    return error_code(error) in (CONDITION_FAILED, TRANSACTION_CANCELED)


def cancellation_codes(error: BaseException) -> list[str]:
    """Per item of a cancelled transaction, in TransactItems order: "None", "ConditionalCheckFailed",
    "TransactionConflict", ...; [] for any other error."""
    if error_code(error) != TRANSACTION_CANCELED:
        return []
    reasons = error_response(error).get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]


def failed_item(error: BaseException) -> dict[str, Any] | None:
    """The item as it stood when a write's condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD),
    as plain values; None when the item did not exist or the error is not such a failure."""
    if error_code(error) != CONDITION_FAILED:
        return None
    raw = error_response(error).get("Item")
    return from_item(raw) if raw else None


# ---------------------------------------------------------------- contention

CONTENDED_ATTEMPTS = 5


def contended(attempts: int = CONTENDED_ATTEMPTS) -> Iterator[int]:
    """The attempts of an optimistic read-decide-write on a contended item, with a short random pause between
    them: `for _ in ddb.contended(): read; decide; write conditionally; return on success`.

    Why an application-level retry on top of botocore: its standard mode retries
    throttling, 5xx, lost connections and TransactionInProgressException (botocore/retries/standard.py,
    data/_retry.json), but never ConditionalCheckFailedException (the item changed since we read it) nor a
    TransactionCanceledException whose reason is TransactionConflict (another transaction held the item):
    both need a fresh read and a new decision, which only the caller can make."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(random.uniform(0.005, 0.05))
        yield attempt
