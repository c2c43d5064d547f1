"""Case persistence: a case item beside its order, per-SKU claim counters, and the one transaction that opens a
case.

Items (single table):
  case     PK=`ORDER#<order_id>`, SK=`CASE#<case_id>`; by_shopper index: GSI1PK=`AFTERSALES#<shopper>`,
           GSI1SK=`<created_at>#<case_id>` (keys only, so a status change never rewrites the index entry);
           by_shop_day index: GSI2PK=`AFTERSALES_SHOP#<shop>`, GSI2SK=`<created_at>#<case_id>` (the same)
  claim    PK=`ORDER#<order_id>`, SK=`CLAIM#<sku>`: `claimed` (units in open or finished cases), `bought`

Opening a case is one TransactWriteItems: put the case (`attribute_not_exists(PK)`: the id is derived from the
Idempotency-Key, so a retry is a failed put), check the order is still in a stage that takes cases, and for each
line set the claim counter from the `c` read to `c + q`, conditional on it still being `c`. Two concurrent opens
for the same SKU cannot both pass that condition, and `c + q <= bought` was checked against the `c` written, so
the claimed units never exceed the units bought. The loser re-reads and decides again (`service.open_case`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from shared.aftersales import events
from shared.aftersales.models import Case
from shared.aftersales.states import CaseStatus, check_move
from shared.core import aws, ddb, paging
from shared.core.clock import now_iso
from shared.core.errors import Conflict
from shared.orders.models import OrderStatus
from shared.orders.store import order_key, order_pk

PAGE_SIZE = 20
CASE_PREFIX = "CASE#"
CLAIM_PREFIX = "CLAIM#"
_SHOPPER_LISTING = "after-sales"


def case_id_for(shopper_id: str, order_id: str, idempotency_key: str) -> str:
    """`a` + the order id's 26 characters + 8 from the key's hash: a retry lands on the same case, and the id
    names its order, so `GET /after-sales/{case_id}` is one GetItem without an index."""
    digest = hashlib.sha256(f"{shopper_id}:{order_id}:{idempotency_key}".encode()).digest()
    return "a" + order_id[1:] + base64.b32encode(digest).decode().lower()[:8]


def order_id_of(case_id: str) -> str:
    return "o" + case_id[1:27]


def case_key(case_id: str) -> dict[str, Any]:
    return ddb.key(order_pk(order_id_of(case_id)), CASE_PREFIX + case_id)


def case_key_values(order_id: str, case_id: str) -> dict[str, str]:
    return {"PK": order_pk(order_id), "SK": CASE_PREFIX + case_id}


def shopper_index_values(shopper_id: str, created_at: str, case_id: str) -> dict[str, str]:
    return {"GSI1PK": f"AFTERSALES#{shopper_id}", "GSI1SK": f"{created_at}#{case_id}"}


def shop_partition(shop_id: str) -> str:
    return f"AFTERSALES_SHOP#{shop_id}"


def shop_index_values(shop_id: str, created_at: str, case_id: str) -> dict[str, str]:
    """The by_shop_day index entry of a case (keys only, written once at opening): the shop's cases, newest first
    (`GET /merchant/after-sales`, shared/aftersales/decisions.py)."""
    return {"GSI2PK": shop_partition(shop_id), "GSI2SK": f"{created_at}#{case_id}"}


def get(case_id: str, *, consistent: bool = False) -> Case | None:
    item = ddb.get(order_pk(order_id_of(case_id)), CASE_PREFIX + case_id, consistent=consistent)
    return Case.from_item(item) if item is not None else None


def get_many(case_ids: list[str], *, consistent: bool = False) -> dict[str, Case]:
    """Cases by id, one BatchGetItem per 100 (missing ones are absent)."""
    found = ddb.batch_get([case_key(case_id) for case_id in case_ids], consistent=consistent)
    return {case.case_id: case for case in map(Case.from_item, found)}


def _partition(order_id: str, prefix: str) -> list[dict[str, Any]]:
    request: dict[str, Any] = {
        "TableName": ddb.table(), "ConsistentRead": True,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": ddb.values(pk=order_pk(order_id), prefix=prefix),
    }
    items: list[dict[str, Any]] = []
    while True:
        reply = ddb.dynamodb().query(**request)
        items += [ddb.from_item(item) for item in reply.get("Items", [])]
        if "LastEvaluatedKey" not in reply:
            return items
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def for_order(order_id: str) -> list[Case]:
    """The order's cases, oldest first."""
    return sorted(map(Case.from_item, _partition(order_id, CASE_PREFIX)), key=lambda case: case.created_at)


