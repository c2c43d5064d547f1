"""Digital providers: whoever activates an ad slot, a promotion package or a membership for us.

One Protocol, a deterministic sandbox (local runs and tests) and a signed HTTP client (production).
Every call carries an idempotency key (order + SKU): a provider that already served the key answers the
same result again, so our retry after a lost reply never delivers twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol


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
        self, order_id: str, item: dict[str, Any], target: str, idempotency_key: str
    ) -> DeliveryResult:
        """Deliver `item["quantity"]` units of `item["sku"]` to `target`. Raises ProviderUnavailable or
        ProviderRefused."""
        ...


@dataclass
class SandboxDigitalProvider:
    """Deterministic stand-in. The target steers it, so a demo can show each path:

    * `...#partial` delivers half the units (rounded down, at least one short) and reports the rest;
    * `...#flaky` fails with ProviderUnavailable on the first `flaky_failures` calls per key;
    * `...#down` always fails with ProviderUnavailable (exercises give-up and refund);
    * `...#refuse` raises ProviderRefused.
    Env `SANDBOX_PROVIDER_MODE` (partial|flaky|down|refuse) applies a mode to every target.
    `calls` counts real deliveries per idempotency key; a repeated key returns the first answer.
    """

    flaky_failures: int = 2
    calls: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    _served: dict[str, DeliveryResult] = field(default_factory=dict)

    def _mode(self, target: str) -> str:
        forced = os.environ.get("SANDBOX_PROVIDER_MODE", "")
        if forced:
            return forced
        return target.rsplit("#", 1)[1] if "#" in target else ""

    def deliver(
        self, order_id: str, item: dict[str, Any], target: str, idempotency_key: str
    ) -> DeliveryResult:
        self.attempts[idempotency_key] = self.attempts.get(idempotency_key, 0) + 1
        if idempotency_key in self._served:  # like a real provider: the key was served, same answer
            return self._served[idempotency_key]
        mode = self._mode(target)
        if mode == "down" or (mode == "flaky" and self.attempts[idempotency_key] <= self.flaky_failures):
            raise ProviderUnavailable(f"sandbox provider unavailable ({mode})")
        if mode == "refuse":
            raise ProviderRefused("sandbox provider refused the target")
        quantity = int(item["quantity"])
        delivered = quantity // 2 if mode == "partial" else quantity
        ref = "sbx-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
        result = DeliveryResult(
            delivered_units=delivered, remaining_units=quantity - delivered, provider_ref=ref
        )
        self._served[idempotency_key] = result
        self.calls[idempotency_key] = self.calls.get(idempotency_key, 0) + 1
        return result


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
        self, order_id: str, item: dict[str, Any], target: str, idempotency_key: str
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


_sandbox = SandboxDigitalProvider()


def provider() -> DigitalProvider:
    """The sandbox unless a real endpoint is configured (env DIGITAL_PROVIDER_URL + _SECRET)."""
    url = os.environ.get("DIGITAL_PROVIDER_URL")
    if not url or os.environ.get("PROVIDERS_SANDBOX") == "1":
        return _sandbox
    from shared.payments.adapters.http import UrllibHttpClient

    return HttpDigitalProvider(url, os.environ.get("DIGITAL_PROVIDER_SECRET", ""), UrllibHttpClient())


def sandbox() -> SandboxDigitalProvider:
    """The process-wide sandbox (tests read its call counts)."""
    return _sandbox
