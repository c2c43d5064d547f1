"""The deterministic sandbox digital provider. Local runtime and tests only (see shared/sandbox/__init__)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.fulfilment.providers import DeliveryResult, ProviderRefused, ProviderUnavailable


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
        self, order_id: str, item: Mapping[str, Any], target: str, idempotency_key: str
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


_provider = SandboxDigitalProvider()


def provider() -> SandboxDigitalProvider:
    """The process-wide sandbox (tests read its call counts)."""
    return _provider


def reset() -> SandboxDigitalProvider:
    """A fresh sandbox (tests: order ids repeat across tests, and it remembers served keys)."""
    global _provider
    _provider = SandboxDigitalProvider()
    return _provider
