"""The checkout `Risk` step: score the order, record it, persist the assessment, enforce the decision.

Input `{"order_id", "version"}`; output `{"order_id", "version", "status", "risk_decision"}` where
`version` is the order's version after this step (Reserve ignores it; MarkFailed's conditional write needs
the current one). The workflow's RiskGate ends the execution when `status` is not PLACED.

Writes per order: the risk store (history + one velocity counter per present dimension) and ONE write to
the order: `risk` set with a `risk_checked` event (ACCEPT/REVIEW), or the REJECTED transition carrying `risk`
(enforce mode). Both are conditional on status PLACED and the version read, so a replay changes nothing.

The reasons stay in `risk` (ops read it via GET /ops/orders/{id}); the shopper sees only the neutral
`status_reason` "rejected_by_risk_check" and a timeline event without reasons.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared.core import aws, clock, ddb
from shared.core.errors import Conflict
from shared.orders import events
from shared.orders import store as orders
from shared.orders.aggregate import Order, RiskRecord
from shared.orders.models import OrderStatus
from shared.orders.steps import RiskState
from shared.risk import flags
from shared.risk import store as risk_store
from shared.risk.models import Decision, OrderFacts, RiskAssessment
from shared.risk.scoring import assess

logger = logging.getLogger("order24.risk")

ACTOR = "system:risk"
NEUTRAL_REASON = "rejected_by_risk_check"


def facts_of(order: Order) -> OrderFacts:
    address = order.shipping_address
    return OrderFacts(
        order_id=order.order_id,
        shopper_id=order.shopper_id,
        device_id=order.device_id or None,
        ip=order.source_ip or None,
        ip_region=None,  # no IP geolocation table yet: the mismatch rule stays silent (see docs/review.md)
        shipping_region=address["province"] if address else None,
        amount_fen=int(order.total_fen),
        currency=order.currency,
        target=order.target or None,
    )


def risk_record(assessment: RiskAssessment, at: datetime) -> RiskRecord:
    return {
        "score": assessment.score,
        "decision": assessment.decision.value,
        "effective_decision": assessment.effective_decision.value,
        "mode": assessment.mode.value,
        "reasons": [reason.model_dump() for reason in assessment.reasons],
        "rules_version": assessment.rules_version,
        "assessed_at": clock.iso(at),
    }


def _result(order: Order) -> RiskState:
    risk = order.risk or {}
    return RiskState(
        order_id=order.order_id,
        version=order.version,
        status=order.status.value,
        risk_decision=risk.get("effective_decision", Decision.ACCEPT.value),
    )


def _persist(order: Order, risk: RiskRecord) -> Order:
    """SET risk + a neutral timeline event, bumping the version, only if nobody moved the order meanwhile."""
    at = risk["assessed_at"]
    event = events.risk_checked(actor=ACTOR, at=at)
    reply = ddb.dynamodb().update_item(
        TableName=ddb.table(),
        Key=orders.order_key(order.order_id),
        UpdateExpression=(
            "SET #risk = :risk, updated_at = :at, events = list_append(events, :event), "
            "#version = #version + :one"
        ),
        ConditionExpression="#status = :placed AND #version = :version",
        ExpressionAttributeNames={"#risk": "risk", "#status": "status", "#version": "version"},
        ExpressionAttributeValues={
            ":risk": ddb.to_attr(risk),
            ":at": ddb.to_attr(at),
            ":event": ddb.to_attr([event.to_item()]),
            ":one": ddb.to_attr(1),
            ":placed": ddb.to_attr(OrderStatus.PLACED.value),
            ":version": ddb.to_attr(order.version),
        },
        ReturnValues="ALL_NEW",
    )
    return Order.from_ddb(reply["Attributes"])


def _reject(order: Order, risk: RiskRecord) -> Order:
    updated = orders.transition(
        order,
        OrderStatus.REJECTED,
        actor=ACTOR,
        reason=NEUTRAL_REASON,
        set_fields={"risk": risk},
        remove_fields=("GSI3PK", "GSI3SK"),
    )
    from shared.ops import inbox  # only the rare reject path writes to the ops inbox

    codes = [reason["code"] for reason in risk["reasons"]]
    inbox.record(
        "risk_rejected",
        order.order_id,
        {
            "order_id": order.order_id,
            "shopper_id": order.shopper_id,
            "score": risk["score"],
            "reasons": risk["reasons"],
            "rules_version": risk["rules_version"],
        },
        summary=f"score {risk['score']}: {', '.join(codes) or 'no reason'}",
    )
    return updated


def _emit(assessment: RiskAssessment) -> None:
    from shared.core.observability import metric

    metric("RiskDecision", 1, decision=assessment.decision.value, mode=assessment.mode.value)


def check(order_id: str, *, now: datetime | None = None) -> RiskState:
    """Run the risk step for one order. Idempotent: a replay finds `risk` set (or the order moved on)."""
    order = orders.get(order_id, consistent=True)
    if order is None:
        logger.error("risk: no such order", extra={"order_id": order_id})
        return RiskState(order_id=order_id, version=0, status="MISSING", risk_decision=None)
    if order.status is not OrderStatus.PLACED or order.risk:
        return _result(order)  # a replay: the first delivery already decided

    moment = now or clock.now()
    facts = facts_of(order)
    rules, mode = flags.load_rules({"shopper_id": facts.shopper_id})
    signals = risk_store.load_signals(facts, now=moment)
    assessment = assess(signals, rules, moment, mode)
    # Count the order before persisting the verdict: a crash in between re-scores on replay, but never
    # leaves an order uncounted (record_order itself skips an immediate replay of the same order).
    risk_store.record_order(signals, now=moment)
    risk = risk_record(assessment, moment)
    try:
        order = _reject(order, risk) if assessment.effective_decision is Decision.REJECT else _persist(order, risk)
    except Conflict:
        order = orders.require(order_id, consistent=True)  # a concurrent delivery won; report its result
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        order = orders.require(order_id, consistent=True)
    _emit(assessment)
    logger.info(
        "risk assessed",
        extra={
            "order_id": order_id,
            "score": assessment.score,
            "decision": assessment.decision.value,
            "mode": assessment.mode.value,
        },
    )
    return _result(order)
