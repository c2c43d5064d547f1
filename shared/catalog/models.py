"""Catalog boundary models: what merchants send and what shoppers read."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.core.timestamps import Timestamp
from shared.core.types import Currency, PriceFen, SkuId, Slug

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
StockUnits = Annotated[int, Field(ge=0, le=10_000_000)]


class Kind(StrEnum):
    DIGITAL = "digital"
    PHYSICAL = "physical"


class Fulfilment(StrEnum):
    """Who delivers a digital SKU: an outside platform through the provider adapter, or order24's own
    entitlements ledger (shared/entitlements). Physical SKUs ship from warehouses and keep the default."""

    PROVIDER = "provider"
    ENTITLEMENT = "entitlement"


class MembershipSpec(BaseModel):
    """Each unit bought extends the membership by `days`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["membership"]
    days: Annotated[int, Field(ge=1, le=3660)]


class CreditsSpec(BaseModel):
    """Each unit bought adds `units` credits to the balance."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["credits"]
    units: Annotated[int, Field(ge=1, le=100_000_000)]


EntitlementSpec = Annotated[MembershipSpec | CreditsSpec, Field(discriminator="kind")]


class SkuFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    category: Slug
    kind: Kind
    price_fen: PriceFen
    currency: Currency = Currency.CNY
    fulfilment: Fulfilment = Fulfilment.PROVIDER
    entitlement: EntitlementSpec | None = Field(
        default=None, description="What one unit grants; required exactly when fulfilment is entitlement."
    )

    @model_validator(mode="after")
    def _entitlement_matches_fulfilment(self) -> SkuFields:
        if self.fulfilment is Fulfilment.ENTITLEMENT:
            if self.kind is not Kind.DIGITAL:
                raise ValueError("only digital SKUs can be delivered as an entitlement")
            if self.entitlement is None:
                raise ValueError("fulfilment 'entitlement' needs an entitlement (membership days or credits units)")
        elif self.entitlement is not None:
            raise ValueError("an entitlement is only allowed with fulfilment 'entitlement'")
        return self


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
    created_at: Timestamp
    updated_at: Timestamp


class CatalogPage(BaseModel):
    items: list[Sku]
    cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page.")


class Health(BaseModel):
    status: Literal["ok"]


class StockLevel(BaseModel):
    sku: SkuId
    stock: int = Field(description="Sellable units now.")

