"""Daily check-in (once a day, streaks, streak bonus) and tiers from points earned over 12 months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Member, PointsEntry, Role, Trigger
from scrm.services import checkin, events_bus, ledger, tiers
from scrm.services.loyalty_events import TierChanged
from tests.factories import make_follower, make_staff
from tests.integration.loyalty_support import make_rule, make_tiers

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_check_in_once_a_day_with_streaks_and_bonus(app_ctx: Any) -> None:
    f = make_follower()
    make_rule(Trigger.CHECKIN, 5)
    make_rule(Trigger.STREAK_BONUS, 20, params={"days": 3})
    first = checkin.check_in(f.id, NOW)
    assert (first.already, first.points, first.streak, first.bonus) == (False, 5, 1, 0)
    again = checkin.check_in(f.id, NOW + timedelta(hours=5))
    assert (again.already, again.points, again.balance) == (True, 0, 5)
    checkin.check_in(f.id, NOW + timedelta(days=1))
    third = checkin.check_in(f.id, NOW + timedelta(days=2))
    assert (third.streak, third.points, third.bonus, third.balance) == (3, 5, 20, 35)
    gap = checkin.check_in(f.id, NOW + timedelta(days=4))      # a day missed: the streak starts over
    assert (gap.streak, gap.best_streak, gap.bonus) == (1, 3, 0)
    st = checkin.status(f.id, NOW + timedelta(days=6))
    assert st is not None and (st.streak, st.best_streak, st.checked_in_today) == (0, 3, False)
    assert checkin.status(make_follower().id, NOW) is None


def test_the_local_day_decides_not_utc(app_ctx: Any) -> None:
    f = make_follower()
    make_rule(Trigger.CHECKIN, 5)
    late = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)            # 23:30 in Shanghai
    checkin.check_in(f.id, late)
    after_midnight = checkin.check_in(f.id, late + timedelta(hours=1))  # 00:30 the next local day
    assert (after_midnight.already, after_midnight.streak) == (False, 2)


def test_tiers_follow_points_earned_in_12_months_not_the_balance(app_ctx: Any) -> None:
    silver, gold, platinum = make_tiers()
    f = make_follower()
    staff = make_staff(Role.BRAND_ADMIN)
    seen: list[TierChanged] = []
    events_bus.subscribe(TierChanged, lambda s, e: seen.append(e), name="test.tiers")
    try:
        make_rule(Trigger.BOOKING_COMPLETED, 600)
        with db.transaction() as s:
            m = ledger.member_in(s, f.id)
            ledger.earn_in(s, m.id, Trigger.BOOKING_COMPLETED, key="b1", source="booking",
                           now=NOW - timedelta(days=300))
        with db.transaction() as s:
            ledger.earn_in(s, m.id, Trigger.BOOKING_COMPLETED, key="b2", source="booking", now=NOW)
        db.session.remove()
        assert db.session.get(Member, m.id).tier_id == gold.id              # type: ignore[union-attr]
        assert [(e.new_tier_id, e.up) for e in seen] == [(silver.id, True), (gold.id, True)]
        with db.transaction() as s:                                          # spending keeps the tier
            ledger.spend_in(s, m.id, 1000, reason="redemption", key="r", source="reward", now=NOW)
        assert tiers.refresh_all(NOW) == 0
        assert tiers.refresh_all(NOW + timedelta(days=70)) == 1              # the first 600 aged out
        db.session.remove()
        assert db.session.get(Member, m.id).tier_id == silver.id            # type: ignore[union-attr]
        assert seen[-1].up is False and seen[-1].old_tier_id == gold.id
        ledger.adjust(m.id, 5000, staff=staff, note="VIP", key="adj", now=NOW + timedelta(days=70))
        with db.transaction() as s:
            p = tiers.progress_in(s, s.get(Member, m.id), NOW + timedelta(days=70))  # type: ignore[arg-type]
        assert p.tier is not None and p.tier.id == platinum.id and p.next_tier is None and p.earned_12m == 5600
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 4
    finally:
        events_bus.unsubscribe(TierChanged, "test.tiers")
