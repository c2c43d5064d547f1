"""Ticket persistence: the ticket item with its messages beside it, and keys-only index entries for the two
lists (no new table, no scan).

Items (single table):
  ticket   PK=`TICKET#<ticket_id>`, SK=`TICKET`
           by_shopper  GSI1PK=`TICKETS#<opener sub>`, GSI1SK=`<created_at>#<ticket_id>`: the opener's tickets,
                       newest first (shoppers and merchants alike: the key is the caller's sub)
           by_shop_day GSI2PK=`TICKETQ#<status>#<shard>`, GSI2SK=`<since>#<ticket_id>`: ops' queue by status
  message  PK=`TICKET#<ticket_id>`, SK=`MSG#<message_id>`: the thread; one Query reads a ticket and its thread

The queue is sharded (`SHARDS` partitions per status, by the ticket id's hash) as the review queue is, so no
single index partition takes every ticket write; one GSI2SK value is a complete cursor because it is unique and
sorts by time across shards (the same merge as shared/review/queue.py).

Every change is one conditional write on the status and version read (`change_update`), appending its typed
history entry; a message is a transaction of that update and the message put (`attribute_not_exists`: the
message id comes from the client's key, so a retry is a failed put and nothing moves twice).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
from datetime import datetime
from typing import Any

from shared.core import aws, clock, ddb, paging
from shared.core.timeline import TimelineEvent
from shared.tickets.models import Message, Ticket
from shared.tickets.states import AWAITING_OPS, TicketStatus, check_move

PAGE_SIZE = 20
SHARDS = 4
TICKET_SK = "TICKET"
MSG_PREFIX = "MSG#"
_OPENER_LISTING = "tickets"


def _b32(text: str, chars: int) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower()[:chars]


def ticket_id_for(opener_id: str, idempotency_key: str) -> str:
    """`t` + 26 characters of the hash of (opener, key): a retried POST lands on the same ticket."""
    return "t" + _b32(f"ticket:{opener_id}:{idempotency_key}", 26)


def message_id_for(ticket_id: str, author_id: str, key: str) -> str:
    return "m" + _b32(f"{ticket_id}:{author_id}:{key}", 20)


def ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def ticket_key(ticket_id: str) -> dict[str, Any]:
    return ddb.key(ticket_pk(ticket_id), TICKET_SK)


def shard_of(ticket_id: str) -> int:
    return int(hashlib.sha256(ticket_id.encode()).hexdigest()[:4], 16) % SHARDS


def queue_partition(status: TicketStatus, shard: int) -> str:
    return f"TICKETQ#{status.value}#{shard}"


def key_values(ticket_id: str, opener_id: str, created_at: str) -> dict[str, str]:
    """The new ticket's own key and index keys (it starts OPEN, waiting since it was opened)."""
    return {"PK": ticket_pk(ticket_id), "SK": TICKET_SK,
            "GSI1PK": f"TICKETS#{opener_id}", "GSI1SK": f"{created_at}#{ticket_id}",
            **queue_values(ticket_id, TicketStatus.OPEN, created_at)}


def queue_values(ticket_id: str, status: TicketStatus, since: str) -> dict[str, str]:
    return {"GSI2PK": queue_partition(status, shard_of(ticket_id)), "GSI2SK": f"{since}#{ticket_id}",
            "since": since}


def message_key_values(ticket_id: str, message_id: str) -> dict[str, str]:
    return {"PK": ticket_pk(ticket_id), "SK": MSG_PREFIX + message_id}


# ---------------------------------------------------------------- reads

def get(ticket_id: str, *, consistent: bool = False) -> Ticket | None:
    item = ddb.get(ticket_pk(ticket_id), TICKET_SK, consistent=consistent)
    return Ticket.from_item(item) if item is not None else None


def get_message(ticket_id: str, message_id: str) -> Message | None:
    item = ddb.get(ticket_pk(ticket_id), MSG_PREFIX + message_id, consistent=True)
    return Message.from_item(item) if item is not None else None


