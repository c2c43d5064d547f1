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
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from infra.declaration import DECLARATION
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


# ---------------------------------------------------------------- refund notifications (issue 13 item 9)

REFUND_ORDERS = env_int("STORM_REFUND_ORDERS", 9)  # make soak: 60
APPROVE = "POST /merchant/after-sales/{case_id}/approve"
ROUTES = {r.route_key for r in DECLARATION.routes}
AD_COPY_FOR_REVIEW = "全网第一的推广位"  # an absolute claim: the paid order waits for a reviewer (cancellable)


def refund_notification(stack: Stack, order: dict[str, Any], key: str) -> Callback:
    """What the provider POSTs when the grant `key` of the order settles: WeChat Pay REFUND.SUCCESS (AEAD-encrypted
    resource, platform-signed headers) or Alipay's trade_status_sync carrying the refund (RSA2-signed form)."""
    payment, keys = order["payment"], stack.stack["payments"]
    record = payment["refunds"][key]
    wechat_config, alipay_config = _provider_configs(stack)
    moment = datetime.now(UTC)
    if payment["provider"] == "wechatpay":
        body = wechatpay.build_refund_notification(
            wechat_config, out_trade_no=order["order_id"], transaction_id=payment["transaction_id"],
            out_refund_no=record["out_refund_no"], refund_id=record.get("provider_refund_id") or
            "50" + secrets.token_hex(14), refund_fen=int(record["amount_fen"]), total_fen=int(payment["amount_fen"]),
            refund_status="SUCCESS", now=moment, event_id=secrets.token_hex(16), resource_nonce=secrets.token_hex(6))
        headers = wechatpay.sign_notification(
            body, platform_private_key_pem=keys["wechatpay"]["platform_private_key_pem"],
            serial=keys["wechatpay"]["platform_serial"], timestamp=int(moment.timestamp()),
            nonce=secrets.token_hex(16))
        return "/payments/wechatpay/notify", headers, body
    refunded_all = sum(int(r["amount_fen"]) for r in payment["refunds"].values()) >= int(payment["amount_fen"])
    fields = alipay.build_trade_notification(
        alipay_config, out_trade_no=order["order_id"], trade_no=payment["transaction_id"],
        amount_fen=int(payment["amount_fen"]), trade_status="TRADE_CLOSED" if refunded_all else "TRADE_SUCCESS",
        now=moment, notify_id=secrets.token_hex(16), refund_fen=int(record["amount_fen"]),
        out_biz_no=record["out_refund_no"])
    form = alipay.sign_notification(fields, keys["alipay"]["alipay_private_key_pem"])
    return "/payments/alipay/notify", {"Content-Type": alipay.FORM_CONTENT_TYPE}, urlencode(form).encode()


