"""Fault injection on separate local stacks.

1. 10% of every asynchronous step fails (LOCAL_FAULT_RATE: the handler raises). Orders are driven through pay
   (sandbox provider) and, for physical goods, the sandbox courier; unpaid, cancelled and out-of-stock orders
   are in the mix. Every order must end in a final state or sit in a DLQ whose depth metric (the alarm's) is
   raised, and stock and money must add up exactly.
2. 30% of every asynchronous step is throttled (LOCAL_THROTTLE_RATE: Lambda answers TooManyRequests or
   ServiceUnavailable instead of running the handler). A throttle is not a failure: every order must end
   exactly where a clean run ends it (the plan decides: paid -> COMPLETED, unpaid -> CANCELLED by the payment
   timeout, cancelled -> CANCELLED, the scarce SKU's first units COMPLETED and the rest REJECTED), none
   FAILED, none in a DLQ, stock and money conserved.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from infra.declaration import DECLARATION
from tests.e2e.helpers import FINAL, HOLDING, KEPT, SOLD, Stack, env_int, report_result, start_stack, stop_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("faults")]

ORDERS = env_int("FAULT_ORDERS", 100)  # make soak: 300
SETTLE_TIMEOUT_S = env_int("FAULT_SETTLE_SECONDS", 240)
THROTTLE_ORDERS = env_int("THROTTLE_ORDERS", 30)  # make soak: 200
THROTTLE_RATE = float(os.environ.get("THROTTLE_RATE") or 0.3)

# Every function no route points at: the SQS consumers, the Step Functions tasks, the stream consumer and
# the sweeper. Faults fire for asynchronous sources only (sqs, stream, lambda): see infra/local/invoker.py.
API_FUNCTIONS = {r.function for r in (*DECLARATION.routes, *DECLARATION.local_only_routes)}
FAULTED = sorted(f.name for f in DECLARATION.functions if f.name not in API_FUNCTIONS)

STACK_ENV = {
    "LOCAL_FAULT_RATE": "0.1",
    "LOCAL_FAULT_FUNCTIONS": ",".join(FAULTED),
    "LOCAL_VISIBILITY_TIMEOUT_SECONDS": "1",  # a failed batch comes back after 1 s (10 receives -> DLQ)
    "SWEEP_INTERVAL_SECONDS": "1",
    "PLACED_REDRIVE_AFTER_SECONDS": "6",  # production: 90 s
    "FULFIL_REDRIVE_AFTER_SECONDS": "12",  # production: 5 min
    # A step that times out on loaded cores (TASK_TIMEOUT_S) is requeued, not failed; the sweeper then leaves
    # the order to its queue for this long before re-driving it. Production: 7 min, longer than the settle.
    "REQUEUE_PATIENCE_SECONDS": "30",
    "RETURN_WINDOW_SECONDS": "1",  # DELIVERED -> COMPLETED at the next sweep
    "PAYMENT_TIMEOUT_SECONDS": "25",  # the deliberately unpaid orders expire within the run
    "RISK_MODE": "shadow",  # two shoppers place hundreds of orders: score, never block
}


def running_stack(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Stack]:
    """A local stack with `env` for one module's tests, stopped by its PID afterwards."""
    proc, stack = start_stack(env, tmp_path_factory.mktemp(name))
    try:
        yield Stack(stack)
    finally:
        stop_stack(proc)


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(STACK_ENV, tmp_path_factory, "fault-stack")


def drive(stack: Stack, n: int, plan: str, sku: str, shopper: str, rng: random.Random,
          patience_s: float = 60) -> str:
    """One order down its planned path; faults may divert it (FAILED, re-driven, refunded)."""
    physical = plan.startswith("physical")
    order_id = stack.place(shopper, sku, physical=physical)
    order = stack.wait_status(order_id, {"AWAITING_PAYMENT"}, patience_s)
    if order["status"] != "AWAITING_PAYMENT" or plan == "unpaid":
        return order_id  # rejected / failed in checkout, or left to expire
    if plan == "cancel":
        stack.call("POST", f"/orders/{order_id}/cancel", shopper)
        return order_id
    provider = "alipay" if n % 3 == 0 else "wechatpay"
    reply = stack.call("POST", f"/orders/{order_id}/pay", shopper, json={"provider": provider})
    if reply.status_code != 200:
        return order_id  # expired meanwhile: counted as it ends
    stack.call("POST", f"/sandbox/pay/{order_id}?provider={provider}&outcome=success", shopper)
    if physical:
        order = stack.wait_status(order_id, {"SHIPPED"}, patience_s + 30)
        if order["status"] == "SHIPPED":
            stack.call("POST", f"/sandbox/ship/{order_id}?to=delivered", shopper)
    return order_id


