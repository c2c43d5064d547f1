"""Ad-copy checks under China's Advertising Law: absolute terms, banned goods, licensed industries.

How a hit is found (all lists are data files in `data/`, so policy changes need no code change):
1. The copy is folded (`shared.review.normalise.fold`): NFKC, ASCII lower-case, separators and zero-width
   characters dropped, numeral forms as digits (第壹 / 第① / 第１ -> 第1), traditional -> simplified. The fold
   keeps a map back to the original characters, so a hit highlights the copy as written (【全 网 第 一】).
   The list terms are folded the same way, and mixed pinyin spellings of the Chinese absolute terms
   (zui佳, 全网di一) are added from `data/pinyin.txt`.
2. One Aho-Corasick automaton (pyahocorasick) holds every term of every list and finds all candidates in one
   pass over the folded copy.
3. ASCII terms (best, No.1, buy followers) must stand as whole words: "bestseller" is not "best". A term that
   ends in a digit must not run on into a longer number: 第1 in 第10名 / 第1.5 / 第一百 is not 第一. A term
   must not straddle clause punctuation unless every character is split off (覆盖全网，第一时间 is not
   全网第一; 全，网，第，一 is).
4. Absolute-term candidates are then checked against jieba's segmentation (`jieba.tokenize` gives offsets):
   * a candidate inside a benign compound (最终, 第一次, 唯一性 ...) is dropped, but only when that compound
     lines up with token boundaries, so a compound that jieba splits differently in context cannot excuse
     a real claim;
   * 第一 followed by a counter (`data/ordinals.txt`: 第一天, 第1期, 第一单) is an ordinal and is dropped,
     unless clause punctuation stands between them (排名第一，天天特价);
   * a single-character term (最) counts only as its own token (最 便宜, 最适合) or as the first character
     of a token (最好, 最强); inside a word it is not a claim;
   * a candidate contained in a longer candidate is reported once, as the longer term (全网第一, not 第一).
   Copy with no absolute candidate never touches jieba: the common clean order pays for the automaton only.
5. Banned terms and industry keywords count wherever they appear (no benign list: we would rather ask a
   human than sell 刷粉).

jieba and ahocorasick are imported on first use and the built checker is cached per container:
jieba's dictionary takes about a second to load, and the cold-start import time of this module is benchmarked.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.review.normalise import DATA_DIR, NUMBER_UNITS, Folded, fold, is_ascii_word, normalise

__all__ = ["DATA_DIR", "AdCopyChecker", "AdCopyFindings", "Hit", "default_checker", "highlight", "normalise"]


class Hit(BaseModel):
    model_config = ConfigDict(frozen=True)

    term: str  # the list entry that matched, as the list writes it (第一 for 第1, 最佳 for zui佳)
    text: str = ""  # the matched text as written in the copy (separators inside included)
    start: int  # offsets into the original text, end exclusive
    end: int
    category: str | None = None  # banned category or industry, when the list has one


class AdCopyFindings(BaseModel):
    absolute_terms: list[Hit]
    banned: list[Hit]
    industries: set[str]
    highlighted: str  # the copy with every absolute and banned hit wrapped like 【最佳】

    @property
    def clean(self) -> bool:
        return not (self.absolute_terms or self.banned or self.industries)


# ---------------------------------------------------------------- data files


def read_terms(path: Path) -> list[str]:
    """One term per line; a line starting with `#` or a ` #` tail is a comment; blank lines ignored."""
    return [text for line in path.read_text(encoding="utf-8").splitlines() if (text := _strip_comment(line))]


def _strip_comment(line: str) -> str:
    text = line.strip()
    if text.startswith("#"):
        return ""
    return text.split(" #", 1)[0].strip()  # "#1" stays a term; "最 # why" keeps "最"


def read_sections(path: Path) -> dict[str, list[str]]:
    """`[section]` headers, then one term per line, `#` comments."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        text = _strip_comment(line)
        if not text:
            continue
        if text.startswith("[") and text.endswith("]"):
            current = text[1:-1].strip()
            sections.setdefault(current, [])
        elif current is None:
            raise ValueError(f"{path.name}: term {text!r} before any [section]")
        else:
            sections[current].append(text)
    return sections


# ---------------------------------------------------------------- matching helpers


def _whole_word(base: str, start: int, end: int) -> bool:
    """ASCII terms must not sit inside a longer ASCII word (checked on the folded copy)."""
    if is_ascii_word(base[start]) and start > 0 and is_ascii_word(base[start - 1]):
        return False
    return not (is_ascii_word(base[end - 1]) and end < len(base) and is_ascii_word(base[end]))


