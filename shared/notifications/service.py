"""The outbox consumer's work for one batch of stream records.

`prepare` decides every record's notifications, drops the ones already stored (one consistent BatchGetItem
for the whole batch) and publishes the rest in PublishBatch requests; `finish` then stores one record's
published notifications (conditional put) or raises for a record whose decision or publish failed, so only
that record is retried (batchItemFailures) and nothing of it is stored yet. A redelivered record finds its
notifications stored and does nothing. If the stored-check itself fails, the invocation fails and the whole
batch comes again, which is safe for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.core import ddb
from shared.notifications import logic, publisher, store


class NotPublished(Exception):
    """A record's notification could not be published (or decided); the record is retried."""


@dataclass
class Prepared:
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sequence number -> published notes
    failed: dict[str, str] = field(default_factory=dict)  # sequence number -> why


def images(record: dict[str, Any]) -> tuple[logic.OrderImage | None, logic.OrderImage | None]:
    change = record.get("dynamodb") or {}
    keys = change.get("Keys") or {}
    if (keys.get("SK") or {}).get("S") != "ORDER" or record.get("eventName") not in ("INSERT", "MODIFY"):
        return None, None
    old = change.get("OldImage")
    new = change.get("NewImage")
    return (_image(old) if old else None), (_image(new) if new else None)


def _image(raw: dict[str, Any]) -> logic.OrderImage:
    return logic.OrderImage.model_validate(ddb.from_item(raw))


def decide(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The notifications one stream record makes: an order's (SK `ORDER`), an after-sales case's (SK
    `CASE#...`) or a support ticket's (SK `TICKET`); other items make none."""
    change = record.get("dynamodb") or {}
    sort_key = str(((change.get("Keys") or {}).get("SK") or {}).get("S") or "")
    if sort_key.startswith("CASE#"):
        new_case = change.get("NewImage")
        if record.get("eventName") not in ("INSERT", "MODIFY") or not new_case:
            return []
        old_case = change.get("OldImage")
        return logic.case_notifications(
            logic.CaseImage.model_validate(ddb.from_item(old_case)) if old_case else None,
            logic.CaseImage.model_validate(ddb.from_item(new_case)))
    if sort_key == "TICKET":
        new_ticket = change.get("NewImage")
        if record.get("eventName") not in ("INSERT", "MODIFY") or not new_ticket:
            return []
        old_ticket = change.get("OldImage")
        return logic.ticket_notifications(
            logic.TicketImage.model_validate(ddb.from_item(old_ticket)) if old_ticket else None,
            logic.TicketImage.model_validate(ddb.from_item(new_ticket)))
    old, new = images(record)
    return logic.notifications(old, new) if new is not None else []


def sequence(record: dict[str, Any]) -> str:
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or "")


def prepare(records: list[dict[str, Any]]) -> Prepared:
    prepared = Prepared()
    decided: list[tuple[str, dict[str, Any]]] = []
    for record in records:
        key = sequence(record)
        try:
            notes = decide(record)
        except ValueError as error:  # an image that does not parse (a ValidationError): this record alone is retried
            prepared.failed[key] = type(error).__name__
            continue
        prepared.notes[key] = []
        decided += [(key, note) for note in notes]
    stored = store.already_stored([note for _, note in decided]) if decided else set()
    pending = [(key, note) for key, note in decided if note["sk"] not in stored]
    for key, note in pending:
        prepared.notes[key].append(note)
    not_taken = publisher.publish_batch([note for _, note in pending]) if pending else set()
    for key, note in pending:
        if note["sk"] in not_taken:
            prepared.failed[key] = "publish_failed"
    return prepared


def finish(record: dict[str, Any], prepared: Prepared) -> int:
    """Store one record's published notifications; returns how many were stored now."""
    key = sequence(record)
    if key in prepared.failed:
        raise NotPublished(f"record {key}: {prepared.failed[key]}")
    return sum(int(store.put_once(note)) for note in prepared.notes.get(key, []))
