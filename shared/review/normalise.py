"""Fold ad copy into one canonical form for matching, keeping a map back to the original characters.

Evasions of the ad-law lists write a listed term so that a plain substring match misses it: 全 网 第 一,
全网第1 / 第壹 / 第①, ＮＯ．１, 國家級, 最\u200b佳, b e s t. `fold` undoes them in one pass over the copy:

1. per character (memoised): a few numeral forms NFKC leaves alone (❶ ➀ Ⅰ), then NFKD, the compatibility
   decomposition (full-width and compatibility forms, ① -> 1, № -> No, Kangxi radicals ⼀ -> 一) with the
   accents split off and dropped below (zuì -> zui), ASCII lower-case, traditional -> simplified for the
   characters our lists use (data/traditional.txt);
2. separators are dropped: invisible ones (zero-width, soft hyphen, BOM, combining marks) always; visible ones
   (spaces, punctuation, ★ ♥ ~ ...) too, except that a run between two ASCII letters or digits becomes one
   space so English words stay words ("number one", "no. 1" -> "no 1");
3. a chain of three or more single ASCII characters split by separators is joined (b e s t -> best, N O 1 -> no1);
4. Chinese numerals become ASCII digits (一/壹 -> 1) in `norm`, the string the automaton reads; `base` is the
   same string before that step (for whole-word and numeral-boundary checks), and `seg` writes ASCII digits
   as Chinese numerals so jieba segments 第1天 like 第一天.

`norm`, `base` and `seg` have the same length, and `src[i]` is the index in the original copy of the
character that produced position i, so a hit found at norm[s:e] highlights original[src[s] : src[e-1] + 1].
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

# Numeral forms NFKC does not fold (dingbat circled digits, Roman one): written as ASCII before NFKC.
_PRE_FOLD: dict[str, str] = {
    **{chr(0x2776 + i): str(i + 1) for i in range(9)},  # ❶..❾
    **{chr(0x2780 + i): str(i + 1) for i in range(9)},  # ➀..➈
    **{chr(0x278A + i): str(i + 1) for i in range(9)},  # ➊..➒
    "Ⅰ": "1",  # NFKC would make it the letter I
    "ⅰ": "1",
}
# Chinese numerals (and the financial forms written on cheques: 壹贰叁) as digits, for `norm` only.
_CN_DIGITS: dict[str, str] = {
    **dict.fromkeys("〇零", "0"),
    **dict.fromkeys("一壹", "1"),
    **dict.fromkeys("二贰", "2"),
    **dict.fromkeys("三叁", "3"),
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    **dict.fromkeys("六陆", "6"),
    "七": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
}
_TO_DIGITS = str.maketrans(_CN_DIGITS)
_TO_CN = str.maketrans({str(d): "〇一二三四五六七八九"[d] for d in range(10)})
# Characters that continue a number after a digit: 第一百 is 100th, 第一万 is 10,000th.
NUMBER_UNITS = frozenset("十拾百佰千仟万亿")
# Symbols that carry meaning in a term (100%) and are never separators.
_KEEP = frozenset("%‰")
# Unicode categories dropped as separators. Letters, digits, CJK, currency (¥ $) and maths (+ =) stay.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
_VISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "So", "Sk"})
_VISIBLE_EXTRA = frozenset("~|^`¦")  # Sm / Sk look-alikes used as spacers

# Clause punctuation: a run of separators holding one of these is a break between clauses.
_CLAUSE_BREAKS = frozenset("，。！？；：、,.!?;:．｡")

_SEP = "\x00"  # a visible separator, in the per-character table
_DROP = ""  # an invisible one

_SINGLE_CHAIN = re.compile(r"(?<![a-z0-9])[a-z0-9](?: [a-z0-9]){2,}(?![a-z0-9])")


@cache
def traditional_map() -> dict[str, str]:
    """Traditional -> simplified for the characters of our lists (one pair a line: 國 国)."""
    pairs: dict[str, str] = {}
    for line in (DATA_DIR / "traditional.txt").read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].split()
        if len(text) == 2 and len(text[0]) == 1 and len(text[1]) == 1:
            pairs[text[0]] = text[1]
    return pairs


def _is_separator(char: str) -> bool:
    if char in _KEEP:
        return False
    return unicodedata.category(char) in _VISIBLE_CATEGORIES or char in _VISIBLE_EXTRA


_FOLDED: dict[str, tuple[str, ...]] = {}


def _fold_char(char: str) -> tuple[str, ...]:
    """The folded characters for one original character; `_SEP` marks a visible separator."""
    cached = _FOLDED.get(char)
    if cached is not None:
        return cached
    t2s = traditional_map()
    out: list[str] = []
    for folded in unicodedata.normalize("NFKD", _PRE_FOLD.get(char, char)):
        if unicodedata.category(folded) in _INVISIBLE_CATEGORIES:
            continue
        if _is_separator(folded):
            out.append(_SEP)
            continue
        folded = folded.lower() if folded.isascii() else t2s.get(folded, folded)
        out.append(folded)
    result = tuple(out)
    if len(_FOLDED) < 20_000:  # bounded: copy is short, but the alphabet of hostile input is not
        _FOLDED[char] = result
    return result


def is_ascii_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class Folded:
    norm: str  # what the automaton reads
    base: str  # norm before Chinese numerals become digits
    src: tuple[int, ...]  # src[i]: index in the original text of norm[i]
    gaps: frozenset[int] = frozenset()  # i: separators were dropped between norm[i-1] and norm[i]
    breaks: frozenset[int] = frozenset()  # the gaps that held clause punctuation (，。！？ ...)

    @property
    def seg(self) -> str:
        """`base` with ASCII digits as Chinese numerals, for jieba (第1天 segments like 第一天)."""
        return self.base.translate(_TO_CN)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters behind norm[start:end] (end exclusive)."""
        return self.src[start], self.src[end - 1] + 1

    def joins_clauses(self, start: int, end: int) -> bool:
        """norm[start:end] runs across clause punctuation without being spelled out character by character.

        覆盖全网，第一时间发货 is two clauses, not 全网第一; 全，网，第，一 (a separator between every
        character) is an evasion and still counts.
        """
        inside = range(start + 1, end)
        return any(i in self.breaks for i in inside) and not all(i in self.gaps for i in inside)


