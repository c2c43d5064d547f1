"""Digital providers: whoever activates an ad slot, a promotion package or a membership for us.

One Protocol and a signed HTTP client (production), configured by the `digital_provider` secret. The
deterministic sandbox lives in shared/sandbox/digital.py and is used only with the sandbox switch.
Every call carries an idempotency key (order + SKU): a provider that already served the key answers the
same result again, so our retry after a lost reply never delivers twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field, SecretStr, ValidationError

from shared.core.config import Env, optional_env, sandbox_providers
from shared.core.errors import ProviderNotConfigured

logger = logging.getLogger("order24.providers")
MAX_AGE_S = 300


class ProviderUnavailable(Exception):
    """The provider could not answer now (timeout, 5xx, throttling): try again later."""


class ProviderRefused(Exception):
    """The provider will never deliver this item (bad target, product withdrawn): do not retry."""


@dataclass(frozen=True)
class DeliveryResult:
    delivered_units: int
    remaining_units: int
    provider_ref: str


class DigitalProvider(Protocol):
    def deliver(
        self, order_id: str, item: Mapping[str, Any], target: str, idempotency_key: str
    ) -> DeliveryResult:
        """Deliver `item["quantity"]` units of `item["sku"]` to `target`. Raises ProviderUnavailable or
        ProviderRefused."""
        ...


@dataclass(frozen=True)
class HttpDigitalProvider:
    """A provider reached over HTTPS: `POST {base_url}/deliveries` with a JSON body, the header
    `Idempotency-Key`, and `X-Signature: hex HMAC-SHA256(secret, timestamp + "\\n" + body)` with
    `X-Timestamp`. The answer is `{"delivered_units", "remaining_units", "provider_ref"}`.
    Not exercised against a real host; tests drive it through an injected client.
    """

    base_url: str
    secret: str
    client: Any  # shared.payments.adapters.http.HttpClient-compatible: send(SignedRequest) -> HttpResponse

    def deliver(
        self, order_id: str, item: Mapping[str, Any], target: str, idempotency_key: str
    ) -> DeliveryResult:
        from shared.core.clock import now
        from shared.payments.adapters.http import SignedRequest, TransportError

        body = json.dumps(
            {"order_id": order_id, "sku": item["sku"], "quantity": int(item["quantity"]), "target": target},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(now().timestamp()))
        signature = hmac.new(
            self.secret.encode(), timestamp.encode() + b"\n" + body, hashlib.sha256
        ).hexdigest()
        request = SignedRequest(
            "POST",
            f"{self.base_url.rstrip('/')}/deliveries",
            {
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "X-Timestamp": timestamp,
                "X-Signature": signature,
            },
            body,
        )
        try:
            reply = self.client.send(request)
        except TransportError as error:
            raise ProviderUnavailable("provider unreachable") from error
        if reply.status == 429 or reply.status >= 500:
            raise ProviderUnavailable(f"provider answered {reply.status}")
        if not 200 <= reply.status < 300:
            raise ProviderRefused(f"provider answered {reply.status}")
        try:
            data = json.loads(reply.body)
            result = DeliveryResult(
                int(data["delivered_units"]), int(data["remaining_units"]), str(data["provider_ref"])
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderUnavailable("unreadable provider answer") from error
        if (
            result.delivered_units < 0
            or result.remaining_units < 0
            or result.delivered_units + result.remaining_units != int(item["quantity"])
        ):
            raise ProviderRefused("provider answer does not add up to the ordered quantity")
        return result


class NotConfiguredProvider:
    """What `provider()` answers when no real provider is configured: every delivery raises
    ProviderNotConfigured, so the step fails closed (the workflow parks the order) instead of marking
    anything delivered. Lazy, so replays of finished orders and internally delivered items never touch it."""

    def __init__(self, missing: str) -> None:
        self.missing = missing

    def deliver(
        self, order_id: str, item: Mapping[str, Any], target: str, idempotency_key: str
    ) -> DeliveryResult:
        from shared.core.observability import metrics

        logger.error(
            "digital provider not configured; the order waits",
            extra={"order_id": order_id, "missing": self.missing},
        )
        metrics.add_metric(name="ProviderNotConfigured", unit="Count", value=1)  # alarmed (infra/stack.py)
        raise ProviderNotConfigured(f"digital provider not configured: {self.missing}")


class DigitalProviderConfig(BaseModel):
    """The `digital_provider` secret (env DIGITAL_PROVIDER_SECRET_ARN), filled by ops (docs/runbook.md)."""

    base_url: str = Field(pattern=r"^https://")
    signing_secret: SecretStr = Field(min_length=16)


def _config() -> DigitalProviderConfig | str:
    """The provider's config, or what is missing (names only, never values)."""
    from aws_lambda_powertools.utilities import parameters

    name = optional_env(Env.DIGITAL_PROVIDER_SECRET_ARN)
    if not name:
        return "environment variable DIGITAL_PROVIDER_SECRET_ARN is not set"
    try:
        raw: Any = parameters.get_secret(name, transform="json", max_age=MAX_AGE_S)
    except parameters.TransformParameterError:
        return "the digital_provider secret is not JSON"
    try:
        return DigitalProviderConfig.model_validate(raw)
    except ValidationError as exc:
        return "the digital_provider secret is invalid: " + ", ".join(
            sorted(".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors())
        )


def provider() -> DigitalProvider:
    """The configured HTTP provider; the sandbox only with the sandbox switch (local runtime, tests);
    otherwise a provider that refuses to pretend (NotConfiguredProvider)."""
    if sandbox_providers():
        from shared.sandbox.digital import provider as sandbox_provider

        return sandbox_provider()
    config = _config()
    if isinstance(config, str):
        return NotConfiguredProvider(config)
    from shared.payments.adapters.http import UrllibHttpClient

    return HttpDigitalProvider(config.base_url, config.signing_secret.get_secret_value(), UrllibHttpClient())
