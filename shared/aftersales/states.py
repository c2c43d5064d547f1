"""A case's types and statuses, and the one table of the moves a case may make (no I/O)."""

from __future__ import annotations

from enum import StrEnum

from shared.core.errors import Conflict


class CaseType(StrEnum):
    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_AND_REFUND = "return_and_refund"  # 退货退款 (physical goods only)


class CaseStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    AWAITING_RETURN = "AWAITING_RETURN"
    RETURN_IN_TRANSIT = "RETURN_IN_TRANSIT"
    RECEIVED = "RECEIVED"
    REFUNDING = "REFUNDING"
    REFUNDED = "REFUNDED"
    DISPUTED = "DISPUTED"
    CLOSED = "CLOSED"


C = CaseStatus

# Every move a case may make (items 3-6 of issue 13 implement them; today only opening writes a case):
# REQUESTED -> REFUNDING is a flash refund (no person), -> APPROVED / REJECTED the merchant (or the timeout that
# takes a silent merchant to agree), -> CLOSED the shopper withdrawing. RECEIVED -> DISPUTED is the merchant
# raising a problem with returned goods; REJECTED -> DISPUTED the shopper escalating; DISPUTED -> REFUNDING or
# CLOSED the ops arbitration. REFUNDED (the money is back) and CLOSED (ended without a refund, the units given
# back to the claim counters: `store.close`) are the final states.
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    C.REQUESTED: frozenset({C.APPROVED, C.REJECTED, C.REFUNDING, C.CLOSED}),
    C.APPROVED: frozenset({C.AWAITING_RETURN, C.REFUNDING, C.CLOSED}),
    C.AWAITING_RETURN: frozenset({C.RETURN_IN_TRANSIT, C.CLOSED}),
    C.RETURN_IN_TRANSIT: frozenset({C.RECEIVED, C.CLOSED}),
    C.RECEIVED: frozenset({C.REFUNDING, C.DISPUTED}),
    C.REJECTED: frozenset({C.DISPUTED, C.CLOSED}),
    C.DISPUTED: frozenset({C.REFUNDING, C.CLOSED}),
    C.REFUNDING: frozenset({C.REFUNDED}),
    C.REFUNDED: frozenset(),  # final: the money is back (shared/aftersales/refunding.py)
    C.CLOSED: frozenset(),
}
FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)


def check_move(current: CaseStatus, to: CaseStatus) -> None:
    if to not in TRANSITIONS[current]:
        raise Conflict(f"A case in {current.value} cannot become {to.value}.", code="illegal_case_transition",
                       current_status=current.value)
