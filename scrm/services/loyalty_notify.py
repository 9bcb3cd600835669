"""Loyalty notices to the member: a tier upgrade at once, and the nightly warnings (loyalty_notify_warnings).

Rows are written to the outbox in the caller's transaction (an upgrade rolled back tells nobody), with
Channel.AUTO and purpose "transactional". The account has no WeChat template configured for loyalty, so a
notice carries the customer-service text only: the worker skips it, with the reason, when the follower's
48-hour window is closed. Texts live in templates/notices/loyalty/ and speak the account's language.
Dedupe keys are `loyalty:<what>:<member id>:...`: a repeated cause writes nothing twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from scrm import ROOT, runtime
from scrm.config import AccountSettings
from scrm.models import Account, Channel, Follower, Member, Tier
from scrm.outbox.enqueue import enqueue
from scrm.services import events_bus, ledger, tiers
from scrm.services.loyalty_events import TierChanged
from scrm.wechat.render import translations

log = logging.getLogger(__name__)
PURPOSE = "transactional"
NOTICES_DIR = ROOT / "templates" / "notices"
_lock = threading.Lock()
_envs: dict[str, Environment] = {}


def _environment(language: str) -> Environment:
    env = _envs.get(language)
    if env is None:
        with _lock:
            env = _envs.get(language)
            if env is None:
                # Plain chat text, never HTML: no escaping (WeChat shows it as typed).
                env = Environment(loader=FileSystemLoader(str(NOTICES_DIR)), autoescape=False,  # noqa: S701
                                  extensions=["jinja2.ext.i18n"], undefined=StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
                env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
                _envs[language] = env
    return env


def render(kind: str, language: str, **values: Any) -> str:
    """The chat text of loyalty notice `kind` (templates/notices/loyalty/<kind>.txt) in `language`."""
    return _environment(language).get_template(f"loyalty/{kind}.txt").render(**values).strip()


def day_label(value: date, language: str) -> str:
    """A local date as followers read it: 2026年12月31日, or 31 Dec 2026."""
    if language == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value:%b %Y}"


def account_of(s: Session, account_id: int) -> AccountSettings | None:
    """The configured settings of an account row (None when this installation does not serve it)."""
    row = s.get(Account, account_id)
    return runtime.get().settings.account(row.slug) if row is not None else None


def member_url(account: AccountSettings) -> str:
    """The member centre H5 page of the account (h5.member), absolute."""
    return runtime.get().settings.app.public_url.rstrip("/") + f"/h5/{account.slug}/member"


def write(s: Session, member: Member, kind: str, key: str, send_after: datetime | None = None,
          **values: Any) -> int | None:
    """Enqueue notice `kind` to the member's follower (when still subscribed) under dedupe `key`; the row id."""
    follower = s.execute(sa.select(Follower.id, Follower.openid, Follower.subscribed)
                         .where(Follower.id == member.follower_id)).first()
    if follower is None or not follower.subscribed:
        return None
    account = account_of(s, member.account_id)
    if account is None:
        log.warning("member %s: its account is not configured; no %s notice written", member.id, kind)
        return None
    text = render(kind, account.language, link=member_url(account), **values)
    return enqueue(s, account_id=member.account_id, dedupe_key=key, channel=Channel.AUTO,
                   payload={"custom": {"msgtype": "text", "text": {"content": text}}},
                   follower_id=int(follower.id), openid=str(follower.openid), dealer_id=member.dealer_id,
                   purpose=PURPOSE, send_after=send_after)


def month_of(value: datetime | date) -> str:
    """The YYYY-MM part of dedupe keys."""
    return f"{value.year:04d}-{value.month:02d}"


def _base_tier(s: Session, account_id: int, tier_id: int) -> bool:
    """True when the tier is reached with no points (threshold 0), from the same cached ladder that set it."""
    return any(r.id == tier_id and r.threshold == 0 for r in tiers.rungs(s, account_id))


def on_tier_changed(s: Session, event: TierChanged) -> None:
    """A tier upgrade: the 升级 notice, once per member, tier and local day (a downgrade says nothing here)."""
    if not event.up or event.new_tier_id is None:
        return
    if event.old_tier_id is None and _base_tier(s, event.account_id, event.new_tier_id):
        return  # a member's first points put them on the base tier: nothing to announce, nothing to load
    member, tier = s.get(Member, event.member_id), s.get(Tier, event.new_tier_id)
    if member is None or tier is None:
        return
    if event.old_tier_id is None and tier.threshold == 0:
        return  # the same rule against the stored ladder, for a ladder edited in another process in the last 5 s
    ladder = list(s.scalars(sa.select(Tier).where(Tier.account_id == tier.account_id, Tier.threshold > tier.threshold)
                            .order_by(Tier.threshold, Tier.sort_order, Tier.id).limit(1)))
    day = event.at.astimezone(ledger.local_tz()).date().isoformat()
    write(s, member, "tier_up", f"loyalty:tier_up:{member.id}:{tier.id}:{day}",
          tier=tier.name, benefits=tier.benefits.strip(), next_tier=ladder[0].name if ladder else "",
          balance=member.balance)


events_bus.subscribe(TierChanged, on_tier_changed, name="loyalty_notify.tier_up")
