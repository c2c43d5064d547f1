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

import importlib
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

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
    # After-sales waits in seconds (production: hours and days), so every case ends within the run.
    "AFTER_SALES_MERCHANT_REPLY_SECONDS": "5",
    "AFTER_SALES_RECEIPT_CHECK_SECONDS": "3",
    "AFTER_SALES_RETURN_SHIP_SECONDS": "8",
    "AFTER_SALES_ESCALATE_SECONDS": "8",
    "AFTER_SALES_REFUND_RESUME_SECONDS": "15",
    "COMPLETE_RECHECK_SECONDS": "2",  # a delivered order whose case ended completes at the next recheck
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


# ---------------------------------------------------------------- after-sales under 10% faults (issue 13 item 9)
#
# The same 10% stack: orders are paid, some cancelled while paid (a full refund), the rest taken to after-sales
# with random cases (refund_only / return_and_refund, random lines and quantities, each submission sent 1-3 times
# with the same Idempotency-Key), then walked through random actions from ACTIONS until the case is final or
# left to a timer. At the end: every case final (REFUNDED / CLOSED) or in the ops inbox or a DLQ; stock and
# money conserved per order; one provider refund per grant.

AS_ORDERS = env_int("AFTER_SALES_ORDERS", 16)  # make soak: 200
AS_SETTLE_TIMEOUT_S = env_int("AFTER_SALES_SETTLE_SECONDS", 120)
CASE_FINAL = frozenset({"REFUNDED", "CLOSED"})
CASE_STAGES = frozenset({"FULFILLING", "SHIPPED", "DELIVERED", "COMPLETED"})
AD_COPY_FOR_REVIEW = "全网第一的推广位"  # an absolute claim: the order waits for a reviewer (PAID -> IN_REVIEW)
ROUTES = {r.route_key for r in DECLARATION.routes}

Case = dict[str, Any]


@dataclass(frozen=True)
class Action:
    """One thing a party may do to a case: applies in `when` (case statuses) to `types`; `route` is the route it
    needs ("POST /path"): the action is in the mix only once that route is declared; `stand_in_for` marks a
    sandbox stand-in, in the mix only until the route it stands for is declared."""

    name: str
    when: frozenset[str]
    do: Callable[[Stack, Case, random.Random], requests.Response]
    route: str | None = None
    stand_in_for: str | None = None
    types: frozenset[str] = frozenset({"refund_only", "return_and_refund"})
    weight: int = 3  # relative odds among the actions that apply (leaving it to a timer: 1)

    def available(self) -> bool:
        return ((self.route is None or self.route in ROUTES)
                and (self.stand_in_for is None or self.stand_in_for not in ROUTES))


def _post(path: str, role: str | Callable[[Case], str], body: Any = None,
          ) -> Callable[[Stack, Case, random.Random], requests.Response]:
    def do(stack: Stack, case: Case, rng: random.Random) -> requests.Response:
        who = role(case) if callable(role) else role
        return stack.call("POST", path.format(**case), who, json=body(case, rng) if callable(body) else body)
    return do


def _owner(case: Case) -> str:
    return str(case["_shopper"])


def _return_shipment(case: Case, rng: random.Random) -> dict[str, str]:
    return {"carrier": "yuantong", "tracking_no": f"YT{rng.randrange(10**11, 10**12)}"}


def _receipt(case: Case, rng: random.Random) -> dict[str, Any]:
    """Every returned unit, per line, intact or damaged (a line split at random)."""
    lines = []
    for line in case["lines"]:
        intact = rng.randint(0, int(line["quantity"]))
        lines += [{"sku": line["sku"], "quantity": n, "condition": condition}
                  for n, condition in ((intact, "intact"), (int(line["quantity"]) - intact, "damaged")) if n]
    return {"lines": lines}


RETURN_PUSHES = [("1", "【杭州】已揽收"), ("0", "快件已到达【杭州转运中心】"), ("5", "快递员正在派件"),
                 ("3", "已签收，签收人：仓库")]