def _number_ends(folded: Folded, end: int) -> bool:
    """A term ending in a digit must not continue into a longer number (第1 in 第10, 第1.5, 第一百)."""
    base = folded.base
    if end >= len(base):
        return True
    after = base[end]
    if after in NUMBER_UNITS or (after.isascii() and after.isdigit()):
        return False
    # "第1 0" / "第1.5": a separator between ASCII digits folds to one space
    return not (after == " " and end + 1 < len(base) and base[end + 1].isascii() and base[end + 1].isdigit())


def pinyin_variants(term: str, pinyin: dict[str, str]) -> Iterator[str]:
    """Mixed spellings of a Chinese term: some characters (not none, not all) in pinyin.

    Adjacent pinyin syllables come joined and spaced (全网diyi, 全网di yi); other separators fold away.
    """
    if not 2 <= len(term) <= 4 or not all(char in pinyin for char in term):
        return
    for mask in itertools.product((False, True), repeat=len(term)):
        if all(mask) or not any(mask):
            continue
        gaps = [i for i in range(1, len(term)) if mask[i - 1] and mask[i]]
        for joins in itertools.product(("", " "), repeat=len(gaps)):
            glue = dict(zip(gaps, joins, strict=True))
            yield "".join(
                glue.get(i, "") + (pinyin[char] if mask[i] else char) for i, char in enumerate(term)
            )


def read_pairs(path: Path) -> dict[str, str]:
    """`key value` a line, `#` comments."""
    pairs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 2:
            pairs[fields[0]] = fields[1]
    return pairs


def _drop_contained(hits: list[Hit]) -> list[Hit]:
    """Keep the longest of nested hits: 全网第一 rather than 第一 inside it."""
    ordered = sorted(hits, key=lambda hit: (hit.start, -(hit.end - hit.start)))
    kept: list[Hit] = []
    for hit in ordered:
        if any(other.start <= hit.start and hit.end <= other.end for other in kept):
            continue
        kept.append(hit)
    return kept


def highlight(text: str, hits: Iterable[Hit]) -> str:
    """Wrap every hit in 【】; overlapping hits are merged into one mark."""
    spans = sorted((hit.start, hit.end) for hit in hits)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    cursor = 0
    for start, end in merged:
        parts.extend((text[cursor:start], "【", text[start:end], "】"))
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


# ---------------------------------------------------------------- the checker


@dataclass(frozen=True)
class _Role:
    role: str  # "absolute" | "benign" | "banned" | "industry"
    category: str | None  # banned category or industry
    term: str  # the list entry as written (reported in Hit.term)


@dataclass(frozen=True)
class _Entry:
    key: str  # the folded term the automaton matches
    roles: tuple[_Role, ...]


@dataclass(frozen=True)
class _Candidate:
    role: _Role
    start: int  # offsets into the folded copy
    end: int


_ORDINAL_TERM = "第一"


@cache
def _jieba() -> Any:
    import jieba  # lazy: ~1 s to load its dictionary on the first cut

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


