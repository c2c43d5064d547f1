"""Precision and recall of the absolute-term matcher on the labelled phrases in data/adlaw_labelled.tsv.

    python -m shared.review.evaluate [--tsv PATH] [--misses]      (or: make adlaw-eval)

Two scores:
* phrase level: a phrase is flagged when the checker reports any absolute term; a phrase labelled `none`
  that is flagged is a false positive, a labelled claim that is not flagged is a false negative;
* term level: the reported list entries (Hit.term) against the labelled ones, micro-averaged, so a phrase
  flagged for the wrong term counts against both precision and recall.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.review.adlaw import AdCopyChecker, default_checker
from shared.review.normalise import DATA_DIR

LABELLED = DATA_DIR / "adlaw_labelled.tsv"
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True)
class Labelled:
    phrase: str
    expected: frozenset[str]  # empty: no claim
    category: str
    source: str


@dataclass(frozen=True)
class Outcome:
    row: Labelled
    found: frozenset[str]
    highlighted: str


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load(path: Path = LABELLED) -> list[Labelled]:
    rows: list[Labelled] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    # `#` comments only above the header: a phrase may itself start with # ("#1 best seller").
    first = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    header, body = lines[first], [line for line in lines[first + 1 :] if line]
    if header.split("\t") != ["phrase", "expected", "category", "source"]:
        raise ValueError(f"{path.name}: unexpected header {header!r}")
    for number, line in enumerate(body, start=2):
        fields = line.split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path.name}: data row {number} has {len(fields)} fields, not 4")
        phrase, expected, category, source = fields
        terms = frozenset() if expected == "none" else frozenset(expected.split("|"))
        rows.append(Labelled(_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), phrase), terms, category, source))
    return rows


def run(rows: Sequence[Labelled], checker: AdCopyChecker) -> list[Outcome]:
    outcomes = []
    for row in rows:
        findings = checker.check(row.phrase)
        found = frozenset(hit.term for hit in findings.absolute_terms)
        outcomes.append(Outcome(row, found, findings.highlighted))
    return outcomes


def phrase_score(outcomes: Sequence[Outcome]) -> Score:
    tp = sum(1 for o in outcomes if o.row.expected and o.found)
    fp = sum(1 for o in outcomes if not o.row.expected and o.found)
    fn = sum(1 for o in outcomes if o.row.expected and not o.found)
    return Score(tp, fp, fn)


def term_score(outcomes: Sequence[Outcome]) -> Score:
    tp = sum(len(o.found & o.row.expected) for o in outcomes)
    fp = sum(len(o.found - o.row.expected) for o in outcomes)
    fn = sum(len(o.row.expected - o.found) for o in outcomes)
    return Score(tp, fp, fn)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tsv", type=Path, default=LABELLED)
    parser.add_argument("--misses", action="store_true", help="list every phrase scored wrong")
    args = parser.parse_args(argv)

    rows = load(args.tsv)
    outcomes = run(rows, default_checker())
    claims = sum(1 for row in rows if row.expected)
    print(f"labelled phrases: {len(rows)} ({claims} claims, {len(rows) - claims} without a claim)")
    for name, score in (("phrase", phrase_score(outcomes)), ("term", term_score(outcomes))):
        print(
            f"{name:<6} level: precision {score.precision:.3f}  recall {score.recall:.3f}  "
            f"(tp {score.tp}, fp {score.fp}, fn {score.fn})"
        )
    wrong = [o for o in outcomes if o.found != o.row.expected]
    per_category: Counter[str] = Counter(o.row.category for o in outcomes)
    wrong_per_category: Counter[str] = Counter(o.row.category for o in wrong)
    print("per category (rows, scored wrong):")
    for category, count in per_category.items():
        print(f"  {category:<20} {count:>4}  {wrong_per_category[category]:>3}")
    # Warm check time per phrase: the median of 7 runs of each phrase (this machine is shared; the median
    # keeps scheduler pauses out), then percentiles across phrases.
    checker = default_checker()
    per_phrase: list[float] = []
    for row in rows:
        runs = []
        for _ in range(7):
            t0 = time.perf_counter_ns()
            checker.check(row.phrase)
            runs.append((time.perf_counter_ns() - t0) / 1000)
        per_phrase.append(sorted(runs)[3])
    per_phrase.sort()
    print(
        f"check time per phrase, warm (median of 7 runs each): p50 {per_phrase[len(per_phrase) // 2]:.1f} us, "
        f"p99 {per_phrase[int(len(per_phrase) * 0.99)]:.1f} us, max {per_phrase[-1]:.1f} us"
    )
    if args.misses or len(wrong) <= 20:
        for o in wrong:
            expected = "|".join(sorted(o.row.expected)) or "none"
            found = "|".join(sorted(o.found)) or "none"
            print(f"  WRONG [{o.row.category}] {o.row.phrase!r}: expected {expected}, found {found} -> {o.highlighted}")


if __name__ == "__main__":
    main()
