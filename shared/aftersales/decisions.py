"""The merchant's decisions on after-sales cases, and the waits that stand in for a silent party (issue 13 item 5).

Approve (the case's shop's merchant, `POST /merchant/after-sales/{case_id}/approve`, or the MERCHANT timer):
- REQUESTED refund_only -> REFUNDING: `refunding.start_refund` (grant + move in one transaction, then sent);
- REQUESTED return_and_refund -> `returns.await_return` (the shopper sends the goods back, item 4);
- RECEIVED (the goods are back) -> REFUNDING.
Reject (with a reason): REQUESTED -> REJECTED, arming the ESCALATE timer (the shopper has `escalate_seconds` to
dispute); RECEIVED -> DISPUTED (the merchant raises a problem with the returned goods: ops arbitrate,
shared/aftersales/disputes.py).

A retried decision answers the case as it is when the case is already where that decision leads (approve:
APPROVED ... REFUNDED; reject: REJECTED, DISPUTED); any other status answers 409 `not_awaiting_merchant`. A
case that changed between the read and the write (evidence added, a timer) is read again and decided again.

Timers (shared/aftersales/timers.py; each handler is idempotent and checks, on its consistent read, that the
case's timer is still its own and due, so a case that moved meanwhile is left alone):
- MERCHANT, armed at opening (`merchant_reply_seconds`) and on RECEIVED (`receipt_check_seconds`, by returns):
  a silent merchant is taken to agree, exactly as `approve` with the actor `system:merchant_timeout`;
- ESCALATE, armed by `reject`: a rejected case not disputed in time is closed (`store.close`, its units go back).

`GET /merchant/after-sales` reads the shop's cases newest first from the by_shop_day index (keys only, written
once at opening: `store.shop_index_values`), with a signed cursor and an optional status filter. The status is
not in the index key (a key that moved with the status would rewrite the index entry on every move), so a
filtered page is filtered after the read and may hold fewer than PAGE_SIZE cases while its cursor goes on.
"""

from __future__ import annotations

from datetime import datetime

from shared.aftersales import refunding, store, timers
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus, CaseType
from shared.aftersales.timers import CaseTimer
from shared.core import ddb, paging
from shared.core.auth import Principal
from shared.core.clock import iso
from shared.core.config import AfterSalesSettings, settings
from shared.core.errors import Conflict, NotFound, Unavailable

S = CaseStatus
MERCHANT_TIMEOUT = "system:merchant_timeout"
ESCALATION_TIMEOUT = "system:escalation_timeout"
AWAITING_MERCHANT = frozenset({S.REQUESTED, S.RECEIVED})
APPROVED_ALREADY = frozenset({S.APPROVED, S.AWAITING_RETURN, S.RETURN_IN_TRANSIT, S.REFUNDED})
REJECTED_ALREADY = frozenset({S.REJECTED, S.DISPUTED})
PAGE_SIZE = 20
FILTER_PAGES = 5  # index pages a filtered list reads at most before it answers (with a cursor)


def merchant_actor(caller: Principal) -> str:
    return f"merchant:{caller.sub}"


def shop_case(caller: Principal, case_id: str) -> Case:
    """The case, if it is the caller's shop's; 404 `case_not_found` otherwise (ids cannot be probed)."""
    case = store.get(case_id, consistent=True)
    if case is None or case.shop_id != caller.sub:
        raise NotFound(f"No after-sales case {case_id!r}.", code="case_not_found")
    return case


def _not_awaiting(case: Case, verb: str) -> Conflict:
    return Conflict(f"A case in {case.status.value} cannot be {verb} by the merchant.", code="not_awaiting_merchant",
                    current_status=case.status.value)


def _refund(case: Case, *, actor: str, reason: str) -> Case:
    try:
        return refunding.start_refund(case, actor=actor, reason=reason)
    except Unavailable:
        moved = store.get(case.case_id, consistent=True)
        if moved is not None and moved.status is S.REFUNDING:
            return moved  # granted and moved; the provider is down: the REFUND timer sends it again
        raise


def approve(case: Case, *, actor: str, reason: str) -> Case:
    """Agree to the case (see the module docstring); 409 `case_changed` if it moved since it was read."""
    if case.status is S.REQUESTED and case.type is CaseType.RETURN_AND_REFUND:
        # item 4's return leg, loaded only when a return is approved
        from shared.aftersales import returns

        awaiting: Case = returns.await_return(case, actor=actor, reason=reason)
        return awaiting
    if case.status in (S.REQUESTED, S.RECEIVED, S.REFUNDING):  # REFUNDING: a retry re-sends an unsent grant only
        return _refund(case, actor=actor, reason=reason)
    if case.status in APPROVED_ALREADY:
        return case
    raise _not_awaiting(case, "approved")


