"""Flash refunds (闪电退款, issue 13 item 3): an eligible `refund_only` case is approved and refunded as it opens,
without a person.

When. `service.open_case` calls `after_open` once the case is written, and again on a replay of the same
Idempotency-Key. The decision is taken once: it is recorded on the case (`flash`) by a write conditional on the
case being REQUESTED at the version read with no decision yet (`attribute_not_exists(flash)`), so a replay or
a concurrent retry reads the recorded decision instead of deciding again. An eligible case is then refunded
with `refunding.start_refund(actor="system:flash", reason="flash_refund:<rule>")` (one transaction moves it to
REFUNDING and grants the refund on the order's ledger; the history's REFUNDING entry names the rule). A
provider outage does not fail the open: the case stays REFUNDING and its REFUND timer sends the same grant
again. A replay finding an eligible case still REQUESTED (the process died between the two writes) starts the
refund then. An ineligible case stays REQUESTED for the merchant (its MERCHANT timer). `return_and_refund`
cases are never flash-refunded and carry no decision.

Rules, tried in this order; the first that matches refunds (each switched and tuned in the flags, `FlashRules`):
  not_shipped          a physical order still FULFILLING without a shipment: nothing has left the warehouse;
  digital_undelivered  digital lines whose claimed units (`claimed_from + quantity`) all lie within the part not
                       delivered yet: no delivery record while the order is FULFILLING and, for an entitlement
                       line, no grant on the shopper's ledger (shared/entitlements); a part the deliver step
                       reported undelivered was refunded by that step already (`refund_fen`) and never counts;
  good_standing        a shopper with at least `min_orders` orders in the risk history (shared/risk/store.py), this
                       order scored ACCEPT at most `max_order_risk_score` (when the risk step scored it), fewer
                       than `max_refunds` refunded cases and at most `max_refunded_fen` refunded (this case
                       included) in the last `window_days` (the shopper's cases: `store.for_shopper`).
Every rule: the case's reason is one the rule takes (`reason_codes`: a "damaged" or "quality_issue" claim goes
to the merchant, who may want evidence or the goods back), the shopper is not on the block list, the case is at
most the rule's `max_amount_fen`, and the order's capture still holds it (captured minus refunded or pending).

Reasons are stable codes `<rule>:<code>` (`not_shipped:already_shipped`, `good_standing:matched`...), or
`flags:off`, `shopper:blocked`, `order:exceeds_capture`; they name no threshold.

Afterwards. The fulfil steps ask `refunded_units` so that what was refunded before it left is not sent after all
(shared/fulfilment/shipment.py, delivery.py).

Flags. The `flash_refunds` feature of the risk flags document (shared/risk/flags.py: AppConfig when deployed,
the local file otherwise), evaluated with the context {shopper_id, order_kind, reason_code}, so a flag rule may
switch it per shopper (a MODULO_RANGE rollout) or per reason. Fail closed: a store that cannot be read, a
missing feature or an invalid value means no flash refund at all (every case goes to the merchant), logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.aftersales import refunding, store
from shared.aftersales.models import Case, FlashDecision, FlashRule
from shared.aftersales.states import CaseStatus, CaseType
from shared.core import aws, ddb
from shared.core.clock import now, now_iso, parse_iso
from shared.core.errors import Conflict, Unavailable
from shared.orders import store as orders
from shared.orders.aggregate import Line, Order
from shared.orders.models import OrderStatus

logger = logging.getLogger("order24.flash")
ACTOR = "system:flash"
FEATURE = "flash_refunds"
HISTORY_PAGES = 5  # the shopper's cases read for the refund history, 20 a page, newest first
MONEY_OUT = frozenset({CaseStatus.REFUNDING, CaseStatus.REFUNDED})

Fen = Annotated[int, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]


class RuleFlags(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    max_amount_fen: Fen = Field(description="A case refunding more than this is not refunded by this rule")
    reason_codes: frozenset[str] = Field(description="The case reasons this rule takes (the reason catalogue)")


class GoodStandingFlags(RuleFlags):
    min_orders: Count = 3
    max_order_risk_score: Count = 29
    window_days: Annotated[int, Field(ge=1, le=366)] = 30
    max_refunds: Count = 2
    max_refunded_fen: Fen = 50_000


class FlashRules(BaseModel):
    """The `flash_refunds` flag value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool
    rules_version: str
    not_shipped: RuleFlags
    digital_undelivered: RuleFlags
    good_standing: GoodStandingFlags


_OFF = RuleFlags(enabled=False, max_amount_fen=0, reason_codes=frozenset())
DISABLED = FlashRules(enabled=False, rules_version="unavailable", not_shipped=_OFF, digital_undelivered=_OFF,
                      good_standing=GoodStandingFlags(enabled=False, max_amount_fen=0, reason_codes=frozenset()))


