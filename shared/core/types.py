"""Constrained types used at every boundary: money, quantities, identifiers, timestamps."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, PlainSerializer, StringConstraints, WithJsonSchema

from shared.core.clock import iso


class Currency(StrEnum):
    CNY = "CNY"


Fen = Annotated[int, Field(ge=0, le=10_000_000_000, description="Integer minor units (fen).")]
PriceFen = Annotated[int, Field(ge=1, le=1_000_000_000, description="Unit price in fen (>= 1).")]
Quantity = Annotated[int, Field(ge=1, le=999, description="Units of one SKU in an order.")]
SkuId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{1,39}$")]
OrderId = Annotated[str, StringConstraints(pattern=r"^o[a-z2-7]{26}$")]

# An aware UTC moment: read from the stored ISO string, written back exactly as `clock.iso` writes it
# (milliseconds and a Z, e.g. 2026-12-07T19:03:25.123Z), so the JSON stays byte-for-byte what it was;
# the OpenAPI document says `format: date-time`.
Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
