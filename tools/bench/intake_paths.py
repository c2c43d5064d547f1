"""What the intake fast path buys: POST /orders through `shared.orders.intake_http` vs through the resolver.

    python -m tools.bench.intake_paths [--repeats 15] [--requests 2000] [--json out.json]

Two measurements, each of both ways of answering POST /orders:

* import (cold start): a fresh interpreter per sample, as `tools.bench.imports` takes them, each paired with a
  bare `import boto3` taken just before it; the ratio is the median of the per-pair ratios. "fast path" imports
  functions/intake/handler.py as it is; "resolver" runs what a handler without the fast path would run at import
  (the imports of functions/api_orders/handler.py's shape: observability, `shared.core.api`, the documented
  router, and `http_app(router)`).
* per request (warm): one interpreter, `intake.place` replaced by a constant reply (the DynamoDB write and the
  SQS send are the same code on both paths), so the figure is the HTTP layer alone: `screened` + `answer`
  vs `serve(app, ...)` (screen, route, validate, serialise). Median and p99 over `--requests` calls each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tools.bench.imports import timed

ROOT = Path(__file__).resolve().parents[2]
STATEMENTS = {
    "boto3": "import boto3",
    "fast path": "import functions.intake.handler",
    "resolver": ("from aws_lambda_powertools.logging import correlation_paths; import shared.core.observability; "
                 "from shared.core.api import http_app, serve; from shared.orders.intake_routes import router; "
                 "app = http_app(router)"),
}


def imports(repeats: int) -> dict[str, Any]:
    ms: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    ratios: dict[str, list[float]] = {"fast path": [], "resolver": []}
    for _ in range(repeats):
        for name in ratios:
            base = timed(STATEMENTS["boto3"])
            value = timed(STATEMENTS[name])
            ms["boto3"].append(base)
            ms[name].append(value)
            ratios[name].append(value / base)
    return {name: {"median_ms": round(statistics.median(values), 1),
                   **({"ratio": round(statistics.median(ratios[name]), 2),
                       "ratio_min": round(min(ratios[name]), 2),
                       "ratio_max": round(max(ratios[name]), 2)} if name in ratios else {})}
            for name, values in ms.items()}


def per_request(requests: int) -> dict[str, Any]:
    from unittest import mock

    from shared.core.api import http_app, serve
    from shared.core.problems import screened
    from shared.orders import intake
    from shared.orders.intake_http import answer
    from shared.orders.intake_routes import router
    from shared.orders.models import OrderAccepted, OrderStatus

    body = {"items": [{"sku": "ad-slot-home-1d", "quantity": 2}], "target": "https://shop.example.com/s/1",
            "ad_copy": "新品上市，限时优惠"}
    claims = {"sub": "11111111-1111-4111-8111-111111111111", "cognito:username": "shopper1",
              "cognito:groups": "[shopper]"}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
        "headers": {"content-type": "application/json", "idempotency-key": "key-00000001"},
        "requestContext": {"accountId": "123456789012", "apiId": "local", "domainName": "localhost",
                           "requestId": "bench", "routeKey": "POST /orders", "stage": "$default",
                           "time": "07/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
                           "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.7", "userAgent": "bench"},
                           "authorizer": {"jwt": {"claims": claims, "scopes": None}}},
        "body": json.dumps(body), "isBase64Encoded": False,
    }
    ctx = SimpleNamespace(function_name="intake", memory_limit_in_mb=256, aws_request_id="bench",
                          invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:intake",
                          get_remaining_time_in_millis=lambda: 10_000)
    app = http_app(router)
    paths: dict[str, Callable[[], dict[str, Any] | None]] = {
        "fast path": lambda: screened(event) or answer(event),
        "resolver": lambda: serve(app, event, ctx),
    }
    results: dict[str, Any] = {}
    reply = OrderAccepted(order_id="oabc", status=OrderStatus.PLACED)
    with mock.patch.object(intake, "place", return_value=reply):
        for name, call in paths.items():
            first = call()
            assert first is not None and first["statusCode"] == 202, first
            for _ in range(200):  # warm up
                call()
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1e6)
            times.sort()
            results[name] = {"median_us": round(statistics.median(times), 1),
                             "p99_us": round(times[int(len(times) * 0.99)], 1)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {"imports": imports(args.repeats), "per_request": per_request(args.requests),
               "repeats": args.repeats, "requests": args.requests}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    for name, row in results["imports"].items():
        print(f"import {name}: median {row['median_ms']} ms"
              + (f", ratio to boto3 {row['ratio']} ({row['ratio_min']}-{row['ratio_max']})" if "ratio" in row else ""))
    for name, row in results["per_request"].items():
        print(f"request {name}: median {row['median_us']} us, p99 {row['p99_us']} us")


if __name__ == "__main__":
    main()