def load_rules(context: dict[str, Any]) -> FlashRules:
    """The flags' rules for this context, or DISABLED when they cannot be read or are invalid (fail closed)."""
    from shared.risk import flags

    try:
        features = flags.feature_flags()
        features.get_configuration()  # evaluate() would turn a store error into its default silently
        value = features.evaluate(name=FEATURE, context=context, default=None)
        if not isinstance(value, dict):
            raise ValueError(f"the flags document has no {FEATURE} object")
        return FlashRules.model_validate(value)
    except Exception as error:  # any failure of the flags means no flash refunds (fail closed), never a 5xx
        logger.warning("flash-refund flags unusable: no flash refunds until they are", extra={"error": str(error)})
        return DISABLED


# ---------------------------------------------------------------- the rules


def _undelivered_units(order: Order, line: Line, granted: Callable[[str], bool]) -> int:
    """Units of a digital line not delivered and not refunded yet (the last ones of the line)."""
    record = ((order.delivery or {}).get("items") or {}).get(line["sku"])
    if record is not None:  # the deliver step refunded what it could not deliver (`refund_fen`) itself
        return 0 if record.get("refund_fen") else int(record.get("remaining_units", 0))
    if order.status is not OrderStatus.FULFILLING:
        return 0
    return 0 if line.get("entitlement") and granted(line["sku"]) else int(line["quantity"])


def _entitlement_grants(order: Order) -> Callable[[str], bool]:
    """Whether the shopper's ledger holds the grant of (this order, sku): read once, on first ask."""
    seen: set[str] | None = None

    def granted(sku: str) -> bool:
        nonlocal seen
        if seen is None:
            from shared.entitlements import store as ledger
            from shared.entitlements.models import EntryAction

            seen = {entry.sku for entry in ledger.entries(order.shopper_id, consistent=True)
                    if entry.order_id == order.order_id and entry.action is EntryAction.GRANT}
        return sku in seen

    return granted


def not_shipped(case: Case, order: Order, _flags: RuleFlags) -> list[str]:
    if order.kind != "physical":
        return ["not_physical"]
    if order.status is not OrderStatus.FULFILLING or order.shipment:
        return ["already_shipped"]
    return []


def digital_undelivered(case: Case, order: Order, _flags: RuleFlags) -> list[str]:
    if order.kind != "digital":
        return ["not_digital"]
    lines = {line["sku"]: line for line in order.items}
    granted = _entitlement_grants(order)
    if any(line.claimed_from + line.quantity > _undelivered_units(order, lines[line.sku], granted)
           for line in case.lines):
        return ["units_delivered"]
    return []


def _refund_history(case: Case, window_days: int) -> tuple[int, int, bool]:
    """(refunded cases, fen refunded by them) of the shopper in the window, besides this case; and whether the
    window was read whole (within HISTORY_PAGES)."""
    since = now() - timedelta(days=window_days)
    count = fen = 0
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        page, cursor = store.for_shopper(case.shopper_id, cursor)
        for other in page:
            if parse_iso(other.created_at) < since:
                return count, fen, True
            if other.case_id != case.case_id and other.status in MONEY_OUT:
                count += 1
                fen += other.refund_amount_fen or other.refund_total_fen
        if cursor is None:
            return count, fen, True
    return count, fen, False


def good_standing(case: Case, order: Order, flags: RuleFlags) -> list[str]:
    assert isinstance(flags, GoodStandingFlags)
    from shared.risk import store as risk

    refusals: list[str] = []
    if int(risk.shopper_history(case.shopper_id).get("order_count", 0)) < flags.min_orders:
        refusals.append("few_orders")
    scored = order.risk or {}
    if scored and (scored.get("decision") != "ACCEPT" or int(scored.get("score", 0)) > flags.max_order_risk_score):
        refusals.append("order_risk")
    count, fen, whole = _refund_history(case, flags.window_days)
    if not whole or count >= flags.max_refunds:
        refusals.append("refund_count")
    if fen + case.refund_total_fen > flags.max_refunded_fen:
        refusals.append("refunded_amount")
    return refusals


RULES: tuple[tuple[FlashRule, Callable[[Case, Order, RuleFlags], list[str]]], ...] = (
    ("not_shipped", not_shipped),
    ("digital_undelivered", digital_undelivered),
    ("good_standing", good_standing),
)


def _capture_left(order: Order) -> int:
    from shared.payments import refunds

    payment = order.payment
    return int(payment["amount_fen"]) - refunds.committed_fen(payment) if payment else 0


def _blocked(shopper_id: str) -> bool:
    from shared.risk import store as risk

    kinds, _ = risk.blocked_kinds({"shopper": shopper_id})
    return bool(kinds)


