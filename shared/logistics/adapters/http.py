"""The outbound request an adapter builds, and the injected client that sends it (no network in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PartnerRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class PartnerResponse:
    status: int
    body: bytes


class HttpClient(Protocol):
    def send(self, request: PartnerRequest) -> PartnerResponse: ...
