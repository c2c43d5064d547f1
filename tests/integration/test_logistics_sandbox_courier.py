"""The sandbox courier posts signed Kuaidi100 pushes through the gateway (here: a fake `requests.post`)."""

from __future__ import annotations

from itertools import pairwise
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
    event: dict[str, Any] = http_event("POST", f"/sandbox/ship/{order.order_id}", query={"to": to})
    event["pathParameters"] = {"order_id": order.order_id}
    reply = sandbox_courier.handler(event, context("sandbox_courier"))
    import json

    body = json.loads(reply["body"])
    assert reply["statusCode"] == 200 and body["posted"][-1]["state"] == last
    assert all(p["answer"] == ACK for p in body["posted"])
    assert set(urls) == {"http://127.0.0.1:9999/logistics/kuaidi100/notify"}
    assert store.require(order.order_id, consistent=True).status == status


def test_sandbox_courier_traces_come_after_the_order_and_never_from_the_future(
    logistics: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import requests

    from shared.core.clock import now, parse_iso
    from shared.logistics.adapters._common import parse_partner_time

    order = shipped()
    paid = max(parse_iso(e.at) for e in order.events if getattr(e, "to_status", None) == "PAID")
    pushes: list[tuple[list[str], Any]] = []

    def through_gateway(url: str, data: dict[str, str], timeout: int) -> _Answer:
        pushes.append(([d["time"] for d in json.loads(data["param"])["lastResult"]["data"]], now()))
        code, body = post_form("/logistics/kuaidi100/notify", raw=urlencode(data).encode())
        return _Answer(code, body)

    monkeypatch.setattr(requests, "post", through_gateway)
    monkeypatch.setenv("LOCAL_API_URL", "http://127.0.0.1:9999")
    event: dict[str, Any] = http_event("POST", f"/sandbox/ship/{order.order_id}", query={"to": "delivered"})
    event["pathParameters"] = {"order_id": order.order_id}

    sandbox_courier.handler(event, context("sandbox_courier"))

    history, _ = pushes[-1]
    times = [parse_partner_time(t) for t in reversed(history)]  # oldest first
    assert len(times) == 4
    assert times[0] >= paid and times[0] >= parse_iso(order.created_at)
    assert all(earlier < later for earlier, later in pairwise(times))
    for seen, posted_at in pushes:  # each push's newest trace had happened when it was posted
        assert parse_partner_time(seen[0]) <= posted_at
    assert store.require(order.order_id, consistent=True).status == "DELIVERED"


def test_sandbox_courier_spreads_an_old_orders_traces_up_to_now_a_minute_apart() -> None:
    from datetime import UTC, datetime, timedelta

    placed = datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)
    now = placed + timedelta(hours=5, microseconds=400_000)

    times = sandbox_courier.trace_times(placed, now, 4)

    assert times[-1] == now.replace(microsecond=0)
    assert [b - a for a, b in pairwise(times)] == [timedelta(minutes=1)] * 3
    assert times[0] > placed


def test_sandbox_courier_gives_a_fresh_order_one_second_steps_from_the_order_on() -> None:
    from datetime import UTC, datetime, timedelta

    placed = datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)

    times = sandbox_courier.trace_times(placed, placed + timedelta(milliseconds=900), 4)

    assert times == [datetime(2026, 3, 1, 9, 0, s, tzinfo=UTC) for s in (1, 2, 3, 4)]
