"""The `logistics` secret (env LOGISTICS_SECRET_ARN) through Powertools parameters, cached 300 s.

    {"kuaidi100_key": "...", "kuaidi100_salt": "...", "kdniao_app_key": "...", "kdniao_business_id": "..."}

The callback URL we give Kuaidi100 is not configured here: it is our own API's URL (env PUBLIC_API_URL, set
by the stack from the HttpApi), so it cannot point anywhere else.

Values are SecretStr: never logged, never in a repr. A malformed secret names the fields, not the values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from shared.core.config import Env, optional_env
from shared.core.errors import ProviderNotConfigured

MAX_AGE_S = 300


class LogisticsConfig(BaseModel):
    kuaidi100_key: SecretStr = SecretStr("")
    kuaidi100_salt: SecretStr
    kdniao_app_key: SecretStr
    kdniao_business_id: str


class SecretConfigError(ProviderNotConfigured):
    """The secret is missing or malformed (the message names fields, never values).
    A provider without its secret is not configured: 503 `provider_not_configured`, never a sandbox."""


_built: dict[str, tuple[object, LogisticsConfig]] = {}


def config() -> LogisticsConfig:
    from aws_lambda_powertools.utilities import parameters

    name = optional_env(Env.LOGISTICS_SECRET_ARN)
    if not name:
        raise SecretConfigError("environment variable LOGISTICS_SECRET_ARN is not set")
    raw: Any = parameters.get_secret(name, transform="json", max_age=MAX_AGE_S)
    cached = _built.get(name)
    if cached is not None and cached[0] is raw:
        return cached[1]
    if not isinstance(raw, dict):
        raise SecretConfigError("the logistics secret is not a JSON object")
    try:
        built = LogisticsConfig.model_validate(raw)
    except ValidationError as exc:
        fields = sorted(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise SecretConfigError(f"the logistics secret is invalid: {', '.join(fields)}") from None
    _built[name] = (raw, built)
    return built


def clear_cache() -> None:
    from aws_lambda_powertools.utilities import parameters

    _built.clear()
    parameters.clear_caches()
