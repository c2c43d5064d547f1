"""Test helpers: API Gateway HTTP API (payload 2.0) events for calling real handlers in-process."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any


@dataclass(frozen=True)
class User:
    sub: str
    username: str
    groups: tuple[str, ...]

    def claims(self) -> dict[str, str]:
        return {"sub": self.sub, "cognito:username": self.username, "cognito:groups": f"[{' '.join(self.groups)}]"}


SHOPPER = User("11111111-1111-4111-8111-111111111111", "shopper1", ("shopper",))
OTHER_SHOPPER = User("22222222-2222-4222-8222-222222222222", "shopper2", ("shopper",))
MERCHANT = User("33333333-3333-4333-8333-333333333333", "merchant1", ("merchant",))
OTHER_MERCHANT = User("44444444-4444-4444-8444-444444444444", "merchant2", ("merchant",))
REVIEWER = User("55555555-5555-4555-8555-555555555555", "reviewer1", ("reviewer",))
OPS = User("66666666-6666-4666-8666-666666666666", "ops1", ("ops",))


def context(name: str = "test") -> Any:
    return SimpleNamespace(function_name=name, memory_limit_in_mb=256, aws_request_id=str(uuid.uuid4()),
                           invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
                           get_remaining_time_in_millis=lambda: 10_000)


def http_event(method: str, path: str, *, user: User | None = None, body: Any = None,
               headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
               raw_body: str | None = None) -> dict[str, Any]:
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": all_headers, "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}", "stage": "$default", "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "pytest"},
        },
        "body": text, "isBase64Encoded": False,
    }
    if user is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": user.claims(), "scopes": None}}
    return event


def call(handler: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
    reply = handler(http_event(method, path, **kwargs), context())
    body = reply.get("body")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return reply["statusCode"], parsed, reply.get("headers") or {}


def order_items() -> list[dict[str, Any]]:
    """Every order item in the test table, as DynamoDB holds it (attribute-value maps)."""
    from shared.core import ddb
    from shared.core.aws import dynamodb

    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": ddb.table(), "FilterExpression": "SK = :order",
                               "ExpressionAttributeValues": {":order": {"S": "ORDER"}}}
    while True:
        reply = dynamodb().scan(**request)
        found += reply.get("Items", [])
        if not reply.get("LastEvaluatedKey"):
            return found
        request["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def assert_orders_round_trip() -> None:
    """The `Order` aggregate covers every attribute an order item holds, and gives the item back unchanged."""
    from shared.orders.aggregate import Order, undeclared

    for raw in order_items():
        order = Order.from_ddb(raw)
        assert undeclared(order) == [], f"{order.order_id}: attributes the Order model does not declare"
        assert _canonical(order.to_ddb()) == _canonical(raw), f"{order.order_id}: item -> Order -> item differs"


def _canonical(value: Any) -> Any:
    """String and number sets compare as sets (DynamoDB keeps no order in them)."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS") else _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
