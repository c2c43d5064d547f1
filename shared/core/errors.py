"""Domain errors. Each carries a stable machine-readable code; the HTTP mapping lives in `shared.core.api`."""

from __future__ import annotations

from typing import Any

from shared.core.aws import error_code


class DomainError(Exception):
    """Base of every error we answer with a problem+json document."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.extra = extra


class BadRequest(DomainError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    """An illegal transition; `extra["current_status"]` tells the caller where the order is."""

    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(DomainError):
    status, code, title = 422, "unprocessable", "Unprocessable request"


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class Unavailable(DomainError):
    """A dependency is briefly unavailable; the client retries with the same Idempotency-Key."""

    status, code, title = 503, "temporarily_unavailable", "Temporarily unavailable"


# AWS answers that mean "slow down", not "you are wrong" (DynamoDB, SQS, Step Functions, Lambda).
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "TooManyRequestsException", "ServiceUnavailable", "InternalServerError",
})


def as_unavailable(error: Exception) -> Unavailable | None:
    """An AWS dependency that timed out, dropped the connection or throttled us: the platform's trouble for a
    moment, not a bug and never the caller's, so a 503 to retry (with the same Idempotency-Key), not a 500."""
    from botocore.exceptions import ConnectionError, HTTPClientError  # loaded with boto3 anyway

    if isinstance(error, HTTPClientError | ConnectionError) or error_code(error) in THROTTLING_CODES:
        return Unavailable("A service we depend on did not answer in time; retry shortly.")
    return None


class UnsupportedMediaType(DomainError):
    """The request's Content-Type is not one the route reads."""

    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class MalformedBody(DomainError):
    """The body cannot be read at all: not UTF-8, not JSON, or not the JSON object the route reads."""

    status, code, title = 400, "malformed_body", "Malformed body"


class ValidationFailed(DomainError):
    """The body or parameters do not match the route's schema; `extra["errors"]` lists the fields."""

    status, code, title = 422, "validation_failed", "Validation failed"


class ProviderNotConfigured(Unavailable):
    """A provider's endpoint, credentials or our callback URL is not configured here. Fail closed: nothing
    falls back to a sandbox. The fulfil workflow parks the order on it (infra/workflows.py
    NOT_CONFIGURED_ERRORS: back to its queue, then the alarmed DLQ); an HTTP caller gets a 503 with this code.
    The detail names what is missing, never a value."""

    status, code, title = 503, "provider_not_configured", "Provider not configured"
