"""Local runtime extension: sandbox payment keys and the provider secrets.

On start it generates fresh sandbox keys (`shared.sandbox.keys`), stores the provider configs in moto's
Secrets Manager exactly as ops would in AWS, writes the full key set (with the sandbox-only private keys
that sign as WeChat/Alipay would) to `<state_dir>/sandbox_payment_keys.json` for the in-process provider,
and returns the `payments` block of `.local/stack.json`.

The gateway's port is not known yet when extensions run, so the notify URLs in the secrets name the
configured PORT (default 8024); the handlers use PUBLIC_API_URL, which the runtime sets to the gateway's
real address once it listens (shared/payments/secrets.py), and so does the sandbox provider.
The sandbox switch itself (ORDER24_SANDBOX) is set by the runtime, once, for every sandbox provider.
"""

from __future__ import annotations

import json
import os
from typing import Any

from infra.local.extensions import register


@register
def payments_sandbox(runtime: Any) -> dict[str, Any]:
    if not {"wechatpay", "alipay"} <= set(runtime.resources.secrets):
        return {}  # a declaration without payment secrets (e.g. a test's) needs no payment sandbox
    from shared.sandbox.keys import generate_sandbox_keys, secret_payloads

    keys = generate_sandbox_keys()
    base = os.environ.get("LOCAL_API_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 8024}"
    payloads = secret_payloads(
        keys,
        wechatpay_notify_url=f"{base}/payments/wechatpay/notify",
        alipay_notify_url=f"{base}/payments/alipay/notify",
    )
    runtime.put_secret("wechatpay", payloads["wechatpay"])
    runtime.put_secret("alipay", payloads["alipay"])
    from infra.local.runtime import write_private

    runtime.state_dir.mkdir(parents=True, exist_ok=True)
    key_file = runtime.state_dir / "sandbox_payment_keys.json"
    write_private(key_file, json.dumps(keys))  # private keys: 0600 before the first byte
    runtime.set_env("PAYMENTS_SANDBOX_KEYS", str(key_file.resolve()))
    runtime.set_env("LOCAL_STATE_DIR", str(runtime.state_dir.resolve()))
    # WeChat refunds settle the real way here: PROCESSING, then a signed, encrypted REFUND.SUCCESS notification
    # posted to our notify endpoint (shared/sandbox/payments.py); an env already set (e.g. ABNORMAL) wins
    runtime.set_env("SANDBOX_WECHAT_REFUND", os.environ.get("SANDBOX_WECHAT_REFUND") or "SUCCESS")
    wechat, alipay = keys["wechatpay"], keys["alipay"]
    return {
        "payments": {
            "wechatpay": {
                "mchid": wechat["mchid"],
                "appid": wechat["appid"],
                "api_v3_key": wechat["api_v3_key"],
                "platform_serial": wechat["platform_serial_no"],
                "platform_private_key_pem": wechat["platform_private_key_pem"],
            },
            "alipay": {
                "app_id": alipay["app_id"],
                "seller_id": alipay["seller_id"],
                "alipay_private_key_pem": alipay["alipay_private_key_pem"],
            },
        }
    }
