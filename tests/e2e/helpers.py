"""Shared helpers for the fuzz, fault-injection and replay-storm tests: a client per stack, order driving,
and direct reads of the stack's moto DynamoDB (the ledger the conservation checks add up)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
import requests
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from tests.e2e.conftest import ROOT, _terminate, _wait_for_stack

FINAL = frozenset({"COMPLETED", "CANCELLED", "REJECTED", "FAILED"})
HOLDING = ("AWAITING_PAYMENT", "PAID", "IN_REVIEW", "FULFILLING")  # stock reserved, not yet sold
KEPT = ("PAID", "IN_REVIEW", "FULFILLING", "SHIPPED", "DELIVERED", "COMPLETED")  # paid and goods kept
SOLD = ("SHIPPED", "DELIVERED", "COMPLETED")
ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州",
           "line": "西湖区文三路 1 号"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


RESULTS_DIR = ROOT / "build" / "test-results"


def report_result(name: str, lines: list[str]) -> None:
    """Print a run's summary and keep it in build/test-results/<name>.txt (xdist swallows -s output)."""
    print("\n" + "\n".join(lines))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


class Stack:
    """One running local stack: HTTP with real Cognito tokens, and boto3 on its moto endpoint."""

    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = stack
        self.api_url: str = stack["api_url"]
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=40)
        self.session.mount("http://", adapter)
        self._tokens: dict[str, str] = {}
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, endpoint_url=self.stack["aws_endpoint_url"], region_name=self.stack["region"],
                aws_access_key_id="testing", aws_secret_access_key="testing",
                config=Config(max_pool_connections=40))  # the fault test's 32 clients share it
        return self._clients[service]

    def user(self, role_or_username: str) -> dict[str, Any]:
        return next(u for u in self.stack["users"] if role_or_username in (u["username"], u["role"]))

    def token(self, role_or_username: str) -> str:
        if role_or_username not in self._tokens:
            user = self.user(role_or_username)
            reply = self.client("cognito-idp").initiate_auth(
                ClientId=self.stack["user_pool_client_id"], AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]})
            self._tokens[role_or_username] = reply["AuthenticationResult"]["IdToken"]
        return self._tokens[role_or_username]

    def call(self, method: str, path: str, role: str | None = None, *, json: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        all_headers = dict(headers or {})
        if role:
            all_headers["Authorization"] = f"Bearer {self.token(role)}"
        return self.session.request(method, self.api_url + path, json=json, headers=all_headers,
                                    timeout=kwargs.pop("timeout", 30), **kwargs)

    # -- catalog and orders

    def new_sku(self, *, stock: int, kind: str = "digital", price_fen: int = 1990) -> str:
        sku = f"E2E-{uuid.uuid4().hex[:10].upper()}"
        reply = self.call("POST", "/merchant/skus", "merchant", json={
            "sku": sku, "title": "Official traffic promotion, e2e", "category": "promotion", "kind": kind,
            "price_fen": price_fen, "currency": "CNY", "stock": stock})
        assert reply.status_code == 201, reply.text
        return sku

    def place(self, shopper: str, sku: str, *, physical: bool, quantity: int = 1,
              lines: list[tuple[str, int]] | None = None, ad_copy: str | None = None) -> str:
        """Place an order of `quantity` x `sku`, or of `lines` [(sku, quantity)] (sku is then ignored);
        `ad_copy` with an absolute claim (全网第一) sends a digital order to review."""
        body: dict[str, Any] = {"items": [{"sku": s, "quantity": q} for s, q in lines or [(sku, quantity)]]}
        if ad_copy:
            body["ad_copy"] = ad_copy
        if physical:
            body["shipping_address"] = ADDRESS
        else:
            body["target"] = "https://shop.example.com/s/1"
        key = {"Idempotency-Key": str(uuid.uuid4())}
        reply = self.call("POST", "/orders", shopper, json=body, headers=key)
        assert reply.status_code == 202, reply.text
        return str(reply.json()["order_id"])

    def wait_status(self, order_id: str, wanted: Iterable[str], timeout_s: float) -> dict[str, Any]:
        wanted = set(wanted) | FINAL
        deadline = time.monotonic() + timeout_s
        while True:
            order = self.order(order_id)
            if order["status"] in wanted or time.monotonic() > deadline:
                return order
            time.sleep(0.25)

    # -- the ledger, read straight from the table (strongly consistent)

    def order(self, order_id: str) -> dict[str, Any]:
        item = self.client("dynamodb").get_item(
            TableName=self.stack["table_name"], Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}},
            ConsistentRead=True)["Item"]
        return plain(item)

    def orders(self, order_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {order_id: self.order(order_id) for order_id in order_ids}

    def cases(self, order_id: str) -> list[dict[str, Any]]:
        """The order's after-sales case items (beside the order: SK `CASE#...`), oldest first."""
        reply = self.client("dynamodb").query(
            TableName=self.stack["table_name"], ConsistentRead=True,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :case)",
            ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}, ":case": {"S": "CASE#"}})
        return sorted((plain(item) for item in reply["Items"]), key=lambda case: str(case["created_at"]))

    def inbox_refs(self, kind: str) -> set[str]:
        """The refs of the ops inbox items of `kind` (e.g. refund_issue: `<order_id>:<refund_key>`)."""
        reply = self.client("dynamodb").query(
            TableName=self.stack["table_name"], ConsistentRead=True, KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"INBOX#{kind}"}})
        return {str(plain(item)["ref"]) for item in reply["Items"]}

    def refund_calls(self) -> dict[str, int]:
        """How often the sandbox provider was asked to refund each out_refund_no (every provider API)."""
        reply = self.call("GET", "/sandbox/refunds")
        assert reply.status_code == 200, reply.text
        counts: dict[str, int] = {}
        for per_api in reply.json()["calls"].values():
            for out_refund_no, n in per_api.items():
                counts[out_refund_no] = counts.get(out_refund_no, 0) + int(n)
        return counts

    def available(self, sku: str) -> int:
        reply = self.client("dynamodb").query(
            TableName=self.stack["table_name"], ConsistentRead=True,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :stock)",
            ExpressionAttributeValues={":pk": {"S": f"SKU#{sku}"}, ":stock": {"S": "STOCK#"}})
        return sum(int(plain(item)["available"]) for item in reply["Items"])

    def dlq_depths(self) -> dict[str, int]:
        """Visible messages per DLQ: the SQS attribute behind CloudWatch's ApproximateNumberOfMessagesVisible,
        the metric the DLQ alarms watch."""
        sqs = self.client("sqs")
        return {name: int(sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]["ApproximateNumberOfMessages"]) for name, url in self.stack["dlqs"].items()}

    def dlq_order_ids(self) -> dict[str, set[str]]:
        """Order ids in each DLQ (peeked: visibility 0, so the messages stay visible for the metric)."""
        import json

        sqs, found = self.client("sqs"), {}
        for name, url in self.stack["dlqs"].items():
            ids: set[str] = set()
            for _ in range(20):
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                               WaitTimeSeconds=0).get("Messages", [])
                before = len(ids)
                ids |= {str(json.loads(m["Body"]).get("order_id")) for m in messages}
                if not messages or len(ids) == before:
                    break
            found[name] = ids
        return found


_deserializer = TypeDeserializer()


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python (numbers as int where whole)."""
    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list | set):
            return [fix(v) for v in value]
        if hasattr(value, "as_integer_ratio") and not isinstance(value, bool | int | float):
            return int(value) if value == int(value) else float(value)
        return value
    return fix({k: _deserializer.deserialize(v) for k, v in item.items()})


def start_stack(env: dict[str, str], state_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Another `python -m infra.local`, own env and state dir (moto and os.environ are per process)."""
    log = state_dir / "infra-local.log"
    full = {**os.environ, **env, "PORT": "0", "LOCAL_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    full.pop("AWS_ENDPOINT_URL", None)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=ROOT, env=full,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        stack = _wait_for_stack(proc, state_dir / "stack.json", log)
    except BaseException:
        _terminate(proc)
        raise
    stack["_log"] = str(log)
    return proc, stack


def stop_stack(proc: subprocess.Popen[bytes]) -> None:
    _terminate(proc)
