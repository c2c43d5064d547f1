"""KDNiao pushes: DataSign (raw and pre-decoded), State/StateEx mapping, carriers, the ack, round trips."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlencode

import pytest

from shared.logistics.adapters import kdniao
from shared.logistics.adapters.errors import CallbackRejected
from shared.logistics.models import TrackingState

APP_KEY = "56da2cf8-c8a2-44b2-b6fa-476cd7d1ba17"
EMPTY_PUSH = '{"EBusinessID":"1237100","Count":"0","Data":[]}'


# --- DataSign ----------------------------------------------------------------------------------------


def test_data_sign_is_urlencoded_base64_of_lower_hex_md5_computed_step_by_step() -> None:
    hex_md5 = hashlib.md5((EMPTY_PUSH + APP_KEY).encode("utf-8")).hexdigest()
    assert hex_md5 == hex_md5.lower() and len(hex_md5) == 32
    b64 = base64.b64encode(hex_md5.encode("ascii")).decode("ascii")  # base64 of the 32 hex characters
    expected = quote(b64, safe="")

    assert kdniao.data_sign(EMPTY_PUSH, APP_KEY) == expected


def test_data_sign_known_answer_from_coreutils() -> None:
    # printf '%s' "$DATA$KEY" | md5sum | cut -d' ' -f1 | tr -d '\n' | base64   (then '=' -> %3D)
    assert kdniao.data_sign(EMPTY_PUSH, APP_KEY) == "Mzc2ZjU4YWZlYmEzNDY1ZTEwMzQ2NGEyYmUzMDJlNTY%3D"


def test_data_sign_verifies_still_urlencoded_and_already_decoded() -> None:
    encoded = kdniao.data_sign(EMPTY_PUSH, APP_KEY)
    decoded = "Mzc2ZjU4YWZlYmEzNDY1ZTEwMzQ2NGEyYmUzMDJlNTY="

    kdniao.verify(EMPTY_PUSH, encoded, APP_KEY)
    kdniao.verify(EMPTY_PUSH, decoded, APP_KEY)


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "Mzc2ZjU4YWZlYmEzNDY1ZTEwMzQ2NGEyYmUzMDJlNTc%3D",  # one character off
        base64.b64encode(
            hashlib.md5((EMPTY_PUSH + APP_KEY).encode()).digest()
        ).decode(),  # raw digest, not hex
        base64.b64encode(hashlib.md5((EMPTY_PUSH + APP_KEY).encode()).hexdigest().upper().encode()).decode(),
        "签名",
    ],
)
def test_a_forged_or_differently_computed_data_sign_is_rejected(forged: str) -> None:
    with pytest.raises(CallbackRejected) as caught:
        kdniao.verify(EMPTY_PUSH, forged, APP_KEY)
    assert caught.value.code == "bad_signature"


def test_wrong_app_key_or_changed_request_data_is_rejected() -> None:
    sign = kdniao.data_sign(EMPTY_PUSH, APP_KEY)
    for data, key in ((EMPTY_PUSH, APP_KEY + "x"), (EMPTY_PUSH.replace("1237100", "1237101"), APP_KEY)):
        with pytest.raises(CallbackRejected) as caught:
            kdniao.verify(data, sign, key)
        assert caught.value.code == "bad_signature"


# --- mapping -----------------------------------------------------------------------------------------


def _push(state: str, state_ex: str | None = None, shipper: str = "YTO") -> str:
    fields = kdniao.build_push(
        business_id="1237100",
        app_key=APP_KEY,
        shipper_code=shipper,
        logistic_code="YT9",
        state=state,
        state_ex=state_ex,
        traces=[("2024-05-01 10:00:00", "某站点", state_ex or state)],
    )
    return fields["RequestData"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("0", TrackingState.NO_INFO),
        ("1", TrackingState.ACCEPTED),
        ("2", TrackingState.IN_TRANSIT),
        ("3", TrackingState.SIGNED),
        ("4", TrackingState.PROBLEM),
        ("5", TrackingState.REDIRECTED),
        ("6", TrackingState.CUSTOMS),
        ("10", TrackingState.AWAITING_PICKUP),
    ],
)
def test_state_maps_when_there_is_no_state_ex(state: str, expected: TrackingState) -> None:
    [update] = kdniao.parse_push(_push(state), "101")
    assert update.state is expected
    assert update.raw_state == state


@pytest.mark.parametrize(
    ("state", "state_ex", "expected"),
    [
        ("1", "1", TrackingState.ACCEPTED),
        ("1", "10", TrackingState.AWAITING_PICKUP),
        ("2", "2", TrackingState.IN_TRANSIT),
        ("2", "201", TrackingState.IN_TRANSIT),
        ("2", "204", TrackingState.IN_TRANSIT),
        ("2", "205", TrackingState.IN_TRANSIT),
        ("2", "206", TrackingState.IN_TRANSIT),
        ("2", "202", TrackingState.OUT_FOR_DELIVERY),
        ("2", "211", TrackingState.OUT_FOR_DELIVERY),
        ("3", "3", TrackingState.SIGNED),
        ("3", "301", TrackingState.SIGNED),
        ("3", "302", TrackingState.SIGNED),
        ("3", "304", TrackingState.SIGNED),
        ("3", "311", TrackingState.SIGNED),
        ("4", "4", TrackingState.PROBLEM),
        ("4", "401", TrackingState.PROBLEM),
        ("4", "402", TrackingState.PROBLEM),
        ("4", "403", TrackingState.PROBLEM),
        ("4", "404", TrackingState.REFUSED),
        ("4", "405", TrackingState.PROBLEM),
        ("4", "406", TrackingState.RETURN_SIGNED),
        ("4", "407", TrackingState.RETURNING),
        ("4", "412", TrackingState.PROBLEM),
        ("4", "413", TrackingState.PROBLEM),
        ("4", "423", TrackingState.PROBLEM),
        ("5", "5", TrackingState.REDIRECTED),
        ("6", "601", TrackingState.CUSTOMS),
        ("6", "602", TrackingState.CUSTOMS),
        ("6", "603", TrackingState.CUSTOMS),
        ("6", "604", TrackingState.CUSTOMS_PROBLEM),
    ],
)
def test_state_ex_is_preferred_over_state(state: str, state_ex: str, expected: TrackingState) -> None:
    [update] = kdniao.parse_push(_push(state, state_ex), "101")
    assert update.state is expected
    assert update.raw_state == state_ex
    assert update.traces[0].state is expected  # trace Action uses the same codes


def test_an_unknown_state_ex_falls_back_to_state() -> None:
    [update] = kdniao.parse_push(_push("2", "299"), "101")
    assert update.state is TrackingState.IN_TRANSIT
    assert update.raw_state == "2"


def test_unknown_state_and_state_ex_is_rejected_as_unknown_state() -> None:
    with pytest.raises(CallbackRejected) as caught:
        kdniao.parse_push(_push("9", "999"), "101")
    assert caught.value.code == "unknown_state"


@pytest.mark.parametrize(
    ("shipper", "carrier"),
    [("YTO", "yuantong"), ("ZTO", "zhongtong"), ("SF", "shunfeng"), ("STO", "shentong"), ("YD", "yunda"),
     ("EMS", "ems"), ("JD", "jd"), ("yto", "yuantong")],
)  # fmt: skip
def test_shipper_code_becomes_the_kuaidi100_company_code(shipper: str, carrier: str) -> None:
    [update] = kdniao.parse_push(_push("2", shipper=shipper), "101")
    assert update.carrier == carrier


def test_an_unmapped_shipper_is_rejected_as_unknown_carrier() -> None:
    with pytest.raises(CallbackRejected) as caught:
        kdniao.parse_push(_push("2", shipper="NOPE"), "101")
    assert caught.value.code == "unknown_carrier"


def test_a_request_type_other_than_a_trace_push_is_refused() -> None:
    with pytest.raises(CallbackRejected) as caught:
        kdniao.parse_push(_push("2"), "107")
    assert caught.value.code == "unsupported_request_type"


def test_one_push_with_two_shipments_gives_two_updates_with_distinct_keys() -> None:
    shipments = [
        {"ShipperCode": "ZTO", "LogisticCode": "A1", "State": "2", "Traces": []},
        {"ShipperCode": "SF", "LogisticCode": "B2", "State": "3", "StateEx": "301", "Traces": []},
    ]
    data = kdniao.build_request_data(business_id="1", shipments=shipments)
    a, b = kdniao.parse_push(data, "101")
    assert (a.carrier, a.tracking_number, a.state) == ("zhongtong", "A1", TrackingState.IN_TRANSIT)
    assert (b.carrier, b.tracking_number, b.state) == ("shunfeng", "B2", TrackingState.SIGNED)
    assert a.event_key != b.event_key


# --- malformed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_data",
    [
        "not json",
        "[]",
        "{}",
        '{"Data":{}}',
        '{"Data":["x"]}',
        '{"Data":[{"LogisticCode":"1","State":"2"}]}',  # no ShipperCode
        '{"Data":[{"ShipperCode":"YTO","State":"2"}]}',  # no LogisticCode
        '{"Data":[{"ShipperCode":"YTO","LogisticCode":"1"}]}',  # no State
        '{"Data":[{"ShipperCode":"YTO","LogisticCode":"1","State":"2","Traces":{}}]}',
        '{"Data":[{"ShipperCode":"YTO","LogisticCode":"1","State":"2","Traces":[{"AcceptStation":"x"}]}]}',
        '{"Data":[{"ShipperCode":"YTO","LogisticCode":"1","State":"2","Traces":[{"AcceptTime":"soon"}]}]}',
    ],
)
def test_malformed_request_data_is_rejected_as_malformed(request_data: str) -> None:
    with pytest.raises(CallbackRejected) as caught:
        kdniao.parse_push(request_data, "101")
    assert caught.value.code == "malformed"


# --- ack -----------------------------------------------------------------------------------------------


def test_ack_body_is_the_json_kdniao_expects_with_shanghai_update_time() -> None:
    body = kdniao.ack_body("1237100", now=datetime(2024, 5, 1, 2, 3, 4, tzinfo=UTC))
    assert body == '{"EBusinessID":"1237100","UpdateTime":"2024-05-01 10:03:04","Success":true,"Reason":""}'


def test_a_failure_ack_says_success_false_with_the_reason() -> None:
    body = json.loads(kdniao.ack_body("1237100", success=False, reason="稍后重试"))
    assert body["Success"] is False
    assert body["Reason"] == "稍后重试"


# --- round trip ----------------------------------------------------------------------------------------


def test_sandbox_push_over_the_wire_verifies_and_parses_newest_first() -> None:
    fields = kdniao.build_push(
        business_id="1237100",
        app_key=APP_KEY,
        shipper_code="ZTO",
        logistic_code="7731",
        state="2",
        state_ex="202",
        location="苏州市",
        traces=[
            (datetime(2024, 5, 1, 0, 0, tzinfo=UTC), "已揽收", "1"),
            (datetime(2024, 5, 2, 0, 0, tzinfo=UTC), "派件中", "202"),
            (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "到达转运中心", "204"),
        ],
    )
    form = {k: v[0] for k, v in parse_qs(kdniao.encode_form(fields).decode("ascii")).items()}  # a form parser

    assert form["RequestData"] == fields["RequestData"]
    kdniao.verify(form["RequestData"], form["DataSign"], APP_KEY)  # decoded once by the parser
    kdniao.verify(fields["RequestData"], fields["DataSign"], APP_KEY)  # as computed (URL-encoded)
    [update] = kdniao.parse_push(form["RequestData"], form["RequestType"])

    assert update.partner == "kdniao"
    assert (update.carrier, update.tracking_number) == ("zhongtong", "7731")
    assert update.state is TrackingState.OUT_FOR_DELIVERY
    assert [t.raw_status for t in update.traces] == ["202", "204", "1"]
    assert update.traces[0].at == datetime(2024, 5, 2, 0, 0, tzinfo=UTC)
    assert update.traces[0].area == "苏州市"


def test_a_body_encoded_twice_still_verifies() -> None:
    fields = kdniao.build_push(
        business_id="1", app_key=APP_KEY, shipper_code="SF", logistic_code="SF1", state="3", traces=[]
    )
    form = {k: v[0] for k, v in parse_qs(urlencode(fields)).items()}  # DataSign still %3D after one decode
    assert form["DataSign"].endswith("%3D")
    kdniao.verify(form["RequestData"], form["DataSign"], APP_KEY)


def test_the_same_push_retried_has_the_same_event_key() -> None:
    first = kdniao.parse_push(_push("2", "201"), "101")[0]
    again = kdniao.parse_push(_push("2", "201"), "101")[0]  # new PushTime, same shipment content
    assert first.event_key == again.event_key
