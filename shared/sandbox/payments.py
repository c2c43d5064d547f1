"""An in-process `HttpClient` that answers like WeChat Pay v3 and Alipay do (local runtime and tests only).

It checks our request signatures with the merchant/app public keys and signs its answers with the sandbox
platform / Alipay keys, so the adapters' response verification runs for real. Used when
`ORDER24_SANDBOX=1` (shared/core/config.py); keys come from `configure(keys)` (tests) or the JSON file named by
`PAYMENTS_SANDBOX_KEYS` (written by infra/local/payments_extension.py).

Refunds, as the providers settle them:
* WeChat Pay answers a refund SUCCESS at once (a balance refund), unless refunds are set to settle by
  notification (`SandboxHttpClient.wechat_refund_outcome` in tests; env `SANDBOX_WECHAT_REFUND=SUCCESS|ABNORMAL|
  CLOSED`, set by the local runtime): then it answers PROCESSING and sends the `REFUND.<outcome>` notification,
  signed and AEAD-encrypted exactly like its payment notification, to the request's `notify_url` (a background
  POST when the env asks for it, the local runtime; else it waits in `SandboxHttpClient.outbox` for the test to
  deliver). One notification per out_refund_no; a repeated refund request answers the refund's current state.
* Alipay answers `alipay.trade.refund` with code 10000 (accepted) and `alipay.trade.fastpay.refund.query` with
  `refund_status: REFUND_SUCCESS` once processed: at once, unless `SandboxHttpClient.alipay_refunds_held`
  (tests) keeps them unprocessed until `release_alipay_refunds()`; unknown refunds answer without a status.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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
    # WeChat refunds: None settles at once; SUCCESS | ABNORMAL | CLOSED answers PROCESSING, then notifies that
    wechat_refund_outcome: ClassVar[str | None] = None
    outbox: ClassVar[list[Notification]] = []  # refund notifications not sent over HTTP (tests deliver them)
    wechat_refunds: ClassVar[dict[str, str]] = {}  # out_refund_no -> its status (one refund, one notification)
    alipay_refunds_held: ClassVar[bool] = False  # tests: accepted Alipay refunds stay unprocessed until released
    alipay_refunds: ClassVar[dict[tuple[str, str], dict[str, Any]]] = {}  # (out_trade_no, out_request_no) -> it

    @classmethod
    def reset_refunds(cls) -> None:
        cls.wechat_refund_outcome, cls.alipay_refunds_held = None, False
        cls.outbox.clear()
        cls.wechat_refunds.clear()
        cls.alipay_refunds.clear()

    @classmethod
    def release_alipay_refunds(cls) -> None:
        """Alipay processes every refund it accepted (the refund query answers REFUND_SUCCESS from now on)."""
        for refund in cls.alipay_refunds.values():
            refund["status"] = "REFUND_SUCCESS"

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
            refund: dict[str, Any] = {
                "refund_id": "50" + _digest("wxrefund", out_refund_no)[:28],
                "out_refund_no": out_refund_no,
                "transaction_id": "42" + _digest("wxtx", str(payload["out_trade_no"]))[:26],
                "out_trade_no": payload["out_trade_no"],
                "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": amount["total"],
                    "refund": amount["refund"],
                    "payer_total": amount["total"],
                    "payer_refund": amount["refund"],
                    "currency": amount.get("currency", "CNY"),
                },
            }
            known = SandboxHttpClient.wechat_refunds.get(out_refund_no)
            outcome = _wechat_refund_outcome()
            if known is not None:  # the same out_refund_no again: the same refund, in its current state
                status = known
            elif outcome is None:
                status = "SUCCESS"  # a balance refund settles at once
            else:
                status = "PROCESSING"
                SandboxHttpClient.wechat_refunds[out_refund_no] = outcome  # settled by the notification below
                _notify_refund(refund, outcome, str(payload.get("notify_url") or ""), keys)
            SandboxHttpClient.wechat_refunds.setdefault(out_refund_no, status)
            return self._wechat_answer(200, {**refund, "status": status}, keys)
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
            known = SandboxHttpClient.alipay_refunds.get((out_trade_no, out_request_no))
            if known is None:
                SandboxHttpClient.alipay_refunds[(out_trade_no, out_request_no)] = {
                    "refund_fen": refund_fen, "at": time.time(),
                    "status": None if SandboxHttpClient.alipay_refunds_held else "REFUND_SUCCESS",
                }
            return self._alipay_answer(
                node,
                {
                    "code": "10000",
                    "msg": "Success",
                    "out_trade_no": out_trade_no,
                    "trade_no": _alipay_trade_no(out_trade_no),
                    "buyer_logon_id": "sbx***@example.com",
                    "fund_change": "N" if known is not None else "Y",  # "N": this out_request_no was seen before
                    "refund_fee": fen_to_yuan(refund_fen),
                },
                keys,
            )
        if method == "alipay.trade.fastpay.refund.query":
            out_request_no = str(biz.get("out_request_no", ""))
            SandboxHttpClient.calls.append(("alipay.refund_query", out_request_no))
            answer: dict[str, Any] = {"code": "10000", "msg": "Success"}
            found = SandboxHttpClient.alipay_refunds.get((out_trade_no, out_request_no))
            if found is not None and found["status"]:
                from shared.payments.adapters.alipay import china_time

                answer.update(
                    trade_no=_alipay_trade_no(out_trade_no),
                    out_trade_no=out_trade_no,
                    out_request_no=out_request_no,
                    refund_amount=fen_to_yuan(int(found["refund_fen"])),
                    refund_status=found["status"],
                    gmt_refund_pay=china_time(datetime.fromtimestamp(float(found["at"]), UTC)),
                )
            return self._alipay_answer(node, answer, keys)  # no refund_status: not (yet) refunded
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


def _alipay_trade_no(out_trade_no: str) -> str:
    return "2024" + _digest("alitx", out_trade_no)[:24]


@dataclass(frozen=True, slots=True)
class Notification:
    """A provider notification the sandbox sends: where, with which headers, which exact bytes."""

    url: str
    headers: dict[str, str]
    body: bytes


def _wechat_refund_outcome() -> str | None:
    """How WeChat refunds settle here: None at once; else PROCESSING and then a `REFUND.<outcome>`
    notification. A test's class setting wins over the runtime's env."""
    outcome = SandboxHttpClient.wechat_refund_outcome or os.environ.get("SANDBOX_WECHAT_REFUND") or None
    return outcome.upper() if outcome else None


def _notify_refund(refund: dict[str, Any], outcome: str, notify_url: str, keys: dict[str, Any]) -> None:
    """Build the `REFUND.<outcome>` notification WeChat would send for `refund` (AEAD-encrypted resource,
    platform-signed headers) and send it: by HTTP in the background when the runtime asked for it (env
    `SANDBOX_WECHAT_REFUND`), else into `outbox`."""
    from shared.core.clock import now
    from shared.payments.adapters import wechatpay
    from shared.payments.secrets import wechatpay_config

    moment = now()
    body = wechatpay.build_refund_notification(
        wechatpay_config(),
        out_trade_no=str(refund["out_trade_no"]),
        transaction_id=str(refund["transaction_id"]),
        out_refund_no=str(refund["out_refund_no"]),
        refund_id=str(refund["refund_id"]),
        refund_fen=int(refund["amount"]["refund"]),
        total_fen=int(refund["amount"]["total"]),
        refund_status=outcome,
        now=moment,
        event_id=secrets.token_hex(16),
        resource_nonce=secrets.token_hex(6),
    )
    headers = wechatpay.sign_notification(
        body,
        platform_private_key_pem=keys["platform_private_key_pem"],
        serial=keys["platform_serial_no"],
        timestamp=int(moment.timestamp()),
        nonce=secrets.token_hex(16),
    )
    notification = Notification(notify_url, headers, body)
    if SandboxHttpClient.wechat_refund_outcome is None and notify_url:
        # the local runtime: WeChat posts a moment later, and retries a refused or failed delivery
        sender = threading.Timer(0.3, deliver_over_http, args=(notification,))
        sender.daemon = True
        sender.start()
    else:
        SandboxHttpClient.outbox.append(notification)


def deliver_over_http(notification: Notification, attempts: int = 5) -> int:
    """POST a notification to its URL as the provider would, retrying (0.5s, 1s, 2s, ...) until it is
    acknowledged with a 2xx. Answers the last HTTP status (0: never answered)."""
    from shared.payments.adapters.http import SignedRequest, TransportError, UrllibHttpClient

    status, pause = 0, 0.5
    for _ in range(attempts):
        try:
            status = UrllibHttpClient().send(
                SignedRequest("POST", notification.url, notification.headers, notification.body)
            ).status
        except TransportError:
            status = 0
        if 200 <= status < 300:
            break
        time.sleep(pause)
        pause *= 2
    return status
