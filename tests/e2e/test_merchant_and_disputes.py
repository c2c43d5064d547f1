"""Issue 13 items 5 and 6 over HTTP against the local stack: a silent merchant is taken to agree and the case is
refunded by the sandbox provider; a rejection, then the shopper's dispute with evidence from both sides, then ops
arbitration under a lease (a partial refund on the order's ledger).

This module starts its own stack (the session's keeps the real 48 hours): the merchant's time to answer is
MERCHANT_REPLY_S seconds, and the sweeper runs every 2 seconds, so the MERCHANT timer fires during the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from examples.client import wait_until
from tests.e2e.conftest import STACK_ENV
from tests.e2e.helpers import Stack, start_stack, stop_stack
from tests.e2e.test_order_journey import Api, new_sku, wait_for_status
from tests.e2e.test_paid_journeys import FINAL, pay, place

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

MERCHANT_REPLY_S = 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {**STACK_ENV, "AFTER_SALES_MERCHANT_REPLY_SECONDS": str(MERCHANT_REPLY_S)}
    proc, running = start_stack(env, tmp_path_factory.mktemp("decide-stack"))
    try:
        yield Stack(running)
    finally:
        stop_stack(proc)


@pytest.fixture(scope="module")
def token_for(stack: Stack) -> Callable[..., str]:
    return stack.token


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    """The session's `api(method, path, token=...)` shape, on this module's stack."""

    def call(method: str, path: str, token: str | None = None, json: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        all_headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return stack.call(method, path, json=json, headers=all_headers, **kwargs)

    return call


def completed_order(api: Api, token_for: Callable[..., str]) -> tuple[str, str]:
    """A paid digital order, delivered and COMPLETED (it takes cases within the after-sales window)."""
    shopper = token_for("shopper")
    order_id = place(api, shopper, new_sku(api, token_for, stock=2), target="https://shop.example.com/s/51")
    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, FINAL | {"IN_REVIEW"}, timeout_s=20)["status"] == "COMPLETED"
    return shopper, order_id


def open_case(api: Api, shopper: str, order_id: str) -> dict[str, Any]:
    """A refund_only case with a reason flash refunds leave to the merchant (a quality claim)."""
    sku = api("GET", f"/orders/{order_id}", token=shopper).json()["items"][0]["sku"]
    body = {"type": "refund_only", "lines": [{"sku": sku, "quantity": 1}], "reason_code": "quality_issue",
            "note": "推广位未按约定展示"}
    reply = api("POST", f"/orders/{order_id}/after-sales", token=shopper,
                headers={"Idempotency-Key": str(uuid.uuid4())}, json=body)
    assert reply.status_code == 201, reply.text
    case: dict[str, Any] = reply.json()
    assert case["status"] == "REQUESTED", case
    return case


def wait_for_case(api: Api, token: str, case_id: str, wanted: set[str], timeout_s: float) -> dict[str, Any]:
    case: dict[str, Any] = wait_until(lambda: api("GET", f"/after-sales/{case_id}", token=token).json(),
                                      lambda c: c["status"] in wanted, timeout_s)
    return case


def test_a_silent_merchant_is_taken_to_agree_and_the_shopper_is_refunded(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper, order_id = completed_order(api, token_for)
    case = open_case(api, shopper, order_id)
    listed = api("GET", "/merchant/after-sales?status=REQUESTED", token=token_for("merchant")).json()["items"]
    assert case["case_id"] in [c["case_id"] for c in listed]

    done = wait_for_case(api, shopper, case["case_id"], {"REFUNDED"}, timeout_s=MERCHANT_REPLY_S + 15)
    assert done["status"] == "REFUNDED", done
    assert [(e["to_status"], e["actor"]) for e in done["history"]][1:] == [
        ("REFUNDING", "system:merchant_timeout"), ("REFUNDED", "system:refunds")]
    payment = api("GET", f"/orders/{order_id}", token=shopper).json()["payment"]
    assert payment["refunded_fen"] == case["refund_total_fen"] == 1990
    late = api("POST", f"/merchant/after-sales/{case['case_id']}/reject", token=token_for("merchant"),
               json={"reason": "too late"})
    assert late.status_code == 409 and late.json()["code"] == "not_awaiting_merchant"


def test_a_rejection_then_a_dispute_then_arbitration(api: Api, token_for: Callable[..., str]) -> None:
    merchant, ops = token_for("merchant"), token_for("ops")
    shopper, order_id = completed_order(api, token_for)
    case = open_case(api, shopper, order_id)
    case_id = case["case_id"]

    rejected = api("POST", f"/merchant/after-sales/{case_id}/reject", token=merchant,
                   json={"reason": "推广位已按约定展示, 有截图"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED", rejected.text
    disputed = api("POST", f"/after-sales/{case_id}/dispute", token=shopper, json={"reason": "展示位置与约定不符"})
    assert disputed.status_code == 200 and disputed.json()["status"] == "DISPUTED", disputed.text
    for token, text, image in ((shopper, "约定首页顶部, 实际在第三屏", "https://img.example.com/e2e/screen.png"),
                               (merchant, "后台记录显示首页展示 24 小时", "media_e2e_0001")):
        added = api("POST", f"/after-sales/{case_id}/evidence", token=token, json={"text": text, "images": [image]})
        assert added.status_code == 201, added.text

    queue = api("GET", "/ops/disputes", token=ops).json()["items"]
    assert case_id in [d["case_id"] for d in queue]
    mine = next(d for d in queue if d["case_id"] == case_id)
    assert [e["text"] for e in mine["evidence"]] == ["约定首页顶部, 实际在第三屏", "后台记录显示首页展示 24 小时"]
    unclaimed = api("POST", f"/ops/disputes/{case_id}/decide", token=ops,
                    json={"outcome": "partial_refund", "amount_fen": 990, "reason": "部分展示未达约定"})
    assert unclaimed.status_code == 409 and unclaimed.json()["code"] == "lease_required"
    claimed = api("POST", f"/ops/disputes/{case_id}/claim", token=ops)
    assert claimed.status_code == 200, claimed.text
    decided = api("POST", f"/ops/disputes/{case_id}/decide", token=ops,
                  json={"outcome": "partial_refund", "amount_fen": 990, "reason": "部分展示未达约定"})
    assert decided.status_code == 200, decided.text

    done = wait_for_case(api, shopper, case_id, {"REFUNDED"}, timeout_s=10)
    steps = [(e["type"], e.get("to_status"), e["actor"].split(":")[0]) for e in done["history"]]
    assert steps == [("opened", "REQUESTED", "shopper"), ("status_changed", "REJECTED", "merchant"),
                     ("status_changed", "DISPUTED", "shopper"), ("evidence_added", None, "shopper"),
                     ("evidence_added", None, "merchant"), ("status_changed", "REFUNDING", "ops"),
                     ("status_changed", "REFUNDED", "system")]
    order = api("GET", f"/orders/{order_id}", token=shopper).json()
    grants = [g for key, g in order["payment"]["refunds"].items() if key.startswith("as-")]
    assert [(g["amount_fen"], g["state"]) for g in grants] == [(990, "succeeded")]
    assert order["payment"]["refunded_fen"] == 990
    assert case_id not in [d["case_id"] for d in api("GET", "/ops/disputes", token=ops).json()["items"]]
