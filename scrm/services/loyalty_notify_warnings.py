"""The nightly loyalty warnings: a tier that would drop soon, and points that expire soon.

Both run over every account in member-id batches with one aggregate query per batch, and write one
notice per member through loyalty_notify.write. Dedupe keys make a rerun (or the next nights) a no-op:
`loyalty:tier_drop:<member>:<tier>:<YYYY-MM>` (one warning per member, tier and month) and
`loyalty:expiry:<member>:<YYYY-MM of the soonest expiry>` (one per member and expiry month).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import Account, EntryKind, Member, PointsEntry, Tier
from scrm.services import ledger, loyalty_rules, tiers
from scrm.services.loyalty_notify import account_of, day_label, month_of, write
from scrm.services.loyalty_notify_facts import local_day


@dataclass(frozen=True)
class Warned:
    """What a warning pass did: members found at risk, and the notices newly written."""

    found: int = 0
    written: int = 0


DAYTIME = (time(9), time(21))   # nightly warnings wait for the member's morning


def not_before(now: datetime) -> datetime | None:
    """When a warning computed at `now` may go out: at once in the local daytime, else at the next 09:00."""
    local = now.astimezone(ledger.local_tz())
    if DAYTIME[0] <= local.time() < DAYTIME[1]:
        return None
    day = local.date() if local.time() < DAYTIME[0] else local.date() + timedelta(days=1)
    return datetime.combine(day, DAYTIME[0], ledger.local_tz())


def _accounts() -> list[int]:
    with db.transaction() as s:
        return [int(i) for i in s.scalars(sa.select(Account.id).order_by(Account.id))]


def warn_tier_drops(now: datetime | None = None, batch: int = 500) -> Warned:
    """Warn members whose tier would drop within the account's tier_warning_days unless they earn more."""
    now = now or db.utcnow()
    found = written = 0
    for account_id in _accounts():
        with db.transaction() as s:
            days = loyalty_rules.settings_of(s, account_id).tier_warning_days
        horizon = now + timedelta(days=days)
        earned = (sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0))
                  .where(PointsEntry.member_id == Member.id, PointsEntry.points > 0,
                         PointsEntry.kind.in_((EntryKind.EARN, EntryKind.ADJUST)),
                         PointsEntry.created_at > horizon - tiers.WINDOW, PointsEntry.created_at <= now)
                  .correlate(Member).scalar_subquery())
        last = 0
        while True:
            with db.transaction() as s:
                account = account_of(s, account_id)
                rows = list(s.execute(
                    sa.select(Member.id, Tier.id.label("tier_id"), Tier.name, Tier.threshold,
                              earned.label("kept"))
                    .join(Tier, Tier.id == Member.tier_id)
                    .where(Member.account_id == account_id, Member.id > last, Tier.threshold > 0)
                    .order_by(Member.id).limit(batch)))
                for r in rows:
                    if int(r.kept) >= int(r.threshold):
                        continue
                    found += 1
                    m = s.get(Member, r.id)
                    if m is None or account is None:
                        continue
                    if write(s, m, "tier_drop", f"loyalty:tier_drop:{m.id}:{r.tier_id}:{month_of(local_day(now))}",
                             tier=r.name, points=int(r.threshold) - int(r.kept),
                             send_after=not_before(now), by=day_label(local_day(horizon), account.language),
                             days=days) is not None:
                        written += 1
            if len(rows) < batch:
                break
            last = int(rows[-1].id)
    return Warned(found, written)


def warn_expiring(now: datetime | None = None, batch: int = 500) -> Warned:
    """Warn members of points expiring within the account's expiry_warning_days (the sum and the date)."""
    now = now or db.utcnow()
    found = written = 0
    for account_id in _accounts():
        with db.transaction() as s:
            days = loyalty_rules.settings_of(s, account_id).expiry_warning_days
        last = 0
        while True:
            with db.transaction() as s:
                account = account_of(s, account_id)
                rows = list(s.execute(
                    sa.select(PointsEntry.member_id, sa.func.sum(PointsEntry.remaining).label("points"),
                              sa.func.min(PointsEntry.expires_at).label("first"))
                    .where(PointsEntry.account_id == account_id, PointsEntry.member_id > last,
                           PointsEntry.remaining > 0, PointsEntry.expires_at > now,
                           PointsEntry.expires_at <= now + timedelta(days=days))
                    .group_by(PointsEntry.member_id).order_by(PointsEntry.member_id).limit(batch)))
                for r in rows:
                    found += 1
                    m = s.get(Member, r.member_id)
                    if m is None or account is None:
                        continue
                    first = local_day(r.first)
                    if write(s, m, "expiring", f"loyalty:expiry:{m.id}:{month_of(first)}", points=int(r.points),
                             date=day_label(first, account.language), balance=m.balance,
                             send_after=not_before(now)) is not None:
                        written += 1
            if len(rows) < batch:
                break
            last = int(rows[-1].member_id)
    return Warned(found, written)
