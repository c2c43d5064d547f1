"""Order intake, the peak path: validate, price from the cached catalog, one conditional write, enqueue.

Cost per new order: one BatchGetItem only on a cold catalog cache, one PutItem, one SendMessage.
A retried POST with the same key costs one failed conditional PutItem and answers the same order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.catalog import store as catalog
from shared.core import queues
from shared.core.auth import require_roles
from shared.core.clock import iso, now
from shared.core.config import Env, IntakeSettings, settings
from shared.core.errors import Unprocessable
from shared.core.roles import Role
from shared.orders import events, logic, store
from shared.orders.aggregate import Order
from shared.orders.models import OrderAccepted, OrderStatus, PlaceOrder

logger = logging.getLogger("order24.intake")


def redrive_after() -> timedelta:
    """Env PLACED_REDRIVE_AFTER_SECONDS lets the local fault tests shorten it; 90 s otherwise."""
    return timedelta(seconds=settings(IntakeSettings).placed_redrive_after_seconds)


@dataclass(frozen=True)
class Caller:
    shopper_id: str
    source_ip: str | None
    device_id: str | None


def accept(claims: Mapping[str, Any], source_ip: str | None, idempotency_key: str | None,
           device_id: str | None, body: PlaceOrder) -> OrderAccepted:
    """POST /orders once body and headers are valid: what both the routed and the fast path run."""
    caller = require_roles(claims, Role.SHOPPER)
    key = logic.validate_idempotency_key(idempotency_key)
    return place(Caller(caller.sub, source_ip, device_id), key, body)


def place(caller: Caller, idempotency_key: str, body: PlaceOrder) -> OrderAccepted:
    order_id = logic.order_id_for(caller.shopper_id, idempotency_key)
    fingerprint = logic.request_hash(body)
    moment = now()
    created_at = iso(moment)
    priced = logic.price(body, catalog.skus_for_pricing([line.sku for line in body.items]), at=created_at)
    shopper = caller.shopper_id
    optional = {  # written only when given, as before (`Order.to_item` holds the attributes set)
        "shipping_address": body.shipping_address.model_dump(exclude_none=True) if body.shipping_address else None,
        "ad_copy": body.ad_copy, "target": body.target, "source_ip": caller.source_ip, "device_id": caller.device_id,
    }
    order = Order.model_validate({
        **store.order_key_values(order_id),
        "order_id": order_id,
        "shopper_id": shopper,
        "status": OrderStatus.PLACED,
        "version": 1,
        **priced,
        "request_hash": fingerprint,
        "created_at": created_at,
        "updated_at": created_at,
        "events": [events.placed(shopper_id=shopper, at=created_at)],
        "GSI1PK": f"SHOPPER#{shopper}",
        "GSI1SK": f"{created_at}#{order_id}",
        "GSI2PK": f"SHOP#{priced['shop_id']}#{created_at[:10]}",
        "GSI2SK": f"{created_at}#{order_id}",
        **logic.due_key("PLACED", order_id, iso(moment + redrive_after())),
        **{name: value for name, value in optional.items() if value is not None},
    })
    existing = store.put_new(order)
    if existing is not None:
        if existing.request_hash != fingerprint or existing.shopper_id != caller.shopper_id:
            raise Unprocessable("This Idempotency-Key was used with a different body.", code="idempotency_key_reused")
        if existing.status is OrderStatus.PLACED:
            enqueue(order_id)  # the first attempt may have died before enqueueing; checkout is idempotent
        return OrderAccepted(order_id=order_id, status=existing.status)
    enqueue(order_id)
    return OrderAccepted(order_id=order_id, status=OrderStatus.PLACED)


def enqueue(order_id: str) -> None:
    try:
        queues.send(Env.INTAKE_QUEUE_URL, {"order_id": order_id, "version": 1})
    except Exception:
        # The order is durably accepted; the sweeper re-drives PLACED orders, so the shopper still gets 202.
        logger.exception("enqueue failed; the sweeper will re-drive", extra={"order_id": order_id})
