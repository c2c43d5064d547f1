"""The real catalog, merchant and intake handlers against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.api_catalog.handler import handler as catalog_handler
from functions.api_merchant.handler import handler as merchant_handler
from functions.intake.handler import handler as intake_handler
from shared.core import ddb
from shared.orders import store
from tests.support import MERCHANT, OTHER_MERCHANT, SHOPPER, call

AD_SLOT = {"sku": "ad-slot-home-1d", "title": "首页广告位 1 天", "category": "ad_placement", "kind": "digital",
           "price_fen": 99_00, "currency": "CNY", "stock": 20}
TEA = {"sku": "tea-longjing-250g", "title": "西湖龙井 250g", "category": "tea", "kind": "physical",
       "price_fen": 168_00, "currency": "CNY", "stock": 50}
ADDRESS = {"recipient": "张三", "phone": "13800000000", "province": "浙江", "city": "杭州", "line": "西湖区 1 号"}


def create(sku: dict[str, Any], merchant: Any = MERCHANT) -> None:
    status, body, _ = call(merchant_handler, "POST", "/merchant/skus", user=merchant, body=sku)
    assert status == 201, body


def order_body(**overrides: Any) -> dict[str, Any]:
    return {"items": [{"sku": AD_SLOT["sku"], "quantity": 1}], "target": "https://shop.example.com/store/42",
            **overrides}


def place(body: dict[str, Any], key: str = "key-00000001", user: Any = SHOPPER) -> tuple[int, Any, dict[str, str]]:
    return call(intake_handler, "POST", "/orders", user=user, body=body, headers={"Idempotency-Key": key})


def table_items() -> list[dict[str, Any]]:
    reply = ddb.dynamodb().scan(TableName=ddb.table())
    return sorted((ddb.from_item(item) for item in reply["Items"]), key=lambda item: (item["PK"], item["SK"]))


def test_merchant_creates_sku_and_shopper_finds_it_by_keyword(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    create(TEA)
    status, page, _ = call(catalog_handler, "GET", "/catalog", query={"q": "龙井"})
    assert status == 200
    assert [item["sku"] for item in page["items"]] == [TEA["sku"]]
    status, page, _ = call(catalog_handler, "GET", "/catalog", query={"category": "ad_placement"})
    assert [item["sku"] for item in page["items"]] == [AD_SLOT["sku"]]
    status, detail, _ = call(catalog_handler, "GET", f"/catalog/{TEA['sku']}")
    assert status == 200 and detail["stock"] == 50 and detail["price_fen"] == 16800


def test_merchant_cannot_touch_another_shops_sku(aws: dict[str, str]) -> None:
    create(TEA)
    status, body, headers = call(merchant_handler, "PUT", f"/merchant/skus/{TEA['sku']}/stock",
                                 user=OTHER_MERCHANT, body={"stock": 0})
    assert status == 403 and body["code"] == "not_your_sku"
    assert headers["Content-Type"] == "application/problem+json"
    _, detail, _ = call(catalog_handler, "GET", f"/catalog/{TEA['sku']}")
    assert detail["stock"] == 50


def test_shopper_cannot_create_skus(aws: dict[str, str]) -> None:
    status, body, _ = call(merchant_handler, "POST", "/merchant/skus", user=SHOPPER, body=TEA)
    assert status == 403 and body["code"] == "wrong_role"


def test_stock_is_set_across_buckets(aws: dict[str, str]) -> None:
    create(TEA)
    status, body, _ = call(merchant_handler, "PUT", f"/merchant/skus/{TEA['sku']}/stock", user=MERCHANT,
                           body={"stock": 7})
    assert status == 200 and body == {"sku": TEA["sku"], "stock": 7}
    buckets = [item["available"] for item in table_items() if item["SK"].startswith("STOCK#")]
    assert sum(buckets) == 7 and min(buckets) >= 0


def test_order_is_accepted_once_per_idempotency_key(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    first = place(order_body())
    again = place(order_body())
    assert first[0] == 202 and again[0] == 202
    assert first[1]["order_id"] == again[1]["order_id"]
    assert first[1]["status"] == "PLACED"
    orders = [item for item in table_items() if item["PK"].startswith("ORDER#")]
    assert len(orders) == 1 and orders[0]["total_fen"] == 9900 and orders[0]["version"] == 1


def test_same_key_with_another_body_is_422_and_changes_nothing(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    place(order_body())
    before = table_items()
    status, body, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 2}]))
    assert status == 422 and body["code"] == "idempotency_key_reused"
    assert table_items() == before


@pytest.mark.parametrize(
    ("headers", "raw_body", "status", "code"),
    [
        ({}, json.dumps(order_body()), 400, "idempotency_key_required"),
        ({"Idempotency-Key": "bad key!"}, json.dumps(order_body()), 400, "idempotency_key_invalid"),
        ({"Idempotency-Key": "key-00000009"}, "{not json", 400, "malformed_body"),
        ({"Idempotency-Key": "key-00000009"}, "", 422, "validation_failed"),
        ({"Idempotency-Key": "key-00000009"}, json.dumps({"items": []}), 422, "validation_failed"),
        ({"Idempotency-Key": "key-00000009"}, json.dumps(order_body(items=[{"sku": "nope-sku", "quantity": 1}])),
         422, "unknown_sku"),
        ({"Idempotency-Key": "key-00000009"}, json.dumps(order_body(items=[{"sku": "ad-slot-home-1d", "quantity": 0}])),
         422, "validation_failed"),
        ({"Idempotency-Key": "key-00000009"},
         json.dumps(order_body(items=[{"sku": "ad-slot-home-1d", "quantity": -3}])), 422, "validation_failed"),
        ({"Idempotency-Key": "key-00000009"},
         json.dumps(order_body(items=[{"sku": "ad-slot-home-1d", "quantity": 10**12}])), 422, "validation_failed"),
        ({"Idempotency-Key": "key-00000009"}, json.dumps(order_body(coupon="FREE")), 422, "validation_failed"),
        ({"Idempotency-Key": "key-00000009"}, json.dumps(order_body(target=None)), 422, "target_required"),
        ({"Idempotency-Key": "key-00000009"}, json.dumps(order_body(target="x" * 20_000)), 413, "payload_too_large"),
    ],
)
def test_bad_orders_get_a_problem_and_change_nothing(
    aws: dict[str, str], headers: dict[str, str], raw_body: str, status: int, code: str
) -> None:
    create(AD_SLOT)
    before = table_items()
    reply_status, body, reply_headers = call(intake_handler, "POST", "/orders", user=SHOPPER, raw_body=raw_body,
                                             headers=headers)
    assert (reply_status, body["code"]) == (status, code)
    assert reply_headers["Content-Type"] == "application/problem+json"
    assert body["status"] == status and body["title"] and body["detail"]
    assert table_items() == before


def test_physical_goods_need_an_address(aws: dict[str, str]) -> None:
    create(TEA)
    status, body, _ = place({"items": [{"sku": TEA["sku"], "quantity": 1}]})
    assert status == 422 and body["code"] == "shipping_address_required"
    status, body, _ = place({"items": [{"sku": TEA["sku"], "quantity": 1}], "shipping_address": ADDRESS},
                            key="key-00000002")
    assert status == 202


def test_an_order_holds_one_shops_skus(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    create({**TEA, "kind": "digital"}, merchant=OTHER_MERCHANT)
    status, body, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 1},
                                              {"sku": TEA["sku"], "quantity": 1}]))
    assert status == 422 and body["code"] == "mixed_shops"


def test_merchant_cannot_place_orders(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    status, body, _ = place(order_body(), user=MERCHANT)
    assert status == 403 and body["code"] == "wrong_role"


def test_accepted_order_is_enqueued_for_checkout(aws: dict[str, str]) -> None:
    from shared.core.aws import sqs

    create(AD_SLOT)
    _, accepted, _ = place(order_body())
    messages = sqs().receive_message(QueueUrl=aws["INTAKE_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["order_id"] for m in messages] == [accepted["order_id"]]


def test_the_same_sku_on_two_lines_is_one_line_and_unknown_duplicates_are_a_422(aws: dict[str, str]) -> None:
    # found by `make soak`'s fuzz: DynamoDB's BatchGetItem refuses duplicate keys, which answered 500
    create(AD_SLOT)
    status, accepted, _ = place(order_body(items=[{"sku": AD_SLOT["sku"], "quantity": 1},
                                                  {"sku": AD_SLOT["sku"], "quantity": 2}]))
    assert status == 202, accepted
    order = store.require(accepted["order_id"], consistent=True)
    assert [(line["sku"], line["quantity"]) for line in order.items] == [(AD_SLOT["sku"], 3)]
    status, problem, _ = place(order_body(items=[{"sku": "no-such-sku", "quantity": 1},
                                                 {"sku": "no-such-sku", "quantity": 5}]), key="key-00000002")
    assert status == 422 and problem["code"] == "unknown_sku"


def test_a_dynamodb_timeout_on_the_order_write_is_a_503_to_retry_and_the_retry_places_it(aws: dict[str, str]) -> None:
    # Found by make stress on hogged cores: a read timeout on PutItem answered 500 (AttributeError).
    from botocore.exceptions import ReadTimeoutError

    create(AD_SLOT)
    events = ddb.dynamodb().meta.events

    def time_out(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="http://dynamodb.local/")

    events.register_first("before-send.dynamodb.PutItem", time_out)
    try:
        status, body, headers = place(order_body(), key="key-timeout-1")
    finally:
        events.unregister("before-send.dynamodb.PutItem", time_out)

    assert status == 503 and body["code"] == "temporarily_unavailable", body
    assert headers["Content-Type"].startswith("application/problem+json")
    assert not [item for item in table_items() if item["PK"].startswith("ORDER#")]
    retried = place(order_body(), key="key-timeout-1")
    assert retried[0] == 202 and retried[1]["status"] == "PLACED"