def courier_returns(stack: Stack, case: Case, rng: random.Random) -> requests.Response:
    """The courier's signed Kuaidi100 pushes for the return parcel, up to 签收 at the merchant's (each with the
    history so far); the last answer is the action's."""
    from shared.logistics.adapters import kuaidi100

    parcel, salt = case["return_shipment"], stack.stack["logistics"]["kuaidi100_salt"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=len(RETURN_PUSHES))
    history: list[tuple[Any, str, str]] = []
    reply: requests.Response | None = None
    for i, (code, text) in enumerate(RETURN_PUSHES):
        history.insert(0, (start + timedelta(minutes=i), text, kuaidi100.status_name(code)))
        param, sign = kuaidi100.build_push(company=parcel["carrier"], number=parcel["tracking_no"],
                                           state_code=code, traces=list(history), salt=salt)
        reply = stack.call("POST", "/logistics/kuaidi100/notify", data={"param": param, "sign": sign})
    assert reply is not None
    return reply


def decide(stack: Stack, case: Case, rng: random.Random) -> requests.Response:
    """Ops claims the dispute (a lease, as reviewers do) and decides: full, partial or no refund."""
    stack.call("POST", f"/ops/disputes/{case['case_id']}/claim", "ops")
    total = int(case["refund_total_fen"])
    outcome = rng.choice(["full_refund", "partial_refund", "reject"] if total > 1 else ["full_refund", "reject"])
    body: dict[str, Any] = {"outcome": outcome, "reason": "decided by the fault run"}
    if outcome == "partial_refund":
        body["amount_fen"] = rng.randint(1, total - 1)
    return stack.call("POST", f"/ops/disputes/{case['case_id']}/decide", "ops", json=body)


_S = frozenset
_RETURN = _S({"return_and_refund"})
# The action table: one line per action. Timers (merchant silence, return not sent, no dispute) are not actions:
# a case whose status has a timer handler in the code base may also be left to it (`waitable`).
ACTIONS: tuple[Action, ...] = (
    Action("withdraw", _S({"REQUESTED", "APPROVED", "AWAITING_RETURN", "REJECTED"}),
           _post("/after-sales/{case_id}/withdraw", _owner), route="POST /after-sales/{case_id}/withdraw", weight=1),
    Action("withdraw (sandbox)", _S({"REQUESTED", "APPROVED", "AWAITING_RETURN", "REJECTED"}),
           _post("/sandbox/after-sales/{case_id}?action=close", _owner),
           stand_in_for="POST /after-sales/{case_id}/withdraw", weight=1),
    Action("merchant approves", _S({"REQUESTED", "RECEIVED"}),
           _post("/merchant/after-sales/{case_id}/approve", "merchant"),
           route="POST /merchant/after-sales/{case_id}/approve"),
    Action("merchant refunds (sandbox)", _S({"REQUESTED", "APPROVED"}),
           _post("/sandbox/after-sales/{case_id}?action=refund", "merchant"),
           stand_in_for="POST /merchant/after-sales/{case_id}/approve", types=_S({"refund_only"})),
    Action("merchant rejects", _S({"REQUESTED", "RECEIVED"}),
           _post("/merchant/after-sales/{case_id}/reject", "merchant", {"reason": "goods were as described"}),
           route="POST /merchant/after-sales/{case_id}/reject"),
    Action("shopper disputes", _S({"REJECTED"}),
           _post("/after-sales/{case_id}/dispute", _owner, {"reason": "the goods were not as described"}),
           route="POST /after-sales/{case_id}/dispute"),
    Action("shopper adds evidence", _S({"REJECTED", "DISPUTED"}),
           _post("/after-sales/{case_id}/evidence", _owner, {"text": "photos of the parcel",
                                                             "images": ["https://img.example.com/e2e/1.jpg"]}),
           route="POST /after-sales/{case_id}/evidence"),
    Action("ops decides", _S({"DISPUTED"}), decide, route="POST /ops/disputes/{case_id}/decide"),
    Action("shopper ships the return", _S({"AWAITING_RETURN"}),
           _post("/after-sales/{case_id}/return-shipment", _owner, _return_shipment),
           route="POST /after-sales/{case_id}/return-shipment", types=_RETURN),
    Action("courier delivers the return", _S({"RETURN_IN_TRANSIT"}), courier_returns,
           route="POST /logistics/kuaidi100/notify", types=_RETURN),
    Action("merchant receives", _S({"RETURN_IN_TRANSIT"}),
           _post("/merchant/after-sales/{case_id}/receive", "merchant", _receipt),
           route="POST /merchant/after-sales/{case_id}/receive", types=_RETURN),
)

