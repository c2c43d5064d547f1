"""WeChat Pay API v3 adapter: pure functions, no AWS, no clock or randomness of its own.

Outbound: every API request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",
signature="..",timestamp="..",serial_no=".."` (one line), the signature being SHA256withRSA (PKCS#1 v1.5)
with the merchant key over `METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`.

Inbound (notifications, and API responses, which are signed the same way): SHA256withRSA over
`TIMESTAMP\\nNONCE\\nBODY\\n` with the platform certificate (or WeChat Pay public key) named by
`Wechatpay-Serial`; the resource is AEAD_AES_256_GCM-encrypted with the API v3 key.
WeChat also sends probe notifications with deliberately wrong signatures (`WECHATPAY/SIGNTEST/...`) to check
that merchants verify; those are rejected as `bad_signature`, which is the intended answer.

Acknowledge a notification with HTTP 200 (or 204) and `ACK_BODY`; anything else makes WeChat retry
(15s, 15s, 30s, 3m, ... for up to 24h), so reject only what must be retried or ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from shared.payments.adapters import _rsa
from shared.payments.adapters.errors import (
    BadSignature,
    DecryptFailed,
    MalformedNotification,
    MissingHeader,
    ProviderError,
    StaleTimestamp,
    UnknownSerial,
    WrongMerchant,
)
from shared.payments.adapters.http import HttpResponse, SignedRequest

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # fixed +08:00: China has no DST, no tzdata needed
USER_AGENT = "order24/0.1 (python)"  # WeChat Pay rejects requests without a User-Agent
ACK_STATUS = 200
ACK_BODY = '{"code":"SUCCESS","message":"成功"}'.encode()
NACK_BODY = '{"code":"FAIL","message":"失败"}'.encode()  # with a 4xx/5xx status: "retry later"

_OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_\-*|]{6,32}$")
_OUT_REFUND_NO = re.compile(r"^[A-Za-z0-9_\-*|@]{1,64}$")

Fen = Annotated[int, Field(ge=0, strict=True)]


class WechatPayConfig(BaseModel):
    """One merchant's credentials. Keys are SecretStr: repr/str/model_dump never show them."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    mchid: str = Field(min_length=1)
    appid: str = Field(min_length=1)
    merchant_serial_no: str = Field(min_length=1)
    merchant_private_key_pem: SecretStr
    api_v3_key: SecretStr
    # serial -> PEM of a platform certificate or of a "WeChat Pay public key" (PUB_KEY_ID_...); not secret.
    platform_certificates: dict[str, str] = Field(min_length=1, repr=False)
    notify_url: str = Field(pattern=r"^https?://")
    base_url: str = "https://api.mch.weixin.qq.com"

    @field_validator("api_v3_key")
    @classmethod
    def _aes_key_length(cls, value: SecretStr) -> SecretStr:
        # Real API v3 keys are 32 bytes (AES-256); the official test vector uses 16 (AES-128).
        if len(value.get_secret_value().encode()) not in (16, 24, 32):
            raise ValueError("api_v3_key must be 16, 24 or 32 bytes")
        return value

    @field_validator("merchant_private_key_pem")
    @classmethod
    def _looks_like_a_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("merchant_private_key_pem is empty")
        return value

    @field_validator("platform_certificates")
    @classmethod
    def _upper_serials(cls, value: dict[str, str]) -> dict[str, str]:
        return {serial.strip().upper(): pem for serial, pem in value.items()}

    def platform_key_for(self, serial: str) -> str | None:
        return self.platform_certificates.get(serial.strip().upper())


# ---------------------------------------------------------------- models of what WeChat sends


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TradeState(StrEnum):
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"


class RefundStatus(StrEnum):
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    PROCESSING = "PROCESSING"
    ABNORMAL = "ABNORMAL"


class TransactionAmount(_Model):
    total: Fen
    payer_total: Fen | None = None
    currency: str = "CNY"
    payer_currency: str | None = None


class Payer(_Model):
    openid: str | None = None


