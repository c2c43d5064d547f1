"""The sandbox courier posts signed Kuaidi100 pushes through the gateway (here: a fake `requests.post`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from infra.local import sandbox_courier
from shared.orders import store
from tests.integration.test_fulfilment_helpers import logistics_fixture, post_form  # noqa: F401
from tests.integration.test_logistics import ACK, shipped
from tests.support import context, http_event


class _Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text


@pytest.mark.parametrize(
    ("to", "status", "last"), [("delivered", "DELIVERED", "3"), ("exception", "SHIPPED", "2")]
)
def test_sandbox_courier_walks_the_parcel_to_the_target(
    logistics: dict[str, str], monkeypatch: pytest.MonkeyPatch, to: str, status: str, last: str
) -> None:
    import requests

    order = shipped()
    urls: list[str] = []

    def through_gateway(url: str, data: dict[str, str], timeout: int) -> _Answer:
        urls.append(url)
        code, body = post_form("/logistics/kuaidi100/notify", raw=urlencode(data).encode())
        return _Answer(code, body)

    monkeypatch.setattr(requests, "post", through_gateway)
    monkeypatch.setenv("LOCAL_API_URL", "http://127.0.0.1:9999")
    event: dict[str, Any] = http_event("POST", f"/sandbox/ship/{order['order_id']}", query={"to": to})
    event["pathParameters"] = {"order_id": order["order_id"]}
    reply = sandbox_courier.handler(event, context("sandbox_courier"))
    import json

    body = json.loads(reply["body"])
    assert reply["statusCode"] == 200 and body["posted"][-1]["state"] == last
    assert all(p["answer"] == ACK for p in body["posted"])
    assert set(urls) == {"http://127.0.0.1:9999/logistics/kuaidi100/notify"}
    assert store.require(order["order_id"], consistent=True)["status"] == status
