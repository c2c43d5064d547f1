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
import os
from typing import Any

from shared.core.clock import now_iso
from shared.core.errors import Conflict
from shared.fulfilment import logic, warehouses
from shared.logistics import store as tracking_store
from shared.logistics.adapters.courier import SandboxSubscriber, TrackingSubscriber
from shared.logistics.adapters.errors import SubscriptionFailed
from shared.logistics.adapters.http import PartnerRequest, PartnerResponse
from shared.orders import store
from shared.orders.models import OrderStatus

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


_sandbox = SandboxSubscriber()


def sandboxed() -> bool:
    return os.environ.get("PROVIDERS_SANDBOX") == "1" or os.environ.get("ORDER24_LOCAL") == "1"


def subscriber() -> TrackingSubscriber:
    if sandboxed():
        return _sandbox
    from shared.logistics import secrets
    from shared.logistics.adapters.courier import Kuaidi100Subscriber

    config = secrets.config()
    return Kuaidi100Subscriber(
        _PartnerHttp(), config.kuaidi100_key.get_secret_value(), config.kuaidi100_salt.get_secret_value()
    )


def sandbox_subscriber() -> SandboxSubscriber:
    return _sandbox


def _callback_url() -> str:
    base = os.environ.get("LOGISTICS_CALLBACK_BASE_URL", "")
    if not base and not sandboxed():
        from shared.logistics import secrets

        base = secrets.callback_base_url()
    return f"{(base or 'http://localhost').rstrip('/')}{NOTIFY_PATH}"


def _state(order: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": order["order_id"], "status": order["status"], "version": int(order["version"])}


def ship(order_id: str, via: TrackingSubscriber | None = None) -> dict[str, Any]:
    order = store.get(order_id, consistent=True)
    if order is None:
        logger.warning("ship: no such order", extra={"order_id": order_id})
        return {"order_id": order_id, "status": "NOT_FOUND", "version": 0}
    if order["status"] != OrderStatus.FULFILLING.value or order.get("kind") != "physical":
        return _state(order)  # replays of shipped or finished orders change nothing
    shipment = order.get("shipment")
    if not shipment:
        address = order.get("shipping_address") or {}
        try:
            warehouse = warehouses.allocate(str(address.get("province", "")), order["items"])
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
