"""The flash refunds' rules from Feature Flags (the `flash_refunds` feature of the risk flags document): read
per context, and closed, i.e. no flash refund at all, whenever they cannot be read or do not validate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.aftersales import flash
from shared.risk import flags

SHIPPED = json.loads(Path(flags.DEFAULT_FLAGS_FILE).read_text())


@pytest.fixture
def flags_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(SHIPPED), encoding="utf-8")
    monkeypatch.setenv("RISK_FLAGS_FILE", str(path))
    for name in ("RISK_MODE", "APPCONFIG_APPLICATION", "RISK_FLAGS_MAX_AGE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    flags.reset()
    yield path
    flags.reset()


def write(path: Path, feature: dict[str, Any] | None) -> None:
    document = {key: value for key, value in SHIPPED.items() if key != flash.FEATURE}
    if feature is not None:
        document[flash.FEATURE] = feature
    path.write_text(json.dumps(document), encoding="utf-8")
    flags.reset()


def test_the_shipped_document_turns_every_rule_on(flags_file: Path) -> None:
    rules = flash.load_rules({"shopper_id": "s-1", "order_kind": "physical", "reason_code": "not_received"})
    assert rules.enabled and rules.rules_version == "local-2026-12"
    assert (rules.not_shipped.max_amount_fen, rules.good_standing.max_amount_fen) == (5000_00, 200_00)
    assert "damaged" not in rules.good_standing.reason_codes | rules.not_shipped.reason_codes


def test_a_flag_rule_switches_flash_refunds_off_for_some_shoppers(flags_file: Path) -> None:
    feature = dict(SHIPPED[flash.FEATURE])
    off = {**feature["default"], "enabled": False, "rules_version": "paused-for-s-abuser"}
    feature["rules"] = {"pause one shopper": {"when_match": off, "conditions": [
        {"action": "EQUALS", "key": "shopper_id", "value": "s-abuser"}]}}
    write(flags_file, feature)

    assert flash.load_rules({"shopper_id": "s-abuser"}).enabled is False
    assert flash.load_rules({"shopper_id": "s-other"}).enabled is True


@pytest.mark.parametrize("feature", [
    None,  # a deployment without the feature
    {"boolean_type": False, "default": {"enabled": True}},  # a value that does not validate
    {"boolean_type": False, "default": "yes"},  # not an object
])
def test_a_missing_or_invalid_feature_means_no_flash_refunds(flags_file: Path, feature: Any) -> None:
    write(flags_file, feature)
    assert flash.load_rules({}) == flash.DISABLED


def test_an_unreadable_store_means_no_flash_refunds(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.feature_flags import FeatureFlags
    from aws_lambda_powertools.utilities.feature_flags.base import StoreProvider
    from aws_lambda_powertools.utilities.feature_flags.exceptions import ConfigurationStoreError

    class Unreachable(StoreProvider):  # what AppConfigStore raises when AppConfig cannot be reached
        @property
        def get_raw_configuration(self) -> dict[str, Any]:
            raise ConfigurationStoreError("AppConfig unreachable")

        def get_configuration(self) -> dict[str, Any]:
            return self.get_raw_configuration

    monkeypatch.setattr(flags, "feature_flags", lambda: FeatureFlags(store=Unreachable()))
    assert flash.load_rules({"shopper_id": "s-1"}) == flash.DISABLED
