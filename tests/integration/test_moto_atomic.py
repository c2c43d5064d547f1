"""The local DynamoDB emulation (infra/local/moto_patches.py): a cancelled transaction leaves no trace, not in the
items, not in a GSI, not in the stream, and no reader ever sees its writes in flight."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.core import ddb
from tests.integration.test_catalog_and_intake import AD_SLOT, create

SKU = AD_SLOT["sku"]  # 20 units over 4 buckets of 5


def bucket(index: int, delta: int) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": ddb.table(), "Key": ddb.key(f"SKU#{SKU}", f"STOCK#{index:03d}"),
        "UpdateExpression": "SET available = available + :delta",
        "ExpressionAttributeValues": ddb.values(delta=delta)}
    if delta < 0:
        update["ConditionExpression"] = "available >= :need"
        update["ExpressionAttributeValues"].update(ddb.values(need=-delta))
    return {"Update": update}


def failing_order_update() -> dict[str, Any]:
    return {"Update": {
        "TableName": ddb.table(), "Key": ddb.key("ORDER#nope", "ORDER"),
        "UpdateExpression": "SET #s = :to", "ConditionExpression": "#s = :from",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": ddb.values(to="AWAITING_PAYMENT", **{"from": "PLACED"})}}


def buckets() -> list[int]:
    reply = ddb.dynamodb().query(TableName=ddb.table(), ConsistentRead=True,
                                 KeyConditionExpression="PK = :pk AND begins_with(SK, :p)",
                                 ExpressionAttributeValues=ddb.values(pk=f"SKU#{SKU}", p="STOCK#"))
    return [int(ddb.from_item(item)["available"]) for item in reply["Items"]]


class Stream:
    """A reader positioned at the stream's current end."""

    def __init__(self) -> None:
        # botocore's account-based endpoint (<account>.streams-ddb...) is not one moto's in-process mock knows
        self.streams = boto3.client("dynamodbstreams", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
        self.arn = ddb.dynamodb().describe_table(TableName=ddb.table())["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard,
                                                        ShardIteratorType="LATEST")["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        reply = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
        self.iterator = reply["NextShardIterator"]
        return [dict(record) for record in reply["Records"]]


def keys_of(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["Keys"]["SK"]["S"] for record in records]


def test_last_item_failing_rolls_back_earlier_decrements_and_their_stream_records(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    stream = Stream()
    with pytest.raises(ClientError) as caught:
        ddb.dynamodb().transact_write_items(TransactItems=[bucket(0, -1), bucket(1, -2), failing_order_update()])
    reasons = [reason["Code"] for reason in caught.value.response["CancellationReasons"]]
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert buckets() == [5, 5, 5, 5]
    assert stream.read() == []
    # The log goes on where it was: the next commit is the next record, nothing skipped, nothing reused.
    ddb.dynamodb().transact_write_items(TransactItems=[bucket(2, -1)])
    after = stream.read()
    assert keys_of(after) == ["STOCK#002"]
    assert after[0]["dynamodb"]["OldImage"]["available"] == {"N": "5"}
    assert buckets() == [5, 5, 4, 5]


def test_a_rolled_back_put_leaves_no_item_and_no_gsi_entry(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    stream = Stream()
    new_item = {"PK": "ORDER#ghost", "SK": "ORDER", "status": "PLACED", "GSI3PK": "DUE#ghost", "GSI3SK": "x"}
    with pytest.raises(ClientError):
        ddb.dynamodb().transact_write_items(TransactItems=[
            {"Put": {"TableName": ddb.table(), "Item": ddb.to_item(new_item)}}, bucket(0, -6)])  # only 5 there
    assert "Item" not in ddb.dynamodb().get_item(TableName=ddb.table(), Key=ddb.key("ORDER#ghost", "ORDER"))
    assert ddb.dynamodb().query(TableName=ddb.table(), IndexName="by_due", KeyConditionExpression="GSI3PK = :p",
                                ExpressionAttributeValues=ddb.values(p="DUE#ghost"))["Items"] == []
    assert stream.read() == [] and buckets() == [5, 5, 5, 5]


def test_two_writes_to_one_item_are_refused_whole(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    stream = Stream()
    with pytest.raises(ClientError) as caught:
        ddb.dynamodb().transact_write_items(TransactItems=[bucket(1, -1), bucket(0, -1), bucket(0, -1)])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert buckets() == [5, 5, 5, 5]
    assert stream.read() == []


def test_an_invalid_item_after_a_valid_one_is_refused_whole(aws: dict[str, str]) -> None:
    create(AD_SLOT)
    stream = Stream()
    invalid = bucket(1, -1)
    invalid["Update"]["UpdateExpression"] = "SET available = available + :undefined"  # no such value
    with pytest.raises(ClientError) as caught:
        ddb.dynamodb().transact_write_items(TransactItems=[bucket(0, -1), invalid])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert buckets() == [5, 5, 5, 5]
    assert stream.read() == []


def test_a_stream_reader_never_sees_a_transaction_that_is_rolled_back(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stream reads go through moto's DynamoDB Streams handler, not the DynamoDB one. Unless the
    emulation serialises both, a poller reads a transaction's first write before the rollback removes it,
    then the next real commit reuses that sequence number and the poller, already past it, loses it."""
    from moto.dynamodb.models.table import StreamShard

    create(AD_SLOT)
    stream = Stream()
    wrote, go = threading.Event(), threading.Event()
    original = StreamShard.add

    def add_then_pause(self: StreamShard, *args: Any) -> None:
        original(self, *args)
        if threading.current_thread().name == "transaction":  # inside the transaction, after its first write
            wrote.set()
            go.wait(timeout=5)

    monkeypatch.setattr(StreamShard, "add", add_then_pause)
    errors: list[BaseException] = []

    def transaction() -> None:
        try:
            ddb.dynamodb().transact_write_items(TransactItems=[bucket(0, -1), failing_order_update()])
        except ClientError as error:
            errors.append(error)

    writer = threading.Thread(target=transaction, name="transaction")
    writer.start()
    assert wrote.wait(timeout=5)
    seen: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: seen.append(stream.read()))
    reader.start()
    reader.join(timeout=1.0)  # without the lock it has read the in-flight write by now
    go.set()
    writer.join(timeout=10)
    reader.join(timeout=10)
    assert errors and seen == [[]], [keys_of(batch) for batch in seen]
    ddb.dynamodb().transact_write_items(TransactItems=[bucket(3, -1)])
    assert keys_of(stream.read()) == ["STOCK#003"]  # the real commit is delivered, not skipped