def settle(stack: Stack, ids: list[str], timeout_s: float = SETTLE_TIMEOUT_S,
           ) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """Wait until every order is final or in a DLQ; meanwhile act as the reviewer for IN_REVIEW ones."""
    deadline = time.monotonic() + timeout_s
    couriered: set[str] = set()
    while True:
        orders = stack.orders(ids)
        dlq = stack.dlq_order_ids()
        in_dlq = set().union(*dlq.values())
        for order_id, order in orders.items():
            if order["status"] == "IN_REVIEW":
                stack.call("POST", f"/review/{order_id}/claim", "reviewer")
                stack.call("POST", f"/review/{order_id}/approve", "reviewer")
            # Shipped only after its driver stopped waiting (a re-driven ship step): the courier still
            # comes. Drivers have all returned here; a second courier run would be a harmless replay.
            if order["status"] == "SHIPPED" and order_id not in couriered:
                couriered.add(order_id)
                stack.call("POST", f"/sandbox/ship/{order_id}?to=delivered", "shopper1")
        open_ = [o for o in orders.values() if o["status"] not in FINAL and o["order_id"] not in in_dlq]
        if not open_ or time.monotonic() > deadline:
            return orders, dlq
        time.sleep(2)


def test_ten_percent_faults_every_order_ends_final_or_in_a_dlq_and_stock_and_money_add_up(
    fault_stack: Stack,
) -> None:
    started = time.monotonic()
    log = Path(fault_stack.stack["_log"]).read_text()
    assert f"FAULT INJECTION: rate 0.1 on {', '.join(FAULTED)}" in log, log[-2000:]
    rng = random.Random(6)
    initial = {"digital": 10_000, "physical": 10_000, "scarce": 20}
    skus = {"digital": fault_stack.new_sku(stock=initial["digital"]),
            "physical": fault_stack.new_sku(stock=initial["physical"], kind="physical"),
            "scarce": fault_stack.new_sku(stock=initial["scarce"])}
    sku_kind = {sku: kind for kind, sku in skus.items()}
    # The mix: digital and physical paid journeys, some left unpaid (expiry), some cancelled, and a scarce
    # SKU that sells out (REJECTED). A courier exception would park the order for ops (SHIPPED + trouble),
    # which is neither final nor a DLQ, so the courier always delivers here.
    plans = ["digital"] * 45 + ["physical"] * 33 + ["unpaid"] * 5 + ["cancel"] * 5 + ["scarce"] * 12
    jobs = [(n, rng.choice(plans)) for n in range(ORDERS)]

    def run(job: tuple[int, str]) -> str:
        n, plan = job
        sku = skus["scarce" if plan == "scarce" else "physical" if plan.startswith("physical") else "digital"]
        return drive(fault_stack, n, plan, sku, f"shopper{1 + n % 2}", rng)

    # Clients mostly wait (checkout, shipping): many of them keep the stack busy without more CPU.
    with ThreadPoolExecutor(max_workers=32) as pool:
        ids = list(pool.map(run, jobs))
    driven_s = time.monotonic() - started
    orders, dlq = settle(fault_stack, ids)
    depths = fault_stack.dlq_depths()
    stats = fault_stack.call("GET", "/_local/stats").json()
    elapsed = time.monotonic() - started

    # 1. Every order accounted for: final, or in a DLQ whose depth metric is raised.
    in_dlq = {order_id: name for name, members in dlq.items() for order_id in members}
    statuses = Counter(o["status"] for o in orders.values())
    unaccounted = [(o["order_id"], o["status"]) for o in orders.values()
                   if o["status"] not in FINAL and o["order_id"] not in in_dlq]
    assert len(orders) == ORDERS
    assert not unaccounted, unaccounted[:10]
    for order_id, queue in in_dlq.items():
        assert depths[queue] > 0, (order_id, queue, depths)

    # 2. Stock: available + reserved (holding orders) + sold == initial, per SKU.
    holding: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    for order in orders.values():
        for line in order["items"]:
            if order["status"] in HOLDING:
                holding[line["sku"]] += int(line["quantity"])
            elif order["status"] in SOLD:
                sold[line["sku"]] += int(line["quantity"])
        # Orders that gave their goods back hold no reservation; orders that kept them still do.
        assert bool(order.get("reservations")) == (order["status"] in (*HOLDING, *SOLD)), order
    stock = {}
    for sku, kind in sku_kind.items():
        available = fault_stack.available(sku)
        stock[kind] = (available, holding[sku], sold[sku])
        assert available + holding[sku] + sold[sku] == initial[kind], (kind, stock[kind], initial[kind])

    # 3. Money: captured - refunded == value of the orders that kept their goods.
    captured = refunded = kept_value = 0
    refunds_by_reason: Counter[str] = Counter()
    for order in orders.values():
        payment = order.get("payment")
        if payment:
            captured += int(payment["amount_fen"])
            for record in (payment.get("refunds") or {}).values():
                assert record["state"] in ("succeeded", "requested"), record
                refunded += int(record["amount_fen"])
                refunds_by_reason[str(record.get("reason"))] += 1
        if order["status"] in KEPT:
            assert payment, order
            kept_value += int(order["total_fen"])
    assert captured - refunded == kept_value, (captured, refunded, kept_value)

    report = [
        f"fault injection: {ORDERS} orders, rate 0.1 on {len(FAULTED)} functions "
        f"({', '.join(FAULTED)}); driven in {driven_s:.0f}s, settled in {elapsed:.0f}s",
        "final statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())),
        "failure reasons: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(
            str(o.get("status_reason")) for o in orders.values() if o["status"] == "FAILED").items())),
        f"in a DLQ: {len(in_dlq)} orders; DLQ depths {depths}",
        "refunds: " + (", ".join(f"{k}={v}" for k, v in sorted(refunds_by_reason.items())) or "none"),
        f"redriven orders: {sum(1 for o in orders.values() if int(o.get('redrives', 0)) > 0)}",
        "stock (available, reserved, sold): " + ", ".join(
            f"{kind}={a}+{h}+{s}={a + h + s}/{initial[kind]}" for kind, (a, h, s) in stock.items()),
        f"money: captured {captured} - refunded {refunded} = {captured - refunded} fen; "
        f"kept goods {kept_value} fen",
        f"injected faults: {stats['functions'].get('injected_faults')}",
    ]
    report_result("fault_injection", report)


