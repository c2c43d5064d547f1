"""Local latency and throughput: the whole platform in this process, driven over HTTP by concurrent clients.

    python -m tools.bench.latency [--orders 400] [--clients 8] [--runs 3] [--json out.json]

Per run: start the local runtime on a free port (RISK_MODE=shadow: two demo shoppers placing hundreds of
orders in seconds trip the velocity rules otherwise, and rejected orders would not reach payment), create
SKUs with ample stock through the merchant API, then with N client threads (a `requests.Session` each):

- place the orders: accepted orders per second (202s / wall time) and `POST /orders` latency;
- placed -> AWAITING_PAYMENT, from the order's own timeline (`GET /orders/{id}/events`, `at` per event),
  read after checkout has settled, so measuring adds no load while the platform works;
- pay every digital order (`POST /orders/{id}/pay`, then the sandbox provider's signed callback) and read
  PAID -> COMPLETED from the timeline the same way.

For context it also measures the floor of one moto DynamoDB call (PutItem and GetItem, median of 200,
in-process boto3 through moto's server-mode endpoint) and, in a fresh interpreter, the intake function's
cold start split into import and its first call against this moto (see `first_call`).
Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from infra.declaration import DECLARATION
from infra.local import seed
from infra.local.runtime import Runtime, start

ROOT = Path(__file__).resolve().parents[2]
PRICE_FEN = 1990
SETTLE_TIMEOUT_S = 180.0

log = logging.getLogger("tools.bench.latency")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); p99 of 400 samples is the 396th smallest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values_ms: Sequence[float]) -> dict[str, float | int]:
    return {"n": len(values_ms), "p50_ms": round(percentile(values_ms, 50), 1),
            "p99_ms": round(percentile(values_ms, 99), 1),
            "max_ms": round(max(values_ms), 1) if values_ms else 0.0}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _between_ms(events: list[dict[str, Any]], first: str, then: str) -> float | None:
    """Milliseconds from the first event reaching `first` to the first event reaching `then`."""
    reached = {}
    for event in events:
        status = event.get("to_status")
        if status and status not in reached:
            reached[status] = _at(event["at"])
    if first not in reached or then not in reached:
        return None
    return (reached[then] - reached[first]).total_seconds() * 1000


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Client:
    """One client thread's HTTP session with the gateway."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.http = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return self.http.request(method, f"{self.api_url}{path}", headers=headers, timeout=60, **kwargs)


def _tokens(rt: Runtime) -> dict[str, str]:
    idp, client_id = rt.client("cognito-idp"), rt.resources.user_pool_client_id
    return {user["username"]: seed.login(idp, client_id, user["username"], user["password"])
            for user in rt.resources.users}


def _role_users(rt: Runtime, role: str) -> list[str]:
    return [user["username"] for user in rt.resources.users if user["role"] == role]


def _invocations(rt: Runtime, function: str) -> int:
    return int(rt.stats()["functions"]["invocations"].get(function, 0))


def _wait_for(what: Callable[[], bool], timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.25)  # one in-process counter read: adds no HTTP or AWS load
    return False


def _timelines(rt: Runtime, tokens: dict[str, str], owners: dict[str, str], wanted: str,
               clients: int) -> dict[str, list[dict[str, Any]]]:
    """Every order's events, once `wanted` is in each timeline (or the settle timeout passed)."""
    found: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    pending = list(owners)
    local = threading.local()

    def read(order_id: str) -> tuple[str, list[dict[str, Any]]]:
        if not hasattr(local, "client"):
            local.client = Client(rt.api_url)
        reply = local.client.call("GET", f"/orders/{order_id}/events", tokens[owners[order_id]])
        return order_id, reply.json().get("events", []) if reply.status_code == 200 else []

    with ThreadPoolExecutor(max_workers=clients) as pool:
        while pending and time.monotonic() < deadline:
            for order_id, events in pool.map(read, pending):
                found[order_id] = events
            pending = [oid for oid in pending if not any(e.get("to_status") == wanted for e in found[oid])]
            if pending:
                time.sleep(1.0)
    return found


def moto_floor(rt: Runtime, samples: int = 200) -> dict[str, float]:
    """Median PutItem and GetItem through moto's server-mode endpoint, from a boto3 client in this process."""
    ddb, table = rt.client("dynamodb"), rt.resources.table_name
    key = {"PK": {"S": "BENCH#floor"}, "SK": {"S": "X"}}
    item = {**key, "payload": {"S": "x" * 200}, "n": {"N": "1"}}
    ddb.put_item(TableName=table, Item=item)  # warm the connection
    puts, gets = [], []
    for _ in range(samples):
        t = time.perf_counter()
        ddb.put_item(TableName=table, Item=item)
        puts.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        ddb.get_item(TableName=table, Key=key)
        gets.append((time.perf_counter() - t) * 1000)
    ddb.delete_item(TableName=table, Key=key)
    return {"put_item_ms": round(statistics.median(puts), 2),
            "get_item_ms": round(statistics.median(gets), 2), "samples": samples}


