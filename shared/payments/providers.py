"""Outbound provider calls: the adapters build signed requests, a `HttpClient` sends them.

In AWS the client is `UrllibHttpClient`; with the sandbox switch (`shared.core.config.sandbox_providers`,
local runtime and tests only) it is the in-process `shared.sandbox.payments.SandboxHttpClient`, which
verifies our signatures and signs its answers like the providers. A provider without its secret raises
`SecretConfigError` (a ProviderNotConfigured: 503 `provider_not_configured`), never the sandbox.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.clock import now, parse_iso
from shared.core.config import sandbox_providers
from shared.core.errors import ProviderNotConfigured, Unavailable
from shared.orders.aggregate import Capture, Order
from shared.payments.adapters.errors import ProviderError
from shared.payments.adapters.http import HttpClient, TransportError
from shared.payments.models import Provider


def http_client() -> HttpClient:
    if sandbox_providers():
        from shared.sandbox.payments import SandboxHttpClient

        return SandboxHttpClient()
    from shared.payments.adapters.http import UrllibHttpClient

    return UrllibHttpClient()


def _description(order: Order) -> str:
    titles = ", ".join(str(line["title"]) for line in order.items)
    return (titles or "order24 order")[:120]


def _unavailable(provider: str, error: Exception) -> Unavailable:
    # Only the adapter's safe summary goes out: never a body, key or signature.
    detail = error.detail if isinstance(error, ProviderError) else type(error).__name__
    return Unavailable(
        f"{provider} did not answer as expected ({detail}); retry shortly.",
        code="payment_provider_unavailable",
    )


def out_trade_no(order_id: str, attempt: int) -> str:
    """The provider trade number of the order's `attempt`-th payment intent: the order id for the first (as
    before attempts existed), `<order_id>-<attempt>` after. Deterministic, unique per attempt, at most 32
    characters of [a-z0-9-] (WeChat's limit; order ids are 27 and hold no `-`)."""
    return order_id if attempt <= 1 else f"{order_id}-{attempt}"


def order_id_of(trade_no: str) -> str:
    return trade_no.split("-", 1)[0]


def attempt_of(trade_no: str) -> int:
    _, _, attempt = trade_no.partition("-")
    return int(attempt) if attempt.isdigit() else 1


def card_available() -> bool:
    """The only card provider today is the sandbox; in AWS `card` answers 503 before anything is written."""
    return sandbox_providers()


def open_payment(
    provider: Provider, order: Order, *, trade_no: str, openid: str | None
) -> dict[str, Any]:
    """The provider-specific parameters a frontend needs. Raises Unavailable on provider trouble."""
    moment = now()
    expires = parse_iso(order.expires_at) if order.expires_at else None
    try:
        if provider is Provider.WECHATPAY:
            return _wechat_params(order, trade_no, moment, expires, openid)
        if provider is Provider.ALIPAY:
            return _alipay_params(order, trade_no, moment, expires)
    except (ProviderError, TransportError) as error:
        raise _unavailable(provider.value, error) from None
    raise ValueError(f"no intent parameters for {provider}")


def close_trade(provider: Provider, trade_no: str) -> str:
    """Best effort: close an open trade we no longer want paid (WeChat Pay close order, Alipay trade.close).
    Answers what happened, for the record: `closed`, `not_created` (Alipay creates a precreate trade only
    when it is scanned), `not_needed` (card) or `close_failed: <safe summary>`. Never raises for provider
    trouble: a trade left open and paid later is a duplicate capture, refunded automatically."""
    try:
        if provider is Provider.WECHATPAY:
            from shared.payments.adapters import wechatpay
            from shared.payments.secrets import wechatpay_config

            config = wechatpay_config()
            request = wechatpay.close_request(config, trade_no, now=now(), nonce=secrets.token_hex(16))
            wechatpay.parse_close_response(http_client().send(request), config, now=now())
            return "closed"
        if provider is Provider.ALIPAY:
            from shared.payments.adapters import alipay
            from shared.payments.secrets import alipay_config

            aconfig = alipay_config()
            response = http_client().send(alipay.close_request(aconfig, out_trade_no=trade_no, now=now()))
            try:
                alipay.parse_response(response, "alipay.trade.close", aconfig)
            except ProviderError as error:
                if error.code == "ACQ.TRADE_NOT_EXIST":
                    return "not_created"
                raise
            return "closed"
    except (ProviderError, TransportError, Unavailable) as error:
        detail = error.detail if isinstance(error, ProviderError) else type(error).__name__
        return f"close_failed: {detail}"[:200]
    return "not_needed"


def _wechat_params(
    order: Order, trade_no: str, moment: datetime, expires: datetime | None, openid: str | None
) -> dict[str, Any]:
    from shared.payments.adapters import wechatpay
    from shared.payments.secrets import wechatpay_config

    config = wechatpay_config()
    client = http_client()
    common: dict[str, Any] = {
        "out_trade_no": trade_no,
        "description": _description(order),
        "amount_fen": int(order.total_fen),
        "currency": order.currency,
        "time_expire": expires,
    }
    request = wechatpay.native_prepay_request(config, **common, now=moment, nonce=secrets.token_hex(16))
    params: dict[str, Any] = {
        "code_url": wechatpay.parse_native_prepay_response(client.send(request), config, now=now())
    }
    if openid:
        request = wechatpay.jsapi_prepay_request(
            config, **common, payer_openid=openid, now=moment, nonce=secrets.token_hex(16)
        )
        prepay_id = wechatpay.parse_jsapi_prepay_response(client.send(request), config, now=now())
        params["jsapi"] = wechatpay.jsapi_pay_params(
            config, prepay_id, timestamp=int(moment.timestamp()), nonce=secrets.token_hex(16)
        )
    return params


def _alipay_params(
    order: Order, trade_no: str, moment: datetime, expires: datetime | None
) -> dict[str, Any]:
    from shared.payments.adapters import alipay
    from shared.payments.secrets import alipay_config

    config = alipay_config()
    # The Alipay trade closes when our order expires, so a late payment is rare rather than routine.
    minutes = max(1, math.ceil((expires - moment).total_seconds() / 60)) if expires else 30
    timeout = f"{minutes}m"
    common: dict[str, Any] = {
        "out_trade_no": trade_no,
        "subject": _description(order),
        "amount_fen": int(order.total_fen),
        "timeout_express": timeout,
        "now": moment,
    }
    response = http_client().send(alipay.precreate_request(config, **common))
    qr_code = alipay.parse_response(response, "alipay.trade.precreate", config).get("qr_code")
    if not isinstance(qr_code, str) or not qr_code:
        raise ProviderError("Alipay precreate answer lacks qr_code")
    return {"qr_code": qr_code, "order_string": alipay.app_pay_order_string(config, **common)}


@dataclass(frozen=True, slots=True)
class RefundResult:
    state: str  # succeeded | requested (accepted, result pending) | failed
    provider_refund_id: str = ""
    detail: str = ""


def out_refund_no(order_id: str, refund_key: str) -> str:
    """Deterministic from (order, refund key), so a retried refund is deduplicated by the provider too.
    Fits WeChat's 64 characters of [A-Za-z0-9_-*|@] (order ids are 27, keys are slugs)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "-" for ch in refund_key)
    return f"{order_id}-{safe}"[:64]


def send_refund(payment: Capture, *, out_refund: str, amount_fen: int, reason: str) -> RefundResult:
    """Ask the provider for a refund. A business refusal is `failed`; transport trouble raises Unavailable
    (the refund stays `requested` and the same out_refund_no is sent again on retry)."""
    provider = Provider(payment["provider"])
    try:
        if provider is Provider.WECHATPAY:
            from shared.payments.adapters import wechatpay
            from shared.payments.secrets import wechatpay_config

            config = wechatpay_config()
            request = wechatpay.refund_request(
                config,
                out_trade_no=payment["out_trade_no"],
                out_refund_no=out_refund,
                refund_fen=amount_fen,
                total_fen=int(payment["amount_fen"]),
                reason=reason,
                now=now(),
                nonce=secrets.token_hex(16),
                currency=payment["currency"],
            )
            refund = wechatpay.parse_refund_response(http_client().send(request), config, now=now())
            state = {"SUCCESS": "succeeded", "PROCESSING": "requested"}.get(
                refund.refund_status.value, "failed"
            )
            return RefundResult(state, refund.refund_id, f"WeChat Pay refund {refund.refund_status.value}")
        if provider is Provider.ALIPAY:
            from shared.payments.adapters import alipay
            from shared.payments.secrets import alipay_config

            aconfig = alipay_config()
            request = alipay.refund_request(
                aconfig,
                out_trade_no=payment["out_trade_no"],
                out_request_no=out_refund,
                refund_fen=amount_fen,
                reason=reason,
                now=now(),
            )
            answer = alipay.parse_response(http_client().send(request), "alipay.trade.refund", aconfig)
            # code 10000 only means Alipay accepted the request (fund_change "N" when this out_request_no was
            # seen before): it is `requested` until the refund query (`query_refund`) says REFUND_SUCCESS.
            return RefundResult(
                "requested", f"{answer.get('trade_no', '')}:{out_refund}", "Alipay refund accepted (code 10000)"
            )
        if provider is Provider.CARD:
            if not sandbox_providers():
                raise ProviderNotConfigured("The card provider is not configured here.")
            from shared.sandbox.payments import card_refund

            return RefundResult("succeeded", card_refund(out_refund, amount_fen), "card refund (sandbox)")
    except ProviderError as error:
        if error.code and (error.status is None or error.status < 500):
            # The provider said no on business grounds (e.g. not enough balance): retrying will not help.
            return RefundResult("failed", "", error.detail[:200])
        raise _unavailable(provider.value, error) from None
    except TransportError as error:
        raise _unavailable(provider.value, error) from None
    raise ValueError(f"unknown provider {provider}")


def confirmable(payment: Capture) -> bool:
    """Whether an accepted refund of this capture is confirmed by asking the provider (Alipay's refund query).
    WeChat Pay's accepted refunds are settled by its REFUND.* notification; card refunds settle at once."""
    return payment.get("provider") == Provider.ALIPAY.value


def query_refund(payment: Capture, *, out_refund: str, amount_fen: int) -> RefundResult:
    """Ask the provider what became of an accepted refund: `succeeded`, or `requested` (not processed yet, an
    unexpected amount, or a provider without a query). Transport trouble raises Unavailable."""
    if not confirmable(payment):
        return RefundResult("requested")
    from shared.payments.adapters import alipay
    from shared.payments.secrets import alipay_config

    aconfig = alipay_config()
    try:
        request = alipay.refund_query_request(
            aconfig, out_trade_no=payment["out_trade_no"], out_request_no=out_refund, now=now()
        )
        answer = alipay.parse_refund_query_response(http_client().send(request), aconfig)
    except (ProviderError, TransportError) as error:
        raise _unavailable(Provider.ALIPAY.value, error) from None
    if not answer.succeeded:
        return RefundResult("requested", detail=f"Alipay refund query: {answer.refund_status or 'not processed yet'}")
    if answer.refund_fen is not None and answer.refund_fen != amount_fen:
        # never `failed`: that would free the amount for another refund while money did move; it stays
        # pending and its timer files it for ops after an hour
        return RefundResult("requested", detail=f"Alipay refunded {answer.refund_fen} fen, not {amount_fen}")
    return RefundResult("succeeded", detail="Alipay refund query: REFUND_SUCCESS")
