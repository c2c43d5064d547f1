"""Physical shipment, the fulfil workflow's `ship` step: allocate a warehouse, create the shipment,
subscribe to tracking, FULFILLING -> SHIPPED (dropping the PAID timer).

Idempotent: the warehouse is chosen once (kept on the order if a retry finds it), the tracking number is
derived from the order id, the lookup item is a conditional put that accepts the same order again, and
Kuaidi100 answers 501 to a repeated subscription.
Writes on the happy path: the lookup item and the transition.
"""

from __future__ import annotations

import contextlib
import logging

from shared.core.clock import now_iso
from shared.core.config import public_api_url, sandbox_providers
from shared.core.errors import Conflict, ProviderNotConfigured
from shared.fulfilment import logic, warehouses
from shared.logistics import store as tracking_store
from shared.logistics.adapters.courier import TrackingSubscriber
from shared.logistics.adapters.errors import SubscriptionFailed
from shared.logistics.adapters.http import PartnerRequest, PartnerResponse
from shared.orders import store
from shared.orders.aggregate import Order
from shared.orders.models import OrderStatus
from shared.orders.steps import StepState

logger = logging.getLogger("order24.shipment")
ACTOR = "system:ship"
NOTIFY_PATH = "/logistics/kuaidi100/notify"


class TransientError(Exception):
    """Retried by the workflow (the name is in infra/workflows.py TRANSIENT_LAMBDA_ERRORS)."""


class _PartnerHttp:
    """The logistics adapters' HttpClient over the stdlib client the payment adapters use."""

    def send(self, request: PartnerRequest) -> PartnerResponse:
        from shared.payments.adapters.http import SignedRequest, TransportError, UrllibHttpClient

        try:
            reply = UrllibHttpClient().send(
                SignedRequest(request.method, request.url, request.headers, request.body)
            )
        except TransportError:
            return PartnerResponse(503, b"")
        return PartnerResponse(reply.status, reply.body)


def subscriber() -> TrackingSubscriber:
    """Kuaidi100 with the `logistics` secret; the sandbox only with the sandbox switch. A missing or
    incomplete secret raises ProviderNotConfigured (the workflow parks the order), never the sandbox."""
    if sandbox_providers():
        from shared.sandbox import courier

        return courier.subscriber()
    from shared.logistics import secrets
    from shared.logistics.adapters.courier import Kuaidi100Subscriber

    try:
        config = secrets.config()
    except secrets.SecretConfigError as error:
        raise _not_configured(str(error)) from None
    key, salt = config.kuaidi100_key.get_secret_value(), config.kuaidi100_salt.get_secret_value()
    if not key or not salt:
        raise _not_configured("the logistics secret lacks kuaidi100_key or kuaidi100_salt")
    return Kuaidi100Subscriber(_PartnerHttp(), key, salt)


def _not_configured(missing: str) -> ProviderNotConfigured:
    from shared.core.observability import metrics

    logger.error("tracking provider not configured; the order waits", extra={"missing": missing})
    metrics.add_metric(name="ProviderNotConfigured", unit="Count", value=1)  # alarmed (infra/stack.py)
    return ProviderNotConfigured(f"tracking provider not configured: {missing}")


def _callback_url() -> str:
    """Kuaidi100 pushes to our own API (PUBLIC_API_URL), never to a guessed host."""
    try:
        return f"{public_api_url()}{NOTIFY_PATH}"
    except ProviderNotConfigured as error:
        raise _not_configured(error.detail) from None


def _state(order: Order) -> StepState:
    return StepState.of(order)


def _refunded_whole(order: Order) -> bool:
    from shared.aftersales import flash

    held = flash.refunded_units(order)
    return bool(held) and all(held.get(line["sku"], 0) >= line["quantity"] for line in order.items)


def ship(order_id: str, via: TrackingSubscriber | None = None) -> StepState:
    order = store.get(order_id, consistent=True)
    if order is None:
        logger.warning("ship: no such order", extra={"order_id": order_id})
        return StepState(order_id=order_id, status="NOT_FOUND", version=0)
    if order.status is not OrderStatus.FULFILLING or order.kind != "physical":
        return _state(order)  # replays of shipped or finished orders change nothing
    shipment = order.shipment
    if not shipment and _refunded_whole(order):
        from shared.payments import refunds  # lazy: the rare path

        # every unit was refunded by after-sales cases before it left (a flash refund): nothing to send; the
        # order fails with nothing more to refund, and its stock goes back on sale
        with contextlib.suppress(Conflict):
            refunds.fail_and_refund(order, reason="refunded_before_shipping", actor=ACTOR)
        return _state(store.require(order_id, consistent=True))
    if not shipment:
        province = order.shipping_address["province"] if order.shipping_address else ""
        try:
            warehouse = warehouses.allocate(province, order.items)
        except warehouses.NoWarehouse:
            from shared.payments import refunds  # lazy: the rare path

            logger.warning("no warehouse holds the order", extra={"order_id": order_id})
            with contextlib.suppress(Conflict):  # another writer moved it first
                refunds.fail_and_refund(order, reason="no_warehouse_stock", actor=ACTOR)
            return _state(store.require(order_id, consistent=True))
        shipment = {
            "warehouse": warehouse.code,
            "warehouse_name": warehouse.name,
            "carrier": warehouse.carrier,
            "tracking_number": logic.tracking_number(warehouse.prefix, order_id),
            "created_at": now_iso(),
        }
    tracking_store.put_lookup(shipment["carrier"], shipment["tracking_number"], order_id)
    try:
        (via or subscriber()).subscribe(shipment["carrier"], shipment["tracking_number"], _callback_url())
        shipment["subscription"] = "active"
    except SubscriptionFailed as error:
        if error.retryable:
            raise TransientError(f"tracking subscription: {error.code}") from None
        # the parcel leaves anyway; ops see that nobody will push its trace
        shipment["subscription"] = f"refused:{error.code}"
        from shared.ops import inbox

        inbox.record(
            "trouble_flag",
            f"{order_id}:subscription",
            {"order_id": order_id, "code": error.code, "carrier": shipment["carrier"]},
            summary=f"{order_id} tracking subscription refused ({error.code})",
        )
    try:
        shipped = store.transition(
            order,
            OrderStatus.SHIPPED,
            actor=ACTOR,
            reason="shipped",
            set_fields={"shipment": shipment, "fulfilment": {"state": "AWAITING_PICKUP", "at": now_iso()}},
            remove_fields=("GSI3PK", "GSI3SK"),
        )
    except Conflict:
        return _state(store.require(order_id, consistent=True))
    return _state(shipped)
