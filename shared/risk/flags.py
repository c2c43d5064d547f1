"""Risk rules and mode from Powertools Feature Flags: AppConfig in AWS, a JSON file locally.

The document holds two non-boolean features (`"boolean_type": false`):
  * `risk_mode`: "enforce" | "shadow"; rules may switch it per context (e.g. a MODULO_RANGE rollout);
  * `risk_rules`: the `RiskRules` weights and thresholds as its value.
Both are read with `FeatureFlags.evaluate`, so one AppConfig deployment changes both atomically.

Store selection: `APPCONFIG_APPLICATION` set -> `AppConfigStore`
(`APPCONFIG_ENVIRONMENT`, `APPCONFIG_PROFILE`);
otherwise `FileStore` on `RISK_FLAGS_FILE` (default: flags/local_flags.json next to this module).
`RISK_MODE` (set by `make run`) overrides the mode, with the file store only: in AWS, AppConfig is the switch.
If the store fails or serves an invalid document, the built-in `RiskRules()` apply in SHADOW mode (logged):
an outage or a bad deployment of the flags must not start rejecting orders with rules nobody chose.
An invalid `RISK_MODE` environment value, by contrast, raises: that is a local setup mistake.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.core.config import Env, RiskSettings, default_of, env, optional_env, settings
from shared.risk.models import RiskMode, RiskRules

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.feature_flags import FeatureFlags

_log = logging.getLogger(__name__)

DEFAULT_FLAGS_FILE = Path(__file__).parent / "flags" / "local_flags.json"
DEFAULT_MAX_AGE_S: int = default_of(RiskSettings, "risk_flags_max_age_seconds")
FALLBACK_MODE = RiskMode.SHADOW

# Powertools ships stores for AppConfig only, so a minimal file-backed StoreProvider serves the local runtime.
_file_store_class: type[Any] | None = None


def _file_store_type() -> type[Any]:
    """Built on first use so importing this module does not import Powertools."""
    global _file_store_class
    if _file_store_class is not None:
        return _file_store_class
    from aws_lambda_powertools.utilities.feature_flags.base import StoreProvider
    from aws_lambda_powertools.utilities.feature_flags.exceptions import ConfigurationStoreError

    class FileStore(StoreProvider):
        """Reads the feature-flag JSON from a file, cached for `max_age` seconds like AppConfigStore."""

        def __init__(self, path: Path, max_age: int = DEFAULT_MAX_AGE_S) -> None:
            super().__init__()
            self.path = path
            self.max_age = max_age
            self._cached: dict[str, Any] | None = None
            self._loaded_at = 0.0
            self._lock = threading.Lock()

        @property
        def get_raw_configuration(self) -> dict[str, Any]:
            with self._lock:
                if self._cached is None or time.monotonic() - self._loaded_at >= self.max_age:
                    try:
                        document = json.loads(self.path.read_text(encoding="utf-8"))
                    except (OSError, ValueError) as error:
                        message = f"cannot read flags file {self.path}: {error}"
                        raise ConfigurationStoreError(message) from error
                    if not isinstance(document, dict):
                        raise ConfigurationStoreError(f"flags file {self.path} must hold a JSON object")
                    # The same dict object until expiry lets FeatureFlags skip re-validating the schema.
                    self._cached, self._loaded_at = document, time.monotonic()
                return self._cached

        def get_configuration(self) -> dict[str, Any]:
            return self.get_raw_configuration

    _file_store_class = FileStore
    return FileStore


def _max_age() -> int:
    return settings(RiskSettings).risk_flags_max_age_seconds


def uses_appconfig() -> bool:
    return bool(optional_env(Env.APPCONFIG_APPLICATION))


@cache
def feature_flags() -> FeatureFlags:
    """One FeatureFlags per container; the store caches the document for max_age seconds."""
    from aws_lambda_powertools.utilities.feature_flags import AppConfigStore, FeatureFlags

    if uses_appconfig():
        store: Any = AppConfigStore(
            environment=env(Env.APPCONFIG_ENVIRONMENT),
            application=env(Env.APPCONFIG_APPLICATION),
            name=env(Env.APPCONFIG_PROFILE),
            max_age=_max_age(),
        )
    else:
        path = Path(settings(RiskSettings).risk_flags_file or DEFAULT_FLAGS_FILE)
        store = _file_store_type()(path, max_age=_max_age())
    return FeatureFlags(store=store)


def reset() -> None:
    """Tests call this after changing the environment (store choice, file path, max age)."""
    feature_flags.cache_clear()
    _parsed.clear()


def parse_mode(value: object) -> RiskMode:
    text = str(value).strip().upper()
    try:
        return RiskMode(text)
    except ValueError:
        raise ValueError(f"risk mode must be enforce or shadow, got {value!r}") from None


# Parsed RiskRules keyed on the identity of the flag value: the store hands back the same object until
# max_age expires, so we validate the pydantic model once per refresh, not once per order.
_parsed: dict[int, tuple[object, RiskRules]] = {}


def _rules_from(value: object) -> RiskRules:
    hit = _parsed.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    rules = RiskRules.model_validate(value) if isinstance(value, dict) else RiskRules()
    _parsed.clear()
    _parsed[id(value)] = (value, rules)
    return rules


def load_rules(context: dict[str, Any] | None = None) -> tuple[RiskRules, RiskMode]:
    """The current rules and mode. `context` feeds flag rules (e.g. {"shopper_id": ...} for a rollout)."""
    from aws_lambda_powertools.utilities.feature_flags.exceptions import (
        ConfigurationStoreError,
        SchemaValidationError,
    )
    from pydantic import ValidationError

    flags = feature_flags()
    try:
        # Fetch once ourselves: evaluate() turns a store error into its default silently, and we want to
        # know: a broken store or document means SHADOW with built-in rules, never half a configuration.
        flags.get_configuration()
        rules = _rules_from(flags.evaluate(name="risk_rules", context=context or {}, default=None))
        mode = parse_mode(
            flags.evaluate(name="risk_mode", context=context or {}, default=FALLBACK_MODE.value)
        )
    except (ConfigurationStoreError, SchemaValidationError, ValidationError, ValueError) as error:
        _log.warning("risk flags unusable, scoring with built-in rules in shadow mode: %s", error)
        rules, mode = RiskRules(), FALLBACK_MODE
    override = settings(RiskSettings).risk_mode
    if override and not uses_appconfig():
        mode = parse_mode(override)
    return rules, mode
