"""Helpers for the payment tests: sandbox secrets in moto, awaiting orders, signed provider callbacks."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import pytest

from functions.payment_notify.handler import handler as notify_handler
from shared.catalog import store as catalog
from shared.core.clock import now
from shared.payments.adapters import alipay, wechatpay
from shared.payments.adapters.alipay import AlipayConfig
from shared.payments.adapters.wechatpay import WechatPayConfig
from shared.sandbox.keys import generate_sandbox_keys, secret_payloads
from tests.integration.test_catalog_and_intake import AD_SLOT, create, order_body, place
from tests.integration.test_checkout import reserve
from tests.support import call

WECHAT_PATH = "/payments/wechatpay/notify"
ALIPAY_PATH = "/payments/alipay/notify"


@cache
def sandbox_keys() -> dict[str, dict[str, Any]]:
    return generate_sandbox_keys()  # RSA generation is slow: once per test session


@cache
def forger_keys() -> dict[str, dict[str, Any]]:
    return generate_sandbox_keys()


def _payloads(keys: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return secret_payloads(
        keys,
        wechatpay_notify_url="https://api.example.com/payments/wechatpay/notify",
        alipay_notify_url="https://api.example.com/payments/alipay/notify",
    )


def wechat_config(keys: dict[str, dict[str, Any]] | None = None) -> WechatPayConfig:
    return WechatPayConfig.model_validate(_payloads(keys or sandbox_keys())["wechatpay"])


def alipay_config(keys: dict[str, dict[str, Any]] | None = None) -> AlipayConfig:
    return AlipayConfig.model_validate(_payloads(keys or sandbox_keys())["alipay"])


def install_payments(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    """Secrets in moto's Secrets Manager (as the local runtime puts them), sandbox providers on."""
    from shared.core.aws import secretsmanager
    from shared.payments import secrets as payment_secrets
    from shared.sandbox import payments as sandbox_http

    keys = sandbox_keys()
    payloads = _payloads(keys)
    for name, env_var in (("wechatpay", "WECHATPAY_SECRET_ARN"), ("alipay", "ALIPAY_SECRET_ARN")):
        arn = secretsmanager().create_secret(
            Name=f"order24/{name}", SecretString=json.dumps(payloads[name])
        )["ARN"]
        monkeypatch.setenv(env_var, arn)
    monkeypatch.setenv("ORDER24_SANDBOX", "1")
    sandbox_http.configure(keys)
    sandbox_http.SandboxHttpClient.calls.clear()
    sandbox_http.SandboxHttpClient.reset_refunds()  # refunds it accepted in an earlier test (same order ids)
    payment_secrets.clear_cache()
    try:
        yield keys
    finally:
        sandbox_http.configure(None)
        payment_secrets.clear_cache()


def awaiting_order(key: str = "key-00000001", quantity: int = 1) -> str:
    """An order in AWAITING_PAYMENT (through the real intake and reserve handlers)."""
    if catalog.available(str(AD_SLOT["sku"])) == 0:
        create(AD_SLOT)
    _, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": quantity}]), key=key)
    assert reserve(accepted["order_id"])["status"] == "AWAITING_PAYMENT"
    return str(accepted["order_id"])


# ------------------------------------------------------------------ WeChat Pay


def wechat_notification(
    order_id: str,
    amount_fen: int,
    *,
    state: str = "SUCCESS",
    event_id: str | None = None,
    transaction_id: str = "4200000000202401010000000001",
    at: datetime | None = None,
    config: WechatPayConfig | None = None,
    keys: dict[str, dict[str, Any]] | None = None,
    mchid: str | None = None,
) -> tuple[dict[str, str], bytes]:
    keys = keys or sandbox_keys()
    config = config or wechat_config(keys)
    moment = at or now()
    body = wechatpay.build_transaction_notification(
        config,
        out_trade_no=order_id,
        transaction_id=transaction_id,
        amount_fen=amount_fen,
        trade_state=state,
        now=moment,
        event_id=event_id or f"EV-{secrets.token_hex(8)}",
        resource_nonce=secrets.token_hex(6),
        mchid=mchid,
    )
    headers = wechatpay.sign_notification(
        body,
        platform_private_key_pem=keys["wechatpay"]["platform_private_key_pem"],
        serial=sandbox_keys()["wechatpay"]["platform_serial_no"],
        timestamp=int(moment.timestamp()),
        nonce=secrets.token_hex(16),
    )
    return headers, body


def wechat_refund_notification(
    order_id: str,
    out_refund_no: str,
    refund_fen: int,
    total_fen: int,
    *,
    status: str = "SUCCESS",
    event_id: str | None = None,
) -> tuple[dict[str, str], bytes]:
    keys = sandbox_keys()
    moment = now()
    body = wechatpay.build_refund_notification(
        wechat_config(),
        out_trade_no=order_id,
        transaction_id="4200000000202401010000000001",
        out_refund_no=out_refund_no,
        refund_id="50300000000000000001",
        refund_fen=refund_fen,
        total_fen=total_fen,
        refund_status=status,
        now=moment,
        event_id=event_id or f"EV-{secrets.token_hex(8)}",
        resource_nonce=secrets.token_hex(6),
    )
    headers = wechatpay.sign_notification(
        body,
        platform_private_key_pem=keys["wechatpay"]["platform_private_key_pem"],
        serial=keys["wechatpay"]["platform_serial_no"],
        timestamp=int(moment.timestamp()),
        nonce=secrets.token_hex(16),
    )
    return headers, body


def post_wechat(headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
    return call(notify_handler, "POST", WECHAT_PATH, headers=headers, raw_body=body.decode("utf-8"))


# ------------------------------------------------------------------ Alipay


def alipay_form(
    order_id: str,
    amount_fen: int,
    *,
    status: str = "TRADE_SUCCESS",
    trade_no: str = "2024010122001400000001",
    at: datetime | None = None,
    config: AlipayConfig | None = None,
    keys: dict[str, dict[str, Any]] | None = None,
    refund_fen: int | None = None,
    out_biz_no: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    keys = keys or sandbox_keys()
    fields = alipay.build_trade_notification(
        config or alipay_config(),
        out_trade_no=order_id,
        trade_no=trade_no,
        amount_fen=amount_fen,
        trade_status=status,
        now=at or now(),
        notify_id=f"nid{secrets.token_hex(8)}",
        refund_fen=refund_fen,
        out_biz_no=out_biz_no,
    )
    fields.update(overrides)
    return alipay.sign_notification(fields, keys["alipay"]["alipay_private_key_pem"])


def post_alipay(form: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    return call(
        notify_handler,
        "POST",
        ALIPAY_PATH,
        raw_body=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
