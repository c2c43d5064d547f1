"""The order aggregate: the one typed shape of an order item, from the table to the workflows and the views.

`Order.from_item` parses what DynamoDB holds (the attribute names are the stored ones, unchanged, so every
item already in a table parses) and `Order.to_item` gives back exactly that map: only the attributes the
item had, nothing added (`exclude_unset`), so an order costs the same units as before. The parts other
contexts write (payment, review, risk, delivery...) are `TypedDict`s: pydantic validates them, mypy checks
their keys, and their owners keep addressing them by path in their own conditional updates.

Unknown attributes are carried, never dropped (a newer writer's attribute survives an older reader);
`undeclared` lists them, and the test suite fails on any (tests/conftest.py checks every order item an
integration test leaves behind: item -> Order -> item equal, nothing undeclared).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_serializer, with_config
from typing_extensions import TypedDict, get_type_hints, is_typeddict

from shared.core import ddb
from shared.orders.events import OrderEvent
from shared.orders.models import OrderStatus

_OPEN = ConfigDict(extra="allow")
Kind = Literal["digital", "physical"]  # an order holds one kind (logic.price)


@with_config(_OPEN)
class Entitlement(TypedDict, total=False):
    """What one unit grants (shared/catalog/models.py): membership `days` or credits `units`."""

    kind: str
    days: int
    units: int


@with_config(_OPEN)
class LineReturnPolicy(TypedDict, total=False):
    """The SKU's 7-day no-reason return policy at the sale (shared/catalog/models.py), written only when it is
    not its kind's default (shared/aftersales/policy.py), so most lines hold nothing."""

    policy: str  # allowed | excluded_by_law | excluded_with_consent
    reason: str
    consented_at: str  # excluded_with_consent: when the shopper confirmed it (the order's created_at)


@with_config(_OPEN)
class Line(TypedDict):
    """One priced line, fixed at the sale (a later catalog edit never changes a placed order)."""

    sku: str
    title: str
    kind: Kind
    category: str
    quantity: int
    unit_price_fen: int
    line_total_fen: int
    entitlement: NotRequired[Entitlement]
    return_policy: NotRequired[LineReturnPolicy]


@with_config(_OPEN)
class Address(TypedDict):
    recipient: str
    phone: str
    province: str
    city: str
    line: str
    district: NotRequired[str]
    postal_code: NotRequired[str]


Reservations = dict[str, list[list[int]]]  # sku -> [[bucket, units], ...] held while AWAITING_PAYMENT


@with_config(_OPEN)
class RiskRecord(TypedDict, total=False):
    score: int
    decision: str
    effective_decision: str
    mode: str
    reasons: list[dict[str, Any]]
    rules_version: str
    assessed_at: str


@with_config(_OPEN)
class ReviewLease(TypedDict, total=False):
    by: str
    until: str
    claimed_at: str


@with_config(_OPEN)
class ReviewDecision(TypedDict, total=False):
    outcome: str
    by: str
    at: str
    reason: str


@with_config(_OPEN)
class ReviewRecord(TypedDict, total=False):
    outcome: str
    reasons: list[dict[str, Any]]
    highlighted_copy: str | None
    decided_at: str
    by: str
    queued_at: str
    claim: ReviewLease
    decision: ReviewDecision


@with_config(_OPEN)
class RefundRecord(TypedDict, total=False):
    amount_fen: int
    reason: str
    state: str  # requested -> succeeded | failed
    out_refund_no: str
    at: str
    provider_refund_id: str
    settled_at: str
    detail: str


@with_config(_OPEN)
class Capture(TypedDict, total=False):
    """Money a provider captured: the order's `payment`, or a `duplicate_captures` entry."""

    provider: str
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    currency: str
    paid_at: str
    state: str  # paid | partially_refunded | refunded
    refunded_fen: int
    refunds: dict[str, RefundRecord]
    late: bool  # captured after the order had left AWAITING_PAYMENT (refunded)
    duplicate_of: str  # a duplicate capture: the transaction that paid the order first


@with_config(_OPEN)
class PaymentIntent(TypedDict, total=False):
    """The current attempt at a provider (`payment_intent`), or a superseded one (`payment_attempts`)."""

    provider: str
    out_trade_no: str
    attempt: int
    state: str
    amount_fen: int
    currency: str
    created_at: str
    params: dict[str, Any]
    card_token_fp: str
    closed: str
    outcome: str
    superseded_at: str
    superseded_by: str


@with_config(_OPEN)
class Fulfilment(TypedDict, total=False):
    """Where the goods are (the carrier's last state, or a digital delivery's result)."""

    state: str
    raw_state: str
    at: str
    signed_at: str


@with_config(_OPEN)
class Shipment(TypedDict, total=False):
    warehouse: str
    warehouse_name: str
    carrier: str
    tracking_number: str
    created_at: str
    subscription: str


@with_config(_OPEN)
class Trouble(TypedDict, total=False):
    state: str
    raw_state: str
    message: str
    at: str


@with_config(_OPEN)
class DeliveredItem(TypedDict, total=False):
    delivered_units: int
    remaining_units: int
    provider_ref: str
    at: str
    refund_fen: int


@with_config(_OPEN)
class Delivery(TypedDict, total=False):
    items: dict[str, DeliveredItem]
    delivered_at: str
    refunded_fen: int