FIRST_CALL_PROBE = """
import json, sys, time, types
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{call}
t2 = time.perf_counter()
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "first_call_ms": (t2 - t1) * 1000,
                  "reply": str(reply)[:200]}}))
"""
INTAKE_IMPORT = "import functions.intake.handler as h"
INTAKE_CALL = """ctx = types.SimpleNamespace(function_name="intake", memory_limit_in_mb=256,
    aws_request_id="r1", invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:intake",
    get_remaining_time_in_millis=lambda: 9000)
reply = h.handler(json.loads(sys.argv[1]), ctx)["statusCode"]"""
BOTO3_IMPORT = "import boto3"
BOTO3_CALL = """import os
reply = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"],
    Key={"PK": {"S": "BENCH#none"}, "SK": {"S": "X"}})["ResponseMetadata"]["HTTPStatusCode"]"""


def _intake_event(shopper_sub: str, sku: str) -> dict[str, Any]:
    body = json.dumps({"items": [{"sku": sku, "quantity": 1}], "target": "https://shop.example.com/s/bench"})
    claims = {"sub": shopper_sub, "cognito:username": "bench", "cognito:groups": "[shopper]"}
    context = {"accountId": "123456789012", "apiId": "local", "domainName": "localhost",
               "requestId": str(uuid.uuid4()), "routeKey": "POST /orders", "stage": "$default", "time": "",
               "timeEpoch": 0, "authorizer": {"jwt": {"claims": claims, "scopes": None}},
               "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.7", "userAgent": "bench"}}
    return {"version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
            "headers": {"content-type": "application/json", "idempotency-key": f"bench-{uuid.uuid4()}"},
            "requestContext": context, "body": body, "isBase64Encoded": False}


def first_call(rt: Runtime, sku: str, repeats: int) -> dict[str, Any]:
    """Cold start in a fresh interpreter: import time, then the first handler call against this moto.

    Lambda bills init (the import) and the first invoke alike into a cold start, so deferring an import to
    first use moves its cost, it does not remove it. Baseline: `import boto3`, then a DynamoDB client and one
    GetItem (what the smallest boto3 function pays). Intake's first call builds its DynamoDB and SQS
    clients and makes a BatchGetItem, a PutItem and a SendMessage.
    """
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    samples: dict[str, list[dict[str, Any]]] = {"boto3": [], "intake": []}
    for _ in range(repeats):
        for name, imports, call, arg in (("boto3", BOTO3_IMPORT, BOTO3_CALL, "{}"),
                                         ("intake", INTAKE_IMPORT, INTAKE_CALL,
                                          json.dumps(_intake_event(str(uuid.uuid4()), sku)))):
            code = FIRST_CALL_PROBE.format(imports=imports, call=call)
            reply = subprocess.run([sys.executable, "-c", code, arg], cwd=ROOT, env=env, capture_output=True,
                                   text=True, timeout=120)
            if reply.returncode != 0:
                raise RuntimeError(f"first-call probe {name} failed:\n{reply.stderr[-2000:]}")
            samples[name].append(json.loads(reply.stdout.strip().splitlines()[-1]))
    result: dict[str, Any] = {"repeats": repeats}
    for name, rows in samples.items():
        result[name] = {
            "import_ms": round(statistics.median(r["import_ms"] for r in rows), 1),
            "first_call_ms": round(statistics.median(r["first_call_ms"] for r in rows), 1),
            "total_ms": round(statistics.median(r["import_ms"] + r["first_call_ms"] for r in rows), 1),
            "replies": sorted({str(r["reply"]) for r in rows}),
        }
    return result


