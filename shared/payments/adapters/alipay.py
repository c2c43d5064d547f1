"""Alipay OpenAPI adapter (RSA2 = SHA256withRSA, PKCS#1 v1.5): pure functions, no AWS, no clock of its own.

Signing content: parameters sorted by key, `k=v` joined with `&`, raw (not URL-encoded) values, empty values
skipped, `sign` never included. Requests sign `sign_type` too; notification verification drops it, as
Alipay's documentation and SDKs do.

Acknowledge a notification with HTTP 200 and the plain text `success` (`ACK_BODY`); anything else makes
Alipay retry (4m, 10m, 10m, 1h, 2h, 6h, 15h).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from shared.payments.adapters import _rsa
from shared.payments.adapters.errors import (
    BadSignature,
    MalformedNotification,
    ProviderError,
    WrongMerchant,
)
from shared.payments.adapters.http import HttpResponse, SignedRequest

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # Alipay times are Beijing time; no DST
ACK_BODY = b"success"
ACK_CONTENT_TYPE = "text/plain; charset=utf-8"
SIGN_TYPE = "RSA2"
CHARSET = "utf-8"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=utf-8"
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_YUAN = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")  # ASCII digits only: \d also matches "１"


class AlipayConfig(BaseModel):
    """One app's credentials. Keys may be PEM or Alipay's bare base64; SecretStr keeps them out of repr."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    app_id: str = Field(min_length=1)
    seller_id: str = Field(min_length=1)  # the merchant PID (2088...): notifications must name it
    app_private_key_pem: SecretStr
    alipay_public_key_pem: str = Field(
        min_length=1, repr=False
    )  # public, but verifying with the wrong one is fatal
    notify_url: str = Field(pattern=r"^https?://")
    gateway: str = "https://openapi.alipay.com/gateway.do"


class TradeStatus(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_FINISHED = "TRADE_FINISHED"
    TRADE_CLOSED = "TRADE_CLOSED"


class AlipayNotification(BaseModel):
    """A verified asynchronous notification. Times are aware (+08:00); amounts are fen.

    `notify_time` is for the caller's staleness policy; `notify_id` is the delivery id (a retry of the
    same notification keeps it), so idempotency is best keyed on (trade_no, trade_status, refund state).
    A partial refund arrives as TRADE_SUCCESS with `refund_fen`, `out_biz_no` (our out_request_no) and
    `gmt_refund`.
    """

    model_config = ConfigDict(frozen=True)

    notify_id: str
    notify_time: datetime
    notify_type: str | None = None
    app_id: str
    seller_id: str | None = None
    out_trade_no: str
    trade_no: str
    trade_status: TradeStatus
    total_fen: int
    refund_fen: int | None = None
    receipt_fen: int | None = None
    buyer_pay_fen: int | None = None
    out_biz_no: str | None = None
    buyer_id: str | None = None
    gmt_create: datetime | None = None
    gmt_payment: datetime | None = None
    gmt_refund: datetime | None = None
    gmt_close: datetime | None = None
    raw: dict[str, str]


# ---------------------------------------------------------------- money


def fen_to_yuan(fen: int) -> str:
    """1234 -> "12.34", exactly (integer arithmetic only). Negative or non-int amounts are bugs: raise."""
    if type(fen) is not int:
        raise TypeError("fen must be an int")
    if fen < 0:
        raise ValueError("fen must not be negative")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(yuan: str) -> int:
    """ "12.34" -> 1234, "12" -> 1200, "0.5" -> 50. Rejects floats, signs, exponents, >2 decimals."""
    if not isinstance(yuan, str):
        raise TypeError("yuan must be a decimal string, never a float")
    match = _YUAN.fullmatch(yuan)  # fullmatch: "$" would let a trailing newline through
    if match is None:
        raise ValueError("not a yuan amount with at most 2 decimals")
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(cents)


# ---------------------------------------------------------------- signing


def sign_content(params: Mapping[str, str], *, for_notify: bool) -> str:
    excluded = {"sign", "sign_type"} if for_notify else {"sign"}
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key not in excluded and params[key])


def sign(params: Mapping[str, str], private_key_pem: str) -> str:
    """base64 RSA2 signature of a request's parameters (`sign_type` included, as Alipay requires)."""
    return _rsa.sign_sha256_rsa(sign_content(params, for_notify=False).encode("utf-8"), private_key_pem)


def china_time(moment: datetime) -> str:
    """`2024-06-01 10:34:56` in Beijing time, Alipay's timestamp format."""
    if moment.tzinfo is None:
        raise ValueError("aware datetime required")
    return moment.astimezone(CHINA_TZ).strftime(_TIME_FORMAT)


