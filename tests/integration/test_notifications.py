"""Notifications come from the table's stream (the outbox): stored once, published after the commit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from shared.core.aws import dynamodb, sqs
from shared.core.aws import sns as aws_sns
from shared.notifications import publisher
from shared.orders import store
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    deliver_order,
    fresh_sandbox_fixture,
    fulfilling_order,
    get,
    logistics_fixture,
    orders_api,
    ship_order,
)
from tests.integration.test_logistics import STEPS, k100_push, shipped
from tests.support import OTHER_SHOPPER, SHOPPER, call, context


@pytest.fixture(autouse=True)
def _sandbox(fresh_sandbox: None) -> None:
    return None


def stream_event() -> dict[str, Any]:
    """Everything the table's stream holds now, as Lambda's event-source mapping would hand it over."""
    import boto3

    # in-process moto answers streams only on the classic host (newer botocore resolves another one)
    streams = boto3.client("dynamodbstreams", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
    arn = dynamodb().describe_table(TableName="order24-test")["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for raw in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            change = dict(raw["dynamodb"])
            if isinstance(change.get("ApproximateCreationDateTime"), datetime):
                change["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"].timestamp())
            records.append({**raw, "dynamodb": change, "awsRegion": "us-east-1", "eventSourceARN": arn})
    return {"Records": records}


def notify(event: dict[str, Any]) -> dict[str, Any]:
    from functions.notifier.handler import handler

    result: dict[str, Any] = handler(event, context("notifier"))
    return result


def my_notifications(user: Any = SHOPPER, **query: str) -> dict[str, Any]:
    status, body = get("/me/notifications", user, query=query or None)
    assert status == 200, body
    return dict(body)


@pytest.fixture
def sns_inbox(aws: dict[str, str]) -> str:
    """An SQS queue subscribed to the topic, to see what was published."""
    url = sqs().create_queue(QueueName="notifications-probe")["QueueUrl"]
    queue_arn = sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws_sns().subscribe(TopicArn=aws["NOTIFICATIONS_TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn)
    return str(url)


def published(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        found += [json.loads(m["Body"]) for m in batch]


def test_digital_journey_notifies_paid_approved_delivered(
    aws: dict[str, str], sns_inbox: str
) -> None:
    order = fulfilling_order()
    deliver_order(order.order_id)
    assert notify(stream_event()) == {"batchItemFailures": []}
    page = my_notifications()
    # completion comes in the same write as delivery, so "delivered" is the shopper's last word
    assert [n["type"] for n in page["items"]] == ["delivered", "approved", "paid"]
    assert {n["order_id"] for n in page["items"]} == {order.order_id}
    messages = published(sns_inbox)
    assert sorted(m["MessageAttributes"]["type"]["Value"] for m in messages) == ["approved", "delivered", "paid"]
    assert {m["MessageAttributes"]["order_id"]["Value"] for m in messages} == {order.order_id}


def test_physical_journey_notifies_shipped_out_for_delivery_delivered(
    logistics: dict[str, str], sns_inbox: str
) -> None:
    order = shipped()
    k100_push(order, "OUT_FOR_DELIVERY", history=STEPS[:3])
    k100_push(order, "SIGNED", history=STEPS)
    notify(stream_event())
    types = [n["type"] for n in my_notifications()["items"]]
    assert types == ["delivered", "out_for_delivery", "shipped", "approved", "paid"]


def test_redelivered_stream_records_never_duplicate(aws: dict[str, str], sns_inbox: str) -> None:
    order = fulfilling_order()
    deliver_order(order.order_id)
    event = stream_event()
    notify(event)
    notify(event)  # the event-source mapping hands the same batch over again
    assert len(my_notifications()["items"]) == 3
    assert len(published(sns_inbox)) == 3


def test_refund_notifies_the_shopper(logistics: dict[str, str]) -> None:
    order = fulfilling_order(quantity=4, target="t#partial")
    deliver_order(order.order_id)
    notify(stream_event())
    items = my_notifications()["items"]
    assert [n["type"] for n in items].count("refunded") == 1
    assert store.require(order.order_id).payment["refunded_fen"] == 2 * 9900


def test_failed_publish_reports_the_record_and_stores_nothing_until_it_succeeds(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    order = fulfilling_order()
    event = stream_event()
    real = publisher.publish_batch

    def sns_refuses_approved(notes: list[dict[str, Any]]) -> set[str]:
        refused = {note["sk"] for note in notes if note["type"] == "approved"}
        return real([note for note in notes if note["sk"] not in refused]) | refused

    monkeypatch.setattr(publisher, "publish_batch", sns_refuses_approved)
    result = notify(event)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    approved_record = event["Records"][-1]["dynamodb"]["SequenceNumber"]
    assert failed == {approved_record}
    assert [n["type"] for n in my_notifications()["items"]] == ["paid"]
    # the retry, with SNS back, delivers what was missing and nothing twice
    monkeypatch.setattr(publisher, "publish_batch", real)
    assert notify(event) == {"batchItemFailures": []}
    assert [n["type"] for n in my_notifications()["items"]] == ["approved", "paid"]
    assert order.status == "FULFILLING"  # the order itself was never blocked


def test_read_marker_moves_forward_only_and_shoppers_see_only_their_own(aws: dict[str, str]) -> None:
    order = fulfilling_order()
    deliver_order(order.order_id)
    notify(stream_event())
    items = my_notifications()["items"]
    middle = items[1]["id"]  # "approved"
    status, body, _ = call(orders_api, "POST", "/me/notifications/read", user=SHOPPER, body={"up_to": middle})
    assert status == 200 and body == {"read_up_to": middle}
    assert [n["read"] for n in my_notifications()["items"]] == [False, True, True]
    # an older marker never moves it back
    status, body, _ = call(
        orders_api, "POST", "/me/notifications/read", user=SHOPPER, body={"up_to": items[2]["id"]}
    )
    assert body == {"read_up_to": middle}
    # a bare time marks everything at that time
    call(orders_api, "POST", "/me/notifications/read", user=SHOPPER, body={"up_to": items[0]["at"]})
    assert all(n["read"] for n in my_notifications()["items"])
    assert my_notifications(OTHER_SHOPPER)["items"] == []


def test_notifications_page_with_a_cursor(aws: dict[str, str]) -> None:
    from shared.notifications import store as notes

    monkey_size = notes.PAGE_SIZE
    notes.PAGE_SIZE = 2
    try:
        order = fulfilling_order()
        deliver_order(order.order_id)
        notify(stream_event())
        first = my_notifications()
        second = my_notifications(cursor=first["cursor"])
        assert len(first["items"]) == 2 and [n["type"] for n in second["items"]] == ["paid"]
    finally:
        notes.PAGE_SIZE = monkey_size


def test_a_stream_batch_publishes_ten_notifications_per_request(
    aws: dict[str, str], sns_inbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given four delivered orders: 12 notifications (paid, approved, delivered) in one stream batch
    for n in range(4):
        deliver_order(fulfilling_order(key=f"key-batch-{n:04d}").order_id)
    sns = aws_sns()
    requests: list[int] = []
    real = sns.publish_batch

    def counted(**kwargs: Any) -> Any:
        requests.append(len(kwargs["PublishBatchRequestEntries"]))
        return real(**kwargs)

    monkeypatch.setattr(sns, "publish_batch", counted)
    # when the notifier takes the batch
    assert notify(stream_event()) == {"batchItemFailures": []}
    # then two requests carried all twelve, and every one reached the topic and the store
    assert requests == [10, 2]
    assert len(published(sns_inbox)) == 12
    assert len(my_notifications()["items"]) == 12


def test_entries_sns_reports_failed_are_the_ones_retried(aws: dict[str, str]) -> None:
    from botocore.stub import ANY, Stubber

    notes = [{"sk": f"2026-12-01T00:00:0{i}Z#o1#000{i}", "type": "paid", "order_id": "o1"} for i in range(3)]
    sns = aws_sns()
    with Stubber(sns) as stub:
        stub.add_response("publish_batch", {
            "Successful": [{"Id": "0", "MessageId": "m0"}, {"Id": "2", "MessageId": "m2"}],
            "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False}],
        }, {"TopicArn": ANY, "PublishBatchRequestEntries": ANY})
        assert publisher.publish_batch(notes) == {notes[1]["sk"]}
