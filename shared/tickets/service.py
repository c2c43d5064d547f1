"""Support tickets (issue 13 item 7): open, read, exchange messages, assign, close.

Who: a shopper or a merchant opens a ticket (optionally about an order or after-sales case they may read: the
owner, the shop's merchant; anything else is 404 as everywhere); the opener and ops read it and write to it;
everyone else gets 404 so ticket ids cannot be probed. Ops assign and close.

Idempotency: the ticket id comes from (opener, Idempotency-Key) and a message id from (ticket, author, client
message id or Idempotency-Key), so a retry is a failed conditional put that answers what the first attempt
stored, or 422 `idempotency_key_reused` when the body differs.

The first-response SLA: ops' first answer records `first_response_at` / `first_response_seconds` in the write
that stores it and emits `TicketFirstResponseSeconds` (Powertools metrics) once the write committed; a retry
replays and emits nothing. The sweeper publishes how long the oldest ticket has waited for ops
(`store.oldest_waiting_age_seconds`), which the ticket SLA alarm watches.
"""

from __future__ import annotations

from typing import Any

from shared.aftersales import service as cases
from shared.core import ddb
from shared.core.auth import Principal
from shared.core.clock import now_iso, parse_iso
from shared.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from shared.core.observability import metrics
from shared.core.roles import Role
from shared.core.timeline import TimelineEvent
from shared.orders import logic as order_logic
from shared.orders import store as orders
from shared.tickets import events, store
from shared.tickets.models import (
    MAX_MESSAGES,
    AssignTicket,
    CloseTicket,
    Message,
    OpenerRole,
    OpenTicket,
    PostMessage,
    Ticket,
)
from shared.tickets.states import TicketStatus

T = TicketStatus
FIRST_RESPONSE_METRIC = "TicketFirstResponseSeconds"


def _actor(caller: Principal, role: str) -> str:
    return f"{role}:{caller.sub}"


def _opener_role(caller: Principal) -> OpenerRole:
    return "shopper" if caller.has(Role.SHOPPER) else "merchant"


def _check_subject(caller: Principal, body: OpenTicket) -> tuple[str | None, str | None]:
    """The order and case the ticket is about, each one the caller may read (404 otherwise, as elsewhere)."""
    order_id = body.order_id
    if body.case_id is not None:
        case = cases.readable_case(caller, body.case_id)
        if order_id is not None and order_id != case.order_id:
            raise Unprocessable("The case belongs to another order.", code="case_not_on_order")
        order_id = case.order_id
    elif order_id is not None:
        order = orders.get(order_id)
        if order is None or not cases.may_read(caller, order.shopper_id, order.shop_id):
            raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return order_id, body.case_id


def _replayed(existing: Ticket, opener_id: str, fingerprint: str) -> Ticket:
    if existing.request_hash != fingerprint or existing.opener_id != opener_id:
        raise Unprocessable("This Idempotency-Key was used with a different body.", code="idempotency_key_reused")
    return existing


def open_ticket(caller: Principal, idempotency_key: str | None, body: OpenTicket) -> tuple[Ticket, list[Message]]:
    key = order_logic.validate_idempotency_key(idempotency_key)
    ticket_id = store.ticket_id_for(caller.sub, key)
    fingerprint = order_logic.request_hash(body)
    existing, messages = store.thread(ticket_id)
    if existing is not None:
        return _replayed(existing, caller.sub, fingerprint), messages
    order_id, case_id = _check_subject(caller, body)
    at = now_iso()
    role = _opener_role(caller)
    message_id = store.message_id_for(ticket_id, caller.sub, key)
    ticket = Ticket.model_validate({
        **store.key_values(ticket_id, caller.sub, at),
        "ticket_id": ticket_id, "opener_id": caller.sub, "opener_role": role, "subject": body.subject,
        "category": body.category, "order_id": order_id, "case_id": case_id, "status": T.OPEN, "version": 1,
        "message_count": 1, "request_hash": fingerprint, "created_at": at, "updated_at": at,
        "events": [events.opened(actor=_actor(caller, role), category=body.category.value, at=at)],
    })
    first = Message.model_validate({
        **store.message_key_values(ticket_id, message_id), "message_id": message_id, "ticket_id": ticket_id,
        "seq": 1, "author": "opener", "author_id": caller.sub, "body": body.body, "at": at,
        "request_hash": fingerprint,
    })
    try:
        store.put_new(ticket, first)
    except store.TicketExists:
        existing, messages = store.thread(ticket_id)
        if existing is None:
            raise
        return _replayed(existing, caller.sub, fingerprint), messages
    return ticket, [first]


def _may_read(caller: Principal, ticket: Ticket) -> bool:
    return ticket.opener_id == caller.sub or caller.has(Role.OPS)


def readable(caller: Principal, ticket_id: str) -> tuple[Ticket, list[Message]]:
    ticket, messages = store.thread(ticket_id)
    if ticket is None or not _may_read(caller, ticket):
        raise NotFound(f"No ticket {ticket_id!r}.", code="ticket_not_found")
    return ticket, messages


