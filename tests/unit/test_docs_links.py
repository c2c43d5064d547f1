"""The README and docs/ lead somewhere: every relative link, every file path, every `python -m` module they name
exists, and every handler's docstring names the module that holds its logic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Written at run time, never committed: named by the docs as outputs, not as places to read.
GENERATED = (".local/", "build/", "cdk.out/")
TOP = ("infra", "functions", "shared", "tools", "tests", "events", "docs", "examples")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A path as the docs write one: top-level folder, then path characters, ending in a file or a folder.
_TOP = "|".join(TOP)
PATH = re.compile(rf"(?<![\w./<>{{}}*-])((?:{_TOP})/[\w./-]*[\w/])")
MODULE = re.compile(rf"python -m ((?:{_TOP})(?:\.\w+)*)")


def _relative_links(text: str) -> list[str]:
    links = [target.split("#", 1)[0] for target in LINK.findall(text)]
    return [link for link in links if link and not re.match(r"^[a-z]+:", link)]


def _paths(text: str) -> list[str]:
    found = []
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".")
        following = text[match.end():match.end() + 1]
        if following and following in "<{*":  # a pattern such as functions/<name>/handler.py
            continue
        if not path.startswith(GENERATED):
            found.append(path)
    return found


def _exists(path: str) -> bool:
    """A file or folder, or `module.name` for a name defined in module.py (`shared/risk/store.load_signals`)."""
    if (ROOT / path).exists():
        return True
    module, _, name = path.rpartition(".")
    source = ROOT / f"{module}.py"
    return bool(name) and source.is_file() and re.search(rf"\b{re.escape(name)}\b", source.read_text()) is not None


def _missing(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    missing = [f"link {link}" for link in _relative_links(text) if not (page.parent / link).exists()]
    missing += [f"path {path}" for path in _paths(text) if not _exists(path)]
    for module in MODULE.findall(text):
        base = ROOT / module.replace(".", "/")
        if not (base.with_suffix(".py").exists() or (base / "__init__.py").exists()):
            missing.append(f"module {module}")
    return sorted(set(missing))


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_link_path_and_module_a_page_names_exists(page: Path) -> None:
    assert _missing(page) == []


def test_the_readme_links_every_area_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {Path(link).name for link in _relative_links(readme)}
    area_docs = {"architecture.md", "review.md", "payments.md", "fulfilment.md", "testing.md", "runbook.md",
                 "benchmarks.md", "capacity.md", "cost.md"}
    assert area_docs - linked == set()


@pytest.mark.parametrize("handler", sorted((ROOT / "functions").glob("*/handler.py")),
                         ids=lambda p: p.parent.name)
def test_a_handler_s_first_docstring_line_names_the_module_that_holds_its_logic(handler: Path) -> None:
    first = handler.read_text(encoding="utf-8").splitlines()[0]
    named = re.findall(r"logic in (shared/[\w/]+\.py)", first)
    assert named and all((ROOT / module).exists() for module in named), first