def thread(ticket_id: str) -> tuple[Ticket | None, list[Message]]:
    """The ticket and its messages (oldest first): one Query of its partition (two pages at most when full)."""
    request: dict[str, Any] = {
        "TableName": ddb.table(), "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": ddb.values(pk=ticket_pk(ticket_id)), "ConsistentRead": True,
    }
    ticket: Ticket | None = None
    messages: list[Message] = []
    while True:
        reply = ddb.dynamodb().query(**request)
        for raw in reply.get("Items", []):
            item = ddb.from_item(raw)
            if item["SK"] == TICKET_SK:
                ticket = Ticket.from_item(item)
            elif str(item["SK"]).startswith(MSG_PREFIX):
                messages.append(Message.from_item(item))
        if not reply.get("LastEvaluatedKey"):
            break
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
    return ticket, sorted(messages, key=lambda m: m.seq)


def for_opener(opener_id: str, cursor: str | None) -> tuple[list[Ticket], str | None]:
    start = paging.decode(cursor, listing=_OPENER_LISTING, caller=opener_id,
                          allowed_keys={"PK", "SK", "GSI1PK", "GSI1SK"})
    items, last = ddb.index_page("by_shopper", "GSI1PK", f"TICKETS#{opener_id}", start, PAGE_SIZE)
    return [Ticket.from_item(item) for item in items], paging.encode(last, listing=_OPENER_LISTING,
                                                                     caller=opener_id)


def _queue_keys(status: TicketStatus, shard: int, after: str | None, limit: int,
                oldest_first: bool) -> tuple[list[str], bool]:
    """GSI2SK values of one queue partition past the cursor, in order; and whether it has more."""
    condition = "GSI2PK = :pk"
    values: dict[str, Any] = ddb.values(pk=queue_partition(status, shard))
    if after:
        condition += " AND GSI2SK > :after" if oldest_first else " AND GSI2SK < :after"
        values[":after"] = ddb.to_attr(after)
    reply = ddb.dynamodb().query(TableName=ddb.table(), IndexName="by_shop_day", KeyConditionExpression=condition,
                                 ExpressionAttributeValues=values, Limit=limit, ScanIndexForward=oldest_first)
    return [item["GSI2SK"]["S"] for item in reply.get("Items", [])], bool(reply.get("LastEvaluatedKey"))


def queue_page(statuses: tuple[TicketStatus, ...], cursor: str | None, *, viewer: str, oldest_first: bool,
               size: int = PAGE_SIZE) -> tuple[list[Ticket], str | None]:
    """One page of the tickets in `statuses`, merged across their shards (len(statuses) x SHARDS Queries on a
    keys-only index, then one BatchGetItem), and the next page's cursor."""
    listing = f"ops-tickets:{','.join(s.value for s in statuses)}"
    start = paging.decode(cursor, listing=listing, caller=viewer, allowed_keys={"GSI2SK"})
    after = start["GSI2SK"]["S"] if start else None
    per_partition = [_queue_keys(status, shard, after, size, oldest_first)
                     for status in statuses for shard in range(SHARDS)]
    merged = list(heapq.merge(*(keys for keys, _ in per_partition), reverse=not oldest_first))
    taken = merged[:size]
    more = len(merged) > size or any(more for _, more in per_partition)
    ids = [key.rsplit("#", 1)[1] for key in taken]
    found = get_many(ids)
    # the index is eventually consistent: skip a ticket that has just moved to another status
    tickets = [found[i] for i in ids if i in found and found[i].status in statuses]
    next_cursor = (paging.encode({"GSI2SK": {"S": taken[-1]}}, listing=listing, caller=viewer)
                   if more and taken else None)
    return tickets, next_cursor


def get_many(ticket_ids: list[str]) -> dict[str, Ticket]:
    found = ddb.batch_get([ticket_key(ticket_id) for ticket_id in ticket_ids])
    return {ticket.ticket_id: ticket for ticket in map(Ticket.from_item, found)}


def oldest_waiting_age_seconds(moment: datetime | None = None) -> int:
    """Seconds the ticket that has waited longest for ops (OPEN, ASSIGNED or WAITING) has waited; 0 when none
    does. For the sweeper's `TicketOldestUnansweredAgeSeconds` (the ticket SLA alarm): 12 Queries of a few keys
    and one BatchGetItem, at any queue depth."""
    moment = moment or clock.now()
    candidates = sorted(key for status in AWAITING_OPS for shard in range(SHARDS)
                        for key in _queue_keys(status, shard, None, 3, True)[0])
    if not candidates:
        return 0
    found = get_many([key.rsplit("#", 1)[1] for key in candidates])
    for key in candidates:
        ticket = found.get(key.rsplit("#", 1)[1])
        if ticket is not None and ticket.status in AWAITING_OPS:
            return max(0, int((moment - clock.parse_iso(ticket.since)).total_seconds()))
    return 0


