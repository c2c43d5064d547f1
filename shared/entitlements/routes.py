"""GET /me/entitlements: the caller's membership, credit balance and ledger (their own, nothing else)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.declaration import route
from shared.core.api import principal
from shared.entitlements.models import Entitlements

router = Router()  # Powertools leaves __init__ unannotated


# GET /me/entitlements
@route(router, "getEntitlements", summary="Your membership, ad credit balance and entitlement ledger")
def my_entitlements() -> Entitlements:
    from shared.entitlements import service

    return service.summary(principal(router).sub)
