"""HTTP routes of after-sales cases, served by the api_orders function.

Why api_orders and not a new Lambda: cases are read and opened by the same callers as orders (the shopper, the
shop's merchant, ops), at after-sales volume (a small fraction of orders), with the same grants (the table, the
cursor secret); a new function would add a cold start and a deployment unit for no isolation gained. Items 3-8
(timers, refund execution, disputes) will run where their triggers are (the sweeper, queues, a Standard
workflow), not here.

`GET /after-sales/reasons` is public: the catalogue is static, names no one, and a shop page shows it before
anyone signs in (and a CDN may cache it).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from shared.aftersales import service, store
from shared.aftersales.models import REASONS, CaseId, CaseList, CasePage, CaseView, OpenCase, ReasonCatalogue
from shared.api.declaration import route
from shared.core.api import principal, require_role
from shared.core.errors import NotFound
from shared.core.roles import Role
from shared.core.types import OrderId
from shared.orders import store as orders

router = Router()


# POST /orders/{order_id}/after-sales
@route(router, "openAfterSalesCase", summary="Open an after-sales case on a paid order being fulfilled or done",
       responses={201: {"description": "The case (the same one for a retry with the same Idempotency-Key)"}})
def open_case(
    order_id: OrderId,
    body: OpenCase,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="8-64 chars, e.g. a UUID")
    ] = None,
) -> Response[CaseView]:
    caller = require_role(router, Role.SHOPPER)
    case = service.open_case(caller, order_id, idempotency_key, body)
    return Response(status_code=201, body=CaseView.of(case), content_type="application/json",
                    headers={"Location": f"/after-sales/{case.case_id}"})


# GET /orders/{order_id}/after-sales
@route(router, "listOrderAfterSalesCases", summary="An order's after-sales cases, oldest first")
def list_order_cases(order_id: OrderId) -> CaseList:
    caller = principal(router)
    order = orders.get(order_id)
    if order is None or not service.may_read(caller, order.shopper_id, order.shop_id):
        raise NotFound(f"No order {order_id!r}.", code="order_not_found")
    return CaseList(order_id=order_id, items=[CaseView.of(case) for case in store.for_order(order_id)])


# GET /after-sales/reasons
@route(router, "listAfterSalesReasons", summary="The reason codes a case may give, with labels and types")
def list_reasons() -> ReasonCatalogue:
    return ReasonCatalogue(reasons=list(REASONS))


# GET /after-sales/{case_id}
@route(router, "getAfterSalesCase", summary="One after-sales case with its status history")
def get_case(case_id: CaseId) -> CaseView:
    return CaseView.of(service.readable_case(principal(router), case_id))


# GET /me/after-sales
@route(router, "listMyAfterSalesCases", summary="Your after-sales cases, newest first")
def list_my_cases(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> CasePage:
    caller = require_role(router, Role.SHOPPER)
    found, next_cursor = store.for_shopper(caller.sub, cursor)
    return CasePage(items=[CaseView.of(case) for case in found], cursor=next_cursor)


# POST /after-sales/{case_id}/withdraw
@route(router, "withdrawAfterSalesCase", summary="Withdraw your case before the goods go back or money moves")
def withdraw_case(case_id: CaseId) -> CaseView:
    return CaseView.of(service.withdraw(require_role(router, Role.SHOPPER), case_id))