@with_config(_OPEN)
class Compensation(TypedDict, total=False):
    """Money the platform pays the shopper, apart from the merchant's refund (`compensations[<key>]`: the
    return shipping of a no-reason return, shared/payments/compensation.py). Granted once per key, executed
    through a payout provider with a deterministic `out_transfer_no`."""

    amount_fen: int
    currency: str
    reason: str
    case_id: str
    state: str  # requested -> paid | failed
    out_transfer_no: str
    at: str
    transfer_id: str
    settled_at: str
    detail: str


class OrderHead(BaseModel):
    """What a transition needs of an order: a projection read (`store.get_heads`) parses into this alone,
    without the timeline (the expiry path at sale speed reads these five attributes of each order)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    order_id: str
    status: OrderStatus
    version: int
    expires_at: str | None = None
    reservations: Reservations | None = None


class Order(OrderHead):
    """An order item. Field names are the stored attribute names (the keys keep theirs via aliases)."""

    pk: str = Field(alias="PK")
    sk: str = Field(alias="SK")
    shopper_id: str
    kind: Kind
    items: list[Line]
    total_fen: int
    currency: str
    shop_id: str
    request_hash: str
    created_at: str
    updated_at: str
    events: list[OrderEvent]
    shipping_address: Address | None = None
    ad_copy: str | None = None
    target: str | None = None
    source_ip: str | None = None
    device_id: str | None = None
    status_reason: str | None = None
    # the keys-only indexes: by_shopper, by_shop_day, and the sparse sharded timer index by_due
    gsi1pk: str | None = Field(default=None, alias="GSI1PK")
    gsi1sk: str | None = Field(default=None, alias="GSI1SK")
    gsi2pk: str | None = Field(default=None, alias="GSI2PK")
    gsi2sk: str | None = Field(default=None, alias="GSI2SK")
    gsi3pk: str | None = Field(default=None, alias="GSI3PK")
    gsi3sk: str | None = Field(default=None, alias="GSI3SK")
    # checkout and the sweeper
    released: Reservations | None = None
    redrives: int | None = None
    requeues: int | None = None
    requeued_at: str | None = None
    requeue_reason: str | None = None
    # the other contexts' facts
    risk: RiskRecord | None = None
    review: ReviewRecord | None = None
    payment: Capture | None = None
    payment_intent: PaymentIntent | None = None
    payment_attempts: list[PaymentIntent] | None = None
    duplicate_captures: dict[str, Capture] | None = None
    last_payment_error: str | None = None
    payment_event_keys: set[str] | None = None
    fulfilment: Fulfilment | None = None
    shipment: Shipment | None = None
    delivery: Delivery | None = None
    trouble: Trouble | None = None
    compensations: dict[str, Compensation] | None = None

    @field_serializer("events")
    def _events(self, value: list[OrderEvent]) -> list[dict[str, Any]]:
        # each event whole (its `type` is a default, which `exclude_unset` would drop), without its Nones
        return [event.to_item() for event in value]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Order:
        """From the plain map `ddb.from_item` gives (numbers as int)."""
        return cls.model_validate(item)

    @classmethod
    def from_ddb(cls, raw: dict[str, Any]) -> Order:
        """From a DynamoDB attribute-value map (GetItem's Item, UpdateItem's Attributes, a stream image)."""
        return cls.from_item(ddb.from_item(raw))

    def to_item(self) -> dict[str, Any]:
        """The stored map: the attributes this item has, under their stored names, and nothing else."""
        return self.model_dump(mode="python", by_alias=True, exclude_unset=True)

    def to_ddb(self) -> dict[str, Any]:
        return ddb.to_item(self.to_item())

    def has(self, name: str) -> bool:
        """Whether the item holds the attribute (its stored name, e.g. `payment` or `GSI3PK`): what
        `attribute_exists` would say."""
        field = _FIELD_OF.get(name, name)
        return field in self.model_fields_set or name in (self.model_extra or {})


_FIELD_OF = {info.alias: name for name, info in Order.model_fields.items() if info.alias}


def undeclared(order: Order) -> list[str]:
    """Dotted paths of attributes the item holds that the model does not declare (the tests want none)."""
    found = [name for name in order.model_extra or {}]
    hints = get_type_hints(Order, include_extras=False)
    for name in order.model_fields_set:
        found += _undeclared(getattr(order, name), hints.get(name), name)
    return found


def _undeclared(value: Any, annotation: Any, path: str) -> list[str]:
    if annotation is None or value is None:
        return []
    origin = get_origin(annotation)
    if origin is not None and type(None) in get_args(annotation):  # X | None
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _undeclared(value, inner[0], path) if len(inner) == 1 else []
    if is_typeddict(annotation) and isinstance(value, dict):
        hints = get_type_hints(annotation)
        found = [f"{path}.{key}" for key in value if key not in hints]
        for key, hint in hints.items():
            if key in value:
                found += _undeclared(value[key], _required_inner(hint), f"{path}.{key}")
        return found
    if origin is list and isinstance(value, list):
        (inner,) = get_args(annotation)
        return [found for i, item in enumerate(value) for found in _undeclared(item, inner, f"{path}[{i}]")]
    if origin is dict and isinstance(value, dict):
        _, inner = get_args(annotation)
        return [found for key, item in value.items() for found in _undeclared(item, inner, f"{path}.{key}")]
    return []


def _required_inner(hint: Any) -> Any:
    return get_args(hint)[0] if get_origin(hint) is NotRequired else hint
