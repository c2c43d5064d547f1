"""The Order aggregate parses every stored shape and gives the item back unchanged; every event kind has
exactly one constructor. (tests/conftest.py also round-trips every order item each integration test leaves.)"""

from __future__ import annotations

import inspect
from typing import Any, get_args

from shared.core import ddb
from shared.orders import events
from shared.orders.aggregate import Order, undeclared

AT = "2026-12-07T10:00:00.000Z"

# An order that has been through everything an item can hold (the attribute names are the stored ones).
EVERYTHING: dict[str, Any] = {
    "PK": "ORDER#o1", "SK": "ORDER", "order_id": "o1", "shopper_id": "s1", "status": "COMPLETED", "version": 9,
    "kind": "physical", "total_fen": 9900, "currency": "CNY", "shop_id": "shop1", "request_hash": "ab" * 32,
    "created_at": AT, "updated_at": AT, "status_reason": "return_window_closed",
    "items": [{"sku": "TEA-1", "title": "Tea", "kind": "physical", "category": "food", "quantity": 1,
               "unit_price_fen": 9900, "line_total_fen": 9900}],
    "shipping_address": {"recipient": "Li", "phone": "+8613800000000", "province": "浙江", "city": "杭州",
                         "district": "西湖", "line": "1 Road", "postal_code": "310000"},
    "ad_copy": "copy", "target": "https://example.com", "source_ip": "10.0.0.1", "device_id": "d1",
    "GSI1PK": "SHOPPER#s1", "GSI1SK": f"{AT}#o1", "GSI2PK": "SHOP#shop1#2026-12-07", "GSI2SK": f"{AT}#o1",
    "GSI3PK": "DUE#COMPLETE#03", "GSI3SK": f"{AT}#o1",
    "released": {"TEA-1": [[0, 1]]}, "expires_at": AT, "redrives": 1, "requeues": 2, "requeued_at": AT,
    "requeue_reason": "Lambda.TooManyRequestsException",
    "risk": {"score": 10, "decision": "ACCEPT", "effective_decision": "ACCEPT", "mode": "enforce",
             "reasons": [{"code": "new_device", "points": 10}], "rules_version": "v1", "assessed_at": AT},
    "review": {"outcome": "manual", "reasons": [], "highlighted_copy": None, "decided_at": AT, "by": "auto",
               "queued_at": AT, "claim": {"by": "r1", "until": AT, "claimed_at": AT},
               "decision": {"outcome": "approve", "by": "r1", "at": AT}},
    "payment": {"provider": "wechatpay", "out_trade_no": "o1", "transaction_id": "tx1", "amount_fen": 9900,
                "currency": "CNY", "paid_at": AT, "state": "partially_refunded", "refunded_fen": 100,
                "refunds": {"r1": {"amount_fen": 100, "reason": "why", "state": "succeeded", "out_refund_no": "rf1",
                                   "at": AT, "provider_refund_id": "p1", "settled_at": AT, "detail": "ok"}}},
    "payment_intent": {"provider": "wechatpay", "out_trade_no": "o1-2", "attempt": 2, "state": "open",
                       "amount_fen": 9900, "currency": "CNY", "created_at": AT, "params": {"prepay_id": "x"}},
    "payment_attempts": [{"provider": "alipay", "out_trade_no": "o1", "amount_fen": 9900, "currency": "CNY",
                          "created_at": AT, "attempt": 1, "outcome": "abandoned", "superseded_at": AT,
                          "superseded_by": "o1-2", "closed": "closed"}],
    "duplicate_captures": {"alipay:o1": {"provider": "alipay", "out_trade_no": "o1", "transaction_id": "tx2",
                                         "amount_fen": 9900, "currency": "CNY", "paid_at": AT, "state": "refunded",
                                         "refunded_fen": 9900, "refunds": {}, "duplicate_of": "tx1"}},
    "last_payment_error": "declined", "payment_event_keys": ["wechatpay:ev1"],
    "fulfilment": {"state": "SIGNED", "raw_state": "3", "at": AT, "signed_at": AT},
    "shipment": {"warehouse": "HZ", "warehouse_name": "Hangzhou", "carrier": "SF", "tracking_number": "SF1",
                 "created_at": AT, "subscription": "active"},
    "trouble": {"state": "RETURNING", "raw_state": "6", "message": "back", "at": AT},
    "delivery": {"items": {"TEA-1": {"delivered_units": 1, "remaining_units": 0, "provider_ref": "x", "at": AT}},
                 "delivered_at": AT, "refunded_fen": 0},
    "events": [
        events.placed(shopper_id="s1", at=AT).to_item(),
        events.risk_checked(actor="system:risk", at=AT).to_item(),
        events.status_changed(from_status=events.OrderStatus.PLACED, to_status=events.OrderStatus.CANCELLED,
                              actor="shopper:s1", reason="cancelled_by_shopper", at=AT).to_item(),
        events.refunded(actor="provider:wechatpay", refund_key="r1", amount_fen=100, at=AT).to_item(),
    ],
}


def test_an_item_holding_every_attribute_round_trips_unchanged() -> None:
    order = Order.from_ddb(ddb.to_item(EVERYTHING))
    assert undeclared(order) == []
    assert order.to_item() == {**EVERYTHING, "payment_event_keys": {"wechatpay:ev1"}}  # a string set
    assert order.to_ddb()["payment_event_keys"] == {"SS": ["wechatpay:ev1"]}


def test_a_new_order_item_holds_only_what_was_written() -> None:
    minimal = {key: EVERYTHING[key] for key in ("PK", "SK", "order_id", "shopper_id", "status", "version", "kind",
                                                "items", "total_fen", "currency", "shop_id", "request_hash",
                                                "created_at", "updated_at", "events")}
    assert Order.from_item(minimal).to_item() == minimal
    assert not Order.from_item(minimal).has("payment") and Order.from_item(minimal).has("PK")


def test_an_attribute_the_model_does_not_know_is_carried_and_reported() -> None:
    order = Order.from_item({**EVERYTHING, "surprise": 1, "payment": {**EVERYTHING["payment"], "extra": "x"}})
    assert order.to_item()["surprise"] == 1 and order.to_item()["payment"]["extra"] == "x"
    assert sorted(undeclared(order)) == ["payment.extra", "surprise"]


def test_every_event_kind_is_built_by_exactly_one_constructor() -> None:
    kinds = get_args(get_args(events.OrderEvent)[0])
    built_by: dict[str, list[str]] = {kind.__name__: [] for kind in kinds}
    for name, function in inspect.getmembers(events, inspect.isfunction):
        if function.__module__ == events.__name__ and not name.startswith("_") and name not in ("parse", "to_items"):
            built_by[inspect.signature(function).return_annotation].append(name)
    assert {kind: len(names) for kind, names in built_by.items()} == {kind: 1 for kind in built_by}


def test_an_order_placed_before_the_placed_kind_existed_still_parses() -> None:
    legacy = {"at": AT, "type": "status_changed", "to_status": "PLACED", "actor": "shopper:s1"}
    order = Order.from_item({**EVERYTHING, "events": [legacy, *EVERYTHING["events"][1:]]})
    assert order.to_item()["events"][0] == legacy


def test_stored_events_parse_into_their_kinds() -> None:
    parsed = events.parse(EVERYTHING["events"])
    assert [type(event).__name__ for event in parsed] == ["Placed", "RiskChecked", "StatusChanged", "Refunded"]
    assert events.to_items(parsed) == EVERYTHING["events"]
