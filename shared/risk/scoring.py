"""Fraud risk scoring at checkout: pure and explainable (no boto3, no clock of its own).

Each rule that fires adds points and a reason with a stable code. The total decides:
score < accept_below -> ACCEPT; score >= reject_at -> REJECT; otherwise REVIEW (a human looks after payment).
A block-list hit rejects outright, whatever the score.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args

from shared.risk.models import (
    BlockKind,
    Decision,
    RiskAssessment,
    RiskMode,
    RiskReason,
    RiskRules,
    RiskSignals,
    VelocityDim,
)

_DIMS: tuple[VelocityDim, ...] = get_args(VelocityDim)
_BLOCK_KINDS: tuple[BlockKind, ...] = get_args(BlockKind)


def _velocity(signals: RiskSignals, rules: RiskRules) -> list[RiskReason]:
    reasons: list[RiskReason] = []
    for dim in _DIMS:
        if (dim == "device" and signals.device_id is None) or (dim == "ip" and signals.ip is None):
            continue
        limit = rules.limit(dim)
        prior_1m, prior_1h = signals.velocity(dim)
        # Counts are prior orders; +1 counts the order being scored.
        if prior_1m + 1 > limit.max_1m:
            reasons.append(
                RiskReason(
                    code=f"velocity_{dim}_1m",
                    message=f"{prior_1m + 1} orders from this {dim} within a minute (limit {limit.max_1m})",
                    points=limit.points_1m,
                )
            )
        if prior_1h + 1 > limit.max_1h:
            reasons.append(
                RiskReason(
                    code=f"velocity_{dim}_1h",
                    message=f"{prior_1h + 1} orders from this {dim} within an hour (limit {limit.max_1h})",
                    points=limit.points_1h,
                )
            )
    return reasons


def _amount(signals: RiskSignals, rules: RiskRules) -> list[RiskReason]:
    amount = signals.amount_fen
    if signals.history_order_count == 0:
        if amount >= rules.first_order_floor_fen:
            return [
                RiskReason(
                    code="amount_first_order_high",
                    message=f"first order of {amount} fen, at or above {rules.first_order_floor_fen}",
                    points=rules.first_order_points,
                )
            ]
        return []
    # Integer arithmetic: amount > max x pct / 100 without floats.
    spike = amount * 100 > signals.history_max_amount_fen * rules.amount_multiple_pct
    if amount >= rules.amount_floor_fen and spike:
        return [
            RiskReason(
                code="amount_above_history",
                message=(
                    f"{amount} fen is more than {rules.amount_multiple_pct}% of this shopper's largest order "
                    f"({signals.history_max_amount_fen} fen, average {signals.history_avg_amount_fen})"
                ),
                points=rules.amount_spike_points,
            )
        ]
    return []


def _new_account(signals: RiskSignals, rules: RiskRules, now: datetime) -> list[RiskReason]:
    created = signals.account_created_at
    if created is None:
        return []
    age = now - created
    if age < timedelta(hours=rules.new_account_hours):
        hours = max(int(age.total_seconds() // 3600), 0)
        return [
            RiskReason(
                code="new_account",
                message=f"account is {hours} h old (under {rules.new_account_hours} h)",
                points=rules.new_account_points,
            )
        ]
    return []


def _region_mismatch(signals: RiskSignals, rules: RiskRules) -> list[RiskReason]:
    ip_region, ship_region = signals.ip_region, signals.shipping_region
    if ip_region and ship_region and ip_region.strip().casefold() != ship_region.strip().casefold():
        return [
            RiskReason(
                code="region_mismatch",
                message=f"shipping region {ship_region} differs from the IP's region {ip_region}",
                points=rules.region_mismatch_points,
            )
        ]
    return []


def _blocked(signals: RiskSignals, rules: RiskRules) -> list[RiskReason]:
    return [
        RiskReason(
            code=f"blocked_{kind}", message=f"the {kind} is on a block list", points=rules.block_points
        )
        for kind in _BLOCK_KINDS
        if kind in signals.blocked
    ]


def decide(score: int, rules: RiskRules) -> Decision:
    if score >= rules.reject_at:
        return Decision.REJECT
    if score >= rules.accept_below:
        return Decision.REVIEW
    return Decision.ACCEPT


def assess(
    signals: RiskSignals, rules: RiskRules, now: datetime, mode: RiskMode = RiskMode.ENFORCE
) -> RiskAssessment:
    """Score one order. `now` comes in (aware UTC, `shared.core.clock`) so the function stays pure."""
    blocked = _blocked(signals, rules)
    reasons = [
        *blocked,
        *_velocity(signals, rules),
        *_amount(signals, rules),
        *_new_account(signals, rules, now),
        *_region_mismatch(signals, rules),
    ]
    score = sum(reason.points for reason in reasons)
    decision = Decision.REJECT if blocked else decide(score, rules)
    return RiskAssessment(
        score=score, decision=decision, reasons=reasons, mode=mode, rules_version=rules.rules_version
    )