def decide(case: Case, order: Order) -> FlashDecision:
    """The decision for a case just opened on `order` (read consistently): pure reads, no write."""
    rules = load_rules({"shopper_id": case.shopper_id, "order_kind": order.kind, "reason_code": case.reason_code})
    reasons: list[str] = []
    matched: FlashRule | None = None
    if not rules.enabled:
        reasons.append("flags:off")
    elif _blocked(case.shopper_id):
        reasons.append("shopper:blocked")
    elif case.refund_total_fen > _capture_left(order):
        reasons.append("order:exceeds_capture")
    else:
        for name, check in RULES:
            flags: RuleFlags = getattr(rules, name)
            if not flags.enabled:
                reasons.append(f"{name}:off")
                continue
            refusals = ["reason_not_covered"] if case.reason_code not in flags.reason_codes else []
            refusals += ["amount_over_limit"] if case.refund_total_fen > flags.max_amount_fen else []
            refusals = refusals or check(case, order, flags)  # the reads only when the cheap checks pass
            if not refusals:
                reasons.append(f"{name}:matched")
                matched = name
                break
            reasons += [f"{name}:{code}" for code in refusals]
    return FlashDecision(eligible=matched is not None, rule=matched, reasons=reasons,
                         rules_version=rules.rules_version, decided_at=now_iso())


def refunded_units(order: Order) -> dict[str, int]:
    """Units of each SKU that the order's cases refunded or are refunding. The fulfil steps ask, so that what a
    flash refund paid back before it left is not sent after all. No read unless the order's ledger holds a case
    grant (`as-...`, written with the case's move to REFUNDING); then one Query of the order's partition."""
    grants = ((order.payment or {}).get("refunds") or {}).keys()
    if not any(key.startswith(refunding.KEY_PREFIX) for key in grants):
        return {}
    held: dict[str, int] = {}
    for case in store.for_order(order.order_id):
        if case.status in MONEY_OUT:
            for line in case.lines:
                held[line.sku] = held.get(line.sku, 0) + line.quantity
    return held


# ---------------------------------------------------------------- recording and acting


def _record(case: Case, decision: FlashDecision) -> Case:
    """Write the decision once: only on a REQUESTED case at the version read that has none yet. Not a move, so
    the version stays, as for `store.move_timer`: a writer holding the same read still moves it, and the refund
    (conditional on status and version) then loses cleanly. A lost race answers the case as it is (a
    concurrent replay decided first, or someone moved it)."""
    try:
        reply = ddb.dynamodb().update_item(
            TableName=ddb.table(), Key=store.case_key(case.case_id),
            UpdateExpression="SET flash = :flash, updated_at = :at",  # not a move: the version stays (move_timer)
            ConditionExpression="#status = :requested AND #version = :version AND attribute_not_exists(flash)",
            ExpressionAttributeNames={"#status": "status", "#version": "version"},
            ExpressionAttributeValues=ddb.values(flash=decision.model_dump(exclude_none=True), at=now_iso(),
                                                 requested=CaseStatus.REQUESTED.value, version=case.version),
            ReturnValues="ALL_NEW",
        )
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise
        return store.get(case.case_id, consistent=True) or case
    return Case.from_item(ddb.from_item(reply["Attributes"]))


def _still_qualifies(case: Case, rule: FlashRule | None) -> Callable[[Order], None] | None:
    """For the rules that read the order's fulfilment: the same check on the order the grant is written against,
    so a parcel that left (or a line delivered) since the decision stops the refund; the merchant decides."""
    check = {"not_shipped": not_shipped, "digital_undelivered": digital_undelivered}.get(rule or "")
    if check is None:
        return None
    rule_check = check

    def still(order: Order) -> None:
        refusals = rule_check(case, order, _OFF)
        if refusals:
            raise Conflict(f"The order changed since the flash decision ({', '.join(refusals)}).",
                           code="flash_order_changed", reasons=refusals)

    return still


def after_open(case: Case) -> Case:
    """Decide once and, if eligible, refund: the case as it is afterwards (REFUNDED, REFUNDING during a provider
    outage, or REQUESTED for the merchant)."""
    if case.type is not CaseType.REFUND_ONLY or case.status is not CaseStatus.REQUESTED:
        return case
    if case.flash is None:
        decision = decide(case, orders.require(case.order_id, consistent=True))
        logger.info("flash refund decided", extra={"case_id": case.case_id, "eligible": decision.eligible,
                                                   "rule": decision.rule, "reasons": decision.reasons})
        from shared.core.observability import metrics

        metrics.add_metric(name="FlashRefunds" if decision.eligible else "FlashRefundsDeclined", unit="Count",
                           value=1)
        case = _record(case, decision)
    if case.flash is None or not case.flash.eligible or case.status is not CaseStatus.REQUESTED:
        return case
    try:
        return refunding.start_refund(case, actor=ACTOR, reason=f"flash_refund:{case.flash.rule}",
                                      check_order=_still_qualifies(case, case.flash.rule))
    except Unavailable:
        logger.warning("flash refund waits for the provider (REFUND timer)", extra={"case_id": case.case_id})
    except Conflict as error:  # the ledger or the case moved since the decision: the merchant decides
        logger.warning("flash refund not started", extra={"case_id": case.case_id, "code": error.code})
    return store.get(case.case_id, consistent=True) or case
