"""The points ledger: earn (by rule, with caps), spend (soonest-expiring lots first), adjust, expire.

Every write locks the member's row first, so one member's writes queue up while different members'
run in parallel; the entry's UNIQUE idempotency key is the final gate (a cause retried or raced pays
once: the loser finds the winner's entry). `Member.balance` is a cache kept in the same transaction as
each entry and checked against the ledger by `verify` (the nightly job and `scrm loyalty verify`).
Functions ending in `_in` run in the caller's transaction (e.g. a booking's completion); the others
open their own. Earning, the hot path, is two Core statements on PostgreSQL (see ledger_write) with the rule, the
lot validity and the tier ladder read from the in-process policy cache (loyalty_cache).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import EntryKind, Follower, Member, PointsAllocation, PointsEntry, StaffUser, Trigger
from scrm.services import audit, events_bus, ledger_write, loyalty_rules, tiers
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.ledger_write import local_tz as local_tz
from scrm.services.ledger_write import lot_expiry as lot_expiry
from scrm.services.loyalty_events import PointsChanged
from scrm.services.normalize_base import N_

audit.ACTIONS.update({"points.adjust": N_("Adjusted a member's points")})
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class NotEnoughPoints(DomainError):
    """A spend or a negative adjustment larger than the balance."""

    message = N_("Not enough points: the balance is %(balance)s.")


@dataclass(frozen=True)
class Award:
    """What an earn attempt did: `points` paid (0 when capped, no rule, or a duplicate)."""

    points: int
    entry_id: int | None
    duplicate: bool = False
    capped: bool = False
    balance: int = 0


def _code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def member_in(s: Session, follower_id: int, *, lock: bool = False) -> Member:
    """The follower's member row, created on first use (a race for the UNIQUE follower_id is retried)."""
    q = sa.select(Member).where(Member.follower_id == follower_id)
    m = s.scalar(q.with_for_update() if lock else q)
    if m is not None:
        return m
    f = s.get(Follower, follower_id)
    if f is None:
        raise NotFound()
    for _ in range(5):
        try:
            with s.begin_nested():
                s.add(Member(account_id=f.account_id, follower_id=f.id, dealer_id=f.dealer_id, referral_code=_code()))
            break
        except IntegrityError:
            if s.scalar(sa.select(Member.id).where(Member.follower_id == follower_id)) is not None:
                break  # another transaction created it first
    m = s.scalar(q.with_for_update() if lock else q)
    assert m is not None
    return m


def _locked(s: Session, member_id: int) -> Member:
    m = s.scalar(sa.select(Member).where(Member.id == member_id).with_for_update())
    if m is None:
        raise NotFound()
    return m


def _existing(s: Session, key: str) -> PointsEntry | None:
    return s.scalar(sa.select(PointsEntry).where(PointsEntry.idempotency_key == key))


def _paid_since(s: Session, member_id: int, reason: str, since: datetime) -> int:
    return int(s.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
        PointsEntry.member_id == member_id, PointsEntry.reason == reason, PointsEntry.kind == EntryKind.EARN,
        PointsEntry.created_at >= since)) or 0)


def _capped(s: Session, member_id: int, reason: str, points: int, daily: int | None, monthly: int | None,
            now: datetime) -> int:
    """`points` clipped to what the rule's day and month caps still allow."""
    local = now.astimezone(local_tz())
    if daily is not None:
        day_start = datetime.combine(local.date(), time(0), local_tz())
        points = min(points, max(0, daily - _paid_since(s, member_id, reason, day_start)))
    if monthly is not None and points > 0:
        month_start = datetime.combine(local.date().replace(day=1), time(0), local_tz())
        points = min(points, max(0, monthly - _paid_since(s, member_id, reason, month_start)))
    return points


