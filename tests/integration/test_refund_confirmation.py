"""Refunds confirmed the way each provider settles them, on moto with the sandbox providers:

* Alipay: `alipay.trade.refund` answering code 10000 only means "accepted": the grant is recorded as accepted
  (requested + provider ref) and confirmed by `alipay.trade.fastpay.refund.query` at once, and again by the
  order's and the case's REFUND timers while it is pending (`refunds.confirm`);
* WeChat Pay: a PROCESSING refund settles by its REFUND.SUCCESS / ABNORMAL / CLOSED notification, sent by the
  sandbox signed and encrypted like its payment notification, through the real notify handler; ABNORMAL and
  CLOSED settle as failed and go to the ops inbox; an unknown refund goes to ops unmatched; a replay changes
  nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.api_ops.handler import handler as api_ops
from shared.aftersales import refunding, timers
from shared.aftersales import store as cases
from shared.aftersales.states import CaseStatus
from shared.core import ddb
from shared.core.clock import now
from shared.orders import lifecycle, store
from shared.orders.store import order_key
from shared.payments import ledger, refunds
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_after_sales_cases import REFUND_ONLY, open_case, tea_order
from tests.integration.test_catalog_and_intake import TEA
from tests.integration.test_payments import paid_order
from tests.integration.test_payments_helpers import install_payments, post_wechat, wechat_refund_notification
from tests.support import OPS, call


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    yield from install_payments(monkeypatch)
    SandboxHttpClient.reset_refunds()


def calls(api: str, reference: str) -> int:
    return SandboxHttpClient.calls.count((api, reference))


def grant(order_id: str, key: str) -> dict[str, Any]:
    record: dict[str, Any] = store.require(order_id, consistent=True).payment["refunds"][key]  # type: ignore[index]
    return record


def ops_inbox(kind: str) -> list[dict[str, Any]]:
    status, page, _ = call(api_ops, "GET", f"/ops/inbox/{kind}", user=OPS)
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


def paid_by(order_id: str, provider: str) -> None:
    """The fulfilling order helper pays by card: say the capture was another provider's (same trade number)."""
    ddb.dynamodb().update_item(TableName=ddb.table(), Key=order_key(order_id),
                               UpdateExpression="SET payment.provider = :p", ExpressionAttributeValues=ddb.values(
                                   p=provider))


def case_on(order_id: str, provider: str) -> Any:
    paid_by(order_id, provider)
    status, reply = open_case(order_id, {**REFUND_ONLY, "lines": [{"sku": TEA["sku"], "quantity": 1}]})
    assert status == 201, reply
    return cases.get(reply["case_id"], consistent=True)


def has_timer(order_id: str) -> bool:
    return store.require(order_id, consistent=True).has("GSI3PK")


# ------------------------------------------------------------------ Alipay: accepted, then confirmed by the query


def test_an_alipay_refund_is_recorded_accepted_and_confirmed_by_the_refund_query_at_once(payments: Any) -> None:
    order = paid_order("alipay")
    done = refunds.refund(order, 3000, refund_key="rma-1", reason="damaged", actor="ops:1")
    record = done.payment["refunds"]["rma-1"]  # type: ignore[index]
    out_refund_no = f"{order.order_id}-rma-1"
    assert record["state"] == "succeeded" and record["provider_refund_id"].endswith(f":{out_refund_no}")
    assert record["detail"] == "Alipay refund query: REFUND_SUCCESS"
    assert SandboxHttpClient.calls[-2:] == [("alipay.refund", out_refund_no), ("alipay.refund_query", out_refund_no)]
    assert done.payment["refunded_fen"] == 3000  # type: ignore[index]


