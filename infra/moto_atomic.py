"""Make moto's DynamoDB writes atomic, as DynamoDB's are.

moto checks a condition and then writes in plain Python, so two threads can both pass the same
condition (two reservations of the last unit). Real DynamoDB serialises writes per item and runs
transactions atomically. One process-wide lock around moto's write paths restores that guarantee for
the local runtime and the tests; without it a concurrency test would measure moto, not our code.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
                  "execute_statement", "execute_transaction")
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITE_METHODS:
        original: Callable[..., Any] = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def serialised(self: Any, *args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, serialised)
    _applied = True