def claims(order_id: str) -> dict[str, int]:
    """Units claimed per SKU by the order's cases (consistent: the counts the next write conditions on)."""
    return {str(item["SK"])[len(CLAIM_PREFIX):]: int(item["claimed"]) for item in _partition(order_id, CLAIM_PREFIX)}


def for_shopper(shopper_id: str, cursor: str | None) -> tuple[list[Case], str | None]:
    start = paging.decode(cursor, listing=_SHOPPER_LISTING, caller=shopper_id,
                          allowed_keys={"PK", "SK", "GSI1PK", "GSI1SK"})
    items, last = ddb.index_page("by_shopper", "GSI1PK", f"AFTERSALES#{shopper_id}", start, PAGE_SIZE)
    return [Case.from_item(item) for item in items], paging.encode(last, listing=_SHOPPER_LISTING,
                                                                   caller=shopper_id)


class CaseExists(Exception):
    """The case id is taken: a retry of the same request, or the key reused with another body."""


class OrderMoved(Exception):
    """The order left the stages that take cases (or is not the shopper's) since it was read."""


class ClaimRaced(Exception):
    """Another case claimed units of one of these SKUs since the counts were read: read again and decide."""


def _claim_update(order_id: str, sku: str, before: int, quantity: int, bought: int, at: str) -> dict[str, Any]:
    # a counter at 0 is absent (never claimed) or given back by a closed case (`close`)
    condition = "attribute_not_exists(claimed) OR claimed = :before" if before == 0 else "claimed = :before"
    values = ddb.values(after=before + quantity, bought=bought, at=at, before=before)
    return {"Update": {
        "TableName": ddb.table(), "Key": ddb.key(order_pk(order_id), CLAIM_PREFIX + sku),
        "UpdateExpression": "SET claimed = :after, bought = :bought, updated_at = :at",
        "ConditionExpression": condition, "ExpressionAttributeValues": values,
    }}


def put_new(case: Case, claimed_before: dict[str, int], bought: dict[str, int],
            stages: frozenset[OrderStatus]) -> None:
    """Open `case` in one transaction (see the module docstring); raises CaseExists, OrderMoved or ClaimRaced."""
    statuses = sorted(status.value for status in stages)
    stage_values = {f":s{i}": ddb.to_attr(status) for i, status in enumerate(statuses)}
    items: list[dict[str, Any]] = [
        {"Put": {"TableName": ddb.table(), "Item": case.to_ddb(), "ConditionExpression": "attribute_not_exists(PK)"}},
        {"ConditionCheck": {
            "TableName": ddb.table(), "Key": order_key(case.order_id),
            "ConditionExpression": f"#status IN ({', '.join(stage_values)}) AND shopper_id = :shopper",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {**stage_values, **ddb.values(shopper=case.shopper_id)},
        }},
        *(_claim_update(case.order_id, line.sku, claimed_before.get(line.sku, 0), line.quantity, bought[line.sku],
                        case.created_at) for line in case.lines),
    ]
    try:
        ddb.transact_write(items)
    except aws.ClientError as error:
        codes = ddb.cancellation_codes(error)
        if not codes:
            raise
        if codes[0] == "ConditionalCheckFailed":
            raise CaseExists from None
        if codes[1] == "ConditionalCheckFailed":
            raise OrderMoved from None
        raise ClaimRaced from None  # a claim's condition, or a conflict with another transaction on an item