# A clean run's timings, except that Lambda refuses 30% of the calls. The placed re-drive and the payment
# timeout are longer than in the 10% run: a throttled order is slower, never different.
THROTTLE_ENV = {
    "LOCAL_THROTTLE_RATE": str(THROTTLE_RATE),
    "LOCAL_FAULT_FUNCTIONS": ",".join(FAULTED),
    "LOCAL_VISIBILITY_TIMEOUT_SECONDS": "1",
    "SWEEP_INTERVAL_SECONDS": "1",
    "PLACED_REDRIVE_AFTER_SECONDS": "20",
    "FULFIL_REDRIVE_AFTER_SECONDS": "30",
    "REQUEUE_PATIENCE_SECONDS": "30",  # production: 7 min (requeue delay + one Express execution)
    "RETURN_WINDOW_SECONDS": "1",
    "PAYMENT_TIMEOUT_SECONDS": "30",
    "RISK_MODE": "shadow",
}


@pytest.fixture(scope="module")
def throttle_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(THROTTLE_ENV, tmp_path_factory, "throttle-stack")


def clean_outcome(plans: dict[str, str], scarce_units: int) -> dict[str, tuple[str, str | None]]:
    """Where a clean run (no faults) ends each order: the plan decides, and the scarce SKU's units go to
    `scarce_units` of its orders (which ones is a race, how many is not: compared as counts)."""
    clean = {"digital": ("COMPLETED", None), "physical": ("COMPLETED", None),
             "unpaid": ("CANCELLED", "payment_timeout"), "cancel": ("CANCELLED", "cancelled_by_shopper")}
    return {order_id: clean[plan] for order_id, plan in plans.items() if plan != "scarce"} | {
        f"scarce-{i}": ("COMPLETED", None) if i < scarce_units else ("REJECTED", "out_of_stock")
        for i in range(sum(plan == "scarce" for plan in plans.values()))}


