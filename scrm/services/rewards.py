"""Redeeming a reward for a voucher: one transaction that locks the member, takes one unit of stock with a
conditional update, spends the points through the ledger and issues a voucher with a unique code.

Who may redeem what: points belong to the account (a member's points are earned at any of its dealers),
so a member may redeem every active reward of the account, account-wide or any dealer's. A dealer's
reward is then used only at that dealer's counter (see `rewards_counter`); an account-wide one at any.
A voucher that expires unused is not refunded (the member chose the reward; the catalogue says how long
a voucher lasts); a voucher cancelled by staff gives the points and the stock back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import CustomerBinding, Dealer, Member, Redemption, RedemptionStatus, Reward
from scrm.services import ledger
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.normalize_base import N_

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed at the counter
CODE_LENGTH = 10
COUNTED = (RedemptionStatus.ISSUED, RedemptionStatus.USED, RedemptionStatus.EXPIRED)  # towards the limit


class SoldOut(DomainError):
    """No stock left."""

    message = N_("Sorry, this reward is sold out.")


class LimitReached(DomainError):
    """The member already redeemed the reward as often as allowed."""

    message = N_("You have already redeemed this reward %(limit)s times, the most allowed.")


class NotAvailable(DomainError):
    """The reward is inactive, outside its validity window or of another account."""

    message = N_("This reward is not available at the moment.")


@dataclass(frozen=True)
class Offer:
    """A reward as a member sees it: can they redeem it now, and if not, why."""

    reward: Reward
    redeemed: int
    limit_left: int | None
    affordable: bool
    dealer_name: str = ""  # a dealer's reward is used at that dealer ("" for account-wide ones)

    @property
    def can_redeem(self) -> bool:
        """True when stock, the limit and the balance all allow a redemption."""
        return self.reward.stock > 0 and (self.limit_left is None or self.limit_left > 0) and self.affordable


def new_code() -> str:
    """A random 10-character voucher code without ambiguous characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """A typed or scanned code: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())[:16]


def open_in(r: Reward, now: datetime) -> bool:
    """True when the reward is active and `now` is inside its validity window."""
    return r.active and (r.valid_from is None or r.valid_from <= now) and (r.valid_until is None or now < r.valid_until)


def _redeemed(s: Session, member_id: int, reward_id: int) -> int:
    return int(s.scalar(sa.select(sa.func.count()).select_from(Redemption).where(
        Redemption.member_id == member_id, Redemption.reward_id == reward_id,
        Redemption.status.in_(COUNTED))) or 0)


def _twin(s: Session, request_key: str, member_id: int) -> Redemption | None:
    r = s.scalar(sa.select(Redemption).where(Redemption.request_key == request_key))
    if r is not None and r.member_id != member_id:
        raise Invalid(N_("This request cannot be used. Please open the reward again."))
    return r


def redeem(follower_id: int, reward_id: int, request_key: str, now: datetime | None = None) -> Redemption:
    """Redeem a reward for the follower once per `request_key` (a double tap returns the same voucher)."""
    key = (request_key or "").strip()
    if not key or len(key) > 64:
        raise Invalid(N_("This request cannot be used. Please open the reward again."))
    now = now or db.utcnow()
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id, lock=True)  # the member's redemptions queue up from here
        twin = _twin(s, key, m.id)
        if twin is not None:
            return twin
        r = s.get(Reward, reward_id)
        if r is None or r.account_id != m.account_id or not open_in(r, now):
            raise NotAvailable()
        if r.per_member_limit is not None and _redeemed(s, m.id, r.id) >= r.per_member_limit:
            raise LimitReached(limit=r.per_member_limit)
        if ledger.spendable_in(s, m.id, now) < r.cost:
            raise ledger.NotEnoughPoints(balance=m.balance)
        taken = s.execute(sa.update(Reward).where(Reward.id == r.id, Reward.stock > 0)
                          .values(stock=Reward.stock - 1, updated_at=now)
                          .execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise SoldOut()
        entry = ledger.spend_in(s, m.id, r.cost, reason="redemption", key=f"redeem:{key}", source="reward",
                                source_id=str(r.id), dealer_id=r.dealer_id, note=r.name, now=now)
        red = _issue(s, m, r, key, entry.id, now)
        s.refresh(r)
        return red


def _issue(s: Session, m: Member, r: Reward, key: str, entry_id: int, now: datetime) -> Redemption:
    for _ in range(8):
        red = Redemption(account_id=m.account_id, dealer_id=r.dealer_id, reward_id=r.id, member_id=m.id,
                         entry_id=entry_id, code=new_code(), request_key=key, points=r.cost,
                         status=RedemptionStatus.ISSUED, issued_at=now,
                         expires_at=now + timedelta(days=r.voucher_days))
        try:
            with s.begin_nested():
                s.add(red)
            return red
        except IntegrityError:
            if s.scalar(sa.select(Redemption.id).where(Redemption.request_key == key)) is not None:
                raise
    raise DomainError()  # eight code collisions in a row: a broken random source


def offers(follower_id: int, now: datetime | None = None) -> tuple[int, list[Offer]]:
    """The member's spendable balance and the account's rewards open now, in catalogue order."""
    now = now or db.utcnow()
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id)
        balance = ledger.spendable_in(s, m.id, now)
        rows = s.scalars(sa.select(Reward).where(Reward.account_id == m.account_id, Reward.active.is_(True))
                         .order_by(Reward.sort_order, Reward.cost, Reward.id)).all()
        counts = {rid: int(n) for rid, n in s.execute(sa.select(Redemption.reward_id, sa.func.count()).where(
            Redemption.member_id == m.id, Redemption.status.in_(COUNTED)).group_by(Redemption.reward_id))}
        # the member's own dealers (home and bound) first: the rewards they can use nearby
        mine = {m.dealer_id} | set(s.scalars(sa.select(CustomerBinding.dealer_id)
                                             .where(CustomerBinding.follower_id == m.follower_id)))
        names = dict(s.execute(sa.select(Dealer.id, Dealer.name).where(Dealer.account_id == m.account_id)).all())
        out = []
        for r in sorted(rows, key=lambda r: r.dealer_id is not None and r.dealer_id not in mine):
            if not open_in(r, now):
                continue
            n = int(counts.get(r.id, 0))
            left = None if r.per_member_limit is None else max(0, r.per_member_limit - n)
            out.append(Offer(reward=r, redeemed=n, limit_left=left, affordable=balance >= r.cost,
                             dealer_name=names.get(r.dealer_id, "") if r.dealer_id is not None else ""))
        return balance, out


def offer(follower_id: int, reward_id: int, now: datetime | None = None) -> tuple[int, Offer]:
    """One open reward as `offers` sees it; NotFound when it is not open to the member."""
    balance, items = offers(follower_id, now)
    for o in items:
        if o.reward.id == reward_id:
            return balance, o
    raise NotFound()


def vouchers(follower_id: int, limit: int = 100) -> list[tuple[Redemption, Reward]]:
    """The follower's vouchers, newest first, with their rewards."""
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id)
        rows = [(red, r) for red, r in s.execute(
            sa.select(Redemption, Reward).join(Reward, Reward.id == Redemption.reward_id)
            .where(Redemption.member_id == m.id).order_by(Redemption.issued_at.desc(), Redemption.id.desc())
            .limit(limit))]
        return rows


def voucher_of(follower_id: int, redemption_id: int) -> tuple[Redemption, Reward]:
    """One of the follower's vouchers; NotFound when it is someone else's (or does not exist)."""
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id)
        row = s.execute(sa.select(Redemption, Reward).join(Reward, Reward.id == Redemption.reward_id)
                        .where(Redemption.id == redemption_id, Redemption.member_id == m.id)).first()
        if row is None:
            raise NotFound()
        return row[0], row[1]


def expire_vouchers(now: datetime | None = None) -> int:
    """Mark issued vouchers past their expiry as expired (points are not refunded); return how many."""
    now = now or db.utcnow()
    with db.transaction() as s:
        done = s.execute(sa.update(Redemption).where(Redemption.status == RedemptionStatus.ISSUED,
                                                     Redemption.expires_at <= now)
                         .values(status=RedemptionStatus.EXPIRED).execution_options(synchronize_session=False))
        return int(done.rowcount)  # type: ignore[attr-defined]
