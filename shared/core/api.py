"""HTTP API plumbing shared by every API function: the resolver, auth, and the one error format.

Every error leaves as RFC 9457 `application/problem+json` with a stable `code`; this module (with
`shared.core.problems`, its import-light half) is the only place that maps exceptions to HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from shared.core.errors import (
    DomainError,
    MalformedBody,
    NotFound,
    UnsupportedMediaType,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

# Re-exported (explicitly, for mypy strict): callers keep importing these names from here.
from shared.core import problems
from shared.core.auth import Principal, principal_of, require_roles
from shared.core.problems import JSON_ONLY, loads_json, problem_body, proxy_reply, screen
from shared.core.problems import MAX_BODY_BYTES as MAX_BODY_BYTES
from shared.core.problems import PROBLEM_JSON as PROBLEM_JSON

logger = logging.getLogger("order24.api")


# How a function answers a failure: (event, error) -> (status, content type, body). Partner callbacks pass
# their partner's own failure format; every other function answers problem+json.
Failure = Callable[[Mapping[str, Any], DomainError], tuple[int, str, str]]


def problem_failure(_event: Mapping[str, Any], error: DomainError) -> tuple[int, str, str]:
    return error.status, PROBLEM_JSON, problem_body(error.status, error.code, error.title, error.detail,
                                                    **error.extra)


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response[str]:
    return Response(status_code=status, content_type=PROBLEM_JSON,
                    body=problem_body(status, code, title, detail, **extra))


class HttpApp(APIGatewayHttpResolver):
    """The resolver with what `serve` screens before routing: the bodies it reads and its failure format."""

    def __init__(self, *, accepts: tuple[str, ...], failure: Failure) -> None:
        # loads_json: deep nesting or a 5,000-digit number is a 400, never Powertools' uncaught error.
        super().__init__(enable_validation=True, json_body_deserializer=loads_json)
        self.accepts = accepts
        self.failure = failure

    def fail(self, error: DomainError, event: Mapping[str, Any] | None = None) -> Response[str]:
        status, content_type, body = self.failure(event if event is not None else self.current_event.raw_event,
                                                  error)
        return Response(status_code=status, content_type=content_type, body=body)


def _validation_error(error: RequestValidationError) -> DomainError:
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
        return MalformedBody("The body must be a JSON object.", errors=issues)
    return ValidationFailed("The request does not match the schema.", errors=issues)


def http_app(*routers: Router, accepts: tuple[str, ...] = JSON_ONLY,
             failure: Failure = problem_failure) -> HttpApp:
    """A resolver with validation, OpenAPI, one failure format (problem+json unless told) and `serve`'s screen."""
    app = HttpApp(accepts=accepts, failure=failure)
    for router in routers:
        app.include_router(router)

    def domain_error(error: DomainError) -> Response[str]:
        return app.fail(error)

    def validation_error(error: RequestValidationError) -> Response[str]:
        return app.fail(_validation_error(error))

    def unsupported(_error: RequestUnsupportedContentType) -> Response[str]:
        # Powertools' own check, on a body route that got no body: the same 415 as `screen`.
        return app.fail(UnsupportedMediaType(f"This route reads {' or '.join(accepts)} bodies.",
                                             code="unsupported_media_type", accepts=list(accepts)))

    def unexpected(error: Exception) -> Response[str]:
        return app.fail(problems.unexpected(error))

    app.exception_handler(DomainError)(domain_error)
    app.exception_handler(RequestUnsupportedContentType)(unsupported)
    app.exception_handler(RequestValidationError)(validation_error)
    app.not_found(lambda _error: app.fail(NotFound("No such route.", code="route_not_found")))
    app.exception_handler(Exception)(unexpected)
    return app


def serve(app: HttpApp, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point for API handlers: `screen` (size, content type, undecodable bytes) before any parsing."""
    rejected = screen(event, app.accepts)
    if rejected is None:
        return app.resolve(event, context)
    status, content_type, body = app.failure(event, rejected)
    return proxy_reply(status, body, content_type)


def http_event(app: APIGatewayHttpResolver | Router) -> APIGatewayProxyEventV2:
    """The current event, typed as what an HTTP API (payload 2.0) resolver always holds."""
    return cast("APIGatewayProxyEventV2", app.current_event)


def principal(app: APIGatewayHttpResolver | Router) -> Principal:
    return principal_of(http_event(app).request_context.authorizer.jwt_claim)


def require_role(app: APIGatewayHttpResolver | Router, *roles: str) -> Principal:
    return require_roles(http_event(app).request_context.authorizer.jwt_claim, *roles)


def not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"No {kind} {ident!r}.", code=f"{kind}_not_found")
