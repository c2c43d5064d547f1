"""Automatic review after payment: what goes in, how it is configured, what comes out."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Fen = Annotated[int, Field(ge=0)]


class Outcome(StrEnum):
    PASS = "pass"  # the fast lane: fulfil now
    MANUAL = "manual"  # a human decides (the order goes IN_REVIEW)
    REJECT = "reject"  # never fulfilled; refunded by the workflow


class ReasonCode(StrEnum):
    """Stable codes: the reviewer UI, metrics and the order timeline key on them."""

    BANNED_CATEGORY = "banned_category"  # a line item's category is one we never sell
    BANNED_TERM = "banned_term"  # a banned term in the ad copy or the target
    ABSOLUTE_TERMS = "absolute_terms"  # 广告法 第九条(三) terms in ad copy: a human judges the context
    INDUSTRY_UNQUALIFIED = "industry_unqualified"  # licensed industry without that qualification on file
    AMOUNT_ABOVE_TIER = "amount_above_tier"
    RISK_REVIEW = "risk_review"  # checkout risk scoring asked for a review


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    kind: Literal["digital", "physical"]
    category: str
    quantity: Annotated[int, Field(ge=1)]
    unit_price_fen: Fen


class ReviewInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    items: Annotated[list[LineItem], Field(min_length=1)]
    total_fen: Fen
    currency: str = "CNY"
    ad_copy: str | None = None
    target: str | None = None  # what an ad or engagement package points at (account, URL)
    shopper_qualifications: frozenset[str] = frozenset()  # industries with a licence on file, e.g. "medical"
    risk_decision: Literal["ACCEPT", "REVIEW"] = "ACCEPT"  # REJECT never reaches payment


class ReviewConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Above this total a human looks; equal to it still takes the fast lane.
    manual_above_fen: Fen = 5_000_00  # ¥5,000
    ad_copy_categories: frozenset[str] = frozenset({"ad_placement", "promotion"})


class ReviewReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    message: str
    terms: list[str] = Field(default_factory=list)


class ReviewDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    reasons: list[ReviewReason]
    highlighted_copy: str | None = None  # the ad copy with hits wrapped like 【最佳】, for the reviewer

    @property
    def fast_lane(self) -> bool:
        return self.outcome is Outcome.PASS
