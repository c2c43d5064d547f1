"""Automatic review: reject, manual or the fast lane, with stable reason codes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.review.adlaw import AdCopyChecker, default_checker
from shared.review.models import LineItem, Outcome, ReasonCode, ReviewConfig, ReviewInput
from shared.review.rules import auto_review

CONFIG = ReviewConfig()  # manual above ¥5,000


@pytest.fixture(scope="module")
def checker() -> AdCopyChecker:
    return default_checker()


def order(category: str = "ad_placement", total_fen: int = 199_00, **changes: Any) -> ReviewInput:
    item = LineItem(sku="sku-1", kind="digital", category=category, quantity=1, unit_price_fen=total_fen)
    return ReviewInput(order_id="o-1", items=[item], total_fen=total_fen, **changes)


# (name, order, outcome, reason codes, reason terms of the first reason)
CASES: list[tuple[str, ReviewInput, Outcome, list[ReasonCode], list[str]]] = [
    ("plain goods, no copy: fast lane", order(category="apparel"), Outcome.PASS, [], []),
    ("ad with empty copy", order(ad_copy=""), Outcome.PASS, [], []),
    ("ad copy 最终方案", order(ad_copy="最终方案，限时上线"), Outcome.PASS, [], []),
    ("ad copy 第一次合作", order(ad_copy="第一次合作享九折"), Outcome.PASS, [], []),
    ("ad copy 最近上新", order(ad_copy="最近上新多款T恤"), Outcome.PASS, [], []),
    ("ad copy in English, lawful", order(ad_copy="Fresh beans, roasted weekly"), Outcome.PASS, [], []),
    (
        "ad copy 全网第一",
        order(ad_copy="全网第一的降噪耳机"),
        Outcome.MANUAL,
        [ReasonCode.ABSOLUTE_TERMS],
        ["全网第一"],
    ),
    ("ad copy 最佳选择", order(ad_copy="最佳选择"), Outcome.MANUAL, [ReasonCode.ABSOLUTE_TERMS], ["最佳"]),
    (
        "ad copy 国家级品质",
        order(ad_copy="国家级品质"),
        Outcome.MANUAL,
        [ReasonCode.ABSOLUTE_TERMS],
        ["国家级"],
    ),
    (
        "ad copy 销量第一",
        order(ad_copy="销量第一"),
        Outcome.MANUAL,
        [ReasonCode.ABSOLUTE_TERMS],
        ["销量第一"],
    ),
    ("ad copy 最好的", order(ad_copy="最好的礼物"), Outcome.MANUAL, [ReasonCode.ABSOLUTE_TERMS], ["最好"]),
    (
        "mixed benign and absolute",
        order(ad_copy="最终方案是全网第一的品质"),
        Outcome.MANUAL,
        [ReasonCode.ABSOLUTE_TERMS],
        ["全网第一"],
    ),
    (
        "English absolute",
        order(ad_copy="The best case ever"),
        Outcome.MANUAL,
        [ReasonCode.ABSOLUTE_TERMS],
        ["best"],
    ),
    (
        "absolute terms outside an ad package are not ours to judge",
        order(category="apparel", ad_copy="最好的礼物"),
        Outcome.PASS,
        [],
        [],
    ),
    (
        "banned category rejects",
        order(category="fake_engagement"),
        Outcome.REJECT,
        [ReasonCode.BANNED_CATEGORY],
        ["fake_engagement"],
    ),
    (
        "banned term in a category name",
        order(category="刷粉套餐"),
        Outcome.REJECT,
        [ReasonCode.BANNED_CATEGORY],
        ["刷粉"],
    ),
    (
        "banned term in the copy",
        order(ad_copy="刷赞刷量一条龙"),
        Outcome.REJECT,
        [ReasonCode.BANNED_TERM],
        ["刷赞", "刷量"],
    ),
    (
        "banned term in English copy",
        order(category="promotion", ad_copy="buy followers cheap"),
        Outcome.REJECT,
        [ReasonCode.BANNED_TERM],
        ["buy followers"],
    ),
    (
        "banned term in the target",
        order(target="博彩代理招募"),
        Outcome.REJECT,
        [ReasonCode.BANNED_TERM],
        ["博彩"],
    ),
    (
        "banned and absolute: reject wins, both reported",
        order(ad_copy="全网第一的刷粉服务"),
        Outcome.REJECT,
        [ReasonCode.BANNED_TERM, ReasonCode.ABSOLUTE_TERMS],
        ["刷粉"],
    ),
    (
        "industry without qualification",
        order(ad_copy="三甲医院专家团队"),
        Outcome.MANUAL,
        [ReasonCode.INDUSTRY_UNQUALIFIED],
        ["medical"],
    ),
    (
        "industry with qualification on file",
        order(ad_copy="三甲医院专家团队", shopper_qualifications=frozenset({"medical"})),
        Outcome.PASS,
        [],
        [],
    ),
    (
        "industry in the target only",
        order(ad_copy="欢迎关注", target="稳健理财课堂"),
        Outcome.MANUAL,
        [ReasonCode.INDUSTRY_UNQUALIFIED],
        ["financial"],
    ),
    (
        "two industries, one qualified",
        order(ad_copy="处方药在线，医院直供", shopper_qualifications=frozenset({"medical"})),
        Outcome.MANUAL,
        [ReasonCode.INDUSTRY_UNQUALIFIED],
        ["pharma"],
    ),
    ("total exactly at the tier", order(category="apparel", total_fen=5_000_00), Outcome.PASS, [], []),
    (
        "total one fen above the tier",
        order(category="apparel", total_fen=5_000_01),
        Outcome.MANUAL,
        [ReasonCode.AMOUNT_ABOVE_TIER],
        [],
    ),
    (
        "checkout risk asked for review",
        order(category="apparel", risk_decision="REVIEW"),
        Outcome.MANUAL,
        [ReasonCode.RISK_REVIEW],
        [],
    ),
]


@pytest.mark.parametrize(
    ("review_input", "outcome", "codes", "terms"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_auto_review_decides_by_the_most_severe_reason(
    checker: AdCopyChecker,
    review_input: ReviewInput,
    outcome: Outcome,
    codes: list[ReasonCode],
    terms: list[str],
) -> None:
    decision = auto_review(review_input, CONFIG, checker)

    assert decision.outcome is outcome
    assert [reason.code for reason in decision.reasons] == codes
    if codes:
        assert decision.reasons[0].terms == terms
    assert decision.fast_lane is (outcome is Outcome.PASS)


@pytest.mark.parametrize(
    ("copy", "highlighted"),
    [
        ("全网第一的降噪耳机", "【全网第一】的降噪耳机"),
        ("最佳选择，国家级品质", "【最佳】选择，【国家级】品质"),
        ("销量第一", "【销量第一】"),
        ("最好的礼物", "【最好】的礼物"),
        ("最终方案是全网第一的品质", "最终方案是【全网第一】的品质"),
    ],
)
def test_manual_review_shows_the_reviewer_the_terms_highlighted(
    checker: AdCopyChecker, copy: str, highlighted: str
) -> None:
    decision = auto_review(order(ad_copy=copy), CONFIG, checker)

    assert decision.outcome is Outcome.MANUAL
    assert decision.highlighted_copy == highlighted


def test_a_clean_copy_has_nothing_to_highlight(checker: AdCopyChecker) -> None:
    assert auto_review(order(ad_copy="第一次合作享九折"), CONFIG, checker).highlighted_copy is None


def test_all_manual_reasons_are_reported_together(checker: AdCopyChecker) -> None:
    decision = auto_review(
        order(ad_copy="最佳理财方案", total_fen=9_000_00, risk_decision="REVIEW"), CONFIG, checker
    )

    assert decision.outcome is Outcome.MANUAL
    assert [reason.code for reason in decision.reasons] == [
        ReasonCode.ABSOLUTE_TERMS,
        ReasonCode.INDUSTRY_UNQUALIFIED,
        ReasonCode.AMOUNT_ABOVE_TIER,
        ReasonCode.RISK_REVIEW,
    ]


def test_the_tier_and_ad_categories_are_configurable(checker: AdCopyChecker) -> None:
    config = ReviewConfig(manual_above_fen=100_00, ad_copy_categories=frozenset({"apparel"}))

    decision = auto_review(order(category="apparel", total_fen=100_01, ad_copy="最好的T恤"), config, checker)

    assert [reason.code for reason in decision.reasons] == [
        ReasonCode.ABSOLUTE_TERMS,
        ReasonCode.AMOUNT_ABOVE_TIER,
    ]


def test_reason_codes_are_stable_strings() -> None:
    assert {code.value for code in ReasonCode} == {
        "banned_category",
        "banned_term",
        "absolute_terms",
        "industry_unqualified",
        "amount_above_tier",
        "risk_review",
    }


def test_generated_mix_is_deterministic_and_mostly_fast_lane(checker: AdCopyChecker) -> None:
    from shared.review.sampling import generate_mix

    first, again = generate_mix(300, seed=3), generate_mix(300, seed=3)
    assert first == again

    outcomes = [auto_review(review_input, CONFIG, checker).outcome for review_input in first]
    share = outcomes.count(Outcome.PASS) / len(outcomes)
    assert 0.7 < share < 0.9
    assert Outcome.REJECT in outcomes and Outcome.MANUAL in outcomes
