"""Constrained types used at every boundary: money, quantities, identifiers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints


class Currency(StrEnum):
    CNY = "CNY"


Fen = Annotated[int, Field(ge=0, le=10_000_000_000, description="Integer minor units (fen).")]
PriceFen = Annotated[int, Field(ge=1, le=1_000_000_000, description="Unit price in fen (>= 1).")]
Quantity = Annotated[int, Field(ge=1, le=999, description="Units of one SKU in an order.")]
SkuId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{1,39}$")]
OrderId = Annotated[str, StringConstraints(pattern=r"^o[a-z2-7]{26}$")]
