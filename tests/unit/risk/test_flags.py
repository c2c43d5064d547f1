"""Risk rules and mode from Feature Flags, via the local file store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.risk import flags
from shared.risk.models import RiskMode, RiskRules


def flags_document(mode: str = "enforce", version: str = "file-7", **mode_feature: Any) -> dict[str, Any]:
    return {
        "risk_mode": {"default": mode, "boolean_type": False, **mode_feature},
        "risk_rules": {
            "boolean_type": False,
            "default": {"rules_version": version, "accept_below": 40, "reject_at": 80},
        },
    }


@pytest.fixture
def flags_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(flags_document()), encoding="utf-8")
    monkeypatch.setenv("RISK_FLAGS_FILE", str(path))
    monkeypatch.delenv("RISK_MODE", raising=False)
    monkeypatch.delenv("APPCONFIG_APPLICATION", raising=False)
    monkeypatch.delenv("RISK_FLAGS_MAX_AGE_SECONDS", raising=False)
    flags.reset()
    yield path
    flags.reset()


def test_rules_and_mode_load_from_the_flags_file(flags_file: Path) -> None:
    rules, mode = flags.load_rules()

    assert mode is RiskMode.ENFORCE
    assert (rules.rules_version, rules.accept_below, rules.reject_at) == ("file-7", 40, 80)
    assert rules.shopper == RiskRules().shopper  # unspecified weights keep their defaults


@pytest.mark.parametrize(("env", "expected"), [("shadow", RiskMode.SHADOW), ("ENFORCE", RiskMode.ENFORCE)])
def test_risk_mode_env_overrides_the_file_locally(
    flags_file: Path, monkeypatch: pytest.MonkeyPatch, env: str, expected: RiskMode
) -> None:
    flags_file.write_text(json.dumps(flags_document(mode="shadow" if env == "ENFORCE" else "enforce")))
    monkeypatch.setenv("RISK_MODE", env)

    _rules, mode = flags.load_rules()

    assert mode is expected


def test_an_unknown_risk_mode_is_an_error_not_a_silent_default(
    flags_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISK_MODE", "block-everything")

    with pytest.raises(ValueError, match="enforce or shadow"):
        flags.load_rules()


def test_a_missing_flags_file_falls_back_to_builtin_rules_in_shadow_mode(
    flags_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RISK_FLAGS_FILE", str(tmp_path / "nope.json"))
    flags.reset()

    rules, mode = flags.load_rules()

    assert (rules, mode) == (RiskRules(), RiskMode.SHADOW)


def test_mode_rules_evaluate_against_the_context_for_a_canary(flags_file: Path) -> None:
    canary: dict[str, Any] = {
        "rules": {
            "canary shoppers enforce": {
                "when_match": "enforce",
                "conditions": [{"action": "EQUALS", "key": "shopper_id", "value": "s-canary"}],
            }
        }
    }
    flags_file.write_text(json.dumps(flags_document(mode="shadow", **canary)))

    assert flags.load_rules({"shopper_id": "s-canary"})[1] is RiskMode.ENFORCE
    assert flags.load_rules({"shopper_id": "s-other"})[1] is RiskMode.SHADOW


def test_the_document_is_cached_for_max_age(flags_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = flags.load_rules()
    flags_file.write_text(json.dumps(flags_document(version="file-8")))

    cached, _ = flags.load_rules()
    assert cached.rules_version == "file-7"
    assert cached is first  # parsed once per refresh, not once per order

    monkeypatch.setenv("RISK_FLAGS_MAX_AGE_SECONDS", "0")
    flags.reset()
    fresh, _ = flags.load_rules()
    assert fresh.rules_version == "file-8"


def test_the_shipped_local_flags_file_is_valid_and_enforces_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISK_FLAGS_FILE", raising=False)
    monkeypatch.delenv("RISK_MODE", raising=False)
    monkeypatch.delenv("APPCONFIG_APPLICATION", raising=False)
    flags.reset()
    try:
        rules, mode = flags.load_rules()
    finally:
        flags.reset()

    assert mode is RiskMode.ENFORCE
    assert rules.rules_version.startswith("local-")
    assert rules.model_dump(exclude={"rules_version"}) == RiskRules().model_dump(exclude={"rules_version"})


def test_importing_risk_and_review_modules_stays_cheap() -> None:
    # Powertools, jieba, ahocorasick and boto3 load on first use, not at import (cold start is benchmarked).
    code = (
        "import sys, shared.risk.flags, shared.risk.scoring, shared.review.rules, shared.review.adlaw;"
        "lazy = ('aws_lambda_powertools', 'jieba', 'ahocorasick', 'boto3');"
        "print(sorted(m for m in lazy if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "document",
    [
        {
            "risk_mode": {"default": "enforce", "boolean_type": False},
            "risk_rules": {"default": {"reject_at": -1}, "boolean_type": False},
        },
        {"risk_mode": {"default": "sometimes", "boolean_type": False}},
        {"risk_mode": {"boolean_type": False}},  # fails Powertools' schema validation: no default
    ],
    ids=["invalid rules", "unknown mode", "invalid flag schema"],
)
def test_a_bad_flags_document_scores_in_shadow_with_builtin_rules(
    flags_file: Path, document: dict[str, Any]
) -> None:
    flags_file.write_text(json.dumps(document))

    assert flags.load_rules() == (RiskRules(), RiskMode.SHADOW)


def test_appconfig_is_the_store_when_its_application_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.feature_flags import AppConfigStore

    monkeypatch.setenv("APPCONFIG_APPLICATION", "order24")
    monkeypatch.setenv("APPCONFIG_ENVIRONMENT", "prod")
    monkeypatch.setenv("APPCONFIG_PROFILE", "risk")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("RISK_FLAGS_MAX_AGE_SECONDS", "45")
    flags.reset()
    try:
        store = flags.feature_flags().store
    finally:
        flags.reset()

    assert isinstance(store, AppConfigStore)
    assert (store.application, store.environment, store.name, store.cache_seconds) == (
        "order24",
        "prod",
        "risk",
        45,
    )
