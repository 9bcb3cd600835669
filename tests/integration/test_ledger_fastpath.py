"""The ledger's fast earn path: two statements per write on PostgreSQL (three on SQLite), the policy cache
seeing every edit made in this process at once, duplicates still reported, and a member already loaded in
the session kept in step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Delivery, EarningRule, LoyaltySettings, Member, PointsEntry, Role, Tier, Trigger
from scrm.services import ledger, ledger_write, loyalty_rules_admin, tiers
from scrm.services.accounts import account_id
from tests.factories import make_staff
from tests.integration.loyalty_support import make_member, make_rule, make_tiers

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def earn(member_id: int, key: str, now: datetime = NOW, trigger: Trigger = Trigger.CHECKIN,
         **kw: Any) -> ledger.Award:
    with db.transaction() as s:
        return ledger.earn_in(s, member_id, trigger, key=key, source="test", now=now, **kw)


@contextmanager
def counted() -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(db.engine(), "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine(), "before_cursor_execute", note)


def member_row(member_id: int) -> Member:
    db.session.remove()
    m = db.session.get(Member, member_id)
    assert m is not None
    return m


def test_a_warm_earn_is_two_statements_and_keeps_balance_and_tier(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.EVENT_ATTENDED, 10)
    make_tiers()
    earn(m.id, "warm", trigger=Trigger.EVENT_ATTENDED)        # loads the rule, validity and ladder
    db.session.remove()
    with counted() as seen:
        award = earn(m.id, "hot", trigger=Trigger.EVENT_ATTENDED)
    assert award.points == 10 and award.balance == 20
    # lock, then insert-once + credit (one statement on PostgreSQL): no key SELECT, and no rule,
    # settings, ladder or 12-month queries of their own (the old path made 8 statements)
    assert seen == (["SELECT", "WITH"] if db.is_postgres() else ["SELECT", "INSERT", "UPDATE"])
    row = member_row(m.id)
    assert row.balance == 20 and ledger.verify() == []
    silver = db.session.scalar(sa.select(Tier).where(Tier.code == "silver"))
    assert silver is not None and row.tier_id == silver.id


def test_the_first_points_onto_the_base_tier_set_it_with_one_update_and_tell_nobody(app_ctx: Any) -> None:
    warm, m = make_member(), make_member()
    make_rule(Trigger.EVENT_ATTENDED, 10)
    make_tiers()
    earn(warm.id, "warm", trigger=Trigger.EVENT_ATTENDED)     # loads the rule, validity and ladder
    db.session.remove()
    with counted() as seen:
        award = earn(m.id, "first", trigger=Trigger.EVENT_ATTENDED)
    assert award.points == 10
    # lock, pay, then the tier set: no member or tier row loaded to decide that joining the base tier
    # is no upgrade to announce (the notice handler used to load both for every new member)
    assert seen == (["SELECT", "WITH", "UPDATE"] if db.is_postgres() else ["SELECT", "INSERT", "UPDATE", "UPDATE"])
    assert member_row(m.id).tier_id == db.session.scalar(sa.select(Tier.id).where(Tier.code == "silver"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_crossing_a_threshold_moves_the_tier_on_the_write_that_crosses_it(app_ctx: Any) -> None:
    m = make_member()
    make_tiers()
    earn(m.id, "a", points=990)
    assert member_row(m.id).tier_id == db.session.scalar(sa.select(Tier.id).where(Tier.code == "silver"))
    earn(m.id, "b", points=10)                                # 1,000 in 12 months: gold
    assert member_row(m.id).tier_id == db.session.scalar(sa.select(Tier.id).where(Tier.code == "gold"))
    earn(m.id, "old", NOW - timedelta(days=400), points=5000)  # outside the window: no platinum
    earn(m.id, "c", points=1)
    assert member_row(m.id).tier_id == db.session.scalar(sa.select(Tier.id).where(Tier.code == "gold"))


def test_rule_settings_and_ladder_edits_are_seen_by_the_next_write(app_ctx: Any) -> None:
    m = make_member()
    make_tiers()
    admin = make_staff(role=Role.BRAND_ADMIN)
    loyalty_rules_admin.save_rule(admin, Trigger.CHECKIN, None, loyalty_rules_admin.RuleInput(points="10"))
    assert earn(m.id, "k1").points == 10
    loyalty_rules_admin.save_rule(admin, Trigger.CHECKIN, None, loyalty_rules_admin.RuleInput(points="25"))
    assert earn(m.id, "k2").points == 25                       # the admin's edit, at once
    with db.transaction() as s:                                # a direct write (Core) is seen too
        s.execute(sa.update(EarningRule).values(active=False))
    assert earn(m.id, "k3").points == 0
    with db.transaction() as s:
        s.add(LoyaltySettings(account_id=account_id("demo"), valid_months=1))
        s.execute(sa.update(Tier).where(Tier.code == "gold").values(threshold=30))
    earn(m.id, "k4", points=1)
    db.session.remove()
    last = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.idempotency_key == "k4"))
    assert last is not None and last.expires_at is not None
    assert last.expires_at < NOW + timedelta(days=70)          # one month's validity, not 24
    assert member_row(m.id).tier_id == db.session.scalar(sa.select(Tier.id).where(Tier.code == "gold"))


def test_a_duplicate_reports_the_first_entry_even_when_nothing_would_pay_now(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.CHECKIN, 10, daily_cap=10)
    first = earn(m.id, "once")
    again = earn(m.id, "once")                                 # the day's cap is used up as well
    assert again.duplicate and again.points == 0 and again.entry_id == first.entry_id
    with db.transaction() as s:
        s.execute(sa.update(EarningRule).values(active=False))
    gone = earn(m.id, "once")                                  # no rule now: still the same duplicate
    assert gone.duplicate and gone.entry_id == first.entry_id
    assert member_row(m.id).balance == 10 and ledger.verify() == []


def test_a_member_loaded_in_the_session_sees_the_new_balance_and_its_own_changes_survive(app_ctx: Any) -> None:
    m = make_member()
    make_rule(Trigger.CHECKIN, 10)
    with db.transaction() as s:
        loaded = s.get(Member, m.id)
        assert loaded is not None
        loaded.streak = 3                                      # pending, like a check-in's streak
        award = ledger.earn_in(s, m.id, Trigger.CHECKIN, key="k", source="test", now=NOW)
        assert loaded.balance == award.balance == 10
        assert "balance" not in sa.inspect(loaded).committed_state  # not dirty: no stale overwrite
    row = member_row(m.id)
    assert (row.balance, row.streak) == (10, 3) and ledger.verify() == []


def test_the_hot_statements_have_no_per_execution_rendering() -> None:
    from sqlalchemy.dialects import postgresql

    for name in ("lock", "pay", "credit", "key"):
        sql = ledger_write._SQL[name].compile(dialect=postgresql.dialect()).string  # type: ignore[no-untyped-call]
        assert "POSTCOMPILE" not in sql, name   # an IN list would re-render the SQL text on every write


def test_the_twelve_month_figure_counts_earnings_and_positive_adjustments_only(app_ctx: Any) -> None:
    m = make_member()
    earn(m.id, "e", trigger=Trigger.EVENT_ATTENDED, points=10)
    ledger.adjust(m.id, 5, staff=make_staff(role=Role.BRAND_ADMIN), note="bonus", key="a", now=NOW)
    with db.transaction() as s:
        ledger.spend_in(s, m.id, 3, reason="redemption", key="s", source="test", now=NOW)
    with db.transaction() as s:
        assert tiers.earned_in(s, m.id, NOW + timedelta(minutes=1)) == 15
        assert ledger.ledger_balance_in(s, m.id) == 12