def earn_in(s: Session, member_id: int, trigger: Trigger, *, key: str, source: str, source_id: str = "",
            dealer_id: int | None = None, amount: float | None = None, points: int | None = None,
            note: str = "", now: datetime | None = None) -> Award:
    """Pay `trigger`'s rule (or `points` when given: paid even without a rule, capped by one) once for `key`."""
    now = now or db.utcnow()
    m = ledger_write.lock(s, member_id)
    rule = loyalty_rules.rule_of(s, m.account_id, dealer_id if dealer_id is not None else m.dealer_id, trigger)
    wanted = points if points is not None else (loyalty_rules.points_for(rule, amount) if rule else 0)
    paid = _capped(s, m.id, trigger.value, wanted, rule.daily_cap if rule else None,
                   rule.monthly_cap if rule else None, now) if wanted > 0 else 0
    if paid <= 0:  # nothing to pay: still say so when the key was paid before
        twin = ledger_write.existing_id(s, key)
        if twin is not None:
            return Award(points=0, entry_id=twin, duplicate=True, balance=m.balance)
        return Award(points=0, entry_id=None, capped=wanted > 0, balance=m.balance)
    reason, lot_dealer = trigger.value[:32], dealer_id if dealer_id else m.dealer_id
    done = ledger_write.pay(s, dict(
        account_id=m.account_id, member_id=m.id, dealer_id=lot_dealer, kind=EntryKind.EARN, points=paid,
        reason=reason, source=source[:16], source_id=source_id[:64], idempotency_key=key[:128], remaining=paid,
        expires_at=lot_expiry(now, loyalty_rules.valid_months_of(s, m.account_id)), note=note[:200],
        staff_id=None, created_at=now), now)
    if done is None:  # the key was paid before (or by a twin racing us): pay nothing
        return Award(points=0, entry_id=ledger_write.existing_id(s, key), duplicate=True, balance=m.balance)
    entry_id, balance, tier_id, earned = done
    tiers.note_earned(s, entry_id, tier_id, earned)
    events_bus.publish(s, PointsChanged(member_id=m.id, account_id=m.account_id, entry_id=entry_id,
                                        kind=EntryKind.EARN, points=paid, reason=reason, balance=balance, at=now))
    return Award(points=paid, entry_id=entry_id, capped=paid < wanted, balance=balance)


def _write(s: Session, m: Member, kind: EntryKind, points: int, reason: str, source: str, source_id: str, key: str,
           dealer_id: int | None, note: str, staff_id: int | None, now: datetime) -> PointsEntry:
    lot = points > 0
    e = PointsEntry(account_id=m.account_id, member_id=m.id, dealer_id=dealer_id if dealer_id else m.dealer_id,
                    kind=kind, points=points, reason=reason[:32], source=source[:16], source_id=source_id[:64],
                    idempotency_key=key[:128], remaining=points if lot else None, note=note[:200],
                    expires_at=lot_expiry(now, loyalty_rules.valid_months_of(s, m.account_id)) if lot else None,
                    staff_id=staff_id, created_at=now)
    s.add(e)
    s.flush()  # the UNIQUE key stops a raced twin here
    if not lot:
        _draw(s, m.id, e, -points, now)
    m.balance += points
    m.updated_at = now
    events_bus.publish(s, PointsChanged(member_id=m.id, account_id=m.account_id, entry_id=e.id, kind=kind,
                                        points=points, reason=e.reason, balance=m.balance, at=now))
    return e


def _draw(s: Session, member_id: int, entry: PointsEntry, points: int, now: datetime) -> None:
    """Take `points` from the member's open lots, soonest expiry first (lots already expired are skipped)."""
    lots = s.scalars(sa.select(PointsEntry).where(
        PointsEntry.member_id == member_id, PointsEntry.remaining > 0, PointsEntry.id != entry.id,
        sa.or_(PointsEntry.expires_at.is_(None), PointsEntry.expires_at > now))
        .order_by(PointsEntry.expires_at.asc().nulls_last(), PointsEntry.id).with_for_update())
    left = points
    for lot in lots:
        take = min(left, lot.remaining or 0)
        lot.remaining = (lot.remaining or 0) - take
        s.add(PointsAllocation(entry_id=entry.id, lot_id=lot.id, points=take))
        left -= take
        if left == 0:
            return
    raise NotEnoughPoints(balance=points - left)


def spend_in(s: Session, member_id: int, points: int, *, reason: str, key: str, source: str, source_id: str = "",
             dealer_id: int | None = None, note: str = "", now: datetime | None = None) -> PointsEntry:
    """Spend `points` (> 0) once for `key`; NotEnoughPoints when the spendable balance is short."""
    if points <= 0:
        raise Invalid(N_("Points must be a positive number."), field="points")
    now = now or db.utcnow()
    m = _locked(s, member_id)
    twin = _existing(s, key)
    if twin is not None:
        return twin
    if spendable_in(s, m.id, now) < points:
        raise NotEnoughPoints(balance=m.balance)
    return _write(s, m, EntryKind.SPEND, -points, reason, source, source_id, key, dealer_id, note, None, now)


