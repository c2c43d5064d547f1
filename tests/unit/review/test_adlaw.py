"""The ad-copy checker: Chinese segmentation edge cases, English copy, banned goods, industries."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.review.adlaw import (
    AdCopyChecker,
    default_checker,
    highlight,
    normalise,
    read_sections,
    read_terms,
)


@pytest.fixture(scope="module")
def checker() -> AdCopyChecker:
    return default_checker()


# (copy, absolute terms found (as written), highlighted)
ABSOLUTE_CASES: list[tuple[str, list[str], str]] = [
    # benign compounds: no claim
    ("最终方案", [], "最终方案"),
    ("第一次合作", [], "第一次合作"),
    ("最近上新", [], "最近上新"),
    ("下单后第一时间发货", [], "下单后第一时间发货"),
    ("第一步：注册账号", [], "第一步：注册账号"),
    ("最初的味道", [], "最初的味道"),
    ("最多可减50元", [], "最多可减50元"),
    ("唯一性校验通过", [], "唯一性校验通过"),
    ("最佳赏味期30天", [], "最佳赏味期30天"),
    ("100%纯棉T恤", [], "100%纯棉T恤"),
    ("", [], ""),
    # absolute claims
    ("全网第一", ["全网第一"], "【全网第一】"),
    ("最佳选择", ["最佳"], "【最佳】选择"),
    ("国家级品质", ["国家级"], "【国家级】品质"),
    ("销量第一", ["销量第一"], "【销量第一】"),
    ("最好的", ["最好"], "【最好】的"),
    ("最便宜的手机壳", ["最便宜"], "【最便宜】的手机壳"),
    ("最适合你", ["最"], "【最】适合你"),  # 最 as its own token before an adjective
    ("最美", ["最"], "【最】美"),  # 最 heading a token jieba keeps whole
    ("全网第一品牌", ["全网第一", "第一品牌"], "【全网第一品牌】"),  # overlapping hits share one mark
    ("天下第一", ["第一"], "天下【第一】"),
    ("100%有效", ["100%"], "【100%】有效"),
    ("效果绝对看得见", ["绝对"], "效果【绝对】看得见"),
    # mixed: benign and absolute in one copy
    ("最终方案是全网第一的品质", ["全网第一"], "最终方案是【全网第一】的品质"),
    ("第一次合作就选最佳方案", ["最佳"], "第一次合作就选【最佳】方案"),
    # English, case-insensitive, whole words only
    ("The BEST choice", ["BEST"], "The 【BEST】 choice"),
    ("bestseller blend", [], "bestseller blend"),
    ("We are number one", ["number one"], "We are 【number one】"),
    ("Ｎｏ．１ 品牌", ["Ｎｏ．１"], "【Ｎｏ．１】 品牌"),  # full-width folded, offsets kept
    ("Fresh beans, roasted weekly", [], "Fresh beans, roasted weekly"),
]


@pytest.mark.parametrize(
    ("copy", "terms", "highlighted"), ABSOLUTE_CASES, ids=[c[0] or "empty" for c in ABSOLUTE_CASES]
)
def test_absolute_terms_count_only_outside_benign_compounds(
    checker: AdCopyChecker, copy: str, terms: list[str], highlighted: str
) -> None:
    findings = checker.check(copy)

    assert [hit.text for hit in findings.absolute_terms] == terms
    assert findings.highlighted == highlighted
    assert all(copy[hit.start : hit.end] == hit.text for hit in findings.absolute_terms)


def test_no_copy_finds_nothing(checker: AdCopyChecker) -> None:
    findings = checker.check(None)

    assert findings.clean
    assert findings.highlighted == ""


@pytest.mark.parametrize(
    ("copy", "banned", "categories"),
    [
        ("刷粉1000个，真人僵尸粉", ["刷粉", "僵尸粉"], {"fake_engagement"}),
        ("Buy Followers cheap", ["Buy Followers"], {"fake_engagement"}),
        ("高仿名牌包包", ["高仿"], {"counterfeit"}),
        ("线上博彩平台推广", ["博彩"], {"gambling"}),
        ("粉丝互动活动", [], set()),
    ],
)
def test_banned_terms_are_found_anywhere_in_the_copy(
    checker: AdCopyChecker, copy: str, banned: list[str], categories: set[str]
) -> None:
    findings = checker.check(copy)

    assert [hit.text for hit in findings.banned] == banned
    assert {hit.category for hit in findings.banned} == categories


@pytest.mark.parametrize(
    ("copy", "industries"),
    [
        ("三甲医院专家团队，疗效显著", {"medical"}),
        ("稳健理财，年化收益率6%", {"financial"}),
        ("考研培训，提分快", {"education"}),
        ("保健食品蓝帽子认证", {"health_food"}),
        ("处方药在线问诊，医院直供", {"pharma", "medical"}),
        ("OTC pain relief", {"pharma"}),
        ("hotcake recipes", set()),  # "otc" inside a word is not OTC
        ("夏季新品上市", set()),
    ],
)
def test_special_industries_are_detected_from_keywords(
    checker: AdCopyChecker, copy: str, industries: set[str]
) -> None:
    assert checker.check(copy).industries == industries


def test_scan_skips_absolute_terms_but_keeps_banned_and_industries(checker: AdCopyChecker) -> None:
    findings = checker.scan("全网第一的刷粉服务，医院合作")

    assert findings.absolute_terms == []
    assert [hit.text for hit in findings.banned] == ["刷粉"]
    assert findings.industries == {"medical"}


def test_the_lists_are_data_and_a_new_benign_compound_needs_no_code(tmp_path: Path) -> None:
    # Given the shipped lists flag 第一名 ...
    shipped = default_checker().check("比赛获得第一名")
    assert [hit.text for hit in shipped.absolute_terms] == ["第一"]

    # ... when ops add 第一名 to the benign compounds, the same copy passes.
    data = Path(__file__).resolve().parents[3] / "shared" / "review" / "data"
    custom = AdCopyChecker(
        absolute_terms=read_terms(data / "absolute_terms.txt"),
        benign_compounds=[*read_terms(data / "benign_compounds.txt"), "第一名"],
        banned=read_sections(data / "banned_categories.txt"),
        industries=read_sections(data / "special_industries.txt"),
    )
    assert custom.check("比赛获得第一名").absolute_terms == []


def test_required_terms_are_on_the_shipped_lists() -> None:
    data = Path(__file__).resolve().parents[3] / "shared" / "review" / "data"
    absolute = set(read_terms(data / "absolute_terms.txt"))
    required = {
        *("最", "最佳", "最高级", "最好", "最大", "最低价", "第一", "全网第一", "国家级", "世界级"),
        *("顶级", "唯一", "首选", "独家", "极致", "万能", "100%", "绝对", "第一品牌", "销量第一"),
    }
    assert required <= absolute
    banned = read_sections(data / "banned_categories.txt")
    assert {"刷粉", "买粉", "刷赞", "刷量", "刷单", "刷播放", "僵尸粉"} <= set(banned["fake_engagement"])
    assert {"medical", "pharma", "medical_device", "health_food", "financial", "education"} <= set(
        read_sections(data / "special_industries.txt")
    )


def test_normalise_folds_widths_and_highlight_merges_overlaps() -> None:
    assert normalise("ＡＢＣ㎏最佳") == "abckg最佳"  # ㎏ folds to two characters: offsets go through a map

    from shared.review.adlaw import Hit

    hits = [Hit(term="ab", start=0, end=2), Hit(term="bc", start=1, end=3), Hit(term="e", start=4, end=5)]
    assert highlight("abcdef", hits) == "【abc】d【e】f"
