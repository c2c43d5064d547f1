"""Provider payment callbacks. Not JSON APIs: each answers exactly what its provider expects.

* WeChat Pay v3: 204 with an empty body on success; 4xx/5xx `{"code":"FAIL","message":...}` otherwise.
  Freshness: `Wechatpay-Timestamp` within 5 minutes (WeChat signs every retry afresh).
* Alipay: 200 `success` (text/plain) on success; `failure` otherwise. Freshness: `notify_time` at most
  25 hours old (Alipay re-sends the SAME signed form for up to ~25 h: 4m, 10m, 10m, 1h, 2h, 6h, 15h) and at
  most 5 minutes in the future (clock skew).

Acknowledged: processed events, duplicates, unknown orders (stored for ops). Rejected (provider retries, a
forger gets nothing): bad signature, stale, wrong merchant/app, wrong amount, our own transient trouble.
Bodies are never logged.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from shared.api.declaration import route
from shared.core.clock import iso, now
from shared.core.errors import DomainError, Unavailable
from shared.core.problems import FORM
from shared.payments.adapters.errors import (
    BadSignature,
    CallbackRejected,
    MalformedNotification,
    MissingHeader,
    StaleTimestamp,
)
from shared.payments.models import Capture, Outcome, Provider

notify = Router()  # Powertools leaves __init__ unannotated
logger = logging.getLogger("order24.payments.notify")

ALIPAY_MAX_AGE = timedelta(hours=25)
ALIPAY_MAX_AHEAD = timedelta(minutes=5)
_WECHAT_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")
ACCEPTS = ("application/json", FORM)  # WeChat Pay posts JSON, Alipay a form
# What a provider sends that our parsers cannot read. Raised while parsing and verifying (before any state is
# read) it is the sender's fault, so a 4xx: a 5xx would make the provider retry a forgery for a day.
_UNREADABLE = (ValueError, TypeError, KeyError, OverflowError, ArithmeticError)


def failure(event: Mapping[str, Any], error: DomainError) -> tuple[int, str, str]:
    """The function's failure format for `http_app`: each provider's own, with the status of `error`."""
    if str(event.get("rawPath") or "").endswith("/alipay/notify"):
        return error.status, "text/plain; charset=utf-8", "failure"
    return error.status, "application/json", json.dumps({"code": "FAIL", "message": error.code})


def _raw_body() -> bytes:
    event = notify.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def _wechat_fail(status: int, message: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False),
    )


# POST /payments/wechatpay/notify
@route(notify, "notifyWechatpayPayment", summary="WeChat Pay v3 payment and refund notifications")
def wechatpay_notify() -> Response[str]:
    try:
        outcome = handle_wechatpay(dict(notify.current_event.headers or {}), _raw_body())
    except CallbackRejected as error:
        logger.warning("wechatpay notification rejected", extra={"code": error.code})
        return _wechat_fail(error.status, error.code)
    except Unavailable as error:
        logger.warning("wechatpay notification deferred", extra={"code": error.code})
        return _wechat_fail(503, "retry later")
    except Exception:  # deliberately broad: any failure of ours makes WeChat retry the notification later
        logger.exception("wechatpay notification failed")
        return _wechat_fail(500, "retry later")
    logger.info("wechatpay notification", extra={"result": outcome.result, "order_id": outcome.order_id})
    return Response(status_code=204, content_type="text/plain", body="")


# POST /payments/alipay/notify
@route(notify, "notifyAlipayPayment", summary="Alipay asynchronous notifications (trade_status_sync)")
def alipay_notify() -> Response[str]:
    try:
        outcome = handle_alipay(_raw_body())
    except CallbackRejected as error:
        logger.warning("alipay notification rejected", extra={"code": error.code})
        return Response(status_code=error.status, content_type="text/plain; charset=utf-8", body="failure")
    except Exception as error:  # deliberately broad: any failure of ours makes Alipay retry the notification
        if not isinstance(error, Unavailable):
            logger.exception("alipay notification failed")
        return Response(
            status_code=503 if isinstance(error, Unavailable) else 500,
            content_type="text/plain; charset=utf-8",
            body="failure",
        )
    logger.info("alipay notification", extra={"result": outcome.result, "order_id": outcome.order_id})
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body="success")


# ------------------------------------------------------------------ WeChat Pay


def handle_wechatpay(headers: dict[str, str], body: bytes) -> Outcome:
    from shared.payments import service
    from shared.payments.adapters import wechatpay
    from shared.payments.secrets import wechatpay_config

    present = {name.lower() for name, value in headers.items() if value}
    missing = [name for name in _WECHAT_HEADERS if name.lower() not in present]
    if missing:  # junk is refused before the secret is even loaded
        raise MissingHeader(f"missing header {missing[0]}")
    config = wechatpay_config()
    try:
        notification = wechatpay.parse_notification(headers, body, config, now=now())
    except _UNREADABLE:  # e.g. a 5,000-digit Wechatpay-Timestamp: int() refuses it with ValueError
        raise MalformedNotification("notification headers or body are unreadable") from None
    resource = notification.resource
    if isinstance(resource, wechatpay.WechatTransaction):
        if resource.appid != config.appid:
            raise service.WrongApp("notification is for another appid")
        if resource.trade_state is wechatpay.TradeState.SUCCESS:
            if not resource.transaction_id:
                raise MalformedNotification("SUCCESS without transaction_id")
            return service.record_capture(
                Capture(
                    provider=Provider.WECHATPAY,
                    out_trade_no=resource.out_trade_no,
                    transaction_id=resource.transaction_id,
                    amount_fen=resource.amount.total,
                    currency=resource.amount.currency,
                    paid_at=iso(resource.success_time or now()),
                    event_key=f"wechatpay:{notification.id}",
                ),
                payload=notification.resource_raw,
            )
        if resource.trade_state is wechatpay.TradeState.PAYERROR:
            reason = resource.trade_state_desc or "the bank declined it"
            return service.record_failure(
                resource.out_trade_no,
                Provider.WECHATPAY,
                f"wechatpay:{notification.id}",
                f"WeChat Pay could not complete the payment ({reason}). Please try again.",
            )
        return Outcome("ignored")  # NOTPAY, CLOSED, REVOKED, USERPAYING, REFUND: never un-pay an order
    if isinstance(resource, wechatpay.WechatRefund):
        if resource.refund_status is wechatpay.RefundStatus.PROCESSING:
            return Outcome("ignored")
        return service.record_refund_result(
            resource.out_trade_no,
            Provider.WECHATPAY,
            out_refund_no=resource.out_refund_no,
            succeeded=resource.refund_status is wechatpay.RefundStatus.SUCCESS,
            detail=f"WeChat Pay refund {resource.refund_status.value}",
        )
    return service._unmatched(
        Provider.WECHATPAY,
        notification.id,
        notification.resource_raw,
        f"wechatpay {notification.event_type} notification we do not handle",
    )


# ------------------------------------------------------------------ Alipay


def _alipay_fresh(sent_at: Any) -> None:
    moment = now()
    if sent_at < moment - ALIPAY_MAX_AGE or sent_at > moment + ALIPAY_MAX_AHEAD:
        raise StaleTimestamp("notify_time is outside the 25 hour window")


def handle_alipay(body: bytes) -> Outcome:
    from shared.payments import service
    from shared.payments.adapters import alipay
    from shared.payments.secrets import alipay_config

    form = alipay.parse_form(body)
    if not form.get("sign"):
        raise BadSignature("notification has no sign")
    try:
        notification = alipay.verify_notification(form, alipay_config())
    except _UNREADABLE:
        raise MalformedNotification("notification form is unreadable") from None
    _alipay_fresh(notification.notify_time)
    status = notification.trade_status
    key = f"alipay:{notification.trade_no}:{status.value}"
    if notification.refund_fen is not None and notification.out_biz_no:
        return service.record_refund_result(
            notification.out_trade_no,
            Provider.ALIPAY,
            out_refund_no=notification.out_biz_no,
            succeeded=True,
            detail=f"Alipay refund of {notification.refund_fen} fen",
        )
    if status in (alipay.TradeStatus.TRADE_SUCCESS, alipay.TradeStatus.TRADE_FINISHED):
        paid_at = notification.gmt_payment or notification.notify_time
        payload = {k: v for k, v in notification.raw.items() if k not in ("sign", "sign_type")}
        return service.record_capture(
            Capture(
                provider=Provider.ALIPAY,
                out_trade_no=notification.out_trade_no,
                transaction_id=notification.trade_no,
                amount_fen=notification.total_fen,
                currency="CNY",
                paid_at=iso(paid_at),
                event_key=key,
            ),
            payload=payload,
        )
    if status is alipay.TradeStatus.TRADE_CLOSED:
        return service.record_failure(
            notification.out_trade_no,
            Provider.ALIPAY,
            key,
            "The Alipay payment was not completed and Alipay closed the trade. Please try paying again.",
        )
    return Outcome("ignored")  # WAIT_BUYER_PAY
