"""HTTP API plumbing shared by every API function: the resolver, auth, and the one error format.

Every error leaves as RFC 9457 `application/problem+json` with a stable `code`; this module (with
`shared.core.problems`, its import-light half) is the only place that maps exceptions to HTTP.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from shared.core.errors import DomainError, NotFound

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

# Re-exported (explicitly, for mypy strict): callers keep importing these names from here.
from shared.core.problems import MAX_BODY_BYTES as MAX_BODY_BYTES
from shared.core.problems import PROBLEM_JSON as PROBLEM_JSON
from shared.core.problems import Principal as Principal
from shared.core.problems import _groups as _groups
from shared.core.problems import principal_of, problem_body, require_roles, too_large

ROLES = ("shopper", "merchant", "reviewer", "ops")

logger = logging.getLogger("order24.api")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response[str]:
    return Response(status_code=status, content_type=PROBLEM_JSON,
                    body=problem_body(status, code, title, detail, **extra))


def _domain_error(error: DomainError) -> Response[str]:
    return problem(error.status, error.code, error.title, error.detail, **error.extra)


def _validation_error(error: RequestValidationError) -> Response[str]:
    issues = [
        {
            "loc": [str(part) for part in issue.get("loc", ())],
            "msg": issue.get("msg", ""),
            "type": issue.get("type", ""),
        }
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
    oversized = too_large(event)
    return oversized if oversized is not None else app.resolve(event, context)


def http_event(app: APIGatewayHttpResolver | Router) -> APIGatewayProxyEventV2:
    """The current event, typed as what an HTTP API (payload 2.0) resolver always holds."""
    return cast("APIGatewayProxyEventV2", app.current_event)


def principal(app: APIGatewayHttpResolver | Router) -> Principal:
    return principal_of(http_event(app).request_context.authorizer.jwt_claim)


def require_role(app: APIGatewayHttpResolver | Router, *roles: str) -> Principal:
    return require_roles(http_event(app).request_context.authorizer.jwt_claim, *roles)


def not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"No {kind} {ident!r}.", code=f"{kind}_not_found")
