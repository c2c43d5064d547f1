"""The local runtime runs the expiry fan-out too: orders placed over HTTP and left unpaid are found by the
scheduled sweeper, sent to the declared `expiry` queue, and cancelled by `expiry_worker` through the runtime's
SQS poller, with their stock back; an order paid in time stays paid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import Stack, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-expiry")]

ORDERS = 24
STACK_ENV = {
    "PAYMENT_TIMEOUT_SECONDS": "15",
    "SWEEP_INTERVAL_SECONDS": "2",
    "LOCAL_VISIBILITY_TIMEOUT_SECONDS": "5",  # a slow batch is redelivered: the duplicates must change nothing
    "EXPIRY_INLINE_MAX": "0",  # always fan out, however few are due
    "RISK_MODE": "shadow",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    proc, running = start_stack(STACK_ENV, tmp_path_factory.mktemp("expiry-stack"))
    try:
        yield Stack(running)
    finally:
        stop_stack(proc)


def test_abandoned_orders_expire_through_the_expiry_queue_and_give_their_stock_back(stack: Stack) -> None:
    # given a SKU, orders reserved over HTTP and left unpaid, and one order that its shopper pays in time
    sku = stack.new_sku(stock=ORDERS + 10)
    ids = [stack.place("shopper", sku, physical=False) for _ in range(ORDERS)]
    paid = ids.pop()
    for order_id in [*ids, paid]:
        assert stack.wait_status(order_id, {"AWAITING_PAYMENT"}, 60)["status"] == "AWAITING_PAYMENT"
    assert stack.call("POST", f"/orders/{paid}/pay", "shopper", json={"provider": "wechatpay"}).status_code == 200
    stack.call("POST", f"/sandbox/pay/{paid}?provider=wechatpay&outcome=success", "shopper")
    assert stack.wait_status(paid, {"PAID", "FULFILLING", "DELIVERED"}, 30)["status"] in KEPT_OR_DONE

    # when the payment timeout passes and the sweeper runs on its schedule
    orders = {order_id: stack.wait_status(order_id, {"CANCELLED"}, 90) for order_id in ids}

    # then every unpaid order was cancelled for the timeout by expiry_worker, stock is back, nothing went to a DLQ
    assert {(o["status"], o.get("status_reason")) for o in orders.values()} == {("CANCELLED", "payment_timeout")}
    assert all(o["events"][-1]["actor"] == "system:sweeper" for o in orders.values())
    assert stack.order(paid)["status"] in KEPT_OR_DONE
    assert stack.available(sku) == ORDERS + 10 - 1
    stats = stack.call("GET", "/_local/stats").json()
    assert stats["functions"]["invocations"].get("expiry_worker", 0) >= 1, stats["functions"]
    assert stats["functions"]["errors"].get("expiry_worker", 0) == 0
    assert stack.dlq_depths()["expiry"] == 0


KEPT_OR_DONE = {"PAID", "IN_REVIEW", "FULFILLING", "DELIVERED", "COMPLETED"}
