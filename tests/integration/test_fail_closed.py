"""Fail closed: with the sandbox switch off (as in every deployed function) a provider that is not
configured makes its step raise ProviderNotConfigured. Nothing is delivered, shipped or paid, and nothing
falls back to a sandbox. Real handlers on moto; the workflow's side is in test_fail_closed_workflow.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.pay.handler import handler as pay_handler
from shared.core.aws import secretsmanager
from shared.core.errors import ProviderNotConfigured
from shared.logistics import secrets as logistics_secrets
from shared.orders import store
from shared.orders.aggregate import Order
from shared.payments import secrets as payment_secrets
from shared.payments.adapters.http import HttpResponse, SignedRequest, UrllibHttpClient
from shared.sandbox import courier, digital
from tests.integration.test_fulfilment_helpers import (
    APP_KEY,
    BUSINESS_ID,
    SALT,
    deliver_order,
    fulfilling_order,
    physical_order,
    ship_order,
)
from tests.integration.test_payments_helpers import awaiting_order
from tests.support import SHOPPER, call

API = "https://abc123.execute-api.cn-north-1.amazonaws.com.cn"
# What CDK puts in a partner secret until ops fill it (infra/stack.py _secret).
UNSET = {"status": "UNSET: put-secret-value per docs/runbook.md"}


@pytest.fixture
def deployed(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment of a deployed function: no sandbox switch, our API's URL, provider secrets unset."""
    for name in ("ORDER24_SANDBOX", "DIGITAL_PROVIDER_SECRET_ARN", "LOGISTICS_SECRET_ARN",
                 "WECHATPAY_SECRET_ARN", "ALIPAY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBLIC_API_URL", API)
    digital.reset()
    logistics_secrets.clear_cache()
    payment_secrets.clear_cache()
    yield
    logistics_secrets.clear_cache()
    payment_secrets.clear_cache()


def put_secret(monkeypatch: pytest.MonkeyPatch, name: str, env_var: str, value: dict[str, Any]) -> None:
    arn = secretsmanager().create_secret(Name=f"order24/{name}", SecretString=json.dumps(value))["ARN"]
    monkeypatch.setenv(env_var, arn)


def logistics_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    put_secret(monkeypatch, "logistics", "LOGISTICS_SECRET_ARN", {
        "kuaidi100_key": "k100-key", "kuaidi100_salt": SALT, "kdniao_app_key": APP_KEY,
        "kdniao_business_id": BUSINESS_ID,
    })


def untouched(order: Order) -> Order:
    after = store.require(order.order_id, consistent=True)
    assert after.status == "FULFILLING" and after.version == order.version
    assert not after.has("delivery") and not after.has("shipment")
    return after


def test_deliver_without_a_digital_provider_delivers_nothing_and_names_what_is_missing(deployed: None) -> None:
    order = fulfilling_order(quantity=2)

    with pytest.raises(ProviderNotConfigured) as caught:
        deliver_order(order.order_id)

    assert type(caught.value).__name__ == "ProviderNotConfigured"  # the Lambda error name the workflow parks on
    assert "DIGITAL_PROVIDER_SECRET_ARN" in caught.value.detail
    untouched(order)
    assert digital.provider().attempts == {}  # the sandbox was never asked


def test_deliver_with_the_secret_as_cdk_creates_it_is_still_not_configured(
    deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_secret(monkeypatch, "digital_provider", "DIGITAL_PROVIDER_SECRET_ARN", UNSET)
    order = fulfilling_order()

    with pytest.raises(ProviderNotConfigured) as caught:
        deliver_order(order.order_id)

    assert "base_url" in caught.value.detail and "signing_secret" in caught.value.detail
    untouched(order)


def test_deliver_with_a_configured_provider_calls_it_over_https(
    deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_secret(monkeypatch, "digital_provider", "DIGITAL_PROVIDER_SECRET_ARN",
               {"base_url": "https://provider.example", "signing_secret": "s" * 32})
    sent: list[SignedRequest] = []

    def provider_answers(self: UrllibHttpClient, request: SignedRequest) -> HttpResponse:
        sent.append(request)
        quantity = json.loads(request.body)["quantity"]
        answer = {"delivered_units": quantity, "remaining_units": 0, "provider_ref": "p-1"}
        return HttpResponse(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())

    monkeypatch.setattr(UrllibHttpClient, "send", provider_answers)
    order = fulfilling_order()

    assert deliver_order(order.order_id)["status"] == "COMPLETED"
    assert [r.url for r in sent] == ["https://provider.example/deliveries"]
    assert digital.provider().attempts == {}


def test_ship_without_the_logistics_secret_subscribes_nothing(deployed: None) -> None:
    order = physical_order()
    watched = len(courier.subscriber().subscriptions)

    with pytest.raises(ProviderNotConfigured) as caught:
        ship_order(order.order_id)

    assert "LOGISTICS_SECRET_ARN" in caught.value.detail
    untouched(order)
    assert len(courier.subscriber().subscriptions) == watched  # the sandbox was never asked


def test_ship_without_our_api_url_never_subscribes_a_guessed_callback(
    deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    logistics_configured(monkeypatch)
    monkeypatch.delenv("PUBLIC_API_URL")
    sent: list[SignedRequest] = []
    monkeypatch.setattr(UrllibHttpClient, "send", lambda self, request: sent.append(request))
    order = physical_order()

    with pytest.raises(ProviderNotConfigured) as caught:
        ship_order(order.order_id)

    assert "PUBLIC_API_URL" in caught.value.detail
    assert sent == []  # Kuaidi100 was never asked to push to http://localhost
    untouched(order)


def test_ship_subscribes_kuaidi100_with_our_own_api_as_the_callback(
    deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    logistics_configured(monkeypatch)
    sent: list[SignedRequest] = []

    def kuaidi100_accepts(self: UrllibHttpClient, request: SignedRequest) -> HttpResponse:
        sent.append(request)
        return HttpResponse(200, {}, b'{"result": true, "returnCode": "200", "message": "ok"}')

    monkeypatch.setattr(UrllibHttpClient, "send", kuaidi100_accepts)
    order = physical_order()

    assert ship_order(order.order_id)["status"] == "SHIPPED"
    assert len(sent) == 1 and f"{API}/logistics/kuaidi100/notify".encode() in _unquoted(sent[0].body)


def _unquoted(body: bytes) -> bytes:
    from urllib.parse import unquote_plus

    return unquote_plus(body.decode()).encode()


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_paying_through_an_unconfigured_provider_answers_503_provider_not_configured(
    deployed: None, provider: str
) -> None:
    order_id = awaiting_order()

    status, body, headers = call(
        pay_handler, "POST", f"/orders/{order_id}/pay", user=SHOPPER, body={"provider": provider}
    )

    assert status == 503 and body["code"] == "provider_not_configured", body
    assert headers["Content-Type"].startswith("application/problem+json")
    assert "payment_intent" not in store.require(order_id, consistent=True)


def test_a_card_payment_is_refused_when_no_card_provider_is_configured(deployed: None) -> None:
    order_id = awaiting_order()

    status, body, _ = call(
        pay_handler, "POST", f"/orders/{order_id}/pay", user=SHOPPER,
        body={"provider": "card", "card_token": "tok_visa"},
    )

    assert status == 503 and body["code"] == "provider_not_configured", body
    assert store.require(order_id, consistent=True).status == "AWAITING_PAYMENT"
