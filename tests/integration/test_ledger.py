"""The points ledger: rules and caps, idempotency, spending the soonest-expiring lots first, expiry as
entries (never deletes), staff adjustments, and the balance cache checked against the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, EntryKind, Member, PointsAllocation, PointsEntry, Role, Trigger
from scrm.services import ledger
from scrm.services.errors import Invalid
from tests.factories import make_dealer, make_staff
from tests.integration.loyalty_support import make_member, make_rule

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def earn(member: Member, trigger: Trigger, key: str, now: datetime = NOW, **kw: Any) -> ledger.Award:
    with db.transaction() as s:
        return ledger.earn_in(s, member.id, trigger, key=key, source="test", now=now, **kw)


def entries(member: Member) -> list[PointsEntry]:
    db.session.remove()
    return list(db.session.scalars(sa.select(PointsEntry).where(PointsEntry.member_id == member.id)
                                   .order_by(PointsEntry.id)))


def balance(member: Member) -> int:
    db.session.remove()
    m = db.session.get(Member, member.id)
    assert m is not None
    return m.balance


def test_a_rule_pays_once_per_key_and_caps_hold_per_day_and_month(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.CHECKIN, 10, daily_cap=15, monthly_cap=40)
    assert earn(m, Trigger.CHECKIN, "k1").points == 10
    again = earn(m, Trigger.CHECKIN, "k1")
    assert again.duplicate and again.points == 0
    assert earn(m, Trigger.CHECKIN, "k2").points == 5          # the day's cap leaves 5
    capped = earn(m, Trigger.CHECKIN, "k3")
    assert capped.capped and capped.points == 0 and capped.entry_id is None
    for day in range(1, 4):                                   # 15 + 10 + 10 + 5: the month's cap of 40
        earn(m, Trigger.CHECKIN, f"d{day}", NOW + timedelta(days=day))
    assert balance(m) == 40
    next_month = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert earn(m, Trigger.CHECKIN, "dec", next_month).points == 10
    assert [e.points for e in entries(m)] == [10, 5, 10, 10, 5, 10]


def test_no_rule_or_an_inactive_one_pays_nothing_and_a_dealer_rule_wins(app_ctx: Any) -> None:
    d = make_dealer()
    m = make_member(dealer_id=d.id)
    assert earn(m, Trigger.BOOKING_COMPLETED, "b1").points == 0
    make_rule(Trigger.BOOKING_COMPLETED, 50)
    make_rule(Trigger.BOOKING_COMPLETED, 80, dealer_id=d.id)
    assert earn(m, Trigger.BOOKING_COMPLETED, "b2").points == 80
    other = make_dealer()
    assert earn(m, Trigger.BOOKING_COMPLETED, "b3", dealer_id=other.id).points == 50
    make_rule(Trigger.BIRTHDAY, 100, active=False)
    assert earn(m, Trigger.BIRTHDAY, "bd").points == 0


def test_repair_orders_pay_by_amount(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.REPAIR_ORDER, 1, per_amount=10)
    assert earn(m, Trigger.REPAIR_ORDER, "ro1", amount=1288.5).points == 128
    assert earn(m, Trigger.REPAIR_ORDER, "ro2", amount=9.99).points == 0


def test_spending_draws_on_the_lots_that_expire_soonest(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.CHECKIN, 100)
    old = earn(m, Trigger.CHECKIN, "old", NOW - timedelta(days=400))    # expires first
    new = earn(m, Trigger.CHECKIN, "new", NOW)
    with db.transaction() as s:
        spent = ledger.spend_in(s, m.id, 150, reason="redemption", key="r1", source="reward", now=NOW)
    lots = {e.id: e.remaining for e in entries(m)}
    assert lots[old.entry_id] == 0 and lots[new.entry_id] == 50     # type: ignore[index]
    allocs = db.session.execute(sa.select(PointsAllocation.lot_id, PointsAllocation.points)
                                .where(PointsAllocation.entry_id == spent.id).order_by(PointsAllocation.id)).all()
    assert [tuple(a) for a in allocs] == [(old.entry_id, 100), (new.entry_id, 50)]
    with db.transaction() as s:
        again = ledger.spend_in(s, m.id, 150, reason="redemption", key="r1", source="reward", now=NOW)
    assert again.id == spent.id and balance(m) == 50
    with pytest.raises(ledger.NotEnoughPoints), db.transaction() as s:
        ledger.spend_in(s, m.id, 51, reason="redemption", key="r2", source="reward", now=NOW)
    assert balance(m) == 50 and len(entries(m)) == 3


def test_expiry_writes_entries_and_expired_points_cannot_be_spent(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.CHECKIN, 30)
    lot = earn(m, Trigger.CHECKIN, "a", NOW - timedelta(days=800))
    earn(m, Trigger.CHECKIN, "b", NOW)
    first = next(e for e in entries(m) if e.id == lot.entry_id)
    assert first.expires_at is not None and first.expires_at < NOW           # 24 months, to the month's end
    with pytest.raises(ledger.NotEnoughPoints), db.transaction() as s:      # not yet expired by the job, still
        ledger.spend_in(s, m.id, 40, reason="redemption", key="x", source="reward", now=NOW)
    assert ledger.expire_due(NOW) == 1
    assert ledger.expire_due(NOW) == 0
    rows = entries(m)
    assert [(e.kind, e.points) for e in rows] == [(EntryKind.EARN, 30), (EntryKind.EARN, 30), (EntryKind.EXPIRE, -30)]
    assert balance(m) == 30 and ledger.verify() == []


def test_lot_expiry_is_the_end_of_the_month(app_ctx: Any) -> None:
    at = ledger.lot_expiry(datetime(2026, 1, 31, 4, 0, tzinfo=UTC), 24)
    local = at.astimezone(ledger.local_tz())
    assert (local.year, local.month, local.day, local.hour, local.minute) == (2028, 1, 31, 23, 59)


def test_staff_adjustments_need_a_reason_never_go_negative_and_are_audited(app_ctx: Any) -> None:
    m = make_member()
    staff = make_staff(Role.DEALER_MANAGER)
    with pytest.raises(Invalid):
        ledger.adjust(m.id, 50, staff=staff, note=" ", key="a0")
    ledger.adjust(m.id, 50, staff=staff, note="活动补发", key="a1", now=NOW)
    with pytest.raises(ledger.NotEnoughPoints):
        ledger.adjust(m.id, -60, staff=staff, note="扣回", key="a2", now=NOW)
    ledger.adjust(m.id, -20, staff=staff, note="扣回", key="a3", now=NOW)
    assert balance(m) == 30
    logs = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "points.adjust")).all()
    assert [log.detail["points"] for log in logs] == [50, -20]


def test_verify_finds_and_fixes_a_wrong_cache(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.CHECKIN, 10)
    earn(m, Trigger.CHECKIN, "k")
    with db.transaction() as s:
        s.execute(sa.update(Member).where(Member.id == m.id).values(balance=999))
    assert ledger.verify() == [(m.id, 999, 10)]
    ledger.verify(fix=True)
    assert ledger.verify() == [] and balance(m) == 10
