"""KDNiao (快递鸟) trace push: DataSign, parsing, the JSON ack, carrier codes, and a sandbox signer.

A push is a form POST with `RequestData` (JSON), `DataSign` and `RequestType` (101: trace push; 102 is
used by the value-added push for the same shape). DataSign, per KDNiao's SDKs ("把(请求内容(未编码)+ApiKey)
进行MD5加密--32位小写，然后Base64编码，最后进行URL(utf-8)编码"), is

    urlencode_utf8( base64( lower_hex( MD5(RequestData + AppKey) ) ) )

i.e. base64 of the 32 ASCII hex characters, not of the 16 raw digest bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from shared.core import clock
from shared.logistics.adapters._common import (
    format_partner_time,
    loads_object,
    newest_first,
    optional_str,
    parse_partner_time,
    require_str,
    tracking_update,
)
from shared.logistics.adapters.errors import CallbackRejected
from shared.logistics.models import Trace, TrackingState, TrackingUpdate

TRACE_PUSH_TYPES = frozenset({"101", "102"})
CONTENT_TYPE = "application/json; charset=utf-8"

# State (basic) -> ours
STATE_CODES: dict[str, TrackingState] = {
    "0": TrackingState.NO_INFO,  # 暂无轨迹
    "1": TrackingState.ACCEPTED,  # 已揽收
    "2": TrackingState.IN_TRANSIT,  # 在途中
    "201": TrackingState.IN_TRANSIT,  # 到达派件城市 (some State lists carry it)
    "3": TrackingState.SIGNED,  # 签收
    "4": TrackingState.PROBLEM,  # 问题件
    "5": TrackingState.REDIRECTED,  # 转寄
    "6": TrackingState.CUSTOMS,  # 清关
    "10": TrackingState.AWAITING_PICKUP,  # 待揽件
}

# StateEx (detailed, preferred when present) -> ours
STATE_EX_CODES: dict[str, TrackingState] = {
    "0": TrackingState.NO_INFO,
    "1": TrackingState.ACCEPTED,  # 已揽收
    "10": TrackingState.AWAITING_PICKUP,  # 待揽件
    "2": TrackingState.IN_TRANSIT,  # 在途中
    "201": TrackingState.IN_TRANSIT,  # 到达派件城市: not yet with a courier
    "204": TrackingState.IN_TRANSIT,  # 到达转运中心
    "205": TrackingState.IN_TRANSIT,  # 到达派件网点
    "206": TrackingState.IN_TRANSIT,  # 寄件网点发件
    "202": TrackingState.OUT_FOR_DELIVERY,  # 派件中
    "211": TrackingState.OUT_FOR_DELIVERY,  # 已放入快递柜或驿站: waits for the recipient, not signed
    "3": TrackingState.SIGNED,  # 已签收
    "301": TrackingState.SIGNED,  # 正常签收
    "302": TrackingState.SIGNED,  # 异常后最终签收
    "304": TrackingState.SIGNED,  # 代收签收
    "311": TrackingState.SIGNED,  # 快递柜或驿站签收 / 已取出
    "4": TrackingState.PROBLEM,  # 问题件
    "401": TrackingState.PROBLEM,  # 发货无信息
    "402": TrackingState.PROBLEM,  # 超时未签收
    "403": TrackingState.PROBLEM,  # 超时未更新
    "404": TrackingState.REFUSED,  # 拒收(退件)
    "405": TrackingState.PROBLEM,  # 派件异常
    "406": TrackingState.RETURN_SIGNED,  # 退货签收: the sender has it back
    "407": TrackingState.RETURNING,  # 退货未签收: on its way back, not yet signed by the sender
    "412": TrackingState.PROBLEM,  # 快递柜或驿站超时未取
    "413": TrackingState.PROBLEM,  # 单号已拦截
    "414": TrackingState.PROBLEM,  # 破损
    "415": TrackingState.PROBLEM,  # 客户取消发货
    "416": TrackingState.PROBLEM,  # 无法联系
    "417": TrackingState.PROBLEM,  # 配送延迟
    "418": TrackingState.PROBLEM,  # 快件取出
    "419": TrackingState.PROBLEM,  # 重新派送
    "420": TrackingState.PROBLEM,  # 收货地址不详细
    "421": TrackingState.PROBLEM,  # 收件人电话错误
    "422": TrackingState.PROBLEM,  # 错分件
    "423": TrackingState.PROBLEM,  # 超区件
    "5": TrackingState.REDIRECTED,  # 转寄
    "6": TrackingState.CUSTOMS,  # 清关
    "601": TrackingState.CUSTOMS,  # 待清关
    "602": TrackingState.CUSTOMS,  # 清关中
    "603": TrackingState.CUSTOMS,  # 已清关
    "604": TrackingState.CUSTOMS_PROBLEM,  # 清关异常
}

# KDNiao ShipperCode -> Kuaidi100 company code, so `carrier` means one thing whichever partner reported it.
SHIPPER_TO_KUAIDI100: dict[str, str] = {
    "SF": "shunfeng",  # 顺丰
    "YTO": "yuantong",  # 圆通
    "ZTO": "zhongtong",  # 中通
    "STO": "shentong",  # 申通
    "YD": "yunda",  # 韵达
    "EMS": "ems",
    "YZPY": "youzhengguonei",  # 邮政快递包裹
    "JD": "jd",  # 京东
    "HTKY": "huitongkuaidi",  # 百世快递
    "ZJS": "zhaijisong",  # 宅急送
    "JTSD": "jtexpress",  # 极兔
}
KUAIDI100_TO_SHIPPER: dict[str, str] = {v: k for k, v in SHIPPER_TO_KUAIDI100.items()}


def carrier_code(shipper_code: str) -> str:
    """KDNiao ShipperCode -> Kuaidi100 company code; CallbackRejected `unknown_carrier` when unmapped."""
    code = SHIPPER_TO_KUAIDI100.get(shipper_code.strip().upper())
    if code is None:
        raise CallbackRejected("unknown_carrier", f"kdniao shipper {shipper_code[:16]!r}")
    return code


# --- signature ---------------------------------------------------------------------------------------


def _raw_sign(request_data: str, app_key: str) -> str:
    # MD5 is the partner's choice, not ours
    hex_digest = hashlib.md5((request_data + app_key).encode("utf-8")).hexdigest()
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


def data_sign(request_data: str, app_key: str) -> str:
    """The DataSign KDNiao puts on the wire: URL-encoded base64 of the lower-case hex MD5."""
    return quote(_raw_sign(request_data, app_key), safe="")


def verify(request_data: str, data_sign: str, app_key: str) -> None:
    """Raise CallbackRejected `bad_signature` unless `data_sign` matches `request_data`.

    `request_data` is the form-decoded JSON. `data_sign` may arrive still URL-encoded (KDNiao encodes it,
    so a body encoded twice leaves it encoded after the form parser) or already decoded. Base64 of hex
    text never contains '+' or '/', so the only escape is the trailing '=' (%3D) and decoding is unambiguous.
    """
    candidate = data_sign.strip()
    if "%" in candidate:
        candidate = unquote(candidate)
    expected = _raw_sign(request_data, app_key)
    if not candidate or not hmac.compare_digest(expected.encode("ascii"), candidate.encode("utf-8")):
        raise CallbackRejected("bad_signature", "kdniao DataSign mismatch")


# --- push parsing ------------------------------------------------------------------------------------


def parse_push(request_data: str, request_type: str) -> list[TrackingUpdate]:
    """Parse a (verified) trace push: one TrackingUpdate per shipment in `Data`.

    Raises CallbackRejected `unsupported_request_type`, `malformed`, `unknown_state` or `unknown_carrier`
    (any one bad shipment rejects the push, so nothing is half-applied).
    """
    if request_type.strip() not in TRACE_PUSH_TYPES:
        raise CallbackRejected("unsupported_request_type", f"RequestType {request_type[:8]!r}")
    body = loads_object(request_data, what="RequestData")
    data = body.get("Data")
    if not isinstance(data, list):
        raise CallbackRejected("malformed", "RequestData.Data is not a list")
    return [_shipment(item) for item in data]


def _shipment(item: Any) -> TrackingUpdate:
    if not isinstance(item, dict):
        raise CallbackRejected("malformed", "Data item is not an object")
    carrier = carrier_code(require_str(item, "ShipperCode", where="Data"))
    number = require_str(item, "LogisticCode", where="Data")
    state_code = require_str(item, "State", where="Data")
    state_ex = optional_str(item, "StateEx")
    if state_ex in STATE_EX_CODES:
        raw_state, state = state_ex, STATE_EX_CODES[state_ex]
    elif state_code in STATE_CODES:
        raw_state, state = state_code, STATE_CODES[state_code]
    else:
        raise CallbackRejected("unknown_state", f"kdniao State {state_code[:8]!r} StateEx {state_ex[:8]!r}")
    raw_traces = item.get("Traces")
    if raw_traces is None:
        raw_traces = []
    if not isinstance(raw_traces, list):
        raise CallbackRejected("malformed", "Data.Traces is not a list")
    traces = newest_first([_trace(t) for t in raw_traces])  # KDNiao lists oldest first
    return tracking_update("kdniao", carrier=carrier, number=number, state=state, raw_state=raw_state,
                           traces=traces, message=optional_str(item, "Reason"), state_parts=(state_code, state_ex))


def _trace(item: Any) -> Trace:
    if not isinstance(item, dict):
        raise CallbackRejected("malformed", "Traces item is not an object")
    action = optional_str(item, "Action")
    return Trace(
        at=parse_partner_time(require_str(item, "AcceptTime", where="Traces")),
        state=STATE_EX_CODES.get(action),
        raw_status=action,
        context=optional_str(item, "AcceptStation"),
        area=optional_str(item, "Location") or None,
    )


# --- the answer KDNiao expects -----------------------------------------------------------------------


def ack_body(business_id: str, success: bool = True, reason: str = "", *, now: datetime | None = None) -> str:
    """`{"EBusinessID":"...","UpdateTime":"YYYY-MM-DD HH:MM:SS","Success":true,"Reason":""}` (Shanghai time).

    `business_id` is our own EBusinessID. Success=false makes KDNiao push again later.
    """
    moment = now if now is not None else clock.now()
    return json.dumps(
        {
            "EBusinessID": business_id,
            "UpdateTime": format_partner_time(moment),
            "Success": success,
            "Reason": reason,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


# --- sandbox: what KDNiao would post -----------------------------------------------------------------


def build_request_data(
    *,
    business_id: str,
    shipments: list[dict[str, Any]],
    push_time: datetime | None = None,
) -> str:
    """RequestData JSON for ready-made shipment dicts (ShipperCode, LogisticCode, State, Traces...)."""
    moment = push_time if push_time is not None else clock.now()
    body = {
        "EBusinessID": business_id,
        "PushTime": format_partner_time(moment),
        "Count": str(len(shipments)),
        "Data": shipments,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def build_push(
    *,
    business_id: str,
    app_key: str,
    shipper_code: str,
    logistic_code: str,
    state: str,
    traces: Sequence[tuple[datetime | str, str, str]],
    state_ex: str | None = None,
    location: str = "",
    request_type: str = "101",
    push_time: datetime | None = None,
) -> dict[str, str]:
    """Form fields {RequestData, DataSign, RequestType} as KDNiao sends them (DataSign URL-encoded).

    `traces` are (time, AcceptStation, Action), any order (KDNiao sends oldest first); a datetime is
    written as Shanghai local time. Use `encode_form` for the exact wire body.
    """
    rows = [
        {
            "AcceptTime": format_partner_time(when) if isinstance(when, datetime) else when,
            "AcceptStation": station,
            "Action": action,
            "Location": location,
        }
        for when, station, action in sorted(traces, key=lambda t: _sort_key(t[0]))
    ]
    shipment: dict[str, Any] = {
        "EBusinessID": business_id,
        "ShipperCode": shipper_code,
        "LogisticCode": logistic_code,
        "Success": True,
        "Reason": "",
        "State": state,
        "Location": location,
        "Traces": rows,
    }
    if state_ex is not None:
        shipment["StateEx"] = state_ex
    request_data = build_request_data(business_id=business_id, shipments=[shipment], push_time=push_time)
    return {
        "RequestData": request_data,
        "DataSign": data_sign(request_data, app_key),
        "RequestType": request_type,
    }


def _sort_key(when: datetime | str) -> datetime:
    return when if isinstance(when, datetime) else parse_partner_time(when)


def encode_form(fields: dict[str, str]) -> bytes:
    """The wire body as KDNiao's own SDK builds it: values URL-encoded once, DataSign already encoded."""
    parts = []
    for name, value in fields.items():
        encoded = value if name == "DataSign" else quote(value, safe="")
        parts.append(f"{name}={encoded}")
    return "&".join(parts).encode("ascii")
