"""Leases: one person works on one item at a time (a reviewer on an order in review, an arbiter on a dispute).

A lease is a map `{by, until, claimed_at}` kept on the item it guards. Taking it is one conditional write
(`claimable`): nobody holds it, it has expired, or the caller holds it already (a renewal). A decision counts
only under the caller's live lease, guarded in one of two ways:
- the decision's own write carries `held` in its condition (shared/review/service.py);
- or the claim bumps the item's version, and the decision is conditional on the version read, with the lease
  checked (`refusal`) on that same read (shared/aftersales/disputes.py: its decision writes belong to
  refunding and the case store, which condition on status and version). A claim by someone else after the
  read changes the version, so the decision's write fails and the next read refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from shared.core import clock, ddb
from shared.core.errors import Conflict


class Lease(TypedDict):
    by: str
    until: str
    claimed_at: str


def grant(holder: str, moment: datetime, seconds: int) -> Lease:
    return {"by": holder, "until": clock.iso(moment + timedelta(seconds=seconds)), "claimed_at": clock.iso(moment)}


def live(lease: Mapping[str, Any] | None, now_iso: str) -> Lease | None:
    """The lease if it has not expired at `now_iso`."""
    if lease is not None and str(lease.get("until", "")) > now_iso:
        return {"by": str(lease["by"]), "until": str(lease["until"]), "claimed_at": str(lease.get("claimed_at", ""))}
    return None


def _names(names: dict[str, str], values: dict[str, Any], holder: str, now_iso: str) -> None:
    names.update({"#lease_by": "by", "#lease_until": "until"})
    values.update(ddb.values(lease_me=holder, lease_now=now_iso))


def claimable(path: str, names: dict[str, str], values: dict[str, Any], holder: str, now_iso: str) -> str:
    """The condition under which `holder` may take the lease at `path` (an expression path, e.g. `#rv.#cl`);
    adds its names and values to the request's."""
    _names(names, values, holder, now_iso)
    return (f"(attribute_not_exists({path}) OR {path}.#lease_until <= :lease_now "
            f"OR {path}.#lease_by = :lease_me)")


def held(path: str, names: dict[str, str], values: dict[str, Any], holder: str, now_iso: str) -> str:
    """The condition that `holder` holds a live lease at `path`; adds its names and values to the request's."""
    _names(names, values, holder, now_iso)
    return f"{path}.#lease_by = :lease_me AND {path}.#lease_until > :lease_now"


def refusal(lease: Mapping[str, Any] | None, holder: str, now_iso: str, *, claiming: bool, who: str,
            what: str) -> Conflict | None:
    """Why `holder` may not claim (`claiming`) or decide under the lease found, or None if the lease allows it:
    409 `claimed_by_other` (someone else holds it) or 409 `lease_required` (a decision without a live lease)."""
    current = live(lease, now_iso)
    if claiming and current is not None and current["by"] != holder:
        return Conflict(f"Another {who} holds the lease on this {what}.", code="claimed_by_other",
                        claimed_by=current["by"], claim_expires_at=current["until"])
    if not claiming and (current is None or current["by"] != holder):
        return Conflict(f"Claim the {what} first; deciding needs a live lease.", code="lease_required",
                        claimed_by=current["by"] if current else None)
    return None
