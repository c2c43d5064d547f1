"""Kuaidi100 (快递100) subscription push: signature, parsing, the exact ack, subscription, sandbox signer.

A push is a form POST with `param` (a JSON string) and `sign` = upper-case hex MD5(param + salt), where
`salt` is the one we gave when subscribing. The receiver answers exactly `ACK_BODY`; anything else makes
Kuaidi100 retry. The subscription itself (`poll`) carries our `key` in `param` and needs no signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError

from shared.logistics.adapters._common import (
    format_partner_time,
    loads_object,
    newest_first,
    optional_str,
    parse_partner_time,
    require_str,
    tracking_update,
)
from shared.logistics.adapters.errors import CallbackRejected, SubscriptionFailed
from shared.logistics.adapters.http import PartnerRequest
from shared.logistics.models import Trace, TrackingState, TrackingUpdate

POLL_URL = "https://poll.kuaidi100.com/poll"

# Byte-exact: Kuaidi100 compares the body, and the official vector gives it with no spaces.
ACK_BODY = '{"result":true,"returnCode":"200","message":"成功"}'
CONTENT_TYPE = "application/json; charset=utf-8"

# lastResult.state -> ours (codes from the official push documentation / vector "about")
STATE_CODES: dict[str, TrackingState] = {
    "0": TrackingState.IN_TRANSIT,  # 在途
    "1": TrackingState.ACCEPTED,  # 揽收
    "2": TrackingState.PROBLEM,  # 疑难
    "3": TrackingState.SIGNED,  # 签收
    "4": TrackingState.RETURN_SIGNED,  # 退签
    "5": TrackingState.OUT_FOR_DELIVERY,  # 派件
    "6": TrackingState.RETURNING,  # 退回
    "7": TrackingState.REDIRECTED,  # 转投
    "10": TrackingState.CUSTOMS,  # 待清关
    "11": TrackingState.CUSTOMS,  # 清关中
    "12": TrackingState.CUSTOMS,  # 已清关
    "13": TrackingState.CUSTOMS_PROBLEM,  # 清关异常
    "14": TrackingState.REFUSED,  # 拒签
}

# data[].status names (present with resultv2=1) -> ours; unknown names leave Trace.state None
STATUS_NAMES: dict[str, TrackingState] = {
    "在途": TrackingState.IN_TRANSIT,
    "揽收": TrackingState.ACCEPTED,
    "疑难": TrackingState.PROBLEM,
    "签收": TrackingState.SIGNED,
    "退签": TrackingState.RETURN_SIGNED,
    "派件": TrackingState.OUT_FOR_DELIVERY,
    "退回": TrackingState.RETURNING,
    "转投": TrackingState.REDIRECTED,
    "待清关": TrackingState.CUSTOMS,
    "清关中": TrackingState.CUSTOMS,
    "已清关": TrackingState.CUSTOMS,
    "清关异常": TrackingState.CUSTOMS_PROBLEM,
    "拒签": TrackingState.REFUSED,
}
_NAME_OF_CODE = {
    "0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "4": "退签", "5": "派件", "6": "退回", "7": "转投",
    "10": "待清关", "11": "清关中", "12": "已清关", "13": "清关异常", "14": "拒签",
}  # fmt: skip


# --- signature ---------------------------------------------------------------------------------------


def _md5_upper(param: str, salt: str) -> str:
    return hashlib.md5((param + salt).encode("utf-8")).hexdigest().upper()  # MD5 is the partner's choice


def sign(param: str, salt: str) -> str:
    """Upper-case hex MD5 of (param + salt), over the UTF-8 bytes."""
    return _md5_upper(param, salt)


def verify(param: str, sign: str, salt: str) -> None:
    """Raise `CallbackRejected("bad_signature")` unless `sign` is exactly the upper-case MD5(param + salt).

    Case-sensitive on purpose: Kuaidi100 sends upper case, so a lower-case value did not come from them.
    """
    expected = _md5_upper(param, salt)
    if not sign or not hmac.compare_digest(expected.encode("utf-8"), sign.encode("utf-8")):
        raise CallbackRejected("bad_signature", "kuaidi100 sign mismatch")


# --- push parsing ------------------------------------------------------------------------------------


def parse_push(param: str) -> TrackingUpdate:
    """Parse a (verified) push `param`. Raises CallbackRejected `malformed` or `unknown_state`."""
    body = loads_object(param, what="param")
    last = body.get("lastResult")
    if not isinstance(last, dict):
        raise CallbackRejected("malformed", "lastResult missing")
    carrier = require_str(last, "com", where="lastResult").lower()
    number = require_str(last, "nu", where="lastResult")
    raw_state = require_str(last, "state", where="lastResult")
    state = STATE_CODES.get(raw_state)
    if state is None:
        raise CallbackRejected("unknown_state", f"kuaidi100 state {raw_state[:8]!r}")
    data = last.get("data", [])
    if data is None:
        data = []
    if not isinstance(data, list):
        raise CallbackRejected("malformed", "lastResult.data is not a list")
    traces = newest_first([_trace(item) for item in data])
    status = optional_str(body, "status") or None
    message = optional_str(body, "message")
    return tracking_update("kuaidi100", carrier=carrier, number=number, state=state, raw_state=raw_state,
                           traces=traces, message=message, state_parts=(raw_state, status),
                           subscription_status=status)


def _trace(item: Any) -> Trace:
    if not isinstance(item, dict):
        raise CallbackRejected("malformed", "lastResult.data item is not an object")
    when = optional_str(item, "time") or optional_str(item, "ftime")
    if not when:
        raise CallbackRejected("malformed", "lastResult.data item has no time")
    status_name = optional_str(item, "status")
    return Trace(
        at=parse_partner_time(when),
        state=STATUS_NAMES.get(status_name),
        raw_status=status_name,
        context=optional_str(item, "context"),
        area=optional_str(item, "areaName") or None,
    )


def failure_body(message: str = "失败", return_code: str = "500") -> str:
    """A refusal Kuaidi100 will retry (use only for transient errors on our side)."""
    return json.dumps(
        {"result": False, "returnCode": return_code, "message": message},
        ensure_ascii=False,
        separators=(",", ":"),
    )


# --- subscription (poll) -----------------------------------------------------------------------------


def poll_request(
    *,
    key: str,
    company: str,
    number: str,
    callback_url: str,
    salt: str,
    phone: str | None = None,
    resultv2: str = "1",
) -> PartnerRequest:
    """The `poll` subscription: form `schema=json&param=<json>` POSTed to POLL_URL.

    `salt` makes every push carry `sign`; `resultv2=1` adds area names and per-line status names.
    `phone` (recipient or sender phone, or its last 4 digits) is required by SF (shunfeng) and a few others.
    """
    parameters: dict[str, str] = {"callbackurl": callback_url, "salt": salt, "resultv2": resultv2}
    if phone:
        parameters["phone"] = phone
    param = {"company": company.lower(), "number": number, "key": key, "parameters": parameters}
    body = urlencode(
        {"schema": "json", "param": json.dumps(param, ensure_ascii=False, separators=(",", ":"))}
    ).encode("ascii")
    return PartnerRequest(
        method="POST",
        url=POLL_URL,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body=body,
    )


class PollReply(BaseModel):
    result: bool
    returnCode: str  # the partner's field name
    message: str = ""

    @property
    def accepted(self) -> bool:
        # 501 = already subscribed and still being tracked: the earlier subscription stands
        return self.result or self.returnCode == "501"

    @property
    def retryable(self) -> bool:
        return self.returnCode == "500"


def parse_poll_reply(body: bytes | str) -> PollReply:
    """Parse the poll reply. Codes: 200 ok, 501 duplicate (ok), 500 server error (retry),
    600 bad key, 601 key expired, 700 bad data/callback, 701 company refused, 702 company not recognised."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return PollReply.model_validate(json.loads(text))
    except (ValueError, ValidationError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SubscriptionFailed("malformed", "unreadable poll reply", retryable=True) from error


def check_poll_reply(body: bytes | str) -> PollReply:
    """parse_poll_reply, raising SubscriptionFailed unless the subscription stands."""
    reply = parse_poll_reply(body)
    if not reply.accepted:
        raise SubscriptionFailed(reply.returnCode, reply.message, retryable=reply.retryable)
    return reply


# --- sandbox: what Kuaidi100 would post ---------------------------------------------------------------


def build_push(
    *,
    company: str,
    number: str,
    state_code: str,
    traces: Sequence[tuple[datetime | str, str, str]],
    salt: str,
    status: str = "polling",
    message: str = "",
) -> tuple[str, str]:
    """(param, sign) as Kuaidi100 posts them. `traces` are (time, context, status name), newest first;
    a datetime is written as Shanghai local time, a string is used as is."""
    data = []
    for when, context, status_name in traces:
        text = format_partner_time(when) if isinstance(when, datetime) else when
        data.append(
            {
                "context": context,
                "time": text,
                "ftime": text,
                "status": status_name,
                "areaCode": "",
                "areaName": "",
            }
        )
    body = {
        "status": status,
        "billstatus": "got",
        "message": message,
        "autoCheck": "0",
        "comOld": "",
        "comNew": "",
        "lastResult": {
            "message": "ok",
            "state": state_code,
            "status": "200",
            "condition": "F00",
            "ischeck": "1" if state_code == "3" else "0",
            "com": company,
            "nu": number,
            "data": data,
        },
    }
    param = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return param, _md5_upper(param, salt)


def status_name(state_code: str) -> str:
    """The Chinese status name Kuaidi100 writes for a state code (for sandbox traces)."""
    return _NAME_OF_CODE.get(state_code, "")
