"""Local only: `POST /sandbox/ship/{order_id}?to=delivered|exception` plays the courier.

It posts correctly signed Kuaidi100 pushes, THROUGH OUR GATEWAY, for each step up to the target:
揽收 -> 在途 -> 派件 -> 签收 (`delivered`) or 揽收 -> 在途 -> 疑难 (`exception`). Each push carries the
whole history so far, newest first, as Kuaidi100 does. The salt comes from the `logistics` secret; the API
URL from the runtime's configuration (`sandbox_payments.api_url`: never a request header). Answers JSON
with what it posted.

Trace times tell a possible story: every one is at or after the moment the order was paid (placed, if it
never was), they increase by at least a second (Kuaidi100 writes whole seconds) and none is in the future:
each push is posted once its time has come, so a parcel paid for a moment ago takes a few seconds to walk.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from infra.local.sandbox_payments import api_url

if TYPE_CHECKING:
    from shared.orders.aggregate import Order

STEPS = {
    "delivered": [
        ("1", "【杭州仓】已揽收"),
        ("0", "快件已到达【上海分拨中心】"),
        ("5", "快递员正在派件"),
        ("3", "已签收，签收人：本人"),
    ],
    "exception": [
        ("1", "【杭州仓】已揽收"),
        ("0", "快件已到达【上海分拨中心】"),
        ("2", "收件地址不详，联系不上收件人"),
    ],
}


MAX_STEP = timedelta(minutes=1)  # steps at most a minute apart


def trace_times(after: datetime, now: datetime, steps: int) -> list[datetime]:
    """`steps` whole-second times, strictly increasing, none before `after`.

    With room before `now` they end at `now`, at most a minute apart; an order from a few seconds ago gets
    one-second steps from `after` on, the last ones up to `steps` seconds ahead (the courier waits for them).
    """
    first = datetime.fromtimestamp(math.ceil(after.timestamp()), tz=after.tzinfo)  # formatted, it is >= after
    last = now.replace(microsecond=0)
    room = int((last - first).total_seconds())
    if steps > 1 and room >= steps - 1:
        step = min(MAX_STEP, timedelta(seconds=room // (steps - 1)))
        return [last - step * (steps - 1 - i) for i in range(steps)]
    if steps == 1:
        return [max(first, last)]
    return [first + timedelta(seconds=i) for i in range(steps)]


def order_moment(order: Order) -> datetime:
    """When the order was paid (the latest move to PAID), or placed if it never was."""
    from shared.core.clock import parse_iso
    from shared.orders.events import StatusChanged

    paid = [e.at for e in order.events if isinstance(e, StatusChanged) and e.to_status == "PAID"]
    return max(parse_iso(s) for s in [order.created_at, *paid])


def wait_until(moment: datetime, clock: Callable[[], datetime], sleep: Callable[[float], None] = time.sleep) -> None:
    """Sleep until `moment` by `clock`: one sleep, so a frozen test clock cannot make it wait forever."""
    left = (moment - clock()).total_seconds()
    if left > 0:
        sleep(left)


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import requests

    from shared.core.clock import now
    from shared.logistics import secrets
    from shared.logistics.adapters import kuaidi100
    from shared.orders import store

    order_id = (event.get("pathParameters") or {}).get("order_id") or event["rawPath"].rsplit("/", 1)[-1]
    target = (event.get("queryStringParameters") or {}).get("to", "delivered")
    if target not in STEPS:
        return _reply(400, {"error": "to must be delivered or exception"})
    order = store.get(order_id, consistent=True)
    shipment = order.shipment if order else None
    if order is None or not shipment:
        return _reply(404, {"error": f"order {order_id} has no shipment (not shipped yet?)"})
    salt = secrets.config().kuaidi100_salt.get_secret_value()
    url = f"{api_url()}/logistics/kuaidi100/notify"
    history: list[tuple[Any, str, str]] = []
    posted = []
    steps: Sequence[tuple[str, str]] = STEPS[target]
    times = trace_times(order_moment(order), now(), len(steps))
    for at, (code, context_text) in zip(times, steps, strict=True):
        # Never a time in the future: a future 签收 would push the completion timer out.
        wait_until(at, now)
        history.insert(0, (at, context_text, kuaidi100.status_name(code)))
        param, sign = kuaidi100.build_push(
            company=shipment["carrier"],
            number=shipment["tracking_number"],
            state_code=code,
            traces=history,
            salt=salt,
        )
        answer = requests.post(url, data={"param": param, "sign": sign}, timeout=10)
        posted.append(
            {
                "state": code,
                "status_name": kuaidi100.status_name(code),
                "http_status": answer.status_code,
                "answer": answer.text,
            }
        )
    return _reply(
        200,
        {
            "order_id": order_id,
            "carrier": shipment["carrier"],
            "tracking_number": shipment["tracking_number"],
            "to": target,
            "posted": posted,
        },
    )
