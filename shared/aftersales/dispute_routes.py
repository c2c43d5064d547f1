"""HTTP routes of disputes; logic in shared/aftersales/disputes.py, loaded when a route runs.

- `parties` (api_orders, beside the other case routes): the shopper disputes a rejection; the shopper or the
  shop's merchant adds evidence. Anyone else's case id answers 404.
- `ops` (api_ops): the open disputes oldest first, a claim (lease), and the decision under it.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared.aftersales.decision_models import ClaimView, DecisionIn, DisputeIn, DisputePage, DisputeView, EvidenceIn
from shared.aftersales.models import CaseId, CaseView
from shared.api.declaration import route
from shared.core.api import principal, require_role
from shared.core.clock import now_iso
from shared.core.roles import Role

parties = Router()
ops = Router()


# POST /after-sales/{case_id}/dispute
@route(parties, "disputeAfterSalesCase", summary="Escalate a rejected case to the platform (within 7 days)")
def dispute_case(case_id: CaseId, body: DisputeIn) -> CaseView:
    from shared.aftersales import disputes

    caller = require_role(parties, Role.SHOPPER)
    return CaseView.of(disputes.dispute(caller, case_id, body.reason))


# POST /after-sales/{case_id}/evidence
@route(parties, "addAfterSalesEvidence", summary="Add evidence to a case: text and image references",
       responses={201: {"description": "The case with the entry added"}})
def add_evidence(case_id: CaseId, body: EvidenceIn) -> tuple[CaseView, int]:
    from shared.aftersales import disputes

    return CaseView.of(disputes.add_evidence(principal(parties), case_id, body)), 201


# GET /ops/disputes
@route(ops, "listOpsDisputes", summary="Open disputes, oldest first, with who holds each")
def list_disputes(cursor: Annotated[str | None, Query(max_length=2048)] = None) -> DisputePage:
    from shared.aftersales import disputes

    caller = require_role(ops, Role.OPS)
    found, next_cursor = disputes.open_disputes(caller.sub, cursor)
    at = now_iso()
    return DisputePage(items=[DisputeView.of_dispute(case, at) for case in found], cursor=next_cursor)


# POST /ops/disputes/{case_id}/claim
@route(ops, "claimDispute", summary="Take (or renew) the lease on a dispute before deciding it")
def claim_dispute(case_id: CaseId) -> ClaimView:
    from shared.aftersales import disputes

    return disputes.claim(case_id, require_role(ops, Role.OPS).sub)


# POST /ops/disputes/{case_id}/decide
@route(ops, "decideDispute", summary="Decide a dispute you hold: full refund, partial refund, or rejection")
def decide_dispute(case_id: CaseId, body: DecisionIn) -> CaseView:
    from shared.aftersales import disputes

    return CaseView.of(disputes.decide(case_id, require_role(ops, Role.OPS).sub, body))
