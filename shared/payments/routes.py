"""POST /orders/{order_id}/pay: create (or return) the payment intent.

Card data never gets in: `refuse_card_data` runs on the raw event before the resolver, Powertools or our
logging see the body, and answers 422 `card_data_refused` without storing or logging anything.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.declaration import route
from shared.core.api import require_role
from shared.core.roles import Role
from shared.core.types import OrderId
from shared.payments.models import PaymentIntentView, PayRequest

payments = Router()  # Powertools leaves __init__ unannotated


# POST /orders/{order_id}/pay
@route(payments, "payOrder", summary="Create, return or switch the order's payment intent",
    responses={
        200: {
            "description": "The order's current payment intent. Another provider (or the same one after a "
            "failure) supersedes the previous intent with a new attempt; the same request again returns it."
        },
        404: {"description": "No such order (or not yours)"},
        409: {
            "description": "`order_not_payable` (not awaiting payment, or already paid), "
            "`payment_intent_changed` (a concurrent pay request chose another method), "
            "`too_many_payment_attempts`"
        },
        422: {"description": "Invalid body, or card data sent"},
        503: {
            "description": "`provider_not_configured` (that provider is not set up here, e.g. card; nothing is "
            "written, pay with another method) or `payment_provider_unavailable` (retry)"
        },
    })
def pay(order_id: OrderId, body: PayRequest) -> PaymentIntentView:
    caller = require_role(payments, Role.SHOPPER)
    from shared.payments import service

    return service.create_intent(order_id, caller.sub, body)


def _raw_body(event: dict[str, Any]) -> str:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body).decode("utf-8", errors="replace")
        except ValueError:
            return body
    return str(body)


def refuse_card_data(event: dict[str, Any]) -> dict[str, Any] | None:
    """A 422 reply if the raw body holds a card number or a card-secret field, else None.

    Checks the parsed JSON (field names like `cvv`, numbers in any value) AND the raw text (a PAN in a
    body that is not valid JSON). The reply names where, never what.
    """
    from shared.payments.card import contains_card_number, find_card_data

    text = _raw_body(event)
    if not text:
        return None
    try:
        reason = find_card_data(json.loads(text))
    except (ValueError, RecursionError):  # deep nesting or a 5,000-digit number: not JSON either
        reason = None  # not JSON: the raw-text check below still runs
    if reason is None and contains_card_number(text):
        reason = "card number in the request body"
    if reason is None:
        return None
    problem = {
        "type": "https://order24.dev/problems/card_data_refused",
        "title": "Card data refused",
        "status": 422,
        "code": "card_data_refused",
        "detail": f"Send a card provider token (tok_...), never card numbers or security codes ({reason}).",
    }
    return {
        "statusCode": 422,
        "headers": {"Content-Type": "application/problem+json"},
        "body": json.dumps(problem),
    }
