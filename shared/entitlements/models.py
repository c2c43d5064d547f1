"""Ledger entries (as stored) and what the shopper reads at GET /me/entitlements."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.core.timestamps import Timestamp


class EntitlementKind(StrEnum):
    MEMBERSHIP = "membership"  # amounts in seconds of membership
    CREDITS = "credits"  # amounts in credit units


class EntryAction(StrEnum):
    GRANT = "grant"  # a delivered order item (positive amount)
    REVOKE = "revoke"  # a refund of a delivered item took back what was left (amount <= 0)
    SPEND = "spend"  # credits used up (amount < 0); written by whatever spends them


class Entry(BaseModel):
    """One ledger line. Its key is (shopper, order, sku, reference), so each fact is written once."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: EntitlementKind
    action: EntryAction
    amount: int = Field(description="Signed change: seconds of membership, or credit units.")
    at: str = Field(description="When it took effect (ISO 8601 UTC); the membership fold orders by it.")
    order_id: str
    sku: str
    reference: str = Field(description="'grant', 'revoke:<refund key>' or 'spend:<reference>'.")
    quantity: int = Field(default=0, description="Units of the order item a grant or revoke covers.")


class MembershipView(BaseModel):
    active: bool
    active_until: Timestamp | None = Field(default=None, description="End of the membership (ISO 8601 UTC).")


class CreditsView(BaseModel):
    balance: int = Field(description="Credit units left: the sum of every credits entry.")


class EntryView(BaseModel):
    kind: EntitlementKind
    action: EntryAction
    amount: int
    unit: str = Field(description="'seconds' for membership, 'credits' for credits.")
    at: Timestamp
    order_id: str
    sku: str


class Entitlements(BaseModel):
    membership: MembershipView
    credits: CreditsView
    entries: list[EntryView] = Field(description="The ledger, newest first (at most 100).")
