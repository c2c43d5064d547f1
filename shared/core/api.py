"""HTTP API plumbing shared by every API function: the resolver, auth, and the one error format.

Every error leaves as RFC 9457 `application/problem+json` with a stable `code`; this module is the
only place that maps exceptions to HTTP.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from shared.core.errors import DomainError, NotFound, PayloadTooLarge, Unauthorized

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 16 * 1024  # our JSON bodies are small; API Gateway's own cap is 10 MB
ROLES = ("shopper", "merchant", "reviewer", "ops")

logger = logging.getLogger("order24.api")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response[str]:
    body = {"type": f"https://order24.dev/problems/{code}", "title": title, "status": status,
            "detail": detail, "code": code, **extra}
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body, ensure_ascii=False))


def _domain_error(error: DomainError) -> Response[str]:
    return problem(error.status, error.code, error.title, error.detail, **error.extra)


def _validation_error(error: RequestValidationError) -> Response[str]:
    issues = [
        {"loc": [str(part) for part in issue.get("loc", ())], "msg": issue.get("msg", ""), "type": issue.get("type", "")}
        for issue in error.errors()
    ]
    if any(issue["type"] == "json_invalid" or (issue["type"] == "model_attributes_type" and issue["loc"] == ["body"])
           for issue in issues):
        return problem(400, "malformed_body", "Malformed body", "The body must be a JSON object.", errors=issues)
    return problem(422, "validation_failed", "Validation failed", "The request does not match the schema.",
                   errors=issues)


def _unexpected(error: Exception) -> Response[str]:
    logger.exception("unhandled error")
    return problem(500, "internal_error", "Internal error", "Something went wrong on our side; retry later.")


def http_app(*routers: Router) -> APIGatewayHttpResolver:
    """A resolver with validation, OpenAPI, problem+json errors and a body size cap."""
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)
    app.exception_handler(DomainError)(_domain_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.not_found(lambda _error: problem(404, "route_not_found", "Not found", "No such route."))
    app.exception_handler(Exception)(_unexpected)
    return app


def serve(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point for API handlers: rejects oversized bodies before any parsing."""
    body = event.get("body") or ""
    if len(body) > MAX_BODY_BYTES:
        error = PayloadTooLarge(f"The body exceeds {MAX_BODY_BYTES} bytes.")
        return {"statusCode": 413, "headers": {"Content-Type": PROBLEM_JSON},
                "body": json.dumps({"type": "https://order24.dev/problems/payload_too_large",
                                    "title": error.title, "status": 413, "detail": error.detail,
                                    "code": error.code})}
    return app.resolve(event, context)


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


def principal(app: APIGatewayHttpResolver | Router) -> Principal:
    claims = app.current_event.request_context.authorizer.jwt_claim
    sub = claims.get("sub")
    if not sub:
        raise Unauthorized("A valid bearer token is required.")
    username = str(claims.get("cognito:username") or claims.get("username") or sub)
    return Principal(sub=str(sub), username=username, roles=_groups(claims.get("cognito:groups")))


def require_role(app: APIGatewayHttpResolver | Router, *roles: str) -> Principal:
    caller = principal(app)
    if not caller.roles.intersection(roles):
        from shared.core.errors import Forbidden

        raise Forbidden(f"This action needs one of the roles: {', '.join(roles)}.", code="wrong_role")
    return caller


def not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"No {kind} {ident!r}.", code=f"{kind}_not_found")
