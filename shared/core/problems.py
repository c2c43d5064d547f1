"""The problem+json replies, the body cap and the caller's principal, without Powertools' event handler.

Split out of `shared.core.api` because importing the resolver costs about 150 ms of cold start; the intake
function's fast path (functions/intake/handler.py) answers from these pieces alone. `shared.core.api`
re-exports every name here, so callers keep importing from there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.core.errors import DomainError, Forbidden, PayloadTooLarge, Unauthorized

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 16 * 1024  # our JSON bodies are small; API Gateway's own cap is 10 MB


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> str:
    body = {"type": f"https://order24.dev/problems/{code}", "title": title, "status": status,
            "detail": detail, "code": code, **extra}
    return json.dumps(body, ensure_ascii=False)


def proxy_reply(status: int, body: str, content_type: str,
                headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An HTTP API (payload 2.0) result in exactly the shape APIGatewayHttpResolver builds."""
    return {"statusCode": status, "body": body, "isBase64Encoded": False,
            "headers": {**(headers or {}), "Content-Type": content_type}, "cookies": []}


def domain_error_reply(error: DomainError) -> dict[str, Any]:
    body = problem_body(error.status, error.code, error.title, error.detail, **error.extra)
    return proxy_reply(error.status, body, PROBLEM_JSON)


def too_large(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 413 every API handler answers before any parsing, or None when the body is within the cap."""
    body = event.get("body") or ""
    if len(body) <= MAX_BODY_BYTES:
        return None
    error = PayloadTooLarge(f"The body exceeds {MAX_BODY_BYTES} bytes.")
    return {"statusCode": 413, "headers": {"Content-Type": PROBLEM_JSON},
            "body": json.dumps({"type": "https://order24.dev/problems/payload_too_large",
                                "title": error.title, "status": 413, "detail": error.detail,
                                "code": error.code})}


@dataclass(frozen=True)
class Principal:
    """The caller, from the claims API Gateway's JWT authorizer verified."""

    sub: str
    username: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


def _groups(raw: Any) -> frozenset[str]:
    # API Gateway renders array claims as "[a b]"; tests and other callers may pass a real list.
    if isinstance(raw, list):
        return frozenset(str(group) for group in raw)
    text = str(raw or "").strip().strip("[]")
    return frozenset(part.strip('" ,') for part in text.replace(",", " ").split() if part.strip('" ,'))


def jwt_claims(event: Mapping[str, Any]) -> dict[str, Any]:
    """requestContext.authorizer.jwt.claims, tolerating every level missing or null (as Powertools does)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    return jwt.get("claims") or {}


def principal_of(claims: Mapping[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not sub:
        raise Unauthorized("A valid bearer token is required.")
    username = str(claims.get("cognito:username") or claims.get("username") or sub)
    return Principal(sub=str(sub), username=username, roles=_groups(claims.get("cognito:groups")))


def require_roles(claims: Mapping[str, Any], *roles: str) -> Principal:
    caller = principal_of(claims)
    if not caller.roles.intersection(roles):
        raise Forbidden(f"This action needs one of the roles: {', '.join(roles)}.", code="wrong_role")
    return caller
