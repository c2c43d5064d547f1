"""Order boundary models and the lifecycle states."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.core.types import Quantity, SkuId


class OrderStatus(StrEnum):
    PLACED = "PLACED"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"
    IN_REVIEW = "IN_REVIEW"
    FULFILLING = "FULFILLING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


FINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.FAILED})

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ShippingAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipient: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 -]{5,19}$")]
    province: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20)]
    city: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    district: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    line: Text
    postal_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: SkuId
    quantity: Quantity


class PlaceOrder(BaseModel):
    """POST /orders body. `target` is the account or link a digital service acts on."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[OrderLineIn], Field(min_length=1, max_length=20)]
    shipping_address: ShippingAddress | None = None
    ad_copy: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    target: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)] | None = None
    return_exclusion_consent: Annotated[list[SkuId], Field(min_length=1, max_length=20)] | None = Field(
        default=None, description="The SKUs whose exclusion from 7-day no-reason returns (their catalog "
                                  "`return_policy` is `excluded_with_consent`) the shopper confirms. Each such SKU "
                                  "in `items` must be listed, or 422 `consent_required`; the order records the "
                                  "consent and its time on the line.")


class OrderAccepted(BaseModel):
    order_id: str
    status: OrderStatus

