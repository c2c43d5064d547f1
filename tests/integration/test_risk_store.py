"""Risk store on moto: velocity windows, block lists in one call, shopper history, hot-key bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from infra.declaration import DECLARATION
from shared.core import aws
from shared.core.ddb import dynamodb, get, table
from shared.risk import store
from shared.risk.models import Decision, OrderFacts, RiskRules
from shared.risk.scoring import assess

T10 = datetime(2025, 3, 1, 10, 0, 10, tzinfo=UTC)


def _create_table() -> None:
    spec = DECLARATION.table
    attributes = {spec.pk, spec.sk} | {name for index in spec.indexes for name in (index.pk, index.sk)}
    dynamodb().create_table(
        TableName=table(),
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)],
        KeySchema=[
            {"AttributeName": spec.pk, "KeyType": "HASH"},
            {"AttributeName": spec.sk, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.pk, "KeyType": "HASH"},
                    {"AttributeName": index.sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in spec.indexes
        ],
    )


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A fresh moto table; yields the list of DynamoDB operations called (to count round trips)."""
    monkeypatch.setenv("TABLE_NAME", "order24-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("VELOCITY_SATURATION", raising=False)
    aws.reset_clients()
    store.reset_memo()
    with mock_aws():
        _create_table()
        calls: list[str] = []

        def count(model: Any, **_: Any) -> None:
            calls.append(model.name)

        dynamodb().meta.events.register("before-call.dynamodb.*", count)
        yield calls
    aws.reset_clients()
    store.reset_memo()


def facts(order_id: str, amount_fen: int = 10_000, **changes: Any) -> OrderFacts:
    base: dict[str, Any] = {
        "order_id": order_id,
        "shopper_id": "s-1",
        "device_id": "d-1",
        "ip": "203.0.113.7",
        "amount_fen": amount_fen,
    }
    base.update(changes)
    return OrderFacts(**base)


def place(order_id: str, at: datetime, amount_fen: int = 10_000, **changes: Any) -> bool:
    """What checkout does per order: load the signals, then record the order."""
    signals = store.load_signals(facts(order_id, amount_fen, **changes), now=at)
    return store.record_order(signals, now=at)


def velocity(at: datetime) -> dict[str, tuple[int, int]]:
    signals = store.load_signals(facts("probe"), now=at)
    return {dim: signals.velocity(dim) for dim in ("shopper", "device", "ip")}


def test_counters_accumulate_per_minute_bucket_in_one_item_per_hour(ddb: list[str]) -> None:
    place("o1", T10)
    place("o2", T10 + timedelta(seconds=30))
    place("o3", T10 + timedelta(minutes=1, seconds=10))
    place("o4", T10 + timedelta(minutes=58, seconds=50))  # 10:59:00

    item = get("VEL#shopper#s-1", "2025-03-01T10:00Z")
    assert item is not None
    assert {k: v for k, v in item.items() if k.startswith("m")} == {"m00": 2, "m01": 1, "m59": 1}
    assert item["expires_at_epoch"] == int(datetime(2025, 3, 1, 13, 0, tzinfo=UTC).timestamp())
    assert get("VEL#device#d-1", "2025-03-01T10:00Z") is not None
    assert get("VEL#ip#203.0.113.7", "2025-03-01T10:00Z") is not None


@pytest.mark.parametrize(
    ("at", "last_1m", "last_1h"),
    [
        (datetime(2025, 3, 1, 10, 1, 30, tzinfo=UTC), 3, 3),  # minutes 10:00 and 10:01
        (datetime(2025, 3, 1, 10, 2, 5, tzinfo=UTC), 1, 3),  # 10:00 has left the 1-minute window
        (datetime(2025, 3, 1, 10, 3, 0, tzinfo=UTC), 0, 3),
        (datetime(2025, 3, 1, 11, 0, 30, tzinfo=UTC), 1, 4),  # across the hour: 10:00 .. 11:00
        (datetime(2025, 3, 1, 11, 1, 0, tzinfo=UTC), 0, 2),  # 10:00 has left the 1-hour window
        (datetime(2025, 3, 1, 11, 59, 30, tzinfo=UTC), 0, 1),  # 10:59 is exactly 60 minutes back
        (
            datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC),
            0,
            0,
        ),  # the 10:00 item is no longer read (no TTL needed)
    ],
)
def test_one_minute_and_one_hour_windows_read_right(
    ddb: list[str], at: datetime, last_1m: int, last_1h: int
) -> None:
    place("o1", T10)
    place("o2", T10 + timedelta(seconds=30))
    place("o3", T10 + timedelta(minutes=1, seconds=10))
    place("o4", T10 + timedelta(minutes=58, seconds=50))

    counts = velocity(at)

    assert counts == {"shopper": (last_1m, last_1h), "device": (last_1m, last_1h), "ip": (last_1m, last_1h)}


def test_dimensions_count_apart(ddb: list[str]) -> None:
    place("o1", T10)
    place("o2", T10, shopper_id="s-2", device_id="d-2")  # same NAT IP, another shopper and device

    signals = store.load_signals(facts("probe"), now=T10)

    assert signals.velocity("shopper") == (1, 1)
    assert signals.velocity("device") == (1, 1)
    assert signals.velocity("ip") == (2, 2)