class WechatTransaction(_Model):
    mchid: str
    appid: str
    out_trade_no: str
    transaction_id: str | None = None  # absent while NOTPAY
    trade_type: str | None = None
    trade_state: TradeState
    trade_state_desc: str = ""
    bank_type: str | None = None
    attach: str | None = None
    success_time: datetime | None = None
    payer: Payer | None = None
    amount: TransactionAmount


class RefundAmount(_Model):
    total: Fen
    refund: Fen
    payer_total: Fen | None = None
    payer_refund: Fen | None = None
    currency: str | None = None


class WechatRefund(_Model):
    mchid: str | None = None
    out_trade_no: str
    transaction_id: str | None = None
    out_refund_no: str
    refund_id: str
    # Notifications call it `refund_status`; the refund API's own answer calls it `status`.
    refund_status: RefundStatus = Field(validation_alias=AliasChoices("refund_status", "status"))
    success_time: datetime | None = None
    user_received_account: str | None = None
    amount: RefundAmount


class WechatNotification(_Model):
    """A verified, decrypted notification.

    `resource` is a `WechatTransaction` for TRANSACTION.* events, a `WechatRefund` for REFUND.* events, and
    the decrypted JSON object as a dict for anything else (or if a known shape failed to parse):
    store those for inspection and acknowledge them, never 500.
    """

    id: str  # WeChat's event id: the idempotency key for this delivery
    event_type: str
    create_time: datetime
    resource_type: str | None = None
    summary: str | None = None
    resource: WechatTransaction | WechatRefund | dict[str, Any]
    resource_raw: dict[str, Any]


# ---------------------------------------------------------------- outbound


def _json_bytes(payload: Mapping[str, Any]) -> bytes:
    # Compact and UTF-8 (not \u escapes): the signature covers these exact bytes.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _to_bytes(body: bytes | str) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8")


def rfc3339_china(moment: datetime) -> str:
    """`2024-06-01T10:34:56+08:00`, the format WeChat wants for time_expire and sends in times."""
    if moment.tzinfo is None:
        raise ValueError("aware datetime required")
    return moment.astimezone(CHINA_TZ).replace(microsecond=0).isoformat()


def outbound_message(
    method: str, canonical_url: str, body: bytes | str, *, timestamp: int, nonce: str
) -> bytes:
    """The exact bytes the merchant signs: `METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`."""
    head = f"{method.upper()}\n{canonical_url}\n{timestamp}\n{nonce}\n".encode()
    return head + _to_bytes(body) + b"\n"


def authorization_header(
    method: str, canonical_url: str, body: bytes | str, config: WechatPayConfig, *, timestamp: int, nonce: str
) -> str:
    """`canonical_url` is the path plus query string, e.g. `/v3/pay/transactions/native` (no host)."""
    if not canonical_url.startswith("/"):
        raise ValueError("canonical_url is the absolute path (and query), without scheme and host")
    signature = _rsa.sign_sha256_rsa(
        outbound_message(method, canonical_url, body, timestamp=timestamp, nonce=nonce),
        config.merchant_private_key_pem.get_secret_value(),
    )
    return (
        f'{SCHEMA} mchid="{config.mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{config.merchant_serial_no}"'
    )


