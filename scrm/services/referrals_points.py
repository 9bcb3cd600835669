"""The referrer's points as a referred friend goes further: binds, test-drives, buys.

Each stage pays once per referral: the ledger key `ref:<referral id>:<stage>` is the gate (a replayed
event or a re-run job finds the entry), the stage's timestamp on the Referral is set in the same
transaction, and the referrer is told through the outbox (transactional, Channel.AUTO custom text,
dedupe key `ref:<referral id>:<stage>:notice`). The rules' caps apply (ledger.earn_in).
Binding pays from the CustomerBound event when scrm.services.binding_events exists, and in any case
from the 10-minute scan; a test drive from BookingCompleted; a purchase from the daily vehicle scan.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import (
    Account,
    Channel,
    CustomerBinding,
    Follower,
    Member,
    Referral,
    ServiceKind,
    ServiceType,
    Trigger,
    Vehicle,
)
from scrm.outbox.enqueue import enqueue
from scrm.services import events_bus, ledger
from scrm.services.booking_events import BookingCompleted
from scrm.services.normalize_base import N_
from scrm.services.referrals import masked_in
from scrm.wechat.render import translations

log = logging.getLogger(__name__)
SOURCE = "referral"
PURPOSE = "transactional"
STAGES: dict[str, tuple[Trigger, str]] = {
    "bind": (Trigger.REFERRAL_BIND, "bound_at"),
    "test_drive": (Trigger.REFERRAL_TEST_DRIVE, "test_drive_at"),
    "purchase": (Trigger.REFERRAL_PURCHASE, "purchased_at"),
}
A_FRIEND = N_("(a friend)")
TRIGGERS = tuple(t.value for t, _ in STAGES.values())
MESSAGES = {
    # stage -> (msgid with points, msgid without); %(friend)s, %(points)s and %(link)s are filled in
    "bind": (N_("Your friend %(friend)s has bound their WeChat to their customer record: +%(points)s points. "
                "%(link)s"),
             N_("Your friend %(friend)s has bound their WeChat to their customer record. %(link)s")),
    "test_drive": (N_("Your friend %(friend)s has completed a test drive: +%(points)s points. %(link)s"),
                   N_("Your friend %(friend)s has completed a test drive. %(link)s")),
    "purchase": (N_("Your friend %(friend)s has become a car owner: +%(points)s points. Thank you! %(link)s"),
                 N_("Your friend %(friend)s has become a car owner. Thank you! %(link)s")),
}


def key_of(referral_id: int, stage: str) -> str:
    """The ledger idempotency key of one stage of one referral."""
    return f"ref:{referral_id}:{stage}"


def _language(slug: str) -> str:
    account = runtime.get().settings.account(slug)
    return str(getattr(account, "language", "zh") or "zh") if account is not None else "zh"


def _notify(s: Session, r: Referral, stage: str, points: int) -> None:
    referrer = s.get(Member, r.referrer_id)
    referee = s.get(Member, r.referee_id)
    if referrer is None or referee is None:
        return
    f = s.get(Follower, referrer.follower_id)
    account = s.get(Account, r.account_id)
    if f is None or not f.subscribed or account is None:
        return
    language = _language(account.slug)
    tr = translations(language)
    friend = masked_in(s, referee.follower_id) or tr.gettext(A_FRIEND)
    link = runtime.get().settings.app.public_url.rstrip("/") + f"/h5/{account.slug}/referral"
    with_points, without = MESSAGES[stage]
    body = tr.gettext(with_points if points > 0 else without) % {"friend": friend, "points": points, "link": link}
    enqueue(s, account_id=r.account_id, dedupe_key=f"{key_of(r.id, stage)}:notice", channel=Channel.AUTO,
            payload={"custom": {"msgtype": "text", "text": {"content": body}}}, follower_id=f.id,
            openid=f.openid, dealer_id=referrer.dealer_id, purpose=PURPOSE)


def reach_in(s: Session, referral_id: int, stage: str, *, now: datetime | None = None) -> bool:
    """Mark `stage` reached, pay the referrer once and tell them; False when it was reached before."""
    trigger, column = STAGES[stage]
    now = now or db.utcnow()
    # The claim decides a race on every database: a concurrent UPDATE waits for this transaction
    # (PostgreSQL's row lock, SQLite's write lock), then finds the stage reached and claims nothing.
    col = getattr(Referral, column)
    claim = (sa.update(Referral).where(Referral.id == referral_id, col.is_(None)).values({column: now})
             .execution_options(synchronize_session=False))
    if s.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
        return False
    r = s.get(Referral, referral_id, populate_existing=True)
    assert r is not None
    award = ledger.earn_in(s, r.referrer_id, trigger, key=key_of(r.id, stage), source=SOURCE,
                           source_id=str(r.id), now=now)
    if not award.duplicate:
        _notify(s, r, stage, award.points)
    return True


def _referral_of_follower(s: Session, follower_id: int) -> int | None:
    return s.scalar(sa.select(Referral.id).join(Member, Member.id == Referral.referee_id)
                    .where(Member.follower_id == follower_id))


def _referrals_of_customer(s: Session, customer_id: int) -> list[int]:
    return list(s.scalars(sa.select(Referral.id).join(Member, Member.id == Referral.referee_id)
                          .join(CustomerBinding, CustomerBinding.follower_id == Member.follower_id)
                          .where(CustomerBinding.customer_id == customer_id).order_by(Referral.id)))


def on_booking_completed(s: Session, event: BookingCompleted) -> None:
    """A completed test drive of a referee (its follower, or a customer bound to one) pays the referrer."""
    s.flush()
    kind = s.scalar(sa.select(ServiceType.kind).where(ServiceType.id == event.service_type_id))
    if kind != ServiceKind.TEST_DRIVE:
        return
    ids: set[int] = set()
    if event.follower_id is not None:
        rid = _referral_of_follower(s, event.follower_id)
        if rid is not None:
            ids.add(rid)
    if event.customer_id is not None:
        ids.update(_referrals_of_customer(s, event.customer_id))
    for rid in sorted(ids):
        reach_in(s, rid, "test_drive", now=event.completed_at)


def on_customer_bound(s: Session, event: Any) -> None:
    """The friend bound to a customer record (binding_events.CustomerBound): pay the bind stage."""
    follower_id = getattr(event, "follower_id", None)
    if follower_id is None:
        return
    rid = _referral_of_follower(s, int(follower_id))
    if rid is not None:
        reach_in(s, rid, "bind")


def scan_bindings(batch: int = 500) -> int:
    """Referrals not yet bound whose friend now has a binding: pay them; how many stages were reached."""
    done, after = 0, 0
    while True:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Referral.id).join(Member, Member.id == Referral.referee_id)
                                 .where(Referral.id > after, Referral.bound_at.is_(None),
                                        sa.exists().where(CustomerBinding.follower_id == Member.follower_id))
                                 .order_by(Referral.id).limit(batch)))
        for rid in ids:
            with db.transaction() as s:
                done += reach_in(s, rid, "bind")
        if len(ids) < batch:
            return done
        after = ids[-1]


def _local_day(value: datetime) -> date:
    return value.astimezone(ledger.local_tz()).date()


def scan_purchases(batch: int = 500) -> int:
    """Referrals not yet bought whose friend's bound customer got a car bought since the referral (local day)."""
    done, after = 0, 0
    while True:
        with db.transaction() as s:
            rows = s.execute(sa.select(Referral.id, Referral.created_at, sa.func.max(Vehicle.purchase_date))
                             .join(Member, Member.id == Referral.referee_id)
                             .join(CustomerBinding, CustomerBinding.follower_id == Member.follower_id)
                             .join(Vehicle, Vehicle.customer_id == CustomerBinding.customer_id)
                             .where(Referral.id > after, Referral.purchased_at.is_(None),
                                    Vehicle.purchase_date.is_not(None))
                             .group_by(Referral.id, Referral.created_at).order_by(Referral.id).limit(batch)).all()
        for rid, created_at, bought in rows:
            if bought is not None and bought >= _local_day(created_at):
                with db.transaction() as s:
                    done += reach_in(s, int(rid), "purchase")
        if len(rows) < batch:
            return done
        after = int(rows[-1][0])


def _subscribe_binding_event() -> None:
    """Listen to CustomerBound when the binding events module exists (the scan covers it otherwise)."""
    if importlib.util.find_spec("scrm.services.binding_events") is None:
        return
    module = importlib.import_module("scrm.services.binding_events")
    event_type = getattr(module, "CustomerBound", None)
    if event_type is not None:
        events_bus.subscribe(event_type, on_customer_bound, name="referrals.bound")


events_bus.subscribe(BookingCompleted, on_booking_completed, name="referrals.test_drive")
_subscribe_binding_event()
