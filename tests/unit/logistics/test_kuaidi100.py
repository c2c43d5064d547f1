"""Kuaidi100 pushes: the official vector, tampering, every state code, the exact ack, and subscription."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from shared.logistics.adapters import kuaidi100
from shared.logistics.adapters.errors import CallbackRejected, SubscriptionFailed
from shared.logistics.models import TrackingState

# A verbatim copy sits here so they run anywhere; the workspace original is compared when present.
VECTOR_COPY = Path(__file__).with_name("kuaidi100_push.json")
VECTOR_OFFICIAL = Path(__file__).resolve().parents[4] / "shared" / "vectors" / "kuaidi100_push.json"


@pytest.fixture(scope="module")
def vector() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTOR_COPY.read_text(encoding="utf-8"))
    return data


def test_vector_copy_is_identical_to_the_official_one() -> None:
    if not VECTOR_OFFICIAL.exists():
        pytest.skip("official vector not in this checkout")
    assert VECTOR_COPY.read_bytes() == VECTOR_OFFICIAL.read_bytes()


# --- the official vector -----------------------------------------------------------------------------


def test_official_vector_sign_matches_expected(vector: dict[str, Any]) -> None:
    assert kuaidi100.sign(vector["param"], vector["salt"]) == vector["expected_sign"]


def test_official_vector_verifies(vector: dict[str, Any]) -> None:
    kuaidi100.verify(vector["param"], vector["expected_sign"], vector["salt"])


def test_official_vector_parses_to_yuantong_in_transit(vector: dict[str, Any]) -> None:
    update = kuaidi100.parse_push(vector["param"])

    assert update.partner == "kuaidi100"
    assert update.carrier == "yuantong"
    assert update.tracking_number == "V030344422"
    assert update.state is TrackingState.IN_TRANSIT
    assert update.raw_state == "0"
    assert update.subscription_status == "polling"
    [trace] = update.traces
    assert trace.state is TrackingState.IN_TRANSIT
    assert trace.raw_status == "在途"
    assert trace.context == "上海分拨中心/装件入车扫描"  # partner padding trimmed
    assert trace.area == "上海市"
    # 16:33:19 in Shanghai is 08:33:19 UTC
    assert trace.at == datetime(2012, 8, 28, 8, 33, 19, tzinfo=UTC)
    assert update.latest_at == trace.at


def test_ack_body_is_byte_for_byte_what_kuaidi100_expects(vector: dict[str, Any]) -> None:
    expected = json.dumps(vector["expected_response"], ensure_ascii=False, separators=(",", ":"))
    assert expected == kuaidi100.ACK_BODY
    assert kuaidi100.ACK_BODY == '{"result":true,"returnCode":"200","message":"成功"}'
    assert (
        kuaidi100.ACK_BODY.encode("utf-8")
        == b'{"result":true,"returnCode":"200","message":"\xe6\x88\x90\xe5\x8a\x9f"}'
    )


def test_failure_body_says_false_so_kuaidi100_retries() -> None:
    assert json.loads(kuaidi100.failure_body()) == {"result": False, "returnCode": "500", "message": "失败"}


# --- tampering ---------------------------------------------------------------------------------------


def _reject_code(param: str, sign: str, salt: str) -> str:
    with pytest.raises(CallbackRejected) as caught:
        kuaidi100.verify(param, sign, salt)
    return caught.value.code


def test_one_changed_byte_in_param_is_rejected(vector: dict[str, Any]) -> None:
    tampered = vector["param"].replace("V030344422", "V030344423")
    assert _reject_code(tampered, vector["expected_sign"], vector["salt"]) == "bad_signature"


def test_wrong_salt_is_rejected(vector: dict[str, Any]) -> None:
    assert _reject_code(vector["param"], vector["expected_sign"], "test-salt-124") == "bad_signature"


def test_lower_case_sign_is_rejected(vector: dict[str, Any]) -> None:
    assert _reject_code(vector["param"], vector["expected_sign"].lower(), vector["salt"]) == "bad_signature"


def test_empty_or_non_ascii_sign_is_rejected(vector: dict[str, Any]) -> None:
    assert _reject_code(vector["param"], "", vector["salt"]) == "bad_signature"
    assert _reject_code(vector["param"], "签名" * 16, vector["salt"]) == "bad_signature"


def test_rejection_message_does_not_leak_the_salt_or_sign(vector: dict[str, Any]) -> None:
    with pytest.raises(CallbackRejected) as caught:
        kuaidi100.verify(vector["param"], "0" * 32, vector["salt"])
    assert vector["salt"] not in str(caught.value)
    assert vector["expected_sign"] not in str(caught.value)


# --- state codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("0", TrackingState.IN_TRANSIT),
        ("1", TrackingState.ACCEPTED),
        ("2", TrackingState.PROBLEM),
        ("3", TrackingState.SIGNED),
        ("4", TrackingState.RETURN_SIGNED),
        ("5", TrackingState.OUT_FOR_DELIVERY),
        ("6", TrackingState.RETURNING),
        ("7", TrackingState.REDIRECTED),
        ("10", TrackingState.CUSTOMS),
        ("11", TrackingState.CUSTOMS),
        ("12", TrackingState.CUSTOMS),
        ("13", TrackingState.CUSTOMS_PROBLEM),
        ("14", TrackingState.REFUSED),
    ],
)
def test_every_documented_state_code_maps(code: str, state: TrackingState) -> None:
    param, _ = kuaidi100.build_push(
        company="zhongtong",
        number="ZT1",
        state_code=code,
        traces=[("2024-05-01 10:00:00", "某站点", kuaidi100.status_name(code))],
        salt="s",
    )
    update = kuaidi100.parse_push(param)
    assert update.state is state
    assert update.traces[0].state is state  # the per-line status name maps the same way


def test_an_unknown_state_code_is_rejected_as_unknown_state() -> None:
    param, _ = kuaidi100.build_push(company="yuantong", number="Y1", state_code="99", traces=[], salt="s")
    with pytest.raises(CallbackRejected) as caught:
        kuaidi100.parse_push(param)
    assert caught.value.code == "unknown_state"


# --- malformed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param",
    [
        "not json",
        "[]",
        "{}",
        '{"status":"polling"}',
        '{"lastResult":"x"}',
        '{"lastResult":{"nu":"1","state":"0","data":[]}}',  # no com
        '{"lastResult":{"com":"yuantong","state":"0","data":[]}}',  # no nu
        '{"lastResult":{"com":"yuantong","nu":"1","data":[]}}',  # no state
        '{"lastResult":{"com":"yuantong","nu":"1","state":"0","data":{}}}',
        '{"lastResult":{"com":"yuantong","nu":"1","state":"0","data":["x"]}}',
        '{"lastResult":{"com":"yuantong","nu":"1","state":"0","data":[{"context":"no time"}]}}',
        '{"lastResult":{"com":"yuantong","nu":"1","state":"0","data":[{"time":"yesterday"}]}}',
    ],
)
def test_malformed_push_is_rejected_as_malformed(param: str) -> None:
    with pytest.raises(CallbackRejected) as caught:
        kuaidi100.parse_push(param)
    assert caught.value.code == "malformed"


# --- round trip, ordering, duplicates ----------------------------------------------------------------


def test_sandbox_push_verifies_and_parses_with_traces_newest_first() -> None:
    param, sign = kuaidi100.build_push(
        company="yuantong",
        number="YT100",
        state_code="3",
        traces=[
            (datetime(2024, 5, 2, 9, 0, tzinfo=UTC), "已签收", "签收"),
            (datetime(2024, 5, 1, 9, 0, tzinfo=UTC), "派件中", "派件"),
            (datetime(2024, 4, 30, 9, 0, tzinfo=UTC), "已揽收", "揽收"),
        ],
        salt="local-salt",
    )
    kuaidi100.verify(param, sign, "local-salt")
    update = kuaidi100.parse_push(param)

    assert update.state is TrackingState.SIGNED
    assert [t.state for t in update.traces] == [
        TrackingState.SIGNED,
        TrackingState.OUT_FOR_DELIVERY,
        TrackingState.ACCEPTED,
    ]
    assert update.traces[0].at == datetime(
        2024, 5, 2, 9, 0, tzinfo=UTC
    )  # written in +08:00, read back exactly


def test_the_same_push_retried_has_the_same_event_key_and_new_content_a_new_one() -> None:
    traces = [("2024-05-01 10:00:00", "在途", "在途")]
    first, _ = kuaidi100.build_push(company="yunda", number="1", state_code="0", traces=traces, salt="s")
    again = json.dumps(json.loads(first), ensure_ascii=False, indent=1)  # same content, other spacing
    later, _ = kuaidi100.build_push(
        company="yunda",
        number="1",
        state_code="5",
        traces=[("2024-05-02 08:00:00", "派件", "派件"), *traces],
        salt="s",
    )

    assert kuaidi100.parse_push(first).event_key == kuaidi100.parse_push(again).event_key
    assert kuaidi100.parse_push(first).event_key != kuaidi100.parse_push(later).event_key


def test_an_abort_push_without_traces_still_parses() -> None:
    param, _ = kuaidi100.build_push(
        company="shentong",
        number="S1",
        state_code="0",
        traces=[],
        salt="s",
        status="abort",
        message="3天查询无记录",
    )
    update = kuaidi100.parse_push(param)
    assert update.subscription_status == "abort"
    assert update.message == "3天查询无记录"
    assert update.traces == []
    assert update.latest_at is None


# --- subscription ------------------------------------------------------------------------------------


def test_poll_request_is_a_form_post_with_schema_json_and_salted_param() -> None:
    request = kuaidi100.poll_request(
        key="KEY",
        company="YuanTong",
        number="YT1",
        callback_url="https://api.example.com/logistics/kuaidi100?o=1",
        salt="SALT",
        phone="1234",
    )

    assert request.method == "POST"
    assert request.url == "https://poll.kuaidi100.com/poll"
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    form = parse_qs(request.body.decode("ascii"), strict_parsing=True)
    assert form["schema"] == ["json"]
    param = json.loads(form["param"][0])
    assert param == {
        "company": "yuantong",
        "number": "YT1",
        "key": "KEY",
        "parameters": {
            "callbackurl": "https://api.example.com/logistics/kuaidi100?o=1",
            "salt": "SALT",
            "resultv2": "1",
            "phone": "1234",
        },
    }


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ('{"result":true,"returnCode":"200","message":"提交成功"}', True),
        ('{"result":false,"returnCode":"501","message":"重复订阅"}', True),
        ('{"result":false,"returnCode":"700","message":"订阅方的订阅数据存在错误"}', False),
    ],
)
def test_poll_reply_accepts_200_and_501(body: str, accepted: bool) -> None:
    assert kuaidi100.parse_poll_reply(body.encode("utf-8")).accepted is accepted


def test_poll_reply_500_is_retryable_and_600_is_not() -> None:
    with pytest.raises(SubscriptionFailed) as transient:
        kuaidi100.check_poll_reply('{"result":false,"returnCode":"500","message":"服务器错误"}')
    with pytest.raises(SubscriptionFailed) as permanent:
        kuaidi100.check_poll_reply('{"result":false,"returnCode":"600","message":"您不是合法的订阅者"}')
    assert transient.value.retryable is True
    assert permanent.value.retryable is False
    assert permanent.value.code == "600"


def test_unreadable_poll_reply_is_a_retryable_failure() -> None:
    with pytest.raises(SubscriptionFailed) as caught:
        kuaidi100.parse_poll_reply(b"<html>502</html>")
    assert caught.value.retryable is True
