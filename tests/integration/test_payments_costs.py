"""What a payment costs: DynamoDB writes per successful notification, and the warm handler time."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from shared.core import ddb
from shared.orders import store
from tests.integration.test_catalog_and_intake import AD_SLOT, create
from tests.integration.test_payments_helpers import (
    alipay_form,
    awaiting_order,
    install_payments,
    post_alipay,
    post_wechat,
    wechat_notification,
)

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


@pytest.fixture
def dynamodb_calls() -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        seen[event_name.rsplit(".", 1)[-1]] += 1

    events = ddb.dynamodb().meta.events
    events.register("before-call.dynamodb.*", count)
    try:
        yield seen
    finally:
        events.unregister("before-call.dynamodb.*", count)


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_a_successful_payment_notification_is_one_dynamodb_write(
    payments: dict[str, Any], dynamodb_calls: Counter[str], provider: str
) -> None:
    order_id = awaiting_order()
    dynamodb_calls.clear()
    if provider == "wechatpay":
        assert post_wechat(*wechat_notification(order_id, 9900))[0] == 204
    else:
        assert post_alipay(alipay_form(order_id, 9900))[1] == "success"
    calls = dict(dynamodb_calls)
    print(f"\n{provider}: dynamodb calls per successful notification: {calls}")
    assert calls == {"GetItem": 1, "UpdateItem": 1}  # one consistent read, one conditional write
    assert store.require(order_id).status == "PAID"


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_warm_notification_handler_time(payments: dict[str, Any], provider: str) -> None:
    create({**AD_SLOT, "stock": 200})
    orders = [awaiting_order(key=f"bench-{n:08d}") for n in range(51)]
    timings = []
    for order_id in orders:
        request = (
            wechat_notification(order_id, 9900) if provider == "wechatpay" else alipay_form(order_id, 9900)
        )
        started = time.perf_counter()
        reply = post_wechat(*request) if provider == "wechatpay" else post_alipay(request)  # type: ignore[arg-type]
        timings.append(time.perf_counter() - started)
        assert reply[0] in (200, 204)
    warm = timings[1:]
    print(
        f"\n{provider}: warm notify median {statistics.median(warm) * 1000:.1f} ms, "
        f"p90 {sorted(warm)[int(len(warm) * 0.9)] * 1000:.1f} ms over {len(warm)} first-time payments (moto)"
    )
    assert all(store.require(order_id).status == "PAID" for order_id in orders)


def test_switching_payment_method_costs_one_read_and_two_writes(
    payments: dict[str, Any], dynamodb_calls: Counter[str]
) -> None:
    from functions.pay.handler import handler as pay_handler
    from tests.support import SHOPPER, call

    def pay(order_id: str, provider: str) -> dict[str, int]:
        dynamodb_calls.clear()
        started = time.perf_counter()
        status, body, _ = call(pay_handler, "POST", f"/orders/{order_id}/pay", user=SHOPPER,
                               body={"provider": provider})
        elapsed = time.perf_counter() - started
        assert status == 200, body
        print(f"\npay {provider}: {dict(dynamodb_calls)} in {elapsed * 1000:.1f} ms")
        return dict(dynamodb_calls)

    order_id = awaiting_order()
    assert pay(order_id, "wechatpay") == {"GetItem": 1, "UpdateItem": 1}  # the first intent
    assert pay(order_id, "alipay") == {"GetItem": 1, "UpdateItem": 2}  # supersede + the close's record
    assert pay(order_id, "alipay") == {"GetItem": 1}  # the same request again: a read, no write
