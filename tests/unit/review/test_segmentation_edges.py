"""Chinese segmentation edge cases of the ad-law matcher, found while wiring automatic review.

Each row: copy, the absolute terms that must be reported. Claims and benign look-alikes side by side.
"""

from __future__ import annotations

import pytest

from shared.review.adlaw import AdCopyChecker, default_checker

EDGE_CASES: list[tuple[str, list[str]]] = [
    # calendar and sequence words that contain 第一 / 最
    ("第一季度销量稳步增长", []),
    ("第一批用户专享", []),
    ("最后一件，先到先得", []),
    ("最少买一件即可包邮", []),
    ("最新款上市", []),
    # settings vocabulary: 首选项 is "preferences"
    ("在设置的首选项里开启通知", []),
    # the same characters as real claims
    ("荣获第一名", ["第一"]),
    ("世界第一", ["世界第一"]),  # a listed scope claim, reported whole
    ("天下第一", ["第一"]),
    ("首选品牌", ["首选"]),
    ("最高级会员专享", ["最高级"]),
    ("唯一的选择", ["唯一"]),
    ("最受欢迎的款式", ["最"]),
    ("NO.1品牌", ["NO.1"]),
    # a factual designation still goes to a human (the Guide allows it in context; a reviewer judges)
    ("国家级非物质文化遗产", ["国家级"]),
    # a benign compound and a claim in one copy: only the claim is reported
    ("第一季度新品，全网第一", ["全网第一"]),
]


@pytest.fixture(scope="module")
def checker() -> AdCopyChecker:
    return default_checker()


@pytest.mark.parametrize(("copy", "terms"), EDGE_CASES, ids=[case[0] for case in EDGE_CASES])
def test_segmentation_edge_cases(checker: AdCopyChecker, copy: str, terms: list[str]) -> None:
    assert [hit.text for hit in checker.check(copy).absolute_terms] == terms


def test_highlight_marks_only_the_claim_next_to_a_benign_compound(checker: AdCopyChecker) -> None:
    assert checker.check("第一季度新品，全网第一").highlighted == "第一季度新品，【全网第一】"
