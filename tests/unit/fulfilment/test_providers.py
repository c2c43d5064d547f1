"""Digital providers: the sandbox's modes and idempotency, the HTTP client's signing and error mapping."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from shared.fulfilment.providers import (
    HttpDigitalProvider,
    ProviderRefused,
    ProviderUnavailable,
)
from shared.payments.adapters.http import HttpResponse, SignedRequest
from shared.sandbox.digital import SandboxDigitalProvider

ITEM = {"sku": "AD-1", "quantity": 5}


def test_sandbox_answers_a_served_key_again_without_delivering_twice() -> None:
    sandbox = SandboxDigitalProvider()
    first = sandbox.deliver("o1", ITEM, "https://t", "o1:AD-1")
    assert sandbox.deliver("o1", ITEM, "https://t", "o1:AD-1") == first
    assert (first.delivered_units, first.remaining_units, sandbox.calls) == (5, 0, {"o1:AD-1": 1})


def test_sandbox_partial_delivers_half_rounded_down() -> None:
    result = SandboxDigitalProvider().deliver("o1", ITEM, "https://t#partial", "k")
    assert (result.delivered_units, result.remaining_units) == (2, 3)


def test_sandbox_down_and_refuse_modes() -> None:
    with pytest.raises(ProviderUnavailable):
        SandboxDigitalProvider().deliver("o1", ITEM, "t#down", "k")
    with pytest.raises(ProviderRefused):
        SandboxDigitalProvider().deliver("o1", ITEM, "t#refuse", "k")


class FakeClient:
    def __init__(self, reply: HttpResponse) -> None:
        self.reply = reply
        self.sent: list[SignedRequest] = []

    def send(self, request: SignedRequest) -> HttpResponse:
        self.sent.append(request)
        return self.reply


def test_http_provider_signs_the_body_and_sends_the_idempotency_key() -> None:
    client = FakeClient(
        HttpResponse(
            200, {}, json.dumps({"delivered_units": 4, "remaining_units": 1, "provider_ref": "p-1"}).encode()
        )
    )
    result = HttpDigitalProvider("https://provider.example/api/", "s3cret", client).deliver(
        "o1", ITEM, "acct-9", "o1:AD-1"
    )
    [request] = client.sent
    assert request.url == "https://provider.example/api/deliveries"
    assert request.headers["Idempotency-Key"] == "o1:AD-1"
    expected = hmac.new(
        b"s3cret", request.headers["X-Timestamp"].encode() + b"\n" + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["X-Signature"] == expected
    assert (result.delivered_units, result.remaining_units, result.provider_ref) == (4, 1, "p-1")


@pytest.mark.parametrize(
    ("status", "error"), [(503, ProviderUnavailable), (429, ProviderUnavailable), (400, ProviderRefused)]
)
def test_http_provider_maps_statuses(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        HttpDigitalProvider("https://p", "s", FakeClient(HttpResponse(status))).deliver("o1", ITEM, "t", "k")


def test_http_provider_refuses_an_answer_that_does_not_add_up() -> None:
    client = FakeClient(
        HttpResponse(200, {}, b'{"delivered_units": 5, "remaining_units": 5, "provider_ref": "x"}')
    )
    with pytest.raises(ProviderRefused):
        HttpDigitalProvider("https://p", "s", client).deliver("o1", ITEM, "t", "k")
