"""What delivering an entitlement costs: one ledger put (1 WRU) beside the one order write, and a single
Query to read it back. Run with -s to see the measured figures."""

from __future__ import annotations

import statistics
import time
from collections import Counter

import pytest

from shared.core import ddb
from shared.entitlements import store as ledger
from tests.integration.test_entitlements import MEMBERSHIP
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    deliver_order,
    fresh_sandbox_fixture,
    fulfilling_order,
    get,
)
from tests.integration.test_payments_costs import dynamodb_calls  # noqa: F401
from tests.support import SHOPPER
from tools.bench import meter

ORDERS = 10


@pytest.fixture(autouse=True)
def _sandbox(fresh_sandbox: None) -> None:
    return None


def test_delivering_a_membership_is_one_ledger_put_beside_the_one_order_write(
    aws: dict[str, str], dynamodb_calls: Counter[str]  # noqa: F811 (the fixture imported above)
) -> None:
    times = []
    for n in range(ORDERS):
        order = fulfilling_order(MEMBERSHIP, key=f"key-cost-{n:04d}")
        dynamodb_calls.clear()
        start = time.perf_counter()
        assert deliver_order(order.order_id)["status"] == "COMPLETED"
        times.append((time.perf_counter() - start) * 1000)
        assert dict(dynamodb_calls) == {"GetItem": 1, "PutItem": 1, "UpdateItem": 1}
    raw = ddb.dynamodb().query(TableName=ddb.table(), KeyConditionExpression="PK = :pk",
                               ExpressionAttributeValues=ddb.values(pk=ledger.pk(SHOPPER.sub)))["Items"]
    biggest = max(meter.item_size(item) for item in raw)
    assert meter.write_units(biggest) == 1  # no index is projected: the entry is the whole write
    print(f"\ndeliver (membership, warm, in-process moto): median {statistics.median(times):.1f} ms; "
          f"ledger entry {biggest} bytes = {meter.write_units(biggest)} WRU")

    dynamodb_calls.clear()
    times = []
    for _ in range(ORDERS):
        start = time.perf_counter()
        assert get("/me/entitlements", SHOPPER)[0] == 200
        times.append((time.perf_counter() - start) * 1000)
    assert dict(dynamodb_calls) == {"Query": ORDERS}
    units = meter.read_units(sum(meter.item_size(item) for item in raw), consistent=False)
    print(f"GET /me/entitlements with {len(raw)} entries: median {statistics.median(times):.1f} ms, "
          f"1 Query = {units} RRU")