def _message_key(header: str | None, body: PostMessage) -> str:
    if header is not None and body.client_message_id is not None and header != body.client_message_id:
        raise BadRequest("The Idempotency-Key and client_message_id differ; send one of them.",
                         code="idempotency_key_conflict")
    raw = header if header is not None else body.client_message_id
    return order_logic.validate_idempotency_key(raw)


def _message_change(ticket: Ticket, author: str, caller: Principal, message_id: str,
                    at: str) -> tuple[TicketStatus, TimelineEvent, dict[str, Any]]:
    """The status, history entry and fields one message brings."""
    if author == "ops":
        first = ticket.first_response_at is None
        fields: dict[str, Any] = {}
        if first:
            seconds = max(0, int((parse_iso(at) - parse_iso(ticket.created_at)).total_seconds()))
            fields = {"first_response_at": at, "first_response_seconds": seconds}
        return T.ANSWERED, events.answered(from_status=ticket.status, actor=_actor(caller, "ops"),
                                           message_id=message_id, first_response=first, at=at), fields
    to = T.WAITING if ticket.status is T.ANSWERED else ticket.status
    return to, events.replied(from_status=ticket.status, to_status=to, actor=_actor(caller, ticket.opener_role),
                              message_id=message_id, at=at), {}


def post_message(caller: Principal, ticket_id: str, idempotency_key: str | None,
                 body: PostMessage) -> tuple[Ticket, list[Message], Message]:
    """Store one message from the opener or ops and move the ticket (see shared/tickets/states.py)."""
    key = _message_key(idempotency_key, body)
    ticket, messages = readable(caller, ticket_id)
    author = "opener" if ticket.opener_id == caller.sub else "ops"
    message_id = store.message_id_for(ticket_id, caller.sub, key)
    fingerprint = order_logic.request_hash(PostMessage(body=body.body))
    for _ in ddb.contended():
        stored = next((m for m in messages if m.message_id == message_id), None)
        if stored is not None:
            if stored.request_hash != fingerprint:
                raise Unprocessable("This message id was used with a different body.", code="idempotency_key_reused")
            return ticket, messages, stored
        if ticket.status is T.CLOSED:
            raise Conflict("The ticket is closed; open a new one.", code="ticket_closed",
                           current_status=ticket.status.value)
        if ticket.message_count >= MAX_MESSAGES:
            raise Conflict(f"A ticket holds at most {MAX_MESSAGES} messages; open a new one.",
                           code="ticket_message_limit")
        at = now_iso()
        to, entry, fields = _message_change(ticket, author, caller, message_id, at)
        message = Message.model_validate({
            **store.message_key_values(ticket_id, message_id), "message_id": message_id, "ticket_id": ticket_id,
            "seq": ticket.message_count + 1, "author": author, "author_id": caller.sub, "body": body.body,
            "at": at, "request_hash": fingerprint,
        })
        try:
            store.add_message(ticket, message, to, entry, set_fields=fields)
        except (store.MessageExists, store.TicketChanged):
            ticket, messages = readable(caller, ticket_id)
            continue
        if "first_response_seconds" in fields:
            metrics.add_metric(name=FIRST_RESPONSE_METRIC, unit="Seconds", value=fields["first_response_seconds"])
        ticket, messages = readable(caller, ticket_id)
        return ticket, messages, message
    raise _busy()


def _busy() -> Conflict:
    return Conflict("The ticket kept changing; retry.", code="ticket_busy")


def assign(caller: Principal, ticket_id: str, body: AssignTicket) -> Ticket:
    """Give the ticket to an ops user: OPEN -> ASSIGNED, otherwise the status stays; the same assignee again
    changes nothing (a retry). A message landing meanwhile is read and the decision made again."""
    for _ in ddb.contended():
        ticket = _ops_ticket(ticket_id)
        if ticket.assignee == body.assignee and ticket.status is not T.CLOSED:
            return ticket
        to = T.ASSIGNED if ticket.status is T.OPEN else ticket.status
        entry = events.assigned(from_status=ticket.status, to_status=to, actor=_actor(caller, "ops"),
                                assignee=body.assignee, at=now_iso())
        try:
            return store.change(ticket, to, entry, set_fields={"assignee": body.assignee})
        except store.TicketChanged:
            continue
    raise _busy()


def close(caller: Principal, ticket_id: str, body: CloseTicket) -> Ticket:
    """Close with a resolution; closing again with the same resolution answers the closed ticket (a retry)."""
    for _ in ddb.contended():
        ticket = _ops_ticket(ticket_id)
        if ticket.status is T.CLOSED and ticket.resolution == body.resolution:
            return ticket
        at = now_iso()
        entry = events.closed(from_status=ticket.status, actor=_actor(caller, "ops"), resolution=body.resolution,
                              at=at)
        try:
            return store.change(ticket, T.CLOSED, entry, set_fields={"resolution": body.resolution,
                                                                     "closed_at": at})
        except store.TicketChanged:
            continue
    raise _busy()


def _ops_ticket(ticket_id: str) -> Ticket:
    ticket = store.get(ticket_id, consistent=True)
    if ticket is None:
        raise NotFound(f"No ticket {ticket_id!r}.", code="ticket_not_found")
    return ticket