def spendable_in(s: Session, member_id: int, now: datetime) -> int:
    """What the member can spend now: open lots not yet past their expiry (the job may lag a little)."""
    return int(s.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.remaining), 0)).where(
        PointsEntry.member_id == member_id, PointsEntry.remaining > 0,
        sa.or_(PointsEntry.expires_at.is_(None), PointsEntry.expires_at > now))) or 0)


def adjust(member_id: int, points: int, *, staff: StaffUser, note: str, key: str, ip: str = "",
           now: datetime | None = None) -> PointsEntry:
    """A staff correction (positive or negative) with a required reason; audited. Scope is the caller's check."""
    note = (note or "").strip()
    if not note:
        raise Invalid(N_("Please give the reason for the adjustment."), field="note")
    if points == 0 or abs(points) > 1_000_000:
        raise Invalid(N_("Enter a non-zero number of points (at most 1,000,000)."), field="points")
    now = now or db.utcnow()
    with db.transaction() as s:
        m = _locked(s, member_id)
        twin = _existing(s, key)
        if twin is not None:
            return twin
        if points < 0 and spendable_in(s, m.id, now) < -points:
            raise NotEnoughPoints(balance=m.balance)
        e = _write(s, m, EntryKind.ADJUST, points, "staff", "staff", str(staff.id), key, None, note, staff.id, now)
        audit.record(s, staff=staff, action="points.adjust", target_type="member", target_id=m.id, ip=ip,
                     dealer_id=m.dealer_id, detail={"points": points, "note": note, "balance": m.balance})
        return e


def expire_due(now: datetime | None = None, batch: int = 500) -> int:
    """Write an expire entry for every lot past its expiry with points left; return how many lots."""
    now = now or db.utcnow()
    done = 0
    while True:
        with db.transaction() as s:
            due = list(s.execute(sa.select(PointsEntry.id, PointsEntry.member_id).where(
                PointsEntry.remaining > 0, PointsEntry.expires_at <= now).order_by(PointsEntry.id).limit(batch)))
            for lot_id, member_id in due:
                m = _locked(s, member_id)
                lot = s.scalar(sa.select(PointsEntry).where(PointsEntry.id == lot_id).with_for_update())
                if lot is None or not lot.remaining:
                    continue  # spent meanwhile
                left = lot.remaining
                e = PointsEntry(account_id=m.account_id, member_id=m.id, dealer_id=lot.dealer_id,
                                kind=EntryKind.EXPIRE, points=-left, reason="expiry", source="system",
                                source_id=str(lot.id), idempotency_key=f"expire:{lot.id}", created_at=now)
                s.add(e)
                s.flush()
                s.add(PointsAllocation(entry_id=e.id, lot_id=lot.id, points=left))
                lot.remaining = 0
                m.balance -= left
                m.updated_at = now
                events_bus.publish(s, PointsChanged(member_id=m.id, account_id=m.account_id, entry_id=e.id,
                                                    kind=EntryKind.EXPIRE, points=-left, reason="expiry",
                                                    balance=m.balance, at=now))
                done += 1
        if len(due) < batch:
            return done


def ledger_balance_in(s: Session, member_id: int) -> int:
    """The balance as the ledger says (the sum of every entry)."""
    return int(s.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0))
                        .where(PointsEntry.member_id == member_id)) or 0)


def verify(account_id: int | None = None, fix: bool = False) -> list[tuple[int, int, int]]:
    """Members whose cached balance differs from the ledger: (member id, cached, ledger); `fix` resets them."""
    with db.transaction() as s:
        sums = (sa.select(PointsEntry.member_id, sa.func.sum(PointsEntry.points).label("total"))
                .group_by(PointsEntry.member_id).subquery())
        q = (sa.select(Member.id, Member.balance, sa.func.coalesce(sums.c.total, 0))
             .outerjoin(sums, sums.c.member_id == Member.id)
             .where(Member.balance != sa.func.coalesce(sums.c.total, 0)))
        if account_id is not None:
            q = q.where(Member.account_id == account_id)
        bad = [(int(a), int(b), int(c)) for a, b, c in s.execute(q)]
        if fix:
            for member_id, _cached, real in bad:
                s.execute(sa.update(Member).where(Member.id == member_id).values(balance=real))
        return bad
