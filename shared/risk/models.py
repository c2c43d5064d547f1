"""Risk scoring models: the signals we gather at checkout, the rules, and the explainable assessment."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field, model_validator

Fen = Annotated[int, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]
BlockKind = Literal["shopper", "device", "ip", "target"]
VelocityDim = Literal["shopper", "device", "ip"]


class Decision(StrEnum):
    ACCEPT = "ACCEPT"
    REVIEW = "REVIEW"  # accept the order, but a human reviews it after payment
    REJECT = "REJECT"


class RiskMode(StrEnum):
    ENFORCE = "ENFORCE"
    SHADOW = "SHADOW"  # score and record everything, block nothing


class _OrderFields(BaseModel):
    """The order's own facts, shared by what checkout knows (OrderFacts) and what scoring sees (RiskSignals)."""

    model_config = ConfigDict(frozen=True)

    shopper_id: str
    device_id: str | None = None
    ip: str | None = None
    ip_region: str | None = None
    shipping_region: str | None = None
    amount_fen: Fen
    currency: str = "CNY"
    account_created_at: AwareDatetime | None = None
    target: str | None = None  # what an ad/engagement package points at (an account, a URL)


class OrderFacts(_OrderFields):
    """What checkout knows about the order; `shared.risk.store.load_signals` turns it into RiskSignals."""

    order_id: str


class RiskSignals(_OrderFields):
    """Everything `scoring.assess` looks at. Velocity counts are orders seen *before* this one."""

    order_id: str | None = None  # lets `store.record_order` skip an immediate replay

    shopper_orders_1m: Count = 0
    shopper_orders_1h: Count = 0
    device_orders_1m: Count = 0
    device_orders_1h: Count = 0
    ip_orders_1m: Count = 0
    ip_orders_1h: Count = 0

    history_order_count: Count = 0
    history_max_amount_fen: Fen = 0
    history_avg_amount_fen: Fen = 0

    blocked: frozenset[BlockKind] = frozenset()

    def velocity(self, dim: VelocityDim) -> tuple[int, int]:
        """(orders in the last minute, orders in the last hour) for one dimension."""
        match dim:
            case "shopper":
                return self.shopper_orders_1m, self.shopper_orders_1h
            case "device":
                return self.device_orders_1m, self.device_orders_1h
            case "ip":
                return self.ip_orders_1m, self.ip_orders_1h


class RiskReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str  # stable, e.g. "velocity_ip_1m"; dashboards and reviewers key on it
    message: str
    points: int


class VelocityLimit(BaseModel):
    """Fires when this order makes *more than* max_1m (max_1h) orders in the window."""

    max_1m: Annotated[int, Field(ge=1)]
    max_1h: Annotated[int, Field(ge=1)]
    points_1m: Annotated[int, Field(ge=0)] = 25
    points_1h: Annotated[int, Field(ge=0)] = 15


class RiskRules(BaseModel):
    """Weights and thresholds, served by Feature Flags (`shared.risk.flags`); defaults for tests/fallback."""

    model_config = ConfigDict(frozen=True)

    rules_version: str = "builtin-1"
    accept_below: Annotated[int, Field(ge=0)] = 30  # score < accept_below -> ACCEPT
    reject_at: Annotated[int, Field(ge=1)] = 70  # score >= reject_at -> REJECT; between -> REVIEW

    shopper: VelocityLimit = VelocityLimit(max_1m=3, max_1h=20)
    device: VelocityLimit = VelocityLimit(max_1m=5, max_1h=30)
    # An IP can be a carrier NAT in front of thousands of shoppers: high limits, low weight.
    ip: VelocityLimit = VelocityLimit(max_1m=60, max_1h=600, points_1m=20, points_1h=10)

    # Amount far above what this shopper usually spends: amount > multiple% x max and amount >= floor.
    amount_multiple_pct: Annotated[int, Field(ge=100)] = 300
    amount_floor_fen: Fen = 100_000  # ¥1,000: small jumps (¥5 -> ¥20) are not worth a reason
    amount_spike_points: Annotated[int, Field(ge=0)] = 30
    # A first order (no history) that is already large.
    first_order_floor_fen: Fen = 500_000  # ¥5,000
    first_order_points: Annotated[int, Field(ge=0)] = 20

    new_account_hours: Annotated[int, Field(ge=0)] = 24
    new_account_points: Annotated[int, Field(ge=0)] = 20

    region_mismatch_points: Annotated[int, Field(ge=0)] = 15

    block_points: Annotated[int, Field(ge=0)] = 100  # a block-list hit rejects regardless of the score

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> RiskRules:
        if self.reject_at < self.accept_below:
            raise ValueError("reject_at must be >= accept_below")
        return self

    def limit(self, dim: VelocityDim) -> VelocityLimit:
        match dim:
            case "shopper":
                return self.shopper
            case "device":
                return self.device
            case "ip":
                return self.ip


class RiskAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: Annotated[int, Field(ge=0)]
    decision: Decision  # what the rules say, in either mode (shadow mode records it for comparison)
    reasons: list[RiskReason]
    mode: RiskMode
    rules_version: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def effective_decision(self) -> Decision:
        """What the workflow acts on: shadow mode never blocks nor queues an order."""
        return self.decision if self.mode is RiskMode.ENFORCE else Decision.ACCEPT
