"""Every function has a sample event in events/, and its real handler accepts it against moto."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from infra.declaration import DECLARATION
from tests.support import context

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_function_has_a_sample_event() -> None:
    missing = [f.name for f in DECLARATION.functions if not (ROOT / "events" / f"{f.name}.json").exists()]
    assert missing == []


@pytest.mark.parametrize("function", [f.name for f in DECLARATION.functions])
def test_handler_answers_its_sample_event_without_crashing(aws: dict[str, str], function: str) -> None:
    event = json.loads((ROOT / "events" / f"{function}.json").read_text())
    handler = importlib.import_module(f"functions.{function}.handler").handler
    try:
        reply = handler(event, context(function))
    except Exception as error:  # a workflow step may legitimately raise a retryable error
        pytest.fail(f"{function} raised {error!r}")
    if isinstance(reply, dict) and "statusCode" in reply:
        assert reply["statusCode"] < 500, reply
