"""The docs show the examples that run (examples/, run by tests/e2e/test_examples.py), never a copy that rots."""

from __future__ import annotations

import re
from pathlib import Path

from examples import sync_docs

ROOT = sync_docs.ROOT
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def _outside_examples(text: str) -> str:
    return sync_docs.BLOCK.sub("", text)


def test_every_block_the_docs_show_is_its_example_file_as_it_is() -> None:
    assert sync_docs.stale() == [], "run: python -m examples.sync_docs"


def test_every_example_is_shown_somewhere_in_the_docs() -> None:
    shown = {path for doc in sync_docs.documents() for path in sync_docs.included(doc.read_text(encoding="utf-8"))}
    examples = {f"examples/{p.name}" for p in (ROOT / "examples").glob("*.py")} - {
        "examples/__init__.py", "examples/sync_docs.py"}
    assert examples - shown == set()
    assert {path for path in shown if not (ROOT / path).is_file()} == set()


def test_no_doc_shows_a_call_to_our_api_outside_an_included_example() -> None:
    """A curl line in a doc is a snippet nothing runs: make it an example and include it instead."""
    snippets = [
        f"{doc.relative_to(ROOT)}: {code.strip().splitlines()[0]}"
        for doc in sync_docs.documents()
        for code in FENCE.findall(_outside_examples(doc.read_text(encoding="utf-8")))
        if re.search(r"\bcurl\b|\$API\b|/sandbox/", code)
    ]
    assert snippets == []


def test_a_block_that_drifted_from_its_file_is_found_and_refreshed(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "examples" / "hello.py").write_text('print("hello")\n', encoding="utf-8")
    marked = "Intro\n\n<!-- example: examples/hello.py -->\n```python\nprint('old')\n```\n<!-- /example -->\n\nEnd\n"
    (tmp_path / "README.md").write_text(marked, encoding="utf-8")
    assert sync_docs.stale(tmp_path) == ["README.md: examples/hello.py"]
    refreshed = sync_docs.synced(marked, tmp_path)
    assert refreshed == ("Intro\n\n<!-- example: examples/hello.py -->\n```python\nprint(\"hello\")\n```\n"
                         "<!-- /example -->\n\nEnd\n")
    (tmp_path / "README.md").write_text(refreshed, encoding="utf-8")
    assert sync_docs.stale(tmp_path) == []
