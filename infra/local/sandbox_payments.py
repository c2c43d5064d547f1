"""The sandbox payment provider (local runtime only, never deployed).

`POST /sandbox/pay/{order_id}?provider=wechatpay|alipay&outcome=success|fail` builds the notification the
provider would send for the order's payment intent, signs it with the sandbox provider keys (WeChat:
AEAD_AES_256_GCM resource + platform SHA256withRSA headers; Alipay: RSA2 form), and POSTs it to our own
notify endpoint through the gateway, so the verification path is exactly production's.

A failed outcome is WeChat `PAYERROR` / Alipay `TRADE_CLOSED`: the order stays payable with a
`last_payment_error`.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

PROVIDERS = ("wechatpay", "alipay")
OUTCOMES = ("success", "fail")


def _problem(status: int, code: str, detail: str) -> dict[str, Any]:
    body = {
        "type": f"https://order24.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
    }
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/problem+json"},
        "body": json.dumps(body),
    }


def api_url() -> str:
    """Where our gateway listens, from the runtime's own configuration only: LOCAL_API_URL, else the
    PUBLIC_API_URL the runtime set to its gateway, else stack.json's `api_url`. Never a request header: a
    forged Host must not send a signed "paid" notification (or a courier push) to someone else's server."""
    url = os.environ.get("LOCAL_API_URL") or os.environ.get("PUBLIC_API_URL")
    if not url:
        stack = Path(os.environ.get("LOCAL_STATE_DIR") or ".local") / "stack.json"
        url = json.loads(stack.read_text(encoding="utf-8"))["api_url"]
    return str(url).rstrip("/")


def _wechat(order_id: str, intent: dict[str, Any], success: bool) -> tuple[str, dict[str, str], bytes]:
    from shared.core.clock import now
    from shared.payments.adapters import wechatpay
    from shared.payments.secrets import wechatpay_config
    from shared.sandbox.payments import sandbox_keys, wechat_signed_headers

    keys = sandbox_keys()["wechatpay"]
    moment = now()
    body = wechatpay.build_transaction_notification(
        wechatpay_config(),
        out_trade_no=str(intent["out_trade_no"]),
        transaction_id="42" + secrets.token_hex(13),
        amount_fen=int(intent["amount_fen"]),
        currency=intent["currency"],
        trade_state="SUCCESS" if success else "PAYERROR",
        now=moment,
        event_id=secrets.token_hex(16),
        resource_nonce=secrets.token_hex(6),
    )
    return "/payments/wechatpay/notify", wechat_signed_headers(body, keys, moment), body


def _alipay(order_id: str, intent: dict[str, Any], success: bool) -> tuple[str, dict[str, str], bytes]:
    from shared.core.clock import now
    from shared.payments.adapters import alipay
    from shared.payments.secrets import alipay_config
    from shared.sandbox.payments import sandbox_keys

    keys = sandbox_keys()["alipay"]
    fields = alipay.build_trade_notification(
        alipay_config(),
        out_trade_no=str(intent["out_trade_no"]),
        trade_no="2024" + secrets.token_hex(12),
        amount_fen=int(intent["amount_fen"]),
        trade_status="TRADE_SUCCESS" if success else "TRADE_CLOSED",
        now=now(),
        notify_id=secrets.token_hex(16),
    )
    form = alipay.sign_notification(fields, keys["alipay_private_key_pem"])
    return (
        "/payments/alipay/notify",
        {"Content-Type": alipay.FORM_CONTENT_TYPE},
        urlencode(form).encode("utf-8"),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import requests

    from shared.orders import store

    order_id = (event.get("pathParameters") or {}).get("order_id") or str(event.get("rawPath", "")).rsplit(
        "/", 1
    )[-1]
    query = event.get("queryStringParameters") or {}
    provider, outcome = query.get("provider", ""), query.get("outcome", "success")
    if provider not in PROVIDERS or outcome not in OUTCOMES:
        return _problem(422, "validation_failed", "Use ?provider=wechatpay|alipay&outcome=success|fail.")
    order = store.get(order_id, consistent=True)
    if order is None:
        return _problem(404, "order_not_found", f"No order {order_id!r}.")
    intent = order.payment_intent
    if intent is None:
        return _problem(
            409, "no_payment_intent", "Call POST /orders/{id}/pay first: the sandbox pays an intent."
        )
    if intent["provider"] != provider:
        return _problem(409, "payment_intent_exists", f"The order's intent is for {intent['provider']}.")
    build = _wechat if provider == "wechatpay" else _alipay
    path, headers, body = build(order_id, intent, outcome == "success")
    reply = requests.post(api_url() + path, data=body, headers=headers, timeout=10)
    answer: Any = reply.text
    if reply.headers.get("Content-Type", "").startswith("application/json") and reply.text:
        answer = reply.json()
    result = {
        "order_id": order_id,
        "provider": provider,
        "outcome": outcome,
        "delivered_status": reply.status_code,
        "notify_response": answer,
        # Exactly what was posted, so a developer (or a test) can replay the provider's retry.
        "notification": {"path": path, "headers": headers, "body": body.decode("utf-8")},
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
