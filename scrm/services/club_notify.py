"""Club notices through the outbox: promoted from the waitlist, reminders, cancellations and publish pushes.

Each notice is one outbox row per subscribed follower with a dedupe key `club:<event>:<what>:<member or
follower>`, so a repeated job or a retried change writes nothing twice. Changes to a registration are
"transactional" (Channel.AUTO); the publish push is "marketing" and so respects opt-outs and quiet hours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.models import Account, Channel, ClubEvent, Follower, Member
from scrm.outbox.enqueue import enqueue
from scrm.services import booking_config, ledger
from scrm.services.booking_notify_text import local_time
from scrm.wechat.render import translations

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
MESSAGES = {
    # what -> msgid; %(title)s, %(when)s, %(place)s and %(link)s are filled in
    "promoted": "A seat opened up: you are now registered for %(title)s on %(when)s at %(place)s. %(link)s",
    "remind": "Reminder: %(title)s is on %(when)s at %(place)s. Scan the check-in code when you arrive. %(link)s",
    "cancelled": "We are sorry: %(title)s on %(when)s has been cancelled. %(link)s",
    "push": "New owners' club event: %(title)s on %(when)s at %(place)s. Register here: %(link)s",
}


def event_tz(s: Session, ev: ClubEvent) -> ZoneInfo:
    """The time zone an event is shown in: its dealer's, else the app's."""
    return booking_config.load(s, ev.dealer_id).rules.tz if ev.dealer_id is not None else ledger.local_tz()


def _language(slug: str) -> str:
    account = runtime.get().settings.account(slug)
    return str(getattr(account, "language", "zh") or "zh") if account is not None else "zh"


def event_link(slug: str, event_id: int) -> str:
    """The H5 page of an event."""
    return runtime.get().settings.app.public_url.rstrip("/") + f"/h5/{slug}/events/{event_id}"


def text(s: Session, ev: ClubEvent, what: str) -> str:
    """The chat text of notice `what` about `ev` in the account's language."""
    account = s.get(Account, ev.account_id)
    slug = account.slug if account is not None else ""
    language = _language(slug)
    values: dict[str, Any] = {"title": ev.title, "place": ev.place or "-",
                              "when": local_time(ev.starts_at.astimezone(event_tz(s, ev)), language),
                              "link": event_link(slug, ev.id)}
    return translations(language).gettext(MESSAGES[what]) % values


def _write(s: Session, ev: ClubEvent, what: str, who: str, follower_id: int, openid: str, body: str,
           purpose: str, send_after: datetime | None = None) -> int | None:
    return enqueue(s, account_id=ev.account_id, dedupe_key=f"club:{ev.id}:{what}:{who}", channel=Channel.AUTO,
                   payload={"custom": {"msgtype": "text", "text": {"content": body}}}, follower_id=follower_id,
                   openid=openid, dealer_id=ev.dealer_id, purpose=purpose, send_after=send_after)


def tell_members(s: Session, ev: ClubEvent, what: str, member_ids: list[int]) -> int:
    """One transactional notice `what` to each member's subscribed follower; the number of rows written."""
    if not member_ids:
        return 0
    rows = s.execute(sa.select(Member.id, Follower.id.label("fid"), Follower.openid)
                     .join(Follower, Follower.id == Member.follower_id)
                     .where(Member.id.in_(member_ids), Follower.subscribed.is_(True))).all()
    if not rows:
        return 0
    body = text(s, ev, what)
    return sum(1 for r in rows
               if _write(s, ev, what, str(r.id), int(r.fid), str(r.openid), body, TRANSACTIONAL) is not None)


def push(s: Session, ev: ClubEvent, followers: list[tuple[int, str]]) -> int:
    """The marketing push of a published event to `followers` [(id, openid)]; the number of rows written."""
    body = text(s, ev, "push")
    return sum(1 for fid, openid in followers
               if _write(s, ev, "push", str(fid), fid, openid, body, MARKETING) is not None)
