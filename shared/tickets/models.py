"""Ticket models: the request bodies (bounded), the stored ticket and message items, and the views.

Render-safety: subject, body and resolution are stored exactly as given (no trimming, no escaping) and only ever
leave as JSON strings; a client escapes for the place it renders them (HTML, SMS...). Every text is bounded
(`SUBJECT_MAX`, `BODY_MAX`, `RESOLUTION_MAX`, `MAX_MESSAGES` per ticket), so a ticket item stays far below
DynamoDB's 400 KB and a thread reads in one or two Query pages. Texts never reach the logs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from shared.core import ddb
from shared.core.timestamps import Timestamp
from shared.core.types import OrderId
from shared.tickets import events as ev
from shared.tickets.states import AWAITING_OPS, TicketStatus

SUBJECT_MAX = 200
BODY_MAX = 2000  # even \u-escaped (6 bytes a character) a body stays under the 16 KB request cap
RESOLUTION_MAX = 1000
MAX_MESSAGES = 100  # per ticket, the opening message included: 409 ticket_message_limit past it

TicketId = Annotated[str, StringConstraints(pattern=r"^t[a-z2-7]{26}$")]
CaseRef = Annotated[str, StringConstraints(pattern=r"^a[a-z2-7]{34}$")]
ClientMessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")]
# An ops user's id (the Cognito `sub`): the assignee.
UserId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@-]{1,128}$")]


class Category(StrEnum):
    ORDER = "order"
    PAYMENT = "payment"
    DELIVERY = "delivery"
    AFTER_SALES = "after_sales"
    ACCOUNT = "account"
    SHOP = "shop"  # a merchant's question about running the shop
    OTHER = "other"


Author = Literal["opener", "ops"]
OpenerRole = Literal["shopper", "merchant"]

# ---------------------------------------------------------------- requests

class OpenTicket(BaseModel):
    """POST /me/tickets body. `order_id` / `case_id`: an order or after-sales case the caller may read."""

    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(min_length=1, max_length=SUBJECT_MAX)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=BODY_MAX)]
    category: Category
    order_id: OrderId | None = None
    case_id: CaseRef | None = None


class PostMessage(BaseModel):
    """POST /tickets/{ticket_id}/messages body; `client_message_id` (or the Idempotency-Key header) makes a
    retry land on the same message."""

    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, StringConstraints(min_length=1, max_length=BODY_MAX)]
    client_message_id: ClientMessageId | None = None


class AssignTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: UserId = Field(description="The ops user (Cognito sub) who takes the ticket.")


class CloseTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Annotated[str, StringConstraints(min_length=1, max_length=RESOLUTION_MAX)]


# ---------------------------------------------------------------- stored items

class Ticket(BaseModel):
    """A ticket item: PK=`TICKET#<ticket_id>`, SK=`TICKET` (its messages beside it, SK=`MSG#<message_id>`).

    Index entries (keys only): by_shopper GSI1PK=`TICKETS#<opener>`, GSI1SK=`<created_at>#<ticket_id>` (the
    opener's tickets, newest first); by_shop_day GSI2PK=`TICKETQ#<status>#<shard>`, GSI2SK=`<since>#<ticket_id>`
    (the ops queue by status; `since` is when it started waiting for ops, or entered ANSWERED / CLOSED)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    pk: str = Field(alias="PK")
    sk: str = Field(alias="SK")
    ticket_id: str
    opener_id: str
    opener_role: OpenerRole
    subject: str
    category: Category
    order_id: str | None = None
    case_id: str | None = None
    status: TicketStatus
    version: int
    assignee: str | None = None
    message_count: int
    request_hash: str
    created_at: str
    updated_at: str
    since: str = Field(description="When the ticket entered its queue position (GSI2SK's time)")
    first_response_at: str | None = None
    first_response_seconds: int | None = None
    closed_at: str | None = None
    resolution: str | None = None
    events: list[ev.TicketEvent]
    gsi1pk: str = Field(alias="GSI1PK")
    gsi1sk: str = Field(alias="GSI1SK")
    gsi2pk: str = Field(alias="GSI2PK")
    gsi2sk: str = Field(alias="GSI2SK")

    @field_serializer("events")
    def _events(self, value: list[ev.TicketEvent]) -> list[dict[str, Any]]:
        return [event.to_item() for event in value]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Ticket:
        return cls.model_validate(item)

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="python", by_alias=True, exclude_none=True)

    def to_ddb(self) -> dict[str, Any]:
        return ddb.to_item(self.to_item())


class Message(BaseModel):
    """A message item: PK=`TICKET#<ticket_id>`, SK=`MSG#<message_id>`; `seq` orders the thread."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    pk: str = Field(alias="PK")
    sk: str = Field(alias="SK")
    message_id: str
    ticket_id: str
    seq: int
    author: Author
    author_id: str
    body: str
    at: str
    request_hash: str

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Message:
        return cls.model_validate(item)

    def to_ddb(self) -> dict[str, Any]:
        return ddb.to_item(self.model_dump(mode="python", by_alias=True, exclude_none=True))


# ---------------------------------------------------------------- views

class MessageView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: str
    seq: int
    author: Author = Field(description="`opener` (the shopper or merchant who opened it) or `ops`")
    body: str = Field(description="As written; escape it where you render it.")
    at: Timestamp


class TicketEventView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    at: Timestamp
    type: Literal["opened", "assigned", "answered", "replied", "closed"]
    from_status: TicketStatus | None = None
    to_status: TicketStatus
    actor: str
    reason: str | None = None
    assignee: str | None = None
    message_id: str | None = None
    first_response: bool | None = None


class TicketSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticket_id: str
    subject: str
    category: Category
    status: TicketStatus
    order_id: str | None = None
    case_id: str | None = None
    opener_role: OpenerRole
    assignee: str | None = None
    message_count: int
    created_at: Timestamp
    updated_at: Timestamp
    first_response_at: Timestamp | None = None
    closed_at: Timestamp | None = None
    resolution: str | None = None

    @classmethod
    def of(cls, ticket: Ticket) -> TicketSummary:
        return cls.model_validate(ticket.to_item())


class TicketView(TicketSummary):
    """One ticket with its thread (oldest first) and its history."""

    messages: list[MessageView]
    history: list[TicketEventView]

    @classmethod
    def with_thread(cls, ticket: Ticket, messages: list[Message]) -> TicketView:
        item = ticket.to_item()
        thread = [MessageView.model_validate(m.model_dump()) for m in sorted(messages, key=lambda m: m.seq)]
        return cls.model_validate({**item, "messages": thread, "history": item["events"]})


class TicketPage(BaseModel):
    """The caller's tickets, newest first; `cursor` continues (signed, for this caller and list only)."""

    items: list[TicketSummary]
    cursor: str | None = None


class OpsTicketSummary(TicketSummary):
    opener_id: str
    waiting_since: Timestamp | None = Field(None, description="Awaiting ops since (OPEN, ASSIGNED, WAITING)")

    @classmethod
    def of(cls, ticket: Ticket) -> OpsTicketSummary:
        waiting = ticket.since if ticket.status in AWAITING_OPS else None
        return cls.model_validate({**ticket.to_item(), "waiting_since": waiting})


class OpsTicketPage(BaseModel):
    """Ops' queue: awaiting ops (OPEN, ASSIGNED, WAITING) oldest first unless `status` asks for one status
    (ANSWERED and CLOSED newest first)."""

    status: TicketStatus | None = None
    items: list[OpsTicketSummary]
    cursor: str | None = None