def reject(case: Case, *, actor: str, reason: str) -> Case:
    """Refuse the case (see the module docstring); 409 `case_changed` if it moved since it was read."""
    if case.status is S.REQUESTED:
        seconds = settings(AfterSalesSettings).escalate_seconds
        return store.transition(case, S.REJECTED, actor=actor, reason=reason,
                                set_fields=timers.due_in(CaseTimer.ESCALATE, case.case_id, seconds))
    if case.status is S.RECEIVED:
        from shared.aftersales import disputes

        return disputes.open_dispute(case, actor=actor, reason=reason)
    if case.status in REJECTED_ALREADY:
        return case
    raise _not_awaiting(case, "rejected")


def decide(caller: Principal, case_id: str, *, approved: bool, reason: str | None) -> Case:
    """The merchant's decision over HTTP: read, decide, write; a case that changed meanwhile is read again."""
    actor = merchant_actor(caller)
    for _ in ddb.contended():
        case = shop_case(caller, case_id)
        try:
            if approved:
                return approve(case, actor=actor, reason=reason or "approved_by_merchant")
            return reject(case, actor=actor, reason=reason or "rejected_by_merchant")
        except Conflict as conflict:
            if conflict.code != "case_changed":
                raise
    raise Conflict("The case kept changing; retry.", code="case_changed")


# ---------------------------------------------------------------- timers


def _timer_state(case: Case, kind: CaseTimer, moment: datetime) -> str:
    """'due' if the case's timer is `kind` and due at `moment`; 'later' if it is `kind` but re-armed for later;
    'moved' if the case holds another timer or none (it moved on, and its next wait is not ours)."""
    extra = case.model_extra or {}
    pk, sk = str(extra.get("GSI3PK", "")), str(extra.get("GSI3SK", ""))
    if not pk.startswith(timers.partition(kind, 0).rsplit("#", 1)[0] + "#"):
        return "moved"
    return "due" if sk.split("#", 1)[0] <= iso(moment) else "later"


def merchant_timed_out(case: Case, moment: datetime) -> str:
    """The MERCHANT timer: the merchant did not answer in time, so it is taken to agree (as `approve`)."""
    state = _timer_state(case, CaseTimer.MERCHANT, moment)
    if state != "due":
        return state
    if case.status not in AWAITING_MERCHANT:
        return "cleared" if store.clear_timer(case) else "raced"
    reason = "merchant_reply_timeout" if case.status is S.REQUESTED else "receipt_check_timeout"
    try:
        done = approve(case, actor=MERCHANT_TIMEOUT, reason=reason)
    except Conflict as conflict:
        if conflict.code == "case_changed":
            return "raced"  # the case moved meanwhile: its next read decides (the timer went with the move)
        return _blocked(case, conflict)
    return done.status.value.lower()


def _blocked(case: Case, conflict: Conflict) -> str:
    """The agreement cannot be carried out (e.g. 409 refund_exceeds_capture: the order's capture no longer
    covers the case): a person decides. The ops inbox gets it once and the timer stops, so no sweep retries it
    every minute; the case stays where it is, and the merchant or ops can still act on it."""
    from shared.ops import inbox

    inbox.record("refund_issue", f"{case.order_id}:{case.case_id}:merchant_timeout",
                 {"order_id": case.order_id, "case_id": case.case_id, "detail": conflict.code},
                 summary=f"case {case.case_id}: the merchant's timeout could not refund it ({conflict.code})")
    return "blocked" if store.clear_timer(case) else "raced"


def escalation_lapsed(case: Case, moment: datetime) -> str:
    """The ESCALATE timer: a rejected case the shopper did not dispute in time closes (units given back)."""
    state = _timer_state(case, CaseTimer.ESCALATE, moment)
    if state != "due":
        return state
    if case.status is not S.REJECTED:
        return "cleared" if store.clear_timer(case) else "raced"
    try:
        store.close(case, actor=ESCALATION_TIMEOUT, reason="not_disputed_in_time")
    except Conflict:
        return "raced"
    return "closed"


# ---------------------------------------------------------------- the shop's list


def for_shop(shop_id: str, cursor: str | None, status: CaseStatus | None) -> tuple[list[Case], str | None]:
    """The shop's cases, newest first, `status` only if given; a signed cursor bound to the shop and the filter."""
    listing = f"merchant-after-sales:{status.value if status else 'all'}"
    start = paging.decode(cursor, listing=listing, caller=shop_id, allowed_keys={"PK", "SK", "GSI2PK", "GSI2SK"})
    found: list[Case] = []
    for _ in range(FILTER_PAGES):
        items, start = ddb.index_page("by_shop_day", "GSI2PK", store.shop_partition(shop_id), start, PAGE_SIZE)
        found += [case for case in map(Case.from_item, items) if status is None or case.status is status]
        if start is None or len(found) >= PAGE_SIZE:
            break
    return found, paging.encode(start, listing=listing, caller=shop_id)
