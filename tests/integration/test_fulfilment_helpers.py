"""Helpers for the fulfilment, logistics and notification tests (no tests here).

Orders reach FULFILLING through the real intake and reserve handlers, then PAID (card payment map per the
payments contract, with the PAID timer) and FULFILLING are written with store.transition, as the payment
and review steps would.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from shared.core.api import http_app
from shared.core.clock import iso, now, now_iso
from shared.orders import logic, store
from shared.orders.models import OrderStatus
from tests.integration.test_catalog_and_intake import AD_SLOT, ADDRESS, TEA, create, order_body, place
from tests.integration.test_checkout import reserve
from tests.support import SHOPPER, User, call, context, http_event

SALT = "k100-salt-for-tests"
APP_KEY = "kdniao-app-key-for-tests"
BUSINESS_ID = "1300000"


def fulfilling_order(
    sku: dict[str, Any] = AD_SLOT,
    *,
    quantity: int = 1,
    key: str = "key-00000001",
    user: User = SHOPPER,
    also: tuple[tuple[dict[str, Any], int], ...] = (),
    **body: Any,
) -> dict[str, Any]:
    """A FULFILLING order of `quantity` x `sku`, plus `also` ((sku, quantity), ...) lines."""
    for each in (sku, *(extra for extra, _ in also)):
        with contextlib.suppress(AssertionError):  # created by an earlier order in this test
            create(each)
    if sku["kind"] == "physical":
        body.setdefault("shipping_address", ADDRESS)
        body.setdefault("target", None)
    lines = [{"sku": sku["sku"], "quantity": quantity}, *({"sku": s["sku"], "quantity": q} for s, q in also)]
    payload = order_body(items=lines, **body)
    payload = {k: v for k, v in payload.items() if v is not None}
    status, accepted, _ = place(payload, key=key, user=user)
    assert status == 202, accepted
    order_id = accepted["order_id"]
    assert reserve(order_id)["status"] == "AWAITING_PAYMENT"
    order = store.require(order_id, consistent=True)
    payment = {
        "provider": "card",
        "out_trade_no": order_id,
        "transaction_id": f"ch_{order_id[1:13]}",
        "amount_fen": order.total_fen,
        "currency": order.currency,
        "paid_at": now_iso(),
        "state": "paid",
        "refunded_fen": 0,
        "refunds": {},
    }
    order = store.transition(
        order,
        OrderStatus.PAID,
        actor="provider:card",
        reason="paid",
        set_fields={"payment": payment, **logic.due_key("PAID", order_id, iso(now()))},
        remove_fields=("expires_at",),
    )
    return store.transition(order, OrderStatus.FULFILLING, actor="system:review", reason="auto_approved")


def physical_order(*, quantity: int = 1, key: str = "key-00000001", province: str = "浙江") -> dict[str, Any]:
    return fulfilling_order(
        TEA, quantity=quantity, key=key, shipping_address={**ADDRESS, "province": province}
    )


@pytest.fixture(name="logistics")
def logistics_fixture(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The `logistics` secret in moto (as the local runtime puts it), our API's URL, and sandbox providers on."""
    from shared.core.aws import secretsmanager
    from shared.logistics import secrets

    payload = {
        "kuaidi100_key": "k100-key",
        "kuaidi100_salt": SALT,
        "kdniao_app_key": APP_KEY,
        "kdniao_business_id": BUSINESS_ID,
    }
    arn = secretsmanager().create_secret(Name="order24/logistics", SecretString=json.dumps(payload))[
        "ARN"
    ]
    monkeypatch.setenv("LOGISTICS_SECRET_ARN", arn)
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.test")
    monkeypatch.setenv("ORDER24_SANDBOX", "1")
    secrets.clear_cache()
    try:
        yield payload
    finally:
        secrets.clear_cache()


@pytest.fixture(name="fresh_sandbox")
def fresh_sandbox_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new sandbox provider per test: order ids repeat across tests, and it remembers served keys."""
    from shared.sandbox import digital

    digital.reset()
    monkeypatch.setenv("ORDER24_SANDBOX", "1")


def orders_api(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """api_orders as it serves once its handler includes the tracking and notifications routers."""
    from shared.api.routers import ROUTERS_BY_FUNCTION

    global _orders_app
    if _orders_app is None:
        _orders_app = http_app(*ROUTERS_BY_FUNCTION["api_orders"])
    return _orders_app.resolve(event, ctx)  # type: ignore[no-any-return]


_orders_app: Any = None


def post_form(
    path: str, fields: dict[str, str] | None = None, *, raw: bytes | None = None
) -> tuple[int, str]:
    from functions.logistics_notify.handler import handler

    body = raw.decode("ascii") if raw is not None else urlencode(fields or {})
    event = http_event(
        "POST", path, raw_body=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    reply = handler(event, context("logistics_notify"))
    return int(reply["statusCode"]), str(reply["body"])


def ship_order(order_id: str) -> dict[str, Any]:
    from functions.ship.handler import handler

    result: dict[str, Any] = handler({"order_id": order_id}, context("ship"))
    return result


def deliver_order(order_id: str, **extra: Any) -> dict[str, Any]:
    from functions.deliver.handler import handler

    result: dict[str, Any] = handler({"order_id": order_id, **extra}, context("deliver"))
    return result


def get(path: str, user: User, **kwargs: Any) -> tuple[int, Any]:
    status, body, _ = call(orders_api, "GET", path, user=user, **kwargs)
    return status, body
