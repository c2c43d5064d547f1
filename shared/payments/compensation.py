"""Compensations: money the platform itself pays the shopper, recorded apart from the merchant's refunds.

Today one kind: the first-weight return shipping of a no-reason return (无忧退, shared/aftersales/returns.py).
Like a refund it is first granted, then executed:

* granted: `order.compensations[<key>]` (state `requested`) is written in the SAME transaction as the case move
  that earns it, conditional on the key being absent, so a retry can never grant it twice (the key is per case
  and kind: `rs-` + the case id's 8 characters, never per amount);
* executed: the payout provider is called with `out_transfer_no = <order_id>-<key>`, deterministic, so a retry
  after a timeout is deduplicated by the provider (WeChat Pay 商家转账 `out_bill_no`, Alipay
  `alipay.fund.trans.uni.transfer` `out_biz_no`); `requested -> paid | failed` once, conditional on the state.

The payout provider is the sandbox (`shared/sandbox/payouts.py`) with the sandbox switch. Deployed, no payout
provider is configured (the WeChat/Alipay transfer adapters are not built): `payout_provider()` raises
ProviderNotConfigured, the grant stays `requested`, and it goes to the ops inbox (`refund_issue`), once. It never
pretends to have paid. A grant still `requested` is sent again by `execute_pending` (the order's COMPLETE timer
calls it before completing), with the same out_transfer_no.

Money is integer fen; the capture's ledger (`payment.refunds`, `refunded_fen`) never includes compensations, so
"captured - refunded = value of the goods kept" holds and compensations add up on their own.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from shared.core import aws, ddb
from shared.core.clock import now_iso
from shared.core.config import sandbox_providers
from shared.core.errors import ProviderNotConfigured, Unavailable
from shared.orders import store as orders
from shared.orders.aggregate import Compensation, Order
from shared.payments import providers
from shared.payments.store import _Update

logger = logging.getLogger("order24.compensation")
RETURN_SHIPPING = "return_shipping"


class PayoutRefused(Exception):
    """The provider said no on business grounds (a closed account...): retrying will not help."""


class PayoutProvider(Protocol):
    def transfer(self, *, out_transfer_no: str, amount_fen: int, currency: str, payee: str) -> str:
        """Pay `amount_fen` to the shopper once per `out_transfer_no`; returns the provider's transfer id."""
        ...


def payout_provider() -> PayoutProvider:
    """The sandbox with the sandbox switch; otherwise none is configured: fail closed."""
    if sandbox_providers():
        from shared.sandbox.payouts import SandboxPayouts

        return SandboxPayouts()
    raise ProviderNotConfigured("no payout provider is configured (WeChat Pay 商家转账 / Alipay fund transfer)")


def key_for(case_id: str) -> str:
    """The return-shipping compensation of a case: one per case, whatever its amount."""
    return "rs-" + case_id[27:]


def out_transfer_no(order_id: str, key: str) -> str:
    return providers.out_refund_no(order_id, key)  # the same rule: deterministic, fits 64 characters


def grant(order: Order, key: str, *, amount_fen: int, reason: str, case_id: str) -> Compensation:
    return {"amount_fen": amount_fen, "currency": order.currency, "reason": reason, "case_id": case_id,
            "state": "requested", "out_transfer_no": out_transfer_no(order.order_id, key), "at": now_iso()}


def grant_update(order: Order, key: str, record: Compensation) -> dict[str, Any]:
    """The Update request (for a TransactWriteItems beside the case move that earns it) writing the grant,
    conditional on the order's version and on the key being absent: granted once, whatever retries."""
    update = _Update()
    if order.compensations is None:
        update.set(("compensations",), {key: record})
        absent = update.path(("compensations",))
        condition = f"#version = {update.value(order.version)} AND attribute_not_exists({absent})"
    else:
        update.set(("compensations", key), record)
        condition = (f"#version = {update.value(order.version)} "
                     f"AND attribute_not_exists({update.path(('compensations', key))})")
    return update.request(order.order_id, condition, event=None)


def _settle(order_id: str, key: str, *, paid: bool, transfer_id: str = "", detail: str = "") -> None:
    update = _Update()
    update.set(("compensations", key, "state"), "paid" if paid else "failed")
    update.set(("compensations", key, "settled_at"), now_iso())
    if transfer_id:
        update.set(("compensations", key, "transfer_id"), transfer_id)
    if detail:
        update.set(("compensations", key, "detail"), detail[:200])
    condition = f"{update.path(('compensations', key, 'state'))} = {update.value('requested')}"
    try:
        update.run(order_id, condition, event=None)
    except aws.ClientError as error:
        if not ddb.is_conditional_failure(error):
            raise  # settled already (a concurrent retry): nothing to do


def _to_ops(order: Order, key: str, record: Compensation, detail: str) -> None:
    from shared.ops import inbox

    inbox.record("refund_issue", f"{order.order_id}:{key}",
                 {"order_id": order.order_id, "compensation_key": key, "case_id": record.get("case_id"),
                  "amount_fen": record.get("amount_fen"), "detail": detail},
                 summary=f"compensation {key} of order {order.order_id} not paid: {detail}"[:200])


def execute(order_id: str, key: str) -> str:
    """Pay the grant once: `paid`, `failed` (refused: ops inbox), `not_configured` (stays requested: ops inbox),
    `retry` (the provider did not answer: stays requested), or the state it already had."""
    order = orders.require(order_id, consistent=True)
    record = (order.compensations or {}).get(key)
    if record is None:
        return "missing"
    if record.get("state") != "requested":
        return str(record.get("state"))
    try:
        transfer_id = payout_provider().transfer(
            out_transfer_no=record["out_transfer_no"], amount_fen=int(record["amount_fen"]),
            currency=record["currency"], payee=order.shopper_id)
    except ProviderNotConfigured as error:
        from shared.core.observability import metrics

        logger.error("payout provider not configured; the compensation waits", extra={"order_id": order_id})
        metrics.add_metric(name="ProviderNotConfigured", unit="Count", value=1)  # alarmed (infra/stack.py)
        _to_ops(order, key, record, error.detail)
        return "not_configured"
    except PayoutRefused as error:
        _settle(order_id, key, paid=False, detail=str(error))
        _to_ops(order, key, record, f"refused: {error}")
        return "failed"
    except Unavailable:
        return "retry"
    _settle(order_id, key, paid=True, transfer_id=transfer_id)
    return "paid"


def execute_pending(order: Order) -> dict[str, str]:
    """Send every grant of the order still `requested` again (same out_transfer_no)."""
    return {key: execute(order.order_id, key) for key, record in (order.compensations or {}).items()
            if record.get("state") == "requested"}
