"""Ad-copy checks under China's Advertising Law: absolute terms, banned goods, licensed industries.

How a hit is found (all lists are data files in `data/`, so policy changes need no code change):
1. One Aho-Corasick automaton (pyahocorasick) holds every term of every list and finds all candidates in one
   pass. Text is normalised per character (NFKC when it maps to one character, ASCII lower-case), so
   offsets in the normalised text are offsets in the original copy.
2. ASCII terms (best, No.1, buy followers) must stand as whole words: "bestseller" is not "best".
3. Absolute-term candidates are then checked against jieba's segmentation (`jieba.tokenize` gives offsets):
   * a candidate inside a benign compound (最终, 第一次, 唯一性 ...) is dropped, but only when that compound
     lines up with token boundaries, so a compound that jieba splits differently in context cannot excuse
     a real claim;
   * a single-character term (最) counts only as its own token (最 便宜, 最适合) or as the first character
     of a token (最好, 最强); inside a word it is not a claim;
   * a candidate contained in a longer candidate is reported once, as the longer term (全网第一, not 第一).
   Copy with no absolute candidate never touches jieba: the common clean order pays for the automaton only.
4. Banned terms and industry keywords count wherever they appear (no benign list: we would rather ask a
   human than sell 刷粉).

jieba and ahocorasick are imported on first use and the built checker is cached per container:
jieba's dictionary takes about a second to load, and the cold-start import time of this module is benchmarked.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

DATA_DIR = Path(__file__).parent / "data"


class Hit(BaseModel):
    model_config = ConfigDict(frozen=True)

    term: str  # the list entry that matched (normalised: NFKC, ASCII lower-case)
    text: str = ""  # the matched text as written in the copy
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


# ---------------------------------------------------------------- normalisation


def _normalise_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) != 1:
        folded = char  # keep offsets: only one-to-one foldings (full-width Ａ -> A, １ -> 1)
    return folded.lower() if folded.isascii() else folded


def normalise(text: str) -> str:
    """Same length as `text`, so offsets carry over."""
    if text.isascii():
        return text.lower()
    return "".join(_normalise_char(char) for char in text)


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _whole_word(text: str, start: int, end: int) -> bool:
    """ASCII terms must not sit inside a longer ASCII word."""
    if _is_word_char(text[start]) and start > 0 and _is_word_char(text[start - 1]):
        return False
    return not (_is_word_char(text[end - 1]) and end < len(text) and _is_word_char(text[end]))


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
class _Entry:
    term: str
    roles: tuple[tuple[str, str | None], ...]  # ("absolute"|"benign"|"banned"|"industry", category)


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
    ) -> None:
        import ahocorasick  # lazy: keeps the module import cheap

        roles: dict[str, list[tuple[str, str | None]]] = {}
        for term in absolute_terms:
            roles.setdefault(normalise(term), []).append(("absolute", None))
        for term in benign_compounds:
            roles.setdefault(normalise(term), []).append(("benign", None))
        for category, terms in banned.items():
            for term in terms:
                roles.setdefault(normalise(term), []).append(("banned", category))
        for industry, terms in industries.items():
            for term in terms:
                roles.setdefault(normalise(term), []).append(("industry", industry))
        automaton = ahocorasick.Automaton()
        for term, term_roles in roles.items():
            automaton.add_word(term, _Entry(term, tuple(term_roles)))
        automaton.make_automaton()
        self._automaton = automaton
        self.industry_names = frozenset(industries)
        self.banned_category_names = frozenset(banned)

    @classmethod
    def from_data_dir(cls, data_dir: Path = DATA_DIR) -> AdCopyChecker:
        return cls(
            absolute_terms=read_terms(data_dir / "absolute_terms.txt"),
            benign_compounds=read_terms(data_dir / "benign_compounds.txt"),
            banned=read_sections(data_dir / "banned_categories.txt"),
            industries=read_sections(data_dir / "special_industries.txt"),
        )

    def warm(self) -> None:
        """Load jieba now (e.g. in a Lambda's init phase), not on the first absolute-term candidate."""
        _jieba()

    def _candidates(self, text: str, norm: str) -> dict[str, list[Hit]]:
        found: dict[str, list[Hit]] = {"absolute": [], "benign": [], "banned": [], "industry": []}
        for last, entry in self._automaton.iter(norm):
            end = last + 1
            start = end - len(entry.term)
            if not _whole_word(norm, start, end):
                continue
            for role, category in entry.roles:
                found[role].append(
                    Hit(term=entry.term, text=text[start:end], start=start, end=end, category=category)
                )
        return found

    def _confirmed_absolute(self, norm: str, candidates: list[Hit], benign: list[Hit]) -> list[Hit]:
        tokens = [(start, end) for _word, start, end in _jieba().tokenize(norm)]
        starts = {start for start, _ in tokens}
        ends = {end for _, end in tokens}
        token_at: dict[int, tuple[int, int]] = {}
        for start, end in tokens:
            for index in range(start, end):
                token_at[index] = (start, end)
        aligned_benign = [hit for hit in benign if hit.start in starts and hit.end in ends]
        confirmed: list[Hit] = []
        for hit in candidates:
            if any(b.start <= hit.start and hit.end <= b.end for b in aligned_benign):
                continue
            # A one-character term is a claim only at the head of its token (最好, 最 便宜).
            if hit.end - hit.start == 1 and not hit.term.isascii() and token_at[hit.start][0] != hit.start:
                continue
            confirmed.append(hit)
        return _drop_contained(confirmed)

    def check(self, text: str | None) -> AdCopyFindings:
        if not text:
            return AdCopyFindings(absolute_terms=[], banned=[], industries=set(), highlighted=text or "")
        norm = normalise(text)
        found = self._candidates(text, norm)
        absolute = (
            self._confirmed_absolute(norm, found["absolute"], found["benign"]) if found["absolute"] else []
        )
        banned = _drop_contained(found["banned"])
        industries = {hit.category for hit in found["industry"] if hit.category}
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
        norm = normalise(text)
        found = self._candidates(text, norm)
        banned = _drop_contained(found["banned"])
        return AdCopyFindings(
            absolute_terms=[],
            banned=banned,
            industries={hit.category for hit in found["industry"] if hit.category},
            highlighted=highlight(text, banned),
        )


@cache
def default_checker() -> AdCopyChecker:
    """The checker built from the shipped data files, once per container."""
    return AdCopyChecker.from_data_dir()
