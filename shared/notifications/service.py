"""The outbox consumer's work for one stream record: decide, then for each notification
check (consistent read) -> publish -> conditional put. A failed publish raises, so the record is retried
(batchItemFailures) and nothing is stored yet; a redelivered record finds the items stored and does nothing.
"""

from __future__ import annotations

from typing import Any

from shared.core import ddb
from shared.notifications import logic, publisher, store


def images(record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    change = record.get("dynamodb") or {}
    keys = change.get("Keys") or {}
    if (keys.get("SK") or {}).get("S") != "ORDER" or record.get("eventName") not in ("INSERT", "MODIFY"):
        return None, None
    old = change.get("OldImage")
    new = change.get("NewImage")
    return (ddb.from_item(old) if old else None), (ddb.from_item(new) if new else None)


def handle(record: dict[str, Any]) -> int:
    """Returns how many notifications this record stored now."""
    old, new = images(record)
    if new is None:
        return 0
    stored = 0
    for note in logic.notifications(old, new):
        if store.exists(note):
            continue
        publisher.publish(note)
        stored += int(store.put_once(note))
    return stored
