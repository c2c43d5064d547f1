"""An in-process `HttpClient` that answers like WeChat Pay v3 and Alipay do (local runtime and tests only).

It checks our request signatures with the merchant/app public keys and signs its answers with the sandbox
platform / Alipay keys, so the adapters' response verification runs for real. Used when
`ORDER24_SANDBOX=1` (shared/core/config.py); keys come from `configure(keys)` (tests) or the JSON file named by
`PAYMENTS_SANDBOX_KEYS` (written by infra/local/payments_extension.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from shared.payments.adapters import _rsa
from shared.payments.adapters.http import HttpResponse, SignedRequest

_lock = threading.Lock()
_keys: dict[str, dict[str, Any]] | None = None


def configure(keys: dict[str, dict[str, Any]] | None) -> None:
    """Use these sandbox keys (the `generate_sandbox_keys()` shape); None forgets them."""
    global _keys
    with _lock:
        _keys = keys


def sandbox_keys() -> dict[str, dict[str, Any]]:
    global _keys
    with _lock:
        if _keys is None:
            path = os.environ.get("PAYMENTS_SANDBOX_KEYS")
            if not path:
                raise RuntimeError("sandbox provider keys are not configured (PAYMENTS_SANDBOX_KEYS)")
            with open(path, encoding="utf-8") as handle:
                _keys = json.load(handle)
        return _keys


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class SandboxHttpClient:
    """Answers the handful of provider APIs we call. Counts calls so tests can assert "one provider call"."""

    calls: ClassVar[list[tuple[str, str]]] = []  # (api, idempotency reference), shared by all instances

    def send(self, request: SignedRequest) -> HttpResponse:
        keys = sandbox_keys()
        parts = urlsplit(request.url)
        if parts.path.startswith("/v3/"):
            return self._wechat(request, parts.path, keys["wechatpay"])
        if parts.path.endswith("/gateway.do"):
            return self._alipay(request, keys["alipay"])
        return HttpResponse(404, {"Content-Type": "text/plain"}, b"sandbox: unknown API")

    # ------------------------------------------------------------ WeChat Pay v3

    def _wechat(self, request: SignedRequest, path: str, keys: dict[str, Any]) -> HttpResponse:
        if not self._wechat_signed(request, keys):
            return self._wechat_answer(401, {"code": "SIGN_ERROR", "message": "签名错误"}, keys)
        payload = json.loads(request.body or b"{}")
        if path in ("/v3/pay/transactions/native", "/v3/pay/transactions/jsapi"):
            out_trade_no = str(payload["out_trade_no"])
            SandboxHttpClient.calls.append(("wechatpay.prepay", out_trade_no))
            token = _digest("wx", out_trade_no)[:24]
            if path.endswith("native"):
                return self._wechat_answer(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={token}"}, keys)
            return self._wechat_answer(200, {"prepay_id": f"wx{token}"}, keys)
        if path.startswith("/v3/pay/transactions/out-trade-no/") and path.endswith("/close"):
            SandboxHttpClient.calls.append(("wechatpay.close", path.split("/")[-2]))
            return self._wechat_answer(204, None, keys)  # WeChat: 204, empty signed body
        if path == "/v3/refund/domestic/refunds":
            out_refund_no = str(payload["out_refund_no"])
            SandboxHttpClient.calls.append(("wechatpay.refund", out_refund_no))
            amount = payload["amount"]
            return self._wechat_answer(
                200,
                {
                    "refund_id": "50" + _digest("wxrefund", out_refund_no)[:28],
                    "out_refund_no": out_refund_no,
                    "transaction_id": "42" + _digest("wxtx", str(payload["out_trade_no"]))[:26],
                    "out_trade_no": payload["out_trade_no"],
                    "channel": "ORIGINAL",
                    "user_received_account": "支付用户零钱",
                    "status": "SUCCESS",  # a balance refund settles at once; real ones may say PROCESSING
                    "amount": {
                        "total": amount["total"],
                        "refund": amount["refund"],
                        "payer_total": amount["total"],
                        "payer_refund": amount["refund"],
                        "currency": amount.get("currency", "CNY"),
                    },
                },
                keys,
            )
        return self._wechat_answer(404, {"code": "NOT_FOUND", "message": "sandbox: unknown API"}, keys)

    @staticmethod
    def _wechat_signed(request: SignedRequest, keys: dict[str, Any]) -> bool:
        """Check the WECHATPAY2-SHA256-RSA2048 Authorization with the merchant public key, as WeChat does."""
        header = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        scheme, _, rest = header.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return False
        fields = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
        fields = {key: value.strip('"') for key, value in fields.items()}
        parts = urlsplit(request.url)
        canonical = parts.path + (f"?{parts.query}" if parts.query else "")
        message = (
            f"{request.method}\n{canonical}\n{fields.get('timestamp', '')}\n"
            f"{fields.get('nonce_str', '')}\n".encode()
            + request.body
            + b"\n"
        )
        return (
            fields.get("mchid") == keys["mchid"]
            and fields.get("serial_no") == keys["merchant_serial_no"]
            and _rsa.verify_sha256_rsa(message, fields.get("signature", ""), keys["merchant_public_key_pem"])
        )

    @staticmethod
    def _wechat_answer(status: int, payload: dict[str, Any] | None, keys: dict[str, Any]) -> HttpResponse:
        import time

        from shared.payments.adapters.wechatpay import sign_notification

        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = sign_notification(
            body,
            platform_private_key_pem=keys["platform_private_key_pem"],
            serial=keys["platform_serial_no"],
            timestamp=int(time.time()),
            nonce=secrets.token_hex(16),
        )
        return HttpResponse(status, headers, body)

    # ------------------------------------------------------------ Alipay OpenAPI

    def _alipay(self, request: SignedRequest, keys: dict[str, Any]) -> HttpResponse:
        from shared.payments.adapters.alipay import fen_to_yuan, sign_content, yuan_to_fen

        form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        method = form.get("method", "")
        node = method.replace(".", "_") + "_response"
        signed = _rsa.verify_sha256_rsa(
            sign_content(form, for_notify=False).encode("utf-8"),
            form.get("sign", ""),
            keys["app_public_key_pem"],
        )
        if not signed or form.get("app_id") != keys["app_id"]:
            return self._alipay_answer(
                node,
                {
                    "code": "40002",
                    "msg": "Invalid Arguments",
                    "sub_code": "isv.invalid-signature",
                    "sub_msg": "验签出错",
                },
                keys,
            )
        biz = json.loads(form.get("biz_content") or "{}")
        out_trade_no = str(biz.get("out_trade_no", ""))
        if method == "alipay.trade.precreate":
            SandboxHttpClient.calls.append(("alipay.precreate", out_trade_no))
            return self._alipay_answer(
                node,
                {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": out_trade_no,
                    "qr_code": f"https://qr.alipay.com/sbx{_digest('ali', out_trade_no)[:20]}",
                },
                keys,
            )
        if method == "alipay.trade.close":
            SandboxHttpClient.calls.append(("alipay.close", out_trade_no))
            return self._alipay_answer(
                node, {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no}, keys
            )
        if method == "alipay.trade.refund":
            out_request_no = str(biz.get("out_request_no", ""))
            SandboxHttpClient.calls.append(("alipay.refund", out_request_no))
            refund_fen = yuan_to_fen(str(biz["refund_amount"]))
            return self._alipay_answer(
                node,
                {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": out_trade_no,
                    "trade_no": "2024" + _digest("alitx", out_trade_no)[:24],
                    "buyer_logon_id": "sbx***@example.com",
                    "fund_change": "Y",
                    "refund_fee": fen_to_yuan(refund_fen),
                },
                keys,
            )
        return self._alipay_answer(
            node,
            {
                "code": "40004",
                "msg": "Business Failed",
                "sub_code": "ACQ.SANDBOX_UNSUPPORTED",
                "sub_msg": method,
            },
            keys,
        )

    @staticmethod
    def _alipay_answer(node: str, payload: dict[str, Any], keys: dict[str, Any]) -> HttpResponse:
        # Alipay signs the exact text of the `<method>_response` member.
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        signature = _rsa.sign_sha256_rsa(raw.encode("utf-8"), keys["alipay_private_key_pem"])
        body = f'{{"{node}":{raw},"sign":"{signature}"}}'.encode()
        return HttpResponse(200, {"Content-Type": "application/json;charset=utf-8"}, body)


def card_charge(token: str, amount_fen: int, out_trade_no: str) -> tuple[bool, str, str]:
    """The sandbox card provider: captures at once. `tok_decline...` declines. -> (captured, id, message)."""
    SandboxHttpClient.calls.append(("card.charge", out_trade_no))
    if token.startswith("tok_decline"):
        return False, "", "The card was declined by the issuer (sandbox). Try another card or method."
    return True, "ch_" + _digest("card", out_trade_no, token)[:24], ""


def card_refund(out_refund_no: str, amount_fen: int) -> str:
    SandboxHttpClient.calls.append(("card.refund", out_refund_no))
    return "re_" + _digest("cardrefund", out_refund_no)[:24]
