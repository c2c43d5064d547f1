"""A shopper asks about an order; ops take the ticket, answer, and close it once the shopper is happy.

    python -m examples.support_ticket [BASE_URL]

A ticket about an order or after-sales case someone else owns is 404, as everywhere. Texts are stored as given
and come back as JSON strings: escape them where you render them.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from examples.client import connect, show, step, wait_until


def sub_of(token: str) -> str:
    """The user id in an ID token (ops assign tickets to a user id)."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    api = connect(__doc__ or "", argv)
    shopper, ops = api.login("shopper1"), api.login("ops1")

    step("An order to ask about")
    order_id = api.place_order(shopper, {"items": [{"sku": "PROMO-OFFICIAL-STARTER", "quantity": 1}],
                                         "target": "https://shop.example.com/store/42"})

    step("Open a ticket about it: POST /me/tickets (Idempotency-Key required)")
    body = {"subject": "发票怎么开？", "body": "需要增值税普通发票，抬头：某某公司", "category": "order",
            "order_id": order_id}
    ticket = api.call("POST", "/me/tickets", shopper, body=body, headers={"Idempotency-Key": str(uuid.uuid4())},
                      expect=(201,))
    ticket_id = ticket["ticket_id"]
    show("ticket", {k: ticket[k] for k in ("ticket_id", "status", "order_id")})

    step("Ops see it waiting (oldest first), take it and answer: the first response")
    queue = api.call("GET", "/ops/tickets", ops)["items"]
    show("waiting for ops", ticket_id in [t["ticket_id"] for t in queue])
    api.call("POST", f"/ops/tickets/{ticket_id}/assign", ops, body={"assignee": sub_of(ops)})
    answered = api.call("POST", f"/tickets/{ticket_id}/messages", ops, expect=(201,),
                        body={"body": "您好，请在订单页点击“申请发票”。", "client_message_id": str(uuid.uuid4())})
    show("status", answered["status"])

    step("The shopper is told (GET /me/notifications) and replies")
    notes = wait_until(lambda: api.call("GET", "/me/notifications", shopper)["items"],
                       lambda items: any(n.get("ticket_id") == ticket_id for n in items))
    told = [n["type"] for n in notes if n.get("ticket_id") == ticket_id]
    show("notification", told)
    replied = api.call("POST", f"/tickets/{ticket_id}/messages", shopper, expect=(201,),
                       body={"body": "找到了，谢谢！", "client_message_id": str(uuid.uuid4())})
    show("status", replied["status"])

    step("Ops close it with a resolution; the thread and its history")
    closed = api.call("POST", f"/ops/tickets/{ticket_id}/close", ops, body={"resolution": "已指导开票"})
    thread = api.call("GET", f"/tickets/{ticket_id}", shopper)
    for message in thread["messages"]:
        print(f"    {message['seq']}. {message['author']:<6} {message['body']}")
    for event in thread["history"]:
        print(f"    {event['at']}  {event['type']:<9} -> {event['to_status']}")
    return {"order_id": order_id, "ticket": ticket, "answered": answered, "told": told, "replied": replied,
            "closed": closed, "thread": thread}


if __name__ == "__main__":
    main()
