"""Flash refunds (闪电退款) through the real api_orders handler on moto: an eligible refund_only case is approved
and refunded as it opens, without a person, by one of three rules (not_shipped, digital_undelivered,
good_standing) read from the flags; every refusal leaves the case REQUESTED for the merchant with its reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.aftersales import refunding, timers
from shared.aftersales import store as cases
from shared.core import ddb
from shared.core.clock import now, now_iso
from shared.core.errors import Unavailable
from shared.entitlements import service as entitlements
from shared.orders import store
from shared.orders.models import OrderStatus
from shared.payments import providers
from shared.risk import flags
from shared.risk import store as risk_store
from shared.risk.models import RiskSignals
from shared.sandbox.payments import SandboxHttpClient
from tests.integration.test_after_sales_cases import open_case, read
from tests.integration.test_catalog_and_intake import AD_SLOT, TEA
from tests.integration.test_entitlements import MEMBERSHIP
from tests.integration.test_fulfilment_helpers import deliver_order, fulfilling_order, logistics_fixture  # noqa: F401
from tests.integration.test_payments_helpers import install_payments
from tests.support import SHOPPER

SHIPPED_FLAGS = Path(flags.DEFAULT_FLAGS_FILE)
DOWN = "https://shop.example.com/s/flash#down"  # the sandbox digital provider never answers this target


@pytest.fixture
def payments(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    """Sandbox payment providers, a fresh digital sandbox, and the shipped flags document."""
    from shared.sandbox import digital

    digital.reset()
    for name in ("RISK_FLAGS_FILE", "RISK_MODE", "APPCONFIG_APPLICATION"):
        monkeypatch.delenv(name, raising=False)
    flags.reset()
    risk_store.reset_memo()
    yield from install_payments(monkeypatch)
    flags.reset()
    risk_store.reset_memo()


def use_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: dict[str, Any]) -> None:
    """The shipped flags document with `flash_refunds` rules changed (e.g. not_shipped={"max_amount_fen": 1})."""
    document = json.loads(SHIPPED_FLAGS.read_text())
    value = document["flash_refunds"]["default"]
    for rule, fields in changes.items():
        value[rule] = {**value[rule], **fields} if isinstance(value[rule], dict) else fields
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(document))
    monkeypatch.setenv("RISK_FLAGS_FILE", str(path))
    flags.reset()


def ask(order_id: str, sku: dict[str, Any] = TEA, *, quantity: int = 1, reason: str = "no_longer_needed",
        kind: str = "refund_only", key: str = "case-key-0001") -> dict[str, Any]:
    status, case = open_case(order_id, {"type": kind, "lines": [{"sku": sku["sku"], "quantity": quantity}],
                                        "reason_code": reason}, key=key)
    assert status == 201, case
    return case  # type: ignore[no-any-return]


def ledger_grant(order_id: str, case_id: str) -> dict[str, Any]:
    payment = store.require(order_id, consistent=True).payment or {}
    return dict((payment.get("refunds") or {})[refunding.refund_key(case_id)])


def refund_calls(order_id: str) -> int:
    return sum(1 for api, ref in SandboxHttpClient.calls if api.endswith("refund") and ref.startswith(order_id))


def shipped(order_id: str) -> None:
    order = store.require(order_id, consistent=True)
    store.transition(order, OrderStatus.SHIPPED, actor="system:ship", reason="shipped", set_fields={
        "shipment": {"warehouse": "HZ1", "carrier": "shunfeng", "tracking_number": "SF1", "created_at": now_iso()}})


def good_history(orders: int = 3) -> None:
    for n in range(orders):
        risk_store.record_order(RiskSignals(shopper_id=SHOPPER.sub, order_id=f"o-history-{n}", amount_fen=100_00))


# ---------------------------------------------------------------- not_shipped


def test_an_unshipped_order_is_refunded_at_once_without_a_person(payments: Any) -> None:
    order_id = str(fulfilling_order(TEA, quantity=2).order_id)

    case = ask(order_id, quantity=2)

    assert case["status"] == "REFUNDED"
    assert case["flash"] | {"decided_at": None} == {"eligible": True, "rule": "not_shipped", "decided_at": None,
                                                   "reasons": ["not_shipped:matched"], "rules_version": "local-2026-12"}
    assert [(e["to_status"], e["actor"], e.get("reason")) for e in case["history"]] == [
        ("REQUESTED", f"shopper:{SHOPPER.sub}", "no_longer_needed"),
        ("REFUNDING", "system:flash", "flash_refund:not_shipped"),
        ("REFUNDED", "system:refunds", "refund_succeeded")]
    grant = ledger_grant(order_id, case["case_id"])
    assert (grant["amount_fen"], grant["state"]) == (2 * 168_00, "succeeded")
    assert read(f"/after-sales/{case['case_id']}")[1] == case  # CaseView shows the decision too
    assert ask(order_id, quantity=2) == case  # a replay: the same case, decided once, refunded once
    assert refund_calls(order_id) == 1


def test_a_shipped_order_is_not_refunded_by_the_not_shipped_rule(payments: Any) -> None:
    order_id = str(fulfilling_order(TEA).order_id)
    shipped(order_id)

    case = ask(order_id, reason="not_received")

    assert case["status"] == "REQUESTED"
    assert case["flash"]["eligible"] is False and case["flash"]["rule"] is None
    assert case["flash"]["reasons"] == ["not_shipped:already_shipped", "digital_undelivered:not_digital",
                                        "good_standing:few_orders"]
    assert [e["to_status"] for e in case["history"]] == ["REQUESTED"] and refund_calls(order_id) == 0


def test_a_reason_the_rules_do_not_take_goes_to_the_merchant(payments: Any) -> None:
    order_id = str(fulfilling_order(TEA).order_id)
    case = ask(order_id, reason="damaged")
    assert case["status"] == "REQUESTED"
    assert case["flash"]["reasons"] == ["not_shipped:reason_not_covered", "digital_undelivered:reason_not_covered",
                                        "good_standing:reason_not_covered"]


def test_an_amount_over_the_flagged_limit_goes_to_the_merchant(payments: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    use_flags(tmp_path, monkeypatch, not_shipped={"max_amount_fen": 2 * 168_00 - 1})
    order_id = str(fulfilling_order(TEA, quantity=3).order_id)
    assert ask(order_id, quantity=1)["status"] == "REFUNDED"  # 168.00 is within the limit
    over = ask(order_id, quantity=2, key="case-key-0002")
    assert over["status"] == "REQUESTED" and over["flash"]["reasons"][0] == "not_shipped:amount_over_limit"


def test_a_return_is_never_flash_refunded(payments: Any) -> None:
    order_id = str(fulfilling_order(TEA).order_id)
    case = ask(order_id, kind="return_and_refund", reason="damaged")
    assert case["status"] == "REQUESTED" and case["flash"] is None


def test_a_blocked_shopper_gets_no_flash_refund(payments: Any) -> None:
    risk_store.block("shopper", SHOPPER.sub, "chargebacks")
    order_id = str(fulfilling_order(TEA).order_id)
    case = ask(order_id)
    assert case["status"] == "REQUESTED" and case["flash"]["reasons"] == ["shopper:blocked"]


# ---------------------------------------------------------------- digital_undelivered


def test_a_digital_item_not_delivered_yet_is_refunded_at_once(payments: Any) -> None:
    order_id = str(fulfilling_order(AD_SLOT, quantity=2, target=DOWN).order_id)

    case = ask(order_id, AD_SLOT, quantity=2, reason="digital_not_delivered")

    assert case["status"] == "REFUNDED" and case["flash"]["rule"] == "digital_undelivered"
    assert case["flash"]["reasons"] == ["not_shipped:reason_not_covered", "digital_undelivered:matched"]
    assert ledger_grant(order_id, case["case_id"])["state"] == "succeeded"


def test_only_the_undelivered_item_of_a_digital_order_qualifies(payments: Any) -> None:
    order = fulfilling_order(AD_SLOT, target=DOWN, also=((MEMBERSHIP, 1),))
    with pytest.raises(Exception, match="unavailable"):  # the membership is granted, the ad slot's provider is down
        deliver_order(order.order_id)
    items = (store.require(order.order_id, consistent=True).delivery or {})["items"]
    assert list(items) == [MEMBERSHIP["sku"]]

    granted = ask(order.order_id, MEMBERSHIP, reason="no_longer_needed")
    waiting = ask(order.order_id, AD_SLOT, reason="digital_not_delivered", key="case-key-0002")

    assert granted["status"] == "REQUESTED" and "digital_undelivered:units_delivered" in granted["flash"]["reasons"]
    assert waiting["status"] == "REFUNDED" and waiting["flash"]["rule"] == "digital_undelivered"


def test_an_entitlement_granted_on_the_ledger_counts_as_delivered(payments: Any) -> None:
    order = fulfilling_order(MEMBERSHIP)
    entitlements.grant(order, order.items[0])  # granted; the deliver step died before recording it on the order
    case = ask(order.order_id, MEMBERSHIP)
    assert case["status"] == "REQUESTED" and "digital_undelivered:units_delivered" in case["flash"]["reasons"]


def test_a_part_the_deliver_step_refunded_already_is_not_refunded_again(payments: Any) -> None:
    order_id = str(fulfilling_order(AD_SLOT, quantity=2, target="https://shop.example.com/s/flash#partial").order_id)
    assert deliver_order(order_id)["status"] == "COMPLETED"  # one delivered, one refunded by the step
    case = ask(order_id, AD_SLOT, quantity=1, reason="digital_not_delivered")
    assert case["status"] == "REQUESTED" and "digital_undelivered:units_delivered" in case["flash"]["reasons"]
    assert store.require(order_id, consistent=True).payment["refunded_fen"] == 99_00  # type: ignore[index]


# ---------------------------------------------------------------- good_standing


def test_a_shopper_in_good_standing_is_refunded_a_small_amount_at_once(payments: Any) -> None:
    good_history()
    order_id = str(fulfilling_order(TEA).order_id)
    shipped(order_id)

    case = ask(order_id, reason="not_received")

    assert case["status"] == "REFUNDED" and case["flash"]["rule"] == "good_standing"
    assert case["flash"]["reasons"] == ["not_shipped:already_shipped", "digital_undelivered:not_digital",
                                        "good_standing:matched"]
    assert case["history"][1]["reason"] == "flash_refund:good_standing"


def test_good_standing_refuses_a_new_shopper_a_risky_order_and_a_large_amount(
        payments: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good_history(orders=2)
    order_id = str(fulfilling_order(TEA, quantity=3).order_id)
    shipped(order_id)
    assert ask(order_id, reason="not_received")["flash"]["reasons"][-1] == "good_standing:few_orders"

    good_history(orders=3)
    order = store.require(order_id, consistent=True)
    ddb.dynamodb().update_item(TableName=ddb.table(), Key=store.order_key(order_id), UpdateExpression="SET risk = :r",
                               ExpressionAttributeValues=ddb.values(r={"score": 45, "decision": "REVIEW"}))
    assert order.version == store.require(order_id).version
    risky = ask(order_id, reason="not_received", key="case-key-0002")
    assert risky["status"] == "REQUESTED" and risky["flash"]["reasons"][-1] == "good_standing:order_risk"

    use_flags(tmp_path, monkeypatch, good_standing={"max_amount_fen": 100_00})
    large = ask(order_id, reason="missing_parts", key="case-key-0003")
    assert large["status"] == "REQUESTED" and large["flash"]["reasons"][-1] == "good_standing:amount_over_limit"


def test_good_standing_stops_at_the_refund_history_limit(payments: Any) -> None:
    good_history()
    order_id = str(fulfilling_order(TEA, quantity=3).order_id)
    shipped(order_id)

    first = ask(order_id, reason="not_received", key="case-key-0001")
    second = ask(order_id, reason="missing_parts", key="case-key-0002")
    third = ask(order_id, reason="not_received", key="case-key-0003")

    assert [first["status"], second["status"], third["status"]] == ["REFUNDED", "REFUNDED", "REQUESTED"]
    # two refunds in the window already (max_refunds 2), and 3 x 168.00 > the 500.00 refunded in the window
    assert third["flash"]["reasons"][-2:] == ["good_standing:refund_count", "good_standing:refunded_amount"]


# ---------------------------------------------------------------- the flags and the failure paths


def test_unreadable_flags_mean_no_flash_refunds(payments: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISK_FLAGS_FILE", str(tmp_path / "missing.json"))
    flags.reset()
    order_id = str(fulfilling_order(TEA, quantity=2).order_id)
    case = ask(order_id)
    assert case["status"] == "REQUESTED"
    assert case["flash"] | {"decided_at": None} == {"eligible": False, "rule": None, "reasons": ["flags:off"],
                                                   "rules_version": "unavailable", "decided_at": None}

    document = json.loads(SHIPPED_FLAGS.read_text())
    del document["flash_refunds"]  # a deployment without the feature: closed too
    (tmp_path / "missing.json").write_text(json.dumps(document))
    flags.reset()
    assert ask(order_id, key="case-key-0002")["flash"]["reasons"] == ["flags:off"]


def test_the_flags_switch_a_rule_off(payments: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_flags(tmp_path, monkeypatch, not_shipped={"enabled": False})
    case = ask(str(fulfilling_order(TEA).order_id))
    assert case["status"] == "REQUESTED" and case["flash"]["reasons"][0] == "not_shipped:off"


def test_a_replay_never_decides_again(payments: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = str(fulfilling_order(TEA).order_id)
    refused = ask(order_id, reason="damaged")
    use_flags(tmp_path, monkeypatch, not_shipped={"reason_codes": ["damaged"]})
    assert ask(order_id, reason="damaged") == refused  # the decision stands; the merchant has it
    case = cases.get(refused["case_id"], consistent=True)
    assert case is not None and case.flash is not None and case.version == 1


def test_a_provider_outage_does_not_fail_the_open_and_the_timer_refunds(payments: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    order_id = str(fulfilling_order(TEA).order_id)
    real = providers.send_refund

    def down(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("provider down", code="provider_unavailable")

    monkeypatch.setattr(providers, "send_refund", down)
    case = ask(order_id)
    assert case["status"] == "REFUNDING" and case["flash"]["rule"] == "not_shipped"
    assert ledger_grant(order_id, case["case_id"])["state"] == "requested"

    monkeypatch.setattr(providers, "send_refund", real)
    assert timers.sweep(now() + timedelta(minutes=3))["case_refund_refunded"] == 1
    assert read(f"/after-sales/{case['case_id']}")[1]["status"] == "REFUNDED"
    assert ledger_grant(order_id, case["case_id"])["state"] == "succeeded" and refund_calls(order_id) == 1


def test_concurrent_retries_of_one_request_decide_once_and_refund_once(payments: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    order_id = str(fulfilling_order(TEA, quantity=2).order_id)
    with ThreadPoolExecutor(max_workers=5) as pool:
        replies = list(pool.map(lambda _: open_case(order_id, {
            "type": "refund_only", "lines": [{"sku": TEA["sku"], "quantity": 2}], "reason_code": "no_longer_needed"}),
            range(5)))

    assert {status for status, _ in replies} == {201}, replies
    assert len({case["case_id"] for _, case in replies}) == 1
    case = cases.get(replies[0][1]["case_id"], consistent=True)
    assert case is not None and case.flash is not None and case.flash.rule == "not_shipped"
    assert [e.to_status for e in case.events] == ["REQUESTED", "REFUNDING", "REFUNDED"]
    assert cases.claims(order_id) == {TEA["sku"]: 2}
    # racers may each send the grant, always under its one out_refund_no, which the provider refunds once
    sent = {ref for api, ref in SandboxHttpClient.calls if api.endswith("refund") and ref.startswith(order_id)}
    assert sent == {f"{order_id}-{refunding.refund_key(case.case_id)}"}
    payment = store.require(order_id, consistent=True).payment or {}
    assert payment["refunded_fen"] == 2 * 168_00 and list(payment["refunds"]) == [refunding.refund_key(case.case_id)]


# ---------------------------------------------------------------- the fulfil steps respect a flash refund


def test_an_order_refunded_whole_before_shipping_is_not_shipped_and_its_stock_returns(
        payments: Any, logistics: dict[str, str]) -> None:
    from shared.catalog import store as catalog
    from tests.integration.test_fulfilment_helpers import ship_order

    order_id = str(fulfilling_order(TEA, quantity=2).order_id)
    on_sale = catalog.available(TEA["sku"])
    assert ask(order_id, quantity=2)["status"] == "REFUNDED"

    assert ship_order(order_id)["status"] == "FAILED"

    order = store.require(order_id, consistent=True)
    assert order.status_reason == "refunded_before_shipping" and order.shipment is None
    assert order.payment["refunded_fen"] == order.total_fen and list(order.payment["refunds"]) == [  # type: ignore[index]
        refunding.refund_key(ask(order_id, quantity=2)["case_id"])]  # the case's refund only: nothing more
    assert catalog.available(TEA["sku"]) == on_sale + 2  # never left the warehouse: back on sale


def test_an_order_refunded_in_part_before_shipping_still_ships(payments: Any, logistics: dict[str, str]) -> None:
    from tests.integration.test_fulfilment_helpers import ship_order

    order_id = str(fulfilling_order(TEA, quantity=2).order_id)
    assert ask(order_id, quantity=1)["status"] == "REFUNDED"
    assert ship_order(order_id)["status"] == "SHIPPED"


def test_a_digital_item_refunded_before_delivery_is_not_delivered(payments: Any) -> None:
    from shared.sandbox import digital

    order_id = str(fulfilling_order(AD_SLOT).order_id)
    assert ask(order_id, AD_SLOT, reason="digital_not_delivered")["status"] == "REFUNDED"

    assert deliver_order(order_id)["status"] == "FAILED"  # nothing left to deliver
    assert digital.provider().attempts == {}  # the provider was never asked
    order = store.require(order_id, consistent=True)
    assert order.payment["refunded_fen"] == order.total_fen and len(order.payment["refunds"]) == 1  # type: ignore[index]


def test_giving_up_on_delivery_does_not_refund_what_a_case_refunded(payments: Any) -> None:
    from shared.fulfilment import delivery

    order = fulfilling_order(AD_SLOT, target=DOWN, also=((MEMBERSHIP, 1),))
    with pytest.raises(Exception, match="unavailable"):
        deliver_order(order.order_id)
    assert ask(order.order_id, AD_SLOT, reason="digital_not_delivered")["status"] == "REFUNDED"

    assert delivery.give_up(order.order_id, {"Error": "DeliveryRetryable"}).status == "COMPLETED"

    done = store.require(order.order_id, consistent=True)
    assert done.payment["refunded_fen"] == AD_SLOT["price_fen"]  # type: ignore[index]  # once, by the case
    assert done.delivery["items"][AD_SLOT["sku"]]["refund_fen"] == 0  # type: ignore[index]


def test_a_parcel_that_leaves_between_the_decision_and_the_grant_stops_the_refund(
        payments: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.aftersales import flash

    order_id = str(fulfilling_order(TEA).order_id)
    decide = flash.decide

    def decide_then_ship(*args: Any) -> Any:
        decision = decide(*args)
        shipped(order_id)  # the ship step commits right after the decision read the order
        return decision

    monkeypatch.setattr(flash, "decide", decide_then_ship)
    case = ask(order_id)

    assert case["status"] == "REQUESTED" and case["flash"]["rule"] == "not_shipped"  # decided, then stopped
    assert refunding.refund_key(case["case_id"]) not in (store.require(order_id, consistent=True).payment or {})[
        "refunds"] and refund_calls(order_id) == 0  # the merchant decides this one