def transition_update(case: Case, to: CaseStatus, *, actor: str, reason: str | None = None,
                      set_fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Update request (alone or inside TransactWriteItems, e.g. beside a refund grant or a claim release)
    for one legal move of a case: checked against `states.TRANSITIONS`, its `status_changed` entry built by its
    one constructor and appended in the same write, conditional on the status and version read."""
    check_move(case.status, to)
    at = now_iso()
    entry = events.status_changed(from_status=case.status, to_status=to, actor=actor, reason=reason, at=at)
    fields: dict[str, Any] = {"status": to.value, "updated_at": at, **(set_fields or {})}
    names = {f"#f{i}": name for i, name in enumerate(fields)} | {"#status": "status", "#version": "version"}
    values = {f":v{i}": ddb.to_attr(value) for i, value in enumerate(fields.values())}
    values |= ddb.values(one=1, entry=[entry.to_item()], read_status=case.status.value, read_version=case.version)
    assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
    # a case's timer belongs to its status (shared/aftersales/timers.py): a move drops it unless it sets the next
    drop_timer = "" if "GSI3PK" in fields else " REMOVE GSI3PK, GSI3SK"
    return {
        "TableName": ddb.table(), "Key": case_key(case.case_id),
        "UpdateExpression": f"SET {assignments}, #version = #version + :one, events = list_append(events, :entry)"
                            + drop_timer,
        "ConditionExpression": "#status = :read_status AND #version = :read_version",
        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
    }


def transition(case: Case, to: CaseStatus, *, actor: str, reason: str | None = None,
               set_fields: dict[str, Any] | None = None) -> Case:
    """Apply one move; a lost race answers 409 `case_changed` with the status the case has now."""
    try:
        reply = ddb.dynamodb().update_item(**transition_update(case, to, actor=actor, reason=reason,
                                                               set_fields=set_fields),
                                           ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        current = ddb.failed_item(error)
        status = str(current["status"]) if current else "unknown"
        raise Conflict(f"The case changed meanwhile; it is now {status}.", code="case_changed",
                       current_status=status) from None
    return Case.from_item(ddb.from_item(reply["Attributes"]))


def move_timer(case: Case, due: dict[str, str]) -> bool:
    """Re-arm the case's timer (`timers.due_fields`) if it is still at the status and version read; not a state
    change, so the version stays. False when the case moved on meanwhile."""
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=case_key(case.case_id), UpdateExpression="SET GSI3PK = :pk, GSI3SK = :sk",
            ConditionExpression="#status = :status AND #version = :version",
            ExpressionAttributeNames={"#status": "status", "#version": "version"},
            ExpressionAttributeValues=ddb.values(pk=due["GSI3PK"], sk=due["GSI3SK"], status=case.status.value,
                                                 version=case.version),
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise
    return True


def clear_timer(case: Case) -> bool:
    """Drop the case's timer if it is still at the version read (its wait is over without a move)."""
    try:
        ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=case_key(case.case_id), UpdateExpression="REMOVE GSI3PK, GSI3SK",
            ConditionExpression="#version = :version", ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues=ddb.values(version=case.version),
        )
    except aws.ClientError as error:
        if ddb.is_conditional_failure(error):
            return False
        raise
    return True


def _release_claim(order_id: str, sku: str, quantity: int, at: str) -> dict[str, Any]:
    return {"Update": {
        "TableName": ddb.table(), "Key": ddb.key(order_pk(order_id), CLAIM_PREFIX + sku),
        "UpdateExpression": "SET claimed = claimed - :q, updated_at = :at",
        "ConditionExpression": "claimed >= :q", "ExpressionAttributeValues": ddb.values(q=quantity, at=at),
    }}


def close(case: Case, *, actor: str, reason: str, also: list[dict[str, Any]] | None = None) -> Case:
    """Move the case to CLOSED without a refund and give its units back to the claim counters in the same
    transaction, so the shopper may ask again for them; `also` joins more writes to it. A lost race answers 409
    `case_changed` with the status the case has now."""
    from shared.aftersales.states import CaseStatus as S

    refunded = case.status in (S.REFUNDING, S.REFUNDED)  # money went out: the units stay claimed
    at = now_iso()
    items: list[dict[str, Any]] = [
        {"Update": transition_update(case, S.CLOSED, actor=actor, reason=reason,
                                     set_fields=None if refunded else {"claims_released": True})},
        *([] if refunded else [_release_claim(case.order_id, line.sku, line.quantity, at) for line in case.lines]),
        *(also or []),
    ]
    try:
        ddb.transact_write(items)
    except aws.ClientError as error:
        if not ddb.cancellation_codes(error):
            raise
        current = get(case.case_id, consistent=True)
        status = current.status.value if current else "unknown"
        raise Conflict(f"The case changed meanwhile; it is now {status}.", code="case_changed",
                       current_status=status) from None
    closed = get(case.case_id, consistent=True)
    assert closed is not None
    return closed