def test_refund_notifications_delivered_three_times_shuffled_settle_every_refund_once(
    local_stack: dict[str, Any], token_for: Callable[..., str]
) -> None:
    """Paid orders are refunded three ways (cancelled while paid; a refund_only case on a completed digital
    order; one on a shipped parcel), then every refund notification is delivered three times, shuffled and
    concurrent, interleaved with replayed payment notifications and the parcels' courier pushes."""
    stack = Stack(local_stack)
    rng = random.Random(1313)
    started = time.monotonic()
    skus = {"digital": stack.new_sku(stock=100), "physical": stack.new_sku(stock=100, kind="physical")}
    shapes = [(("cancel", "digital_case", "parcel_case")[n % 3], "alipay" if (n // 3) % 2 else "wechatpay")
              for n in range(REFUND_ORDERS)]
    ids = [stack.place("shopper1", skus["physical" if plan == "parcel_case" else "digital"],
                       physical=plan == "parcel_case", quantity=2,
                       ad_copy=AD_COPY_FOR_REVIEW if plan == "cancel" else None) for plan, _ in shapes]
    for order_id, (_, provider) in zip(ids, shapes, strict=True):
        assert stack.wait_status(order_id, {"AWAITING_PAYMENT"}, 30)["status"] == "AWAITING_PAYMENT"
        reply = stack.call("POST", f"/orders/{order_id}/pay", "shopper1", json={"provider": provider})
        assert reply.status_code == 200, reply.text
    payments = [payment_callback(stack, stack.order(order_id)) for order_id in ids]
    deliver(stack, payments, concurrent=False)

    # The refunds: a full one per cancelled order, a one-unit case refund per case order (the merchant agrees;
    # the sandbox stands in until the merchant's route is declared; a flash refund may have sent it already).
    for order_id, (plan, _) in zip(ids, shapes, strict=True):
        wanted = {"IN_REVIEW"} if plan == "cancel" else {"SHIPPED"} if plan == "parcel_case" else {"COMPLETED"}
        assert stack.wait_status(order_id, wanted, 60)["status"] in wanted, stack.order(order_id)
        if plan == "cancel":
            reply = stack.call("POST", f"/orders/{order_id}/cancel", "shopper1")
            assert reply.status_code == 200, reply.text
            continue
        order = stack.order(order_id)
        reply = stack.call("POST", f"/orders/{order_id}/after-sales", "shopper1",
                           headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                               "type": "refund_only", "lines": [{"sku": order["items"][0]["sku"], "quantity": 1}],
                               "reason_code": "not_received" if plan == "parcel_case" else "no_longer_needed"})
        assert reply.status_code == 201, reply.text
        case_id = reply.json()["case_id"]
        refund = (stack.call("POST", f"/merchant/after-sales/{case_id}/approve", "merchant") if APPROVE in ROUTES
                  else stack.call("POST", f"/sandbox/after-sales/{case_id}?action=refund"))
        assert refund.status_code == 200, refund.text
    before = stack.orders(ids)
    grants = [(order_id, key) for order_id, order in before.items() for key in order["payment"]["refunds"]]
    assert len(grants) == len(ids), grants  # one refund per order

    parcels = [order_id for order_id, (plan, _) in zip(ids, shapes, strict=True) if plan == "parcel_case"]
    callbacks = [refund_notification(stack, before[order_id], key) for order_id, key in grants]
    callbacks += payments + [push for order_id in parcels for push in courier_pushes(stack, before[order_id])]
    storm = callbacks * COPIES
    rng.shuffle(storm)
    replies = deliver(stack, storm, concurrent=True)
    refused = [(r.status_code, r.text) for r in replies if not r.ok]
    assert not refused, refused
    for order_id in parcels:
        assert stack.wait_status(order_id, {"DELIVERED"}, 30)["status"] in ("DELIVERED", "COMPLETED")
    time.sleep(1)  # let any straggling duplicate land before reading the outcome
    after = stack.orders(ids)
    calls = stack.refund_calls()
    cases = {order_id: stack.cases(order_id) for order_id in ids}
    unmatched = {ref.rsplit(":", 1)[-1] for ref in stack.inbox_refs("unmatched_payment")}

    settled_events = Counter[tuple[str, str]]()
    for order_id, order in after.items():
        payment = order["payment"]
        for event in order["events"]:
            if event["type"] in ("refunded", "refund_failed"):
                settled_events[(order_id, str(event["reason"]).split(":", 1)[0])] += 1
        refunded = sum(int(r["amount_fen"]) for r in payment["refunds"].values())
        case_refunds = sum(int(c.get("refund_amount_fen") or 0) for c in cases[order_id])
        kept = 0 if order["status"] == "CANCELLED" else int(order["total_fen"]) - case_refunds
        assert int(payment["amount_fen"]) - refunded == kept, (order_id, payment, kept)
        assert int(payment["refunded_fen"]) == refunded, payment
        assert [e["to_status"] for e in order["events"] if e.get("to_status") == "PAID"] == ["PAID"]
    report_result("replay_storm_refunds", [
        f"refund storm: {len(ids)} orders ({Counter(plan for plan, _ in shapes)}), {len(grants)} refunds, "
        f"{len(callbacks)} callbacks x{COPIES} shuffled ({len(grants) * COPIES} refund notifications); "
        f"{time.monotonic() - started:.1f}s",
        "final statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(
            o["status"] for o in after.values()).items())),
        "cases: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(
            c["status"] for found in cases.values() for c in found).items())),
        f"money (fen): captured {sum(int(o['payment']['amount_fen']) for o in after.values())}, refunded "
        f"{sum(int(o['payment']['refunded_fen']) for o in after.values())}",
        "provider refund calls per grant (calls: grants): " + str(dict(Counter(
            calls.get(r["out_refund_no"], 0) for o in after.values() for r in o["payment"]["refunds"].values()))),
    ])
    for order_id, key in grants:
        record = after[order_id]["payment"]["refunds"][key]
        assert record["state"] == "succeeded", record
        assert settled_events[(order_id, key)] == 1, after[order_id]["events"]  # settled once, however often told
        assert calls.get(record["out_refund_no"]) == 1, (record, calls.get(record["out_refund_no"]))
        assert record["out_refund_no"] not in unmatched  # every notification named a refund we know
    for case in (c for found in cases.values() for c in found):
        assert case["status"] == "REFUNDED", case
        assert [e.get("to_status") for e in case["events"]].count("REFUNDED") == 1, case["events"]
    ends = {"cancel": {"CANCELLED"}, "digital_case": {"COMPLETED"}, "parcel_case": {"DELIVERED", "COMPLETED"}}
    for order_id, (plan, _) in zip(ids, shapes, strict=True):
        assert after[order_id]["status"] in ends[plan], (plan, after[order_id]["status"])
