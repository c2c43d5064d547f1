"""Issue 13 item 4 over HTTP against the local stack: a 7-day no-reason return with tracking, receipt and refund.

A delivered physical order (paid through the sandbox provider, shipped and signed through the sandbox courier),
a `return_and_refund` case, the merchant's approval, the shopper's return parcel, the courier's signed
Kuaidi100 pushes for it (揽收, 在途, 派件, 签收, and a replay), the merchant's receipt (the unit back on sale), the
platform's return-shipping compensation, and the refund.

Two steps go through a test seam until the merchant-decision routes (issue 13 items 5-6) are on main:
the approval calls `returns.await_return` and the refund `refunding.start_refund`, in this process, against the
stack's own moto and with its functions' environment (`stack_code`), exactly as the approve route and the MERCHANT
timer's handler would. Where `POST /merchant/after-sales/{case_id}/approve` is served, the test calls it instead.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import boto3
import pytest

from tests.e2e.test_order_journey import Api, wait_for_status
from tests.e2e.test_paid_journeys import FINAL, pay

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州", "line": "西湖区 1 号"}
PUSHES = [("1", "【杭州】已揽收"), ("0", "快件已到达【杭州转运中心】"), ("5", "快递员正在派件"),
          ("3", "已签收，签收人：仓库")]


@contextmanager
def stack_code(local_stack: dict[str, Any]) -> Iterator[None]:
    """Run shared/ code in this process as the stack's functions do: its environment, its moto."""
    from shared.core import aws, config
    from shared.sandbox import payments

    values = {**local_stack["env"], "AWS_ENDPOINT_URL": local_stack["aws_endpoint_url"],
              "AWS_DEFAULT_REGION": local_stack["region"], "AWS_REGION": local_stack["region"],
              "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    aws.reset_clients()
    config.reset_settings()
    payments.configure(None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        aws.reset_clients()
        config.reset_settings()
        payments.configure(None)


def k100_salt(local_stack: dict[str, Any]) -> str:
    sm = boto3.client("secretsmanager", endpoint_url=local_stack["aws_endpoint_url"],
                      region_name=local_stack["region"], aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    secret = json.loads(sm.get_secret_value(SecretId=local_stack["secrets"]["logistics"])["SecretString"])
    return str(secret["kuaidi100_salt"])


def wait_case(api: Api, token: str, case_id: str, wanted: set[str], timeout_s: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        case: dict[str, Any] = api("GET", f"/after-sales/{case_id}", token=token).json()
        if case["status"] in wanted or time.monotonic() > deadline:
            return case
        time.sleep(0.2)


def test_a_no_reason_return_is_tracked_received_restocked_compensated_and_refunded(
    api: Api, token_for: Callable[..., str], local_stack: dict[str, Any]
) -> None:
    from shared.core.clock import now
    from shared.logistics.adapters import kuaidi100

    shopper, merchant = token_for("shopper"), token_for("merchant")
    sku = f"E2E-{uuid.uuid4().hex[:10].upper()}"
    created = api("POST", "/merchant/skus", token=merchant, json={
        "sku": sku, "title": "西湖龙井 e2e", "category": "tea", "kind": "physical", "price_fen": 168_00,
        "currency": "CNY", "stock": 5})
    assert created.status_code == 201, created.text

    # given a delivered physical order
    placed = api("POST", "/orders", token=shopper, headers={"Idempotency-Key": str(uuid.uuid4())},
                 json={"items": [{"sku": sku, "quantity": 1}], "shipping_address": ADDRESS})
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    assert wait_for_status(api, shopper, order_id, {"AWAITING_PAYMENT"} | FINAL)["status"] == "AWAITING_PAYMENT"
    pay(api, shopper, order_id)
    assert wait_for_status(api, shopper, order_id, {"SHIPPED"} | FINAL, timeout_s=30)["status"] == "SHIPPED"
    assert api("POST", f"/sandbox/ship/{order_id}?to=delivered").status_code == 200
    order = wait_for_status(api, shopper, order_id, {"DELIVERED"} | FINAL, timeout_s=30)
    assert order["status"] == "DELIVERED"
    on_sale = api("GET", f"/catalog/{sku}").json()["stock"]

    # the shopper asks for a no-reason return
    codes = {reason["code"] for reason in api("GET", "/after-sales/reasons").json()["reasons"]}
    reason = "seven_day_no_reason"
    assert reason in codes
    opened = api("POST", f"/orders/{order_id}/after-sales", token=shopper,
                 headers={"Idempotency-Key": str(uuid.uuid4())},
                 json={"type": "return_and_refund", "lines": [{"sku": sku, "quantity": 1}], "reason_code": reason})
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]

    # the merchant approves: the case waits for the goods, with the return address
    approve_path = f"/merchant/after-sales/{case_id}/approve"
    if "/merchant/after-sales/{case_id}/approve" in api("GET", "/openapi.json").json()["paths"]:
        approved = api("POST", approve_path, token=merchant)
        assert approved.status_code == 200, approved.text
    else:  # the seam: what the approve route calls for a return
        from shared.aftersales import returns
        from shared.aftersales import store as cases

        with stack_code(local_stack):
            found = cases.get(case_id, consistent=True)
            assert found is not None
            returns.await_return(found, actor=f"merchant:{found.shop_id}", reason="approved")
    case = wait_case(api, shopper, case_id, {"AWAITING_RETURN"})
    assert case["status"] == "AWAITING_RETURN" and case["return_address"]["line"]

    # the shopper gives the return parcel (a retry answers the same)
    number = "YT" + uuid.uuid4().hex[:12].upper()
    parcel = {"carrier": "yuantong", "tracking_no": number}
    given = api("POST", f"/after-sales/{case_id}/return-shipment", token=shopper, json=parcel)
    assert given.status_code == 200, given.text
    assert given.json()["status"] == "RETURN_IN_TRANSIT"
    again = api("POST", f"/after-sales/{case_id}/return-shipment", token=shopper, json=parcel)
    assert again.status_code == 200 and again.json()["updated_at"] == given.json()["updated_at"]
    other = api("POST", f"/after-sales/{case_id}/return-shipment", token=shopper,
                json={**parcel, "tracking_no": number + "9"})
    assert other.status_code == 409 and other.json()["code"] == "return_shipment_differs"

    # the courier's signed pushes, each step with the history so far, then a replay
    salt = k100_salt(local_stack)
    start = now().replace(microsecond=0) - timedelta(minutes=10)
    history: list[tuple[Any, str, str]] = []
    forms = []
    for i, (code, text) in enumerate(PUSHES):
        history.insert(0, (start + timedelta(minutes=i), text, kuaidi100.status_name(code)))
        param, sign = kuaidi100.build_push(company="yuantong", number=number, state_code=code,
                                           traces=list(history), salt=salt)
        forms.append({"param": param, "sign": sign})
        answer = api("POST", "/logistics/kuaidi100/notify", data=forms[-1])
        assert answer.status_code == 200, answer.text
    tracked = api("GET", f"/after-sales/{case_id}", token=shopper).json()
    assert [step["state"] for step in tracked["return_tracking"]] == [
        "ACCEPTED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "SIGNED"]
    assert api("POST", "/logistics/kuaidi100/notify", data=forms[2]).status_code == 200  # a replay
    assert api("GET", f"/after-sales/{case_id}", token=shopper).json() == tracked  # changes nothing
    forged = api("POST", "/logistics/kuaidi100/notify", data={**forms[0], "sign": "0" * 32})
    assert forged.status_code == 400

    # the merchant receives it intact: back on sale, and the platform pays the return shipping once
    receipt = {"lines": [{"sku": sku, "quantity": 1, "condition": "intact"}]}
    received = api("POST", f"/merchant/after-sales/{case_id}/receive", token=merchant, json=receipt)
    assert received.status_code == 200, received.text
    assert received.json()["status"] == "RECEIVED" and received.json()["receipt"]["restocked"] == {sku: 1}
    assert api("POST", f"/merchant/after-sales/{case_id}/receive", token=merchant, json=receipt).status_code == 200
    assert api("GET", f"/catalog/{sku}").json()["stock"] == on_sale + 1
    order = api("GET", f"/orders/{order_id}", token=shopper).json()
    (compensation,) = order["compensations"].values()
    assert (compensation["amount_fen"], compensation["state"], compensation["case_id"]) == (12_00, "paid", case_id)

    # the refund: the merchant's money, apart from the compensation
    from shared.aftersales import refunding
    from shared.aftersales import store as cases

    with stack_code(local_stack):
        found = cases.get(case_id, consistent=True)
        assert found is not None
        refunding.start_refund(found, actor="system:receipt_check", reason="receipt_checked")
    case = wait_case(api, shopper, case_id, {"REFUNDED"})
    assert [step["to_status"] for step in case["history"]] == [
        "REQUESTED", "APPROVED", "AWAITING_RETURN", "RETURN_IN_TRANSIT", "RECEIVED", "REFUNDING", "REFUNDED"]
    order = api("GET", f"/orders/{order_id}", token=shopper).json()
    assert order["payment"]["refunded_fen"] == 168_00 == order["total_fen"]
    assert order["compensations"][next(iter(order["compensations"]))]["amount_fen"] == 12_00
    assert order["status"] == "DELIVERED"  # completes when the window closes, its case ended

    # and the shopper was told each step
    from examples.client import wait_until

    wanted = {f"after_sales_{status.lower()}" for status in ("AWAITING_RETURN", "RETURN_IN_TRANSIT", "RECEIVED",
                                                            "REFUNDED")}
    told = wait_until(
        lambda: {n["type"] for n in api("GET", "/me/notifications", token=shopper).json()["items"]
                 if n.get("case_id") == case_id},
        lambda types: wanted <= types)
    assert wanted <= told