def test_thirty_percent_throttles_end_every_order_where_a_clean_run_does(throttle_stack: Stack) -> None:
    stack = throttle_stack
    started = time.monotonic()
    log = Path(stack.stack["_log"]).read_text()
    assert "THROTTLE INJECTION" in log and f"rate {THROTTLE_RATE}" in log, log[-2000:]
    rng = random.Random(11)
    initial = {"digital": 10_000, "physical": 10_000, "scarce": max(2, THROTTLE_ORDERS // 10)}
    skus = {kind: stack.new_sku(stock=units, kind="physical" if kind == "physical" else "digital")
            for kind, units in initial.items()}
    sku_kind = {sku: kind for kind, sku in skus.items()}
    mix = ["digital"] * 45 + ["physical"] * 25 + ["unpaid"] * 8 + ["cancel"] * 7 + ["scarce"] * 15
    jobs = [(n, rng.choice(mix)) for n in range(THROTTLE_ORDERS)]

    def run(job: tuple[int, str]) -> tuple[str, str]:
        n, plan = job
        sku = skus["scarce" if plan == "scarce" else "physical" if plan == "physical" else "digital"]
        return drive(stack, n, plan, sku, f"shopper{1 + n % 2}", rng, patience_s=180), plan

    with ThreadPoolExecutor(max_workers=16) as pool:
        placed = list(pool.map(run, jobs))
    plans = dict(placed)
    driven_s = time.monotonic() - started
    orders, dlq = settle(stack, list(plans), timeout_s=SETTLE_TIMEOUT_S + 120)
    depths = stack.dlq_depths()
    stats = stack.call("GET", "/_local/stats").json()["functions"]
    elapsed = time.monotonic() - started

    def outcome(order: dict[str, Any]) -> tuple[str, str | None]:
        reason = order.get("status_reason")
        if reason and reason.startswith("out_of_stock"):
            reason = "out_of_stock"
        return order["status"], reason if order["status"] != "COMPLETED" else None

    got = Counter(outcome(order) for order in orders.values())
    want = Counter(clean_outcome(plans, initial["scarce"]).values())
    statuses = Counter(order["status"] for order in orders.values())
    requeued = sum(1 for order in orders.values() if int(order.get("requeues", 0)) > 0)
    report = [
        f"throttle injection: {THROTTLE_ORDERS} orders, rate {THROTTLE_RATE} on {len(FAULTED)} functions; "
        f"driven in {driven_s:.0f}s, settled in {elapsed:.0f}s",
        "final statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())),
        "outcomes (status, reason): " + ", ".join(f"{k}={v}" for k, v in sorted(got.items(), key=str)),
        "clean run (the plan):      " + ", ".join(f"{k}={v}" for k, v in sorted(want.items(), key=str)),
        f"requeued orders: {requeued} (last reasons "
        f"{dict(Counter(str(o.get('requeue_reason')) for o in orders.values() if o.get('requeues')))}); "
        "redriven orders: "
        f"{sum(1 for o in orders.values() if int(o.get('redrives', 0)) > 0)}",
        f"in a DLQ: {sum(len(v) for v in dlq.values())}; DLQ depths {depths}",
        f"injected throttles: {sum(stats.get('injected_throttles', {}).values())} "
        f"{stats.get('injected_throttles')}",
    ]
    report_result("throttle_injection", report)

    # 1. A throttle never fails an order: every order ends where the clean run ends it, none in a DLQ.
    assert got == want, report
    assert not statuses.get("FAILED"), report
    assert sum(depths.values()) == 0, report
    assert sum(stats.get("injected_throttles", {}).values()) > THROTTLE_ORDERS, report  # they did fire

    # 2. Stock and money, as in the 10% run.
    for sku, kind in sku_kind.items():
        sold = sum(int(line["quantity"]) for order in orders.values() for line in order["items"]
                   if line["sku"] == sku and order["status"] in SOLD)
        assert stack.available(sku) + sold == initial[kind], (kind, stack.available(sku), sold)
    captured = sum(int(o["payment"]["amount_fen"]) for o in orders.values() if o.get("payment"))
    refunded = sum(int(r["amount_fen"]) for o in orders.values() if o.get("payment")
                   for r in (o["payment"].get("refunds") or {}).values())
    kept = sum(int(o["total_fen"]) for o in orders.values() if o["status"] in KEPT)
    assert captured - refunded == kept, (captured, refunded, kept)