def signed_request(
    method: str,
    canonical_url: str,
    payload: Mapping[str, Any] | None,
    config: WechatPayConfig,
    *,
    now: datetime,
    nonce: str,
) -> SignedRequest:
    """Any v3 API call: JSON body (or none for GET), signed, ready for a `HttpClient`."""
    body = _json_bytes(payload) if payload is not None else b""
    headers = {
        "Authorization": authorization_header(
            method, canonical_url, body, config, timestamp=int(now.timestamp()), nonce=nonce
        ),
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    if payload is not None:
        headers["Content-Type"] = "application/json"
    return SignedRequest(method.upper(), config.base_url.rstrip("/") + canonical_url, headers, body)


def _check_amount(amount_fen: int, name: str = "amount_fen") -> None:
    # bool is an int subclass; a float or a bool here is a bug upstream, not an amount.
    if type(amount_fen) is not int or amount_fen <= 0:
        raise ValueError(f"{name} must be a positive int (fen)")


def _prepay_payload(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    currency: str,
    time_expire: datetime | None,
) -> dict[str, Any]:
    if not _OUT_TRADE_NO.match(out_trade_no):
        raise ValueError("out_trade_no must be 6-32 of [A-Za-z0-9_-*|]")
    if not 1 <= len(description) <= 127:
        raise ValueError("description must be 1-127 characters")
    _check_amount(amount_fen)
    payload: dict[str, Any] = {
        "appid": config.appid,
        "mchid": config.mchid,
        "description": description,
        "out_trade_no": out_trade_no,
    }
    if time_expire is not None:
        payload["time_expire"] = rfc3339_china(time_expire)
    payload["notify_url"] = config.notify_url
    payload["amount"] = {"total": amount_fen, "currency": currency}
    return payload


def native_prepay_request(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    currency: str = "CNY",
    time_expire: datetime | None,
    now: datetime,
    nonce: str,
) -> SignedRequest:
    """POST /v3/pay/transactions/native; the answer's `code_url` comes from `parse_native_prepay_response`."""
    payload = _prepay_payload(
        config,
        out_trade_no=out_trade_no,
        description=description,
        amount_fen=amount_fen,
        currency=currency,
        time_expire=time_expire,
    )
    return signed_request("POST", "/v3/pay/transactions/native", payload, config, now=now, nonce=nonce)


def jsapi_prepay_request(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    payer_openid: str,
    currency: str = "CNY",
    time_expire: datetime | None,
    now: datetime,
    nonce: str,
) -> SignedRequest:
    """POST /v3/pay/transactions/jsapi; the answer carries `prepay_id` for `jsapi_pay_params`."""
    if not payer_openid:
        raise ValueError("payer_openid is required for JSAPI")
    payload = _prepay_payload(
        config,
        out_trade_no=out_trade_no,
        description=description,
        amount_fen=amount_fen,
        currency=currency,
        time_expire=time_expire,
    )
    payload["payer"] = {"openid": payer_openid}
    return signed_request("POST", "/v3/pay/transactions/jsapi", payload, config, now=now, nonce=nonce)


def jsapi_pay_params(
    config: WechatPayConfig, prepay_id: str, *, timestamp: int, nonce: str
) -> dict[str, str]:
    """What the web page / mini program passes to `wx.requestPayment` / `WeixinJSBridge.invoke`."""
    package = f"prepay_id={prepay_id}"
    message = f"{config.appid}\n{timestamp}\n{nonce}\n{package}\n".encode()
    return {
        "appId": config.appid,
        "timeStamp": str(timestamp),
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": _rsa.sign_sha256_rsa(message, config.merchant_private_key_pem.get_secret_value()),
    }


def refund_request(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    out_refund_no: str,
    refund_fen: int,
    total_fen: int,
    reason: str | None,
    now: datetime,
    nonce: str,
    currency: str = "CNY",
    notify_url: str | None = None,
) -> SignedRequest:
    """POST /v3/refund/domestic/refunds. Refund notifications go to `notify_url` (default: the config's)."""
    if not _OUT_TRADE_NO.match(out_trade_no):
        raise ValueError("out_trade_no must be 6-32 of [A-Za-z0-9_-*|]")
    if not _OUT_REFUND_NO.match(out_refund_no):
        raise ValueError("out_refund_no must be 1-64 of [A-Za-z0-9_-*|@]")
    _check_amount(refund_fen, "refund_fen")
    _check_amount(total_fen, "total_fen")
    if refund_fen > total_fen:
        raise ValueError("refund_fen exceeds total_fen")
    payload: dict[str, Any] = {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no}
    if reason:
        payload["reason"] = reason[:80]  # WeChat's limit
    payload["notify_url"] = notify_url or config.notify_url
    payload["amount"] = {"refund": refund_fen, "total": total_fen, "currency": currency}
    return signed_request("POST", "/v3/refund/domestic/refunds", payload, config, now=now, nonce=nonce)


def query_by_out_trade_no_request(
    config: WechatPayConfig, out_trade_no: str, *, now: datetime, nonce: str
) -> SignedRequest:
    """GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=..: for reconciling a missed callback."""
    if not _OUT_TRADE_NO.match(out_trade_no):
        raise ValueError("out_trade_no must be 6-32 of [A-Za-z0-9_-*|]")
    url = f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={config.mchid}"
    return signed_request("GET", url, None, config, now=now, nonce=nonce)


def close_request(config: WechatPayConfig, out_trade_no: str, *, now: datetime, nonce: str) -> SignedRequest:
    """POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close: the trade can no longer be paid."""
    if not _OUT_TRADE_NO.match(out_trade_no):
        raise ValueError("out_trade_no must be 6-32 of [A-Za-z0-9_-*|]")
    url = f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
    return signed_request("POST", url, {"mchid": config.mchid}, config, now=now, nonce=nonce)


# ---------------------------------------------------------------- inbound


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value:
            return value.strip()
    raise MissingHeader(f"missing header {name}")


def verify_notification(
    headers: Mapping[str, str],
    body: bytes | str,
    config: WechatPayConfig,
    *,
    now: datetime,
    max_skew_s: int = 300,
) -> None:
    """Raise a `CallbackRejected` subclass unless WeChat signed exactly this body recently.

    Pass the body exactly as received (API Gateway: base64-decode it if `isBase64Encoded`). Works for signed
    API responses too (same headers). Checks, in order: headers present, serial known, timestamp fresh,
    signature valid.
    """
    timestamp = _header(headers, "Wechatpay-Timestamp")
    nonce = _header(headers, "Wechatpay-Nonce")
    signature = _header(headers, "Wechatpay-Signature")
    serial = _header(headers, "Wechatpay-Serial")
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise MissingHeader("malformed header Wechatpay-Timestamp")
    key_pem = config.platform_key_for(serial)
    if key_pem is None:
        raise UnknownSerial("no platform certificate or public key for this Wechatpay-Serial")
    if now.tzinfo is None:
        raise ValueError("aware datetime required")
    if abs(now.timestamp() - int(timestamp)) > max_skew_s:
        raise StaleTimestamp(f"Wechatpay-Timestamp is more than {max_skew_s}s from now")
    message = f"{timestamp}\n{nonce}\n".encode() + _to_bytes(body) + b"\n"
    if not _rsa.verify_sha256_rsa(message, signature, key_pem):
        raise BadSignature("Wechatpay-Signature does not verify")


def decrypt_resource(resource: Mapping[str, Any], api_v3_key: str) -> bytes:
    """AEAD_AES_256_GCM: key = API v3 key bytes, nonce and associated_data as UTF-8, ciphertext = base64."""
    if resource.get("algorithm", "AEAD_AES_256_GCM") != "AEAD_AES_256_GCM":
        raise DecryptFailed("unsupported resource algorithm")
    try:
        nonce = str(resource["nonce"]).encode()
        associated_data = str(resource.get("associated_data") or "").encode()
        ciphertext = base64.b64decode(str(resource["ciphertext"]), validate=True)
    except (KeyError, binascii.Error, ValueError):
        raise DecryptFailed("resource lacks nonce or valid base64 ciphertext") from None
    try:
        return _rsa.aes_gcm_decrypt(api_v3_key.encode(), nonce, ciphertext, associated_data)
    except ValueError:
        raise DecryptFailed("resource did not decrypt (wrong API v3 key or tampered)") from None


def _parse_resource(
    event_type: str, plain: dict[str, Any]
) -> WechatTransaction | WechatRefund | dict[str, Any]:
    try:
        if event_type.startswith("TRANSACTION."):
            return WechatTransaction.model_validate(plain)
        if event_type.startswith("REFUND."):
            return WechatRefund.model_validate(plain)
    except ValidationError:
        return plain  # authentic but unexpected: the caller stores it for inspection
    return plain


def parse_notification(
    headers: Mapping[str, str],
    body: bytes | str,
    config: WechatPayConfig,
    *,
    now: datetime,
    max_skew_s: int = 300,
) -> WechatNotification:
    """Verify, decrypt and parse. Also rejects (`wrong_merchant`) a transaction/refund for another mchid."""
    verify_notification(headers, body, config, now=now, max_skew_s=max_skew_s)
    try:
        envelope = json.loads(_to_bytes(body))
        resource_meta = envelope["resource"]
        event_id, event_type = str(envelope["id"]), str(envelope["event_type"])
        create_time = datetime.fromisoformat(str(envelope["create_time"]))
        if not isinstance(resource_meta, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise MalformedNotification("notification envelope is not the expected JSON") from None
    plaintext = decrypt_resource(resource_meta, config.api_v3_key.get_secret_value())
    try:
        plain = json.loads(plaintext)
        if not isinstance(plain, dict):
            raise TypeError
    except (ValueError, TypeError):
        raise MalformedNotification("decrypted resource is not a JSON object") from None
    resource = _parse_resource(event_type, plain)
    if isinstance(resource, WechatTransaction | WechatRefund) and resource.mchid not in (None, config.mchid):
        raise WrongMerchant("notification is for another mchid")
    return WechatNotification(
        id=event_id,
        event_type=event_type,
        create_time=create_time,
        resource_type=envelope.get("resource_type"),
        summary=envelope.get("summary"),
        resource=resource,
        resource_raw=plain,
    )


# ---------------------------------------------------------------- API responses


def _verified_json(response: HttpResponse, config: WechatPayConfig, *, now: datetime) -> dict[str, Any]:
    if not response.ok:
        try:
            error = json.loads(response.body)
            code, message = str(error.get("code", "")), str(error.get("message", ""))[:200]
        except (ValueError, AttributeError):
            code, message = "", ""
        raise ProviderError(
            f"WeChat Pay answered {response.status} {code}: {message}", status=response.status, code=code
        )
    try:
        verify_notification(response.headers, response.body, config, now=now)
    except Exception as exc:  # a forged or mangled answer must not create a payment
        raise ProviderError(
            f"WeChat Pay response did not verify: {getattr(exc, 'code', type(exc).__name__)}"
        ) from exc
    try:
        data = json.loads(response.body)
    except ValueError:
        raise ProviderError("WeChat Pay response is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderError("WeChat Pay response is not a JSON object")
    return data


def parse_native_prepay_response(response: HttpResponse, config: WechatPayConfig, *, now: datetime) -> str:
    """The `code_url` to render as a QR code. Raises `ProviderError`."""
    code_url = _verified_json(response, config, now=now).get("code_url")
    if not isinstance(code_url, str) or not code_url:
        raise ProviderError("WeChat Pay response lacks code_url")
    return code_url


def parse_jsapi_prepay_response(response: HttpResponse, config: WechatPayConfig, *, now: datetime) -> str:
    """The `prepay_id` for `jsapi_pay_params`. Raises `ProviderError`."""
    prepay_id = _verified_json(response, config, now=now).get("prepay_id")
    if not isinstance(prepay_id, str) or not prepay_id:
        raise ProviderError("WeChat Pay response lacks prepay_id")
    return prepay_id


def parse_close_response(response: HttpResponse, config: WechatPayConfig, *, now: datetime) -> None:
    """WeChat answers 204 with an empty, signed body. Raises `ProviderError` otherwise."""
    if not response.ok:
        _verified_json(response, config, now=now)  # raises with WeChat's code
    if response.status != 204:
        raise ProviderError(f"WeChat Pay close answered {response.status}, not 204", status=response.status)
    try:
        verify_notification(response.headers, response.body, config, now=now)
    except Exception as exc:  # whatever fails (a bad signature, an unusable key), an unverified answer is refused
        raise ProviderError(
            f"WeChat Pay response did not verify: {getattr(exc, 'code', type(exc).__name__)}"
        ) from exc


def parse_refund_response(response: HttpResponse, config: WechatPayConfig, *, now: datetime) -> WechatRefund:
    """The refund as accepted (usually PROCESSING; the final state arrives as a REFUND.* notification)."""
    try:
        return WechatRefund.model_validate(_verified_json(response, config, now=now))
    except ValidationError:
        raise ProviderError("WeChat Pay refund response has an unexpected shape") from None


def parse_transaction_response(
    response: HttpResponse, config: WechatPayConfig, *, now: datetime
) -> WechatTransaction:
    try:
        return WechatTransaction.model_validate(_verified_json(response, config, now=now))
    except ValidationError:
        raise ProviderError("WeChat Pay transaction response has an unexpected shape") from None


# ---------------------------------------------------------------- sandbox side (what WeChat would send)


def sign_notification(
    body: bytes, *, platform_private_key_pem: str, serial: str, timestamp: int, nonce: str
) -> dict[str, str]:
    """Headers WeChat would send with `body`, signed with the (sandbox) platform key."""
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return {
        "Content-Type": "application/json",
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": _rsa.sign_sha256_rsa(message, platform_private_key_pem),
        "Wechatpay-Signature-Type": SCHEMA,
    }


def encrypt_resource(
    plaintext: bytes, api_v3_key: str, *, nonce: str, associated_data: str, original_type: str = "transaction"
) -> dict[str, str]:
    """The `resource` object of a notification. `nonce` must be 12 bytes (WeChat uses 12 characters)."""
    if len(nonce.encode()) != 12:
        raise ValueError("nonce must be 12 bytes")
    ciphertext = _rsa.aes_gcm_encrypt(
        api_v3_key.encode(), nonce.encode(), plaintext, associated_data.encode()
    )
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def _envelope(
    config: WechatPayConfig, payload: dict[str, Any], *, kind: str, event_id: str, event_type: str, summary: str,
    create_time: datetime, resource_nonce: str,
) -> bytes:
    """A notification as WeChat sends it: the payload AEAD-encrypted under the APIv3 key, in its envelope."""
    resource = encrypt_resource(
        _json_bytes(payload),
        config.api_v3_key.get_secret_value(),
        nonce=resource_nonce,
        associated_data=kind,
        original_type=kind,
    )
    return _json_bytes(
        {
            "id": event_id,
            "create_time": rfc3339_china(create_time),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": resource,
        }
    )


def build_transaction_notification(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    transaction_id: str,
    amount_fen: int,
    trade_state: TradeState | str = TradeState.SUCCESS,
    now: datetime,
    event_id: str,
    resource_nonce: str,
    payer_openid: str = "oSandboxPayer000000000000000",
    currency: str = "CNY",
    trade_type: str = "NATIVE",
    event_type: str | None = None,
    mchid: str | None = None,
) -> bytes:
    """The JSON body WeChat would POST for a payment (event_type TRANSACTION.SUCCESS by default).

    Sign it with `sign_notification` to get the headers. `mchid` overrides the config's (to test rejection).
    """
    state = TradeState(trade_state)
    transaction: dict[str, Any] = {
        "mchid": mchid or config.mchid,
        "appid": config.appid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "trade_type": trade_type,
        "trade_state": state.value,
        "trade_state_desc": "支付成功" if state is TradeState.SUCCESS else state.value,
        "bank_type": "OTHERS",
        "attach": "",
        "payer": {"openid": payer_openid},
        "amount": {
            "total": amount_fen,
            "payer_total": amount_fen,
            "currency": currency,
            "payer_currency": currency,
        },
    }
    if state is TradeState.SUCCESS:
        transaction["success_time"] = rfc3339_china(now)
    return _envelope(
        config, transaction, kind="transaction", event_id=event_id,
        event_type=event_type or f"TRANSACTION.{state.value}", summary="支付成功", create_time=now,
        resource_nonce=resource_nonce,
    )


def build_refund_notification(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    transaction_id: str,
    out_refund_no: str,
    refund_id: str,
    refund_fen: int,
    total_fen: int,
    refund_status: RefundStatus | str = RefundStatus.SUCCESS,
    now: datetime,
    event_id: str,
    resource_nonce: str,
) -> bytes:
    """The JSON body WeChat would POST when a refund settles (REFUND.SUCCESS / .ABNORMAL / .CLOSED)."""
    status = RefundStatus(refund_status)
    refund: dict[str, Any] = {
        "mchid": config.mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "out_refund_no": out_refund_no,
        "refund_id": refund_id,
        "refund_status": status.value,
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": total_fen,
            "refund": refund_fen,
            "payer_total": total_fen,
            "payer_refund": refund_fen,
        },
    }
    if status is RefundStatus.SUCCESS:
        refund["success_time"] = rfc3339_china(now)
    return _envelope(
        config, refund, kind="refund", event_id=event_id, event_type=f"REFUND.{status.value}",
        summary="退款状态变更", create_time=now, resource_nonce=resource_nonce,
    )
