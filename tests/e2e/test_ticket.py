"""Issue 13 item 7 over HTTP against the local stack: a shopper opens a ticket about an order, ops assign and
answer it, the shopper (notified) replies, ops close it with a resolution."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from examples import support_ticket
from tests.e2e.test_order_journey import Api, new_sku, place, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def sub_of(token: str) -> str:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


def notified(api: Api, token: str, ticket_id: str, kind: str, timeout_s: float = 10) -> dict[str, Any] | None:
    """The opener's notification of `kind` about the ticket, once the outbox (the stream poller) stored it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for note in api("GET", "/me/notifications", token=token).json()["items"]:
            if note.get("ticket_id") == ticket_id and note["type"] == kind:
                return dict(note)
        time.sleep(0.2)
    return None


def test_a_shopper_asks_about_an_order_and_ops_assign_answer_and_close(
    api: Api, token_for: Callable[..., str]
) -> None:
    shopper, ops, stranger = token_for("shopper"), token_for("ops"), token_for("shopper2")
    accepted = place(api, shopper, new_sku(api, token_for, stock=3))
    assert accepted.status_code == 202, accepted.text
    order_id = accepted.json()["order_id"]
    wait_for_status(api, shopper, order_id, {"AWAITING_PAYMENT"})

    # the shopper opens a ticket about the order; a retry with the same key answers the same ticket
    key = str(uuid.uuid4())
    question = {"subject": "能开发票吗？", "body": "<script>alert(1)</script> 需要增值税发票", "category": "order",
                "order_id": order_id}
    opened = api("POST", "/me/tickets", token=shopper, json=question, headers={"Idempotency-Key": key})
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    ticket_id = ticket["ticket_id"]
    assert opened.headers["location"] == f"/tickets/{ticket_id}"
    assert ticket["status"] == "OPEN" and ticket["messages"][0]["body"] == question["body"]  # stored as given
    again = api("POST", "/me/tickets", token=shopper, json=question, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json() == ticket
    assert api("GET", f"/tickets/{ticket_id}", token=stranger).status_code == 404
    stray = api("POST", "/me/tickets", token=stranger, json={**question}, headers={"Idempotency-Key": key})
    assert stray.status_code == 404 and stray.json()["code"] == "order_not_found"

    # ops find it in their queue and assign it to themselves
    queue = api("GET", "/ops/tickets", token=ops).json()
    assert ticket_id in [item["ticket_id"] for item in queue["items"]]
    assigned = api("POST", f"/ops/tickets/{ticket_id}/assign", token=ops, json={"assignee": sub_of(ops)})
    assert assigned.status_code == 200 and assigned.json()["status"] == "ASSIGNED", assigned.text

    # ops answer (the first response), and the shopper is told
    answer = api("POST", f"/tickets/{ticket_id}/messages", token=ops, json={"body": "可以，请在订单页申请"},
                 headers={"Idempotency-Key": str(uuid.uuid4())})
    assert answer.status_code == 201 and answer.json()["status"] == "ANSWERED", answer.text
    assert answer.json()["first_response_at"] is not None
    assert notified(api, shopper, ticket_id, "ticket_answered") is not None

    # the shopper replies (retried with the same client message id: one message)
    reply = {"body": "好的，谢谢", "client_message_id": str(uuid.uuid4())}
    first = api("POST", f"/tickets/{ticket_id}/messages", token=shopper, json=reply)
    retry = api("POST", f"/tickets/{ticket_id}/messages", token=shopper, json=reply)
    assert first.status_code == retry.status_code == 201 and first.json()["status"] == "WAITING", first.text
    assert retry.json()["message_count"] == 3
    waiting = api("GET", "/ops/tickets", token=ops, params={"status": "WAITING"}).json()
    assert ticket_id in [item["ticket_id"] for item in waiting["items"]]

    # ops close it with a resolution; the shopper reads the whole thread and history
    closed = api("POST", f"/ops/tickets/{ticket_id}/close", token=ops, json={"resolution": "已指导申请发票"})
    assert closed.status_code == 200 and closed.json()["status"] == "CLOSED", closed.text
    final = api("GET", f"/tickets/{ticket_id}", token=shopper).json()
    assert [m["author"] for m in final["messages"]] == ["opener", "ops", "opener"]
    assert [e["type"] for e in final["history"]] == ["opened", "assigned", "answered", "replied", "closed"]
    assert final["resolution"] == "已指导申请发票"
    late = api("POST", f"/tickets/{ticket_id}/messages", token=shopper, json={"body": "再问一下"},
               headers={"Idempotency-Key": str(uuid.uuid4())})
    assert late.status_code == 409 and late.json()["code"] == "ticket_closed"
    assert notified(api, shopper, ticket_id, "ticket_closed") is not None
    mine = api("GET", "/me/tickets", token=shopper).json()
    assert mine["items"][0]["ticket_id"] == ticket_id and mine["items"][0]["status"] == "CLOSED"


def test_the_ticket_example_runs_as_documented(local_stack: dict[str, Any]) -> None:
    from pathlib import Path

    seen = support_ticket.main([local_stack["api_url"], "--stack",
                                str(Path(local_stack["_log"]).parent / "stack.json")])
    assert seen["ticket"]["status"] == "OPEN" and seen["answered"]["status"] == "ANSWERED"
    assert seen["told"] and set(seen["told"]) <= {"ticket_answered", "ticket_closed"}
    assert seen["replied"]["status"] == "WAITING" and seen["closed"]["status"] == "CLOSED"
    assert [m["author"] for m in seen["thread"]["messages"]] == ["opener", "ops", "opener"]
