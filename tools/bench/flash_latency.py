"""Flash-refund latency: request -> refund issued, through the real api_orders handler on moto.

    python -m tools.bench.flash_latency [--cases 50] [--json out.json]

In one process, on an in-process moto (the declared table, queues and secrets, as the test suite builds them)
with the sandbox WeChat Pay provider: a merchant creates a physical SKU (api_merchant), then for each case a
shopper places an order (intake), it is reserved (reserve), paid with WeChat Pay (`pay` creates the intent; the
verified capture is recorded as the notification would) and moved to FULFILLING as the review step does. None
of that is timed. Timed: `POST /orders/{id}/after-sales` (refund_only, one unit, "no_longer_needed") through
`functions.api_orders.handler`, from the call to its answer. The flash refund's rule `not_shipped` approves it,
grants the refund on the order's ledger and sends it to the sandbox WeChat Pay refund API, which answers
SUCCESS, so the answer already holds the case REFUNDED: the call's wall time is request -> refund issued (the
provider accepted it). Also reported, from the case's own history: opened -> REFUNDING (the decision and the
grant) and REFUNDING -> REFUNDED (the provider call and the settlement), and the AWS calls one request makes
(what turns this figure into a deployed one: each is a few milliseconds on DynamoDB).

The first case pays the imports and the flags' first read (a cold container) and is reported apart; the
percentiles are over the rest. Moto in process has no network: the time is CPU, the code's own and moto's, so
it follows the machine's load; the deployed figure is about the AWS call count times a few ms plus the real
provider's answer. Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tools.bench.latency import summary

SHOPPER = {"sub": "11111111-1111-4111-8111-111111111111", "cognito:username": "shopper1",
           "cognito:groups": "[shopper]"}
MERCHANT = {"sub": "33333333-3333-4333-8333-333333333333", "cognito:username": "merchant1",
            "cognito:groups": "[merchant]"}
SKU = {"sku": "bench-flash-tea", "title": "西湖龙井 250g (bench)", "category": "tea", "kind": "physical",
       "price_fen": 168_00, "currency": "CNY", "stock": 5000}
ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州", "line": "西湖区 1 号"}


def _context(function: str) -> Any:
    return SimpleNamespace(function_name=function, memory_limit_in_mb=256, aws_request_id=str(uuid.uuid4()),
                           invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
                           get_remaining_time_in_millis=lambda: 10_000)


def _event(method: str, path: str, claims: dict[str, str], body: Any = None,
           headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event with the JWT authorizer's claims."""
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "localhost", "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}", "stage": "$default", "time": "07/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0, "authorizer": {"jwt": {"claims": claims, "scopes": None}},
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "bench"},
        },
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def _call(handler: Any, function: str, method: str, path: str, claims: dict[str, str], body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any]:
    reply = handler(_event(method, path, claims, body, headers), _context(function))
    text = reply.get("body")
    return int(reply["statusCode"]), json.loads(text) if text else None


