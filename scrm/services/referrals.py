"""Referrals: a friend who follows through a member's personal QR code becomes that member's referee.

`record_follow` runs after followers.subscribe (the subscribe handler's `referral` scene hook). A friend
is credited to one referrer only (Referral.referee_id is UNIQUE), never to themselves, never in a loop
(the referrer was not brought in by the friend, directly or up the chain), and only on a FIRST follow of
someone who was not a member already: followers.subscribe sets Follower.referrer_id on a first follow
only, and this module trusts that decision. The later stages (bound, test drive, purchase) and their
points live in referrals_points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, CustomerBinding, Follower, Member, Referral
from scrm.security import mask_phone
from scrm.services import ledger

log = logging.getLogger(__name__)
SCENE_PREFIX = "referral:"
MAX_CHAIN = 1000  # how far up a referrer's chain the loop check walks (a chain is far shorter in practice)


@dataclass(frozen=True)
class Invited:
    """What a referral follow did: the new Referral's id (None when refused), why not, who invited (masked)."""

    referral_id: int | None
    refused: str
    inviter: str


def scene_for(follower_id: int) -> str:
    """The QR scene of a member's personal code."""
    return f"{SCENE_PREFIX}{follower_id}"


def mask_name(name: str) -> str:
    """王** for 王小明: the first character and a star for each other one (at most two)."""
    name = name.strip()
    if not name:
        return ""
    return name[0] + "*" * min(2, max(1, len(name) - 1))


def masked_in(s: Session, follower_id: int) -> str:
    """A follower as others may see them: the bound record's masked name, else its masked mobile, else ''."""
    row = s.execute(sa.select(Customer.name, Customer.mobile)
                    .join(CustomerBinding, CustomerBinding.customer_id == Customer.id)
                    .where(CustomerBinding.follower_id == follower_id, Customer.erased_at.is_(None))
                    .order_by(CustomerBinding.bound_at).limit(1)).first()
    if row is None:
        return ""
    if row.name:
        return mask_name(str(row.name))
    return mask_phone(str(row.mobile)) if row.mobile else ""


def chain_has(s: Session, start_member_id: int, wanted_member_id: int) -> bool:
    """True when `wanted` is `start` or anywhere up the chain of who referred `start`."""
    seen: set[int] = set()
    current: int | None = start_member_id
    while current is not None and current not in seen and len(seen) < MAX_CHAIN:
        if current == wanted_member_id:
            return True
        seen.add(current)
        current = s.scalar(sa.select(Referral.referrer_id).where(Referral.referee_id == current))
    return False


def _member_before(s: Session, follower_id: int) -> Member | None:
    return s.scalar(sa.select(Member).where(Member.follower_id == follower_id))


def create_in(s: Session, referrer_follower_id: int, referee_follower_id: int, *,
              first_follow: bool) -> tuple[Referral | None, str]:
    """Create the Referral after every check, in the caller's transaction; (row, '') or (None, why not)."""
    if referrer_follower_id == referee_follower_id:
        return None, "self"
    if not first_follow:
        return None, "returning"
    referee_f = s.get(Follower, referee_follower_id)
    referrer_f = s.get(Follower, referrer_follower_id)
    if referee_f is None or referrer_f is None or referee_f.account_id != referrer_f.account_id:
        return None, "unknown"
    if referee_f.referrer_id != referrer_follower_id:
        return None, "not_credited"  # followers.subscribe did not credit this follow
    existing = _member_before(s, referee_follower_id)
    if existing is not None:
        if s.scalar(sa.select(Referral.id).where(Referral.referee_id == existing.id)) is not None:
            return None, "already_referred"
        if existing.balance != 0 or existing.last_checkin_on is not None:
            return None, "already_member"
    referrer = ledger.member_in(s, referrer_follower_id, lock=True)  # serialises one referrer's invitations
    referee = existing or ledger.member_in(s, referee_follower_id)
    if chain_has(s, referrer.id, referee.id):
        return None, "loop"
    try:
        with s.begin_nested():
            row = Referral(account_id=referrer.account_id, referrer_id=referrer.id, referee_id=referee.id)
            s.add(row)
            s.flush()
    except IntegrityError:
        return None, "already_referred"
    referee.referrer_id = referrer.id
    if referee.dealer_id is None and referrer.dealer_id is not None:
        referee.dealer_id = referrer.dealer_id
    return row, ""


def record_follow(referrer_follower_id: int, referee_follower_id: int, *, first_follow: bool) -> Invited:
    """A follow through `referrer`'s personal code: credit the friend when every check passes."""
    with db.transaction() as s:
        row, why = create_in(s, referrer_follower_id, referee_follower_id, first_follow=first_follow)
        inviter = masked_in(s, referrer_follower_id)
        rid = row.id if row is not None else None
    if why:
        log.info("referral by follower %s of %s refused: %s", referrer_follower_id, referee_follower_id, why)
    return Invited(referral_id=rid, refused=why, inviter=inviter)
