"""After-sales case models: types, statuses and their transition table, the reason catalogue, the request body,
the stored case (`Case`) and the views the API answers.

Money. Each case line carries `refundable_fen`, integer fen, fixed when the case opens. The rounding rule, for
every line (a discount or a partial line included, once they exist): the units of an order line are numbered
in the order cases claim them, and the first `n` claimed units are worth `floor(line_total_fen * n / bought)`.
A case that claims units `c+1 .. c+q` (c claimed before it) is owed
`floor(line_total_fen * (c+q) / bought) - floor(line_total_fen * c / bought)`. Without a discount
(`line_total_fen == unit_price_fen * bought`) that is exactly `unit_price_fen * q`; with one, the fen lost to
rounding land on the later units, and the refunds of all units add up to `line_total_fen`, never more. The
claim write is conditional on `c` (shared/aftersales/store.py), so the amount is computed from the count the
write checked.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_serializer

from shared.aftersales import events as ev
from shared.aftersales.states import CaseStatus, CaseType
from shared.core import ddb
from shared.core.timestamps import Timestamp
from shared.core.types import Fen, Quantity, SkuId

# ---------------------------------------------------------------- the reason catalogue

class Labels(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    zh_cn: str = Field(alias="zh-CN")
    en: str


class Reason(BaseModel):
    """One published reason code: its labels and the case types it may open."""

    model_config = ConfigDict(frozen=True)

    code: str
    labels: Labels
    types: list[CaseType]


_BOTH = [CaseType.REFUND_ONLY, CaseType.RETURN_AND_REFUND]
REASONS: tuple[Reason, ...] = tuple(
    Reason(code=code, labels=Labels.model_validate({"zh-CN": zh, "en": en}), types=types)
    for code, zh, en, types in (
        ("no_longer_needed", "不想要了", "No longer needed", _BOTH),
        ("seven_day_no_reason", "七天无理由退货", "7-day no-reason return", [CaseType.RETURN_AND_REFUND]),
        ("not_received", "未收到货", "Not received", [CaseType.REFUND_ONLY]),
        ("damaged", "商品破损", "Arrived damaged", _BOTH),
        ("not_as_described", "与商品描述不符", "Not as described", _BOTH),
        ("quality_issue", "质量问题", "Quality problem", _BOTH),
        ("wrong_item", "发错货", "Wrong item sent", [CaseType.RETURN_AND_REFUND]),
        ("missing_parts", "少件/漏发", "Missing items or parts", [CaseType.REFUND_ONLY]),
        ("digital_not_delivered", "虚拟商品未到账", "Digital item not delivered", [CaseType.REFUND_ONLY]),
    )
)
REASONS_BY_CODE: dict[str, Reason] = {reason.code: reason for reason in REASONS}
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]


class ReasonCatalogue(BaseModel):
    reasons: list[Reason]


# ---------------------------------------------------------------- the request

class CaseLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: SkuId
    quantity: Quantity


class OpenCase(BaseModel):
    """POST /orders/{order_id}/after-sales body."""

    model_config = ConfigDict(extra="forbid")

    type: CaseType
    lines: Annotated[list[CaseLineIn], Field(min_length=1, max_length=20)]
    reason_code: ReasonCode
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


# ---------------------------------------------------------------- evidence (shared/aftersales/disputes.py)

class Evidence(BaseModel):
    """One entry of a case's evidence, as stored: who added it and when, its text and image references."""

    model_config = ConfigDict(extra="ignore")

    at: str
    actor: str
    text: str
    images: list[str] = []
# ---------------------------------------------------------------- returns (shared/aftersales/returns.py)

class ReturnAddress(BaseModel):
    """Where the shopper sends the goods back: the merchant's return address, fixed when the return is approved."""

    model_config = ConfigDict(extra="ignore")

    recipient: str
    phone: str
    province: str
    city: str
    line: str
    warehouse: str | None = Field(None, description="The warehouse the goods shipped from, and go back to")


