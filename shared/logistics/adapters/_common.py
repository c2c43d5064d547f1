"""Helpers shared by the partner adapters: partner time parsing and the event digest."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from shared.logistics.adapters.errors import CallbackRejected
from shared.logistics.models import Partner, Trace, TrackingState, TrackingUpdate

# Partners send naive Asia/Shanghai wall time. China has no DST, so a fixed +08:00 is exact
# and avoids shipping tzdata to Lambda.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S")


def parse_partner_time(text: str) -> datetime:
    """'2012-08-28 16:33:19' (Shanghai local) -> aware UTC. Fractions after a '.' are ignored."""
    cleaned = text.strip().split(".", 1)[0]
    for fmt in _FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=SHANGHAI).astimezone(UTC)
        except ValueError:
            continue
    raise CallbackRejected("malformed", f"unreadable time {text[:40]!r}")


def format_partner_time(moment: datetime) -> str:
    """Aware datetime -> 'YYYY-MM-DD HH:MM:SS' in Shanghai local time, as partners write it."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def newest_first(traces: list[Trace]) -> list[Trace]:
    # sorted() is stable, so lines with the same second keep the partner's order
    return sorted(traces, key=lambda t: t.at, reverse=True)


def event_key(partner: str, *parts: Any) -> str:
    """sha256 over a canonical JSON of the meaningful content (not the raw bytes, whose spacing may vary)."""
    canonical = json.dumps([partner, *parts], ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{partner}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def trace_parts(traces: list[Trace]) -> list[list[str]]:
    return [[t.at.isoformat(), t.raw_status, t.context] for t in traces]


def require_str(obj: dict[str, Any], name: str, *, where: str) -> str:
    value = obj.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # some partners send numeric codes as numbers
    if not isinstance(value, str) or not value.strip():
        raise CallbackRejected("malformed", f"{where}.{name} missing")
    return value.strip()


def optional_str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def loads_object(text: str, *, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as error:
        raise CallbackRejected("malformed", f"{what} is not JSON") from error
    if not isinstance(value, dict):
        raise CallbackRejected("malformed", f"{what} is not a JSON object")
    return value


def tracking_update(partner: Partner, *, carrier: str, number: str, state: TrackingState, raw_state: str,
                    traces: list[Trace], message: str, state_parts: tuple[str | None, ...],
                    subscription_status: str | None = None) -> TrackingUpdate:
    """The update either partner's push becomes, keyed by its content (`state_parts`: the partner's own state
    fields; a retried push has the same key); a push that does not fit the model is malformed, never a 500."""
    key = event_key(partner, carrier, number, *state_parts, trace_parts(traces))
    try:
        return TrackingUpdate(partner=partner, carrier=carrier, tracking_number=number, state=state,
                              raw_state=raw_state, traces=traces, subscription_status=subscription_status,
                              message=message, event_key=key)
    except ValidationError as error:
        raise CallbackRejected("malformed", "push does not fit the update model") from error
