"""Replay storm: every payment and logistics callback arrives three times, shuffled across orders and sent
concurrently; the orders must end exactly as the same orders do when each callback arrives once.

The notifications are built and signed here with the sandbox keys from stack.json (the provider's side of
the wire), so the gateway, signature checks and idempotency are production's.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from infra.local.sandbox_courier import STEPS
from shared.logistics.adapters import kuaidi100
from shared.payments.adapters import alipay, wechatpay
from tests.e2e.helpers import Stack, env_int, report_result

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ORDERS_PER_BATCH = env_int("STORM_ORDERS", 12)  # per batch; half physical, providers alternate
COPIES = 3

Callback = tuple[str, dict[str, str], bytes]  # (path, headers, body)


def _provider_configs(stack: Stack) -> tuple[wechatpay.WechatPayConfig, alipay.AlipayConfig]:
    sm = stack.client("secretsmanager")
    wechat = json.loads(sm.get_secret_value(SecretId=stack.stack["secrets"]["wechatpay"])["SecretString"])
    ali = json.loads(sm.get_secret_value(SecretId=stack.stack["secrets"]["alipay"])["SecretString"])
    return wechatpay.WechatPayConfig.model_validate(wechat), alipay.AlipayConfig.model_validate(ali)


def payment_callback(stack: Stack, order: dict[str, Any]) -> Callback:
    """The success notification the provider sends for the order's intent (one body: retries are copies)."""
    intent, keys = order["payment_intent"], stack.stack["payments"]
    wechat_config, alipay_config = _provider_configs(stack)
    moment = datetime.now(UTC)
    if intent["provider"] == "wechatpay":
        body = wechatpay.build_transaction_notification(
            wechat_config, out_trade_no=order["order_id"], transaction_id="42" + secrets.token_hex(13),
            amount_fen=int(intent["amount_fen"]), currency=intent["currency"], trade_state="SUCCESS",
            now=moment, event_id=secrets.token_hex(16), resource_nonce=secrets.token_hex(6))
        headers = wechatpay.sign_notification(
            body, platform_private_key_pem=keys["wechatpay"]["platform_private_key_pem"],
            serial=keys["wechatpay"]["platform_serial"], timestamp=int(moment.timestamp()),
            nonce=secrets.token_hex(16))
        return "/payments/wechatpay/notify", headers, body
    fields = alipay.build_trade_notification(
        alipay_config, out_trade_no=order["order_id"], trade_no="2024" + secrets.token_hex(12),
        amount_fen=int(intent["amount_fen"]), trade_status="TRADE_SUCCESS", now=moment,
        notify_id=secrets.token_hex(16))
    form = alipay.sign_notification(fields, keys["alipay"]["alipay_private_key_pem"])
    return "/payments/alipay/notify", {"Content-Type": alipay.FORM_CONTENT_TYPE}, urlencode(form).encode()


def courier_pushes(stack: Stack, order: dict[str, Any]) -> list[Callback]:
    """Kuaidi100 pushes for each courier step to delivered, each carrying the history so far."""
    shipment, salt = order["shipment"], stack.stack["logistics"]["kuaidi100_salt"]
    start = datetime.now(UTC).replace(microsecond=0)
    history: list[tuple[Any, str, str]] = []
    pushes = []
    for index, (code, text) in enumerate(STEPS["delivered"]):
        at = start - timedelta(minutes=len(STEPS["delivered"]) - 1 - index)  # ending now, as in the sandbox
        history.insert(0, (at, text, kuaidi100.status_name(code)))
        param, sign = kuaidi100.build_push(company=shipment["carrier"], number=shipment["tracking_number"],
                                           state_code=code, traces=list(history), salt=salt)
        pushes.append(("/logistics/kuaidi100/notify", {"Content-Type": "application/x-www-form-urlencoded"},
                       urlencode({"param": param, "sign": sign}).encode()))
    return pushes


def deliver(stack: Stack, callbacks: list[Callback], *, concurrent: bool) -> list[requests.Response]:
    def post(callback: Callback) -> requests.Response:
        path, headers, body = callback
        return stack.session.post(stack.api_url + path, data=body, headers=headers, timeout=30)

    if not concurrent:
        return [post(c) for c in callbacks]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(post, callbacks))


