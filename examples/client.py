"""The little client every example uses: Python's standard library only, nothing to install.

A token is what a frontend gets from Cognito (InitiateAuth, USER_PASSWORD_AUTH); `make run` writes the
Cognito endpoint, the app client id and the demo users into .local/stack.json.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

DEFAULT_BASE_URL = "http://127.0.0.1:8024"


class ApiError(Exception):
    """An answer with an unexpected status; `problem` is its application/problem+json body."""

    def __init__(self, status: int, problem: Any) -> None:
        super().__init__(f"HTTP {status}: {problem}")
        self.status, self.problem = status, problem


def step(text: str) -> None:
    print(f"\n==> {text}")


def show(label: str, value: Any) -> None:
    print(f"    {label}: {json.dumps(value, ensure_ascii=False)}")


def request(method: str, url: str, *, body: Any = None, headers: dict[str, str] | None = None,
            expect: tuple[int, ...] = (200,)) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
    try:
        with urlopen(Request(url, data=data, headers=all_headers, method=method), timeout=30) as reply:
            status, raw = reply.status, reply.read()
    except HTTPError as error:
        status, raw = error.code, error.read()
    text = raw.decode()
    try:
        content = json.loads(text) if text else None
    except json.JSONDecodeError:
        content = text
    if status not in expect:
        raise ApiError(status, content)
    return status, content


class Api:
    def __init__(self, base_url: str, stack_file: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.stack: dict[str, Any] = json.loads(Path(stack_file).read_text(encoding="utf-8"))

    def login(self, username: str) -> str:
        """A Cognito ID token for one of the demo users (shopper1, shopper2, merchant1, reviewer1, ops1)."""
        password = next(u["password"] for u in self.stack["users"] if u["username"] == username)
        _, reply = request("POST", self.stack["aws_endpoint_url"], headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        }, body={"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": self.stack["user_pool_client_id"],
                 "AuthParameters": {"USERNAME": username, "PASSWORD": password}})
        return str(reply["AuthenticationResult"]["IdToken"])

    def call(self, method: str, path: str, token: str | None = None, *, body: Any = None,
             headers: dict[str, str] | None = None, expect: tuple[int, ...] = (200,)) -> Any:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return request(method, self.base_url + path, body=body, headers={**auth, **(headers or {})},
                       expect=expect)[1]

    def place_order(self, token: str, body: dict[str, Any]) -> str:
        """POST /orders with a fresh Idempotency-Key: a retry with the same key and body is the same order."""
        accepted = self.call("POST", "/orders", token, body=body, expect=(202,),
                             headers={"Idempotency-Key": str(uuid.uuid4())})
        return str(accepted["order_id"])

    def pay_in_sandbox(self, token: str, order_id: str, provider: str = "wechatpay") -> Any:
        """POST /orders/{id}/pay, then the local sandbox provider posts its signed "paid" callback to us."""
        intent = self.call("POST", f"/orders/{order_id}/pay", token, body={"provider": provider})
        self.call("POST", f"/sandbox/pay/{order_id}?provider={provider}&outcome=success")
        return intent

    def place_paid_order(self, token: str, body: dict[str, Any], provider: str = "wechatpay") -> str:
        """Place an order, wait until it can be paid, and pay it in the sandbox."""
        order_id = self.place_order(token, body)
        self.wait_for_status(token, order_id, {"AWAITING_PAYMENT"})
        self.pay_in_sandbox(token, order_id, provider)
        return order_id

    def wait_for_status(self, token: str, order_id: str, wanted: set[str], timeout_s: float = 30) -> dict[str, Any]:
        """Poll GET /orders/{id} until its status is one of `wanted` (or the order ended elsewhere)."""
        final = {"COMPLETED", "CANCELLED", "REJECTED", "FAILED"}
        order: dict[str, Any] = wait_until(lambda: self.call("GET", f"/orders/{order_id}", token),
                                           lambda o: o["status"] in wanted | final, timeout_s)
        print(f"    order {order_id} is {order['status']}")
        return order


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.3)
        value = read()
    return value


def connect(description: str, argv: list[str] | None = None) -> Api:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("base_url", nargs="?", default=DEFAULT_BASE_URL, help=f"the API (default {DEFAULT_BASE_URL})")
    parser.add_argument("--stack", default=".local/stack.json", help="what `make run` wrote (Cognito, demo users)")
    args = parser.parse_args(argv)
    return Api(args.base_url, args.stack)
