"""The problem+json replies and the body cap, without Powertools' event handler (the caller: `shared.core.auth`).

Split out of `shared.core.api` because importing the resolver costs about 150 ms of cold start; the intake
function's fast path (functions/intake/handler.py) answers from these pieces alone. `shared.core.api`
re-exports every name here, so callers keep importing from there.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any

from shared.core.errors import (
    DomainError,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    as_unavailable,
)

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 16 * 1024  # our JSON bodies are small; API Gateway's own cap is 10 MB
JSON_ONLY = ("application/json",)
FORM = "application/x-www-form-urlencoded"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
logger = logging.getLogger("order24.api")


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


class InternalError(DomainError):
    status, code, title = 500, "internal_error", "Internal error"


def unexpected(error: Exception) -> DomainError:
    """What an exception no route expected answers (call it in the `except`): a 503 when an AWS dependency timed
    out or throttled us (`as_unavailable`), else a 500 with the traceback logged. The resolver's catch-all
    (`shared.core.api.http_app`) and the intake fast path both answer with it."""
    unavailable = as_unavailable(error)
    if unavailable is not None:
        logger.warning("dependency unavailable: %s", type(error).__name__)
        return unavailable
    logger.exception("unhandled error")
    return InternalError("Something went wrong on our side; retry later.")


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def screen(event: Mapping[str, Any], accepts: tuple[str, ...] = JSON_ONLY) -> DomainError | None:
    """Why this request can reach no route's code, before any parsing: the one check every API function runs.

    A body over the cap is a 413; a Content-Type the function does not read (on a body, or on a method that
    carries one) a 415; a body that is not base64 when flagged so, or whose bytes are not UTF-8, a 400.
    Everything after this can treat the body as text (Powertools decodes it with `.decode()`, which raised
    UnicodeDecodeError, a 500, on such bytes).
    """
    body = event.get("body") or ""
    if len(body) > MAX_BODY_BYTES:
        return PayloadTooLarge(f"The body exceeds {MAX_BODY_BYTES} bytes.")
    content_type = _header(event, "content-type")
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", "")).upper()
    if content_type is not None and (body or method in _BODY_METHODS):
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in accepts:
            return UnsupportedMediaType(f"This route reads {' or '.join(accepts)} bodies.",
                                        code="unsupported_media_type", accepts=list(accepts))
    if body and event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            return MalformedBody("The body is not valid UTF-8 text.")
    return None


def screened(event: Mapping[str, Any], accepts: tuple[str, ...] = JSON_ONLY) -> dict[str, Any] | None:
    """`screen` as the problem+json reply (the intake fast path's form), or None to go on."""
    error = screen(event, accepts)
    return domain_error_reply(error) if error is not None else None


def _reject_lone_surrogates(value: Any) -> None:
    # json.loads turns "\ud800" into a str that no UTF-8 encoder (boto3's included) can write: refuse it here.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise json.JSONDecodeError("lone surrogate in a string", "", 0) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads_json(text: str) -> Any:
    """json.loads that fails only with JSONDecodeError, whatever the text: the resolver's body deserializer.

    json.loads also raises ValueError past 4,300 digits in an integer and RecursionError on deep nesting,
    which Powertools does not catch (a 500); as JSONDecodeError they are the 400 `malformed_body`.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        raise json.JSONDecodeError(f"unreadable JSON: {type(error).__name__}", "", 0) from None
    _reject_lone_surrogates(value)
    return value


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
