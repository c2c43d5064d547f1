"""Support tickets through the real api_orders and api_ops handlers on moto: who may open, read and write,
idempotent retries, the ops queue, the first-response SLA metric, the sweeper's oldest-waiting figure and the
opener's notification."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from functions.api_ops.handler import handler as api_ops
from functions.api_orders.handler import handler as api_orders
from functions.sweeper.handler import handler as sweeper
from shared.core.clock import now
from shared.core.observability import metrics
from shared.tickets import store
from shared.tickets.models import BODY_MAX
from tests.integration.test_after_sales_cases import open_case, tea_order
from tests.integration.test_fulfilment_helpers import fresh_sandbox_fixture  # noqa: F401
from tests.integration.test_notifications import my_notifications, notify, stream_event
from tests.support import MERCHANT, OPS, OTHER_MERCHANT, OTHER_SHOPPER, REVIEWER, SHOPPER, User, call, context

QUESTION = {"subject": "快递什么时候到？", "body": "<b>订单</b> 三天没动了 & 'quoted'", "category": "delivery"}


def open_ticket(body: dict[str, Any] | None = None, *, user: User = SHOPPER,
                key: str | None = "ticket-key-0001") -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key else None
    status, reply, _ = call(api_orders, "POST", "/me/tickets", user=user, body=body or QUESTION, headers=headers)
    return status, reply


def write(ticket_id: str, text: str, *, user: User, key: str | None = None,
          client_message_id: str | None = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"body": text}
    if client_message_id:
        body["client_message_id"] = client_message_id
    status, reply, _ = call(api_orders, "POST", f"/tickets/{ticket_id}/messages", user=user, body=body,
                            headers={"Idempotency-Key": key} if key else None)
    return status, reply


def read(ticket_id: str, user: User = SHOPPER) -> tuple[int, Any]:
    status, reply, _ = call(api_orders, "GET", f"/tickets/{ticket_id}", user=user)
    return status, reply


def ops(method: str, path: str, body: Any = None, user: User = OPS, **query: str) -> tuple[int, Any]:
    status, reply, _ = call(api_ops, method, path, user=user, body=body, query=query or None)
    return status, reply


def test_a_shopper_opens_a_ticket_about_their_order_and_a_retry_answers_the_same_ticket(aws: dict[str, str]) -> None:
    order_id = tea_order()
    status, ticket = open_ticket({**QUESTION, "order_id": order_id})
    assert status == 201, ticket
    assert ticket["status"] == "OPEN" and ticket["order_id"] == order_id and ticket["opener_role"] == "shopper"
    # render-safety: the text is stored and answered exactly as given, as a JSON string
    assert ticket["subject"] == QUESTION["subject"] and ticket["messages"][0]["body"] == QUESTION["body"]
    assert [(m["seq"], m["author"]) for m in ticket["messages"]] == [(1, "opener")]
    assert [(e["type"], e["to_status"]) for e in ticket["history"]] == [("opened", "OPEN")]
    assert open_ticket({**QUESTION, "order_id": order_id}) == (201, ticket)
    status, problem = open_ticket({**QUESTION, "subject": "another"})
    assert status == 422 and problem["code"] == "idempotency_key_reused"
    status, page, _ = call(api_orders, "GET", "/me/tickets", user=SHOPPER)
    assert status == 200 and [t["ticket_id"] for t in page["items"]] == [ticket["ticket_id"]]


def test_the_idempotency_key_is_required_and_texts_are_bounded(aws: dict[str, str]) -> None:
    status, problem = open_ticket(key=None)
    assert status == 400 and problem["code"] == "idempotency_key_required"
    status, problem = open_ticket({**QUESTION, "body": "x" * (BODY_MAX + 1)})
    assert status == 422 and problem["code"] == "validation_failed"
    status, problem = open_ticket({**QUESTION, "category": "gossip"})
    assert status == 422 and problem["code"] == "validation_failed"


def test_an_order_or_case_the_caller_cannot_read_is_not_found(aws: dict[str, str]) -> None:
    order_id = tea_order()
    status, problem = open_ticket({**QUESTION, "order_id": order_id}, user=OTHER_SHOPPER)
    assert status == 404 and problem["code"] == "order_not_found"
    status, problem = open_ticket({**QUESTION, "order_id": order_id}, user=OTHER_MERCHANT)
    assert status == 404 and problem["code"] == "order_not_found"
    status, case = open_case(order_id)
    assert status == 201, case
    status, problem = open_ticket({**QUESTION, "case_id": case["case_id"]}, user=OTHER_SHOPPER)
    assert status == 404 and problem["code"] == "case_not_found"
    # the shop's merchant may ask about its own order's case; the ticket names the case's order
    status, ticket = open_ticket({**QUESTION, "category": "after_sales", "case_id": case["case_id"]},
                                 user=MERCHANT)
    assert status == 201 and ticket["opener_role"] == "merchant" and ticket["order_id"] == order_id


def test_only_shoppers_and_merchants_open_tickets_and_someone_elses_ticket_is_not_found(
        aws: dict[str, str]) -> None:
    assert open_ticket(user=REVIEWER)[1]["code"] == "wrong_role"
    assert open_ticket(user=OPS)[1]["code"] == "wrong_role"
    _, ticket = open_ticket()
    ticket_id = ticket["ticket_id"]
    for stranger in (OTHER_SHOPPER, MERCHANT, REVIEWER):
        status, problem = read(ticket_id, stranger)
        assert status == 404 and problem["code"] == "ticket_not_found"
        status, problem = write(ticket_id, "hi", user=stranger, key="stranger-0001")
        assert status == 404 and problem["code"] == "ticket_not_found"
    assert read(ticket_id, OPS)[0] == 200
    assert ops("GET", "/ops/tickets", user=SHOPPER)[1]["code"] == "wrong_role"
    assert ops("POST", f"/ops/tickets/{ticket_id}/close", {"resolution": "x"}, user=SHOPPER)[1]["code"] == "wrong_role"
    status, page, _ = call(api_orders, "GET", "/me/tickets", user=OTHER_SHOPPER)
    assert status == 200 and page["items"] == []


def test_a_ticket_goes_open_assigned_answered_waiting_closed_with_a_typed_history(
        aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    opened_at = now()
    with time_machine.travel(opened_at, tick=False):
        _, ticket = open_ticket()
    ticket_id = ticket["ticket_id"]
    status, assigned = ops("POST", f"/ops/tickets/{ticket_id}/assign", {"assignee": OPS.sub})
    assert status == 200 and assigned["status"] == "ASSIGNED" and assigned["assignee"] == OPS.sub
    assert ops("POST", f"/ops/tickets/{ticket_id}/assign", {"assignee": OPS.sub}) == (200, assigned)  # a retry

    # ops answer 1,234 s after the ticket opened: the first response, measured once and emitted as a metric
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    capsys.readouterr()
    with time_machine.travel(opened_at + timedelta(seconds=1234), tick=False):
        status, answered = write(ticket_id, "已催促快递", user=OPS, key="answer-0001")
    assert status == 201 and answered["status"] == "ANSWERED"
    assert answered["first_response_at"] is not None
    assert emitted(capsys.readouterr().out, "TicketFirstResponseSeconds") == [1234]
    assert store.get(ticket_id) is not None and store.get(ticket_id).first_response_seconds == 1234  # type: ignore[union-attr]
    # a retry of the same answer stores nothing more and measures nothing again
    assert write(ticket_id, "已催促快递", user=OPS, key="answer-0001") == (201, answered)
    assert emitted(capsys.readouterr().out, "TicketFirstResponseSeconds") == []
    status, problem = write(ticket_id, "another text", user=OPS, key="answer-0001")
    assert status == 422 and problem["code"] == "idempotency_key_reused"
    # a second answer is not a first response
    write(ticket_id, "补充说明", user=OPS, key="answer-0002")
    assert emitted(capsys.readouterr().out, "TicketFirstResponseSeconds") == []

    status, waiting = write(ticket_id, "谢谢，还没到", user=SHOPPER, client_message_id="reply-0001")
    assert status == 201 and waiting["status"] == "WAITING"
    assert write(ticket_id, "谢谢，还没到", user=SHOPPER, key="reply-0001")[1]["message_count"] == 4
    status, closed = ops("POST", f"/ops/tickets/{ticket_id}/close", {"resolution": "包裹已签收"})
    assert status == 200 and closed["status"] == "CLOSED" and closed["resolution"] == "包裹已签收"
    assert ops("POST", f"/ops/tickets/{ticket_id}/close", {"resolution": "包裹已签收"})[1] == closed  # a retry
    status, problem = write(ticket_id, "one more thing", user=SHOPPER, key="reply-0002")
    assert status == 409 and problem["code"] == "ticket_closed"
    status, problem = ops("POST", f"/ops/tickets/{ticket_id}/assign", {"assignee": "someone-else"})
    assert status == 409 and problem["code"] == "ticket_closed"

    _, final = read(ticket_id)
    assert [(m["seq"], m["author"]) for m in final["messages"]] == [(1, "opener"), (2, "ops"), (3, "ops"),
                                                                    (4, "opener")]
    assert [(e["type"], e.get("from_status"), e["to_status"]) for e in final["history"]] == [
        ("opened", None, "OPEN"), ("assigned", "OPEN", "ASSIGNED"), ("answered", "ASSIGNED", "ANSWERED"),
        ("answered", "ANSWERED", "ANSWERED"), ("replied", "ANSWERED", "WAITING"), ("closed", "WAITING", "CLOSED")]
    assert final["history"][2]["first_response"] is True and final["history"][-1]["actor"] == f"ops:{OPS.sub}"


def emitted(out: str, name: str) -> list[float]:
    """The values of metric `name` in the EMF lines Powertools printed."""
    values: list[float] = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            if name in document:
                value = document[name]
                values += value if isinstance(value, list) else [value]
    return values


def test_ops_see_tickets_awaiting_them_oldest_first_and_by_status(aws: dict[str, str]) -> None:
    start = now()
    ids = []
    for n, user in enumerate((SHOPPER, MERCHANT, OTHER_SHOPPER)):
        with time_machine.travel(start + timedelta(minutes=n), tick=False):
            status, ticket = open_ticket({**QUESTION, "category": "shop" if user is MERCHANT else "order"},
                                         user=user, key=f"ticket-key-000{n}")
            assert status == 201, ticket
            ids.append(ticket["ticket_id"])
    ops("POST", f"/ops/tickets/{ids[1]}/assign", {"assignee": OPS.sub})
    write(ids[0], "answer", user=OPS, key="answer-0001")
    status, queue = ops("GET", "/ops/tickets")
    assert status == 200 and [t["ticket_id"] for t in queue["items"]] == [ids[1], ids[2]]
    assert queue["items"][0]["status"] == "ASSIGNED" and queue["items"][0]["waiting_since"] is not None
    assert [t["ticket_id"] for t in ops("GET", "/ops/tickets", status="ANSWERED")[1]["items"]] == [ids[0]]
    # the opener replies: back in the queue, waiting since the reply (the newest wait)
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        write(ids[0], "still there?", user=SHOPPER, key="reply-0001")
    assert [t["ticket_id"] for t in ops("GET", "/ops/tickets")[1]["items"]] == [ids[1], ids[2], ids[0]]
    assert [t["ticket_id"] for t in ops("GET", "/ops/tickets", status="WAITING")[1]["items"]] == [ids[0]]
    status, problem = ops("GET", "/ops/tickets", cursor="v1.bm9wZQ.bm9wZQ")
    assert status == 400 and problem["code"] == "invalid_cursor"


def test_the_ops_queue_pages_with_a_signed_cursor(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "PAGE_SIZE", 2)
    start = now()
    for n in range(5):
        with time_machine.travel(start + timedelta(seconds=n), tick=False):
            open_ticket(key=f"ticket-key-000{n}")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        status, page = ops("GET", "/ops/tickets", cursor=cursor) if cursor else ops("GET", "/ops/tickets")
        assert status == 200, page
        seen += [t["ticket_id"] for t in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert len(seen) == 5 == len(set(seen))
    tickets = store.get_many(seen)
    assert [tickets[i].created_at for i in seen] == sorted(tickets[i].created_at for i in seen)


def test_the_sweeper_publishes_how_long_the_oldest_ticket_has_waited_for_ops(aws: dict[str, str]) -> None:
    start = now()
    with time_machine.travel(start, tick=False):
        _, first = open_ticket(key="ticket-key-0001")
    with time_machine.travel(start + timedelta(seconds=600), tick=False):
        open_ticket(key="ticket-key-0002")
    with time_machine.travel(start + timedelta(seconds=900), tick=False):
        assert sweeper({}, context("sweeper"))["ticket_oldest_unanswered_age_s"] == 900
        write(first["ticket_id"], "answer", user=OPS, key="answer-0001")  # answered: no longer waiting
    with time_machine.travel(start + timedelta(seconds=1000), tick=False):
        assert store.oldest_waiting_age_seconds() == 400
        write(first["ticket_id"], "not solved", user=SHOPPER, key="reply-0001")  # waits again, from now
    with time_machine.travel(start + timedelta(seconds=1100), tick=False):
        assert store.oldest_waiting_age_seconds() == 500


def test_the_opener_is_notified_when_ops_answer_and_close(aws: dict[str, str], fresh_sandbox: None) -> None:
    _, ticket = open_ticket(user=MERCHANT)
    write(ticket["ticket_id"], "answer", user=OPS, key="answer-0001")
    write(ticket["ticket_id"], "thanks", user=MERCHANT, key="reply-0001")
    ops("POST", f"/ops/tickets/{ticket['ticket_id']}/close", {"resolution": "done"})
    event = stream_event()
    assert notify(event) == {"batchItemFailures": []}
    assert notify(event) == {"batchItemFailures": []}  # redelivered: stored once
    items = my_notifications(MERCHANT)["items"]
    assert [(n["type"], n["ticket_id"], n["order_id"]) for n in items] == [
        ("ticket_closed", ticket["ticket_id"], None), ("ticket_answered", ticket["ticket_id"], None)]
    assert my_notifications(SHOPPER)["items"] == []


def test_concurrent_answers_each_get_their_own_place_and_only_one_is_the_first_response(
        aws: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from shared.core.auth import principal_of
    from shared.tickets import service
    from shared.tickets.models import PostMessage

    _, ticket = open_ticket()
    ticket_id = ticket["ticket_id"]
    caller = principal_of(OPS.claims())

    def answer(n: int) -> int:  # the service itself: Powertools' resolver holds one request at a time
        return service.post_message(caller, ticket_id, f"answer-000{n}", PostMessage(body=f"answer {n}"))[2].seq

    with ThreadPoolExecutor(3) as pool:
        assert sorted(pool.map(answer, range(3))) == [2, 3, 4]
    _, final = read(ticket_id)
    assert sorted(m["seq"] for m in final["messages"]) == [1, 2, 3, 4] and final["message_count"] == 4
    answers = [e for e in final["history"] if e["type"] == "answered"]
    assert len(answers) == 3 and [e["first_response"] for e in answers] == [True, False, False]
    assert store.get(ticket_id).version == 4  # type: ignore[union-attr]  # opened at 1, one bump per message


def test_a_close_that_races_a_reply_reads_again_and_still_closes(aws: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _, ticket = open_ticket()
    ticket_id = ticket["ticket_id"]
    original = store.change
    raced: list[int] = []

    def reply_lands_first(*args: Any, **kwargs: Any) -> Any:
        if not raced:  # between the close's read and its write, the shopper writes
            raced.append(1)
            assert write(ticket_id, "are you there?", user=SHOPPER, key="reply-0001")[0] == 201
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "change", reply_lands_first)
    status, closed = ops("POST", f"/ops/tickets/{ticket_id}/close", {"resolution": "answered by phone"})
    assert status == 200 and closed["status"] == "CLOSED" and closed["message_count"] == 2
    _, final = read(ticket_id)
    assert [e["type"] for e in final["history"]] == ["opened", "replied", "closed"]
    assert final["history"][-1]["from_status"] == "OPEN"


WRU_BUDGET = 50  # a ticket's whole life as docs/tickets.md counts it: open, assign, 2 answers, a reply, close


def test_a_ticket_s_whole_life_stays_within_its_write_budget(aws: dict[str, str]) -> None:
    """Billed by DynamoDB's rules (tools/bench/meter.py): each changed item at the larger of its two sizes,
    doubled inside a transaction, plus the keys-only index writes the change causes."""
    from infra.declaration import DECLARATION
    from shared.core import ddb
    from tools.bench.meter import IndexSpec, gsi_writes, item_size, write_units

    indexes = [IndexSpec(ix.name, ix.pk, ix.sk, ix.projection) for ix in DECLARATION.table.indexes]

    def partition(ticket_id: str) -> dict[str, dict[str, Any]]:
        reply = ddb.dynamodb().query(TableName=ddb.table(), KeyConditionExpression="PK = :pk",
                                     ExpressionAttributeValues=ddb.values(pk=store.ticket_pk(ticket_id)))
        return {item["SK"]["S"]: item for item in reply["Items"]}

    def billed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], transactional: bool) -> int:
        units = 0
        for sk in set(before) | set(after):
            old, new = before.get(sk), after.get(sk)
            if old != new:
                units += write_units(max(item_size(old), item_size(new)), transactional=transactional)
                units += sum(wru for _, _, wru in gsi_writes(old, new, indexes, ("PK", "SK")))
        return units

    _, ticket = open_ticket()
    ticket_id = ticket["ticket_id"]
    steps: list[tuple[str, int]] = [("open", billed({}, partition(ticket_id), True))]
    actions: tuple[tuple[str, Callable[[], tuple[int, Any]], bool], ...] = (
        ("assign", lambda: ops("POST", f"/ops/tickets/{ticket_id}/assign", {"assignee": OPS.sub}), False),
        ("answer", lambda: write(ticket_id, "已催促快递，请稍候" * 10, user=OPS, key="answer-0001"), True),
        ("answer", lambda: write(ticket_id, "补充说明" * 10, user=OPS, key="answer-0002"), True),
        ("reply", lambda: write(ticket_id, "还是没有到，麻烦再看看" * 10, user=SHOPPER, key="reply-0001"), True),
        ("close", lambda: ops("POST", f"/ops/tickets/{ticket_id}/close", {"resolution": "已签收"}), False),
    )
    for name, act, transactional in actions:
        before = partition(ticket_id)
        assert act()[0] in (200, 201)
        steps.append((name, billed(before, partition(ticket_id), transactional)))
    total = sum(units for _, units in steps)
    print(f"\nticket write units: {steps} total {total}")
    assert total <= WRU_BUDGET, steps
