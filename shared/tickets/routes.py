"""HTTP routes of support tickets: the opener's on api_orders (`router`), ops' on api_ops (`ops_router`).

Why api_orders for the opener: shoppers and merchants both sign in to the same API with their role in the
token, api_orders already serves the signed-in reads of orders and after-sales cases that a ticket refers to
(it checks the order or case with the same `may_read`), with the grants a ticket needs (the table, the cursor
secret). `POST /tickets/{ticket_id}/messages` and `GET /tickets/{ticket_id}` serve the opener and ops alike
(one thread, one route, decided per ticket), so they live there too. The ops list, assign and close are ops'
tools and run on api_ops with the other ops views.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from shared.api.declaration import route
from shared.core.api import principal, require_role
from shared.core.roles import Role
from shared.tickets import service, store
from shared.tickets.models import (
    AssignTicket,
    CloseTicket,
    OpenTicket,
    OpsTicketPage,
    OpsTicketSummary,
    PostMessage,
    TicketId,
    TicketPage,
    TicketSummary,
    TicketView,
)
from shared.tickets.states import AWAITING_OPS, TicketStatus

router = Router()
ops_router = Router()

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="8-64 chars, e.g. a UUID")]


# POST /me/tickets
@route(router, "openTicket", summary="Open a support ticket, optionally about an order or after-sales case",
       responses={201: {"description": "The ticket (the same one for a retry with the same Idempotency-Key)"}})
def open_ticket(body: OpenTicket, idempotency_key: IdempotencyKey = None) -> Response[TicketView]:
    caller = require_role(router, Role.SHOPPER, Role.MERCHANT)
    ticket, messages = service.open_ticket(caller, idempotency_key, body)
    return Response(status_code=201, body=TicketView.with_thread(ticket, messages), content_type="application/json",
                    headers={"Location": f"/tickets/{ticket.ticket_id}"})


# GET /me/tickets
@route(router, "listMyTickets", summary="Your support tickets, newest first")
def list_my_tickets(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> TicketPage:
    caller = require_role(router, Role.SHOPPER, Role.MERCHANT)
    found, next_cursor = store.for_opener(caller.sub, cursor)
    return TicketPage(items=[TicketSummary.of(ticket) for ticket in found], cursor=next_cursor)


# GET /tickets/{ticket_id}
@route(router, "getTicket", summary="One ticket with its messages and history (the opener and ops)")
def get_ticket(ticket_id: TicketId) -> TicketView:
    ticket, messages = service.readable(principal(router), ticket_id)
    return TicketView.with_thread(ticket, messages)


# POST /tickets/{ticket_id}/messages
@route(router, "postTicketMessage", summary="Write to a ticket (the opener or ops); ops' first answer is the "
       "first response", responses={201: {"description": "The ticket with its thread"}})
def post_message(ticket_id: TicketId, body: PostMessage,
                 idempotency_key: IdempotencyKey = None) -> Response[TicketView]:
    ticket, messages, _ = service.post_message(principal(router), ticket_id, idempotency_key, body)
    return Response(status_code=201, body=TicketView.with_thread(ticket, messages), content_type="application/json")


# GET /ops/tickets
@route(ops_router, "listOpsTickets", summary="Tickets by status; without one, those awaiting ops, oldest first")
def list_ops_tickets(status: TicketStatus | None = None,
                     cursor: Annotated[str | None, Query(max_length=2048)] = None) -> OpsTicketPage:
    caller = require_role(ops_router, Role.OPS)
    statuses = (status,) if status else AWAITING_OPS
    oldest_first = all(s in AWAITING_OPS for s in statuses)
    found, next_cursor = store.queue_page(statuses, cursor, viewer=caller.sub, oldest_first=oldest_first)
    return OpsTicketPage(status=status, items=[OpsTicketSummary.of(ticket) for ticket in found], cursor=next_cursor)


# POST /ops/tickets/{ticket_id}/assign
@route(ops_router, "assignTicket", summary="Give a ticket to an ops user")
def assign_ticket(ticket_id: TicketId, body: AssignTicket) -> OpsTicketSummary:
    caller = require_role(ops_router, Role.OPS)
    return OpsTicketSummary.of(service.assign(caller, ticket_id, body))


# POST /ops/tickets/{ticket_id}/close
@route(ops_router, "closeTicket", summary="Close a ticket with a resolution")
def close_ticket(ticket_id: TicketId, body: CloseTicket) -> OpsTicketSummary:
    caller = require_role(ops_router, Role.OPS)
    return OpsTicketSummary.of(service.close(caller, ticket_id, body))
