"""Expiry at sale speed: the sweeper finds due unpaid orders, the `expiry` queue spreads the work.

A flash sale abandons carts far faster than one sweeper can cancel them (each expiry is one transaction
that releases the reserved stock). So at scale the scheduled sweeper (functions/sweeper ->
`lifecycle.sweep`) only *finds* due orders: it reads the first page of every `DUE#EXPIRY#<shard>` partition
of the keys-only `by_due` index at once, and

- when little is due (at most `inline_max()` orders and no further pages), it expires them itself, as
  before: no queue message, no extra invocation at light traffic;
- otherwise it pages every shard in parallel and sends the order ids, `IDS_PER_MESSAGE` per message, to
  the `expiry` queue (infra/declaration.py), whose consumer (functions/expiry_worker ->
  `lifecycle.expire_many`) expires them in parallel batches on as many Lambda environments as the
  mapping allows.

Nothing here decides whether an order expires: the consumer reads each order consistently and
`lifecycle.expire_unpaid` makes the one conditional transaction on status and version, so a message
delivered twice, or an order found again by the next sweep before its message was consumed, or an order
paid in between, changes nothing. A message that could not be sent is not lost work: the order keeps its
`by_due` entry, and the next sweep finds it again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.core import aws
from shared.core.config import Env, ExpirySettings, default_of, env, optional_env, settings
from shared.orders import store

logger = logging.getLogger("order24.expiry")

QUEUE_ENV = Env.EXPIRY_QUEUE_URL
KIND = "EXPIRY"
IDS_PER_MESSAGE = 100  # ~3 KB a message; a consumer batch of 10 messages is 1,000 expiries
FIND_PAGE = 1_000  # keys-only index entries per Query (~150 B each: far below the 1 MB page limit)
SEND_BATCH = 10  # entries per SendMessageBatch (the SQS maximum)
DEFAULT_INLINE_MAX: int = default_of(ExpirySettings, "expiry_inline_max")
DEFAULT_FIND_THREADS: int = default_of(ExpirySettings, "expiry_find_threads")
FIND_BUDGET_SHARE = 0.6  # of the sweeper's time budget; the other timers keep the rest

OrderId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{4,64}$")]


class ExpiryWork(BaseModel):
    """One `expiry` queue message: orders whose payment timer was due when the sweeper looked."""

    model_config = ConfigDict(extra="forbid")

    order_ids: list[OrderId] = Field(min_length=1, max_length=IDS_PER_MESSAGE)
    found_at: str


def fan_out_configured() -> bool:
    """The queue exists in this runtime (CDK and the local runtime both set EXPIRY_QUEUE_URL)."""
    return bool(optional_env(QUEUE_ENV))


def inline_max() -> int:
    """Due orders the sweeper still expires itself; above this it fans out. Env EXPIRY_INLINE_MAX (0 = always
    fan out, which the tests and the bench use)."""
    return max(0, settings(ExpirySettings).expiry_inline_max)


def find_threads() -> int:
    """Shards read (and their pages sent) at once by the finder. Env EXPIRY_FIND_THREADS."""
    return max(1, settings(ExpirySettings).expiry_find_threads)


def enqueue(order_ids: list[str], found_at: str) -> int:
    """Send the ids, `IDS_PER_MESSAGE` per message and 10 messages per call. Returns how many ids went out;
    ids in entries SQS refused are left to the next sweep (their `by_due` entry is still there)."""
    chunks = [order_ids[i:i + IDS_PER_MESSAGE] for i in range(0, len(order_ids), IDS_PER_MESSAGE)]
    sent = 0
    for start in range(0, len(chunks), SEND_BATCH):
        batch = chunks[start:start + SEND_BATCH]
        reply = aws.sqs().send_message_batch(QueueUrl=env(QUEUE_ENV), Entries=[
            {"Id": str(i), "MessageBody": ExpiryWork(order_ids=chunk, found_at=found_at).model_dump_json()}
            for i, chunk in enumerate(batch)
        ])
        failed = {int(entry["Id"]) for entry in reply.get("Failed", [])}
        if failed:
            logger.warning("expiry messages refused; the next sweep finds their orders again",
                           extra={"refused": len(failed)})
        sent += sum(len(chunk) for i, chunk in enumerate(batch) if i not in failed)
    return sent


def find_and_fan_out(before: str, shards: range, found_at: str, deadline: float) -> tuple[list[str], Counter[str]]:
    """Find the payment timers due before `before` in every shard.

    Returns (ids for the caller to expire inline, counts). The ids are non-empty only when the whole due set
    is small (see `inline_max`); otherwise every due id has been sent to the queue by the time this returns
    (or the time budget ran out: the next sweep continues where the index still holds entries).
    """
    query = store.query_due_page
    counts: Counter[str] = Counter()
    threads = min(find_threads(), len(shards)) or 1

    def first(shard: int) -> tuple[int, list[str], dict[str, Any] | None] | None:
        try:
            ids, start = query(KIND, shard, before, limit=FIND_PAGE)
        except Exception:  # this shard waits for the next sweep; the others go on
            logger.exception("expiry: first page failed", extra={"shard": shard})
            return None
        return shard, ids, start

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="expiry-find") as pool:
        answers = list(pool.map(first, shards))
        firsts = [answer for answer in answers if answer is not None]
        counts["expiry_shards_unfinished"] += len(answers) - len(firsts)
        found = [order_id for _, ids, _ in firsts for order_id in ids]
        if not any(start for _, _, start in firsts) and len(found) <= inline_max():
            return found, +counts

        def drain(shard: int, ids: list[str], start: dict[str, Any] | None) -> tuple[int, int, int]:
            """Send this shard's first page, then page it to its end (or the deadline)."""
            seen = sent = 0
            try:
                while True:
                    seen += len(ids)
                    if ids:
                        sent += enqueue(ids, found_at)
                    if not start or time.monotonic() >= deadline:
                        return seen, sent, int(bool(start))
                    ids, start = query(KIND, shard, before, limit=FIND_PAGE, start=start)
            except Exception:  # what was not sent stays in the index: the next sweep finds it again
                logger.exception("expiry: paging or sending failed", extra={"shard": shard})
                return seen, sent, 1

        for seen, sent, unfinished in pool.map(lambda first_page: drain(*first_page), firsts):
            counts["expiry_found"] += seen
            counts["expiry_enqueued"] += sent
            counts["expiry_shards_unfinished"] += unfinished
    return [], +counts