def test_an_alipay_exit_refund_not_processed_yet_stays_pending_until_its_timer_confirms_it(payments: Any) -> None:
    SandboxHttpClient.alipay_refunds_held = True
    order = paid_order("alipay")
    cancelled = refunds.cancel_and_refund(order, reason="shopper_cancelled", actor="shopper:test")
    out_refund_no = f"{order.order_id}-cancel"
    record = cancelled.payment["refunds"]["cancel"]  # type: ignore[index]
    assert record["state"] == "requested" and record["provider_refund_id"]  # accepted, not confirmed
    assert cancelled.payment["refunded_fen"] == 0 and has_timer(order.order_id)  # type: ignore[index]
    pending = ledger.ledger(cancelled)
    assert (pending.refund_pending_fen, pending.refunded_fen, pending.net_kept_fen) == (9900, 0, 0)

    assert lifecycle.sweep(now() + timedelta(minutes=3), kinds=("REFUND",))["refund_pending"] == 1
    assert grant(order.order_id, "cancel")["state"] == "requested" and has_timer(order.order_id)

    SandboxHttpClient.release_alipay_refunds()  # Alipay processes it
    assert lifecycle.sweep(now() + timedelta(minutes=6), kinds=("REFUND",))["refund_settled"] == 1
    settled = store.require(order.order_id, consistent=True)
    assert settled.payment["refunds"]["cancel"]["state"] == "succeeded"  # type: ignore[index]
    assert settled.payment["refunded_fen"] == 9900 and not has_timer(order.order_id)  # type: ignore[index]
    assert calls("alipay.refund", out_refund_no) == 1  # asked about three times, sent once
    assert calls("alipay.refund_query", out_refund_no) == 3
    assert lifecycle.sweep(now() + timedelta(minutes=9), kinds=("REFUND",)) == {}


def test_an_alipay_refund_unconfirmed_for_an_hour_goes_to_the_ops_inbox_once(payments: Any) -> None:
    SandboxHttpClient.alipay_refunds_held = True
    order = refunds.cancel_and_refund(paid_order("alipay"), reason="shopper_cancelled", actor="shopper:test")
    assert lifecycle.sweep(now() + timedelta(minutes=3), kinds=("REFUND",))["refund_pending"] == 1
    assert ops_inbox("refund_issue") == []
    assert lifecycle.sweep(now() + timedelta(minutes=61), kinds=("REFUND",))["refund_pending"] == 1
    assert lifecycle.sweep(now() + timedelta(minutes=64), kinds=("REFUND",))["refund_pending"] == 1
    [entry] = ops_inbox("refund_issue")
    assert entry["ref"] == f"{order.order_id}:cancel" and "accepted, not confirmed" in entry["summary"]


def test_an_alipay_case_refund_pending_is_confirmed_by_the_case_timer_and_the_case_ends_refunded(
        payments: Any) -> None:
    SandboxHttpClient.alipay_refunds_held = True
    order_id = tea_order()
    case = case_on(order_id, "alipay")
    waiting = refunding.start_refund(case, actor="system:test", reason="flash")
    key = refunding.refund_key(case.case_id)
    assert waiting.status is CaseStatus.REFUNDING and grant(order_id, key)["provider_refund_id"]
    assert timers.sweep(now() + timedelta(minutes=10))["case_refund_pending"] == 1
    SandboxHttpClient.release_alipay_refunds()
    assert timers.sweep(now() + timedelta(minutes=20))["case_refund_settled"] == 1
    refunded = cases.get(case.case_id, consistent=True)
    assert refunded is not None and refunded.status is CaseStatus.REFUNDED
    assert grant(order_id, key)["state"] == "succeeded"
    assert calls("alipay.refund", f"{order_id}-{key}") == 1
    assert timers.sweep(now() + timedelta(minutes=30)) == {}  # REFUNDED dropped the timer


# ------------------------------------------------------------------ WeChat Pay: PROCESSING, then REFUND.*