def run_once(orders: int, clients: int, skus: int, *, first_call_repeats: int = 0,
             say: Callable[[str], None] = print) -> dict[str, Any]:
    """One full latency run on a fresh local runtime; returns the measured figures."""
    state_dir = Path(tempfile.mkdtemp(prefix="order24-bench-"))
    real_stdout = sys.stdout

    def report(line: str) -> None:  # progress goes to the real stdout, not to the sink below
        with contextlib.redirect_stdout(real_stdout):
            say(line)

    # Handlers read RISK_MODE per call, so it stays set for the whole run. Risk's single_metric prints EMF
    # even with POWERTOOLS_METRICS_DISABLED; a run's ~1,000 JSON lines would bury the results.
    with _env(RISK_MODE="shadow", POWERTOOLS_LOG_LEVEL="ERROR"), open(os.devnull, "w") as sink, \
            contextlib.redirect_stdout(sink):
        rt = start(DECLARATION, port=0, state_dir=state_dir, seed_catalog=False, say=lambda line: None)
        try:
            return _measure(rt, orders, clients, skus, first_call_repeats, report)
        finally:
            # moto's backends are process-wide and outlive the server: wipe them, or the next run's runtime
            # finds the table (and pools, queues) of this one. Pollers first, or they poll a wiped stream.
            rt.quiesce()
            with contextlib.suppress(requests.RequestException):
                requests.post(f"{rt.endpoint}/moto-api/reset", timeout=30)
            rt.stop()
            shutil.rmtree(state_dir, ignore_errors=True)


def _measure(rt: Runtime, orders: int, clients: int, skus: int, first_call_repeats: int,
             say: Callable[[str], None]) -> dict[str, Any]:
    tokens = _tokens(rt)
    shoppers = _role_users(rt, "shopper")
    merchant = _role_users(rt, "merchant")[0]
    setup = Client(rt.api_url)
    sku_ids = [f"BENCH-{n:02d}-{uuid.uuid4().hex[:6].upper()}" for n in range(skus)]
    for sku in sku_ids:
        reply = setup.call("POST", "/merchant/skus", tokens[merchant], json={
            "sku": sku, "title": "Benchmark promotion package", "category": "promotion", "kind": "digital",
            "price_fen": PRICE_FEN, "currency": "CNY", "stock": orders * 2 + 100})
        if reply.status_code != 201:
            raise RuntimeError(f"creating {sku}: {reply.status_code} {reply.text[:300]}")
    floor = moto_floor(rt)  # before load, on a quiet runtime

    # 1. place: N clients, each its own session; order n goes to shopper n % 2 and SKU n % skus.
    post_ms: list[float] = []
    owners: dict[str, str] = {}
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def placer(worker: int) -> None:
        client = Client(rt.api_url)
        for n in range(worker, orders, clients):
            shopper = shoppers[n % len(shoppers)]
            body = {"items": [{"sku": sku_ids[n % skus], "quantity": 1}], "target": "https://shop.example.com/s/1"}
            t = time.perf_counter()
            reply = client.call("POST", "/orders", tokens[shopper], json=body,
                                headers={"Idempotency-Key": str(uuid.uuid4())})
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
                if reply.status_code == 202:
                    post_ms.append(elapsed)
                    owners[reply.json()["order_id"]] = shopper

    reserve_before = _invocations(rt, "reserve")
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(placer, range(clients)))
    wall_s = time.perf_counter() - started
    accepted = statuses.get(202, 0)
    say(f"  placed {accepted}/{orders} in {wall_s:.1f}s ({accepted / wall_s:.1f}/s); waiting for checkout")

    # 2. placed -> AWAITING_PAYMENT from the timelines, read once checkout has settled.
    _wait_for(lambda: _invocations(rt, "reserve") - reserve_before >= accepted)
    timelines = _timelines(rt, tokens, owners, "AWAITING_PAYMENT", clients)
    to_awaiting = [ms for events in timelines.values()
                   if (ms := _between_ms(events, "PLACED", "AWAITING_PAYMENT")) is not None]
    awaiting = [oid for oid, events in timelines.items()
                if any(e.get("to_status") == "AWAITING_PAYMENT" for e in events)]

    # 3. pay every order that awaits payment; PAID -> COMPLETED from the timelines.
    pay_failures: dict[str, int] = {}

    def payer(worker: int) -> None:
        client = Client(rt.api_url)
        for order_id in awaiting[worker::clients]:
            intent = client.call("POST", f"/orders/{order_id}/pay", tokens[owners[order_id]],
                                 json={"provider": "wechatpay"})
            posted = client.call("POST", f"/sandbox/pay/{order_id}?provider=wechatpay&outcome=success",
                                 tokens[owners[order_id]])  # the sandbox route sits behind the JWT authorizer
            if intent.status_code not in (200, 201) or posted.status_code != 200:
                with lock:
                    key = f"pay {intent.status_code} / sandbox {posted.status_code}"
                    pay_failures[key] = pay_failures.get(key, 0) + 1

    deliver_before = _invocations(rt, "deliver")
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(payer, range(clients)))
    say(f"  paid {len(awaiting)} orders; waiting for fulfilment")
    _wait_for(lambda: _invocations(rt, "deliver") - deliver_before >= len(awaiting))
    paid_owners = {oid: owners[oid] for oid in awaiting}
    finals = _timelines(rt, tokens, paid_owners, "COMPLETED", clients)
    to_completed = [ms for events in finals.values()
                    if (ms := _between_ms(events, "PAID", "COMPLETED")) is not None]
    final_statuses: dict[str, int] = {}
    for events in finals.values():
        reached = [e["to_status"] for e in events if e.get("to_status")]
        last = reached[-1] if reached else "?"
        final_statuses[last] = final_statuses.get(last, 0) + 1

    result: dict[str, Any] = {
        "orders": orders, "clients": clients, "skus": skus,
        "post_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "accepted": accepted, "wall_s": round(wall_s, 2), "accepted_per_s": round(accepted / wall_s, 1),
        "post_orders": summary(post_ms),
        "placed_to_awaiting_payment": summary(to_awaiting),
        "paid_to_completed": summary(to_completed),
        "paid_final_statuses": final_statuses,
        "pay_failures": pay_failures,
        "moto_floor": floor,
    }
    if first_call_repeats:
        result["first_call"] = first_call(rt, sku_ids[0], first_call_repeats)
    return result


