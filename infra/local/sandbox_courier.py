"""Local only: `POST /sandbox/ship/{order_id}?to=delivered|exception` plays the courier.

It posts correctly signed Kuaidi100 pushes, THROUGH OUR GATEWAY, for each step up to the target:
揽收 -> 在途 -> 派件 -> 签收 (`delivered`) or 揽收 -> 在途 -> 疑难 (`exception`). Each push carries the
whole history so far, newest first, as Kuaidi100 does. The salt comes from the `logistics` secret; the API
URL from the runtime's configuration (`sandbox_payments.api_url`: never a request header). Answers JSON
with what it posted.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from infra.local.sandbox_payments import api_url

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
    shipment = (order or {}).get("shipment")
    if not shipment:
        return _reply(404, {"error": f"order {order_id} has no shipment (not shipped yet?)"})
    salt = secrets.config().kuaidi100_salt.get_secret_value()
    url = f"{api_url()}/logistics/kuaidi100/notify"
    start = now()
    history: list[tuple[Any, str, str]] = []
    posted = []
    steps = STEPS[target]
    for index, (code, context_text) in enumerate(steps):
        # Steps a minute apart, ending now: a future 签收 time would push the completion timer out.
        at = start - timedelta(minutes=len(steps) - 1 - index)
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