# A status that a timer moves on, once the timer's handler exists in the code base (shared/aftersales/timers.py);
# a return in transit only once its parcel was signed for at the merchant's (then a silent merchant is taken to
# have received it).
TIMED = {"REQUESTED": "MERCHANT", "RECEIVED": "MERCHANT", "AWAITING_RETURN": "RETURN_SHIP", "REJECTED": "ESCALATE",
         "REFUNDING": "REFUND", "RETURN_IN_TRANSIT": "RETURN_SHIP", "APPROVED": "RETURN_SHIP"}


def waitable(case: Case) -> bool:
    from shared.aftersales.timers import HANDLERS, CaseTimer

    kind = TIMED.get(case["status"])
    if kind is None:
        return False
    if case["status"] == "RETURN_IN_TRANSIT" and not any(
            step.get("state") == "SIGNED" for step in case.get("return_tracking") or []):
        return False
    module, name = HANDLERS[CaseTimer(kind)].split(":")
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


@dataclass
class Driven:
    order_id: str
    plan: str
    shopper: str
    cases: list[str] = field(default_factory=list)
    opens: Counter[str] = field(default_factory=Counter)  # reply codes of case submissions
    actions: Counter[tuple[str, int]] = field(default_factory=Counter)  # (action, HTTP status)


