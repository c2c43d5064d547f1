"""Disputes and ops arbitration (issue 13 item 6).

A case becomes DISPUTED when the shopper escalates a rejection (`dispute`, within `escalate_seconds` of it) or
when the merchant raises a problem with returned goods (`decisions.reject` on RECEIVED). Both sides add
evidence while the case is open (`add_evidence`: text plus image references, bounded, one history entry each).

The ops queue: a DISPUTED case carries a sparse entry in the keys-only by_due index, GSI3PK=`AFTERSALES_DISPUTES`,
GSI3SK=`<disputed_at>#<case_id>`, written by the move to DISPUTED and dropped by the move out of it (a case move
drops the case's GSI3 keys unless it sets the next ones, shared/aftersales/store.py; DISPUTED has no timer, so
the slot is free). `GET /ops/disputes` reads it oldest first. One partition: disputes are a few per cent of
cases, which are a few per cent of orders, and they arrive spread over days after the sale; each dispute costs
two index writes (in, out), so even 150k orders/s at peak would put well under one hundred writes a second on
it, against 1,000 a partition takes; the order timers' partitions are sharded because they take every order.

Arbitration: an arbiter claims the dispute (`claim`: a lease on the case, shared/core/lease.py, as reviewers
claim orders) and decides under it (`decide`): full refund, partial refund (`amount_fen`), or rejection
(`store.close`). The claim bumps the case's version, and the decision's writes (refunding.start_refund,
store.close) are conditional on the status and version read, with the lease checked on that read (the `guard`
start_refund calls on every read): a claim by someone else after the read makes the decision's write fail, and
the next read refuses it (409 `claimed_by_other` / `lease_required`). The decision is the history entry of the
move out of DISPUTED, with the actor `ops:<sub>` and the outcome in its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.aftersales import events, refunding, store
from shared.aftersales.decision_models import MAX_EVIDENCE, ClaimView, DecisionIn, EvidenceIn
from shared.aftersales.models import Case, Evidence
from shared.aftersales.states import FINAL, CaseStatus
from shared.core import aws, clock, ddb, lease, paging
from shared.core.auth import Principal
from shared.core.clock import now, now_iso, parse_iso
from shared.core.config import AfterSalesSettings, settings
from shared.core.errors import Conflict, NotFound, Unavailable, Unprocessable
from shared.core.roles import Role

S = CaseStatus
QUEUE_PK = "AFTERSALES_DISPUTES"
PAGE_SIZE = 20
_LISTING = "ops-disputes"

# ---------------------------------------------------------------- escalation


def queue_entry(case_id: str, at: str) -> dict[str, str]:
    return {"GSI3PK": QUEUE_PK, "GSI3SK": f"{at}#{case_id}"}


def open_dispute(case: Case, *, actor: str, reason: str) -> Case:
    """Move the case to DISPUTED with its queue entry (one conditional write); 409 `case_changed` on a race."""
    at = now_iso()
    return store.transition(case, S.DISPUTED, actor=actor, reason=reason,
                            set_fields={**queue_entry(case.case_id, at), "disputed_at": at})


def _rejected_at(case: Case) -> datetime:
    for event in reversed(case.events):
        if isinstance(event, events.StatusChanged) and event.to_status is S.REJECTED:
            return parse_iso(event.at)
    return parse_iso(case.updated_at)


def dispute(caller: Principal, case_id: str, reason: str) -> Case:
    """The shopper escalates a rejection (REJECTED -> DISPUTED) within `escalate_seconds` of it; a retry answers
    the disputed case. 404 for anyone but the case's shopper, 409 `not_disputable` / `dispute_window_closed`."""
    for _ in ddb.contended():
        case = store.get(case_id, consistent=True)
        if case is None or case.shopper_id != caller.sub:
            raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
        if case.status is S.DISPUTED:
            return case
        if case.status is not S.REJECTED:
            raise Conflict(f"Only a rejected case can be disputed; this one is {case.status.value}.",
                           code="not_disputable", current_status=case.status.value)
        closes = _rejected_at(case).timestamp() + settings(AfterSalesSettings).escalate_seconds
        if now().timestamp() >= closes:
            raise Conflict("The time to dispute this rejection has passed.", code="dispute_window_closed",
                           current_status=case.status.value)
        try:
            return open_dispute(case, actor=f"shopper:{caller.sub}", reason=reason)
        except Conflict as conflict:
            if conflict.code != "case_changed":
                raise
    raise Conflict("The case kept changing; retry.", code="case_changed")


