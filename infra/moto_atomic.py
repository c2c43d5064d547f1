"""Make moto's DynamoDB writes atomic and cheap, as DynamoDB's are.

1. moto checks a condition and then writes in plain Python (and its request layer reads items around the
   write), so two threads can both pass the same
   condition (two reservations of the last unit). Real DynamoDB serialises writes per item and runs
   transactions atomically. One process-wide lock around moto's write paths restores that guarantee.
2. moto makes a transaction atomic by deep-copying every table it touches, stream records included, on
   every call: the cost grows with the table and the stream until a busy local runtime times out. Under
   the lock, a snapshot of just the items the transaction touches (and the stream's length) is enough
   to roll back, so transactions cost what DynamoDB's do: a function of their items, not of the table.

Without this a concurrency test would measure moto, not our code.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_WRITE_METHODS = ("put_item", "update_item", "delete_item", "batch_write_item", "execute_statement",
                  "execute_transaction")
_applied = False


class _TablesAreSnapshottedByUs:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not deep-copied there."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _serialised(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(self, *args, **kwargs)

    return call


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _atomic_transaction(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            saved: list[tuple[Any, Any, Any, Any]] = []
            stream_lengths: dict[int, tuple[Any, int]] = {}
            for entry in transact_items:
                op_type, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                if table is None or op_type not in ("Put", "Update", "Delete", "ConditionCheck"):
                    continue
                try:
                    hash_value, range_value = _key_of(table, op_type, op)
                except (KeyError, TypeError):
                    continue  # moto's own validation answers this one
                current = table.get_item(hash_value, range_value)
                saved.append((table, hash_value, range_value, copy.deepcopy(current)))
                if table.stream_shard is not None:
                    stream_lengths.setdefault(id(table), (table, len(table.stream_shard.items)))
            try:
                return original(self, transact_items, *args, **kwargs)
            except Exception:
                for table, hash_value, range_value, item in reversed(saved):
                    bucket = table.items[hash_value] if range_value is not None else table.items
                    slot = range_value if range_value is not None else hash_value
                    if item is None:
                        bucket.pop(slot, None)
                    else:
                        bucket[slot] = item
                for table, length in stream_lengths.values():
                    del table.stream_shard.items[length:]
                raise

    return call


def apply() -> None:
    global _applied
    if _applied:
        return
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    # moto's request layer also reads and deep-copies items around the backend call (e.g. UpdateItem's
    # old image); under concurrency that iterates an item while a write changes it. Serialise whole requests.
    DynamoHandler.call_action = _serialised(DynamoHandler.call_action)  # type: ignore[method-assign]
    # Stream reads too: a transaction appends its records as it writes and trims them if it is cancelled.
    # A reader between the two would deliver records that never committed, and the next real commit
    # would reuse their sequence numbers behind the reader's iterator: lost.
    DynamoDBStreamsHandler.call_action = _serialised(  # type: ignore[method-assign]
        DynamoDBStreamsHandler.call_action)

    for name in _WRITE_METHODS:
        setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _atomic_transaction(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    setattr(models, "copy", _TablesAreSnapshottedByUs)  # noqa: B010 (moto's own module attribute)
    _applied = True
