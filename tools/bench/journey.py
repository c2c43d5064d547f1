"""Digital orders against a running `make run`, over HTTP only, as a frontend would drive them.

    RISK_MODE=shadow make run          # terminal 1 (two demo shoppers placing 200 orders trip velocity rules)
    make journey JOURNEY_ARGS="--orders 200 --clients 8"   # terminal 2

Reads `.local/stack.json` (API URL, Cognito client, demo users), signs in through Cognito, creates a SKU as
the merchant, then with N client threads places each order, waits for AWAITING_PAYMENT, pays it through the
sandbox provider (a signed WeChat Pay callback through the gateway) and waits for COMPLETED. Each order's
PAID -> COMPLETED is read from its own timeline (server clock). Unlike `make bench`, the platform runs in its
own process, so the clients do not share its interpreter. Prints p50/p99 and
`paid_to_completed_p99_ms=<ms>` last. Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import requests

from infra.local.seed import login
from tools.bench.latency import Client, _between_ms, summary

WAIT_S = 60.0


class Frontend:
    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = stack
        self.local = threading.local()
        idp = boto3.client("cognito-idp", endpoint_url=stack["aws_endpoint_url"], region_name=stack["region"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        self.tokens = {user["username"]: login(idp, stack["user_pool_client_id"], user["username"], user["password"])
                       for user in stack["users"]}

    def users(self, role: str) -> list[str]:
        return [user["username"] for user in self.stack["users"] if user["role"] == role]

    def call(self, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
        if not hasattr(self.local, "client"):
            self.local.client = Client(self.stack["api_url"])  # one HTTP session per client thread
        client: Client = self.local.client
        return client.call(method, path, self.tokens[user], **kwargs)

    def wait_for(self, order_id: str, user: str, wanted: set[str]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_S
        while True:
            events = self.call("GET", f"/orders/{order_id}/events", user).json().get("events", [])
            reached = {e.get("to_status") for e in events}
            if reached & wanted or time.monotonic() > deadline:
                return list(events)
            time.sleep(0.05)


def journey(front: Frontend, sku: str, shopper: str) -> tuple[str, float | None]:
    """One order from POST /orders to COMPLETED; returns its last status and PAID -> COMPLETED in ms."""
    placed = front.call("POST", "/orders", shopper, headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={"items": [{"sku": sku, "quantity": 1}], "target": "https://shop.example.com/s/1"})
    if placed.status_code != 202:
        return f"POST {placed.status_code}", None
    order_id = placed.json()["order_id"]
    events = front.wait_for(order_id, shopper, {"AWAITING_PAYMENT", "REJECTED", "FAILED"})
    if not any(e.get("to_status") == "AWAITING_PAYMENT" for e in events):
        return str(events[-1].get("to_status") if events else "?"), None
    front.call("POST", f"/orders/{order_id}/pay", shopper, json={"provider": "wechatpay"})
    front.call("POST", f"/sandbox/pay/{order_id}?provider=wechatpay&outcome=success", shopper)
    events = front.wait_for(order_id, shopper, {"COMPLETED", "FAILED", "REJECTED", "IN_REVIEW"})
    statuses = [e["to_status"] for e in events if e.get("to_status")]
    return (statuses[-1] if statuses else "?"), _between_ms(events, "PAID", "COMPLETED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", type=Path, default=Path(".local/stack.json"))
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    front = Frontend(json.loads(args.stack.read_text(encoding="utf-8")))
    merchant, shoppers = front.users("merchant")[0], front.users("shopper")
    sku = f"JOURNEY-{uuid.uuid4().hex[:8].upper()}"
    created = front.call("POST", "/merchant/skus", merchant, json={
        "sku": sku, "title": "Official traffic promotion, journey benchmark", "category": "promotion",
        "kind": "digital", "price_fen": 1990, "currency": "CNY", "stock": args.orders + 10})
    if created.status_code != 201:
        raise SystemExit(f"creating the SKU: {created.status_code} {created.text[:300]}")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        results = list(pool.map(lambda n: journey(front, sku, shoppers[n % len(shoppers)]), range(args.orders)))
    wall_s = time.monotonic() - started
    outcomes: dict[str, int] = {}
    for status, _ in results:
        outcomes[status] = outcomes.get(status, 0) + 1
    paid_to_completed = [ms for _, ms in results if ms is not None]
    stats = summary(paid_to_completed)
    print(f"{args.orders} digital orders, {args.clients} clients, {wall_s:.1f} s "
          f"({args.orders / wall_s:.1f} whole journeys/s); outcomes {outcomes}")
    print(f"PAID -> COMPLETED over {stats['n']} orders: p50 {stats['p50_ms']} ms, p99 {stats['p99_ms']} ms, "
          f"max {stats['max_ms']} ms")
    print(f"paid_to_completed_p99_ms={stats['p99_ms']}")


if __name__ == "__main__":
    main()
