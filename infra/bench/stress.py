"""`make stress`: 100 orders against 20 units, many times, on a saturated machine; no oversell, stock conserved.

    make stress                                  # 20 runs, both cores hogged, a fresh `python -m infra.local`
    make stress STRESS_ARGS="--runs 3 --no-mix"  # the plain e2e scenario only

Each run creates a SKU with 20 units and places 100 one-unit orders from two shoppers on 8 client threads,
over HTTP against the real local runtime (started here on PORT=0, stopped by its PID). While the orders
go in, the mix adds shopper cancels, payment expiries (a short PAYMENT_TIMEOUT_SECONDS) and merchant stock
edits (PUT /merchant/skus/{sku}/stock). A CPU hog (one busy process per core, started here, stopped by PID,
and each with its own deadline) keeps the cores busy the whole time.

The verdict comes from three independent sources:

1. The commit log: the table's stream read from the run's start, in commit order. Replayed, it gives each
   bucket's `available` and the units held by orders after every commit: `oversold` is how far held units
   ever exceeded the units in the pool, and every reservation/release must move exactly the units of its
   plan, every bucket record must start where the previous one ended (no lost or phantom record).
2. The orders' timelines (GET /orders/{id}/events): +units at -> AWAITING_PAYMENT, -units when a holding
   order is released. Their net must match the final buckets: `conserved`.
3. The final bucket items, read consistently.

It also prints what the old e2e test measured (`snapshot_held`: orders seen AWAITING_PAYMENT when read one
by one), to show how that sum over moments exceeds what was ever held at one moment.

Bounded: each run has a deadline, the whole command has --max-seconds, the hog stops itself. Exit status
is 0 only if every run settled with oversold = 0 and conserved = true.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOLDING = frozenset({"AWAITING_PAYMENT", "PAID", "IN_REVIEW", "FULFILLING", "SHIPPED", "DELIVERED", "COMPLETED"})
TERMINAL = frozenset({"CANCELLED", "REJECTED", "FAILED", "COMPLETED"})
STOCK = 20
ORDERS = 100
CLIENTS = 8

# ---------------------------------------------------------------------------------------------------------
# The audit: pure functions over what the run produced (also used by tests/e2e/test_order_journey.py).


def _plain(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    return {key: des.deserialize(value) for key, value in image.items()}


def _units(plan: Any, sku: str) -> list[tuple[int, int]]:
    return [(int(bucket), int(units)) for bucket, units in (plan or {}).get(sku, [])]


@dataclass
class LogAudit:
    """The commit log replayed for one SKU and its orders."""

    capacity: int = 0  # units in the pool: created, plus what stock edits added or removed
    held: int = 0  # units reserved by orders, after the last commit
    peak_held: int = 0
    oversold: int = 0  # max over commits of held - capacity (0 when never oversold)
    min_available: int | None = None
    available: dict[int, int] = field(default_factory=dict)
    reservations: int = 0
    releases: int = 0
    stock_edits: list[int] = field(default_factory=list)  # pool totals after each create/edit
    statuses: dict[str, str] = field(default_factory=dict)  # each order's last committed status
    problems: list[str] = field(default_factory=list)

    @property
    def total_available(self) -> int:
        return sum(self.available.values())


def audit_log(records: list[dict[str, Any]], sku: str, order_ids: set[str]) -> LogAudit:
    """Replay stream records (boto3 get_records shape, commit order) for `sku` and `order_ids`.

    One transaction's records are contiguous in the local log (the emulation serialises transactions), and
    a reservation or release writes its buckets and then the order. So bucket records not followed by a
    reserving/releasing order record are a create or a stock edit: they change the pool's capacity.
    """
    log = LogAudit()
    pending: list[tuple[int, int]] = []  # (bucket, delta) not yet attributed

    def flush_as_edit(not_yet: int = 0) -> None:
        """`not_yet`: units of later records (a reservation's) already in the bucket totals."""
        if pending:
            log.capacity += sum(delta for _, delta in pending)
            log.stock_edits.append(log.total_available - not_yet)
            pending.clear()

    for raw in records:
        data = raw["dynamodb"]
        keys = _plain(data["Keys"]) or {}
        old, new = _plain(data.get("OldImage")), _plain(data.get("NewImage"))
        pk, sk = str(keys.get("PK", "")), str(keys.get("SK", ""))
        seq = data.get("SequenceNumber")
        if pk == f"SKU#{sku}" and sk.startswith("STOCK#"):
            bucket = int(sk.split("#")[1])
            before = int(old["available"]) if old else None
            after = int(new["available"]) if new else 0
            if log.available.get(bucket) != before:
                log.problems.append(f"seq {seq}: bucket {bucket} starts at {before}, log had "
                                    f"{log.available.get(bucket)} (a lost or phantom record)")
            log.available[bucket] = after
            log.min_available = after if log.min_available is None else min(log.min_available, after)
            pending.append((bucket, after - (before or 0)))
            continue
        order_id = pk.removeprefix("ORDER#")
        change: list[tuple[int, int]] = []
        if pk.startswith("ORDER#") and sk == "ORDER" and order_id in order_ids:
            log.statuses[order_id] = str((new or {}).get("status", "?"))
            was, now_ = (old or {}).get("reservations"), (new or {}).get("reservations")
            if now_ and not was:
                change = [(bucket, -units) for bucket, units in _units(now_, sku)]
                log.reservations += 1
            elif was and not now_:
                change = [(bucket, units) for bucket, units in _units(was, sku)]
                log.releases += 1
        if not change:
            flush_as_edit()
            continue
        mine, pending[:] = pending[-len(change):], pending[:-len(change)]
        flush_as_edit(not_yet=sum(delta for _, delta in mine))
        if sorted(mine) != sorted(change):
            log.problems.append(f"seq {seq}: order {order_id} moved {change} but its buckets moved {mine}")
        log.held -= sum(delta for _, delta in change)
        log.peak_held = max(log.peak_held, log.held)
        log.oversold = max(log.oversold, log.held - log.capacity)
        if log.total_available + log.held != log.capacity:
            log.problems.append(f"seq {seq}: available {log.total_available} + held {log.held} "
                                f"!= pool {log.capacity}")
    flush_as_edit()
    if log.min_available is not None and log.min_available < 0:
        log.problems.append(f"a bucket went to {log.min_available}")
    return log


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class TimelineAudit:
    held: int  # units the timelines say are held at the end
    reserved: int  # orders that ever reached AWAITING_PAYMENT
    released: int  # of those, released again
    peak_by_clock: int  # max concurrent holders ordered by event time (the Lambdas' clocks, before commit)
    statuses: dict[str, int]
    checkout_span_s: float  # first order placed -> last order out of PLACED
    after_first_expiry: int  # reservations made after the first payment_timeout release


def audit_timelines(timelines: dict[str, list[dict[str, Any]]]) -> TimelineAudit:
    """Units held per the orders' own timelines (one unit per order here: every order has quantity 1)."""
    steps: list[tuple[datetime, int]] = []
    statuses: dict[str, int] = {}
    placed: list[datetime] = []
    left_placed: list[datetime] = []
    expiries: list[datetime] = []
    reserved = released = 0
    for events in timelines.values():
        moves = [e for e in events if e.get("to_status")]
        status = str(moves[-1]["to_status"]) if moves else "?"
        statuses[status] = statuses.get(status, 0) + 1
        holding = False
        for event in moves:
            at = _at(event["at"])
            if event["to_status"] == "PLACED":
                placed.append(at)
            elif event.get("from_status") == "PLACED":
                left_placed.append(at)
            if event["to_status"] == "AWAITING_PAYMENT" and not holding:
                holding, reserved = True, reserved + 1
                steps.append((at, 1))
            elif holding and event["to_status"] not in HOLDING:
                holding, released = False, released + 1
                steps.append((at, -1))
                if event.get("reason") == "payment_timeout":
                    expiries.append(at)
    level = peak = 0
    for _, step in sorted(steps, key=lambda s: (s[0], s[1])):  # a release at the same instant goes first
        level += step
        peak = max(peak, level)
    first_expiry = min(expiries, default=None)
    span = (max(left_placed) - min(placed)).total_seconds() if placed and left_placed else 0.0
    late = sum(1 for at, step in steps if step == 1 and first_expiry is not None and at > first_expiry)
    return TimelineAudit(held=reserved - released, reserved=reserved, released=released, peak_by_clock=peak,
                         statuses=statuses, checkout_span_s=round(span, 1), after_first_expiry=late)


class CommitLog:
    """The local table's stream, read from a position: every commit, in commit order."""

    def __init__(self, stack: dict[str, Any]) -> None:
        import boto3

        self.streams = boto3.client("dynamodbstreams", endpoint_url=stack["aws_endpoint_url"],
                                    region_name=stack["region"], aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
        self.arn = stack["table_stream_arn"]

    def start(self) -> None:
        """From now on: an iterator at the end of the stream."""
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = str(self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard,
                                                            ShardIteratorType="LATEST")["ShardIterator"])
        self.records: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Everything committed since start(), read up to now (cheap: only the new records travel)."""
        while True:
            reply = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = reply["NextShardIterator"]
            if not reply.get("Records"):
                return self.records
            self.records += [dict(record) for record in reply["Records"]]


# ---------------------------------------------------------------------------------------------------------
# Processes this command starts (and only those are stopped, by PID).


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this process dies, so nothing outlives a killed `make stress`."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Hog:
    """One busy process per core, each with its own deadline."""

    def __init__(self, processes: int, seconds: float) -> None:
        self.procs = [subprocess.Popen(
            [sys.executable, "-c", f"import time\nend = time.monotonic() + {seconds:.0f}\n"
                                   "while time.monotonic() < end:\n    pass\n"],
            preexec_fn=_die_with_parent) for _ in range(processes)]

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


class Stack:
    """`python -m infra.local` on PORT=0 with a private state directory, as tests/e2e/conftest.py starts it."""

    def __init__(self, env: dict[str, str], start_timeout_s: float = 180) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="order24-stress-"))
        self.log_path = self.state_dir / "infra-local.log"
        full_env = {**os.environ, **env, "PORT": "0", "LOCAL_STATE_DIR": str(self.state_dir),
                    "PYTHONUNBUFFERED": "1"}
        full_env.pop("AWS_ENDPOINT_URL", None)
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=ROOT, env=full_env,
                                         stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.description = self._wait(start_timeout_s)

    def _wait(self, timeout_s: float) -> dict[str, Any]:
        import requests

        deadline = time.monotonic() + timeout_s
        stack_file = self.state_dir / "stack.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"infra.local exited with {self.proc.returncode}:\n"
                                   f"{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(json.JSONDecodeError, OSError, requests.RequestException, KeyError):
                stack: dict[str, Any] = json.loads(stack_file.read_text())
                if requests.get(f"{stack['api_url']}/health", timeout=2).status_code == 200:
                    return stack
            time.sleep(0.3)
        raise TimeoutError(f"local stack not healthy after {timeout_s:.0f}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------------------
# One run, over HTTP.


class Driver:
    def __init__(self, stack: dict[str, Any]) -> None:
        import boto3

        from infra.local.seed import login

        self.stack = stack
        self.local = threading.local()
        aws = {"endpoint_url": stack["aws_endpoint_url"], "region_name": stack["region"],
               "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        idp = boto3.client("cognito-idp", **aws)
        self.tokens = {user["role"] if user["role"] == "merchant" else user["username"]:
                       login(idp, stack["user_pool_client_id"], user["username"], user["password"])
                       for user in stack["users"]}
        self.shoppers = [name for name in ("shopper1", "shopper2") if name in self.tokens]
        self.log = CommitLog(stack)
        self.dynamodb = boto3.client("dynamodb", **aws)

    def call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        import requests

        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return self.local.session.request(method, f"{self.stack['api_url']}{path}", headers=headers,
                                          timeout=kwargs.pop("timeout", 60), **kwargs)

    def buckets(self, sku: str) -> dict[int, int]:
        reply = self.dynamodb.query(
            TableName=self.stack["table_name"], ConsistentRead=True,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"SKU#{sku}"}, ":prefix": {"S": "STOCK#"}})
        return {int(item["SK"]["S"].split("#")[1]): int(item["available"]["N"]) for item in reply["Items"]}

    def timeline(self, order_id: str, who: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.call("GET", f"/orders/{order_id}/events", who).json()["events"]
        return events


def new_sku(driver: Driver, stock: int = STOCK) -> str:
    sku = f"STRESS-{uuid.uuid4().hex[:10].upper()}"
    reply = driver.call("POST", "/merchant/skus", "merchant", json={
        "sku": sku, "title": "Official traffic promotion, stress", "category": "promotion", "kind": "digital",
        "price_fen": 1990, "currency": "CNY", "stock": stock})
    if reply.status_code != 201:
        raise RuntimeError(f"SKU not created: {reply.status_code} {reply.text}")
    return sku


def place(driver: Driver, who: str, sku: str) -> str:
    reply = driver.call("POST", "/orders", who, headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={"items": [{"sku": sku, "quantity": 1}], "target": "https://shop.example.com/s/1"})
    if reply.status_code != 202:
        raise RuntimeError(f"POST /orders answered {reply.status_code}: {reply.text[:300]}")
    return str(reply.json()["order_id"])


@dataclass
class Mix:
    cancel_share: float = 0.15
    stock_edits: int = 3


def run_once(driver: Driver, number: int, mix: Mix | None, deadline_s: float, *,
             snapshot: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    rng = random.Random(number)
    driver.log.start()
    sku = new_sku(driver)
    owners: dict[str, str] = {}
    cancels: dict[str, int] = {}
    puts: list[tuple[int, int]] = []  # (value asked, HTTP status)
    placing = threading.Event()

    def shopper_cancels(order_id: str, who: str) -> None:
        time.sleep(rng.uniform(0, 1.5))
        status = driver.call("POST", f"/orders/{order_id}/cancel", who).status_code
        cancels[str(status)] = cancels.get(str(status), 0) + 1

    def merchant_edits() -> None:
        assert mix is not None
        for _ in range(mix.stock_edits):
            time.sleep(rng.uniform(0.2, 2.0))
            value = rng.randint(10, 30)
            reply = driver.call("PUT", f"/merchant/skus/{sku}/stock", "merchant", json={"stock": value})
            puts.append((value, reply.status_code))
            if not placing.is_set():
                break

    def one(n: int) -> str:
        who = driver.shoppers[n % len(driver.shoppers)]
        order_id = place(driver, who, sku)
        owners[order_id] = who
        return order_id

    placing.set()
    with ThreadPoolExecutor(max_workers=CLIENTS + 4) as pool:
        editor = pool.submit(merchant_edits) if mix else None
        order_ids = list(pool.map(one, range(ORDERS)))
        side = [pool.submit(shopper_cancels, order_id, owners[order_id]) for order_id in order_ids
                if mix and rng.random() < mix.cancel_share]
        placing.clear()
        for future in [*side, *([editor] if editor else [])]:
            future.result()

    snapshot_held = None
    if snapshot:  # what the old e2e test measured: each order's first settled status, read one by one
        seen = [_wait_status(driver, order_id, owners[order_id], {"AWAITING_PAYMENT", "REJECTED", "FAILED",
                                                                   "CANCELLED"}, started + deadline_s)
                for order_id in order_ids]
        snapshot_held = sum(status == "AWAITING_PAYMENT" for status in seen)

    # Settle, watched on the commit log (cheap): with no payment, every reservation ends by cancel or expiry.
    wanted = set(order_ids)
    settled = False
    while time.monotonic() < started + deadline_s:
        log = audit_log(driver.log.poll(), sku, wanted)
        if len(log.statuses) == len(wanted) and set(log.statuses.values()) <= TERMINAL:
            settled = True
            break
        time.sleep(1.0)
    timelines = {order_id: driver.timeline(order_id, owners[order_id]) for order_id in order_ids}
    log = audit_log(driver.log.poll(), sku, wanted)
    final = driver.buckets(sku)
    lines = audit_timelines(timelines)
    problems = list(log.problems)
    if final != log.available:
        problems.append(f"final buckets {final} != log {log.available}")
    if lines.held != log.held or lines.reserved != log.reservations or lines.released != log.releases:
        problems.append(f"timelines (held {lines.held}, reserved {lines.reserved}, released {lines.released}) "
                        f"!= log (held {log.held}, reserved {log.reservations}, released {log.releases})")
    if sum(final.values()) + lines.held != log.capacity:
        problems.append(f"final available {sum(final.values())} + held {lines.held} != pool {log.capacity}")
    accepted_puts = {value for value, status in puts if status == 200}
    if not set(log.stock_edits[1:]) <= accepted_puts:
        problems.append(f"the log shows stock edits to {log.stock_edits[1:]}, the merchant set {sorted(accepted_puts)}")
    if not settled:
        problems.append(f"not settled within {deadline_s:.0f}s: {lines.statuses}")
    result = {
        "run": number, "sku": sku, "seconds": round(time.monotonic() - started, 1), "settled": settled,
        "oversold": log.oversold, "conserved": not problems, "peak_held": log.peak_held,
        "pool_at_end": log.capacity, "available_at_end": sum(final.values()), "held_at_end": lines.held,
        "reservations": log.reservations, "releases": log.releases, "snapshot_held": snapshot_held,
        "peak_by_clock": lines.peak_by_clock, "checkout_span_s": lines.checkout_span_s,
        "reserved_after_first_expiry": lines.after_first_expiry, "statuses": lines.statuses, "cancels": cancels,
        "stock_puts": puts, "problems": problems[:5],
    }
    return result


def _wait_status(driver: Driver, order_id: str, who: str, wanted: set[str], deadline: float) -> str:
    while True:
        status = str(driver.call("GET", f"/orders/{order_id}", who).json()["status"])
        if status in wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _started(hog_processes: int, max_seconds: float, env: dict[str, str]) -> Iterator[tuple[Stack, Hog | None]]:
    hog = Hog(hog_processes, max_seconds) if hog_processes else None
    stack: Stack | None = None
    try:
        stack = Stack(env)
        yield stack, hog
    finally:
        if stack is not None:
            stack.stop()
        if hog is not None:
            hog.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hog", type=int, default=os.cpu_count() or 2, help="busy processes (0: none)")
    parser.add_argument("--payment-timeout", type=int, default=5, help="PAYMENT_TIMEOUT_SECONDS of the stack")
    parser.add_argument("--no-mix", action="store_true", help="orders only: no cancels, no stock edits")
    parser.add_argument("--run-seconds", type=float, default=300, help="deadline of one run")
    parser.add_argument("--max-seconds", type=float, default=3600, help="deadline of the whole command")
    parser.add_argument("--snapshot", action="store_true",
                        help="also read every order once, in order, as the old e2e test did (slow: it polls)")
    parser.add_argument("--json", type=Path, default=ROOT / ".local" / "stress.json")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    env = {"PAYMENT_TIMEOUT_SECONDS": str(args.payment_timeout), "SWEEP_INTERVAL_SECONDS": "1",
           "LOCAL_VISIBILITY_TIMEOUT_SECONDS": "2", "RISK_MODE": "shadow"}
    mix = None if args.no_mix else Mix()
    results: list[dict[str, Any]] = []
    with _started(args.hog, args.max_seconds + 60, env) as (stack, hog):
        print(f"stack pid {stack.proc.pid} at {stack.description['api_url']}; hog pids "
              f"{hog.pids if hog else []}; PAYMENT_TIMEOUT_SECONDS={args.payment_timeout}; "
              f"mix={'off' if mix is None else mix}", flush=True)
        driver = Driver(stack.description)
        for number in range(1, args.runs + 1):
            left = args.max_seconds - (time.monotonic() - t0)
            if left < 30:
                print(f"stopping: --max-seconds {args.max_seconds:.0f} reached after {number - 1} runs", flush=True)
                break
            result = run_once(driver, number, mix, min(args.run_seconds, left), snapshot=args.snapshot)
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "sku"}), flush=True)
    ok = bool(results) and len(results) == args.runs and all(
        r["settled"] and r["oversold"] == 0 and r["conserved"] for r in results)
    total = {
        "runs": len(results), "orders": ORDERS * len(results),
        "oversold": sum(r["oversold"] for r in results),
        "conserved": all(r["conserved"] for r in results),
        "max_peak_held": max((r["peak_held"] for r in results), default=0),
        "max_snapshot_held": max((r["snapshot_held"] or 0 for r in results), default=0),
        "max_peak_by_clock": max((r["peak_by_clock"] for r in results), default=0),
        "max_checkout_span_s": max((r["checkout_span_s"] for r in results), default=0),
        "reservations": sum(r["reservations"] for r in results),
        "releases": sum(r["releases"] for r in results),
        "wall_seconds": round(time.monotonic() - t0, 1), "ok": ok,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"total": total, "runs": results}, indent=1))
    print("TOTAL " + json.dumps(total), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