# ---------------------------------------------------------------- writes

class TicketExists(Exception):
    """The ticket id is taken: a retry of the same request, or the key reused with another body."""


class MessageExists(Exception):
    """The message id is taken: a retry of the same message."""


class TicketChanged(Exception):
    """The ticket moved since it was read: read it again and decide again."""


def put_new(ticket: Ticket, first: Message) -> None:
    """Open the ticket and store its first message in one transaction; raises TicketExists on a replay."""
    try:
        ddb.transact_write([
            {"Put": {"TableName": ddb.table(), "Item": ticket.to_ddb(),
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {"TableName": ddb.table(), "Item": first.to_ddb(),
                     "ConditionExpression": "attribute_not_exists(PK)"}},
        ])
    except aws.ClientError as error:
        if ddb.cancellation_codes(error):
            raise TicketExists from None
        raise


def change_update(ticket: Ticket, to: TicketStatus, entry: TimelineEvent, *,
                  set_fields: dict[str, Any] | None = None, messages: int = 0) -> dict[str, Any]:
    """The Update request for one change of a ticket: checked against `states.TRANSITIONS`, conditional on the
    status and version read, appending `entry` (built by its one constructor in shared/tickets/events.py). A
    move to another status takes the ticket to that status's queue partition."""
    check_move(ticket.status, to)
    at = entry.at
    fields: dict[str, Any] = {"status": to.value, "updated_at": at, **(set_fields or {})}
    if to is not ticket.status and not (to in AWAITING_OPS and ticket.status in AWAITING_OPS):
        fields |= queue_values(ticket.ticket_id, to, at)  # OPEN -> ASSIGNED keeps its place (and its age)
    elif to is not ticket.status:
        fields |= {"GSI2PK": queue_partition(to, shard_of(ticket.ticket_id))}
    names = {f"#f{i}": name for i, name in enumerate(fields)} | {"#status": "status", "#version": "version"}
    values = {f":v{i}": ddb.to_attr(value) for i, value in enumerate(fields.values())}
    values |= ddb.values(one=1, count=messages, entry=[entry.to_item()], read_status=ticket.status.value,
                         read_version=ticket.version)
    assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
    return {
        "TableName": ddb.table(), "Key": ticket_key(ticket.ticket_id),
        "UpdateExpression": f"SET {assignments}, #version = #version + :one, message_count = message_count + :count,"
                            " events = list_append(events, :entry)",
        "ConditionExpression": "#status = :read_status AND #version = :read_version",
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
    }


def change(ticket: Ticket, to: TicketStatus, entry: TimelineEvent, *,
           set_fields: dict[str, Any] | None = None) -> Ticket:
    """Apply one change without a message (assign, close) and return the ticket as written; raises
    TicketChanged when it moved since it was read."""
    try:
        reply = ddb.dynamodb().update_item(**change_update(ticket, to, entry, set_fields=set_fields),
                                           ReturnValues="ALL_NEW")
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            raise TicketChanged from None
        raise
    return Ticket.from_item(ddb.from_item(reply["Attributes"]))


def add_message(ticket: Ticket, message: Message, to: TicketStatus, entry: TimelineEvent, *,
                set_fields: dict[str, Any] | None = None) -> None:
    """Store `message` and apply the change it makes in one transaction; raises MessageExists (a replay) or
    TicketChanged (the ticket moved since it was read)."""
    try:
        ddb.transact_write([
            {"Put": {"TableName": ddb.table(), "Item": message.to_ddb(),
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Update": change_update(ticket, to, entry, set_fields=set_fields, messages=1)},
        ])
    except aws.ClientError as error:
        codes = ddb.cancellation_codes(error)
        if not codes:
            raise
        if codes[0] == "ConditionalCheckFailed":
            raise MessageExists from None
        raise TicketChanged from None