class AdCopyChecker:
    """Built once from the term lists; `check` is safe to call from many threads."""

    def __init__(
        self,
        absolute_terms: Iterable[str],
        benign_compounds: Iterable[str],
        banned: dict[str, list[str]],
        industries: dict[str, list[str]],
        pinyin: dict[str, str] | None = None,
        ordinal_counters: Iterable[str] = (),
    ) -> None:
        import ahocorasick  # lazy: keeps the module import cheap

        roles: dict[str, list[_Role]] = {}

        def add(term: str, role: _Role) -> None:
            key = normalise(term)
            if key and role not in roles.setdefault(key, []):
                roles[key].append(role)

        for term in absolute_terms:
            add(term, _Role("absolute", None, term))
            for variant in pinyin_variants(term, pinyin or {}):
                add(variant, _Role("absolute", None, term))
        for term in benign_compounds:
            add(term, _Role("benign", None, term))
        for category, terms in banned.items():
            for term in terms:
                add(term, _Role("banned", category, term))
        for industry, terms in industries.items():
            for term in terms:
                add(term, _Role("industry", industry, term))
        automaton = ahocorasick.Automaton()
        for key, key_roles in roles.items():
            automaton.add_word(key, _Entry(key, tuple(key_roles)))
        automaton.make_automaton()
        self._automaton = automaton
        self._ordinal_counters = frozenset(normalise(counter) for counter in ordinal_counters)
        self.industry_names = frozenset(industries)
        self.banned_category_names = frozenset(banned)
        self.size = len(roles)

    @classmethod
    def from_data_dir(cls, data_dir: Path = DATA_DIR) -> AdCopyChecker:
        return cls(
            absolute_terms=read_terms(data_dir / "absolute_terms.txt"),
            benign_compounds=read_terms(data_dir / "benign_compounds.txt"),
            banned=read_sections(data_dir / "banned_categories.txt"),
            industries=read_sections(data_dir / "special_industries.txt"),
            pinyin=read_pairs(data_dir / "pinyin.txt"),
            ordinal_counters=read_terms(data_dir / "ordinals.txt"),
        )

    def warm(self) -> None:
        """Load jieba now (e.g. in a Lambda's init phase), not on the first absolute-term candidate."""
        _jieba()

    def _candidates(self, folded: Folded) -> dict[str, list[_Candidate]]:
        found: dict[str, list[_Candidate]] = {"absolute": [], "benign": [], "banned": [], "industry": []}
        for last, entry in self._automaton.iter(folded.norm):
            end = last + 1
            start = end - len(entry.key)
            if not _whole_word(folded.base, start, end):
                continue
            if entry.key[-1].isdigit() and not _number_ends(folded, end):
                continue
            if folded.breaks and folded.joins_clauses(start, end):
                continue  # 覆盖全网，第一时间发货: two clauses, not 全网第一
            for role in entry.roles:
                found[role.role].append(_Candidate(role, start, end))
        return found

    def _is_ordinal(self, folded: Folded, candidate: _Candidate) -> bool:
        return (
            candidate.role.term == _ORDINAL_TERM
            and candidate.end < len(folded.norm)
            and folded.norm[candidate.end] in self._ordinal_counters
            and candidate.end not in folded.breaks  # 排名第一，天天特价: the counter starts the next clause
        )

    def _confirmed_absolute(
        self, folded: Folded, candidates: list[_Candidate], benign: list[_Candidate]
    ) -> list[_Candidate]:
        tokens = [(start, end) for _word, start, end in _jieba().tokenize(folded.seg, HMM=False)]
        starts = {start for start, _ in tokens}
        ends = {end for _, end in tokens}
        token_at: dict[int, tuple[int, int]] = {}
        for start, end in tokens:
            for index in range(start, end):
                token_at[index] = (start, end)
        # A benign compound counts when it starts a token and ends one, or lies inside the token it starts
        # (最终 in the dictionary word 最终幻想); 最多 in 最/多功能 does neither, so it excuses nothing.
        aligned_benign = [
            hit
            for hit in benign
            if hit.start in starts and (hit.end in ends or token_at[hit.start][1] >= hit.end)
        ]
        confirmed: list[_Candidate] = []
        for hit in candidates:
            if any(b.start <= hit.start and hit.end <= b.end for b in aligned_benign):
                continue
            if self._is_ordinal(folded, hit):
                continue
            # A one-character term is a claim only at the head of its token (最好, 最 便宜).
            single = hit.end - hit.start == 1 and not hit.role.term.isascii()
            if single and token_at[hit.start][0] != hit.start:
                continue
            confirmed.append(hit)
        return confirmed

    @staticmethod
    def _hits(text: str, folded: Folded, candidates: Iterable[_Candidate]) -> list[Hit]:
        hits = []
        for candidate in candidates:
            start, end = folded.original_span(candidate.start, candidate.end)
            hits.append(
                Hit(
                    term=candidate.role.term,
                    text=text[start:end],
                    start=start,
                    end=end,
                    category=candidate.role.category,
                )
            )
        return _drop_contained(hits)

    def check(self, text: str | None) -> AdCopyFindings:
        if not text:
            return AdCopyFindings(absolute_terms=[], banned=[], industries=set(), highlighted=text or "")
        folded = fold(text)
        found = self._candidates(folded)
        absolute = (
            self._hits(text, folded, self._confirmed_absolute(folded, found["absolute"], found["benign"]))
            if found["absolute"]
            else []
        )
        banned = self._hits(text, folded, found["banned"])
        industries = {hit.role.category for hit in found["industry"] if hit.role.category}
        return AdCopyFindings(
            absolute_terms=absolute,
            banned=banned,
            industries=industries,
            highlighted=highlight(text, [*absolute, *banned]),
        )

    def scan(self, text: str | None) -> AdCopyFindings:
        """Banned terms and industries only (for targets and categories: no ad-copy absolute terms)."""
        if not text:
            return AdCopyFindings(absolute_terms=[], banned=[], industries=set(), highlighted=text or "")
        folded = fold(text)
        found = self._candidates(folded)
        banned = self._hits(text, folded, found["banned"])
        return AdCopyFindings(
            absolute_terms=[],
            banned=banned,
            industries={hit.role.category for hit in found["industry"] if hit.role.category},
            highlighted=highlight(text, banned),
        )


@cache
def default_checker() -> AdCopyChecker:
    """The checker built from the shipped data files, once per container."""
    return AdCopyChecker.from_data_dir()
