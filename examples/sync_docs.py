"""Keep the code the docs show equal to the examples that run.

A doc includes an example between two markers; this rewrites what is between them from the file:

    <!-- example: examples/place_digital_order.py -->
    ```python
    ...the file, verbatim...
    ```
    <!-- /example -->

    python -m examples.sync_docs           # refresh every marked block in README.md and docs/*.md
    python -m examples.sync_docs --check   # exit 1 and name the stale blocks (tests/unit/api runs this check)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(?P<open><!-- example: (?P<path>\S+) -->\n)(?P<body>.*?)(?P<close><!-- /example -->)", re.S)


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def fenced(path: str, root: Path = ROOT) -> str:
    code = (root / path).read_text(encoding="utf-8")
    return f"```python\n{code.rstrip()}\n```\n"


def included(text: str) -> list[str]:
    """The example paths a document includes, in order."""
    return [match["path"] for match in BLOCK.finditer(text)]


def synced(text: str, root: Path = ROOT) -> str:
    """The document with every marked block showing its file as it is now."""
    return BLOCK.sub(lambda m: m["open"] + fenced(m["path"], root) + m["close"], text)


def stale(root: Path = ROOT) -> list[str]:
    """'<doc>: <example>' for every marked block that differs from its file."""
    found = []
    for doc in documents(root):
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            if match["body"] != fenced(match["path"], root):
                found.append(f"{doc.relative_to(root)}: {match['path']}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report stale blocks (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        blocks = stale()
        for block in blocks:
            print(f"stale: {block} (run python -m examples.sync_docs)")
        return 1 if blocks else 0
    for doc in documents():
        text = doc.read_text(encoding="utf-8")
        if synced(text) != text:
            doc.write_text(synced(text), encoding="utf-8")
            print(f"refreshed {doc.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
