"""Opting out of and back into marketing messages (campaigns and journeys), from the chat or the H5 page.

Booking, points and event notices are transactional and keep arriving. Opting out also cancels the
follower's marketing rows still waiting in the outbox; the worker's own opt-out check catches any row
written later. Both changes are idempotent and leave a line on each bound customer's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import utcnow
from scrm.models import Customer, CustomerBinding, Delivery, DeliveryStatus, Follower, TimelineEntry
from scrm.outbox.policy import NON_MARKETING
from scrm.services.errors import NotFound
from scrm.services.normalize_base import N_

SOURCES = ("chat", "h5", "staff")
TITLE_OUT = N_("Opted out of marketing messages")
TITLE_IN = N_("Opted back in to marketing messages")
RESULT = "opt_out"


@dataclass(frozen=True)
class OptChange:
    """What an opt-out or opt-in did: whether the setting changed, and how many waiting rows were cancelled."""

    opted_out: bool
    changed: bool
    cancelled: int = 0


def _follower(s: Session, follower_id: int) -> Follower:
    """The follower row, locked so two changes of the same follower run one after the other."""
    f = s.scalar(sa.select(Follower).where(Follower.id == follower_id).with_for_update())
    if f is None:
        raise NotFound()
    return f


def _timeline(s: Session, f: Follower, title: str, source: str) -> None:
    """A line on every customer record the follower is bound to."""
    now = utcnow()
    rows = s.execute(sa.select(Customer.id, Customer.account_id, Customer.dealer_id)
                     .join(CustomerBinding, CustomerBinding.customer_id == Customer.id)
                     .where(CustomerBinding.follower_id == f.id, Customer.erased_at.is_(None)))
    for cid, account_id, dealer_id in rows:
        s.add(TimelineEntry(account_id=account_id, dealer_id=dealer_id, customer_id=cid, kind="preference",
                            title=title, detail={"source": source, "follower_id": f.id},
                            occurred_at=now, created_at=now))


def cancel_waiting(s: Session, follower_id: int) -> int:
    """Cancel the follower's marketing rows not yet sent (pending or held); returns how many."""
    res = s.execute(sa.update(Delivery)
                    .where(Delivery.follower_id == follower_id,
                           Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.HELD]),
                           Delivery.purpose.not_in(sorted(NON_MARKETING)))
                    .values(status=DeliveryStatus.CANCELLED, result=RESULT, error="opted out of marketing",
                            updated_at=utcnow())
                    .execution_options(synchronize_session=False))
    return int(getattr(res, "rowcount", 0) or 0)


def opt_out(follower_id: int, *, source: str = "chat") -> OptChange:
    """Stop marketing messages to the follower and cancel the ones waiting (a second call changes nothing)."""
    with db.transaction() as s:
        f = _follower(s, follower_id)
        changed = not f.opt_out_marketing
        if changed:
            f.opt_out_marketing = True
            _timeline(s, f, TITLE_OUT, source)
        return OptChange(opted_out=True, changed=changed, cancelled=cancel_waiting(s, f.id))


def opt_in(follower_id: int, *, source: str = "chat") -> OptChange:
    """Let marketing messages reach the follower again (rows cancelled earlier stay cancelled)."""
    with db.transaction() as s:
        f = _follower(s, follower_id)
        changed = f.opt_out_marketing
        if changed:
            f.opt_out_marketing = False
            _timeline(s, f, TITLE_IN, source)
        return OptChange(opted_out=False, changed=changed)


def is_opted_out(follower_id: int) -> bool:
    """Whether the follower has opted out of marketing messages."""
    with db.transaction() as s:
        return bool(s.scalar(sa.select(Follower.opt_out_marketing).where(Follower.id == follower_id)))
