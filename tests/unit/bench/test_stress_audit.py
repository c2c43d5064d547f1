"""The stress audit (tools/bench/stress.py) catches an oversell, a leak and a lost record in a commit log."""

from __future__ import annotations

from typing import Any

from tools.bench.stress import audit_log, audit_timelines

SKU = "S1"


def _image(attrs: dict[str, Any]) -> dict[str, Any]:
    def typed(value: Any) -> dict[str, Any]:
        if isinstance(value, int):
            return {"N": str(value)}
        if isinstance(value, dict):
            return {"M": {k: typed(v) for k, v in value.items()}}
        if isinstance(value, list):
            return {"L": [typed(v) for v in value]}
        return {"S": value}

    return {key: typed(value) for key, value in attrs.items()}


class Log:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.buckets: dict[int, int] = {}

    def _add(self, pk: str, sk: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        data: dict[str, Any] = {"Keys": _image({"PK": pk, "SK": sk}), "SequenceNumber": str(len(self.records))}
        if old is not None:
            data["OldImage"] = _image({"PK": pk, "SK": sk, **old})
        if new is not None:
            data["NewImage"] = _image({"PK": pk, "SK": sk, **new})
        self.records.append({"dynamodb": data})

    def bucket(self, index: int, delta: int, *, claimed_old: int | None = None) -> None:
        old = self.buckets.get(index)
        self.buckets[index] = (old or 0) + delta
        before = claimed_old if claimed_old is not None else old
        self._add(f"SKU#{SKU}", f"STOCK#{index:03d}", None if before is None else {"available": before},
                  {"available": self.buckets[index]})

    def order(self, order_id: str, *, reserve: int | None = None, release: int | None = None) -> None:
        plan = {SKU: [[reserve if reserve is not None else release, 1]]}
        old = {"status": "PLACED"} if reserve is not None else {"status": "AWAITING_PAYMENT", "reservations": plan}
        new = {"status": "AWAITING_PAYMENT", "reservations": plan} if reserve is not None else {"status": "CANCELLED"}
        self._add(f"ORDER#{order_id}", "ORDER", old, new)

    def create(self, *units: int) -> None:
        self._add(f"SKU#{SKU}", "META", None, {"sku": SKU})
        for index, count in enumerate(units):
            self.bucket(index, count)


def test_reservations_releases_and_an_edit_replay_clean() -> None:
    log = Log()
    log.create(1, 1)
    log.bucket(0, -1)
    log.order("a", reserve=0)
    log.bucket(1, -1)
    log.order("b", reserve=1)
    log.bucket(0, 1)
    log.order("a", release=0)
    log.bucket(0, -1)
    log.order("c", reserve=0)
    log.bucket(0, 3)  # the merchant sets 3 sellable units: the pool is now 3 + the 2 held
    log.bucket(1, 0)
    audit = audit_log(log.records, SKU, {"a", "b", "c"})
    assert audit.problems == [] and audit.oversold == 0
    assert (audit.peak_held, audit.held, audit.capacity, audit.stock_edits) == (2, 2, 5, [2, 3])
    assert (audit.reservations, audit.releases, audit.min_available) == (3, 1, 0)


def test_an_order_holding_a_unit_its_bucket_never_gave_is_an_oversell() -> None:
    log = Log()
    log.create(1)
    log.bucket(0, -1)
    log.order("a", reserve=0)
    log.order("b", reserve=0)  # no bucket write: the second holder of the last unit
    audit = audit_log(log.records, SKU, {"a", "b"})
    assert audit.oversold == 1 and audit.peak_held == 2
    assert any("moved" in problem for problem in audit.problems)


def test_a_bucket_below_zero_and_a_lost_record_are_reported() -> None:
    log = Log()
    log.create(1)
    log.bucket(0, -1)
    log.order("a", reserve=0)
    log.bucket(0, -1)
    log.order("b", reserve=0)
    log.bucket(0, 5, claimed_old=7)  # its old image is not where the log left the bucket
    audit = audit_log(log.records, SKU, {"a", "b"})
    assert audit.min_available == -1
    assert any("went to -1" in p for p in audit.problems) and any("lost or phantom" in p for p in audit.problems)


def test_timelines_count_holders_at_each_moment_not_summed_over_moments() -> None:
    def order(*moves: tuple[str, str, str | None]) -> list[dict[str, Any]]:
        return [{"at": at, "to_status": to, "from_status": None, "reason": reason} for at, to, reason in moves]

    lines = {
        "a": order(("2026-01-01T00:00:00Z", "PLACED", None), ("2026-01-01T00:00:01Z", "AWAITING_PAYMENT", None),
                   ("2026-01-01T00:00:05Z", "CANCELLED", "payment_timeout")),
        "b": order(("2026-01-01T00:00:00Z", "PLACED", None), ("2026-01-01T00:00:06Z", "AWAITING_PAYMENT", None)),
        "c": order(("2026-01-01T00:00:00Z", "PLACED", None), ("2026-01-01T00:00:02Z", "REJECTED", None)),
    }
    audit = audit_timelines(lines)
    assert (audit.reserved, audit.released, audit.held, audit.peak_by_clock) == (2, 1, 1, 1)
    assert audit.after_first_expiry == 1 and audit.statuses == {"CANCELLED": 1, "AWAITING_PAYMENT": 1, "REJECTED": 1}
