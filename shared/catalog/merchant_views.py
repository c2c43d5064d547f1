"""What the merchant console reads about its shop's orders: the order views and the day's sales figures.

Imported lazily by shared.catalog.routes (see `merchant_views` there): the public catalog function, which
shares that module, never pays for the order models."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from shared.core.types import Currency
from shared.orders.models import OrderStatus
from shared.orders.views import OrderPage, OrderView

__all__ = ["OrderPage", "OrderView", "ShopSales"]


class ShopSales(BaseModel):
    """A shop's figures for one UTC day, from its orders of that day (paid ones count towards money)."""

    day: date = Field(description="The UTC day.")
    orders: int = Field(description="Orders placed that day (all statuses).")
    orders_by_status: dict[OrderStatus, int]
    paid_units: int
    gross_fen: int
    refunded_fen: int
    net_fen: int = Field(description="gross_fen - refunded_fen.")
    currency: Currency
    partial: bool = Field(description="True when the day had more orders than one scan reads.")