class ReturnShipment(BaseModel):
    """The parcel the shopper sent back (`POST /after-sales/{case_id}/return-shipment`)."""

    model_config = ConfigDict(extra="ignore")

    carrier: str
    tracking_no: str
    at: Timestamp
    subscription: str = Field(description="active | not_configured | refused:<code>: whether pushes will come")


class ReturnTrackingStep(BaseModel):
    """One tracking state of the return parcel (揽收, 在途, 派件, 签收...), from the courier's signed push."""

    model_config = ConfigDict(extra="ignore")

    state: str
    raw_state: str
    at: Timestamp
    partner: str


class ReceiptLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sku: str
    quantity: int
    condition: Literal["intact", "damaged", "unchecked"] = Field(
        description="unchecked: the merchant recorded nothing in time and was taken to have received it")


# pydantic checks the pattern before stripping and lower-casing: it allows the blanks and capitals they remove
Carrier = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                           pattern=r"^\s*[A-Za-z][A-Za-z0-9]{1,29}\s*$")]
TrackingNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\s*[A-Za-z0-9]{6,40}\s*$")]


class ReturnShipmentIn(BaseModel):
    """POST /after-sales/{case_id}/return-shipment body: the carrier's Kuaidi100 company code and the number."""

    model_config = ConfigDict(extra="forbid")

    carrier: Carrier = Field(description="Kuaidi100 company code, e.g. yuantong, zhongtong, shunfeng")
    tracking_no: TrackingNo


class ReceiptLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: SkuId
    quantity: Quantity
    condition: Literal["intact", "damaged"]


class ReceiveIn(BaseModel):
    """POST /merchant/after-sales/{case_id}/receive body: every returned unit, per line, intact or damaged (a
    line may be split: `{sku, 1, intact}` and `{sku, 1, damaged}`)."""

    model_config = ConfigDict(extra="forbid")

    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=40)]


class Receipt(BaseModel):
    """What the merchant received, per line; `restocked` is what went back to sellable stock (intact units)."""

    model_config = ConfigDict(extra="ignore")

    lines: list[ReceiptLine]
    restocked: dict[str, int]
    warehouse: str | None = None
    at: Timestamp
    by: str


# ---------------------------------------------------------------- the stored case

CaseId = Annotated[str, StringConstraints(pattern=r"^a[a-z2-7]{34}$")]


class CaseLine(BaseModel):
    model_config = ConfigDict(extra="allow")

    sku: str
    title: str
    kind: Literal["digital", "physical"]
    quantity: int
    unit_price_fen: int
    refundable_fen: int
    claimed_from: int = Field(description="Units of this line claimed by earlier cases (the rounding rule's c).")


FlashRule = Literal["not_shipped", "digital_undelivered", "good_standing"]


class FlashDecision(BaseModel):
    """The flash-refund decision (shared/aftersales/flash.py), recorded once when the case opens: whether a rule
    let it be refunded without a person, which, and why (stable codes `<rule>:<code>`, matched or refused)."""

    model_config = ConfigDict(extra="ignore")

    eligible: bool
    rule: FlashRule | None = None
    reasons: list[str]
    rules_version: str
    decided_at: str


