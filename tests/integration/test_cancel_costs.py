"""What a paid cancel costs: DynamoDB calls per cancel, and the latency from the request to the refund issued
(the provider answered and the refund is recorded `succeeded`), p50/p99 over RUNS paid orders.

    .venv/bin/python -m pytest tests/integration/test_cancel_costs.py -q -s -p no:randomly -n 0
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from shared.core import ddb
from shared.orders import store
from tests.integration.test_cancel_by_stage import cancel, paid_order
from tests.integration.test_payments_costs import dynamodb_calls  # noqa: F401  (fixture)
from tests.integration.test_payments_helpers import install_payments

RUNS = 50


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_paid_cancel_latency_to_refund_issued(payments: dict[str, Any], dynamodb_calls: Counter[str],  # noqa: F811
                                              provider: str) -> None:
    samples: list[float] = []
    calls: Counter[str] = Counter()
    for run in range(RUNS):
        order_id = paid_order(provider).order_id if run == 0 else _paid(provider, run)
        dynamodb_calls.clear()
        started = time.perf_counter()
        status, body = cancel(order_id)
        samples.append((time.perf_counter() - started) * 1000)
        assert status == 200 and body["payment"]["refunds"]["cancel"]["state"] == "succeeded", body
        calls = Counter(dynamodb_calls)
        payment = store.require(order_id).payment or {}
        assert payment["amount_fen"] - payment["refunded_fen"] == 0
    print(f"\n{provider}: paid cancel -> refund issued over {RUNS} runs: p50 {statistics.median(samples):.0f} ms, "
          f"p99 {percentile(samples, 0.99):.0f} ms, max {max(samples):.0f} ms; dynamodb calls per cancel "
          f"{dict(calls)}")
    assert statistics.median(samples) < 2000


def _paid(provider: str, run: int) -> str:
    """Another paid order (a new Idempotency-Key each run), paid through the provider's capture path."""
    from shared.core.clock import now_iso
    from shared.payments import service
    from shared.payments.models import Capture, Provider
    from tests.integration.test_payments import pay
    from tests.integration.test_payments_helpers import awaiting_order

    order_id = awaiting_order(key=f"cancel-cost-{run:04d}")
    pay(order_id, {"provider": provider})
    service.record_capture(Capture(Provider(provider), order_id, f"tx-{provider}-{run}", 9900, "CNY", now_iso(),
                                   f"{provider}:ev{run}"))
    assert ddb.get(store.order_pk(order_id), store.ORDER) is not None
    return order_id
