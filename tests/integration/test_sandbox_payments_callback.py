"""The local sandbox payment provider posts its signed notification to the runtime's own gateway (its
configured URL), never to the address a request's Host header names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.pay.handler import handler as pay_handler
from infra.local import sandbox_payments
from tests.integration.test_payments_helpers import awaiting_order, install_payments
from tests.support import SHOPPER, call, context, http_event

GATEWAY = "http://127.0.0.1:8131"


class _Answer:
    status_code, text, headers = 200, "", {"Content-Type": "text/plain"}


@pytest.fixture
def posted(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Sandbox payments on; `requests.post` records where the notification would go."""
    import requests

    urls: list[str] = []

    def post(url: str, **_: Any) -> _Answer:
        urls.append(url)
        return _Answer()

    monkeypatch.setattr(requests, "post", post)
    for name in ("LOCAL_API_URL", "PUBLIC_API_URL", "LOCAL_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    payments = install_payments(monkeypatch)
    next(payments)  # secrets in moto, sandbox keys, ORDER24_SANDBOX=1
    yield urls
    next(payments, None)  # its clean-up


def paid_by_sandbox(order_id: str, host: str) -> dict[str, Any]:
    event = http_event("POST", f"/sandbox/pay/{order_id}", query={"provider": "wechatpay"},
                       headers={"host": host, "x-forwarded-host": host})
    event["pathParameters"] = {"order_id": order_id}
    reply = sandbox_payments.handler(event, context("sandbox_payments"))
    assert reply["statusCode"] == 200, reply
    return dict(json.loads(reply["body"]))


def intent(order_id: str) -> None:
    status, body, _ = call(pay_handler, "POST", f"/orders/{order_id}/pay", user=SHOPPER,
                           body={"provider": "wechatpay"})
    assert status == 200, body


def test_a_forged_host_header_does_not_redirect_the_signed_notification(
    posted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the runtime's gateway URL, as the runtime sets it
    monkeypatch.setenv("PUBLIC_API_URL", GATEWAY)
    order_id = awaiting_order()
    intent(order_id)

    # when someone asks the sandbox to pay with a Host header naming their own server
    paid_by_sandbox(order_id, "attacker.example:80")

    # then the signed notification goes to our gateway only
    assert posted == [f"{GATEWAY}/payments/wechatpay/notify"]


def test_without_env_the_sandbox_reads_the_runtimes_stack_json_not_the_request(
    posted: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    order_id = awaiting_order()
    monkeypatch.setenv("PUBLIC_API_URL", GATEWAY)
    intent(order_id)
    monkeypatch.delenv("PUBLIC_API_URL")
    (tmp_path / "stack.json").write_text(json.dumps({"api_url": "http://127.0.0.1:8999/"}), encoding="utf-8")
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))

    paid_by_sandbox(order_id, "attacker.example")

    assert posted == ["http://127.0.0.1:8999/payments/wechatpay/notify"]