class Case(BaseModel):
    """A case item: PK=`ORDER#<order_id>`, SK=`CASE#<case_id>` (beside its order, so an order's cases are one
    Query), and in the by_shopper index under `AFTERSALES#<shopper>` (the shopper's cases, newest first)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    pk: str = Field(alias="PK")
    sk: str = Field(alias="SK")
    case_id: str
    order_id: str
    shopper_id: str
    shop_id: str
    type: CaseType
    status: CaseStatus
    version: int
    lines: list[CaseLine]
    refund_total_fen: int
    currency: str
    reason_code: str
    note: str | None = None
    request_hash: str
    created_at: str
    updated_at: str
    events: list[ev.CaseEvent]
    refund_key: str | None = Field(None, description="The grant on the order's ledger (shared/aftersales/refunding.py)")
    refund_amount_fen: int | None = Field(None, description="What the grant refunds (refund_total_fen, or less "
                                                            "when an arbiter decided a partial refund)")
    claims_released: bool | None = Field(None, description="Closed without a refund: its units were given back")
    evidence: list[Evidence] | None = Field(None, description="Both sides' evidence, oldest first (disputes.py)")
    disputed_at: str | None = Field(None, description="When the case became DISPUTED (the ops queue's order)")
    dispute_claim: dict[str, str] | None = Field(None, description="An arbiter's lease {by, until, claimed_at}")
    return_address: ReturnAddress | None = None
    return_shipment: ReturnShipment | None = None
    return_tracking: list[ReturnTrackingStep] | None = None
    return_tracking_seen: list[str] | None = Field(None, description="Recent push keys (duplicates change nothing)")
    return_tracking_rev: int | None = Field(None, description="Guards the tracking writes (not a case move)")
    receipt: Receipt | None = None
    compensation_key: str | None = Field(None, description="The return-shipping compensation on the order")
    flash: FlashDecision | None = Field(None, description="The flash-refund decision (shared/aftersales/flash.py)")
    gsi1pk: str = Field(alias="GSI1PK")
    gsi1sk: str = Field(alias="GSI1SK")

    @field_serializer("events")
    def _events(self, value: list[ev.CaseEvent]) -> list[dict[str, Any]]:
        return [event.to_item() for event in value]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Case:
        return cls.model_validate(item)

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(mode="python", by_alias=True, exclude_none=True)

    def to_ddb(self) -> dict[str, Any]:
        return ddb.to_item(self.to_item())


# ---------------------------------------------------------------- views

class CaseEventView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    at: Timestamp
    type: Literal["opened", "status_changed", "evidence_added"]
    from_status: CaseStatus | None = None
    to_status: CaseStatus | None = Field(None, description="The status a step moved to (not on evidence_added)")
    status: CaseStatus | None = Field(None, description="evidence_added: the status the case stayed in")
    entry: int | None = Field(None, description="evidence_added: the index of the entry in `evidence`")
    actor: str
    reason: str | None = None


class EvidenceView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    at: Timestamp
    actor: str
    text: str
    images: list[str]


class CaseLineView(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sku: str
    title: str
    kind: Literal["digital", "physical"]
    quantity: int
    unit_price_fen: Fen
    refundable_fen: Fen = Field(description="What this line refunds, integer fen (rounding rule: docs/aftersales.md).")


class FlashView(FlashDecision):
    decided_at: Timestamp  # type: ignore[assignment]


class CaseView(BaseModel):
    """What the owner, the shop's merchant and ops read of a case."""

    model_config = ConfigDict(extra="ignore")

    case_id: str
    order_id: str
    shop_id: str
    type: CaseType
    status: CaseStatus
    lines: list[CaseLineView]
    refund_total_fen: Fen
    currency: str
    reason_code: str
    note: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    history: list[CaseEventView]
    evidence: list[EvidenceView] = []
    disputed_at: Timestamp | None = None
    return_address: ReturnAddress | None = None
    return_shipment: ReturnShipment | None = None
    return_tracking: list[ReturnTrackingStep] | None = None
    receipt: Receipt | None = None
    flash: FlashView | None = Field(None, description="Whether the case was refunded at once without a "
                                                          "person (闪电退款), by which rule, and why")

    @classmethod
    def of(cls, case: Case) -> CaseView:
        item = case.to_item()
        return cls.model_validate({**item, "history": item["events"]})


class CaseList(BaseModel):
    """An order's cases, oldest first (an order has a handful at most)."""

    order_id: str
    items: list[CaseView]


class CasePage(BaseModel):
    """The shopper's cases, newest first; `cursor` continues (signed, for this caller and list only)."""

    items: list[CaseView]
    cursor: str | None = None
