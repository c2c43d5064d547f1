"""HTTP routes of the merchant's after-sales decisions, served by the api_merchant function (its merchant
console); logic in shared/aftersales/decisions.py, loaded when a route runs (it reaches the payment providers).

Only the case's shop's merchant: any other caller's case id answers 404 `case_not_found`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared.aftersales.decision_models import RejectIn, ShopCasePage
from shared.aftersales.models import CaseId, CaseView
from shared.aftersales.states import CaseStatus
from shared.api.declaration import route
from shared.core.api import require_role
from shared.core.roles import Role

router = Router()


# GET /merchant/after-sales
@route(router, "listShopAfterSalesCases", summary="Your shop's after-sales cases, newest first")
def list_shop_cases(status: CaseStatus | None = None,
                    cursor: Annotated[str | None, Query(max_length=2048)] = None) -> ShopCasePage:
    from shared.aftersales import decisions

    caller = require_role(router, Role.MERCHANT)
    found, next_cursor = decisions.for_shop(caller.sub, cursor, status)
    return ShopCasePage(items=[CaseView.of(case) for case in found], cursor=next_cursor)


# POST /merchant/after-sales/{case_id}/approve
@route(router, "approveAfterSalesCase", summary="Agree to a case: refund it, or ask for the goods back first")
def approve_case(case_id: CaseId) -> CaseView:
    from shared.aftersales import decisions

    caller = require_role(router, Role.MERCHANT)
    return CaseView.of(decisions.decide(caller, case_id, approved=True, reason=None))


# POST /merchant/after-sales/{case_id}/reject
@route(router, "rejectAfterSalesCase",
       summary="Refuse a case with a reason (the shopper may dispute), or raise a problem with returned goods")
def reject_case(case_id: CaseId, body: RejectIn) -> CaseView:
    from shared.aftersales import decisions

    caller = require_role(router, Role.MERCHANT)
    return CaseView.of(decisions.decide(caller, case_id, approved=False, reason=body.reason))