def test_block_lists_are_checked_for_every_dimension_in_one_call(
    ddb: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISK_BLOCK_CACHE_SECONDS", "0")  # the per-order path, without the cache
    store.block("device", "d-1", "chargeback ring", now=T10)
    store.block("target", "acct-spam", "fake engagement seller", now=T10)
    store.block("ip", "198.51.100.1", "other ip", now=T10)
    ddb.clear()

    signals = store.load_signals(facts("o1", target="acct-spam"), now=T10)

    assert signals.blocked == {"device", "target"}
    # One BatchGetItem (history + 4 block keys), then one Query per velocity dimension.
    assert ddb == ["BatchGetItem", "Query", "Query", "Query"]
    assert assess(signals, RiskRules(), T10).decision is Decision.REJECT


def test_unblocking_takes_effect_on_the_next_order(ddb: list[str]) -> None:
    store.block("shopper", "s-1", "test", now=T10)
    store.unblock("shopper", "s-1")

    assert store.load_signals(facts("o1"), now=T10).blocked == frozenset()


def test_history_keeps_count_max_and_average(ddb: list[str]) -> None:
    for index, amount in enumerate([10_000, 30_000, 20_000]):
        place(f"o{index}", T10 + timedelta(minutes=index), amount_fen=amount)

    signals = store.load_signals(facts("next"), now=T10 + timedelta(minutes=5))
    item = get("SHOPPER#s-1", "RISK")

    assert (signals.history_order_count, signals.history_max_amount_fen, signals.history_avg_amount_fen) == (
        3,
        30_000,
        20_000,
    )
    assert item is not None
    assert item["first_seen"] == "2025-03-01T10:00:10.000Z"
    assert item["sum_amount_fen"] == 60_000


def test_a_replayed_order_is_not_counted_twice(ddb: list[str]) -> None:
    signals = store.load_signals(facts("o1", amount_fen=40_000), now=T10)

    assert store.record_order(signals, now=T10) is True
    assert store.record_order(signals, now=T10) is False  # Express retried the step

    after = store.load_signals(facts("o2"), now=T10)
    assert (after.history_order_count, after.shopper_orders_1m, after.ip_orders_1m) == (1, 1, 1)


def test_max_never_goes_down_when_a_concurrent_order_raised_it(ddb: list[str]) -> None:
    stale = store.load_signals(facts("o1", amount_fen=30_000), now=T10)  # reads max 0
    place("o2", T10, amount_fen=50_000)  # a concurrent, larger order lands first

    assert store.record_order(stale, now=T10) is True

    item = get("SHOPPER#s-1", "RISK")
    assert item is not None
    assert (item["order_count"], item["max_amount_fen"], item["sum_amount_fen"]) == (2, 50_000, 80_000)


def test_a_saturated_hot_key_stops_writing_and_is_not_queried_again(
    ddb: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VELOCITY_SATURATION", "3")
    for index in range(5):  # five shoppers behind one carrier NAT IP
        place(f"o{index}", T10, shopper_id=f"s-{index}", device_id=f"d-{index}")

    item = get("VEL#ip#203.0.113.7", "2025-03-01T10:00Z")
    assert item is not None
    assert item["m00"] == 3  # writes stopped at the saturation level

    ddb.clear()
    signals = store.load_signals(
        facts("o9", shopper_id="s-9", device_id="d-9"), now=T10 + timedelta(seconds=1)
    )
    assert signals.ip_orders_1m == 3
    assert ddb == ["BatchGetItem", "Query", "Query"]  # the hot IP was answered from the memo


def test_checkout_flow_flags_a_burst_from_one_shopper(ddb: list[str]) -> None:
    rules = RiskRules()  # shopper: more than 3 orders a minute fires
    decisions = []
    for index in range(5):
        at = T10 + timedelta(seconds=5 * index)
        signals = store.load_signals(facts(f"o{index}"), now=at)
        decisions.append([reason.code for reason in assess(signals, rules, at).reasons])
        store.record_order(signals, now=at)

    assert decisions[:3] == [[], [], []]
    assert decisions[3] == ["velocity_shopper_1m"]  # the 4th order within a minute
    assert decisions[4] == ["velocity_shopper_1m"]  # the device limit (5 a minute) is not yet passed


def test_warm_block_list_cache_leaves_one_history_read_per_order(ddb: list[str]) -> None:
    # given a blocked target and a first order that warms the cache (one Query per block kind)
    store.block("target", "acct-spam", "fake engagement seller", now=T10)
    store.load_signals(facts("o1", target="acct-other"), now=T10)
    ddb.clear()

    # when the next orders arrive within the cache TTL
    hit = store.load_signals(facts("o2", target="acct-spam"), now=T10 + timedelta(seconds=5))
    calls_for_hit = list(ddb)
    clean = store.load_signals(facts("o3", target="acct-ok"), now=T10 + timedelta(seconds=6))

    # then membership comes from memory: the batch holds only the history item
    assert hit.blocked == {"target"} and clean.blocked == frozenset()
    assert calls_for_hit == ["BatchGetItem", "Query", "Query", "Query"]


def test_a_block_reaches_a_warm_container_when_its_cache_expires(ddb: list[str]) -> None:
    store.load_signals(facts("o1"), now=T10)  # warms an empty cache (shopper, device, ip lists)
    dynamodb().put_item(  # another container (ops tooling) blocks the device; this one has not seen it
        TableName=table(),
        Item={"PK": {"S": "BLOCK#device"}, "SK": {"S": "d-1"}, "reason": {"S": "ring"}},
    )

    assert store.load_signals(facts("o2"), now=T10 + timedelta(seconds=30)).blocked == frozenset()
    assert store.load_signals(facts("o3"), now=T10 + timedelta(seconds=61)).blocked == {"device"}


def test_a_block_list_too_long_to_cache_is_looked_up_per_order(
    ddb: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BLOCK_CACHE_MAX_ITEMS", 2)
    for index in range(3):
        store.block("ip", f"198.51.100.{index}", "abuse", now=T10)

    signals = store.load_signals(facts("o1", ip="198.51.100.2"), now=T10)

    assert signals.blocked == {"ip"}
