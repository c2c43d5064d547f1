"""Which order changes notify the shopper, with deterministic keys (redelivery-safe)."""

from __future__ import annotations

from typing import Any

from shared.notifications.logic import OrderImage
from shared.notifications.logic import notifications as _notifications

BASE: dict[str, Any] = {
    "order_id": "o1",
    "shopper_id": "s1",
    "status": "PAID",
    "version": 3,
    "currency": "CNY",
    "events": [{"at": "2026-01-01T00:00:00.000Z", "type": "placed", "to_status": "PLACED", "actor": "shopper:s1"}],
}


def notifications(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The decision on two stream images (parsed as the notifier parses them)."""
    actor = {"actor": "system:test"}
    old_image, new_image = ({**image, "events": [actor | e for e in image.get("events", [])]} for image in (old, new))
    return _notifications(OrderImage.model_validate(old_image), OrderImage.model_validate(new_image))


def _with(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**BASE, **fields, "events": [*BASE["events"], *events]}


def test_a_status_change_makes_one_notification_with_a_stable_key() -> None:
    new = _with(
        {
            "at": "2026-01-01T00:00:05.000Z",
            "type": "status_changed",
            "from_status": "FULFILLING",
            "to_status": "SHIPPED",
        }
    )
    [note] = notifications(BASE, new)
    assert (note["type"], note["sk"]) == ("shipped", "2026-01-01T00:00:05.000Z#o1#0001")
    assert notifications(BASE, new) == [note]


def test_out_for_delivery_and_refunded_events_notify_but_refund_requests_do_not() -> None:
    new = _with(
        {"at": "t1", "type": "out_for_delivery"},
        {"at": "t2", "type": "refund_requested"},
        {"at": "t3", "type": "refunded"},
    )
    assert [n["type"] for n in notifications(BASE, new)] == ["out_for_delivery", "refunded"]


def test_refunded_fen_growing_without_an_event_still_notifies() -> None:
    new = {**BASE, "version": 4, "updated_at": "t9", "payment": {"refunded_fen": 500}}
    [note] = notifications(BASE, new)
    assert (note["type"], note["amount_fen"], note["sk"]) == ("refunded", 500, "t9#o1#v0004")


def test_the_appended_events_are_found_by_content_when_the_old_log_is_not_a_prefix() -> None:
    shipped = {"at": "t5", "type": "status_changed", "from_status": "FULFILLING", "to_status": "SHIPPED"}
    rewritten = {**BASE, "events": [{"at": "t0", "type": "redriven"}, *BASE["events"], shipped]}
    [note] = notifications(BASE, rewritten)
    assert (note["type"], note["sk"]) == ("shipped", "t5#o1#0002")


def test_changes_a_shopper_does_not_care_about_are_silent() -> None:
    assert notifications(BASE, _with({"at": "t1", "type": "redriven"})) == []
    assert notifications(BASE, {**BASE, "version": 4}) == []
