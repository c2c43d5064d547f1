"""Catalog boundary models: what merchants send and what shoppers read."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.core.types import Currency, PriceFen, SkuId, Slug

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
StockUnits = Annotated[int, Field(ge=0, le=10_000_000)]


class Kind(StrEnum):
    DIGITAL = "digital"
    PHYSICAL = "physical"


class SkuFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    category: Slug
    kind: Kind
    price_fen: PriceFen
    currency: Currency = Currency.CNY


class SkuCreate(SkuFields):
    sku: SkuId
    stock: StockUnits = 0


class StockSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stock: StockUnits


class Sku(SkuFields):
    model_config = ConfigDict(extra="ignore")

    sku: SkuId
    shop_id: str
    stock: int | None = Field(default=None, description="Units available now (detail view only).")
    created_at: str
    updated_at: str


class CatalogPage(BaseModel):
    items: list[Sku]
    cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page.")
