"""The labelled phrase set pins the matcher's precision and recall (python -m shared.review.evaluate)."""

from __future__ import annotations

import pytest

from shared.review.adlaw import default_checker, read_terms
from shared.review.evaluate import LABELLED, Labelled, load, phrase_score, run, term_score
from shared.review.normalise import DATA_DIR

CLAIM_CATEGORIES = {
    *("plain", "spaced", "punctuated", "zero_width", "numeral", "fullwidth", "mixed_script", "traditional"),
    *("english", "combined", "plain_hard", "evasion_hard"),
}
CLEAN_CATEGORIES = {
    *("ordinary", "benign_compound", "ordinal", "traditional_benign", "spaced_benign", "ordinary_hard"),
}


@pytest.fixture(scope="module")
def rows() -> list[Labelled]:
    return load(LABELLED)


def test_the_set_is_large_sourced_and_consistent(rows: list[Labelled]) -> None:
    assert len(rows) >= 300
    assert len({row.phrase for row in rows}) == len(rows), "duplicate phrases"
    listed = set(read_terms(DATA_DIR / "absolute_terms.txt"))
    for row in rows:
        assert row.source.strip(), row.phrase
        assert row.expected <= listed, f"{row.phrase}: {set(row.expected - listed)} not on the list"
        if row.expected:
            assert row.category in CLAIM_CATEGORIES, row.phrase
        else:
            assert row.category in CLEAN_CATEGORIES, row.phrase
    # both sides are well represented, and every evasion class has rows
    assert sum(1 for row in rows if row.expected) >= 150
    assert sum(1 for row in rows if not row.expected) >= 100
    assert {row.category for row in rows} == CLAIM_CATEGORIES | CLEAN_CATEGORIES


def test_precision_and_recall_stay_at_or_above_95_percent(rows: list[Labelled]) -> None:
    outcomes = run(rows, default_checker())

    for score in (phrase_score(outcomes), term_score(outcomes)):
        assert score.precision >= 0.95, score
        assert score.recall >= 0.95, score
