"""The caller: the claims API Gateway's JWT authorizer verified, as a `Principal`, and the role checks.

Import-light (no Powertools), so the intake fast path (shared/orders/intake_http.py) uses it as the routed
handlers do through `shared.core.api.principal` / `require_role`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.core.errors import Forbidden, Unauthorized


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
