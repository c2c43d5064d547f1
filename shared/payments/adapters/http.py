"""The outbound HTTP seam: adapters build `SignedRequest`s, a `HttpClient` sends them.

Adapters never send anything themselves, so they stay pure and tests compare requests byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 1 << 20  # provider answers are a few KB; anything bigger is not a payment API


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup (HTTP header names are case-insensitive)."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpClient(Protocol):
    def send(self, request: SignedRequest) -> HttpResponse: ...


class TransportError(Exception):
    """Could not get an HTTP answer (DNS, connect, TLS, timeout). The caller decides whether to retry."""


class UrllibHttpClient:
    """Stdlib client with separate connect and read timeouts; it never retries (callers decide).

    Why no requests/httpx/urllib3: the stdlib is enough for a handful of signed POSTs and keeps the layer
    and the cold start small. `urllib.request.urlopen` has a single timeout, so this uses `http.client`,
    the stdlib connection class that urllib itself is built on, to time connect and read separately.
    """

    def __init__(self, *, connect_timeout_s: float = 3.0, read_timeout_s: float = 10.0) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s

    def send(self, request: SignedRequest) -> HttpResponse:
        import http.client
        import ssl

        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("only absolute http(s) URLs can be sent")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname,
                parts.port,
                timeout=self.connect_timeout_s,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=self.connect_timeout_s
            )
        try:
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(self.read_timeout_s)
            connection.request(request.method, path, body=request.body or None, headers=dict(request.headers))
            response = connection.getresponse()
            body = response.read(MAX_RESPONSE_BYTES + 1)
            if len(body) > MAX_RESPONSE_BYTES:
                raise TransportError("response too large")
            return HttpResponse(status=response.status, headers=dict(response.getheaders()), body=body)
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(
                f"{request.method} {parts.hostname}{parts.path}: {type(exc).__name__}"
            ) from exc
        finally:
            connection.close()
