"""Payment boundary models: the pay request and answer, and what a verified provider event means to us."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from shared.core.types import Fen
from shared.orders.models import OrderStatus


class Provider(StrEnum):
    WECHATPAY = "wechatpay"
    ALIPAY = "alipay"
    CARD = "card"


class PaymentState(StrEnum):
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class RefundState(StrEnum):
    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


CardToken = Annotated[str, StringConstraints(pattern=r"^tok_[A-Za-z0-9_]{4,64}$")]
OpenId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{6,128}$")]


class PayRequest(BaseModel):
    """POST /orders/{id}/pay. `card` takes a provider token only, never card data."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    card_token: CardToken | None = Field(
        default=None, description="Card provider token (`tok_...`), card only."
    )
    openid: OpenId | None = Field(default=None, description="WeChat JSAPI payer openid (optional).")


class WechatJsapiPayParams(BaseModel):
    """What the web page or mini program passes to `wx.requestPayment` / `WeixinJSBridge.invoke`."""

    model_config = ConfigDict(extra="forbid")

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class WechatNativeParams(BaseModel):
    """WeChat Pay Native: show `code_url` as a QR code."""

    model_config = ConfigDict(extra="forbid")

    code_url: str


class WechatJsapiParams(WechatNativeParams):
    """WeChat Pay with a payer openid: the QR code and the JSAPI parameters."""

    jsapi: WechatJsapiPayParams


class AlipayParams(BaseModel):
    """Alipay: `qr_code` for a scan (precreate), `order_string` for the app SDK."""

    model_config = ConfigDict(extra="forbid")

    qr_code: str
    order_string: str


class CardParams(BaseModel):
    """Card: nothing to open; the charge is made with the card token in the same call."""

    model_config = ConfigDict(extra="forbid")


PaymentParams = WechatJsapiParams | WechatNativeParams | AlipayParams | CardParams
PAYMENT_PARAMS: TypeAdapter[PaymentParams] = TypeAdapter(PaymentParams)  # reads the params stored on an intent


class PaymentIntentView(BaseModel):
    order_id: str
    out_trade_no: str = Field(
        description="The provider trade number: the order id for attempt 1, `<order_id>-<attempt>` after."
    )
    attempt: int = Field(default=1, ge=1, description="Which payment attempt of this order this intent is.")
    amount_fen: Fen
    currency: str
    provider: Provider
    params: PaymentParams = Field(description="What the frontend needs to open the payment, by provider.")
    status: OrderStatus | None = Field(default=None, description="The order status after this call.")


@dataclass(frozen=True, slots=True)
class Capture:
    """A verified capture, whichever provider it came from (callback or synchronous card result)."""

    provider: Provider
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    currency: str
    paid_at: str  # ISO UTC
    event_key: str  # the provider event's idempotency key


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a callback did; the route turns any Outcome into the provider's success answer."""

    result: (
        str  # paid | duplicate | paid_after_cancel | duplicate_capture_refunded | second_capture
        # | failure_recorded | ignored | unmatched | refund_updated
    )
    order_id: str | None = None