def fold(text: str) -> Folded:
    chars: list[str] = []
    src: list[int] = []
    gaps: set[int] = set()
    breaks: set[int] = set()
    pending_sep = pending_break = False
    for index, char in enumerate(text):
        for folded in _fold_char(char):
            if folded == _SEP:
                pending_sep = bool(chars)
                pending_break = pending_break or (pending_sep and char in _CLAUSE_BREAKS)
                continue
            if pending_sep:
                if is_ascii_word(chars[-1]) and is_ascii_word(folded):
                    chars.append(" ")  # English words stay apart; the space itself marks the gap
                    src.append(index)
                else:
                    gaps.add(len(chars))
                    if pending_break:
                        breaks.add(len(chars))
            pending_sep = pending_break = False
            chars.append(folded)
            src.append(index)
    base = "".join(chars)
    if " " in base:
        base, src, gaps, breaks = _join_single_chains(base, src, gaps, breaks)
    return Folded(
        norm=base.translate(_TO_DIGITS), base=base, src=tuple(src), gaps=frozenset(gaps), breaks=frozenset(breaks)
    )


def _join_single_chains(
    base: str, src: list[int], gaps: set[int], breaks: set[int]
) -> tuple[str, list[int], set[int], set[int]]:
    """b e s t -> best: drop the spaces inside chains of three or more single ASCII characters."""
    drop: set[int] = set()
    for match in _SINGLE_CHAIN.finditer(base):
        drop.update(i for i in range(match.start(), match.end()) if base[i] == " ")
    if not drop:
        return base, src, gaps, breaks
    keep = [i for i in range(len(base)) if i not in drop]
    new_index = {old: new for new, old in enumerate(keep)}
    # a dropped space was a gap between the characters it separated
    joined = {new_index[i + 1] for i in drop if i + 1 in new_index}
    return (
        "".join(base[i] for i in keep),
        [src[i] for i in keep],
        {new_index[i] for i in gaps if i in new_index} | joined,
        {new_index[i] for i in breaks if i in new_index},
    )


def normalise(text: str) -> str:
    """The canonical form of a list term or a copy (what the automaton matches)."""
    return fold(text).norm
