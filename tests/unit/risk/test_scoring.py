"""Risk scoring: each signal alone, combinations, threshold edges, shadow mode, block lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.risk.models import Decision, RiskMode, RiskRules, RiskSignals
from shared.risk.scoring import assess, decide

NOW = datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC)
RULES = RiskRules()  # accept_below 30, reject_at 70


def signals(**changes: Any) -> RiskSignals:
    """A returning shopper, 30 days old, ordering ¥100 from home: scores 0 until something changes."""
    base: dict[str, Any] = {
        "shopper_id": "s-1",
        "order_id": "o-1",
        "device_id": "d-1",
        "ip": "203.0.113.7",
        "ip_region": "Guangdong",
        "shipping_region": "Guangdong",
        "amount_fen": 10_000,
        "account_created_at": NOW - timedelta(days=30),
        "history_order_count": 5,
        "history_max_amount_fen": 20_000,
        "history_avg_amount_fen": 12_000,
    }
    base.update(changes)
    return RiskSignals(**base)


# (name, changes, expected reason codes, expected score, expected decision)
SINGLE_SIGNALS: list[tuple[str, dict[str, Any], list[str], int, Decision]] = [
    ("clean returning shopper", {}, [], 0, Decision.ACCEPT),
    ("shopper 1m at the limit", {"shopper_orders_1m": 2}, [], 0, Decision.ACCEPT),
    ("shopper 1m over the limit", {"shopper_orders_1m": 3}, ["velocity_shopper_1m"], 25, Decision.ACCEPT),
    ("shopper 1h over the limit", {"shopper_orders_1h": 20}, ["velocity_shopper_1h"], 15, Decision.ACCEPT),
    ("device 1m over the limit", {"device_orders_1m": 5}, ["velocity_device_1m"], 25, Decision.ACCEPT),
    ("device 1h over the limit", {"device_orders_1h": 30}, ["velocity_device_1h"], 15, Decision.ACCEPT),
    ("ip 1m at the NAT-friendly limit", {"ip_orders_1m": 59}, [], 0, Decision.ACCEPT),
    ("ip 1m over the limit", {"ip_orders_1m": 60}, ["velocity_ip_1m"], 20, Decision.ACCEPT),
    ("ip 1h over the limit", {"ip_orders_1h": 600}, ["velocity_ip_1h"], 10, Decision.ACCEPT),
    (
        "device counts ignored without a device",
        {"device_id": None, "device_orders_1m": 99},
        [],
        0,
        Decision.ACCEPT,
    ),
    (
        "amount exactly 3x the max",
        {"amount_fen": 120_000, "history_max_amount_fen": 40_000},
        [],
        0,
        Decision.ACCEPT,
    ),
    (
        "amount 1 fen above 3x the max",
        {"amount_fen": 120_001, "history_max_amount_fen": 40_000},
        ["amount_above_history"],
        30,
        Decision.REVIEW,
    ),
    (
        "amount spike below the floor",
        {"amount_fen": 99_999, "history_max_amount_fen": 1_000},
        [],
        0,
        Decision.ACCEPT,
    ),
    (
        "amount spike at the floor",
        {"amount_fen": 100_000, "history_max_amount_fen": 1_000},
        ["amount_above_history"],
        30,
        Decision.REVIEW,
    ),
    (
        "first order just under the floor",
        {"history_order_count": 0, "amount_fen": 499_999},
        [],
        0,
        Decision.ACCEPT,
    ),
    (
        "first order at the floor",
        {"history_order_count": 0, "history_max_amount_fen": 0, "amount_fen": 500_000},
        ["amount_first_order_high"],
        20,
        Decision.ACCEPT,
    ),
    (
        "account 23h59m old",
        {"account_created_at": NOW - timedelta(hours=23, minutes=59)},
        ["new_account"],
        20,
        Decision.ACCEPT,
    ),
    ("account exactly 24h old", {"account_created_at": NOW - timedelta(hours=24)}, [], 0, Decision.ACCEPT),
    ("account age unknown", {"account_created_at": None}, [], 0, Decision.ACCEPT),
    (
        "shipping region differs from ip region",
        {"shipping_region": "Beijing"},
        ["region_mismatch"],
        15,
        Decision.ACCEPT,
    ),
    ("regions equal ignoring case and spaces", {"shipping_region": " guangdong "}, [], 0, Decision.ACCEPT),
    ("ip region unknown", {"ip_region": None, "shipping_region": "Beijing"}, [], 0, Decision.ACCEPT),
]


@pytest.mark.parametrize(
    ("changes", "codes", "score", "decision"),
    [case[1:] for case in SINGLE_SIGNALS],
    ids=[case[0] for case in SINGLE_SIGNALS],
)
def test_each_signal_alone_adds_its_points_and_reason(
    changes: dict[str, Any], codes: list[str], score: int, decision: Decision
) -> None:
    result = assess(signals(**changes), RULES, NOW)

    assert [reason.code for reason in result.reasons] == codes
    assert result.score == score
    assert result.decision is decision
    assert all(reason.message for reason in result.reasons)


COMBINATIONS: list[tuple[str, dict[str, Any], int, Decision]] = [
    (
        "new account shipping elsewhere: review",
        {"account_created_at": NOW - timedelta(hours=1), "shipping_region": "Beijing"},
        35,
        Decision.REVIEW,
    ),
    (
        "plus an amount spike: still review",
        {"account_created_at": NOW - timedelta(hours=1), "shipping_region": "Beijing", "amount_fen": 200_000},
        65,
        Decision.REVIEW,
    ),
    (
        "plus a burst from the shopper: reject",
        {
            "account_created_at": NOW - timedelta(hours=1),
            "shipping_region": "Beijing",
            "amount_fen": 200_000,
            "shopper_orders_1m": 5,
        },
        90,
        Decision.REJECT,
    ),
    (
        "device and ip burst together: review",
        {"device_orders_1m": 9, "ip_orders_1m": 80},
        45,
        Decision.REVIEW,
    ),
]


@pytest.mark.parametrize(
    ("changes", "score", "decision"),
    [case[1:] for case in COMBINATIONS],
    ids=[case[0] for case in COMBINATIONS],
)
def test_signals_add_up_and_the_total_decides(
    changes: dict[str, Any], score: int, decision: Decision
) -> None:
    result = assess(signals(**changes), RULES, NOW)

    assert result.score == score
    assert result.decision is decision
    assert sum(reason.points for reason in result.reasons) == score


@pytest.mark.parametrize(
    ("score", "decision"),
    [
        (0, Decision.ACCEPT),
        (29, Decision.ACCEPT),
        (30, Decision.REVIEW),
        (69, Decision.REVIEW),
        (70, Decision.REJECT),
        (250, Decision.REJECT),
    ],
)
def test_thresholds_split_accept_review_reject_at_their_edges(score: int, decision: Decision) -> None:
    assert decide(score, RULES) is decision


def test_custom_thresholds_and_weights_come_from_the_rules() -> None:
    rules = RiskRules(rules_version="t-1", accept_below=10, reject_at=20, region_mismatch_points=20)

    result = assess(signals(shipping_region="Beijing"), rules, NOW)

    assert (result.score, result.decision, result.rules_version) == (20, Decision.REJECT, "t-1")


def test_rules_refuse_reject_threshold_below_accept_threshold() -> None:
    with pytest.raises(ValueError, match="reject_at"):
        RiskRules(accept_below=50, reject_at=40)


@pytest.mark.parametrize("kind", ["shopper", "device", "ip", "target"])
def test_a_block_list_hit_rejects_outright_whatever_the_score(kind: str) -> None:
    # Points low enough that the score alone would accept: the block still rejects.
    rules = RiskRules(block_points=1)

    result = assess(signals(blocked=frozenset({kind}), target="acct-9"), rules, NOW)

    assert result.decision is Decision.REJECT
    assert result.effective_decision is Decision.REJECT
    assert [reason.code for reason in result.reasons] == [f"blocked_{kind}"]


@pytest.mark.parametrize(
    "changes",
    [
        {"blocked": frozenset({"device"})},
        {
            "shopper_orders_1m": 9,
            "account_created_at": NOW - timedelta(hours=1),
            "shipping_region": "Beijing",
        },
        {"amount_fen": 200_000},
        {},
    ],
    ids=["blocked", "high score", "review score", "clean"],
)
def test_shadow_mode_never_blocks_but_records_the_same_score_and_reasons(changes: dict[str, Any]) -> None:
    enforced = assess(signals(**changes), RULES, NOW, RiskMode.ENFORCE)
    shadow = assess(signals(**changes), RULES, NOW, RiskMode.SHADOW)

    assert shadow.effective_decision is Decision.ACCEPT
    assert (shadow.score, shadow.decision, shadow.reasons) == (
        enforced.score,
        enforced.decision,
        enforced.reasons,
    )
    assert shadow.mode is RiskMode.SHADOW


def test_assessment_serialises_the_effective_decision_for_the_workflow() -> None:
    result = assess(signals(amount_fen=200_000), RULES, NOW, RiskMode.ENFORCE)

    dumped = result.model_dump(mode="json")

    assert dumped["effective_decision"] == "REVIEW"
    assert dumped["decision"] == "REVIEW"
    assert dumped["reasons"][0] == {
        "code": "amount_above_history",
        "message": dumped["reasons"][0]["message"],
        "points": 30,
    }
