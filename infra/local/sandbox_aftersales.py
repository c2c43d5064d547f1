"""Local only: the after-sales stand-ins the fault and storm runs drive, and the sandbox provider's refund book.

* `POST /sandbox/after-sales/{case_id}?action=refund|close` plays the party whose route is not there yet: `refund`
  is the merchant (or the arbiter) agreeing, `shared.aftersales.refunding.start_refund` (idempotent: a case
  already refunding only has its grant re-sent if it was never accepted); `close` is the shopper withdrawing,
  `shared.aftersales.store.close` (the units go back to the claim counters). Answers the case as the API shows
  it, or the problem the domain raised (409 `illegal_case_transition`, `case_changed`, ...).
* `GET /sandbox/refunds` answers what the sandbox provider was asked to refund: `{"calls": {"<api>":
  {"<out_refund_no>": n}}}` (api: wechatpay.refund, alipay.refund, card.refund), so a test counts one provider
  refund per grant.

Never deployed (infra/local/sandbox_routes.py); the same process as every handler, so the provider's book is the
one `shared.sandbox.payments.SandboxHttpClient` keeps.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from infra.local.sandbox_payments import _problem

ACTIONS = ("refund", "close")
REFUND_APIS = ("wechatpay.refund", "alipay.refund", "card.refund")


def _json(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def refund_calls() -> dict[str, dict[str, int]]:
    """The sandbox provider's refund calls per API and refund number (the process's book, since it started)."""
    from shared.sandbox.payments import SandboxHttpClient

    counts: dict[str, Counter[str]] = {api: Counter() for api in REFUND_APIS}
    for api, reference in list(SandboxHttpClient.calls):
        if api in counts:
            counts[api][reference] += 1
    return {api: dict(found) for api, found in counts.items()}


def act(case_id: str, action: str) -> dict[str, Any]:
    from shared.aftersales import refunding, store
    from shared.aftersales.models import CaseView
    from shared.core.errors import DomainError

    case = store.get(case_id, consistent=True)
    if case is None:
        return _problem(404, "case_not_found", f"No after-sales case {case_id!r}.")
    try:
        if action == "refund":
            case = refunding.start_refund(case, actor="sandbox:merchant", reason="sandbox_approved")
        else:
            case = store.close(case, actor=f"shopper:{case.shopper_id}", reason="withdrawn")
    except DomainError as error:
        return _problem(error.status, error.code, error.detail)
    return _json(200, CaseView.of(case).model_dump(mode="json"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = str(event.get("rawPath", ""))
    if path.endswith("/sandbox/refunds"):
        return _json(200, {"calls": refund_calls()})
    case_id = (event.get("pathParameters") or {}).get("case_id") or path.rsplit("/", 1)[-1]
    action = (event.get("queryStringParameters") or {}).get("action", "")
    if action not in ACTIONS:
        return _problem(422, "validation_failed", "Use ?action=refund|close.")
    return act(case_id, action)
