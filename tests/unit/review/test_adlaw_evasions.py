"""Evasions of the ad-law lists: each class of spelling, the ordinary text that must stay clean, and the
offset map that lets the reviewer console highlight the copy as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.review.adlaw import AdCopyChecker, default_checker, pinyin_variants
from shared.review.normalise import fold


@pytest.fixture(scope="module")
def checker() -> AdCopyChecker:
    return default_checker()


def terms(checker: AdCopyChecker, copy: str) -> list[str]:
    return [hit.term for hit in checker.check(copy).absolute_terms]


# (copy, list terms reported, highlighted copy): the mark always wraps the original characters
EVASIONS: dict[str, list[tuple[str, list[str], str]]] = {
    "spaces": [
        ("全 网 第 一", ["全网第一"], "【全 网 第 一】"),
        ("最 佳 选择", ["最佳"], "【最 佳】 选择"),
        ("全\u3000网\u3000第\u3000一！", ["全网第一"], "【全\u3000网\u3000第\u3000一】！"),
        ("全网\n第一", ["全网第一"], "【全网\n第一】"),
    ],
    "punctuation": [
        ("全.网.第.一", ["全网第一"], "【全.网.第.一】"),
        ("最★佳", ["最佳"], "【最★佳】"),
        ("国·家·级品质", ["国家级"], "【国·家·级】品质"),
        ("全网「第一」", ["全网第一"], "【全网「第一】」"),  # the closing bracket follows the last character
    ],
    "zero_width": [
        ("全\u200b网第一", ["全网第一"], "【全\u200b网第一】"),
        ("最\u00ad佳", ["最佳"], "【最\u00ad佳】"),
        ("销量\u2060第一", ["销量第一"], "【销量\u2060第一】"),
        ("b\u200best choice", ["best"], "【b\u200best】 choice"),
    ],
    "numerals": [
        ("全网第1", ["全网第一"], "【全网第1】"),
        ("全网第壹", ["全网第一"], "【全网第壹】"),
        ("全网第①", ["全网第一"], "【全网第①】"),
        ("全网第１", ["全网第一"], "【全网第１】"),
        ("全网第❶", ["全网第一"], "【全网第❶】"),
        ("全网第Ⅰ", ["全网第一"], "【全网第Ⅰ】"),
        ("荣获第1名", ["第一"], "荣获【第1】名"),
        ("唯1正品", ["唯一"], "【唯1】正品"),
    ],
    "full_width": [
        ("ＮＯ．１品牌", ["No.1"], "【ＮＯ．１】品牌"),
        ("ＢＥＳＴ ｃｈｏｉｃｅ", ["best"], "【ＢＥＳＴ】 ｃｈｏｉｃｅ"),
        ("１００％有效", ["100%"], "【１００％】有效"),
        ("全网第⼀", ["全网第一"], "【全网第⼀】"),  # Kangxi radical ⼀, not the ideograph 一
    ],
    "mixed_script": [
        ("最best选择", ["最", "best"], "【最best】选择"),
        ("全网NO.1", ["No.1"], "全网【NO.1】"),
        ("No 1 choice", ["No.1"], "【No 1】 choice"),
        ("TOP1品牌", ["TOP1"], "【TOP1】品牌"),
        ("Top-1 爆款", ["TOP 1"], "【Top-1】 爆款"),
        ("№1", ["NO1"], "【№1】"),
        ("T O P 1", ["TOP1"], "【T O P 1】"),
    ],
    "pinyin": [
        ("zui佳选择", ["最佳"], "【zui佳】选择"),
        ("最jia", ["最佳"], "【最jia】"),
        ("全网di yi", ["全网第一"], "【全网di yi】"),
        ("guo家级", ["国家级"], "【guo家级】"),
        ("zuì佳", ["最佳"], "【zuì佳】"),  # tone marks fold away
    ],
    "traditional": [
        ("國家級品質", ["国家级"], "【國家級】品質"),
        ("全網第一", ["全网第一"], "【全網第一】"),
        ("銷量冠軍", ["销量冠军"], "【銷量冠軍】"),
        ("國 家 級", ["国家级"], "【國 家 級】"),
    ],
}


@pytest.mark.parametrize(
    ("copy", "expected", "highlighted"),
    [case for cases in EVASIONS.values() for case in cases],
    ids=[f"{name}:{case[0]}" for name, cases in EVASIONS.items() for case in cases],
)
def test_evasions_are_caught_and_the_original_characters_highlighted(
    checker: AdCopyChecker, copy: str, expected: list[str], highlighted: str
) -> None:
    findings = checker.check(copy)

    assert [hit.term for hit in findings.absolute_terms] == expected
    assert findings.highlighted == highlighted
    for hit in findings.absolute_terms:
        assert copy[hit.start : hit.end] == hit.text


ORDINARY = [
    "第1天",
    "第 1 天",
    "第壹期课程",
    "第1单立减10元",
    "第一件半价",
    "每天第一杯咖啡",
    "第10名",  # tenth, not first
    "第12期",
    "第1.5代",
    "第 1 0 名",
    "第一百位顾客",
    "第一万个订单",
    "一网打尽所有好物",
    "买一送一",
    "2024年1月1日上市",
    "1元包邮",
    "¥1,299",
    "型号X1 Pro",
    "Top10 好物",
    "top 10 tips",
    "No. 12 bus stop",
    "最近上新",
    "最 近 上 新",
    "最終方案",
    "第一次合作",
    "第 一 次",
    "第一時間發貨",
    "di一次",
    "100%纯棉",
    "S M L XL 全尺码",
    "最佳赏味期30天",
]


@pytest.mark.parametrize("copy", ORDINARY)
def test_ordinary_text_stays_clean(checker: AdCopyChecker, copy: str) -> None:
    findings = checker.check(copy)

    assert findings.absolute_terms == []
    assert findings.highlighted == copy


def test_banned_terms_are_folded_too(checker: AdCopyChecker) -> None:
    findings = checker.check("刷 粉 1000 个，殭屍粉")

    assert [hit.text for hit in findings.banned] == ["刷 粉", "殭屍粉"]
    assert findings.highlighted == "【刷 粉】 1000 个，【殭屍粉】"


def test_fold_keeps_a_map_to_the_original_characters() -> None:
    text = "ＡＢ ㎏\u200b⑩ 第 一"
    folded = fold(text)

    assert folded.norm == "ab kg10第1"
    assert folded.base == "ab kg10第一"  # Chinese numerals stay in base ...
    assert folded.seg == "ab kg一〇第一"  # ... and ASCII digits read as Chinese for jieba
    assert len(folded.src) == len(folded.norm) == len(folded.base)
    # every folded character points back at the character it came from
    assert [text[i] for i in folded.src] == ["Ａ", "Ｂ", "㎏", "㎏", "㎏", "⑩", "⑩", "第", "一"]
    # ... so a span in the folded text is a span of whole original characters
    assert folded.original_span(3, 5) == (3, 4)  # "kg" -> "㎏"
    assert folded.original_span(5, 6) == (5, 6)  # "1" of "10" -> the whole "⑩"
    assert folded.original_span(7, 9) == (7, 10)  # "第1" -> "第 一"


def test_fold_spaces_between_english_words_but_not_between_chinese() -> None:
    assert fold("number  one").norm == "number one"
    assert fold("No.1").norm == "no 1"
    assert fold("最 佳").norm == "最佳"
    assert fold("最 best").norm == "最best"
    assert fold("b e s t").norm == "best"  # three or more single letters join
    assert fold("A 1").norm == "a 1"  # two do not


def test_a_hit_spanning_an_expanded_character_highlights_the_whole_character(checker: AdCopyChecker) -> None:
    findings = checker.check("全网第⑴名")  # ⑴ folds to "(1)"

    assert [hit.text for hit in findings.absolute_terms] == ["全网第⑴"]
    assert findings.highlighted == "【全网第⑴】名"


def test_pinyin_variants_mix_scripts_but_never_spell_a_term_all_in_pinyin() -> None:
    pinyin = {"最": "zui", "佳": "jia", "全": "quan", "网": "wang"}

    assert sorted(pinyin_variants("最佳", pinyin)) == ["zui佳", "最jia"]
    variants = set(pinyin_variants("全网最佳", pinyin))
    assert {"quan网最佳", "全网zui jia", "全网zuijia", "quan wang最佳"} <= variants
    assert "quanwangzuijia" not in variants and "quan wang zui jia" not in variants
    assert list(pinyin_variants("最", pinyin)) == []  # one character: no variant
    assert list(pinyin_variants("第一", pinyin)) == []  # no pinyin on file for it


def test_clean_copy_with_evasion_characters_never_loads_jieba() -> None:
    # Folding is pure Python; only an absolute-term candidate needs jieba (about a second to load).
    code = (
        "import sys; from shared.review.adlaw import default_checker;"
        "c = default_checker();"
        "r = [c.check(t).clean for t in ('一 网 打 尽', '２０２４年１月１日', '第 1 0 名 ', 'Ｔｏｐ１０')];"
        "print(r, 'jieba' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[True, True, True, True] False"


@pytest.mark.parametrize(
    ("copy", "expected"),
    [
        ("我们覆盖全网，第一时间发货", []),  # two clauses: not 全网第一
        ("服务全国，第一时间响应", []),
        ("全，网，第，一", ["全网第一"]),  # a separator after every character: an evasion
        ("最、佳", ["最佳"]),
        ("排名第一，天天特价", ["第一"]),  # the counter 天 starts the next clause, so 第一 is a rank
        ("排名第一 天天特价", []),  # a space is no clause break: reads as 第一天 (accepted)
    ],
)
def test_clause_punctuation_separates_words_but_spelled_out_terms_still_count(
    checker: AdCopyChecker, copy: str, expected: list[str]
) -> None:
    assert terms(checker, copy) == expected


def test_fold_records_gaps_and_clause_breaks() -> None:
    folded = fold("全网，第 一")

    assert folded.norm == "全网第1"
    assert folded.gaps == {2, 3} and folded.breaks == {2}
    assert folded.joins_clauses(0, 4)  # 全网|第一 across the comma
    assert not fold("全，网，第，一").joins_clauses(0, 4)
