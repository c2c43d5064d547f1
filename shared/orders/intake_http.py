"""POST /orders without building the resolver: the intake function's cold-start fast path.

Powertools' `APIGatewayHttpResolver` with validation costs about 150 ms of import on every cold start. This
module answers the requests that pass validation (every accepted order and every domain error after it) with
the same pydantic model, the same `intake.accept` and the same problem+json replies as the routed handler in
`shared/orders/intake_routes.py`, which stays the documented contract (OpenAPI) and answers everything else:
`answer` returns None for any request it is not certain about (invalid JSON or body, an oversized header,
another route or content type, base64 bodies), and the caller hands it to the full resolver, so those
replies come from Powertools itself. tests/unit/api/test_intake_fast_path.py pins the two paths equal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shared.core.auth import jwt_claims
from shared.core.errors import DomainError
from shared.core.problems import domain_error_reply, loads_json, proxy_reply, unexpected
from shared.orders import intake
from shared.orders.models import PlaceOrder

DEVICE_ID_MAX = 64  # Header(alias="X-Device-Id", max_length=64) in intake_routes


def _valid(event: Mapping[str, Any], headers: Mapping[str, str]) -> PlaceOrder | None:
    if event.get("isBase64Encoded"):
        return None
    content_type = str(headers.get("content-type", "")).strip()
    if content_type and not content_type.startswith("application/json"):
        return None
    device_id = headers.get("x-device-id")
    if device_id is not None and len(device_id) > DEVICE_ID_MAX:
        return None
    text = event.get("body")
    if not text:
        return None
    try:
        # Python-mode validation of the parsed JSON, exactly as the resolver's validation middleware does it
        # (with the resolver's deserializer, so deep nesting or a huge number falls through to its 400).
        return PlaceOrder.model_validate(loads_json(text), from_attributes=True)
    except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
        return None


def answer(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reply to a valid POST /orders, or None to let the full resolver answer."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = str(event.get("rawPath") or "")
    stage = context.get("stage", "$default")
    if stage != "$default":  # the resolver routes on the path without a named stage's prefix
        path = path[len("/" + str(stage)):]
    if http.get("method") != "POST" or path != "/orders":
        return None
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    body = _valid(event, headers)
    if body is None:
        return None
    try:
        accepted = intake.accept(jwt_claims(event), http.get("sourceIp"), headers.get("idempotency-key"),
                                 headers.get("x-device-id"), body)
    except DomainError as error:
        return domain_error_reply(error)
    except Exception as error:  # deliberately broad: the resolver's catch-all, the same `unexpected`
        return domain_error_reply(unexpected(error))
    body_text = json.dumps(accepted.model_dump(mode="json"), separators=(",", ":"))  # as the resolver does
    return proxy_reply(202, body_text, "application/json", {"Location": f"/orders/{accepted.order_id}"})
