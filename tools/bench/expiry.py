"""`python -m tools.bench.expiry --orders 2000`: how fast unpaid orders expire, measured on moto.

Seeds N AWAITING_PAYMENT orders that are already past their payment timeout, each holding one reserved
unit of one SKU (bucket counts lowered to match, as the reserve step leaves them), straight into an
in-process moto. Then it times the real handlers until every order is CANCELLED with its stock back:

- `fanout` (default): one run of the sweeper handler (it finds the due orders and sends them to the
  `expiry` queue), while `--workers` threads, each standing for one Lambda environment, poll the queue with
  the local runtime's SQS poller (`infra.local.pollers.SqsPoller`: real SQS records, partial batch
  responses) and call the `expiry_worker` handler;
- `inline`: the sweeper without the queue (the path before the fan-out, and the light-traffic path), run
  again and again (each call stands for one scheduled run, 60 s apart in AWS) until every order expired;
  `sweeper_runs` says how many runs that took.

Prints one line per figure and writes `.local/expiry.json` (`--publish` also stores the run under its mode
in docs/expiry.json, which `tools.bench.capacity` turns into section 8 of docs/capacity.md). Benchmark, not
a test: it measures and reports; it fails only when an order is left unexpired or stock is not conserved.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
JSON_OUT = ROOT / ".local" / "expiry.json"
DOC_JSON = ROOT / "docs" / "expiry.json"
SKU = "bench-hot-sku"
SHOP = "shop-bench"
SHOPPER = "bench-shopper"
BUCKETS = 16
MAX_INLINE_RUNS = 20

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "order24",
    "POWERTOOLS_METRICS_NAMESPACE": "order24", "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def setup_resources() -> dict[str, str]:
    """The declared table and queues in the (already started) moto; returns and exports their env vars."""
    from infra.declaration import DECLARATION, create_table_request
    from shared.core.aws import dynamodb, sqs

    names = {"TABLE_NAME": "order24-bench"}
    os.environ["TABLE_NAME"] = names["TABLE_NAME"]
    dynamodb().create_table(**create_table_request(DECLARATION.table, names["TABLE_NAME"]))
    for queue in DECLARATION.queues:
        names[queue.env_var] = sqs().create_queue(  # the declared visibility, as CDK deploys it
            QueueName=f"order24-bench-{queue.name}",
            Attributes={"VisibilityTimeout": str(queue.visibility_timeout_s)})["QueueUrl"]
    os.environ.update(names)
    return names


def seed(count: int, *, stock: int | None = None, expired_by_s: int = 1) -> list[str]:
    """`count` orders in AWAITING_PAYMENT, due `expired_by_s` seconds ago, one unit each of SKU `SKU`
    (created with `stock` units, default = count, over `BUCKETS` buckets). Returns their ids."""
    from shared.catalog import store as catalog
    from shared.catalog.models import Kind, SkuCreate
    from shared.core import ddb
    from shared.core.clock import iso, now
    from shared.orders import events, logic, store
    from shared.orders.models import OrderStatus

    os.environ["STOCK_BUCKETS"] = str(BUCKETS)
    catalog.create_sku(SHOP, SkuCreate(sku=SKU, title="Flash sale voucher", category="vouchers",
                                       kind=Kind.DIGITAL, price_fen=990, stock=stock or count))
    at = now()
    created, due = iso(at - timedelta(minutes=31)), iso(at - timedelta(seconds=expired_by_s))
    ids, taken = [], Counter[int]()
    items = []
    for i in range(count):
        order_id = logic.order_id_for(SHOPPER, f"bench-expiry-{i:08d}")
        bucket = i % BUCKETS
        taken[bucket] += 1
        ids.append(order_id)
        items.append({
            **store.order_key_values(order_id), "order_id": order_id, "shopper_id": SHOPPER, "shop_id": SHOP,
            "status": "AWAITING_PAYMENT", "version": 2, "kind": "digital", "currency": "CNY", "total_fen": 990,
            "items": [{"sku": SKU, "title": "Flash sale voucher", "kind": "digital", "category": "vouchers",
                       "quantity": 1, "unit_price_fen": 990, "line_total_fen": 990}],
            "target": "https://shop.example.com/store/42", "created_at": created, "updated_at": created,
            "events": [events.placed(shopper_id=SHOPPER, at=created).to_item(),
                       events.status_changed(from_status=OrderStatus.PLACED, to_status=OrderStatus.AWAITING_PAYMENT,
                                             actor="system:checkout", reason=None, at=created).to_item()],
            "reservations": {SKU: [[bucket, 1]]}, "expires_at": due,
            "GSI1PK": f"SHOPPER#{SHOPPER}", "GSI1SK": f"{created}#{order_id}",
            "GSI2PK": f"SHOP#{SHOP}#{created[:10]}", "GSI2SK": f"{created}#{order_id}",
            **logic.due_key("EXPIRY", order_id, due),
        })
    for start in range(0, len(items), 25):
        ddb.dynamodb().batch_write_item(RequestItems={ddb.table(): [
            {"PutRequest": {"Item": ddb.to_item(item)}} for item in items[start:start + 25]]})
    for bucket, units in taken.items():  # what the reserve step took from each bucket
        ddb.dynamodb().update_item(TableName=ddb.table(), Key=ddb.key(catalog.sku_pk(SKU), catalog.bucket_sk(bucket)),
                                   UpdateExpression="SET available = available - :n",
                                   ExpressionAttributeValues=ddb.values(n=units))
    return ids


def _context(function: str) -> Any:
    from infra.declaration import DECLARATION
    from infra.local.invoker import LambdaContext

    spec = DECLARATION.function(function)
    return LambdaContext(function_name=function, memory_limit_in_mb=spec.memory_mb, timeout_s=spec.timeout_s,
                         invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function}")


def drain_expiry_queue(workers: int, *, idle_s: float = 2.0) -> dict[str, Any]:
    """`workers` pollers (one per simulated Lambda environment) call the expiry_worker handler with real
    SQS batches until the queue stays empty for `idle_s`. Returns batches, failures and the end time."""
    from functions.expiry_worker.handler import handler
    from infra.declaration import DECLARATION
    from infra.local.pollers import SqsPoller
    from shared.core.aws import sqs

    queue = DECLARATION.queue("expiry")
    url = os.environ[queue.env_var]
    arn = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lock = threading.Lock()
    state: dict[str, Any] = {"batches": 0, "failed_batches": 0, "last_done": time.monotonic(), "messages": 0}

    def invoke(function: str, event: dict[str, Any], **_: Any) -> Any:
        result = handler(event, _context(function))
        with lock:
            state["batches"] += 1
            state["messages"] += len(event["Records"])
            state["failed_batches"] += bool(result.get("batchItemFailures"))
            state["last_done"] = time.monotonic()
        return result

    stop = threading.Event()
    pollers = [SqsPoller(sqs=sqs(), queue_url=url, queue_arn=arn, region="us-east-1",
                         consumer=queue.consumer, batch_size=queue.batch_size, invoke=invoke, stop=stop)
               for _ in range(workers)]

    def run(poller: SqsPoller) -> None:
        while not stop.is_set():
            poller.tick()

    threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in pollers]
    for thread in threads:
        thread.start()
    while True:  # stop once nothing is visible or in flight and no batch finished for idle_s
        time.sleep(0.2)
        attrs = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        busy = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
        with lock:
            idle = time.monotonic() - state["last_done"]
        if busy == 0 and idle >= idle_s:
            break
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    return state


def measure(count: int, mode: str, workers: int) -> dict[str, Any]:
    from moto import mock_aws

    from infra.local import moto_patches
    from shared.core.aws import reset_clients

    os.environ.update(_FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["EXPIRY_INLINE_MAX"] = "0"  # the bench measures the fan-out, never the small-batch shortcut
    moto_patches.apply_dynamodb()
    reset_clients()
    with mock_aws():
        setup_resources()
        if mode == "inline":
            os.environ.pop("EXPIRY_QUEUE_URL", None)
        from functions.sweeper.handler import handler as sweeper
        from shared.catalog import store as catalog
        from shared.orders import store

        ids = seed(count)
        assert catalog.available(SKU) == 0
        started, cpu_started = time.monotonic(), time.process_time()
        swept = sweeper({}, _context("sweeper"))
        sweep_s = time.monotonic() - started
        consumed: dict[str, Any] = {}
        runs = 1
        if mode == "fanout":
            consumed = drain_expiry_queue(workers)
            elapsed = consumed["last_done"] - started
        else:  # one sweeper run stops taking pages after its 50 s budget: the rest waits for the next runs
            while catalog.available(SKU) < count and runs < MAX_INLINE_RUNS:
                more = sweeper({}, _context("sweeper"))
                swept = dict(Counter(swept) + Counter(more))
                runs += 1
            elapsed = time.monotonic() - started
        cpu_s = time.process_time() - cpu_started
        orders = store.get_many(ids, consistent=True)
        statuses = Counter(order.status.value for order in orders.values())
        stock_back = catalog.available(SKU)
    reset_clients()
    result = {
        "mode": mode, "orders": count, "workers": workers if mode == "fanout" else 0,
        "sweep_s": round(sweep_s, 3), "sweeper_runs": runs, "elapsed_s": round(elapsed, 3),
        "expiries_per_s": round(statuses.get("CANCELLED", 0) / elapsed, 1) if elapsed else 0.0,
        # CPU of this one process (our code, boto3 and moto together) per expiry: what bounds the local rate
        "cpu_s": round(cpu_s, 2), "cpu_ms_per_expiry": round(1000 * cpu_s / max(1, count), 2),
        "statuses": dict(statuses), "stock_back": stock_back, "sweeper_outcomes": swept,
        "consumer": {k: v for k, v in consumed.items() if k != "last_done"},
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "load_1m": round(os.getloadavg()[0], 2)},
        "command": " ".join(["python -m tools.bench.expiry", *sys.argv[1:]]),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--mode", choices=("fanout", "inline"), default="fanout")
    parser.add_argument("--workers", type=int, default=4, help="simulated expiry_worker environments")
    parser.add_argument("--publish", action="store_true", help="also write docs/expiry.json")
    args = parser.parse_args(argv)
    result = measure(args.orders, args.mode, args.workers)
    for key in ("mode", "orders", "workers", "sweep_s", "sweeper_runs", "elapsed_s", "expiries_per_s", "cpu_s",
                "cpu_ms_per_expiry", "statuses",
                "stock_back", "sweeper_outcomes", "consumer", "host"):
        print(f"{key}={json.dumps(result[key], sort_keys=True)}")
    JSON_OUT.parent.mkdir(exist_ok=True)
    JSON_OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.publish:  # one entry per mode, so the fan-out and the inline path sit side by side
        published = json.loads(DOC_JSON.read_text(encoding="utf-8")) if DOC_JSON.exists() else {}
        published[args.mode] = result
        DOC_JSON.write_text(json.dumps(published, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    ok = result["statuses"] == {"CANCELLED": args.orders} and result["stock_back"] == args.orders
    if not ok:
        print("FAILED: not every order expired with its stock back", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
