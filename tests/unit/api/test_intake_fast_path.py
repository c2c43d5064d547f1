"""The intake function's fast path answers exactly what the validating resolver answers, or defers to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

import functions.intake.handler as intake_function
from shared.core.api import serve
from shared.core.errors import Unprocessable
from shared.orders import intake
from shared.orders.intake_http import answer
from shared.orders.models import OrderAccepted, OrderStatus
from tests.support import MERCHANT, SHOPPER, context, http_event

BODY = {"items": [{"sku": "ad-slot-home-1d", "quantity": 2}], "target": "  https://shop.example.com/s/1 ",
        "ad_copy": "新品上市，限时优惠"}
KEY = {"Idempotency-Key": "key-00000001"}


def _event(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"user": SHOPPER, "body": BODY, "headers": KEY, **overrides}
    method, path = kwargs.pop("method", "POST"), kwargs.pop("path", "/orders")
    return http_event(method, path, **kwargs)


def _raw_headers(event: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    event["headers"] = headers  # API Gateway lowercases names; callers in tests may not
    return event


ANSWERED = {
    "accepted": _event(),
    "accepted, device id and charset": _event(headers={**KEY, "X-Device-Id": "d" * 64,
                                                       "Content-Type": "application/json; charset=utf-8"}),
    "accepted, no content type": _raw_headers(_event(), {"idempotency-key": "key-00000001"}),
    "accepted, mixed-case header names": _raw_headers(_event(), {"Idempotency-Key": "key-00000001",
                                                                  "Content-Type": "application/json"}),
    "merchant": _event(user=MERCHANT),
    "no token": _event(user=None),
    "no key": _event(headers={}),
    "bad key": _event(headers={"Idempotency-Key": "bad key!"}),
}
DEFERRED = {
    "malformed json": _event(raw_body="{not json"),
    "array body": _event(raw_body="[1]"),
    "empty body": _event(raw_body=""),
    "invalid body": _event(body={"items": []}),
    "extra field": _event(body={**BODY, "coupon": "FREE"}),
    "long device id": _event(headers={**KEY, "X-Device-Id": "d" * 65}),
    "form body": _event(headers={**KEY, "Content-Type": "application/x-www-form-urlencoded"}, raw_body="a=1"),
    "other route": _event(method="GET"),
    "trailing slash": _event(path="/orders/"),
}


@pytest.fixture(autouse=True)
def accepted() -> Iterator[mock.MagicMock]:
    reply = OrderAccepted(order_id="oabc", status=OrderStatus.PLACED)
    with mock.patch.object(intake, "place", return_value=reply) as place:
        yield place


def _full(event: dict[str, Any]) -> dict[str, Any]:
    # What every other API function runs: the screen, then the resolver.
    return serve(intake_function.app, json.loads(json.dumps(event)), context())


@pytest.mark.parametrize("case", sorted(ANSWERED))
def test_fast_path_replies_exactly_as_the_resolver(case: str) -> None:
    event = ANSWERED[case]
    fast = answer(json.loads(json.dumps(event)))
    assert fast is not None
    assert fast == _full(event)


@pytest.mark.parametrize("case", sorted(DEFERRED))
def test_fast_path_defers_what_only_the_resolver_answers(case: str) -> None:
    event = DEFERRED[case]
    assert answer(json.loads(json.dumps(event))) is None
    assert intake_function.handler(json.loads(json.dumps(event)), context()) == _full(event)


def test_the_same_validated_body_reaches_intake(accepted: mock.MagicMock) -> None:
    answer(_event(headers={**KEY, "X-Device-Id": "dev-1"}))
    _full(_event(headers={**KEY, "X-Device-Id": "dev-1"}))
    fast, full = accepted.call_args_list
    assert fast == full
    assert fast.args[2].target == "https://shop.example.com/s/1"  # stripped by the model on both paths


@pytest.mark.parametrize("error", [Unprocessable("Unknown SKU: x.", code="unknown_sku", skus=["x"]),
                                   RuntimeError("boom")])
def test_errors_after_validation_reply_alike(accepted: mock.MagicMock, error: Exception) -> None:
    accepted.side_effect = error
    assert answer(_event()) == _full(_event())