METRICS = (("accepted_per_s", None, "orders/s accepted"),
           ("post_orders", "p50_ms", "POST /orders p50 (ms)"),
           ("post_orders", "p99_ms", "POST /orders p99 (ms)"),
           ("placed_to_awaiting_payment", "p50_ms", "placed -> AWAITING_PAYMENT p50 (ms)"),
           ("placed_to_awaiting_payment", "p99_ms", "placed -> AWAITING_PAYMENT p99 (ms)"),
           ("paid_to_completed", "p50_ms", "PAID -> COMPLETED p50 (ms)"),
           ("paid_to_completed", "p99_ms", "PAID -> COMPLETED p99 (ms)"),
           ("moto_floor", "put_item_ms", "moto PutItem floor (ms, median of 200)"),
           ("moto_floor", "get_item_ms", "moto GetItem floor (ms, median of 200)"))


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median and min-max across runs, per metric."""
    rows = []
    for key, sub, label in METRICS:
        values = [float(run[key] if sub is None else run[key][sub]) for run in runs]
        rows.append({"metric": label, "median": round(statistics.median(values), 1),
                     "min": round(min(values), 1), "max": round(max(values), 1), "runs": values})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    width = max(len(row["metric"]) for row in rows)
    lines = [f"{'metric':<{width}}  {'median':>9}  {'min-max':>19}"]
    lines += [f"{row['metric']:<{width}}  {row['median']:>9}  {row['min']:>9}-{row['max']:<9}"
              for row in rows]
    return "\n".join(lines)


def run(orders: int, clients: int, runs: int, skus: int, first_call_repeats: int = 0,
        say: Callable[[str], None] = print) -> dict[str, Any]:
    """R runs, each in its own interpreter: moto's backends, the Lambda hook and os.environ are process-wide,
    and a second runtime in one process inherits the first one's state."""
    results = []
    for index in range(runs):
        say(f"latency run {index + 1}/{runs}: {orders} digital orders, {clients} clients")
        repeats = first_call_repeats if index == 0 else 0  # the first-call probe once, on the first runtime
        with tempfile.TemporaryDirectory(prefix="order24-bench-") as scratch:
            out = Path(scratch) / "run.json"
            subprocess.run([sys.executable, "-m", "tools.bench.latency", "--single", "--orders", str(orders),
                            "--clients", str(clients), "--skus", str(skus), "--first-call", str(repeats),
                            "--json", str(out)], cwd=ROOT, check=True)
            results.append(json.loads(out.read_text()))
    return {"runs": results, "summary": aggregate(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skus", type=int, default=8, help="SKUs the orders spread over (one per client)")
    parser.add_argument("--first-call", type=int, default=0, help="fresh-interpreter first-call samples")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    if args.single:  # one run in this interpreter (what `run` starts per repeat)
        one = run_once(args.orders, args.clients, args.skus, first_call_repeats=args.first_call,
                       say=lambda line: print(line, flush=True))
        if args.json:
            args.json.write_text(json.dumps(one, indent=2))
        return
    results = run(args.orders, args.clients, args.runs, args.skus, args.first_call)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(table(results["summary"]))


if __name__ == "__main__":
    main()