def run_batch(
    stack: Stack, skus: dict[str, str], *, storm: bool, rng: random.Random
) -> dict[str, dict[str, Any]]:
    """Place, pay and (physical) deliver one batch; `storm`: every callback thrice, shuffled, in parallel."""
    shapes = [("physical" if n % 2 else "digital", "alipay" if n % 4 >= 2 else "wechatpay")
              for n in range(ORDERS_PER_BATCH)]
    ids = [stack.place("shopper1", skus[kind], physical=kind == "physical") for kind, _ in shapes]
    for order_id, (_, provider) in zip(ids, shapes, strict=True):
        assert stack.wait_status(order_id, {"AWAITING_PAYMENT"}, 30)["status"] == "AWAITING_PAYMENT"
        reply = stack.call("POST", f"/orders/{order_id}/pay", "shopper1", json={"provider": provider})
        assert reply.status_code == 200, reply.text

    def replay(callbacks: list[Callback]) -> None:
        batch = callbacks * COPIES if storm else callbacks
        if storm:
            rng.shuffle(batch)
        replies = deliver(stack, batch, concurrent=storm)
        # WeChat Pay answers 204, Alipay "success", Kuaidi100 a JSON result: any 2xx is an acknowledgement.
        refused = [(r.status_code, r.text) for r in replies if not r.ok]
        assert not refused, refused

    replay([payment_callback(stack, stack.order(order_id)) for order_id in ids])
    physical = [order_id for order_id, (kind, _) in zip(ids, shapes, strict=True) if kind == "physical"]
    for order_id in ids:
        wanted = {"SHIPPED"} if order_id in physical else {"COMPLETED"}
        assert stack.wait_status(order_id, wanted, 60)["status"] in wanted, stack.order(order_id)
    replay([push for order_id in physical for push in courier_pushes(stack, stack.order(order_id))])
    for order_id in physical:
        assert stack.wait_status(order_id, {"DELIVERED"}, 30)["status"] == "DELIVERED", stack.order(order_id)
    time.sleep(1)  # let any straggling duplicate land before reading the outcome
    return stack.orders(ids)


def outcome(stack: Stack, order: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on how often or in which order the callbacks came."""
    payment = order.get("payment") or {}
    fulfilment = order.get("fulfilment") or {}
    tracking = stack.call("GET", f"/orders/{order['order_id']}/tracking", "shopper1")
    traces = tracking.json().get("traces", []) if tracking.status_code == 200 else []
    return {
        "kind": "physical" if order.get("shipping_address") else "digital",
        "status": order["status"],
        "payment": {k: payment.get(k) for k in ("provider", "amount_fen", "currency", "state",
                                          "refunded_fen")},
        "refunds": len(payment.get("refunds") or {}),
        "fulfilment_state": fulfilment.get("state"),
        "status_path": [e["to_status"] for e in order["events"] if e.get("to_status")],
        "event_counts": Counter(e["type"] for e in order["events"]),
        "trace_count": len(traces),
        "trace_duplicates": len(traces) - len({(t.get("at"), t.get("context")) for t in traces}),
    }


def test_callbacks_delivered_three_times_shuffled_end_as_a_clean_run(
    local_stack: dict[str, Any], token_for: Callable[..., str]
) -> None:
    stack = Stack(local_stack)
    rng = random.Random(2406)
    skus = {"digital": stack.new_sku(stock=100), "physical": stack.new_sku(stock=100, kind="physical")}
    started = time.monotonic()
    clean = [outcome(stack, o) for o in run_batch(stack, skus, storm=False, rng=rng).values()]
    stormed_orders = run_batch(stack, skus, storm=True, rng=rng)
    storm = [outcome(stack, o) for o in stormed_orders.values()]
    report_result("replay_storm", [
        f"replay storm: {len(storm)} orders, {sum(s['kind'] == 'physical' for s in storm)} physical, "
        f"callbacks x{COPIES} shuffled; clean and storm batches in {time.monotonic() - started:.1f}s",
        "final statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(s["status"] for s in storm).items()))])

    for index, (expected, got) in enumerate(zip(clean, storm, strict=True)):
        # A push that overtakes an earlier step (签收 before 派件) makes the earlier step's informational
        # event moot: the storm may have fewer non-status events, never more, never one twice.
        clean_events, storm_events = expected.pop("event_counts"), got.pop("event_counts")
        assert got == expected, f"order #{index} ({got['kind']}) differs from the clean run"
        assert storm_events <= clean_events, (index, storm_events, clean_events)
        assert storm_events["status_changed"] == clean_events["status_changed"]
    for order in stormed_orders.values():
        paid_events = [e for e in order["events"] if e.get("to_status") == "PAID"]
        assert len(paid_events) == 1, order["events"]
        assert order["payment"]["state"] == "paid" and not order["payment"].get("refunds"), order["payment"]
    for got in storm:
        assert got["trace_duplicates"] == 0
        if got["kind"] == "physical":
            assert got["trace_count"] == len(STEPS["delivered"])
