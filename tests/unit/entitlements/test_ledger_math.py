"""Ledger arithmetic: memberships stack, refunds revoke what is left (pro rata, floored to the second),
credits never go below what was spent, and nothing is revoked beyond what was granted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.clock import iso
from shared.entitlements import logic
from shared.entitlements.models import EntitlementKind, Entry, EntryAction

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 86_400


def grant(order: str, kind: EntitlementKind, amount: int, at: datetime, quantity: int = 1) -> Entry:
    return Entry(kind=kind, action=EntryAction.GRANT, amount=amount, at=iso(at), order_id=order, sku="s",
                 reference="grant", quantity=quantity)


def revoke(of: Entry, amount: int, at: datetime, key: str = "fail") -> Entry:
    return Entry(kind=of.kind, action=EntryAction.REVOKE, amount=-amount, at=iso(at), order_id=of.order_id,
                 sku=of.sku, reference=f"revoke:{key}", quantity=of.quantity)


def test_units_bought_multiply_what_one_unit_grants() -> None:
    assert logic.granted({"kind": "membership", "days": 30}, 3) == (EntitlementKind.MEMBERSHIP, 90 * DAY)
    assert logic.granted({"kind": "credits", "units": 1000}, 2) == (EntitlementKind.CREDITS, 2000)


def test_a_second_membership_starts_where_the_first_ends() -> None:
    first = grant("o1", EntitlementKind.MEMBERSHIP, 30 * DAY, T0)
    second = grant("o2", EntitlementKind.MEMBERSHIP, 30 * DAY, T0 + timedelta(days=5))
    until, starts = logic.membership_fold([second, first])  # written in any order
    assert until == T0 + timedelta(days=60)
    assert starts[("o2", "s")] == T0 + timedelta(days=30)


def test_a_membership_bought_after_the_last_one_ended_starts_at_purchase() -> None:
    first = grant("o1", EntitlementKind.MEMBERSHIP, 30 * DAY, T0)
    later = grant("o2", EntitlementKind.MEMBERSHIP, 30 * DAY, T0 + timedelta(days=40))
    assert logic.membership_fold([first, later])[0] == T0 + timedelta(days=70)


def test_refunding_one_of_three_months_revokes_a_third_of_what_is_unused() -> None:
    g = grant("o1", EntitlementKind.MEMBERSHIP, 90 * DAY, T0, quantity=3)
    at = T0 + timedelta(days=10, seconds=1)
    # 80 days - 1 s unused; a third of it, floored to the second
    assert logic.revoke_amount([g], g, at, 1) == (80 * DAY - 1) // 3


def test_refunding_a_stacked_membership_leaves_the_earlier_one_alone() -> None:
    first = grant("o1", EntitlementKind.MEMBERSHIP, 30 * DAY, T0)
    second = grant("o2", EntitlementKind.MEMBERSHIP, 30 * DAY, T0 + timedelta(days=1))
    # the second one has not started on day 10: all of it goes
    assert logic.revoke_amount([first, second], second, T0 + timedelta(days=10), 1) == 30 * DAY
    # the first one has run 10 days: 20 go, and the second moves up
    assert logic.revoke_amount([first, second], first, T0 + timedelta(days=10), 1) == 20 * DAY


def test_nothing_is_left_to_revoke_from_an_expired_membership() -> None:
    g = grant("o1", EntitlementKind.MEMBERSHIP, 30 * DAY, T0)
    assert logic.revoke_amount([g], g, T0 + timedelta(days=31), 1) == 0


def test_credits_revoke_the_unspent_rest_capped_at_the_grant() -> None:
    g = grant("o1", EntitlementKind.CREDITS, 2000, T0, quantity=2)
    other = grant("o2", EntitlementKind.CREDITS, 1000, T0)
    spent = Entry(kind=EntitlementKind.CREDITS, action=EntryAction.SPEND, amount=-2600, at=iso(T0),
                  order_id="c1", sku="ad", reference="spend:1")
    assert logic.revoke_amount([g, other], g, T0, 2) == 2000  # 3000 held: only what this item granted
    assert logic.revoke_amount([g, other, spent], g, T0, 2) == 400  # only the unspent rest
    assert logic.revoke_amount([g, other], g, T0, 1) == 1000  # one of two units


def test_a_second_refund_of_the_same_item_revokes_only_what_the_first_left() -> None:
    g = grant("o1", EntitlementKind.CREDITS, 2000, T0, quantity=2)
    first = revoke(g, 1000, T0, key="partial:a")
    assert logic.revoke_amount([g, first], g, T0, 2) == 1000


def test_refunded_units_must_be_within_the_item() -> None:
    g = grant("o1", EntitlementKind.CREDITS, 2000, T0, quantity=2)
    with pytest.raises(ValueError):
        logic.revoke_amount([g], g, T0, 3)


@given(
    days=st.lists(st.integers(1, 400), min_size=1, max_size=5),
    gaps=st.lists(st.integers(0, 500 * DAY), min_size=5, max_size=5),
    refund_after=st.integers(0, 2000 * DAY),
    which=st.integers(0, 4),
    quantity=st.integers(1, 5),
    data=st.data(),
)
def test_a_membership_revoke_never_exceeds_the_grant_nor_ends_before_the_refund(
    days: list[int], gaps: list[int], refund_after: int, which: int, quantity: int, data: st.DataObject
) -> None:
    moment, grants = T0, []
    for n, (d, gap) in enumerate(zip(days, gaps, strict=False)):
        moment += timedelta(seconds=gap)
        grants.append(grant(f"o{n}", EntitlementKind.MEMBERSHIP, d * DAY * quantity, moment, quantity))
    target = grants[which % len(grants)]
    at = max(moment, T0 + timedelta(seconds=refund_after))
    units = data.draw(st.integers(1, quantity))
    amount = logic.revoke_amount(grants, target, at, units)
    assert 0 <= amount <= target.amount
    until_before, _ = logic.membership_fold(grants)
    until_after, _ = logic.membership_fold([*grants, revoke(target, amount, at)])
    assert until_after is not None and until_before is not None
    assert until_after >= min(at, until_before)  # never ends before the refund
    if units == quantity and len(grants) == 1 and until_before > at:
        assert until_after == at  # the whole item refunded: the membership ends at the refund


@given(grants=st.lists(st.integers(1, 10_000), min_size=1, max_size=4), spent=st.integers(0, 40_000),
       which=st.integers(0, 3))
def test_credits_never_go_negative_and_the_balance_is_the_sum_of_entries(
    grants: list[int], spent: int, which: int
) -> None:
    entries = [grant(f"o{n}", EntitlementKind.CREDITS, units, T0) for n, units in enumerate(grants)]
    spent = min(spent, sum(grants))
    entries.append(Entry(kind=EntitlementKind.CREDITS, action=EntryAction.SPEND, amount=-spent, at=iso(T0),
                         order_id="c", sku="ad", reference="spend:1"))
    target = entries[which % len(grants)]
    amount = logic.revoke_amount(entries, target, T0, 1)
    after = [*entries, revoke(target, amount, T0)]
    assert 0 <= amount <= target.amount
    assert logic.credits_balance(after) == sum(e.amount for e in after) >= 0
