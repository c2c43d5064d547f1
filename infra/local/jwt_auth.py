"""A local stand-in for API Gateway's HTTP API JWT authorizer, configured for the Cognito pool.

It checks what the AWS authorizer checks: an RS256 signature from the pool's JWKS, `iss`, `exp`,
`nbf`, `iat`, and the audience (`aud` for ID tokens, `client_id` for access tokens). On success the
claims are rendered exactly as API Gateway hands them to Lambda: every value a string, arrays as
`[a b]`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import jwt
import requests


class Unauthorized(Exception):
    """The token is missing or does not verify (AWS answers 401 {"message":"Unauthorized"})."""


def render_claim(value: Any) -> str:
    """API Gateway's string rendering of a claim value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(render_claim(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class CognitoJwtAuthorizer:
    def __init__(self, *, endpoint: str, region: str, pool_id: str, client_id: str) -> None:
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"  # what moto puts in `iss`
        self.jwks_url = f"{endpoint}/{pool_id}/.well-known/jwks.json"
        self.client_id = client_id
        self._keys: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def load_keys(self) -> int:
        """Fetch the pool's JWKS now (the runtime calls it before serving); returns how many keys it holds.

        Raises if the JWKS cannot be read: a gateway that cannot verify tokens must not start serving."""
        return len(self._jwks())

    def _jwks(self) -> dict[str, Any]:
        # Fetched once and cached, like the authorizer's own key cache.
        with self._lock:
            if self._keys is None:
                reply = requests.get(self.jwks_url, timeout=5)
                reply.raise_for_status()
                keys = {k["kid"]: jwt.PyJWK(k).key for k in reply.json()["keys"]}
                if not keys:
                    raise RuntimeError(f"no signing keys at {self.jwks_url}")
                self._keys = keys
            return self._keys

    def authorize(self, authorization: str | None) -> tuple[dict[str, str], list[str] | None]:
        """Returns (claims as strings, scopes) or raises Unauthorized."""
        if not authorization:
            raise Unauthorized("missing Authorization header")
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}") from exc
        key = self._jwks().get(str(header.get("kid")))
        if key is None or header.get("alg") != "RS256":
            raise Unauthorized("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},  # audience checked below
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(str(exc)) from exc
        # API Gateway: `aud` must match when present, otherwise `client_id` must.
        audience = claims["aud"] if "aud" in claims else claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise Unauthorized("token is for another audience")
        scope = claims.get("scope")
        scopes = str(scope).split() if scope else None
        return {k: render_claim(v) for k, v in claims.items()}, scopes