def test_a_processing_wechat_refund_settles_by_the_sandbox_refund_success_notification_once(payments: Any) -> None:
    SandboxHttpClient.wechat_refund_outcome = "SUCCESS"
    order = paid_order("wechatpay")
    accepted = refunds.refund(order, 2500, refund_key="gw", reason="goodwill", actor="ops:1")
    record = accepted.payment["refunds"]["gw"]  # type: ignore[index]
    assert record["state"] == "requested" and record["provider_refund_id"].startswith("50")
    assert ledger.ledger(accepted).refund_pending_fen == 2500
    [notification] = SandboxHttpClient.outbox  # signed and AEAD-encrypted, as WeChat sends it
    assert notification.url.endswith("/payments/wechatpay/notify")
    for _ in range(3):  # WeChat re-sends until acknowledged: a replay changes nothing
        status, _, _ = post_wechat(notification.headers, notification.body)
        assert status == 204
    settled = store.require(order.order_id, consistent=True)
    assert settled.payment["refunds"]["gw"]["state"] == "succeeded"  # type: ignore[index]
    assert settled.payment["refunded_fen"] == 2500  # type: ignore[index]
    assert [e.type for e in settled.events].count("refunded") == 1
    assert calls("wechatpay.refund", f"{order.order_id}-gw") == 1
    again = refunds.refund(settled, 2500, refund_key="gw", reason="goodwill", actor="ops:1")
    assert again.version == settled.version and calls("wechatpay.refund", f"{order.order_id}-gw") == 1


@pytest.mark.parametrize("outcome", ["ABNORMAL", "CLOSED"])
def test_an_abnormal_or_closed_wechat_refund_settles_failed_and_goes_to_the_ops_inbox(
        payments: Any, outcome: str) -> None:
    SandboxHttpClient.wechat_refund_outcome = outcome
    order = paid_order("wechatpay")
    refunds.refund(order, 4000, refund_key="rma-9", reason="damaged", actor="ops:1")
    [notification] = SandboxHttpClient.outbox
    assert post_wechat(notification.headers, notification.body)[0] == 204
    record = grant(order.order_id, "rma-9")
    assert record["state"] == "failed" and record["detail"] == f"WeChat Pay refund {outcome}"
    [entry] = ops_inbox("refund_issue")
    assert entry["ref"] == f"{order.order_id}:rma-9" and outcome in entry["summary"]
    sums = ledger.ledger(store.require(order.order_id, consistent=True))
    assert (sums.refund_pending_fen, sums.refunded_fen, sums.refund_failed_fen) == (0, 0, 4000)
    assert post_wechat(notification.headers, notification.body)[0] == 204  # a replay: still one entry
    assert len(ops_inbox("refund_issue")) == 1


def test_a_wechat_case_refund_processing_ends_refunded_when_its_notification_arrives(payments: Any) -> None:
    SandboxHttpClient.wechat_refund_outcome = "SUCCESS"
    order_id = tea_order()
    case = case_on(order_id, "wechatpay")
    waiting = refunding.start_refund(case, actor="system:test", reason="flash")
    assert waiting.status is CaseStatus.REFUNDING
    assert timers.sweep(now() + timedelta(minutes=10))["case_refund_pending"] == 1  # no query: it waits
    [notification] = SandboxHttpClient.outbox
    assert post_wechat(notification.headers, notification.body)[0] == 204
    refunded = cases.get(case.case_id, consistent=True)
    assert refunded is not None and refunded.status is CaseStatus.REFUNDED


def test_a_refund_notification_for_an_unknown_refund_goes_to_ops_unmatched(payments: Any) -> None:
    order = paid_order("wechatpay")
    headers, body = wechat_refund_notification(order.order_id, f"{order.order_id}-nobody", 100, 9900)
    assert post_wechat(headers, body)[0] == 204  # acknowledged: retrying would not make it ours
    [entry] = ops_inbox("unmatched_payment")
    assert entry["ref"] == f"wechatpay:refund:{order.order_id}-nobody"
    assert store.require(order.order_id, consistent=True).version == order.version