def open_cases(stack: Stack, driven: Driven, order: dict[str, Any], reasons: dict[str, list[str]],
               rng: random.Random, *, returns: bool) -> None:
    """1-2 cases on random lines and quantities, each submitted 1-3 times at once with the same key."""
    for _ in range(rng.choice([1, 1, 2])):
        case_type = rng.choice(["refund_only", "return_and_refund", "return_and_refund"]) if returns else "refund_only"
        lines = rng.sample(order["items"], rng.randint(1, len(order["items"])))
        body = {"type": case_type, "reason_code": rng.choice(reasons[case_type]),
                "lines": [{"sku": line["sku"], "quantity": rng.randint(1, int(line["quantity"]))} for line in lines]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        copies = rng.choice([1, 2, 3])

        def submit(_: int, body: dict[str, Any] = body, key: dict[str, str] = key) -> requests.Response:
            return stack.call("POST", f"/orders/{driven.order_id}/after-sales", driven.shopper, json=body,
                              headers=key)

        with ThreadPoolExecutor(max_workers=copies) as pool:
            replies = list(pool.map(submit, range(copies)))
        driven.opens.update(str(r.json().get("code") or r.status_code) for r in replies)
        ids = {r.json()["case_id"] for r in replies if r.status_code == 201}
        # One key, one case, however often and however concurrently it was sent: every copy gets it.
        assert len(ids) <= 1 and (not ids or all(r.status_code == 201 for r in replies)), [r.text for r in replies]
        driven.cases += sorted(ids)


def walk(stack: Stack, driven: Driven, case_id: str, rng: random.Random, steps: int = 12) -> None:
    """Random applicable actions until the case is final, is left to a timer, or nothing applies."""
    for _ in range(steps):
        reply = stack.call("GET", f"/after-sales/{case_id}", driven.shopper)
        assert reply.status_code == 200, reply.text
        case = {**reply.json(), "_shopper": driven.shopper}
        if case["status"] in CASE_FINAL:
            return
        choices: list[Action | None] = [a for a in ACTIONS if a.available() and case["status"] in a.when
                                        and case["type"] in a.types]
        if waitable(case):
            choices.append(None)  # leave it to the timer
        if not choices:
            return
        (action,) = rng.choices(choices, weights=[a.weight if a else 1 for a in choices])
        if action is None:
            driven.actions[("left to the timer", 0)] += 1
            return
        reply = action.do(stack, case, rng)
        code = "" if reply.ok else f" {reply.json().get('code')}"
        driven.actions[(action.name + code, reply.status_code)] += 1


def drive_after_sales(stack: Stack, n: int, plan: str, skus: dict[str, list[str]],
                      reasons: dict[str, list[str]], rng: random.Random) -> Driven:
    shopper = f"shopper{1 + n % 2}"
    physical = plan.startswith("physical")
    picked = rng.sample(skus["physical" if physical else "digital"], rng.choice([1, 1, 2]))
    lines = [(sku, rng.randint(1, 3)) for sku in picked]
    order_id = stack.place(shopper, "", physical=physical, lines=lines,
                           ad_copy=AD_COPY_FOR_REVIEW if plan == "cancel_paid" else None)
    driven = Driven(order_id, plan, shopper)
    if stack.wait_status(order_id, {"AWAITING_PAYMENT"}, 60)["status"] != "AWAITING_PAYMENT":
        return driven
    provider = "alipay" if n % 3 == 0 else "wechatpay"
    if stack.call("POST", f"/orders/{order_id}/pay", shopper, json={"provider": provider}).status_code != 200:
        return driven
    stack.call("POST", f"/sandbox/pay/{order_id}?provider={provider}&outcome=success", shopper)
    if plan == "cancel_paid":
        stack.wait_status(order_id, {"IN_REVIEW"}, 60)
        driven.actions[("shopper cancels when paid", stack.call("POST", f"/orders/{order_id}/cancel",
                                                                shopper).status_code)] += 1
        return driven
    if plan == "physical_early":  # before the parcel leaves: a refund_only case, a flash refund if eligible
        order = stack.wait_status(order_id, CASE_STAGES, 60)
        if order["status"] in CASE_STAGES:
            open_cases(stack, driven, order, reasons, rng, returns=False)
            for case_id in driven.cases:
                walk(stack, driven, case_id, rng)
        return driven
    order = stack.wait_status(order_id, {"SHIPPED"} if physical else {"COMPLETED"}, 90)
    if physical and order["status"] == "SHIPPED" and plan != "physical_undelivered":
        stack.call("POST", f"/sandbox/ship/{order_id}?to=delivered", shopper)
        order = stack.wait_status(order_id, {"DELIVERED", "COMPLETED"}, 30)
    if order["status"] not in CASE_STAGES or plan == "plain":
        return driven
    open_cases(stack, driven, order, reasons, rng, returns=physical)
    for case_id in driven.cases:
        walk(stack, driven, case_id, rng)
    return driven


def settle_cases(stack: Stack, driven: list[Driven], timeout_s: float,
                 ) -> tuple[dict[str, list[Case]], set[str]]:
    """Wait until every case is final or in the ops inbox (a refund issue) or its order in a DLQ."""
    deadline = time.monotonic() + timeout_s
    while True:
        cases = {d.order_id: stack.cases(d.order_id) for d in driven}
        inbox = stack.inbox_refs("refund_issue")
        in_dlq = set().union(*stack.dlq_order_ids().values())
        open_ = [c for found in cases.values() for c in found if c["status"] not in CASE_FINAL
                 and f"{c['order_id']}:{c.get('refund_key')}" not in inbox and c["order_id"] not in in_dlq]
        if not open_ or time.monotonic() > deadline:
            return cases, inbox
        time.sleep(1)


def test_after_sales_under_ten_percent_faults_ends_every_case_and_conserves_stock_and_money(
    fault_stack: Stack,
) -> None:
    stack, started = fault_stack, time.monotonic()
    initial = 10_000
    skus = {"digital": [stack.new_sku(stock=initial) for _ in range(2)],
            "physical": [stack.new_sku(stock=initial, kind="physical") for _ in range(2)]}
    catalogue = stack.call("GET", "/after-sales/reasons").json()["reasons"]
    reasons = {t: [r["code"] for r in catalogue if t in r["types"]] for t in ("refund_only", "return_and_refund")}
    # The mix, in turn (so a small run has every path): cancelled while paid 15%, digital 25%, parcels with a
    # case before they leave 10%, delivered 30% or still shipped 10%, left alone 10%.
    mix = ["physical", "digital", "cancel_paid", "physical_early", "digital", "physical_undelivered", "physical",
           "plain", "digital", "physical", "cancel_paid", "digital", "physical_early", "physical_undelivered",
           "physical", "plain", "digital", "physical", "cancel_paid", "physical"]
    jobs = [(n, mix[n % len(mix)], random.Random(n)) for n in range(AS_ORDERS)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        driven = list(pool.map(lambda job: drive_after_sales(stack, job[0], job[1], skus, reasons, job[2]), jobs))
    driven_s = time.monotonic() - started
    ids = [d.order_id for d in driven]
    settle(stack, ids, timeout_s=AS_SETTLE_TIMEOUT_S)
    cases, inbox = settle_cases(stack, driven, timeout_s=max(10.0, AS_SETTLE_TIMEOUT_S - driven_s))
    orders = stack.orders(ids)  # after the cases settled (completion may wait for them)
    in_dlq = {order_id for members in stack.dlq_order_ids().values() for order_id in members}
    calls = stack.refund_calls()
    elapsed = time.monotonic() - started

    # 1. Every order final or in a DLQ; every case final, or its refund in the ops inbox, or its order in a DLQ.
    unaccounted = [(o["order_id"], o["status"]) for o in orders.values()
                   if o["status"] not in FINAL and o["order_id"] not in in_dlq
                   and not any(c["status"] not in CASE_FINAL for c in cases[o["order_id"]])]
    all_cases = [c for found in cases.values() for c in found]
    open_cases_left = [(c["case_id"], c["status"]) for c in all_cases if c["status"] not in CASE_FINAL
                       and f"{c['order_id']}:{c.get('refund_key')}" not in inbox and c["order_id"] not in in_dlq]

    # 2. Cases: one case per key (checked as they opened), the units claimed never more than bought, every
    #    case entered its final state once.
    for order_id, found in cases.items():
        bought = {line["sku"]: int(line["quantity"]) for line in orders[order_id]["items"]}
        held: Counter[str] = Counter()
        for case in found:
            if not case.get("claims_released"):
                held.update({line["sku"]: int(line["quantity"]) for line in case["lines"]})
            finals = [e for e in case["events"] if e.get("to_status") in CASE_FINAL]
            assert len(finals) == (case["status"] in CASE_FINAL), case["events"]
        assert all(held[sku] <= bought[sku] for sku in held), (order_id, held, bought)

    # 3. Stock, per SKU: available + reserved (holding orders) + sold - returned intact == initial.
    holding: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    returned: Counter[str] = Counter()
    for order in orders.values():
        for line in order["items"]:
            if order["status"] in HOLDING:
                holding[line["sku"]] += int(line["quantity"])
            elif order["status"] in SOLD:
                sold[line["sku"]] += int(line["quantity"])
        for case in cases[order["order_id"]]:
            returned.update(intact_units(case))
    stock = {}
    for sku in (*skus["digital"], *skus["physical"]):
        available = stack.available(sku)
        stock[sku] = (available, holding[sku], sold[sku], returned[sku])
        assert available + holding[sku] + sold[sku] - returned[sku] == initial, (sku, stock[sku])

    # 4. Money, per order: captured - refunded == value of the goods kept (the order's total less its cases'
    #    refunds while the order keeps its goods, nothing once it exited); compensation apart.
    totals = Counter[str]()
    for order in orders.values():
        payment = order.get("payment") or {}
        captured = int(payment.get("amount_fen", 0))
        grants = payment.get("refunds") or {}
        refunded = sum(int(r["amount_fen"]) for r in grants.values() if r["state"] in ("succeeded", "requested"))
        case_refunds = sum(int(c.get("refund_amount_fen") or 0) for c in cases[order["order_id"]]
                           if c["status"] in ("REFUNDING", "REFUNDED"))
        kept = int(order["total_fen"]) - case_refunds if order["status"] in KEPT else 0
        assert captured - refunded == kept, (order["order_id"], order["status"], captured, refunded, kept, grants)
        for case in cases[order["order_id"]]:
            if case.get("refund_key"):  # the case's grant is on this order's ledger, for the amount on the case
                assert int(grants[case["refund_key"]]["amount_fen"]) == int(case["refund_amount_fen"]), case
        # Compensation: the platform's own money, once per case that earned it, never on the capture's ledger.
        compensations = order.get("compensations") or {}
        earned = {c["compensation_key"]: c["case_id"] for c in cases[order["order_id"]] if c.get("compensation_key")}
        for key, record in compensations.items():
            assert earned.get(key) == record.get("case_id"), (order["order_id"], key, record, earned)
        totals.update(captured=captured, refunded=refunded, kept=kept,
                      compensation=sum(int(c["amount_fen"]) for c in compensations.values()),
                      compensation_paid=sum(int(c["amount_fen"]) for c in compensations.values()
                                            if c.get("state") == "paid"),
                      compensations=len(compensations))

    # 5. No double refund: one provider refund per grant. Every grant has its own out_refund_no, every settled
    #    grant was sent, and the provider was asked for nothing else of these orders. The same number sent again
    #    (`resent`) is the same refund to the provider (WeChat's out_refund_no, Alipay's out_request_no: the
    #    sandbox answers it with the same refund id): counted and printed, not a second refund. Seen once in a
    #    200-order run (1 of 84 grants). The likely path, not traced: the loser of two concurrent start_refund
    #    calls (say the merchant's approve and its MERCHANT timer) reads the grant `requested` without a
    #    provider id while the winner's call is in flight, and sends it too (shared/aftersales/refunding.py
    #    execute).
    grant_numbers = {r["out_refund_no"]: (o["order_id"], key) for o in orders.values()
                     for key, r in ((o.get("payment") or {}).get("refunds") or {}).items()}
    assert len(grant_numbers) == sum(len((o.get("payment") or {}).get("refunds") or {}) for o in orders.values())
    ours = {no: n for no, n in calls.items() if no.split("-", 1)[0] in orders}
    resent = {no: n for no, n in ours.items() if n > 1}
    unknown = sorted(set(ours) - set(grant_numbers))
    settled_unsent = [no for no, (order_id, key) in grant_numbers.items() if no not in ours
                      and orders[order_id]["payment"]["refunds"][key]["state"] == "succeeded"]

    actions: Counter[tuple[str, int]] = Counter()
    opens: Counter[str] = Counter()
    for d in driven:
        actions.update(d.actions)
        opens.update(d.opens)
    report = [
        f"after-sales under faults: {AS_ORDERS} orders, {len(all_cases)} cases, rate 0.1 on {len(FAULTED)} "
        f"functions; driven in {driven_s:.0f}s, settled in {elapsed:.0f}s",
        "plans: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(d.plan for d in driven).items())),
        "order statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(
            o["status"] for o in orders.values()).items())) + " (failed: " + ", ".join(f"{k}={v}" for k, v in sorted(
            Counter(str(o.get("status_reason")) for o in orders.values() if o["status"] == "FAILED").items())) + ")",
        "cases by state: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(
            c["status"] for c in all_cases).items())) + " (by type: " + ", ".join(
            f"{k}={v}" for k, v in sorted(Counter(c["type"] for c in all_cases).items())) + ")",
        "case submissions (reply): " + ", ".join(f"{k}={v}" for k, v in sorted(opens.items())),
        "flash decisions: " + (", ".join(f"{k}={v}" for k, v in sorted(Counter(
            str((c["flash"].get("rule") or "refused") if c["flash"].get("eligible") else "refused")
            for c in all_cases if c.get("flash")).items())) or "none"),
        "actions (name, HTTP status): " + ", ".join(f"{k[0]} {k[1]}={v}" for k, v in sorted(actions.items())),
        "not in the mix yet (route not declared): " + (", ".join(a.name for a in ACTIONS if not a.available())
                                                      or "none"),
        f"money (fen): captured {totals['captured']} - refunded {totals['refunded']} = "
        f"{totals['captured'] - totals['refunded']} == kept {totals['kept']}; platform compensation "
        f"{totals['compensation']} in {totals['compensations']} grants ({totals['compensation_paid']} paid), apart",
        "stock (available + reserved + sold - returned intact = initial): " + ", ".join(
            f"{a}+{h}+{s}-{r}={a + h + s - r}" for a, h, s, r in stock.values()) + f" (each of {initial})",
        f"provider refunds: {len(ours)} out_refund_no for {len(grant_numbers)} grants; the same number sent again "
        f"{len(resent)} ({sum(resent.values()) - len(resent)} extra calls); "
        f"unknown {len(unknown)}; ops inbox refund issues {len([r for r in inbox if r.split(':')[0] in orders])}; "
        f"orders in a DLQ {len(in_dlq & set(orders))}",
    ]
    report_result("after_sales_faults", report)
    assert not unaccounted, (unaccounted[:10], report)
    assert not open_cases_left, (open_cases_left[:10], report)
    assert not unknown and not settled_unsent, (unknown, settled_unsent, resent)
    assert actions and all_cases, report  # the run did take orders to after-sales


def intact_units(case: Case) -> Counter[str]:
    """Units a case's return gave back to sellable stock, per SKU (the merchant's receipt: `restocked`)."""
    return Counter({sku: int(n) for sku, n in ((case.get("receipt") or {}).get("restocked") or {}).items()})