@contextmanager
def moto_platform() -> Iterator[None]:
    """The suite's in-process AWS (tests/conftest.py `aws`) plus the payment secrets and the sandbox switch."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "ORDER24_SANDBOX": "1", "TABLE_NAME": "order24-bench"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from infra.declaration import DECLARATION, create_table_request
    from infra.local import moto_patches
    from shared.core.aws import dynamodb, reset_clients, secretsmanager, sqs
    from shared.sandbox import payments as sandbox_http
    from shared.sandbox.keys import generate_sandbox_keys, secret_payloads

    moto_patches.apply_dynamodb()
    reset_clients()
    with mock_aws():
        dynamodb().create_table(**create_table_request(DECLARATION.table, os.environ["TABLE_NAME"]))
        for queue in DECLARATION.queues:
            os.environ[queue.env_var] = sqs().create_queue(QueueName=f"order24-{queue.name}")["QueueUrl"]
        for secret in DECLARATION.secrets:
            if secret.generated:
                os.environ[secret.env_var] = secretsmanager().create_secret(
                    Name=f"order24/{secret.name}", SecretString='{"key": "bench-key-0123456789abcdef0123456789abcd"}',
                )["ARN"]
        keys = generate_sandbox_keys()
        payloads = secret_payloads(keys, wechatpay_notify_url="https://api.example.com/payments/wechatpay/notify",
                                   alipay_notify_url="https://api.example.com/payments/alipay/notify")
        for name, env_var in (("wechatpay", "WECHATPAY_SECRET_ARN"), ("alipay", "ALIPAY_SECRET_ARN")):
            os.environ[env_var] = secretsmanager().create_secret(
                Name=f"order24/{name}", SecretString=json.dumps(payloads[name]))["ARN"]
        sandbox_http.configure(keys)
        try:
            yield
        finally:
            sandbox_http.configure(None)
            reset_clients()


def fulfilling_order(n: int) -> str:
    """Placed, reserved, paid with WeChat Pay and FULFILLING (not timed)."""
    from functions.intake.handler import handler as intake
    from functions.pay.handler import handler as pay
    from functions.reserve.handler import handler as reserve
    from shared.core.clock import now_iso
    from shared.orders import store
    from shared.orders.models import OrderStatus
    from shared.payments import service
    from shared.payments.models import Capture, Provider

    status, accepted = _call(intake, "intake", "POST", "/orders", SHOPPER,
                             {"items": [{"sku": SKU["sku"], "quantity": 1}], "shipping_address": ADDRESS},
                             {"Idempotency-Key": f"bench-order-{n:06d}"})
    assert status == 202, accepted
    order_id = str(accepted["order_id"])
    assert reserve({"order_id": order_id}, _context("reserve"))["status"] == "AWAITING_PAYMENT"
    status, intent = _call(pay, "pay", "POST", f"/orders/{order_id}/pay", SHOPPER, {"provider": "wechatpay"})
    assert status in (200, 201), intent
    order = store.require(order_id, consistent=True)
    out_trade_no = str((order.payment_intent or {}).get("out_trade_no") or order_id)
    service.record_capture(Capture(Provider.WECHATPAY, out_trade_no, f"4200{n:024d}", order.total_fen, "CNY",
                                   now_iso(), f"wechatpay:bench-{n}"))
    paid = store.require(order_id, consistent=True)
    assert paid.status is OrderStatus.PAID, paid.status
    store.transition(paid, OrderStatus.FULFILLING, actor="system:review", reason="auto_approved")
    return order_id


@contextmanager
def counting_aws_calls() -> Iterator[list[str]]:
    """Every AWS API call made meanwhile, by operation name (botocore's one entry point)."""
    from botocore.client import BaseClient

    calls: list[str] = []
    real = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped in the stubs

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls.append(operation_name)
        return real(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010
    try:
        yield calls
    finally:
        setattr(BaseClient, "_make_api_call", real)  # noqa: B010


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run(cases: int) -> dict[str, Any]:
    from functions.api_merchant.handler import handler as merchant
    from functions.api_orders.handler import handler as api_orders

    with moto_platform():
        status, created = _call(merchant, "api_merchant", "POST", "/merchant/skus", MERCHANT, SKU)
        assert status == 201, created
        request_ms: list[float] = []
        decide_ms: list[float] = []
        settle_ms: list[float] = []
        cold: dict[str, float] = {}
        aws_calls: list[int] = []
        operations: Counter[str] = Counter()
        for n in range(cases + 1):
            order_id = fulfilling_order(n)
            body = {"type": "refund_only", "lines": [{"sku": SKU["sku"], "quantity": 1}],
                    "reason_code": "no_longer_needed"}
            with counting_aws_calls() as calls:
                started = time.perf_counter()
                status, case = _call(api_orders, "api_orders", "POST", f"/orders/{order_id}/after-sales", SHOPPER,
                                     body, {"Idempotency-Key": f"bench-case-{n:06d}"})
                took = (time.perf_counter() - started) * 1000
            assert status == 201 and case["status"] == "REFUNDED", case
            assert case["flash"]["rule"] == "not_shipped", case["flash"]
            reached = {event["to_status"]: _at(event["at"]) for event in case["history"]}
            decided = (reached["REFUNDING"] - reached["REQUESTED"]).total_seconds() * 1000
            settled = (reached["REFUNDED"] - reached["REFUNDING"]).total_seconds() * 1000
            if n == 0:
                cold = {"request_ms": round(took, 1), "opened_to_refunding_ms": round(decided, 1),
                        "refunding_to_refunded_ms": round(settled, 1)}
                continue
            request_ms.append(took)
            aws_calls.append(len(calls))
            operations.update(calls)
            decide_ms.append(decided)
            settle_ms.append(settled)
    return {"cases": cases, "rule": "not_shipped", "provider": "wechatpay (sandbox)",
            "request_to_refund_issued": summary(request_ms), "opened_to_refunding": summary(decide_ms),
            "refunding_to_refunded": summary(settle_ms), "first_case_cold": cold,
            "aws_calls_per_case": {"median": statistics.median(aws_calls) if aws_calls else 0,
                                   "by_operation": {op: round(k / max(len(aws_calls), 1), 1)
                                                    for op, k in operations.most_common()}},
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)  # the handlers' INFO/WARNING lines would swamp the figures
    warnings.filterwarnings("ignore", message="No application metrics")  # Powertools, per handler call
    result = run(args.cases)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