# ---------------------------------------------------------------- evidence


def _party(caller: Principal, case: Case) -> str | None:
    if case.shopper_id == caller.sub:
        return f"shopper:{caller.sub}"
    if caller.has(Role.MERCHANT) and case.shop_id == caller.sub:
        return f"merchant:{caller.sub}"
    return None


def add_evidence(caller: Principal, case_id: str, body: EvidenceIn) -> Case:
    """Append one entry to the case's evidence and its history (one write, conditional on the status and version
    read and on the count). The shopper or the shop's merchant (404 for anyone else), while the case is open
    (409 `case_finished`), at most MAX_EVIDENCE entries (409 `evidence_limit`)."""
    for _ in ddb.contended():
        case = store.get(case_id, consistent=True)
        actor = _party(caller, case) if case is not None else None
        if case is None or actor is None:
            raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
        if case.status in FINAL:
            raise Conflict(f"The case is {case.status.value}; it takes no more evidence.", code="case_finished",
                           current_status=case.status.value)
        held = len(case.evidence or [])
        if held >= MAX_EVIDENCE:
            raise Conflict(f"A case holds at most {MAX_EVIDENCE} evidence entries.", code="evidence_limit",
                           limit=MAX_EVIDENCE)
        at = now_iso()
        entry = Evidence(at=at, actor=actor, text=body.text, images=list(body.images))
        event = events.evidence_added(actor=actor, status=case.status, entry=held, images=len(body.images), at=at)
        try:
            reply = ddb.dynamodb().update_item(
                TableName=ddb.table(), Key=store.case_key(case.case_id),
                UpdateExpression="SET evidence = list_append(if_not_exists(evidence, :none), :entry), "
                                 "events = list_append(events, :event), updated_at = :at, #version = #version + :one",
                ConditionExpression="#status = :status AND #version = :version",
                ExpressionAttributeNames={"#status": "status", "#version": "version"},
                ExpressionAttributeValues=ddb.values(
                    none=[], entry=[entry.model_dump(mode="json")], event=[event.to_item()], at=at, one=1,
                    status=case.status.value, version=case.version),
                ReturnValues="ALL_NEW",
            )
        except aws.ClientError as error:
            if ddb.is_conditional_failure(error):
                continue  # the case moved or another entry landed: read again
            raise
        return Case.from_item(ddb.from_item(reply["Attributes"]))
    raise Conflict("The case kept changing; retry.", code="case_changed")


# ---------------------------------------------------------------- the ops queue and arbitration


def open_disputes(viewer: str, cursor: str | None) -> tuple[list[Case], str | None]:
    """Open disputes, oldest first (the queue entry exists only while a case is DISPUTED)."""
    start = paging.decode(cursor, listing=_LISTING, caller=viewer, allowed_keys={"PK", "SK", "GSI3PK", "GSI3SK"})
    items, last = ddb.index_page("by_due", "GSI3PK", QUEUE_PK, start, PAGE_SIZE, oldest_first=True)
    found = [case for case in map(Case.from_item, items) if case.status is S.DISPUTED]  # the index may lag
    return found, paging.encode(last, listing=_LISTING, caller=viewer)


def lease_seconds() -> int:
    return settings(AfterSalesSettings).dispute_lease_seconds


def _disputed(case_id: str) -> Case:
    case = store.get(case_id, consistent=True)
    if case is None:
        raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
    return case


def _not_disputed(case: Case) -> Conflict:
    return Conflict(f"The case is not in dispute; it is {case.status.value}.", code="not_in_dispute",
                    current_status=case.status.value)