def parse_china_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=CHINA_TZ)


def _json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _check_amount(amount_fen: int, name: str) -> None:
    if type(amount_fen) is not int or amount_fen <= 0:
        raise ValueError(f"{name} must be a positive int (fen)")


def signed_params(
    config: AlipayConfig, *, method: str, biz_content: Mapping[str, Any], now: datetime, notify: bool = True
) -> dict[str, str]:
    """Common parameters plus `biz_content`, with `sign` added last."""
    params = {
        "app_id": config.app_id,
        "method": method,
        "format": "JSON",
        "charset": CHARSET,
        "sign_type": SIGN_TYPE,
        "timestamp": china_time(now),
        "version": "1.0",
    }
    if notify:
        params["notify_url"] = config.notify_url
    params["biz_content"] = _json(biz_content)
    params["sign"] = sign(params, config.app_private_key_pem.get_secret_value())
    return params


def _form_request(config: AlipayConfig, params: Mapping[str, str]) -> SignedRequest:
    # All parameters go in the form body; charset also rides in the query so the gateway decodes it right.
    return SignedRequest(
        "POST",
        f"{config.gateway}?charset={CHARSET}",
        {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"},
        urlencode(params).encode("ascii"),
    )


def precreate_request(
    config: AlipayConfig,
    *,
    out_trade_no: str,
    subject: str,
    amount_fen: int,
    timeout_express: str = "15m",
    now: datetime,
) -> SignedRequest:
    """alipay.trade.precreate (QR code). The answer's `qr_code` comes from `parse_response`."""
    _check_amount(amount_fen, "amount_fen")
    biz = {
        "out_trade_no": out_trade_no,
        "total_amount": fen_to_yuan(amount_fen),
        "subject": subject,
        "timeout_express": timeout_express,
    }
    return _form_request(
        config, signed_params(config, method="alipay.trade.precreate", biz_content=biz, now=now)
    )


def app_pay_order_string(
    config: AlipayConfig,
    *,
    out_trade_no: str,
    subject: str,
    amount_fen: int,
    timeout_express: str = "30m",
    now: datetime,
) -> str:
    """alipay.trade.app.pay: the signed, URL-encoded query string the mobile app hands to the Alipay SDK."""
    _check_amount(amount_fen, "amount_fen")
    biz = {
        "out_trade_no": out_trade_no,
        "total_amount": fen_to_yuan(amount_fen),
        "subject": subject,
        "product_code": "QUICK_MSECURITY_PAY",
        "timeout_express": timeout_express,
    }
    params = signed_params(config, method="alipay.trade.app.pay", biz_content=biz, now=now)
    return "&".join(f"{key}={quote_plus(params[key])}" for key in sorted(params))


def refund_request(
    config: AlipayConfig,
    *,
    out_trade_no: str,
    out_request_no: str,
    refund_fen: int,
    reason: str | None,
    now: datetime,
) -> SignedRequest:
    """alipay.trade.refund. `out_request_no` makes partial refunds idempotent: reuse it on retry."""
    _check_amount(refund_fen, "refund_fen")
    biz: dict[str, Any] = {
        "out_trade_no": out_trade_no,
        "refund_amount": fen_to_yuan(refund_fen),
        "out_request_no": out_request_no,
    }
    if reason:
        biz["refund_reason"] = reason
    # The refund API has no notify_url; a refund result arrives (if at all) on the trade's notify_url.
    return _form_request(
        config, signed_params(config, method="alipay.trade.refund", biz_content=biz, now=now, notify=False)
    )


REFUND_QUERY = "alipay.trade.fastpay.refund.query"
REFUND_SUCCESS = "REFUND_SUCCESS"


def refund_query_request(
    config: AlipayConfig, *, out_trade_no: str, out_request_no: str, now: datetime
) -> SignedRequest:
    """alipay.trade.fastpay.refund.query: did the refund sent with `out_request_no` go through? (`code=10000`
    from alipay.trade.refund only means the request was accepted.) `gmt_refund_pay` asks for the refund time."""
    if not out_request_no:
        raise ValueError("out_request_no is required")
    biz = {"out_trade_no": out_trade_no, "out_request_no": out_request_no, "query_options": ["gmt_refund_pay"]}
    return _form_request(config, signed_params(config, method=REFUND_QUERY, biz_content=biz, now=now, notify=False))


class AlipayRefundQuery(BaseModel):
    """A verified refund query answer. Per Alipay's documentation, `refund_status` REFUND_SUCCESS means the
    money moved; an answer without it (no refund record yet, or not processed) means not (yet) refunded."""

    model_config = ConfigDict(frozen=True)

    out_trade_no: str | None = None
    out_request_no: str | None = None
    trade_no: str | None = None
    refund_status: str | None = None
    refund_fen: int | None = None
    total_fen: int | None = None
    gmt_refund_pay: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.refund_status == REFUND_SUCCESS


def parse_refund_query_response(response: HttpResponse, config: AlipayConfig) -> AlipayRefundQuery:
    """The verified answer of `refund_query_request`. Raises `ProviderError` (unsigned, forged, code != 10000)."""
    payload = parse_response(response, REFUND_QUERY, config)
    try:
        return AlipayRefundQuery(
            out_trade_no=payload.get("out_trade_no") or None,
            out_request_no=payload.get("out_request_no") or None,
            trade_no=payload.get("trade_no") or None,
            refund_status=payload.get("refund_status") or None,
            refund_fen=_fen_or_none(payload.get("refund_amount")),
            total_fen=_fen_or_none(payload.get("total_amount")),
            gmt_refund_pay=_time_or_none(payload.get("gmt_refund_pay")),
        )
    except (ValueError, TypeError, ValidationError):
        raise ProviderError("Alipay refund query answer has an unexpected shape") from None


def _trade_request(config: AlipayConfig, method: str, out_trade_no: str, now: datetime) -> SignedRequest:
    """An API call about one trade, named by our out_trade_no (query, close)."""
    return _form_request(
        config,
        signed_params(
            config, method=method, biz_content={"out_trade_no": out_trade_no}, now=now, notify=False
        ),
    )


def close_request(config: AlipayConfig, *, out_trade_no: str, now: datetime) -> SignedRequest:
    """alipay.trade.close: an unpaid trade can no longer be paid (ACQ.TRADE_NOT_EXIST if never scanned)."""
    return _trade_request(config, "alipay.trade.close", out_trade_no, now)


def query_request(config: AlipayConfig, *, out_trade_no: str, now: datetime) -> SignedRequest:
    """alipay.trade.query: for reconciling a missed notification."""
    return _trade_request(config, "alipay.trade.query", out_trade_no, now)


# ---------------------------------------------------------------- inbound


def parse_form(body: bytes | str) -> dict[str, str]:
    """The POSTed form body as decoded fields (what `verify_notification` wants)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False))


def _fen_or_none(value: str | None) -> int | None:
    return yuan_to_fen(value) if value else None


def _time_or_none(value: str | None) -> datetime | None:
    return parse_china_time(value) if value else None


def verify_notification(form: Mapping[str, str], config: AlipayConfig) -> AlipayNotification:
    """Verify RSA2 with the Alipay public key and parse. Raises a `CallbackRejected` subclass:
    `bad_signature` (missing/forged/tampered or not RSA2), `wrong_merchant` (other app_id/seller_id),
    `malformed_body` (authentic but unreadable).
    """
    signature = form.get("sign")
    if not signature:
        raise BadSignature("notification has no sign")
    if form.get("sign_type", SIGN_TYPE) != SIGN_TYPE:
        raise BadSignature("only RSA2 notifications are accepted")
    content = sign_content(form, for_notify=True).encode("utf-8")
    if not _rsa.verify_sha256_rsa(content, signature, config.alipay_public_key_pem):
        raise BadSignature("notification sign does not verify")
    if form.get("app_id") != config.app_id or form.get("seller_id") not in (None, "", config.seller_id):
        raise WrongMerchant("notification is for another app_id or seller_id")
    try:
        return AlipayNotification(
            notify_id=form["notify_id"],
            notify_time=parse_china_time(form["notify_time"]),
            notify_type=form.get("notify_type"),
            app_id=form["app_id"],
            seller_id=form.get("seller_id") or None,
            out_trade_no=form["out_trade_no"],
            trade_no=form["trade_no"],
            trade_status=TradeStatus(form["trade_status"]),
            total_fen=yuan_to_fen(form["total_amount"]),
            refund_fen=_fen_or_none(form.get("refund_fee")),
            receipt_fen=_fen_or_none(form.get("receipt_amount")),
            buyer_pay_fen=_fen_or_none(form.get("buyer_pay_amount")),
            out_biz_no=form.get("out_biz_no") or None,
            buyer_id=form.get("buyer_id") or None,
            gmt_create=_time_or_none(form.get("gmt_create")),
            gmt_payment=_time_or_none(form.get("gmt_payment")),
            gmt_refund=_time_or_none(form.get("gmt_refund")),
            gmt_close=_time_or_none(form.get("gmt_close")),
            raw=dict(form),
        )
    except (KeyError, ValueError, TypeError, ValidationError):
        raise MalformedNotification("notification fields are missing or malformed") from None


def parse_response(response: HttpResponse, method: str, config: AlipayConfig) -> dict[str, Any]:
    """The verified `<method>_response` object of a gateway answer. Raises `ProviderError`.

    Alipay signs the raw JSON text of that object (not a re-serialisation), so it is cut out of the body as
    sent. A business failure (code != "10000") raises with Alipay's `sub_code`.
    """
    if not response.ok:
        raise ProviderError(f"Alipay gateway answered HTTP {response.status}", status=response.status)
    text = response.body.decode("utf-8")
    node = method.replace(".", "_") + "_response"
    try:
        data = json.loads(text)
        payload = data[node]
        raw = _raw_member(text, node)
    except (ValueError, KeyError, TypeError):
        raise ProviderError(f"Alipay answer lacks {node}") from None
    if not isinstance(payload, dict):
        raise ProviderError(f"Alipay {node} is not an object")
    signature = data.get("sign")
    if signature:
        if not _rsa.verify_sha256_rsa(raw.encode("utf-8"), signature, config.alipay_public_key_pem):
            raise ProviderError("Alipay response sign does not verify")
    elif payload.get("code") == "10000":
        raise ProviderError("Alipay success answer is unsigned")
    if payload.get("code") != "10000":
        sub_code = str(payload.get("sub_code") or payload.get("code") or "")
        raise ProviderError(
            f"Alipay {method} failed: {sub_code} {payload.get('sub_msg', '')}"[:300], code=sub_code
        )
    return payload


def _raw_member(text: str, name: str) -> str:
    """The exact source text of top-level member `name` of the JSON object `text`."""
    decoder = json.JSONDecoder()
    index = text.index("{") + 1
    while True:
        while text[index] in " \t\r\n,":
            index += 1
        key, index = decoder.raw_decode(text, index)
        while text[index] in " \t\r\n:":
            index += 1
        _, end = decoder.raw_decode(text, index)
        if key == name:
            return text[index:end]
        index = end


# ---------------------------------------------------------------- sandbox side (what Alipay would send)


def sign_notification(fields: Mapping[str, str], alipay_private_key_pem: str) -> dict[str, str]:
    """The form Alipay would POST: `fields` plus `sign_type=RSA2` and `sign` (over the notify content)."""
    form = {key: value for key, value in fields.items() if key not in ("sign", "sign_type")}
    form["sign_type"] = SIGN_TYPE
    form["sign"] = _rsa.sign_sha256_rsa(
        sign_content(form, for_notify=True).encode("utf-8"), alipay_private_key_pem
    )
    return form


def build_trade_notification(
    config: AlipayConfig,
    *,
    out_trade_no: str,
    trade_no: str,
    amount_fen: int,
    trade_status: TradeStatus | str = TradeStatus.TRADE_SUCCESS,
    now: datetime,
    notify_id: str,
    refund_fen: int | None = None,
    out_biz_no: str | None = None,
    subject: str = "order24",
) -> dict[str, str]:
    """Unsigned fields of a `trade_status_sync` notification; pass them to `sign_notification`."""
    status = TradeStatus(trade_status)
    stamp = china_time(now)
    fields = {
        "notify_time": stamp,
        "notify_type": "trade_status_sync",
        "notify_id": notify_id,
        "charset": CHARSET,
        "version": "1.0",
        "app_id": config.app_id,
        "auth_app_id": config.app_id,
        "seller_id": config.seller_id,
        "out_trade_no": out_trade_no,
        "trade_no": trade_no,
        "trade_status": status.value,
        "total_amount": fen_to_yuan(amount_fen),
        "buyer_id": "2088102177846880",
        "subject": subject,
        "gmt_create": stamp,
    }
    if status in (TradeStatus.TRADE_SUCCESS, TradeStatus.TRADE_FINISHED):
        fields.update(
            gmt_payment=stamp,
            receipt_amount=fen_to_yuan(amount_fen),
            buyer_pay_amount=fen_to_yuan(amount_fen),
        )
    if status is TradeStatus.TRADE_CLOSED:
        fields["gmt_close"] = stamp
    if refund_fen is not None:
        fields.update(refund_fee=fen_to_yuan(refund_fen), gmt_refund=stamp)
        if out_biz_no:
            fields["out_biz_no"] = out_biz_no
    return fields
