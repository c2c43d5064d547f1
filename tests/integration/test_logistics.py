"""Shipments and partner callbacks (Kuaidi100 and KDNiao): every rule, for both partners."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine

from shared.core import ddb
from shared.core.clock import now
from shared.fulfilment import logic as fulfilment_logic
from shared.logistics import store as tracking_store
from shared.logistics.adapters import kdniao, kuaidi100
from shared.ops import inbox
from shared.orders import store
from shared.orders.models import OrderStatus
from shared.sandbox import courier
from tests.integration.test_fulfilment_helpers import (  # noqa: F401
    APP_KEY,
    BUSINESS_ID,
    SALT,
    logistics_fixture,
    physical_order,
    post_form,
    ship_order,
)

VECTOR = json.loads(
    (Path(__file__).resolve().parents[1] / "unit" / "logistics" / "kuaidi100_push.json").read_text()
)
ACK = '{"result":true,"returnCode":"200","message":"成功"}'
K100 = "/logistics/kuaidi100/notify"
KDN = "/logistics/kdniao/notify"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=now().tzinfo)


def shipped(province: str = "浙江", key: str = "key-00000001") -> dict[str, Any]:
    order = physical_order(province=province, key=key)
    assert ship_order(order.order_id)["status"] == "SHIPPED"
    return store.require(order.order_id, consistent=True)


# --- pushes for each partner, as (state name) -> post it -----------------------------------------------

K100_CODES = {
    "ACCEPTED": "1",
    "IN_TRANSIT": "0",
    "OUT_FOR_DELIVERY": "5",
    "SIGNED": "3",
    "PROBLEM": "2",
    "RETURN_SIGNED": "4",
    "REFUSED": "14",
}
KDN_CODES = {
    "ACCEPTED": ("1", "1"),
    "IN_TRANSIT": ("2", "2"),
    "OUT_FOR_DELIVERY": ("2", "202"),
    "SIGNED": ("3", "301"),
    "PROBLEM": ("4", "405"),
    "RETURN_SIGNED": ("4", "406"),
    "REFUSED": ("4", "404"),
}
KDN_SHIPPER = {"yuantong": "YTO", "zhongtong": "ZTO", "yunda": "YD", "shentong": "STO"}
STEPS = ["ACCEPTED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "SIGNED"]


def _traces(states: list[str], hours: int = 0) -> list[tuple[datetime, str, str]]:
    return [(T0 + timedelta(hours=hours + i), f"{state} 站点", state) for i, state in enumerate(states)]


def k100_push(
    order: dict[str, Any], state: str, *, history: list[str] | None = None, salt: str = SALT, hours: int = 0
) -> tuple[int, str]:
    rows = _traces(history or [state], hours)
    traces = [(at, ctx, kuaidi100.status_name(K100_CODES[name])) for at, ctx, name in reversed(rows)]
    param, sign = kuaidi100.build_push(
        company=order.shipment["carrier"],
        number=order.shipment["tracking_number"],
        state_code=K100_CODES[state],
        traces=traces,
        salt=salt,
    )
    return post_form(K100, {"param": param, "sign": sign})


def kdn_push(
    order: dict[str, Any],
    state: str,
    *,
    history: list[str] | None = None,
    salt: str = APP_KEY,
    hours: int = 0,
) -> tuple[int, str]:
    rows = _traces(history or [state], hours)
    code, ex = KDN_CODES[state]
    fields = kdniao.build_push(
        business_id=BUSINESS_ID,
        app_key=salt,
        shipper_code=KDN_SHIPPER[order.shipment["carrier"]],
        logistic_code=order.shipment["tracking_number"],
        state=code,
        state_ex=ex,
        traces=[(at, ctx, KDN_CODES[name][1]) for at, ctx, name in rows],
        push_time=T0,
    )
    return post_form(KDN, raw=kdniao.encode_form(fields))


Push = Callable[..., tuple[int, str]]
PARTNERS = pytest.mark.parametrize("push", [k100_push, kdn_push], ids=["kuaidi100", "kdniao"])


def acked(push: Push, status: int, body: str) -> bool:
    if push is k100_push:
        return status == 200 and body == ACK
    answer = json.loads(body)
    return status == 200 and answer["Success"] is True and answer["EBusinessID"] == BUSINESS_ID


# --- shipment ----------------------------------------------------------------------------------------


def test_ship_allocates_nearest_warehouse_subscribes_and_drops_the_paid_timer(
    logistics: dict[str, str],
) -> None:
    order = physical_order(province="广东省")
    result = ship_order(order.order_id)
    done = store.require(order.order_id, consistent=True)
    assert result == {"order_id": order.order_id, "status": "SHIPPED", "version": done.version}
    number = fulfilment_logic.tracking_number("ZT", order.order_id)
    assert done.shipment | {"created_at": "-"} == {
        "warehouse": "GZ",
        "warehouse_name": "广州仓",
        "carrier": "zhongtong",
        "tracking_number": number,
        "created_at": "-",
        "subscription": "active",
    }
    assert tracking_store.order_for("zhongtong", number) == order.order_id
    assert courier.subscriber().find(number) is not None
    assert not done.has("GSI3PK")


def test_replayed_ship_changes_nothing(logistics: dict[str, str]) -> None:
    order = shipped()
    assert ship_order(order.order_id)["version"] == order.version
    assert store.require(order.order_id, consistent=True) == order


# --- callbacks: the rules, for both partners -----------------------------------------------------------


def test_kuaidi100_official_vector_is_acknowledged_with_the_exact_body(logistics: dict[str, str]) -> None:
    # given a shipment with yuantong number V030344422 and the vector's salt
    order = physical_order()
    tracking_store.put_lookup("yuantong", "V030344422", order.order_id)
    store.transition(
        store.require(order.order_id, consistent=True),
        OrderStatus.SHIPPED,
        actor="test",
        set_fields={"shipment": {"carrier": "yuantong", "tracking_number": "V030344422"}},
    )
    from shared.core.aws import secretsmanager
    from shared.logistics import secrets

    secretsmanager().put_secret_value(
        SecretId="order24/logistics", SecretString=json.dumps({**logistics, "kuaidi100_salt": VECTOR["salt"]})
    )
    secrets.clear_cache()
    # when Kuaidi100 posts the vector
    status, body = post_form(K100, {"param": VECTOR["param"], "sign": VECTOR["expected_sign"]})
    # then the answer is byte for byte the expected one and the trace is stored
    assert status == 200 and body == ACK
    assert json.loads(body) == VECTOR["expected_response"]
    record = tracking_store.get_tracking(order.order_id)
    assert record is not None and record["state"] == "IN_TRANSIT"
    assert (
        record["traces"][0]["context"].startswith("上海分拨中心") and record["traces"][0]["area"] == "上海市"
    )


@PARTNERS
def test_bad_signature_is_rejected_and_changes_nothing(logistics: dict[str, str], push: Push) -> None:
    order = shipped()
    before = ddb.dynamodb().scan(TableName=ddb.table())["Items"]
    status, body = push(order, "SIGNED", salt="forged")
    assert status == 400 and not acked(push, 200, body)
    assert ddb.dynamodb().scan(TableName=ddb.table())["Items"] == before


@PARTNERS
def test_duplicate_push_changes_nothing(logistics: dict[str, str], push: Push) -> None:
    order = shipped()
    assert acked(push, *push(order, "OUT_FOR_DELIVERY", history=STEPS[:3]))
    after_first = (
        store.require(order.order_id, consistent=True),
        tracking_store.get_tracking(order.order_id, consistent=True),
    )
    assert acked(push, *push(order, "OUT_FOR_DELIVERY", history=STEPS[:3]))
    assert (
        store.require(order.order_id, consistent=True),
        tracking_store.get_tracking(order.order_id, consistent=True),
    ) == after_first
    events = [e.type for e in after_first[0].events]
    assert events.count("out_for_delivery") == 1


@PARTNERS
def test_signed_moves_the_order_to_delivered_with_a_completion_timer(
    logistics: dict[str, str], push: Push
) -> None:
    order = shipped()
    assert acked(push, *push(order, "SIGNED", history=STEPS))
    done = store.require(order.order_id, consistent=True)
    assert done.status == "DELIVERED" and done.fulfilment["state"] == "SIGNED"
    signed_at = T0 + timedelta(hours=3)
    assert done.gsi3pk.startswith("DUE#COMPLETE#")
    assert done.gsi3sk.startswith((signed_at + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S"))


@PARTNERS
def test_late_in_transit_after_signed_is_kept_but_never_moves_the_order_back(
    logistics: dict[str, str], push: Push
) -> None:
    order = shipped()
    push(order, "SIGNED", history=STEPS)
    # a slow retry of an older snapshot arrives after 签收
    assert acked(push, *push(order, "IN_TRANSIT", history=["ACCEPTED", "IN_TRANSIT"], hours=-5))
    done = store.require(order.order_id, consistent=True)
    record = tracking_store.get_tracking(order.order_id, consistent=True)
    assert done.status == "DELIVERED"
    assert record is not None and record["state"] == "SIGNED"
    assert len(record["traces"]) == 6  # the late lines are in the timeline
    assert [row["at"] for row in record["traces"]] == sorted(
        (row["at"] for row in record["traces"]), reverse=True
    )


@PARTNERS
def test_unknown_tracking_number_is_stored_for_ops_and_acknowledged(
    logistics: dict[str, str], push: Push
) -> None:
    ghost = SimpleNamespace(shipment={"carrier": "yuantong", "tracking_number": "YT0000000000001"})
    assert acked(push, *push(ghost, "IN_TRANSIT"))
    entries, _ = inbox.list_kind("unmatched_tracking", None, viewer="ops-1")
    assert [e["payload"]["tracking_number"] for e in entries] == ["YT0000000000001"]


@PARTNERS
@pytest.mark.parametrize("trouble", ["PROBLEM", "RETURN_SIGNED", "REFUSED"])
def test_trouble_states_flag_the_order_and_ops_can_list_them(
    logistics: dict[str, str], push: Push, trouble: str
) -> None:
    order = shipped()
    assert acked(push, *push(order, trouble, history=["ACCEPTED", trouble]))
    flagged = store.require(order.order_id, consistent=True)
    assert flagged.status == "SHIPPED" and flagged.trouble["state"] == trouble
    from functions.api_ops.handler import handler as ops_handler
    from tests.support import OPS, call

    status, page, _ = call(ops_handler, "GET", "/ops/inbox/trouble_flag", user=OPS)
    assert status == 200
    assert [item["ref"] for item in page["items"]] == [f"{order.order_id}:{trouble}"]


@PARTNERS
def test_out_for_delivery_is_recorded_as_an_order_event(logistics: dict[str, str], push: Push) -> None:
    order = shipped()
    push(order, "OUT_FOR_DELIVERY", history=STEPS[:3])
    done = store.require(order.order_id, consistent=True)
    assert done.events[-1].type == "out_for_delivery" and done.status == "SHIPPED"


def test_kdniao_unsupported_request_type_is_stored_and_acknowledged(logistics: dict[str, str]) -> None:
    order = shipped()
    fields = kdniao.build_push(
        business_id=BUSINESS_ID,
        app_key=APP_KEY,
        shipper_code="YTO",
        logistic_code=order.shipment["tracking_number"],
        state="2",
        traces=[(T0, "x", "2")],
        request_type="999",
    )
    status, body = post_form(KDN, raw=kdniao.encode_form(fields))
    assert status == 200 and json.loads(body)["Success"] is True
    assert [e["payload"]["code"] for e in inbox.list_kind("unmatched_tracking", None, viewer="ops-1")[0]] == [
        "unsupported_request_type"
    ]


# --- completion timer ------------------------------------------------------------------------------------


def test_delivered_order_completes_when_the_return_window_closes(logistics: dict[str, str]) -> None:
    from functions.sweeper.handler import handler as sweeper_handler
    from shared.orders import lifecycle
    from tests.support import context

    order = shipped()
    with time_machine.travel(T0 + timedelta(hours=4), tick=False):
        assert acked(k100_push, *k100_push(order, "SIGNED", history=STEPS))
    if "COMPLETE" not in lifecycle.TIMERS:
        pytest.skip(
            "lifecycle.TIMERS has no COMPLETE entry yet (the lead adds completion.complete_delivered)"
        )
    with time_machine.travel(T0 + timedelta(days=7, hours=2), tick=False):
        sweeper_handler({}, context("sweeper"))
        assert store.require(order.order_id, consistent=True).status == "DELIVERED"
    with time_machine.travel(T0 + timedelta(days=7, hours=3, seconds=1), tick=False):
        sweeper_handler({}, context("sweeper"))
    done = store.require(order.order_id, consistent=True)
    assert done.status == "COMPLETED" and done.status_reason == "return_window_closed"
    assert not done.has("GSI3PK")


@PARTNERS
def test_movement_after_a_problem_clears_the_flag(logistics: dict[str, str], push: Push) -> None:
    order = shipped()
    push(order, "PROBLEM", history=["ACCEPTED", "PROBLEM"])
    assert acked(push, *push(order, "IN_TRANSIT", history=["ACCEPTED", "PROBLEM", "IN_TRANSIT"]))
    done = store.require(order.order_id, consistent=True)
    assert not done.has("trouble") and done.events[-1].type == "trouble_cleared"