def claim(case_id: str, arbiter: str, *, moment: datetime | None = None) -> ClaimView:
    """Take (or renew) the lease on a dispute: one conditional write, which bumps the version (module docstring)."""
    moment = moment or now()
    at = clock.iso(moment)
    taken = lease.grant(arbiter, moment, lease_seconds())
    names = {"#status": "status", "#version": "version", "#claim": "dispute_claim"}
    values: dict[str, Any] = ddb.values(lease=taken, disputed=S.DISPUTED.value, one=1)
    free = lease.claimable("#claim", names, values, arbiter, at)
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=store.case_key(case_id),
            UpdateExpression="SET #claim = :lease, #version = #version + :one",
            ConditionExpression=f"#status = :disputed AND {free}",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        )
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        case = _disputed(case_id)
        if case.status is not S.DISPUTED:
            raise _not_disputed(case) from None
        refused = lease.refusal(case.dispute_claim, arbiter, at, claiming=True, who="arbiter", what="dispute")
        raise refused or Conflict("The case changed meanwhile; retry.", code="case_changed") from None
    return ClaimView.model_validate({"case_id": case_id, "claimed_by": arbiter, "claim_expires_at": taken["until"]})


def _decided_by(case: Case, actor: str) -> bool:
    """Whether `actor` made the move out of DISPUTED (a case is disputed at most once: no move leads back)."""
    return any(isinstance(event, events.StatusChanged) and event.from_status is S.DISPUTED and event.actor == actor
               for event in case.events)


def _guard(arbiter: str) -> Callable[[Case], None]:
    """The check a decision's every read must pass: still DISPUTED (else re-read and answer from there), and the
    arbiter's live lease."""

    def check(case: Case) -> None:
        if case.status is not S.DISPUTED:
            raise Conflict("The case changed meanwhile.", code="case_changed", current_status=case.status.value)
        refused = lease.refusal(case.dispute_claim, arbiter, now_iso(), claiming=False, who="arbiter",
                                what="dispute")
        if refused is not None:
            raise refused

    return check


def decide(case_id: str, arbiter: str, body: DecisionIn) -> Case:
    """Decide a dispute under the caller's live lease: full or partial refund, or rejection (module docstring).
    A retry by the same arbiter answers the decided case; 409 `already_decided` for anyone else."""
    actor = f"ops:{arbiter}"
    if (body.outcome == "partial_refund") != (body.amount_fen is not None):
        raise Unprocessable("amount_fen is given with partial_refund, and only then.", code="invalid_refund_amount")
    check = _guard(arbiter)
    for _ in ddb.contended():
        case = _disputed(case_id)
        if case.status is not S.DISPUTED:
            if _decided_by(case, actor):
                return refunding.execute(case, actor=actor) if case.status is S.REFUNDING else case
            if case.status in FINAL or case.status is S.REFUNDING:
                raise Conflict("This dispute has been decided.", code="already_decided",
                               current_status=case.status.value)
            raise _not_disputed(case)
        check(case)
        if body.amount_fen is not None and body.amount_fen >= case.refund_total_fen:
            raise Unprocessable(f"A partial refund is less than the case's {case.refund_total_fen} fen.",
                                code="invalid_refund_amount", maximum_fen=case.refund_total_fen - 1)
        amount = f" {body.amount_fen} fen" if body.amount_fen is not None else ""
        reason = f"{body.outcome}{amount}: {body.reason}"
        try:
            if body.outcome == "reject":
                return store.close(case, actor=actor, reason=reason)
            return refunding.start_refund(case, actor=actor, reason=reason, amount_fen=body.amount_fen, guard=check)
        except Unavailable:
            moved = store.get(case_id, consistent=True)
            if moved is not None and moved.status is S.REFUNDING:
                return moved  # granted; the REFUND timer sends it again
            raise
        except Conflict as conflict:
            if conflict.code != "case_changed":
                raise
    raise Conflict("The case kept changing; retry.", code="case_changed")
