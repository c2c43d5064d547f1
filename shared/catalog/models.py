"""Catalog boundary models: what merchants send and what shoppers read."""

from __future__ import annotations

from collections.abc import Mapping
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


# ---------------------------------------------------------------- 7-day no-reason returns (七天无理由退货)

class LawExclusion(StrEnum):
    """Never returned without a reason: 消费者权益保护法 art. 25 para. 1, the 2017 measures art. 6."""

    CUSTOM_MADE = "custom_made"  # 消费者定作的
    PERISHABLE = "perishable"  # 鲜活易腐的 (fresh food, live goods, cut flowers)
    DIGITAL_CONTENT = "digital_content"  # 在线下载或者消费者拆封的音像制品、计算机软件等数字化商品
    PERIODICAL = "periodical"  # 交付的报纸、期刊


class ConsentExclusion(StrEnum):
    """Excluded only when the shopper confirms it at purchase: art. 25 para. 2, the 2017 measures art. 7."""

    OPENED_SAFETY_OR_QUALITY = "opened_safety_or_quality"  # 拆封后易影响人身安全、生命健康或商品品质
    ACTIVATED_OR_TRIED = "activated_or_tried"  # 一经激活或者试用后价值贬损较大
    NEAR_EXPIRY_OR_FLAWED = "near_expiry_or_flawed"  # 销售时已明示的临近保质期的商品、有瑕疵的商品


class ReturnsAllowed(BaseModel):
    """The shopper may return it within 7 days of signing for it, without giving a reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["allowed"]


class ExcludedByLaw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["excluded_by_law"]
    reason: LawExclusion


class ExcludedWithConsent(BaseModel):
    """POST /orders needs the shopper's consent for this SKU (`return_exclusion_consent`), or answers 422."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["excluded_with_consent"]
    reason: ConsentExclusion


ReturnPolicy = Annotated[ReturnsAllowed | ExcludedByLaw | ExcludedWithConsent, Field(discriminator="policy")]
ALLOWED = "allowed"
EXCLUDED_WITH_CONSENT = "excluded_with_consent"


def default_return_policy(kind: str) -> ReturnsAllowed | ExcludedByLaw:
    """A SKU that declares nothing: physical goods may be returned; digital ones are digital content."""
    if kind == Kind.DIGITAL.value:
        return ExcludedByLaw(policy="excluded_by_law", reason=LawExclusion.DIGITAL_CONTENT)
    return ReturnsAllowed(policy="allowed")


def return_policy_of(kind: str, declared: Mapping[str, object] | None) -> dict[str, object]:
    """The policy of a stored SKU row or order line: what it declares, else its kind's default."""
    return dict(declared) if declared else default_return_policy(kind).model_dump(mode="json")


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
    return_policy: ReturnPolicy | None = Field(
        default=None, description="7-day no-reason returns (七天无理由退货): `allowed`, `excluded_by_law` with "
                                  "the legal reason, or `excluded_with_consent` (the shopper confirms it when "
                                  "ordering). Default: physical allowed, digital excluded_by_law digital_content.")

    @model_validator(mode="after")
    def _entitlement_matches_fulfilment(self) -> SkuFields:
        if self.fulfilment is Fulfilment.ENTITLEMENT:
            if self.kind is not Kind.DIGITAL:
                raise ValueError("only digital SKUs can be delivered as an entitlement")
            if self.entitlement is None:
                raise ValueError("fulfilment 'entitlement' needs an entitlement (membership days or credits units)")
        elif self.entitlement is not None:
            raise ValueError("an entitlement is only allowed with fulfilment 'entitlement'")
        if self.return_policy is None:
            self.return_policy = default_return_policy(self.kind.value)
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

