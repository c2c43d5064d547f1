"""What the API answers about an order: the owner's view, its timeline, and ops' whole record.

Every field is typed for the OpenAPI document (timestamps as date-time, statuses as enums); the views are built
from the aggregate (`OrderView.of(order)`), never from a raw item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.core.timestamps import Timestamp
from shared.core.types import Fen, PriceFen
from shared.orders.models import OrderStatus, ShippingAddress
from shared.payments.ledger import LedgerSummary
from shared.payments.models import PaymentParams, PaymentState, Provider, RefundState

if TYPE_CHECKING:
    from shared.orders.aggregate import Order


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LineReturnPolicy(_View):
    policy: Literal["allowed", "excluded_by_law", "excluded_with_consent"]
    reason: str | None = Field(default=None, description="The legal reason of an exclusion (GET /catalog/{sku}).")
    consented_at: Timestamp | None = Field(default=None, description="When the shopper confirmed the exclusion "
                                                                     "(with the order).")


class OrderLine(_View):
    sku: str
    title: str
    kind: str
    category: str
    quantity: int
    unit_price_fen: PriceFen
    line_total_fen: Fen
    return_policy: LineReturnPolicy | None = Field(
        default=None, description="The SKU's 7-day no-reason return policy at the sale, when it is not its kind's "
                                  "default (physical: allowed; digital: excluded_by_law digital_content).")


class OrderEvent(_View):
    at: Timestamp
    type: str = Field(description="What happened: status_changed, placed, refunded, ... (shared/orders/events.py).")
    from_status: OrderStatus | None = None
    to_status: OrderStatus | None = None
    actor: str
    reason: str | None = None


class RefundView(_View):
    """One refund of the capture, keyed by its grant: the provider refund number is fixed per grant."""

    amount_fen: Fen
    state: RefundState
    reason: str | None = None
    out_refund_no: str | None = None
    provider_refund_id: str | None = None
    at: Timestamp | None = None
    settled_at: Timestamp | None = None
    detail: str | None = None


class PaymentView(_View):
    """The money a provider captured for the order, and what has been refunded of it."""

    provider: Provider
    state: PaymentState
    amount_fen: Fen
    currency: str | None = None
    refunded_fen: Fen | None = None
    out_trade_no: str | None = None
    transaction_id: str | None = None
    paid_at: Timestamp | None = None
    refunds: dict[str, RefundView] | None = None
    late: bool | None = Field(default=None, description="Captured after the order had moved on (refunded).")
    duplicate_of: str | None = Field(default=None, description="A duplicate capture: the transaction that paid first.")


class CompensationView(_View):
    """Money the platform pays the shopper apart from the merchant's refund (a no-reason return's shipping)."""

    amount_fen: Fen
    currency: str
    reason: str
    case_id: str | None = None
    state: Literal["requested", "paid", "failed"]
    out_transfer_no: str | None = None
    at: Timestamp | None = None
    settled_at: Timestamp | None = None


class FulfilmentView(_View):
    state: str = Field(description="A parcel's tracking state (GET /orders/{id}/tracking), or a digital delivery's "
                                   "`delivered` / `partial`.")
    raw_state: str | None = None
    at: Timestamp | None = None
    signed_at: Timestamp | None = None


class OrderView(_View):
    """What the owner (and the shop's merchant, and ops) read."""

    order_id: str
    status: OrderStatus
    items: list[OrderLine]
    total_fen: Fen
    currency: str
    created_at: Timestamp
    updated_at: Timestamp
    shop_id: str
    expires_at: Timestamp | None = None
    status_reason: str | None = Field(default=None, description="Why the order ended where it is.")
    shipping_address: ShippingAddress | None = None
    ad_copy: str | None = None
    target: str | None = None
    payment: PaymentView | None = None
    fulfilment: FulfilmentView | None = None
    compensations: dict[str, CompensationView] | None = Field(
        default=None,
        description="Paid by the platform, recorded apart from the refunds (shared/payments/compensation.py)")
    last_payment_error: str | None = None
    no_reason_return_until: Timestamp | None = Field(
        default=None, description="Until when the goods may be returned without a reason (七天无理由退货: 7 x 24 "
                                  "hours from the day after signing for them); none before signing, for digital "
                                  "orders, or when every line is excluded (docs/aftersales.md).")

    @classmethod
    def of(cls, order: Order) -> OrderView:
        """The view of the aggregate (the same fields the stored item gives it)."""
        return cls.model_validate(_fields(order))


def _fields(order: Order) -> dict[str, Any]:
    """The stored item, plus what the views derive from it."""
    from shared.aftersales import policy

    return {**order.to_item(), "no_reason_return_until": policy.return_until(order)}


class OrderPage(BaseModel):
    items: list[OrderView]
    cursor: str | None = None


class Timeline(BaseModel):
    order_id: str
    events: list[OrderEvent]

    @classmethod
    def of(cls, order: Order) -> Timeline:
        return cls(order_id=order.order_id, events=[OrderEvent.model_validate(e.to_item()) for e in order.events])


class ReasonView(_View):
    """Why risk or review decided as it did: a stable code, a message, and the points it weighed."""

    code: str
    message: str | None = None
    points: int | None = None
    terms: list[str] | None = Field(default=None, description="Review: the flagged terms in the ad copy.")


class RiskView(_View):
    score: int | None = None
    decision: str | None = None
    effective_decision: str | None = None
    mode: str | None = None
    reasons: list[ReasonView] = []
    rules_version: str | None = None
    assessed_at: Timestamp | None = None


class ReviewLeaseView(_View):
    by: str
    until: Timestamp
    claimed_at: Timestamp | None = None


class ReviewDecisionView(_View):
    outcome: str
    by: str | None = None
    at: Timestamp | None = None
    reason: str | None = None


class ReviewView(_View):
    outcome: str | None = None
    reasons: list[ReasonView] = []
    highlighted_copy: str | None = None
    decided_at: Timestamp | None = None
    queued_at: Timestamp | None = None
    by: str | None = None
    claim: ReviewLeaseView | None = None
    decision: ReviewDecisionView | None = None


class IntentView(_View):
    """An attempt at a provider: the current one (`payment_intent`) or a superseded one."""

    provider: Provider
    out_trade_no: str
    attempt: int | None = None
    state: str | None = None
    amount_fen: Fen | None = None
    currency: str | None = None
    created_at: Timestamp | None = None
    params: PaymentParams | None = None
    outcome: str | None = None
    superseded_at: Timestamp | None = None
    superseded_by: str | None = None


class ShipmentView(_View):
    warehouse: str | None = None
    warehouse_name: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    created_at: Timestamp | None = None
    subscription: str | None = None


class TroubleView(_View):
    state: str
    raw_state: str | None = None
    message: str | None = None
    at: Timestamp | None = None


class DeliveredItemView(_View):
    delivered_units: int | None = None
    remaining_units: int | None = None
    provider_ref: str | None = None
    at: Timestamp | None = None
    refund_fen: Fen | None = None


class DeliveryView(_View):
    items: dict[str, DeliveredItemView] = {}
    delivered_at: Timestamp | None = None
    refunded_fen: Fen | None = None


class OpsOrderView(OrderView):
    """The whole record ops read: the view plus the timeline, risk, review, payment attempts and logistics
    (never the table's keys or the request hash)."""

    shopper_id: str
    version: int
    kind: Literal["digital", "physical"] | None = None
    events: list[OrderEvent]
    risk: RiskView | None = None
    review: ReviewView | None = None
    payment_intent: IntentView | None = None
    payment_attempts: list[IntentView] | None = None
    duplicate_captures: list[PaymentView] | None = None
    shipment: ShipmentView | None = None
    delivery: DeliveryView | None = None
    trouble: TroubleView | None = None
    reservations: dict[str, list[list[int]]] | None = Field(
        default=None, description="Stock held while AWAITING_PAYMENT: sku -> [[bucket, units], ...].")
    redrives: int | None = None
    requeues: int | None = None
    ledger: LedgerSummary | None = Field(default=None, description="The payment ledger's sums "
                                         "(GET /orders/{order_id}/ledger has every grant).")

    @classmethod
    def of(cls, order: Order) -> OpsOrderView:
        from shared.payments import ledger

        return cls.model_validate({**_fields(order), "ledger": ledger.summary(order)})
