"""Case timers, kept in DynamoDB: the after-sales waits (a merchant's 48 hours, a shopper's 7 days to send a
return or to dispute, a refund not settled yet) as sparse keys on the case item, run by the sweeper.

Why timers in DynamoDB and not a Standard workflow with task tokens: a case waits days and moves a few times,
and the waits are the only thing a workflow would add. The order's timers already live in the sparse, sharded
`by_due` index and the sweeper already reads it every minute, so a case timer is two attributes written in the
same conditional write that moves the case (no extra request) and costs nothing while it waits; a Standard
execution per case would cost state transitions, a start and a callback per wait, and a second source of truth
for the case's state. Costs per 1,000 cases are in docs/aftersales.md.

A case holds at most one timer, and it belongs to the status: `store.transition_update` removes it on every
move unless the move sets the next one (`due_in`). Keys: GSI3PK=`DUE#CASE_<KIND>#<shard>`,
GSI3SK=`<due>#<case_id>`, sharded by the order id like the order timers.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.aftersales.models import Case
from shared.core import ddb
from shared.core.clock import iso, now
from shared.orders import logic as order_logic

logger = logging.getLogger("order24.aftersales.timers")


class CaseTimer(StrEnum):
    MERCHANT = "MERCHANT"  # REQUESTED or RECEIVED: the merchant's time ran out, it is taken to agree
    RETURN_SHIP = "RETURN_SHIP"  # AWAITING_RETURN: the goods were not sent back in time, the case closes
    ESCALATE = "ESCALATE"  # REJECTED: the shopper did not dispute in time, the case closes
    REFUND = "REFUND"  # REFUNDING: the grant is not settled yet, send it again or confirm it


# Timer kind -> "module:function(case, moment) -> outcome", resolved when due, so the sweeper imports only what
# runs. The one list of what each wait does.
HANDLERS: dict[CaseTimer, str] = {
    CaseTimer.MERCHANT: "shared.aftersales.decisions:merchant_timed_out",
    CaseTimer.RETURN_SHIP: "shared.aftersales.returns:return_not_sent",
    CaseTimer.ESCALATE: "shared.aftersales.decisions:escalation_lapsed",
    CaseTimer.REFUND: "shared.aftersales.refunding:resume",
}
PAGE = 100


def partition(kind: CaseTimer, shard: int) -> str:
    return f"DUE#CASE_{kind.value}#{shard:02d}"


def due_fields(kind: CaseTimer, case_id: str, at: datetime) -> dict[str, str]:
    """The two attributes that arm `kind` on the case, due at `at`: pass them in a move's `set_fields`."""
    from shared.aftersales.store import order_id_of

    return {"GSI3PK": partition(kind, order_logic.shard_of(order_id_of(case_id))), "GSI3SK": f"{iso(at)}#{case_id}"}


def due_in(kind: CaseTimer, case_id: str, seconds: float, *, start: datetime | None = None) -> dict[str, str]:
    return due_fields(kind, case_id, (start or now()) + timedelta(seconds=seconds))


def handler(kind: CaseTimer) -> Callable[[Case, datetime], str]:
    module, name = HANDLERS[kind].split(":")
    found: Callable[[Case, datetime], str] = getattr(importlib.import_module(module), name)
    return found


def query_due_page(kind: CaseTimer, shard: int, before_iso: str, *, limit: int = PAGE,
                   start: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any] | None]:
    """One page of case ids whose `kind` timer is due (keys-only index), and where to continue."""
    request: dict[str, Any] = {
        "TableName": ddb.table(), "IndexName": "by_due", "Limit": limit,
        "KeyConditionExpression": "GSI3PK = :pk AND GSI3SK < :before",
        "ExpressionAttributeValues": ddb.values(pk=partition(kind, shard), before=before_iso),
    }
    if start:
        request["ExclusiveStartKey"] = start
    reply = ddb.dynamodb().query(**request)
    ids = [item["GSI3SK"]["S"].rsplit("#", 1)[1] for item in reply.get("Items", [])]
    return ids, reply.get("LastEvaluatedKey")


def run_one(kind: CaseTimer, case: Case | None, moment: datetime) -> str:
    """One due timer's action, as `case_<kind>_<outcome>`; an exception is logged and counted, never raised
    (the timer stays, so the next sweep tries again)."""
    label = f"case_{kind.value.lower()}"
    if case is None:
        return f"{label}_missing"
    try:
        return f"{label}_{handler(kind)(case, moment)}"
    except Exception:
        logger.exception("case timer failed", extra={"case_id": case.case_id, "kind": kind.value})
        return f"{label}_error"


def sweep(moment: datetime | None = None, *, budget_s: float = 20.0,
          kinds: tuple[CaseTimer, ...] = tuple(CaseTimer)) -> Counter[str]:
    """Run every due case timer once (after-sales volume: one thread, pages of 100, a consistent batch read)."""
    from shared.aftersales import store

    moment = moment or now()
    before = iso(moment + timedelta(milliseconds=1))
    deadline = time.monotonic() + budget_s
    outcomes: Counter[str] = Counter()
    for kind in kinds:
        for shard in range(order_logic.DUE_SHARDS):
            start: dict[str, Any] | None = None
            while time.monotonic() < deadline:
                ids, start = query_due_page(kind, shard, before, start=start)
                found = store.get_many(ids, consistent=True) if ids else {}
                outcomes.update(run_one(kind, found.get(case_id), moment) for case_id in ids)
                if start is None:
                    break
    return outcomes
